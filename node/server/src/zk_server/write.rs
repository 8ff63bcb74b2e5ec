//! The write path's entry and first step. [`submit_write`](ZooKeeperServer::submit_write)
//! hands a client's write to this server's pipeline, by its [`Upstream`]: standalone
//! (`standalone`: prepared, logged, committed by its own fsync), leader (`leader`: prepared,
//! proposed, logged) or learner (`learner`: forwarded to the leader). The first two share
//! the step here (`PrepRequestProcessor`): the write is checked and turned into a txn under
//! the `core` lock, which owns the zxid counter (`hzxid`), then queued for the log in zxid
//! order.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::MutexGuard;
use tokio::sync::oneshot;
use zab_datatree::prep::{prep_request, PrepContext, WriteRequest};
use zab_jute::codes::op;
use zab_jute::data::Id;
use zab_jute::txn::Txn;
use zab_quorum::verifier::QuorumMaj;

use super::awaiting::LogItem;
use super::{wall_ms, Core, Upstream, ZooKeeperServer, LOCAL_OWNER};
use crate::log_thread::LogRecord;
use crate::write_result::{WriteError, WriteResult};

/// A client's write as it enters the pipeline.
pub(super) struct ClientWrite<'a> {
    /// The member the request came through: a learner's sid, or [`LOCAL_OWNER`].
    pub(super) owner: u64,
    pub(super) session_id: i64,
    pub(super) cxid: i32,
    pub(super) auth: &'a [Id],
    pub(super) req: &'a WriteRequest,
    /// The request as the client sent it (after the header), which a learner forwards.
    pub(super) body: &'a [u8],
    /// Completed once the txn is applied, or with the reason it never will be.
    pub(super) done: oneshot::Sender<WriteResult>,
}

/// A prepared txn, waiting for its commit and not yet queued for the log; the `core` lock
/// is still held, so the next txn cannot be prepared before this one is handed on.
pub(super) struct Prepared<'a> {
    pub(super) core: MutexGuard<'a, Core>,
    pub(super) zxid: i64,
    pub(super) payload: Arc<Vec<u8>>,
    /// The configuration a reconfig txn activates (its version the zxid).
    pub(super) view: Option<QuorumMaj>,
    /// The end of prep (`proposal_process_time` runs from here to the log's queue).
    started: Instant,
}

