//! The write path's first half (`PrepRequestProcessor`): a client's write is checked and
//! turned into a txn under the `core` lock, proposed to the quorum (leader) and queued for
//! the log in zxid order; on a learner it is forwarded to the leader instead. Also the
//! zxid counter (`hzxid`).

use std::sync::Arc;

use tokio::sync::oneshot;
use zab_datatree::prep::{prep_request, PrepContext, WriteRequest};
use zab_jute::codes::op;
use zab_jute::data::Id;
use zab_jute::txn::Txn;

use super::awaiting::LogItem;
use super::{wall_ms, Core, ProposeError, Role, SkipError, ZooKeeperServer, LOCAL_OWNER};
use crate::log_thread::LogRecord;
use crate::write_result::{WriteError, WriteResult};

impl ZooKeeperServer {
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
            let _ = done.send(Err(WriteError::DiskFailed(reason)));
            return rx;
        }
        if self.role.is_learner() {
            let Some(rep) = self.replicator.get() else {
                let _ = done.send(Err(WriteError::NoLeader));
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
                    let _ = done.send(Err(WriteError::NotServing));
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
                core.member_of_session.insert(session_id, owner);
                req
            }
            WriteRequest::CloseSession | WriteRequest::DeleteContainer(_) => req,
            r => match core.member_of_session.get(&session_id) {
                Some(o) if *o != owner => {
                    moved =
                        WriteRequest::Refused { op_type: r.op_type(), err: zab_datatree::KeeperError::SessionMoved };
                    &moved
                }
                Some(_) => req,
                None => {
                    core.member_of_session.insert(session_id, owner);
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
                self.unqueue(zxid, WriteError::NotProposed(reason));
                return rx;
            }
        }
        // Sent under the core lock, so txns reach the log in zxid order.
        if self.log_queue.push(LogRecord { zxid, payload }).is_err() {
            self.unqueue(zxid, WriteError::ShuttingDown);
        }
        // `proposal_process_time`: from the end of prep to the txn handed on (proposed and
        // queued for the log).
        self.metrics.proposal_process_time.add_ms(proposal_started.elapsed());
        rx
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

    pub(super) fn last_prepared(&self, zxid: i64) {
        let mut core = self.core.lock();
        core.hzxid = core.hzxid.max(zxid);
    }
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap/expect is a failed test.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::config::ServerConfig;
    use crate::zk_server::{Database, Replicator};

    fn server(dir: &std::path::Path, role: Role) -> Arc<ZooKeeperServer> {
        let config = ServerConfig { data_dir: dir.to_owned(), data_log_dir: dir.to_owned(), ..ServerConfig::default() };
        let db = Database::load(&config).expect("load an empty data dir");
        ZooKeeperServer::from_db(config, db, role, None).expect("start the server")
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

    /// A learner's replication side that forwards nothing.
    struct Silent;
    impl Replicator for Silent {
        fn propose(&self, _: i64, _: &Arc<Vec<u8>>) -> Result<(), ProposeError> {
            Err(ProposeError::NotLeader)
        }
        fn logged(&self, _: &[i64]) {}
        fn forward(&self, _: i64, _: i32, _: i32, _: &[u8], _: &[Id]) {}
        fn revalidate(&self, _: i64, _: i32) -> oneshot::Receiver<bool> {
            oneshot::channel().1
        }
    }

    #[test]
    fn a_learner_refuses_writes_without_a_serving_leader_link_and_prepares_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(dir.path(), Role::Follower);
        let before = s.prepared_zxid();
        assert!(matches!(refusal(&s), WriteError::NoLeader));
        s.set_replicator(Arc::new(Silent));
        assert!(matches!(refusal(&s), WriteError::NotServing));
        assert_eq!(s.prepared_zxid(), before);
        assert_eq!(s.outstanding_changes(), 0);
        s.shutdown();
    }

    #[test]
    fn a_leader_whose_broadcast_is_not_established_refuses_and_gives_the_zxid_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(dir.path(), Role::Leader);
        let before = s.prepared_zxid();
        assert!(matches!(refusal(&s), WriteError::NotProposed(ProposeError::NotEstablished)));
        assert_eq!(s.prepared_zxid(), before);
        s.shutdown();
    }

    #[test]
    fn after_a_disk_failure_or_a_shutdown_writes_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(dir.path(), Role::Standalone);
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
