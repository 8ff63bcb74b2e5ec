//! The learner's server (`FollowerZooKeeperServer`, `ObserverZooKeeperServer`): txns from
//! the leader go to the log and wait for their COMMIT; a client's `sync` waits for the
//! leader's SYNC; a reconnecting session is revalidated by the leader (REVALIDATE); the
//! sessions touched here go to the leader with the next PING.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;
use zab_jute::codes::op;

use super::awaiting::LogItem;
use super::{TxnError, ZooKeeperServer};
use crate::log_thread::LogRecord;
use crate::write_result::{WriteError, WriteResult};

impl ZooKeeperServer {
    /// Learner: a txn from the leader (PROPOSAL, INFORM, or the sync's proposals) goes to
    /// the log; once applied it completes the client request it came from, if that client
    /// is connected here.
    ///
    /// `lone`: nothing else is waiting to be read from the leader. Then, if the log thread
    /// is idle, this thread logs and fsyncs the txn itself (and ACKs it) instead of waking
    /// the log thread: one thread hand-off less on the path of a write that is alone.
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
                let _ = done.send(Err(WriteError::NoLeader));
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
}
