//! Sessions and the connections they are on: the connection registry, which connection
//! holds a session here, which member a session's writes must come through
//! (`SessionImpl.owner`), revalidation (`revalidateSession`), touches and expiry (the
//! SessionTracker's thread). What the leader does for its learners' sessions is in
//! `leader`; a learner's revalidation through its leader in `learner`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::info;
use zab_datatree::prep::WriteRequest;

use super::{CnxnHandle, CnxnMsg, ZooKeeperServer, LOCAL_OWNER};

impl ZooKeeperServer {
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
            let mut cnxn_of_session = self.cnxn_of_session.lock();
            if cnxn_of_session.get(&sid) == Some(&id) {
                cnxn_of_session.remove(&sid);
            }
        }
        self.tree.read().remove_watcher(id);
    }

    /// Makes `cnxn` the connection of `session`, closing any other one
    /// (`serverCnxnFactory.closeSession(sessionId, CLIENT_RECONNECT)`).
    pub fn claim_session(&self, session: i64, cnxn: u64) {
        let old = self.cnxn_of_session.lock().insert(session, cnxn);
        if let Some(old) = old.filter(|o| *o != cnxn) {
            if let Some(h) = self.cnxns.read().get(&old) {
                let _ = h.tx.send(CnxnMsg::Close("session reconnected on another connection"));
            }
        }
    }

    pub(super) fn close_session_cnxn(&self, session: i64, why: &'static str) {
        let cnxn = self.cnxn_of_session.lock().remove(&session);
        if let Some(id) = cnxn {
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
    pub(super) fn revalidate_as(&self, session: i64, timeout: i32, owner: u64) -> bool {
        let now = self.now_ms();
        let mut core = self.core.lock();
        let ok = core.sessions.touch(session, timeout, now);
        if ok {
            core.member_of_session.insert(session, owner);
        }
        ok
    }

    /// Records activity on a session.
    pub fn touch(&self, session: i64) -> bool {
        let now = self.now_ms();
        let mut core = self.core.lock();
        let live = core.sessions.touch_session(session, now);
        // A learner tells the leader of it with the next PING.
        if live && self.upstream.leader_link().is_some() {
            if let Some(t) = core.sessions.get(session).map(|s| s.timeout) {
                self.learner.touched.lock().insert(session, t);
            }
        }
        live
    }

    /// `checkSession` for reads.
    pub fn check_session(&self, session: i64) -> Result<(), zab_datatree::KeeperError> {
        self.core.lock().sessions.check(session)
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
        self.cnxn_of_session.lock().remove(&session);
    }
}
