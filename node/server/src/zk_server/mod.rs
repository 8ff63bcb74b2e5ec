//! ZooKeeperServer: the state every connection shares, and the server's side of the
//! write path.
//!
//! - The DataTree sits behind a read-write lock: reads from all connections run at once;
//!   a write holds the write lock only while its txn is applied.
//! - Watch events are handed to the connections' queues before the tree lock is released,
//!   so a client always receives an event before the reply to any later request that could
//!   observe the change (ZooKeeper's ordering guarantee).
//! - A write is prepared (checked and turned into a txn) under the `core` mutex, which owns
//!   the zxid counter, the SessionTracker and the changes prepared but not yet applied;
//!   the log thread ([`crate::log_thread`]) logs it and fsyncs, and once it is committed it
//!   is applied and its request completed.
//!
//! # Layout
//! This file holds the struct and what the views read of it. A server starts with its
//! [`Upstream`] and keeps it for its epoch: nothing (standalone), the leader's
//! [`Broadcast`], or a follower's or observer's [`LeaderLink`]; its [`Role`] is read from
//! it, so the two cannot disagree. Each role wires its own request pipeline, in a module
//! of its own:
//!
//! ```text
//! standalone  submit_write -> prep -> log -> fsync: committed -> apply
//! leader      submit_write -> prep -> Broadcast::propose -> log
//!               -> fsync: its own ACK (Broadcast::logged)
//!               -> a quorum's ACKs: commit_up_to -> apply
//! learner     submit_write -> LeaderLink::forward
//!               -> PROPOSAL: log_txn -> fsync: ACK to the leader (LeaderLink::logged)
//!               -> COMMIT: commit_up_to -> apply, the forwarded request answered
//! ```
//!
//! The `impl ZooKeeperServer` blocks of the rest are split by concern, in modules nothing
//! here imports (they add methods): `write` (the entry, `submit_write`, which hands a
//! write to its role's pipeline, and the step standalone and leader share:
//! `PrepRequestProcessor`, a write checked, turned into a txn and queued for the log),
//! `standalone` (prep and log), `leader` (`LeaderZooKeeperServer`: prep, propose and log;
//! the learners' sessions and their view for /status), `learner`
//! (`FollowerZooKeeperServer`: forwarding to the leader, txns and SYNCs from it,
//! REVALIDATE, the sessions for the next PING), `commit` (what the log thread reports, and
//! applying committed txns: `CommitProcessor`, `FinalRequestProcessor`'s apply, watch
//! delivery), `lifecycle` (start, stop, the database handed to the next epoch), `reconfig` (the
//! leader's checks of a reconfig against its engine's configuration) and
//! `sessions` (the connection registry, which connection and which member holds a
//! session, revalidation, touches, expiry). The types they share are leaves below them:
//! `role` ([`Role`], [`Upstream`] and its two traits), [`Database`] (`ZKDatabase`,
//! restored at start), `awaiting` (txns waiting for their commit; a learner's requests
//! waiting on the leader), [`CnxnHandle`] and [`CnxnMsg`] (a live connection), and the
//! errors ([`StartError`], [`TxnError`], [`SkipError`]).

mod awaiting;
mod cnxn_handle;
mod commit;
mod database;
mod error;
mod leader;
mod learner;
mod lifecycle;
mod reconfig;
mod role;
mod sessions;
mod standalone;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use zab_datatree::acl::AclConfig;
use zab_datatree::prep::Outstanding;
use zab_datatree::session::SessionTracker;
use zab_datatree::DataTree;
use zab_persistence::snaplog::SnapLog;

pub use crate::clock::wall_ms;
use crate::config::ServerConfig;
use crate::log_thread::{LogQueue, LogState};
use crate::stats::ServerStats;
pub use crate::write_result::ProposeError;
use awaiting::{AwaitingCommit, LearnerWaiting};
pub use cnxn_handle::{CnxnHandle, CnxnMsg};
pub use database::Database;
pub use error::{SkipError, StartError, TxnError};
pub use role::{Broadcast, HandOverWait, LeaderLink, QuorumConfigs, Role, Upstream};

struct Core {
    sessions: SessionTracker,
    /// The last zxid handed out (`ZooKeeperServer.hzxid`).
    hzxid: i64,
    /// Prepared changes not yet applied (`outstandingChanges`).
    outstanding: Outstanding,
    /// The tree digest after the last prepared txn (logged with each txn as its TxnDigest).
    prepared_digest: u64,
    /// Session -> the member it was last validated through (`SessionImpl.owner`: a
    /// learner's sid, or [`LOCAL_OWNER`]): its writes from anywhere else fail with
    /// SESSIONMOVED.
    member_of_session: HashMap<i64, u64>,
}