impl ZooKeeperServer {
    /// Submits a write to this server's pipeline. The receiver completes once the txn is
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
            let _ = done.send(Err(WriteError::DiskFailed(reason)));
            return rx;
        }
        let w = ClientWrite { owner, session_id, cxid, auth, req, body, done };
        match &self.upstream {
            Upstream::Standalone => self.submit_as_standalone(w),
            Upstream::Leader(broadcast) => self.submit_as_leader(&**broadcast, w),
            Upstream::Follower(link) | Upstream::Observer(link) => self.submit_as_learner(&**link, w),
        }
        rx
    }

    /// `PrepRequestProcessor`: checks the write and turns it into the next txn, which waits
    /// for its commit from now on (so no commit can pass it by); `w.done` completes when it
    /// is applied.
    pub(super) fn prep(&self, w: ClientWrite<'_>) -> Prepared<'_> {
        let session_id = w.session_id;
        let mut core = self.core.lock();
        // `checkSession(id, owner)`: a session that moved to another member refuses writes
        // from its old connection (SESSIONMOVED, as an error txn).
        let moved;
        let req = match w.req {
            WriteRequest::CreateSession { .. } => {
                core.member_of_session.insert(session_id, w.owner);
                w.req
            }
            WriteRequest::CloseSession | WriteRequest::DeleteContainer(_) => w.req,
            r => match core.member_of_session.get(&session_id) {
                Some(o) if *o != w.owner => {
                    moved =
                        WriteRequest::Refused { op_type: r.op_type(), err: zab_datatree::KeeperError::SessionMoved };
                    &moved
                }
                Some(_) => w.req,
                None => {
                    core.member_of_session.insert(session_id, w.owner);
                    w.req
                }
            },
        };
        let zxid = core.hzxid + 1;
        // A reconfig is checked against the leader's configuration first (3.8 checks it
        // before the ACL); elsewhere it stays as it came, and is refused as Unimplemented.
        let (checked, mut view);
        let req = match (req, &self.upstream) {
            (WriteRequest::Reconfig(r), Upstream::Leader(b)) => {
                (checked, view) = self.check_reconfig(&core, &**b, session_id, r, zxid);
                &checked
            }
            (r, _) => {
                view = None;
                r
            }
        };
        let tree = self.tree.read();
        let Core { sessions, outstanding, prepared_digest, .. } = &mut *core;
        let ctx = PrepContext {
            tree: &tree,
            sessions,
            acl_config: &self.acl_config,
            session_id,
            cxid: w.cxid,
            auth: w.auth,
            zxid,
            time: wall_ms(),
            digest: *prepared_digest,
        };
        let queued = outstanding.records();
        let prep_started = Instant::now();
        let (hdr, txn, digest) = prep_request(&ctx, outstanding, req);
        self.metrics.prep_process_time.add_ms(prep_started.elapsed());
        if matches!(req, WriteRequest::CloseSession) {
            self.metrics.close_session_prep_time.add_ms(prep_started.elapsed());
        }
        let started = Instant::now();
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
        if hdr.txn_type != op::RECONFIG {
            view = None;
        }
        let item =
            LogItem { hdr, txn, payload: payload.clone(), digest: digest.map(|d| d.tree_digest), done: Some(w.done) };
        self.awaiting.lock().items.push_back(item);
        Prepared { core, zxid, payload, view, started }
    }

    /// Queues a prepared txn for the log, still under the `core` lock, so txns reach the
    /// log in zxid order.
    pub(super) fn queue_for_log(&self, prepared: Prepared<'_>) {
        let Prepared { core, zxid, payload, started, .. } = prepared;
        if self.log_queue.push(LogRecord { zxid, payload }).is_err() {
            self.unqueue(zxid, WriteError::ShuttingDown);
        }
        // `proposal_process_time`: from the end of prep to the txn handed on (proposed and
        // queued for the log).
        self.metrics.proposal_process_time.add_ms(started.elapsed());
        drop(core);
    }

    /// Takes a txn that will not be logged out of the queue and fails its request.
    pub(super) fn unqueue(&self, zxid: i64, error: WriteError) {
        let item = {
            let mut a = self.awaiting.lock();
            match a.items.iter().rposition(|i| i.hdr.zxid == zxid) {
                Some(pos) => a.items.remove(pos),
                None => None,
            }
        };
        if let Some(done) = item.and_then(|i| i.done) {
            let _ = done.send(Err(error));
        }
    }
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap/expect is a failed test.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::config::ServerConfig;
    use crate::peer_state::LearnerView;
    use crate::write_result::ProposeError;
    use crate::zk_server::{Broadcast, Database, LeaderLink};

    fn server(dir: &std::path::Path, upstream: Upstream) -> Arc<ZooKeeperServer> {
        let config = ServerConfig { data_dir: dir.to_owned(), data_log_dir: dir.to_owned(), ..ServerConfig::default() };
        let db = Database::load(&config).expect("load an empty data dir");
        ZooKeeperServer::from_db(config, db, upstream, None).expect("start the server")
    }

    /// Submits a closeSession and returns why it was refused at once.
    fn refusal(server: &ZooKeeperServer) -> WriteError {
        let mut rx = server.submit_write(7, 1, &[], &WriteRequest::CloseSession, &[]);
        match rx.try_recv() {
            Ok(Err(e)) => e,
            Ok(Ok(out)) => panic!("the write was done: {out:?}"),
            Err(e) => panic!("no answer yet: {e}"),
        }
    }

    /// A learner's link to a leader that never answers.
    struct Silent;
    impl LeaderLink for Silent {
        fn forward(&self, _: i64, _: i32, _: i32, _: &[u8], _: &[Id]) {}
        fn revalidate(&self, _: i64, _: i32) -> oneshot::Receiver<bool> {
            oneshot::channel().1
        }
        fn logged(&self, _: &[i64]) {}
    }

    /// A leader's broadcast before a quorum has acknowledged its epoch.
    struct NotEstablished;
    impl Broadcast for NotEstablished {
        fn propose(&self, _: i64, _: &Arc<Vec<u8>>) -> Result<(), ProposeError> {
            Err(ProposeError::NotEstablished)
        }
        fn logged(&self, _: &[i64]) {}
        fn learners(&self) -> Vec<LearnerView> {
            Vec::new()
        }
        fn configs(&self) -> crate::zk_server::QuorumConfigs {
            let v = QuorumMaj::new([], 0);
            crate::zk_server::QuorumConfigs { current: v.clone(), last_seen: v }
        }
        fn is_quorum_synced(&self, _: &QuorumMaj) -> bool {
            false
        }
        fn propose_reconfig(&self, _: i64, _: &Arc<Vec<u8>>, _: QuorumMaj) -> Result<(), ProposeError> {
            Err(ProposeError::NotEstablished)
        }
        fn hand_over(&self, _: Option<u64>) -> Result<crate::zk_server::HandOverWait, String> {
            Err("not established".into())
        }
    }

    #[test]
    fn a_learner_not_serving_refuses_writes_and_prepares_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(dir.path(), Upstream::Follower(Arc::new(Silent)));
        let before = s.prepared_zxid();
        assert!(matches!(refusal(&s), WriteError::NotServing));
        assert_eq!(s.prepared_zxid(), before);
        assert_eq!(s.outstanding_changes(), 0);
        s.shutdown();
    }

    #[test]
    fn a_leader_whose_broadcast_is_not_established_refuses_and_gives_the_zxid_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(dir.path(), Upstream::Leader(Arc::new(NotEstablished)));
        let before = s.prepared_zxid();
        assert!(matches!(refusal(&s), WriteError::NotProposed(ProposeError::NotEstablished)));
        assert_eq!(s.prepared_zxid(), before);
        s.shutdown();
    }

    #[test]
    fn after_a_disk_failure_or_a_shutdown_writes_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(dir.path(), Upstream::Standalone);
        s.shutdown();
        assert!(matches!(refusal(&s), WriteError::ShuttingDown));
        s.set_disk_failure("No space left on device".into());
        let before = s.prepared_zxid();
        match refusal(&s) {
            WriteError::DiskFailed(reason) => assert_eq!(reason, "No space left on device"),
            e => panic!("refused for another reason: {e}"),
        }
        assert_eq!(s.prepared_zxid(), before);
    }
}
