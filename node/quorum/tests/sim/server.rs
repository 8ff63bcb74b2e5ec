//! The parts of `ZooKeeperServer` that replication leans on (`zk_server/`,
//! `log_thread.rs`, `snapshot.rs`):
//!
//! - `log_txn` hands a txn to the sync thread; the thread takes everything waiting, writes
//!   it and fsyncs once ([`Server::fsync`], scheduled by the world after a seeded delay),
//!   then `logged` moves the batch to the awaiting-commit queue (the caller ACKs);
//! - `commit_up_to` applies, in order, what is both durable here and committed;
//! - after [snapCount/2+1, snapCount] logged txns the log rolls and a snapshot of the
//!   applied tree is written;
//! - `stop_serving` lets the sync thread log what it has; a crash keeps a random prefix of
//!   what was handed to it but not yet fsynced (written to the page cache, or not);
//! - `take_database` is the next epoch's database: the applied tree fast-forwarded through
//!   the logged-but-uncommitted txns, the recent txns, the last snapshot.

use std::collections::VecDeque;

use super::disk::{Db, Disk, Tree};
use super::rng::Rng;
use super::TxnId;

pub struct Server {
    pub tree: Tree,
    /// `Core.hzxid`: the newest zxid prepared (leader) or handed to the log (learner).
    pub hzxid: i64,
    /// Durable, waiting for the quorum's commit.
    pub awaiting: VecDeque<(i64, TxnId)>,
    /// The commit mark.
    pub committed: i64,
    /// Handed to the sync thread, not yet on disk.
    pub queue: VecDeque<(i64, TxnId)>,
    pub fsync_scheduled: bool,
    /// The log file the sync thread writes (`None`: the next write opens one).
    pub file: Option<u64>,
    pub since_snap: u64,
    pub snap_target: u64,
    pub serving: bool,
    /// currentEpoch when the server started (`epochs.0`).
    pub epoch: i64,
    /// `recent`: the last commitLogCount applied txns.
    pub recent: VecDeque<(i64, TxnId)>,
    pub last_snapshot: Option<i64>,
    pub commit_log_count: usize,
    pub snap_count: u64,
}

/// `next_snap_target`: uniform in [snapCount/2 + 1, snapCount].
pub fn snap_target(snap_count: u64, rng: &mut Rng) -> u64 {
    let half = (snap_count / 2).max(1);
    half + 1 + rng.below(half)
}

impl Server {
    /// `ZooKeeperServer::from_db`: checks the epoch files, and takes a snapshot when the
    /// database came from none. `hzxid` is a new leader's `epoch << 32`.
    pub fn from_db(
        db: Db,
        hzxid: Option<i64>,
        disk: &mut Disk,
        commit_log_count: usize,
        snap_count: u64,
        rng: &mut Rng,
    ) -> Result<Server, String> {
        let (current, _) = disk.load_epochs(db.tree.zxid)?;
        let mut last_snapshot = db.snapshot;
        if db.snapshot == Some(0) && disk.synthetic_snap0 {
            // The runtime would have written its first snapshot here.
            disk.synthetic_snap0 = false;
        }
        if db.snapshot.is_none() {
            disk.snapshot(&db.tree);
            last_snapshot = Some(db.tree.zxid);
        }
        Ok(Server {
            hzxid: hzxid.unwrap_or(db.tree.zxid),
            committed: db.tree.zxid,
            tree: db.tree,
            awaiting: VecDeque::new(),
            queue: VecDeque::new(),
            fsync_scheduled: false,
            file: None,
            since_snap: 0,
            snap_target: snap_target(snap_count, rng),
            serving: false,
            epoch: current,
            recent: db.committed_log,
            last_snapshot,
            commit_log_count,
            snap_count,
        })
    }

