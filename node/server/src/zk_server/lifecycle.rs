//! A server's start and end: restored from a [`Database`] with its log thread started
//! (`start`, `from_db`), stopped after logging what it has (`shutdown`), and at the end of
//! an epoch in an ensemble, its clients sent away and its database handed to the next
//! epoch's server (`stop_serving`, `take_database`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use parking_lot::{Mutex, RwLock};
use tracing::debug;
use zab_datatree::acl::AclConfig;
use zab_datatree::prep::Outstanding;
use zab_datatree::session::SessionTracker;
use zab_datatree::DataTree;
use zab_jute::txn::Txn;
use zab_persistence::snaplog::SnapLog;
use zab_persistence::txnlog::TxnLogWriter;

use super::{
    wall_ms, AwaitingCommit, CnxnMsg, Core, Database, LearnerWaiting, StartError, Upstream, ZooKeeperServer,
    DEFAULT_TRACE_MASK,
};
use crate::config::ServerConfig;
use crate::log_thread::{LogQueue, LogState};
use crate::stats::ServerStats;

fn check_epochs(snap_log: &SnapLog, last_zxid: i64) -> Result<(i64, i64), StartError> {
    let (current, accepted) =
        zab_persistence::epoch::load_epochs(&snap_log.snap_dir, last_zxid).map_err(StartError::Epoch)?;
    debug!(current, accepted, "epochs");
    Ok((current, accepted))
}

impl ZooKeeperServer {
    /// Restores the database from the data directory and starts the log thread.
    pub fn start(config: ServerConfig) -> Result<Arc<ZooKeeperServer>, StartError> {
        let db = Database::load(&config)?;
        let server = Self::from_db(config, db, Upstream::Standalone, None)?;
        server.serving.store(true, Ordering::Release);
        Ok(server)
    }

