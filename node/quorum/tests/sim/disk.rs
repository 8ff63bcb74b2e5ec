//! What a member keeps across a crash, and how it reads it back — the model of
//! `zab-persistence` as the runtime uses it:
//!
//! - log files `log.<first zxid>`, each written by one `TxnLogWriter` (a new file per
//!   writer and after each snapshot's roll; opening a name that exists truncates it);
//! - snapshots `snapshot.<zxid>`, each the applied tree at that zxid (ZooKeeper's are fuzzy;
//!   replaying the log over them gives the same tree, so an exact one stands in);
//! - `acceptedEpoch` and `currentEpoch`, written atomically (a crash leaves the old value or
//!   the new, so there is never a `.tmp` to recover from).
//!
//! [`Disk::restore`] is `FileTxnSnapLog.restore` (newest snapshot, then every logged txn
//! from its zxid + 1 in file order; refuses logs without a snapshot and holes within an
//! epoch), [`Disk::truncate_after`] is `txnlog::truncate_after`, [`Disk::load_epochs`] is
//! `epoch::load_epochs` (`QuorumPeer.loadDataBase`'s checks).

use std::collections::{BTreeMap, VecDeque};

use zab_quorum::zxid;

use super::rng::mix;
use super::TxnId;

/// A member's applied state: the txns in the order applied (and their running hash), as
/// the DataTree they would build. `zxid` is `lastProcessedZxid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub txns: Vec<(i64, TxnId)>,
    pub hash: u64,
    pub zxid: i64,
}

impl Tree {
    pub fn apply(&mut self, z: i64, t: TxnId) {
        self.txns.push((z, t));
        self.hash = mix(self.hash, z, t);
        self.zxid = z;
    }

    pub fn has(&self, z: i64, t: TxnId) -> bool {
        self.txns.contains(&(z, t))
    }
}

/// The hash of the first `n` txns of `txns`.
pub fn prefix_hash(txns: &[(i64, TxnId)], n: usize) -> u64 {
    txns.iter().take(n).fold(0, |h, (z, t)| mix(h, *z, *t))
}

#[derive(Debug, Clone)]
pub struct LogFile {
    pub id: u64,
    pub start: i64,
    pub entries: Vec<(i64, TxnId)>,
}

/// `Database`: a tree, the recent txns (the leader's DIFF window), and the snapshot it
/// started from (when there is none, the server takes one when it starts).
#[derive(Debug, Clone)]
pub struct Db {
    pub tree: Tree,
    pub committed_log: VecDeque<(i64, TxnId)>,
    pub snapshot: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Disk {
    pub files: Vec<LogFile>,
    pub next_id: u64,
    pub snaps: BTreeMap<i64, Tree>,
    pub current_epoch: Option<i64>,
    pub accepted_epoch: Option<i64>,
    /// `snapshot.0` exists only because [`super::Fixes::snapshot_on_first_load`] wrote it.
    pub synthetic_snap0: bool,
    /// The dynamic configuration file (`zoo.cfg.dynamic.<version>`): written when a
    /// configuration activates; None: the initial one.
    pub config: Option<std::sync::Arc<zab_quorum::verifier::QuorumMaj>>,
    /// `zoo.cfg.dynamic.next`: the configuration of the last reconfig proposal a learner
    /// logged (`setLastSeenQuorumVerifier(qv, true)`).
    pub next_config: Option<std::sync::Arc<zab_quorum::verifier::QuorumMaj>>,
}

impl Disk {
    /// A data directory holding one snapshot of an empty tree and these txns in one log
    /// file, with both epochs at `epoch` (for scripted scenarios).
    pub fn with_log(epoch: i64, txns: &[(i64, TxnId)]) -> Disk {
        let mut d = Disk { current_epoch: Some(epoch), accepted_epoch: Some(epoch), ..Disk::default() };
        d.snaps.insert(0, Tree::default());
        if let Some(first) = txns.first() {
            let id = d.open_file(first.0);
            d.append(id, txns);
        }
        d
    }

    fn sorted(&self) -> Vec<&LogFile> {
        let mut v: Vec<&LogFile> = self.files.iter().collect();
        v.sort_by_key(|f| f.start);
        v
    }

    /// `TxnLogWriter.open_file`: `create(true).truncate(true)` — a file of that name is
    /// replaced.
    pub fn open_file(&mut self, start: i64) -> u64 {
        self.files.retain(|f| f.start != start);
        let id = self.next_id;
        self.next_id += 1;
        self.files.push(LogFile { id, start, entries: Vec::new() });
        id
    }

    /// Appends to file `id`; false when the file was removed under its writer.
    pub fn append(&mut self, id: u64, entries: &[(i64, TxnId)]) -> bool {
        match self.files.iter_mut().find(|f| f.id == id) {
            Some(f) => {
                f.entries.extend_from_slice(entries);
                true
            }
            None => false,
        }
    }

