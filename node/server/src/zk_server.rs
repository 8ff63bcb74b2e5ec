//! ZooKeeperServer: the state every connection shares, and the write path.
//!
//! - The DataTree sits behind a read-write lock: reads from all connections run at once;
//!   a write holds the write lock only while its txn is applied.
//! - Watch events are handed to the connections' queues before the tree lock is released,
//!   so a client always receives an event before the reply to any later request that could
//!   observe the change (ZooKeeper's ordering guarantee).
//!
//! - A write is prepared (checked and turned into a txn) under the `core` mutex, which owns
//!   the zxid counter, the SessionTracker and the changes prepared but not yet applied;
//!   the sync thread (`sync_proc`) logs it, fsyncs, applies it and completes the request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tracing::{debug, info};
use zab_datatree::acl::{check_acl, AclConfig};
use zab_datatree::prep::{prep_request, Outstanding, PrepContext, WriteRequest};
use zab_datatree::session::SessionTracker;
use zab_datatree::{DataTree, TreeConfig, WatchEvent};
use zab_jute::codes::{op, perms, state};
use zab_jute::data::Id;
use zab_jute::proto::WatcherEvent;
use zab_jute::txn::Txn;
use zab_persistence::snaplog::SnapLog;
use zab_persistence::txnlog::TxnLogWriter;

pub use crate::clock::wall_ms;
use crate::config::ServerConfig;
use crate::stats::ServerStats;
use crate::sync_proc::{LogItem, LogQueue, LogRecord, SyncState, SyncTarget, WriteOutcome, WriteResult};

/// What this server is in its ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Standalone,
    Leader,
    Follower,
    Observer,
}

impl Role {
    pub fn is_learner(self) -> bool {
        matches!(self, Role::Follower | Role::Observer)
    }

    /// The `Mode:` of srvr/stat and the role of /status.
    pub fn name(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Observer => "observer",
        }
    }
}

/// The replication side of a quorum member, as the write path sees it (implemented by the
/// leader and learner in [`crate::peer`]). Calls must not block.
pub trait Replicator: Send + Sync {
    /// Leader: a txn was prepared, in zxid order (called under the prep lock). An error
    /// refuses the write (the leader must step down, ZOOKEEPER-1277).
    fn propose(&self, zxid: i64, payload: &Arc<Vec<u8>>) -> Result<(), ProposeError>;
    /// The sync thread made these txns durable, in order.
    fn logged(&self, zxids: &[i64]);
    /// Learner: send a client's request to the leader (`Learner.request`).
    fn forward(&self, session_id: i64, cxid: i32, op_type: i32, body: &[u8], auth: &[Id]);
    /// Learner: ask the leader whether a session may move here (REVALIDATE).
    fn revalidate(&self, session_id: i64, timeout: i32) -> oneshot::Receiver<bool>;
    /// Leader: what it knows of each learner.
    fn learners(&self) -> Vec<crate::peer_state::LearnerView> {
        Vec::new()
    }
}

/// The tree, sessions and recent txns a server starts from (`ZKDatabase`).
pub struct Database {
    pub tree: DataTree,
    pub sessions: HashMap<i64, i32>,
    /// The last `commitLogCount` txns, oldest first (the leader's DIFF window).
    pub committed_log: std::collections::VecDeque<(i64, Arc<Vec<u8>>)>,
    /// Where restore started: the snapshot file, if one was found, and its zxid.
    pub snapshot: Option<(std::path::PathBuf, i64)>,
}

impl Database {
    /// Restores from the data directory (`FileTxnSnapLog.restore`).
    pub fn load(config: &ServerConfig) -> Result<Database, StartError> {
        let tree_config = TreeConfig { extended_types: config.extended_types, digest_enabled: config.digest_enabled };
        let snap_log = SnapLog::new(&config.data_dir, &config.data_log_dir);
        let loading = std::time::Instant::now();
        let restored = snap_log
            .restore(tree_config, config.commit_log_count)
            .map_err(|source| StartError::Restore { dir: config.data_dir.clone(), source })?;
        crate::metrics::record::record_restore(&config.metrics, loading.elapsed(), &restored);
        let mut db = Database {
            tree: restored.tree,
            sessions: restored.sessions,
            committed_log: restored.committed_log.into_iter().map(|e| (e.hdr.zxid, Arc::new(e.payload))).collect(),
            snapshot: restored.snapshot.map(|p| (p, restored.snapshot_zxid)),
        };
        if db.snapshot.is_none() {
            // A quorum member's config, written before the data directory is read, stays
            // when no snapshot replaces the tree, and goes into the first one.
            crate::peer_state::init_config_node(config, &mut db.tree);
            // ZooKeeper snapshots a data directory it finds without one (ZOOKEEPER-2325),
            // before any txn is logged: a log without a snapshot below it cannot be restored.
            let started = std::time::Instant::now();
            let path =
                crate::sync_proc::write_snapshot(config, &db.tree, &db.sessions).map_err(StartError::Snapshot)?;
            config.metrics.record_snapshot(started.elapsed());
            db.snapshot = Some((path, db.last_zxid()));
        }
        Ok(db)
    }

    pub fn last_zxid(&self) -> i64 {
        self.tree.last_processed_zxid()
    }
}

/// Txns prepared (leader) or received (learner), in zxid order, until they are committed
/// and applied; the commit mark; and how far the log has made them durable here.
#[derive(Default)]
struct AwaitingCommit {
    items: std::collections::VecDeque<LogItem>,
    committed: i64,
    /// The last zxid the sync thread reported durable.
    logged: i64,
    /// Learner: `sync` replies held until everything committed before the leader's SYNC
    /// is applied here: (that commit mark, path, reply).
    syncs: Vec<(i64, String, oneshot::Sender<WriteResult>)>,
}