    /// Starts a server on a database already in memory, writing through `upstream` (its
    /// role's: none, the leader's broadcast, or a learner's link to its leader). `hzxid` is
    /// where the zxid counter starts (a new leader's `epoch << 32`); otherwise the
    /// database's last zxid.
    pub fn from_db(
        config: ServerConfig,
        db: Database,
        upstream: Upstream,
        hzxid: Option<i64>,
    ) -> Result<Arc<ZooKeeperServer>, StartError> {
        let snap_log = SnapLog::new(&config.data_dir, &config.data_log_dir);
        let last_zxid = db.last_zxid();
        let epochs = check_epochs(&snap_log, last_zxid)?;
        let acl_config = AclConfig { super_digest: config.super_digest.clone(), skip_acl: config.skip_acl };
        let clock_origin = tokio::time::Instant::now();
        let mut sessions = SessionTracker::new(config.server_id, config.tick_time as i64, wall_ms());
        for (id, timeout) in &db.sessions {
            sessions.add(*id, *timeout, 0);
        }
        let needs_snapshot = db.snapshot.is_none();
        let last_snapshot = match &db.snapshot {
            Some((p, zxid)) => {
                let secs = std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(-1, |d| d.as_secs() as i64);
                (*zxid, secs)
            }
            None => (-1, -1),
        };
        let prepared_digest = db.tree.digest();
        let log = TxnLogWriter::open(&snap_log.log_dir, config.pre_alloc_kb * 1024, config.force_sync)
            .map_err(|source| StartError::Restore { dir: config.data_log_dir.clone(), source })?;
        let log_queue = LogQueue::new();
        let sync_state = Arc::new(Mutex::new(LogState::new(&config, log)));
        let server = Arc::new(ZooKeeperServer {
            acl_config,
            tree: RwLock::new(db.tree),
            core: Mutex::new(Core {
                sessions,
                hzxid: hzxid.unwrap_or(last_zxid),
                outstanding: Outstanding::default(),
                prepared_digest,
                member_of_session: HashMap::new(),
            }),
            cnxns: RwLock::new(HashMap::new()),
            cnxn_of_session: Mutex::new(HashMap::new()),
            next_cnxn: AtomicU64::new(1),
            stats: ServerStats::default(),
            metrics: config.metrics.clone(),
            snap_log,
            log_queue: log_queue.clone(),
            sync_state: sync_state.clone(),
            sync_thread: Mutex::new(None),
            disk_failed: Mutex::new(None),
            clock_origin,
            epochs,
            last_logged_zxid: AtomicI64::new(last_zxid),
            started: std::time::Instant::now(),
            metrics_registry: crate::metrics::histograms::Histograms::new(),
            trace_mask: AtomicI64::new(DEFAULT_TRACE_MASK),
            last_snapshot: Mutex::new(last_snapshot),
            upstream,
            awaiting: Mutex::new(AwaitingCommit {
                items: Default::default(),
                committed: last_zxid,
                logged: last_zxid,
                syncs: Vec::new(),
            }),
            commit_target: AtomicI64::new(last_zxid),
            apply_lock: Mutex::new(()),
            applied: AtomicI64::new(last_zxid),
            learner: LearnerWaiting::default(),
            serving: std::sync::atomic::AtomicBool::new(false),
            recent: Mutex::new(db.committed_log),
            peer: std::sync::OnceLock::new(),
            config,
        });
        if needs_snapshot {
            crate::snapshot::take_snapshot(&*server).map_err(StartError::Snapshot)?;
        }
        let s = server.clone();
        let handle = std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || crate::log_thread::run(s, log_queue, sync_state))
            .map_err(StartError::Thread)?;
        *server.sync_thread.lock() = Some(handle);
        Ok(server)
    }

    /// Stops the log thread after it has written and applied everything queued.
    pub fn shutdown(&self) {
        self.log_queue.close();
        if let Some(h) = self.sync_thread.lock().take() {
            let _ = h.join();
        }
    }

    /// Ends this server's epoch in an ensemble: clients are disconnected (they reconnect
    /// to a serving member), requests waiting on the leader fail, the log thread stops
    /// after logging what it has.
    /// `/zookeeper/config` becomes `view` (`initConfigInZKDatabase` at an activation).
    pub fn set_config_node(&self, view: &zab_quorum::verifier::QuorumMaj) {
        crate::peer_state::init_config_node_with(view, &self.config, &mut self.tree.write());
    }

    pub fn stop_serving(&self) {
        self.serving.store(false, Ordering::Release);
        for c in self.cnxns() {
            let _ = c.tx.send(CnxnMsg::Close("this member is no longer serving; reconnect to another"));
        }
        self.learner.forwarded.lock().clear();
        self.learner.pending_syncs.lock().clear();
        self.shutdown();
    }

    /// After [`stop_serving`](Self::stop_serving): the database for the next epoch, as
    /// ZooKeeper keeps its ZKDatabase across elections (ZOOKEEPER-2678) — the tree, fast-
    /// forwarded through the txns logged here but never committed (as a restart would
    /// replay them), the sessions, and the recent txns.
    pub fn take_database(&self) -> Database {
        let config = self.tree.read().config();
        let mut tree = std::mem::replace(&mut *self.tree.write(), DataTree::new(config));
        let mut sessions: HashMap<i64, i32> = self.sessions().into_iter().collect();
        let (items, logged) = {
            let mut a = self.awaiting.lock();
            (std::mem::take(&mut a.items), a.logged)
        };
        let mut recent = std::mem::take(&mut *self.recent.lock());
        let mut events = Vec::new();
        // Only what reached the log here: the rest is not on this member's disk, and a
        // restart would not have it either.
        for item in items.into_iter().filter(|i| i.hdr.zxid <= logged) {
            tree.process_txn(&item.hdr, &item.txn, &mut events);
            events.clear();
            match &item.txn {
                Txn::CreateSession(t) => {
                    sessions.insert(item.hdr.client_id, t.time_out);
                }
                Txn::CloseSession(_) => {
                    sessions.remove(&item.hdr.client_id);
                }
                _ => {}
            }
            recent.push_back((item.hdr.zxid, item.payload));
        }
        while recent.len() > self.config.commit_log_count {
            recent.pop_front();
        }
        let last = *self.last_snapshot.lock();
        let snapshot =
            self.snap_log.snapshots().ok().and_then(|v| v.into_iter().find(|(z, _)| *z == last.0)).map(|(z, p)| (p, z));
        Database { tree, sessions, committed_log: recent, snapshot }
    }
}
