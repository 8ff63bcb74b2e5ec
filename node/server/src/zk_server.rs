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
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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

use crate::config::ServerConfig;
use crate::stats::ServerStats;
use crate::sync_proc::{LogItem, WriteOutcome, WriteResult};

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
    pub auth: Arc<RwLock<Vec<Id>>>,
    pub tx: mpsc::UnboundedSender<CnxnMsg>,
    pub stats: Arc<crate::stats::CnxnStats>,
}

struct Core {
    sessions: SessionTracker,
    /// The last zxid handed out (`ZooKeeperServer.hzxid`).
    hzxid: i64,
    /// Prepared changes not yet applied (`outstandingChanges`).
    outstanding: Outstanding,
    /// The tree digest after the last prepared txn (logged with each txn as its TxnDigest).
    prepared_digest: u64,
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
    Snapshot(String),
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
    pub metrics: crate::stats::PersistenceMetrics,
    pub snap_log: SnapLog,
    log_tx: Mutex<Option<std::sync::mpsc::Sender<LogItem>>>,
    sync_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    disk_failed: Mutex<Option<String>>,
    epoch: tokio::time::Instant,
    /// (currentEpoch, acceptedEpoch) as loaded at start.
    pub epochs: (i64, i64),
    /// The last zxid written to the transaction log (set by the sync thread).
    pub last_logged_zxid: AtomicI64,
    pub started: std::time::Instant,
    pub metrics_registry: crate::admin::metrics::Metrics,
    /// ZooKeeper's trace mask (`gtmk`/`stmk`); kept for compatibility, it gates nothing.
    pub trace_mask: AtomicI64,
    /// (zxid, unix seconds) of the last snapshot written or loaded (`lsnp`).
    pub last_snapshot: Mutex<(i64, i64)>,
}

fn check_epochs(snap_log: &SnapLog, last_zxid: i64) -> Result<(i64, i64), StartError> {
    let (current, accepted) = zab_persistence::epoch::load_epochs(&snap_log.snap_dir, last_zxid)
        .map_err(|e| StartError::Epoch(e.to_string()))?;
    debug!(current, accepted, "epochs");
    Ok((current, accepted))
}