/// Messages from the server to one connection's task.
#[derive(Debug)]
pub enum CnxnMsg {
    /// A watch notification to write.
    Event(WatcherEvent),
    /// Close the connection (session expired, moved to another connection, server stop).
    Close(&'static str),
}

/// What the server knows of a live connection.
pub struct CnxnHandle {
    pub id: u64,
    pub remote: SocketAddr,
    pub session_id: AtomicI64,
    pub auth: Arc<RwLock<crate::auth_info::AuthInfo>>,
    pub tx: mpsc::UnboundedSender<CnxnMsg>,
    pub stats: Arc<crate::stats::CnxnStats>,
    /// Leader: the session moved to a learner while this connection was open; its next
    /// request closes it. Set before the REVALIDATE answer leaves, so no request the client
    /// sends after its reattachment can find it unset.
    pub moved: AtomicBool,
}

struct Core {
    sessions: SessionTracker,
    /// The last zxid handed out (`ZooKeeperServer.hzxid`).
    hzxid: i64,
    /// Prepared changes not yet applied (`outstandingChanges`).
    outstanding: Outstanding,
    /// The tree digest after the last prepared txn (logged with each txn as its TxnDigest).
    prepared_digest: u64,
    /// The member each session was last validated through (`SessionImpl.owner`): its
    /// writes from anywhere else fail with SESSIONMOVED.
    owners: HashMap<i64, u64>,
}

/// The owner of sessions whose client is connected to this server itself.
pub const LOCAL_OWNER: u64 = u64::MAX;

/// `ZooTrace`'s default trace mask (`gtmk` answers it until `stmk` sets another): client
/// requests, server packets, sessions and warnings (2 | 16 | 32 | 256).
pub const DEFAULT_TRACE_MASK: i64 = 306;

/// Why the replication side refused a write ([`Replicator::propose`]); the write fails
/// with this text and the client retries.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("the leader is not established yet; retry once it serves")]
    NotEstablished,
    #[error("a learner does not propose; its clients' writes are forwarded to the leader")]
    NotLeader,
    /// The broadcast refused the txn: the leader steps down (ZOOKEEPER-1277).
    #[error("{0}")]
    SteppingDown(String),
}

/// Why a learner's server could not take a txn from the leader into its log.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The txn's bytes do not decode: the leader sent something this server cannot log.
    #[error("a txn from the leader cannot be read: {0}")]
    Malformed(String),
    /// The server stopped while the txn was being handed to its log.
    #[error("server is shutting down")]
    ShuttingDown,
}

/// Why the zxid counter could not be moved (`zookeeper.testingonly.initialZxid`).
#[derive(Debug, thiserror::Error)]
pub enum SkipError {
    #[error("zxid 0x{zxid:x} is not ahead of 0x{current:x}; choose a larger initialZxid counter")]
    NotAhead { zxid: i64, current: i64 },
    #[error("the leader's broadcast has not started; the counter can only move once it has")]
    NotEstablished,
    #[error("the leader's broadcast refused to move its counter: {0}")]
    Broadcast(#[from] zab_quorum::broadcast::BroadcastError),
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("restoring the database from {dir}: {source}")]
    Restore { dir: std::path::PathBuf, source: zab_persistence::PersistenceError },
    #[error("{0}")]
    Epoch(String),
    #[error("starting the sync thread: {0}")]
    Thread(std::io::Error),
    #[error("writing the initial snapshot: {0}")]
    Snapshot(#[source] crate::sync_proc::SnapshotError),
}

impl crate::defer::Flush for ZooKeeperServer {
    /// The deferred commits of a burst, applied together.
    fn flush(&self) {
        self.commit_up_to(self.commit_target.load(Ordering::Acquire));
    }
}

/// The shared server state.
pub struct ZooKeeperServer {
    pub config: ServerConfig,
    pub acl_config: AclConfig,
    tree: RwLock<DataTree>,
    core: Mutex<Core>,
    cnxns: RwLock<HashMap<u64, Arc<CnxnHandle>>>,
    session_owner: Mutex<HashMap<i64, u64>>,
    next_cnxn: AtomicU64,
    pub stats: ServerStats,
    /// The member's process-wide metrics (`ServerMetrics`), shared with its config.
    pub metrics: Arc<crate::metrics::ServerMetrics>,
    pub snap_log: SnapLog,
    log_queue: Arc<LogQueue>,
    /// The log itself: the sync thread's, lent to a learner's reader for a lone proposal.
    sync_state: Arc<Mutex<SyncState>>,
    sync_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    disk_failed: Mutex<Option<String>>,
    epoch: tokio::time::Instant,
    /// (currentEpoch, acceptedEpoch) as loaded at start.
    pub epochs: (i64, i64),
    /// The last zxid written to the transaction log (set by the sync thread).
    pub last_logged_zxid: AtomicI64,
    pub started: std::time::Instant,
    pub metrics_registry: crate::metrics::histograms::Histograms,
    /// ZooKeeper's trace mask (`gtmk`/`stmk`); kept for compatibility, it gates nothing.
    pub trace_mask: AtomicI64,
    /// (zxid, unix seconds) of the last snapshot written or loaded (`lsnp`).
    pub last_snapshot: Mutex<(i64, i64)>,
    pub role: Role,
    replicator: std::sync::OnceLock<Arc<dyn Replicator>>,
    awaiting: Mutex<AwaitingCommit>,
    /// The newest commit [`commit_up_to_deferred`](Self::commit_up_to_deferred) was told of.
    commit_target: AtomicI64,
    /// Held while committed txns are taken from `awaiting` and applied, so batches are
    /// applied in order whichever thread saw the commit.
    apply_lock: Mutex<()>,
    /// The last zxid applied to the tree (read without the tree's lock).
    applied: AtomicI64,
    /// Learner: requests forwarded to the leader, by (session, cxid), completed when their
    /// txn is applied here.
    forwarded: Mutex<HashMap<(i64, i32), oneshot::Sender<WriteResult>>>,
    /// Learner: `sync` requests waiting for the leader's SYNC, oldest first.
    pending_syncs: Mutex<std::collections::VecDeque<(String, oneshot::Sender<WriteResult>)>>,
    /// Learner: sessions touched since the last PING, with their timeouts.
    touched: Mutex<HashMap<i64, i32>>,
    /// Clients are served (standalone, or in broadcast after UPTODATE / NEWLEADER quorum).
    pub serving: std::sync::atomic::AtomicBool,
    /// In an ensemble: the last `commitLogCount` applied txns (`ZKDatabase.committedLog`),
    /// which the next term's leader syncs learners from.
    recent: Mutex<std::collections::VecDeque<(i64, Arc<Vec<u8>>)>>,
    /// In an ensemble: the member this server serves for (ZooKeeper's `self` QuorumPeer),
    /// set before it serves.
    peer: std::sync::OnceLock<Arc<crate::peer_state::PeerInfo>>,
}

fn check_epochs(snap_log: &SnapLog, last_zxid: i64) -> Result<(i64, i64), StartError> {
    let (current, accepted) = zab_persistence::epoch::load_epochs(&snap_log.snap_dir, last_zxid)
        .map_err(|e| StartError::Epoch(e.to_string()))?;
    debug!(current, accepted, "epochs");
    Ok((current, accepted))
}

/// The sync thread's view of the server (see [`SyncTarget`]); each call is the inherent
/// method or field of the same meaning.
impl SyncTarget for ZooKeeperServer {
    fn config(&self) -> &ServerConfig {
        &self.config
    }
    fn metrics(&self) -> &crate::metrics::ServerMetrics {
        &self.metrics
    }
    fn histograms(&self) -> &crate::metrics::histograms::Histograms {
        &self.metrics_registry
    }
    fn disk_failure(&self) -> Option<String> {
        ZooKeeperServer::disk_failure(self)
    }
    fn set_disk_failure(&self, reason: String) {
        ZooKeeperServer::set_disk_failure(self, reason)
    }
    fn log_failed(&self, zxids: &[i64], reason: &str) {
        ZooKeeperServer::log_failed(self, zxids, reason)
    }
    fn logged(&self, zxids: &[i64]) {
        ZooKeeperServer::logged(self, zxids)
    }
    fn set_last_logged(&self, zxid: i64) {
        self.last_logged_zxid.store(zxid, Ordering::Relaxed);
    }
    fn snap_dir(&self) -> &std::path::Path {
        &self.snap_log.snap_dir
    }
    fn sessions(&self) -> Vec<(i64, i32)> {
        ZooKeeperServer::sessions(self)
    }
    fn with_tree<R>(&self, f: impl FnOnce(&DataTree) -> R) -> R {
        f(&self.tree.read())
    }
    fn snapshot_written(&self, zxid: i64) {
        *self.last_snapshot.lock() = (zxid, crate::clock::wall_ms() / 1000);
    }
}

impl ZooKeeperServer {
    /// Restores the database from the data directory and starts the sync thread.
    pub fn start(config: ServerConfig) -> Result<Arc<ZooKeeperServer>, StartError> {
        let db = Database::load(&config)?;
        let server = Self::from_db(config, db, Role::Standalone, None)?;
        server.serving.store(true, Ordering::Release);
        Ok(server)
    }