/// The owner of sessions whose client is connected to this server itself.
pub const LOCAL_OWNER: u64 = u64::MAX;

/// `ZooTrace`'s default trace mask (`gtmk` answers it until `stmk` sets another): client
/// requests, server packets, sessions and warnings (2 | 16 | 32 | 256).
pub const DEFAULT_TRACE_MASK: i64 = 306;

/// The shared server state.
pub struct ZooKeeperServer {
    pub config: ServerConfig,
    pub acl_config: AclConfig,
    tree: RwLock<DataTree>,
    core: Mutex<Core>,
    cnxns: RwLock<HashMap<u64, Arc<CnxnHandle>>>,
    /// Session -> the id of the connection here that holds it (the one a reconnect or an
    /// expiry closes).
    cnxn_of_session: Mutex<HashMap<i64, u64>>,
    next_cnxn: AtomicU64,
    pub stats: ServerStats,
    /// The member's process-wide metrics (`ServerMetrics`), shared with its config.
    pub metrics: Arc<crate::metrics::ServerMetrics>,
    pub snap_log: SnapLog,
    log_queue: Arc<LogQueue>,
    /// The log itself: the log thread's, lent to a learner's reader for a lone proposal.
    sync_state: Arc<Mutex<LogState>>,
    sync_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    disk_failed: Mutex<Option<String>>,
    /// Time zero of [`now_ms`](Self::now_ms), the monotonic clock sessions expire by.
    clock_origin: tokio::time::Instant,
    /// (currentEpoch, acceptedEpoch) as loaded at start.
    pub epochs: (i64, i64),
    /// The last zxid written to the transaction log (set by the log thread).
    pub last_logged_zxid: AtomicI64,
    pub started: std::time::Instant,
    pub metrics_registry: crate::metrics::histograms::Histograms,
    /// ZooKeeper's trace mask (`gtmk`/`stmk`); kept for compatibility, it gates nothing.
    pub trace_mask: AtomicI64,
    /// (zxid, unix seconds) of the last snapshot written or loaded (`lsnp`).
    pub last_snapshot: Mutex<(i64, i64)>,
    /// What this server's writes go up to, by role (see [`Upstream`]).
    upstream: Upstream,
    awaiting: Mutex<AwaitingCommit>,
    /// The newest commit [`commit_up_to_deferred`](Self::commit_up_to_deferred) was told of.
    commit_target: AtomicI64,
    /// Held while committed txns are taken from `awaiting` and applied, so batches are
    /// applied in order whichever thread saw the commit.
    apply_lock: Mutex<()>,
    /// The last zxid applied to the tree (read without the tree's lock).
    applied: AtomicI64,
    /// Learner: the requests, syncs and session touches waiting on the leader.
    learner: LearnerWaiting,
    /// Clients are served (standalone, or in broadcast after UPTODATE / NEWLEADER quorum).
    pub serving: std::sync::atomic::AtomicBool,
    /// In an ensemble: the last `commitLogCount` applied txns (`ZKDatabase.committedLog`),
    /// which the next epoch's leader syncs learners from.
    recent: Mutex<std::collections::VecDeque<(i64, Arc<Vec<u8>>)>>,
    /// In an ensemble: the member this server serves for (ZooKeeper's `self` QuorumPeer),
    /// set before it serves.
    peer: std::sync::OnceLock<Arc<crate::peer_state::PeerInfo>>,
}

impl ZooKeeperServer {
    /// What this server is in its ensemble.
    pub fn role(&self) -> Role {
        self.upstream.role()
    }

    /// Voting members of the configuration (1 standalone).
    pub fn quorum_size(&self) -> usize {
        self.config.quorum.as_ref().map_or(1, |q| q.view.voters().count())
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

    /// Milliseconds of the monotonic clock sessions expire by (tokio's, so tests can
    /// pause and advance it).
    pub fn now_ms(&self) -> i64 {
        self.clock_origin.elapsed().as_millis() as i64
    }

    /// Read access to the tree: many readers at once.
    pub fn tree(&self) -> parking_lot::RwLockReadGuard<'_, DataTree> {
        self.tree.read()
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.tree.read().last_processed_zxid()
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

    /// The newest zxid prepared (leader) or handed to the log (learner).
    pub fn prepared_zxid(&self) -> i64 {
        self.core.lock().hzxid
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