    /// `log_txn`: true when the world must schedule the sync thread's next fsync.
    pub fn log_txn(&mut self, z: i64, t: TxnId) -> bool {
        self.queue.push_back((z, t));
        self.hzxid = self.hzxid.max(z);
        !std::mem::replace(&mut self.fsync_scheduled, true)
    }

    /// `adopt_logged`: txns already durable (logged during synchronisation) whose COMMIT is
    /// still to come.
    pub fn adopt(&mut self, txns: &[(i64, TxnId)]) {
        for &(z, t) in txns {
            self.awaiting.push_back((z, t));
            self.hzxid = self.hzxid.max(z);
        }
    }

    fn write(&mut self, disk: &mut Disk, batch: &[(i64, TxnId)]) {
        if batch.is_empty() {
            return;
        }
        let id = match self.file {
            Some(id) if disk.files.iter().any(|f| f.id == id) => id,
            Some(_) => return, // the file was deleted under the writer: the data is lost
            None => {
                let id = disk.open_file(batch[0].0);
                self.file = Some(id);
                id
            }
        };
        disk.append(id, batch);
    }

    /// The sync thread writes and fsyncs everything waiting, then `logged`: the batch
    /// joins the awaiting-commit queue. Returns the batch (the caller ACKs it).
    pub fn fsync(&mut self, disk: &mut Disk) -> Vec<(i64, TxnId)> {
        self.fsync_scheduled = false;
        let batch: Vec<(i64, TxnId)> = self.queue.drain(..).collect();
        self.write(disk, &batch);
        self.awaiting.extend(batch.iter().copied());
        batch
    }

    /// After `logged`: roll the log and snapshot the applied tree every so many txns.
    pub fn maybe_snapshot(&mut self, n: usize, disk: &mut Disk, rng: &mut Rng) {
        self.since_snap += n as u64;
        if self.since_snap >= self.snap_target {
            self.file = None;
            self.since_snap = 0;
            self.snap_target = snap_target(self.snap_count, rng);
            disk.snapshot(&self.tree);
            self.last_snapshot = Some(self.tree.zxid);
        }
    }

    /// `commit_up_to`: applies what is durable here and committed; returns it.
    pub fn commit_up_to(&mut self, z: i64) -> Vec<(i64, TxnId)> {
        self.committed = self.committed.max(z);
        let mut out = Vec::new();
        while let Some(&(az, t)) = self.awaiting.front() {
            if az > self.committed {
                break;
            }
            self.awaiting.pop_front();
            self.tree.apply(az, t);
            self.recent.push_back((az, t));
            if self.recent.len() > self.commit_log_count {
                self.recent.pop_front();
            }
            out.push((az, t));
        }
        out
    }

    /// `stop_serving`: the sync thread logs what it has, then stops.
    pub fn stop(&mut self, disk: &mut Disk) {
        self.serving = false;
        let _ = self.fsync(disk);
    }

    /// A crash: a random prefix of what the sync thread was handed reaches the disk
    /// (`keep`: all of it, or none, when a scenario says so).
    pub fn crash(&mut self, disk: &mut Disk, rng: &mut Rng, keep: Option<bool>) {
        let n = self.queue.len();
        let k = match keep {
            Some(true) => n,
            Some(false) => 0,
            None => rng.below(n as u64 + 1) as usize,
        };
        let batch: Vec<(i64, TxnId)> = self.queue.iter().take(k).copied().collect();
        self.write(disk, &batch);
        self.queue.clear();
    }

    /// `take_database` (after [`stop`](Self::stop)).
    pub fn take_database(&mut self) -> Db {
        let mut tree = std::mem::take(&mut self.tree);
        let mut recent = std::mem::take(&mut self.recent);
        for (z, t) in self.awaiting.drain(..) {
            tree.apply(z, t);
            recent.push_back((z, t));
        }
        while recent.len() > self.commit_log_count {
            recent.pop_front();
        }
        Db { tree, committed_log: recent, snapshot: self.last_snapshot }
    }
}