    /// Starts a server on a database already in memory. `hzxid` is where the zxid counter
    /// starts (a new leader's `epoch << 32`); otherwise the database's last zxid.
    pub fn from_db(
        config: ServerConfig,
        db: Database,
        role: Role,
        hzxid: Option<i64>,
    ) -> Result<Arc<ZooKeeperServer>, StartError> {
        let snap_log = SnapLog::new(&config.data_dir, &config.data_log_dir);
        let last_zxid = db.last_zxid();
        let epochs = check_epochs(&snap_log, last_zxid)?;
        let acl_config = AclConfig { super_digest: config.super_digest.clone(), skip_acl: config.skip_acl };
        let epoch = tokio::time::Instant::now();
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
        let sync_state = Arc::new(Mutex::new(SyncState::new(&config, log)));
        let server = Arc::new(ZooKeeperServer {
            acl_config,
            tree: RwLock::new(db.tree),
            core: Mutex::new(Core {
                sessions,
                hzxid: hzxid.unwrap_or(last_zxid),
                outstanding: Outstanding::default(),
                prepared_digest,
                owners: HashMap::new(),
            }),
            cnxns: RwLock::new(HashMap::new()),
            session_owner: Mutex::new(HashMap::new()),
            next_cnxn: AtomicU64::new(1),
            stats: ServerStats::default(),
            metrics: config.metrics.clone(),
            snap_log,
            log_queue: log_queue.clone(),
            sync_state: sync_state.clone(),
            sync_thread: Mutex::new(None),
            disk_failed: Mutex::new(None),
            epoch,
            epochs,
            last_logged_zxid: AtomicI64::new(last_zxid),
            started: std::time::Instant::now(),
            metrics_registry: crate::metrics::histograms::Histograms::new(),
            trace_mask: AtomicI64::new(DEFAULT_TRACE_MASK),
            last_snapshot: Mutex::new(last_snapshot),
            role,
            replicator: std::sync::OnceLock::new(),
            awaiting: Mutex::new(AwaitingCommit {
                items: Default::default(),
                committed: last_zxid,
                logged: last_zxid,
                syncs: Vec::new(),
            }),
            commit_target: AtomicI64::new(last_zxid),
            apply_lock: Mutex::new(()),
            applied: AtomicI64::new(last_zxid),
            forwarded: Mutex::new(HashMap::new()),
            pending_syncs: Mutex::new(Default::default()),
            touched: Mutex::new(HashMap::new()),
            serving: std::sync::atomic::AtomicBool::new(false),
            recent: Mutex::new(db.committed_log),
            peer: std::sync::OnceLock::new(),
            config,
        });
        if needs_snapshot {
            crate::sync_proc::take_snapshot(&*server).map_err(StartError::Snapshot)?;
        }
        let s = server.clone();
        let handle = std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || crate::sync_proc::run(s, log_queue, sync_state))
            .map_err(StartError::Thread)?;
        *server.sync_thread.lock() = Some(handle);
        Ok(server)
    }

