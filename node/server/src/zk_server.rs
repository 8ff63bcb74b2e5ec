//! ZooKeeperServer: the state every connection shares, and the write path.
//!
//! - The DataTree sits behind a read-write lock: reads from all connections run at once;
//!   a write holds the write lock only while its txn is applied.
//! - Writes are serialised by the `core` mutex, which owns the zxid counter and the
//!   SessionTracker: prep (request -> txn), apply, and watch delivery happen in zxid order.
//! - Watch events are handed to the connections' queues before the tree lock is released,
//!   so a client always receives an event before the reply to any later request that could
//!   observe the change (ZooKeeper's ordering guarantee).
//!
//! Durability comes with the transaction log (next issue): today writes live in memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;
use tracing::{debug, info};
use zab_datatree::acl::{check_acl, AclConfig};
use zab_datatree::prep::{prep_request, PrepContext, WriteRequest};
use zab_datatree::session::SessionTracker;
use zab_datatree::{DataTree, ProcessTxnResult, TreeConfig, WatchEvent};
use zab_jute::codes::{op, perms, state};
use zab_jute::data::Id;
use zab_jute::proto::WatcherEvent;
use zab_jute::txn::Txn;

use crate::config::ServerConfig;
use crate::stats::ServerStats;

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
    epoch: tokio::time::Instant,
}

/// Wall-clock milliseconds, as txn headers and Stat times carry them.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The outcome of one write.
pub struct WriteOutcome {
    /// The txn type (`op::ERROR` when the request failed in prep).
    pub txn_type: i32,
    pub rc: ProcessTxnResult,
    /// lastProcessedZxid after the write: the reply's zxid.
    pub zxid: i64,
}

impl ZooKeeperServer {
    pub fn new(config: ServerConfig) -> Arc<ZooKeeperServer> {
        let tree = DataTree::new(TreeConfig {
            extended_types: config.extended_types,
            digest_enabled: config.digest_enabled,
        });
        let acl_config = AclConfig {
            super_digest: config.super_digest.clone(),
            skip_acl: config.skip_acl,
        };
        let epoch = tokio::time::Instant::now();
        let sessions = SessionTracker::new(config.server_id, config.tick_time as i64, wall_ms());
        Arc::new(ZooKeeperServer {
            acl_config,
            tree: RwLock::new(tree),
            core: Mutex::new(Core { sessions, hzxid: 0 }),
            cnxns: RwLock::new(HashMap::new()),
            session_owner: Mutex::new(HashMap::new()),
            next_cnxn: AtomicU64::new(1),
            stats: ServerStats::default(),
            epoch,
            config,
        })
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
        self.core
            .lock()
            .sessions
            .sessions()
            .map(|s| (s.id, s.timeout))
            .collect()
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
                let _ =
                    h.tx.send(CnxnMsg::Close("session reconnected on another connection"));
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

    /// A new session id and its password.
    pub fn new_session_id(&self) -> i64 {
        self.core.lock().sessions.next_session_id()
    }

    /// `revalidateSession`: touches the session with the new timeout; false if unknown.
    pub fn revalidate(&self, session: i64, timeout: i32) -> bool {
        let now = self.now_ms();
        self.core.lock().sessions.touch(session, timeout, now)
    }

    /// Records activity on a session (every request does this).
    pub fn touch(&self, session: i64) -> bool {
        let now = self.now_ms();
        self.core.lock().sessions.touch_session(session, now)
    }

    /// `checkSession` for reads.
    pub fn check_session(&self, session: i64) -> Result<(), zab_datatree::KeeperError> {
        self.core.lock().sessions.check(session)
    }

    /// Runs a write through prep and apply, then delivers its watch events.
    pub fn submit_write(
        &self,
        session_id: i64,
        cxid: i32,
        auth: &[Id],
        req: &WriteRequest,
    ) -> WriteOutcome {
        let mut core = self.core.lock();
        let zxid = core.hzxid + 1;
        let mut tree = self.tree.write();
        let (hdr, txn) = {
            let ctx = PrepContext {
                tree: &tree,
                sessions: &core.sessions,
                acl_config: &self.acl_config,
                session_id,
                cxid,
                auth,
                zxid,
                time: wall_ms(),
            };
            prep_request(&ctx, req)
        };
        core.hzxid = zxid;
        if hdr.txn_type == op::CLOSE_SESSION {
            core.sessions.set_closing(session_id);
        }
        let mut events = Vec::new();
        let rc = tree.process_txn(&hdr, &txn, &mut events);
        match &txn {
            Txn::CreateSession(t) => {
                let now = self.now_ms();
                core.sessions.add(session_id, t.time_out, now);
            }
            Txn::CloseSession(_) => core.sessions.remove(session_id),
            _ => {}
        }
        drop(core);
        self.deliver(&tree, events);
        let zxid = tree.last_processed_zxid();
        drop(tree);
        debug!(
            session = format_args!("0x{session_id:x}"),
            zxid = format_args!("0x{zxid:x}"),
            op = op::name(hdr.txn_type),
            err = rc.err,
            "applied"
        );
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
        WriteOutcome {
            txn_type: hdr.txn_type,
            rc,
            zxid,
        }
    }

    /// Hands watch events to their connections, dropping those whose connection may not
    /// READ the node (ZooKeeper 3.8.4+ / CVE-2024-23944).
    fn deliver(&self, tree: &DataTree, events: Vec<WatchEvent>) {
        let _ = tree;
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

    /// Delivers events produced outside a write (setWatches on reconnect).
    pub fn deliver_unfiltered(&self, events: Vec<WatchEvent>) {
        let tree = self.tree.read();
        self.deliver(&tree, events);
    }

    /// Expires sessions whose time has come: each becomes a closeSession txn, and its
    /// connection, if any, is closed so the client learns it expired on reconnect.
    pub fn expire_sessions(&self) -> Option<i64> {
        let now = self.now_ms();
        let expired = self.core.lock().sessions.expire(now);
        for sid in expired {
            info!(session = format_args!("0x{sid:x}"), "expiring session");
            self.submit_write(sid, 0, &[], &WriteRequest::CloseSession);
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