    /// `txnlog::read_from`: from the newest file whose first zxid is <= `from`, every txn
    /// with zxid >= `from`, in file order.
    pub fn read_from(&self, from: i64) -> Vec<(i64, TxnId)> {
        let files = self.sorted();
        let start = files.iter().rposition(|f| f.start <= from).unwrap_or(0);
        files[start.min(files.len())..]
            .iter()
            .flat_map(|f| f.entries.iter().filter(|(z, _)| *z >= from).copied())
            .collect()
    }

    pub fn last_logged_zxid(&self) -> i64 {
        for f in self.sorted().iter().rev() {
            if let Some(e) = f.entries.last() {
                return e.0;
            }
        }
        -1
    }

    /// Every logged txn, file by file (for reports).
    pub fn all_logged(&self) -> Vec<(i64, TxnId)> {
        self.sorted().iter().flat_map(|f| f.entries.iter().copied()).collect()
    }

    /// `txnlog::truncate_after`: newest files first, those starting after `z` go; the first
    /// one starting at or before `z` is cut before its first txn newer than `z`.
    pub fn truncate_after(&mut self, z: i64) {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.sort_by_key(|i| self.files[*i].start);
        let mut remove = Vec::new();
        for &i in order.iter().rev() {
            if self.files[i].start > z {
                remove.push(self.files[i].id);
                continue;
            }
            let f = &mut self.files[i];
            let keep = f.entries.iter().position(|(e, _)| *e > z).unwrap_or(f.entries.len());
            f.entries.truncate(keep);
            break;
        }
        self.files.retain(|f| !remove.contains(&f.id));
    }

    /// The learner's `truncate`: the log, then every snapshot newer than `z`.
    pub fn truncate_with_snapshots(&mut self, z: i64) {
        self.truncate_after(z);
        self.snaps.retain(|k, _| *k <= z);
    }

    pub fn snapshot(&mut self, tree: &Tree) {
        self.snaps.insert(tree.zxid, tree.clone());
        self.synthetic_snap0 = false;
    }

    /// `FileTxnSnapLog.restore` (as `Database::load` calls it).
    pub fn restore(&self, commit_log_count: usize) -> Result<Db, String> {
        let (snap_zxid, mut tree, snapshot) = match self.snaps.iter().next_back() {
            Some((z, t)) => (*z, t.clone(), Some(*z)),
            None => {
                if self.last_logged_zxid() != -1 {
                    return Err("LogsWithoutSnapshot: transaction logs but no snapshot".into());
                }
                (0, Tree::default(), None)
            }
        };
        let mut highest = snap_zxid;
        let mut committed_log = VecDeque::new();
        for (z, t) in self.read_from(snap_zxid + 1) {
            if z > highest + 1 && zxid::epoch(z) == zxid::epoch(highest) {
                return Err(format!("Corrupt: the transaction logs miss txns 0x{:x} to 0x{:x}", highest + 1, z - 1));
            }
            tree.apply(z, t);
            highest = highest.max(z);
            committed_log.push_back((z, t));
            if committed_log.len() > commit_log_count {
                committed_log.pop_front();
            }
        }
        tree.zxid = highest;
        Ok(Db { tree, committed_log, snapshot })
    }

    /// `epoch::load_epochs`: (currentEpoch, acceptedEpoch), creating missing files.
    pub fn load_epochs(&mut self, last_zxid: i64) -> Result<(i64, i64), String> {
        let ze = last_zxid >> 32;
        let current = *self.current_epoch.get_or_insert(ze.max(0));
        if ze > current {
            return Err(format!(
                "the current epoch {current} is older than the epoch {ze} of the last zxid 0x{last_zxid:x}"
            ));
        }
        let accepted = *self.accepted_epoch.get_or_insert(ze.max(0));
        if accepted < current {
            return Err(format!("the accepted epoch {accepted} is less than the current epoch {current}"));
        }
        Ok((current, accepted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_replays_after_the_newest_snapshot_and_refuses_holes() {
        let mut d = Disk::with_log(5, &[(0x500000001, 1), (0x500000002, 2)]);
        let db = d.restore(10).unwrap();
        assert_eq!(db.tree.zxid, 0x500000002);
        assert_eq!(db.committed_log.len(), 2);
        d.truncate_with_snapshots(0x500000001);
        assert_eq!(d.restore(10).unwrap().tree.zxid, 0x500000001);
        let id = d.open_file(0x500000003);
        d.append(id, &[(0x500000003, 3)]);
        assert!(d.restore(10).unwrap_err().starts_with("Corrupt"));
    }
}