    /// (learners, synced followers, synced observers, learners still synchronising) on a
    /// leader; zeros elsewhere.
    pub fn learner_counts(&self) -> (usize, usize, usize, usize) {
        let ls = self.learners();
        let synced_followers = ls.iter().filter(|l| l.in_broadcast && !l.observer).count();
        let synced_observers = ls.iter().filter(|l| l.in_broadcast && l.observer).count();
        let pending = ls.iter().filter(|l| !l.in_broadcast).count();
        (ls.len(), synced_followers, synced_observers, pending)
    }

    /// Voting members of the configuration (1 standalone).
    pub fn quorum_size(&self) -> usize {
        self.config.quorum.as_ref().map_or(1, |q| q.view.voters().count())
    }

    /// Leader: its learners (sid, sync mode, last ACK, ...).
    pub fn learners(&self) -> Vec<crate::peer_state::LearnerView> {
        self.replicator.get().map(|r| r.learners()).unwrap_or_default()
    }

    /// Connects the replication side (once, before the server serves).
    pub fn set_replicator(&self, r: Arc<dyn Replicator>) {
        let _ = self.replicator.set(r);
    }

    /// In an ensemble: the member this server serves for.
    pub fn peer(&self) -> Option<&crate::peer_state::PeerInfo> {
        self.peer.get().map(|p| &**p)
    }

    /// Ties the server to its member (once, before it serves).
    pub fn set_peer(&self, peer: Arc<crate::peer_state::PeerInfo>) {
        let _ = self.peer.set(peer);
    }

    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Stops the sync thread after it has written and applied everything queued.
    pub fn shutdown(&self) {
        self.log_queue.close();
        if let Some(h) = self.sync_thread.lock().take() {
            let _ = h.join();
        }
    }

    /// Ends this server's term in an ensemble: clients are disconnected (they reconnect
    /// to a serving member), requests waiting on the leader fail, the sync thread stops
    /// after logging what it has.
    pub fn stop_serving(&self) {
        self.serving.store(false, Ordering::Release);
        for c in self.cnxns() {
            let _ = c.tx.send(CnxnMsg::Close("this member is no longer serving; reconnect to another"));
        }
        self.forwarded.lock().clear();
        self.pending_syncs.lock().clear();
        self.shutdown();
    }

    /// After [`stop_serving`](Self::stop_serving): the database for the next term, as
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

    /// Milliseconds of the monotonic clock sessions expire by (tokio's, so tests can
    /// pause and advance it).
    pub fn now_ms(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }

