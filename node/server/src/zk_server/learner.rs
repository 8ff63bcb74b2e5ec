//! The learner's pipeline (`FollowerZooKeeperServer`, `ObserverZooKeeperServer`): a
//! client's write is forwarded to the leader through [`LeaderLink`] and waits until its txn
//! comes back and is applied here (`FollowerRequestProcessor`). Txns from the leader go to
//! the log and wait for their COMMIT; the log's fsync ACKs them to the leader
//! ([`LeaderLink::logged`], from `commit`). A client's `sync` waits for the leader's SYNC;
//! a reconnecting session is revalidated by the leader (REVALIDATE); the sessions touched
//! here go to the leader with the next PING.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;
use zab_datatree::prep::WriteRequest;
use zab_jute::codes::op;

use super::awaiting::LogItem;
use super::write::ClientWrite;
use super::{LeaderLink, TxnError, ZooKeeperServer};
use crate::log_thread::LogRecord;
use crate::write_result::{WriteError, WriteResult};

impl ZooKeeperServer {
    /// Forwards the write to the leader (`Learner.request`); `w.done` completes when its
    /// txn is applied here (see [`log_txn`](Self::log_txn)).
    pub(super) fn submit_as_learner(&self, link: &dyn LeaderLink, w: ClientWrite<'_>) {
        if let WriteRequest::CreateSession { timeout } = w.req {
            // The learner tracks its own sessions (`LearnerSessionTracker`) and the
            // leader learns of them from the createSession txn.
            let now = self.now_ms();
            self.core.lock().sessions.add(w.session_id, *timeout, now);
        }
        {
            // Checked under the lock `stop_serving` clears the map with: a request either
            // fails here or is failed by that clear, never left waiting for a leader
            // that is gone.
            let mut forwarded = self.learner.forwarded.lock();
            if !self.is_serving() {
                drop(forwarded);
                let _ = w.done.send(Err(WriteError::NotServing));
                return;
            }
            forwarded.insert((w.session_id, w.cxid), w.done);
        }
        let op_type = match w.req {
            WriteRequest::CreateSession { .. } => op::CREATE_SESSION,
            WriteRequest::CloseSession => op::CLOSE_SESSION,
            r => r.op_type(),
        };
        let owned;
        let body = match w.req {
            WriteRequest::CreateSession { timeout } => {
                owned = timeout.to_be_bytes();
                &owned[..]
            }
            _ => w.body,
        };
        link.forward(w.session_id, w.cxid, op_type, body, w.auth);
    }

    /// Learner: a txn from the leader (PROPOSAL, INFORM, or the sync's proposals) goes to
    /// the log; once applied it completes the client request it came from, if that client
    /// is connected here.
    ///
    /// `lone`: nothing else is waiting to be read from the leader. Then, if the log thread
    /// is idle, this thread logs and fsyncs the txn itself (and ACKs it) instead of waking
    /// the log thread: one thread hand-off less on the path of a write that is alone.
    pub fn log_txn(self: &Arc<Self>, payload: Vec<u8>, lone: bool) -> Result<i64, TxnError> {
        let e = zab_persistence::txnlog::unmarshal(&payload).map_err(TxnError::Malformed)?;
        let done = self.learner.forwarded.lock().remove(&(e.hdr.client_id, e.hdr.cxid));
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
            self.unqueue(zxid, WriteError::ShuttingDown);
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
            let done = self.learner.forwarded.lock().remove(&(e.hdr.client_id, e.hdr.cxid));
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

    /// A `sync` waits for the leader's SYNC (`FollowerZooKeeperServer.sync`). Standalone or
    /// on the leader there is nothing to wait for: it is answered at once with the applied
    /// zxid, as a read.
    pub fn submit_sync(&self, path: String) -> oneshot::Receiver<WriteResult> {
        let (done, rx) = oneshot::channel();
        let Some(link) = self.upstream.leader_link() else {
            Self::reply_sync(path, done, self.applied.load(Ordering::Acquire));
            return rx;
        };
        self.learner.pending_syncs.lock().push_back((path.clone(), done));
        let mut body = Vec::with_capacity(path.len() + 4);
        body.extend_from_slice(&(path.len() as i32).to_be_bytes());
        body.extend_from_slice(path.as_bytes());
        link.forward(0, 0, op::SYNC, &body, &[]);
        rx
    }

    /// Learner: the leader's SYNC answers the oldest pending `sync`.
    pub fn sync_done(&self) {
        let next = self.learner.pending_syncs.lock().pop_front();
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
    /// `None` when there is no answer (not serving, or the epoch ended while waiting): the
    /// session is then not known to be invalid, and its client must not be told it expired.
    /// `None` too on a server that is not a learner: it has no leader to ask.
    pub async fn revalidate_remote(&self, session: i64, timeout: i32) -> Option<bool> {
        let link = self.upstream.leader_link()?;
        if !self.is_serving() {
            return None;
        }
        let ok = link.revalidate(session, timeout).await.ok()?;
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
        std::mem::take(&mut *self.learner.touched.lock())
    }

    /// The zxid counter follows the txns from the leader.
    fn last_prepared(&self, zxid: i64) {
        let mut core = self.core.lock();
        core.hzxid = core.hzxid.max(zxid);
    }
}