/// Wall-clock milliseconds, as txn headers and Stat times carry them.
pub fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl ZooKeeperServer {
    /// Restores the database from the data directory and starts the sync thread.
    pub fn start(config: ServerConfig) -> Result<Arc<ZooKeeperServer>, StartError> {
        let tree_config = TreeConfig { extended_types: config.extended_types, digest_enabled: config.digest_enabled };
        let snap_log = SnapLog::new(&config.data_dir, &config.data_log_dir);
        let restored = snap_log
            .restore(tree_config, config.commit_log_count)
            .map_err(|source| StartError::Restore { dir: config.data_dir.clone(), source })?;
        let epochs = check_epochs(&snap_log, restored.last_zxid)?;
        let last_zxid = restored.last_zxid;
        let acl_config = AclConfig { super_digest: config.super_digest.clone(), skip_acl: config.skip_acl };
        let epoch = tokio::time::Instant::now();
        let mut sessions = SessionTracker::new(config.server_id, config.tick_time as i64, wall_ms());
        for (id, timeout) in &restored.sessions {
            sessions.add(*id, *timeout, 0);
        }
        let needs_snapshot = restored.snapshot.is_none();
        let last_snapshot = match &restored.snapshot {
            Some(p) => {
                let secs = std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(-1, |d| d.as_secs() as i64);
                (restored.snapshot_zxid, secs)
            }
            None => (-1, -1),
        };
        let prepared_digest = restored.tree.digest();
        let log = TxnLogWriter::open(&snap_log.log_dir, config.pre_alloc_kb * 1024, config.force_sync)
            .map_err(|source| StartError::Restore { dir: config.data_log_dir.clone(), source })?;
        let (tx, rx) = std::sync::mpsc::channel();
        let server = Arc::new(ZooKeeperServer {
            acl_config,
            tree: RwLock::new(restored.tree),
            core: Mutex::new(Core {
                sessions,
                hzxid: restored.last_zxid,
                outstanding: Outstanding::default(),
                prepared_digest,
            }),
            cnxns: RwLock::new(HashMap::new()),
            session_owner: Mutex::new(HashMap::new()),
            next_cnxn: AtomicU64::new(1),
            stats: ServerStats::default(),
            metrics: Default::default(),
            snap_log,
            log_tx: Mutex::new(Some(tx)),
            sync_thread: Mutex::new(None),
            disk_failed: Mutex::new(None),
            epoch,
            epochs,
            last_logged_zxid: AtomicI64::new(last_zxid),
            started: std::time::Instant::now(),
            metrics_registry: crate::admin::metrics::Metrics::new(),
            trace_mask: AtomicI64::new(306),
            last_snapshot: Mutex::new(last_snapshot),
            config,
        });
        if needs_snapshot {
            crate::sync_proc::take_snapshot(&server).map_err(StartError::Snapshot)?;
        }
        let s = server.clone();
        let handle = std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || crate::sync_proc::run(s, rx, log))
            .map_err(StartError::Thread)?;
        *server.sync_thread.lock() = Some(handle);
        Ok(server)
    }

    /// Stops the sync thread after it has written and applied everything queued.
    pub fn shutdown(&self) {
        self.log_tx.lock().take();
        if let Some(h) = self.sync_thread.lock().take() {
            let _ = h.join();
        }
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
        let now = self.now_ms();
        self.core.lock().sessions.touch(session, timeout, now)
    }

    /// Records activity on a session.
    pub fn touch(&self, session: i64) -> bool {
        let now = self.now_ms();
        self.core.lock().sessions.touch_session(session, now)
    }

    /// `checkSession` for reads.
    pub fn check_session(&self, session: i64) -> Result<(), zab_datatree::KeeperError> {
        self.core.lock().sessions.check(session)
    }

    /// Prepares a write and queues it for the log. The receiver completes once the txn is
    /// durable and applied (or with the reason it never will be).
    pub fn submit_write(
        &self,
        session_id: i64,
        cxid: i32,
        auth: &[Id],
        req: &WriteRequest,
    ) -> oneshot::Receiver<WriteResult> {
        let (done, rx) = oneshot::channel();
        if let Some(reason) = self.disk_failure() {
            let _ = done.send(Err(reason));
            return rx;
        }
        let mut core = self.core.lock();
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
        let (hdr, txn, digest) = prep_request(&ctx, outstanding, req);
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
        let payload = zab_persistence::txnlog::marshal(&hdr, &txn, digest.as_ref());
        let item = LogItem { hdr, txn, payload, digest: digest.map(|d| d.tree_digest), done: Some(done) };
        // Sent under the core lock, so txns reach the log in zxid order.
        let sent = match self.log_tx.lock().as_ref() {
            Some(tx) => tx.send(item).map_err(|e| e.0),
            None => Err(item),
        };
        if let Err(item) = sent {
            if let Some(done) = item.done {
                let _ = done.send(Err("server is shutting down".into()));
            }
        }
        rx
    }

    /// Applies a durable batch: the tree, the session tracker, watch delivery, replies.
    pub(crate) fn apply_batch(&self, batch: &mut Vec<LogItem>) {
        let mut results = Vec::with_capacity(batch.len());
        {
            let mut tree = self.tree.write();
            let mut events = Vec::new();
            for item in batch.iter() {
                let rc = tree.process_txn(&item.hdr, &item.txn, &mut events);
                if let Some(d) = item.digest {
                    if d != tree.digest() as i64 {
                        let n = self.metrics.digest_mismatches.fetch_add(1, Ordering::Relaxed);
                        if n == 0 {
                            tracing::error!(
                                zxid = format_args!("0x{:x}", item.hdr.zxid),
                                "tree digest after the txn differs from the one precomputed for the log"
                            );
                        }
                    }
                }
                results.push((item.hdr.txn_type, rc, tree.last_processed_zxid()));
            }
            self.deliver(events);
        }
        let last = results.last().map(|r| r.2).unwrap_or(0);
        {
            let mut core = self.core.lock();
            for item in batch.iter() {
                if let Txn::CloseSession(_) = item.txn {
                    core.sessions.remove(item.hdr.client_id);
                }
            }
            core.outstanding.applied_up_to(last);
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

    /// Hands watch events to their connections, dropping those whose connection may not
    /// READ the node (ZooKeeper 3.8.4+ / CVE-2024-23944).
    /// The caller holds the tree's write lock, so no reader can see the change before its
    /// events are queued.
    fn deliver(&self, events: Vec<WatchEvent>) {
        if events.is_empty() {
            return;
        }
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
            let done = self.submit_write(sid, 0, &[], &WriteRequest::CloseSession);
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