    /// Read access to the tree: many readers at once.
    pub fn tree(&self) -> parking_lot::RwLockReadGuard<'_, DataTree> {
        self.tree.read()
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.tree.read().last_processed_zxid()
    }

    pub fn session_count(&self) -> usize {
        self.core.lock().sessions.len()
    }

    /// (id, timeout) of every live session.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.core.lock().sessions.sessions().map(|s| (s.id, s.timeout)).collect()
    }

    /// Expiry time -> sessions, for the `dump` command.
    pub fn session_expiry_buckets(&self) -> Vec<(i64, Vec<i64>)> {
        self.core.lock().sessions.expiry_buckets()
    }

    pub fn outstanding_changes(&self) -> usize {
        self.core.lock().outstanding.len()
    }

    pub fn disk_failure(&self) -> Option<String> {
        self.disk_failed.lock().clone()
    }

    pub(crate) fn set_disk_failure(&self, reason: String) {
        self.metrics.unrecoverable_error_count.inc();
        *self.disk_failed.lock() = Some(reason);
    }

    pub fn new_cnxn_id(&self) -> u64 {
        self.next_cnxn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register_cnxn(&self, h: Arc<CnxnHandle>) {
        self.cnxns.write().insert(h.id, h);
    }

    pub fn cnxns(&self) -> Vec<Arc<CnxnHandle>> {
        self.cnxns.read().values().cloned().collect()
    }

    /// Forgets a closed connection and its watches. The session lives on until it expires.
    pub fn unregister_cnxn(&self, id: u64) {
        if let Some(h) = self.cnxns.write().remove(&id) {
            let sid = h.session_id.load(Ordering::Relaxed);
            let mut owners = self.session_owner.lock();
            if owners.get(&sid) == Some(&id) {
                owners.remove(&sid);
            }
        }
        self.tree.read().remove_watcher(id);
    }

    /// Makes `cnxn` the connection of `session`, closing any other one
    /// (`serverCnxnFactory.closeSession(sessionId, CLIENT_RECONNECT)`).
    pub fn claim_session(&self, session: i64, cnxn: u64) {
        let old = self.session_owner.lock().insert(session, cnxn);
        if let Some(old) = old.filter(|o| *o != cnxn) {
            if let Some(h) = self.cnxns.read().get(&old) {
                let _ = h.tx.send(CnxnMsg::Close("session reconnected on another connection"));
            }
        }
    }

    fn close_session_cnxn(&self, session: i64, why: &'static str) {
        let owner = self.session_owner.lock().remove(&session);
        if let Some(id) = owner {
            if let Some(h) = self.cnxns.read().get(&id) {
                let _ = h.tx.send(CnxnMsg::Close(why));
            }
        }
    }

    /// A new session id.
    pub fn new_session_id(&self) -> i64 {
        self.core.lock().sessions.next_session_id()
    }

    /// `revalidateSession`: touches the session with the new timeout; false if unknown.
    pub fn revalidate(&self, session: i64, timeout: i32) -> bool {
        self.revalidate_as(session, timeout, LOCAL_OWNER)
    }

    /// `revalidateSession` + `setOwner`: the session's writes are accepted only through
    /// `owner` from now on.
    fn revalidate_as(&self, session: i64, timeout: i32, owner: u64) -> bool {
        let now = self.now_ms();
        let mut core = self.core.lock();
        let ok = core.sessions.touch(session, timeout, now);
        if ok {
            core.owners.insert(session, owner);
        }
        ok
    }

    /// Records activity on a session.
    pub fn touch(&self, session: i64) -> bool {
        let now = self.now_ms();
        let mut core = self.core.lock();
        let live = core.sessions.touch_session(session, now);
        if live && self.role.is_learner() {
            if let Some(t) = core.sessions.get(session).map(|s| s.timeout) {
                self.touched.lock().insert(session, t);
            }
        }
        live
    }

    /// `checkSession` for reads.
    pub fn check_session(&self, session: i64) -> Result<(), zab_datatree::KeeperError> {
        self.core.lock().sessions.check(session)
    }

    /// Prepares a write and queues it for the log. The receiver completes once the txn is
    /// durable and applied (or with the reason it never will be).
    /// `body` is the request as the client sent it (after the header), which a learner
    /// forwards to the leader.
    pub fn submit_write(
        &self,
        session_id: i64,
        cxid: i32,
        auth: &[Id],
        req: &WriteRequest,
        body: &[u8],
    ) -> oneshot::Receiver<WriteResult> {
        self.submit_write_from(LOCAL_OWNER, session_id, cxid, auth, req, body)
    }

    /// [`submit_write`](Self::submit_write) for a request that reached the leader through
    /// `owner` (a learner's sid, or [`LOCAL_OWNER`]).
    pub fn submit_write_from(
        &self,
        owner: u64,
        session_id: i64,
        cxid: i32,
        auth: &[Id],
        req: &WriteRequest,
        body: &[u8],
    ) -> oneshot::Receiver<WriteResult> {
        // PROPOSALs (leader) or the REQUEST (learner) leave when this returns, after the
        // locks below are released, not from under them.
        let _defer = crate::defer::defer();
        let (done, rx) = oneshot::channel();
        if let Some(reason) = self.disk_failure() {
            let _ = done.send(Err(reason));
            return rx;
        }
        if self.role.is_learner() {
            let Some(rep) = self.replicator.get() else {
                let _ = done.send(Err("not connected to a leader".into()));
                return rx;
            };
            if let WriteRequest::CreateSession { timeout } = req {
                // The learner tracks its own sessions (`LearnerSessionTracker`) and the
                // leader learns of them from the createSession txn.
                let now = self.now_ms();
                self.core.lock().sessions.add(session_id, *timeout, now);
            }
            {
                // Checked under the lock `stop_serving` clears the map with: a request either
                // fails here or is failed by that clear, never left waiting for a leader
                // that is gone.
                let mut forwarded = self.forwarded.lock();
                if !self.is_serving() {
                    drop(forwarded);
                    let _ = done.send(Err("this member is not serving; reconnect to another".into()));
                    return rx;
                }
                forwarded.insert((session_id, cxid), done);
            }
            let op_type = match req {
                WriteRequest::CreateSession { .. } => op::CREATE_SESSION,
                WriteRequest::CloseSession => op::CLOSE_SESSION,
                r => r.op_type(),
            };
            let owned;
            let body = match req {
                WriteRequest::CreateSession { timeout } => {
                    owned = timeout.to_be_bytes();
                    &owned[..]
                }
                _ => body,
            };
            rep.forward(session_id, cxid, op_type, body, auth);
            return rx;
        }
        let mut core = self.core.lock();
        // `checkSession(id, owner)`: a session that moved to another member refuses writes
        // from its old connection (SESSIONMOVED, as an error txn).
        let moved;
        let req = match req {
            WriteRequest::CreateSession { .. } => {
                core.owners.insert(session_id, owner);
                req
            }
            WriteRequest::CloseSession | WriteRequest::DeleteContainer(_) => req,
            r => match core.owners.get(&session_id) {
                Some(o) if *o != owner => {
                    moved =
                        WriteRequest::Refused { op_type: r.op_type(), err: zab_datatree::KeeperError::SessionMoved };
                    &moved
                }
                Some(_) => req,
                None => {
                    core.owners.insert(session_id, owner);
                    req
                }
            },
        };
        let zxid = core.hzxid + 1;
        let tree = self.tree.read();
        let Core { sessions, outstanding, prepared_digest, .. } = &mut *core;
        let ctx = PrepContext {
            tree: &tree,
            sessions,
            acl_config: &self.acl_config,
            session_id,
            cxid,
            auth,
            zxid,
            time: wall_ms(),
            digest: *prepared_digest,
        };
        let queued = outstanding.records();
        let prep_started = std::time::Instant::now();
        let (hdr, txn, digest) = prep_request(&ctx, outstanding, req);
        self.metrics.prep_process_time.add_ms(prep_started.elapsed());
        if matches!(req, WriteRequest::CloseSession) {
            self.metrics.close_session_prep_time.add_ms(prep_started.elapsed());
        }
        let proposal_started = std::time::Instant::now();
        self.metrics.prep_processor_request_queued.inc();
        self.metrics.outstanding_changes_queued.add(outstanding.records().saturating_sub(queued) as u64);
        *prepared_digest = digest;
        drop(tree);
        core.hzxid = zxid;
        match &txn {
            // The tracker learns of a session at prep (`trackSession`), and a closing one
            // refuses further requests at once.
            Txn::CreateSession(t) => {
                let now = self.now_ms();
                core.sessions.add(session_id, t.time_out, now);
            }
            Txn::CloseSession(_) => core.sessions.set_closing(session_id),
            _ => {}
        }
        // Each record carries the tree digest after its txn, as ZooKeeper's do; replay (ours
        // or ZooKeeper's) checks it.
        let digest = self.config.digest_enabled.then_some(zab_jute::txn::TxnDigest {
            version: zab_datatree::digest::DIGEST_VERSION,
            tree_digest: digest as i64,
        });
        let payload = Arc::new(zab_persistence::txnlog::marshal(&hdr, &txn, digest.as_ref()));
        let zxid = hdr.zxid;
        // Waiting for its commit before it is proposed, so no commit can pass it by.
        let item =
            LogItem { hdr, txn, payload: payload.clone(), digest: digest.map(|d| d.tree_digest), done: Some(done) };
        self.awaiting.lock().items.push_back(item);
        if self.role == Role::Leader {
            self.stats.proposal_sizes.record(payload.len() as i64);
            self.metrics.proposal_count.inc();
            let proposed = match self.replicator.get() {
                Some(rep) => rep.propose(zxid, &payload),
                None => Err(ProposeError::NotEstablished),
            };
            if let Err(reason) = proposed {
                core.hzxid -= 1;
                self.unqueue(zxid, reason.to_string());
                return rx;
            }
        }
        // Sent under the core lock, so txns reach the log in zxid order.
        if self.log_queue.push(LogRecord { zxid, payload }).is_err() {
            self.unqueue(zxid, "server is shutting down".into());
        }
        // `proposal_process_time`: from the end of prep to the txn handed on (proposed and
        // queued for the log).
        self.metrics.proposal_process_time.add_ms(proposal_started.elapsed());
        rx
    }

    /// Takes a txn that will not be logged out of the queue and fails its request.
    fn unqueue(&self, zxid: i64, reason: String) {
        let item = {
            let mut a = self.awaiting.lock();
            match a.items.iter().rposition(|i| i.hdr.zxid == zxid) {
                Some(pos) => a.items.remove(pos),
                None => None,
            }
        };
        if let Some(done) = item.and_then(|i| i.done) {
            let _ = done.send(Err(reason));
        }
    }

    /// Applies a committed batch: the tree, the session tracker, watch delivery, replies.
    pub(crate) fn apply_batch(&self, batch: &mut Vec<LogItem>) {
        let mut results = Vec::with_capacity(batch.len());
        let now = wall_ms();
        {
            let mut tree = self.tree.write();
            let mut events = Vec::new();
            for item in batch.iter() {
                crate::metrics::record::record_applied(&self.metrics, &item.hdr, now);
                let rc = tree.process_txn(&item.hdr, &item.txn, &mut events);
                if let Some(d) = item.digest {
                    if d != tree.digest() as i64 {
                        self.metrics.digest_mismatches_count.inc();
                        if self.metrics.digest_mismatches_count.get() == 1 {
                            tracing::error!(
                                zxid = format_args!("0x{:x}", item.hdr.zxid),
                                "tree digest after the txn differs from the one precomputed for the log"
                            );
                        }
                    }
                }
                if rc.err == 0 {
                    crate::metrics::record::record_txn_writes(&self.metrics, &item.txn);
                }
                results.push((item.hdr.txn_type, rc, tree.last_processed_zxid()));
            }
            self.applied.store(tree.last_processed_zxid(), Ordering::Release);
            self.deliver(events);
        }
        let last = results.last().map(|r| r.2).unwrap_or(0);
        let mut closed = Vec::new();
        {
            let mut core = self.core.lock();
            let now = self.now_ms();
            for item in batch.iter() {
                match &item.txn {
                    Txn::CloseSession(_) => {
                        core.sessions.remove(item.hdr.client_id);
                        core.owners.remove(&item.hdr.client_id);
                        // FinalRequestProcessor's `connClosedByClient`: a closeSession no
                        // connection here waits to answer (closed through another member,
                        // expired by the leader, or its client gone) closes the session's
                        // connection on this member, so its client learns it on reconnect.
                        if item.done.as_ref().is_none_or(|d| d.is_closed()) {
                            closed.push(item.hdr.client_id);
                        }
                    }
                    // A learner hears of sessions created through other members here.
                    Txn::CreateSession(t)
                        if self.role.is_learner() && core.sessions.get(item.hdr.client_id).is_none() =>
                    {
                        core.sessions.add(item.hdr.client_id, t.time_out, now);
                    }
                    _ => {}
                }
            }
            let before = core.outstanding.records();
            core.outstanding.applied_up_to(last);
            self.metrics.outstanding_changes_removed.add((before - core.outstanding.records()) as u64);
        }
        for session in closed {
            self.close_session_cnxn(session, "session closed by another connection or expired");
        }
        if self.role != Role::Standalone {
            let mut recent = self.recent.lock();
            for item in batch.iter_mut() {
                recent.push_back((item.hdr.zxid, item.payload.clone()));
            }
            while recent.len() > self.config.commit_log_count {
                recent.pop_front();
            }
        }
        for (item, (txn_type, rc, zxid)) in batch.drain(..).zip(results) {
            debug!(
                session = format_args!("0x{:x}", item.hdr.client_id),
                zxid = format_args!("0x{zxid:x}"),
                op = op::name(txn_type),
                err = rc.err,
                "applied"
            );
            self.stats.writes.fetch_add(1, Ordering::Relaxed);
            if let Some(done) = item.done {
                let _ = done.send(Ok(WriteOutcome { txn_type, rc, zxid }));
            }
        }
    }

    /// The sync thread made these txns durable here, in order. Standalone that commits
    /// them; in an ensemble it is this member's ACK (the leader counts its own).
    pub(crate) fn logged(&self, zxids: &[i64]) {
        let Some(&last) = zxids.last() else { return };
        {
            let mut a = self.awaiting.lock();
            a.logged = a.logged.max(last);
        }
        if self.role == Role::Standalone {
            return self.commit_up_to(last);
        }
        if let Some(rep) = self.replicator.get() {
            rep.logged(zxids);
        }
    }

    /// The sync thread could not log these txns (a disk failure): they are not applied
    /// here, and their requests fail.
    pub(crate) fn log_failed(&self, zxids: &[i64], reason: &str) {
        let failed: Vec<LogItem> = {
            let mut a = self.awaiting.lock();
            let mut failed = Vec::new();
            let mut kept = std::collections::VecDeque::with_capacity(a.items.len());
            for i in std::mem::take(&mut a.items) {
                if zxids.contains(&i.hdr.zxid) {
                    failed.push(i);
                } else {
                    kept.push_back(i);
                }
            }
            a.items = kept;
            failed
        };
        for item in failed {
            if let Some(done) = item.done {
                let _ = done.send(Err(reason.to_owned()));
            }
        }
    }

    /// [`commit_up_to`](Self::commit_up_to), or inside a [`crate::defer`] scope at its
    /// flush, once for all the commits of the burst.
    pub fn commit_up_to_deferred(self: &Arc<Self>, zxid: i64) {
        self.commit_target.fetch_max(zxid, Ordering::AcqRel);
        let me: Arc<dyn crate::defer::Flush> = self.clone();
        if !crate::defer::later(crate::defer::Phase::Apply, &me) {
            self.commit_up_to(self.commit_target.load(Ordering::Acquire));
        }
    }

    /// The quorum committed everything up to `zxid`: apply it, in order
    /// (`CommitProcessor`). A committed txn is on a quorum's disks, so it is applied even
    /// before this member's own fsync of it ends, as ZooKeeper's learners do. Idempotent
    /// and monotonic, so callers need no ordering.
    pub fn commit_up_to(&self, zxid: i64) {
        let _apply = self.apply_lock.lock();
        let mut batch = Vec::new();
        {
            let mut a = self.awaiting.lock();
            a.committed = a.committed.max(zxid);
            while a.items.front().is_some_and(|i| i.hdr.zxid <= a.committed) {
                if let Some(i) = a.items.pop_front() {
                    batch.push(i);
                }
            }
        }
        if !batch.is_empty() {
            if self.role != Role::Standalone {
                self.metrics.request_commit_queued.add(batch.len() as u64);
            }
            self.apply_batch(&mut batch);
        }
        let ready = {
            let mut a = self.awaiting.lock();
            if a.syncs.is_empty() {
                return;
            }
            let applied = self.applied.load(Ordering::Acquire);
            let (ready, waiting): (Vec<_>, Vec<_>) = a.syncs.drain(..).partition(|(t, _, _)| *t <= applied);
            a.syncs = waiting;
            (ready, applied)
        };
        for (_, path, done) in ready.0 {
            Self::reply_sync(path, done, ready.1);
        }
    }

    fn reply_sync(path: String, done: oneshot::Sender<WriteResult>, zxid: i64) {
        let rc = zab_datatree::ProcessTxnResult { path, txn_type: op::SYNC, zxid, ..Default::default() };
        let _ = done.send(Ok(WriteOutcome { txn_type: op::SYNC, rc, zxid }));
    }

    /// Learner: a txn from the leader (PROPOSAL, INFORM, or the sync's proposals) goes to
    /// the log; once applied it completes the client request it came from, if that client
    /// is connected here.
    ///
    /// `lone`: nothing else is waiting to be read from the leader. Then, if the sync thread
    /// is idle, this thread logs and fsyncs the txn itself (and ACKs it) instead of waking
    /// the sync thread: one thread hand-off less on the path of a write that is alone.
    pub fn log_txn(self: &Arc<Self>, payload: Vec<u8>, lone: bool) -> Result<i64, TxnError> {
        let e = zab_persistence::txnlog::unmarshal(&payload).map_err(TxnError::Malformed)?;
        let done = self.forwarded.lock().remove(&(e.hdr.client_id, e.hdr.cxid));
        let zxid = e.hdr.zxid;
        let payload = Arc::new(payload);
        let item = LogItem {
            hdr: e.hdr,
            txn: e.txn,
            payload: payload.clone(),
            digest: e.digest.as_ref().map(|d| d.tree_digest),
            done,
        };
        self.awaiting.lock().items.push_back(item);
        self.last_prepared(zxid);
        if lone && self.log_queue.is_idle() {
            // Idle: every txn pushed before is logged, and this thread is the only one that
            // pushes, so logging this one here keeps the log in order.
            if let Some(mut st) = self.sync_state.try_lock() {
                st.process(self, &mut vec![LogRecord { zxid, payload }]);
                return Ok(zxid);
            }
        }
        if self.log_queue.push(LogRecord { zxid, payload }).is_err() {
            self.unqueue(zxid, TxnError::ShuttingDown.to_string());
            return Err(TxnError::ShuttingDown);
        }
        Ok(zxid)
    }

    /// Learner: txns logged during synchronisation (before this server existed) whose
    /// COMMIT has not arrived yet; a later [`commit_up_to`](Self::commit_up_to) applies them.
    pub fn adopt_logged(&self, payloads: Vec<Vec<u8>>) -> Result<(), TxnError> {
        let mut items = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let e = zab_persistence::txnlog::unmarshal(&payload).map_err(TxnError::Malformed)?;
            let done = self.forwarded.lock().remove(&(e.hdr.client_id, e.hdr.cxid));
            let digest = e.digest.as_ref().map(|d| d.tree_digest);
            items.push(LogItem { hdr: e.hdr, txn: e.txn, payload: Arc::new(payload), digest, done });
        }
        let Some(last) = items.last().map(|i| i.hdr.zxid) else { return Ok(()) };
        {
            // Already durable: logged during synchronisation.
            let mut a = self.awaiting.lock();
            a.items.extend(items);
            a.logged = a.logged.max(last);
        }
        self.last_prepared(last);
        Ok(())
    }

    /// Leader: moves the zxid counter forward to `zxid` (`ZooKeeperServer.setZxid`, for
    /// `zookeeper.testingonly.initialZxid`); `replicator` moves the broadcast's counter under
    /// the same lock, so no write is prepared between the two.
    pub fn skip_zxid_to(
        &self,
        zxid: i64,
        replicator: impl FnOnce(i64) -> Result<(), SkipError>,
    ) -> Result<(), SkipError> {
        let mut core = self.core.lock();
        if zxid <= core.hzxid {
            return Err(SkipError::NotAhead { zxid, current: core.hzxid });
        }
        replicator(zxid)?;
        core.hzxid = zxid;
        Ok(())
    }

    /// The newest zxid prepared (leader) or handed to the log (learner).
    pub fn prepared_zxid(&self) -> i64 {
        self.core.lock().hzxid
    }

    fn last_prepared(&self, zxid: i64) {
        let mut core = self.core.lock();
        core.hzxid = core.hzxid.max(zxid);
    }

    /// Learner: a `sync` waits for the leader's SYNC (`FollowerZooKeeperServer.sync`).
    pub fn submit_sync(&self, path: String) -> oneshot::Receiver<WriteResult> {
        let (done, rx) = oneshot::channel();
        match self.replicator.get() {
            Some(rep) => {
                self.pending_syncs.lock().push_back((path.clone(), done));
                let mut body = Vec::with_capacity(path.len() + 4);
                body.extend_from_slice(&(path.len() as i32).to_be_bytes());
                body.extend_from_slice(path.as_bytes());
                rep.forward(0, 0, op::SYNC, &body, &[]);
            }
            None => {
                let _ = done.send(Err("not connected to a leader".into()));
            }
        }
        rx
    }

    /// Learner: the leader's SYNC answers the oldest pending `sync`.
    pub fn sync_done(&self) {
        let next = self.pending_syncs.lock().pop_front();
        if let Some((path, done)) = next {
            // Everything committed before the SYNC must be applied here first.
            let mut a = self.awaiting.lock();
            let applied = self.applied.load(Ordering::Acquire);
            // A COMMIT read just before the SYNC may still wait for its burst's apply.
            let target = a.committed.max(self.commit_target.load(Ordering::Acquire));
            if target <= applied {
                Self::reply_sync(path, done, applied);
            } else {
                a.syncs.push((target, path, done));
            }
        }
    }

    /// Learner: asks the leader whether `session` may move here.
    ///
    /// `None` when there is no answer (not serving, or the term ended while waiting): the
    /// session is then not known to be invalid, and its client must not be told it expired.
    pub async fn revalidate_remote(&self, session: i64, timeout: i32) -> Option<bool> {
        let rep = self.replicator.get()?;
        if !self.is_serving() {
            return None;
        }
        let ok = rep.revalidate(session, timeout).await.ok()?;
        if ok {
            let now = self.now_ms();
            let mut core = self.core.lock();
            if !core.sessions.touch(session, timeout, now) {
                core.sessions.add(session, timeout, now);
            }
        }
        Some(ok)
    }

    /// Learner: the sessions touched since the last call, for the PING to the leader.
    pub fn take_touched(&self) -> HashMap<i64, i32> {
        std::mem::take(&mut *self.touched.lock())
    }

    /// Leader: a learner reports client activity on a session.
    pub fn touch_remote(&self, session: i64, timeout: i32) -> bool {
        let now = self.now_ms();
        self.core.lock().sessions.touch(session, timeout, now)
    }

    /// Leader: `revalidateSession` for a learner's client.
    pub fn revalidate_for_learner(&self, session: i64, timeout: i32, sid: u64) -> bool {
        let ok = self.revalidate_as(session, timeout, sid);
        if ok {
            // The session's connection here, if one is still open, is now an old one.
            let local = self.session_owner.lock().get(&session).copied();
            if let Some(h) = local.and_then(|id| self.cnxns.read().get(&id).cloned()) {
                h.moved.store(true, Ordering::Release);
            }
        }
        ok
    }

    /// Hands watch events to their connections, dropping those whose connection may not
    /// READ the node (ZooKeeper 3.8.4+ / CVE-2024-23944).
    /// The caller holds the tree's write lock, so no reader can see the change before its
    /// events are queued.
    fn deliver(&self, events: Vec<WatchEvent>) {
        if events.is_empty() {
            return;
        }
        crate::metrics::record::record_watch_events(&self.metrics, &events);
        let cnxns = self.cnxns.read();
        for e in events {
            let Some(h) = cnxns.get(&e.watcher) else {
                continue;
            };
            if let Some(acl) = &e.acl {
                if check_acl(&self.acl_config, acl, perms::READ, &h.auth.read()).is_err() {
                    continue;
                }
            }
            let _ = h.tx.send(CnxnMsg::Event(WatcherEvent {
                event_type: e.event_type,
                state: state::SYNC_CONNECTED,
                path: e.path,
            }));
        }
    }

    /// Expires sessions whose time has come: each becomes a closeSession txn, and its
    /// connection, if any, is closed so the client learns it expired on reconnect.
    pub async fn expire_sessions(&self) -> Option<i64> {
        let now = self.now_ms();
        let expired = self.core.lock().sessions.expire(now);
        for sid in expired {
            info!(session = format_args!("0x{sid:x}"), "expiring session");
            self.metrics.stale_sessions_expired.inc();
            let done = self.submit_write(sid, 0, &[], &WriteRequest::CloseSession, &[]);
            let _ = done.await;
            self.close_session_cnxn(sid, "session expired");
        }
        self.core.lock().sessions.next_expiration()
    }

    /// Ends a session the client closed.
    pub fn after_client_close(&self, session: i64) {
        self.session_owner.lock().remove(&session);
    }

    /// The containers and TTL nodes the ContainerManager should delete now
    /// (`ContainerManager.getCandidates`).
    pub fn container_candidates(&self) -> Vec<String> {
        let tree = self.tree.read();
        let now = wall_ms();
        let mut out = Vec::new();
        for p in tree.containers() {
            if let Some(n) = tree.node(p) {
                if n.num_children() == 0 {
                    let never_used = self.config.container_max_never_used_ms;
                    if n.stat.cversion > 0 || (never_used != 0 && now - n.stat.mtime > never_used) {
                        out.push(p.to_owned());
                    }
                }
            }
        }
        for p in tree.ttls() {
            if let Some(n) = tree.node(p) {
                if n.num_children() == 0 {
                    let ttl = zab_datatree::ephemeral::ttl_value(n.stat.ephemeral_owner);
                    if ttl != 0 && now - n.stat.mtime > ttl {
                        out.push(p.to_owned());
                    }
                }
            }
        }
        out.sort();
        out
    }
}
