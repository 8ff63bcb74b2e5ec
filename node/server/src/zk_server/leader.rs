//! The leader's pipeline (`LeaderZooKeeperServer`): a write is prepared (`write`), proposed
//! to the quorum through [`Broadcast`] (a reconfig with its new configuration, checked in
//! `reconfig`) under the prep lock (so PROPOSALs leave in zxid
//! order) and queued for the log; the log's fsync is the leader's own ACK
//! ([`Broadcast::logged`], from `commit`); the broadcast commits it once a quorum has
//! ACKed (`commit_up_to`, called by the leader's runtime). Also what the leader does for
//! its learners' clients: their forwarded writes arrive through
//! [`submit_write_from`](ZooKeeperServer::submit_write_from), their sessions are touched and
//! revalidated here; and the learners' view for /status and mntr.

use std::sync::atomic::Ordering;

use super::write::ClientWrite;
use super::{Broadcast, SkipError, Upstream, ZooKeeperServer};
use crate::peer_state::LearnerView;
use crate::write_result::WriteError;

impl ZooKeeperServer {
    /// Prepares the write, proposes it and queues it for the log. A refused proposal gives
    /// its zxid back and fails the write.
    pub(super) fn submit_as_leader(&self, broadcast: &dyn Broadcast, w: ClientWrite<'_>) {
        let mut prepared = self.prep(w);
        self.stats.proposal_sizes.record(prepared.payload.len() as i64);
        self.metrics.proposal_count.inc();
        let proposed = match prepared.view.take() {
            Some(view) => broadcast.propose_reconfig(prepared.zxid, &prepared.payload, view),
            None => broadcast.propose(prepared.zxid, &prepared.payload),
        };
        if let Err(reason) = proposed {
            prepared.core.hzxid -= 1;
            self.unqueue(prepared.zxid, WriteError::NotProposed(reason));
            return;
        }
        self.queue_for_log(prepared);
    }

    /// Moves the zxid counter forward to `zxid` (`ZooKeeperServer.setZxid`, for
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

    /// A learner reports client activity on a session.
    pub fn touch_remote(&self, session: i64, timeout: i32) -> bool {
        let now = self.now_ms();
        self.core.lock().sessions.touch(session, timeout, now)
    }

    /// `revalidateSession` for a learner's client: from now on the session's writes are
    /// accepted only through learner `sid`.
    pub fn revalidate_for_learner(&self, session: i64, timeout: i32, sid: u64) -> bool {
        let ok = self.revalidate_as(session, timeout, sid);
        if ok {
            // The session's connection here, if one is still open, is now an old one.
            let local = self.cnxn_of_session.lock().get(&session).copied();
            if let Some(h) = local.and_then(|id| self.cnxns.read().get(&id).cloned()) {
                h.moved.store(true, Ordering::Release);
            }
        }
        ok
    }

    /// Hands the leadership over (the admin command `handover`): refused with why, or the
    /// receiver of its outcome. Only the leader can.
    pub fn hand_over(&self, to: Option<u64>) -> Result<super::HandOverWait, String> {
        match &self.upstream {
            Upstream::Leader(broadcast) => broadcast.hand_over(to),
            other => Err(format!("this member is not the leader (it is {}); ask the leader", other.role().name())),
        }
    }

    /// Whether a reconfiguration is proposed and not committed yet (the leader knows; a
    /// learner answers false).
    pub fn reconfig_in_flight(&self) -> bool {
        match &self.upstream {
            Upstream::Leader(broadcast) => {
                let c = broadcast.configs();
                c.current.version != c.last_seen.version
            }
            Upstream::Standalone | Upstream::Follower(_) | Upstream::Observer(_) => false,
        }
    }

    /// Its learners (sid, sync mode, last ACK, ...); none elsewhere.
    pub fn learners(&self) -> Vec<LearnerView> {
        match &self.upstream {
            Upstream::Leader(broadcast) => broadcast.learners(),
            Upstream::Standalone | Upstream::Follower(_) | Upstream::Observer(_) => Vec::new(),
        }
    }

    /// (learners, synced followers, synced observers, learners still synchronising); zeros
    /// elsewhere.
    pub fn learner_counts(&self) -> (usize, usize, usize, usize) {
        let ls = self.learners();
        let synced_followers = ls.iter().filter(|l| l.in_broadcast && !l.observer).count();
        let synced_observers = ls.iter().filter(|l| l.in_broadcast && l.observer).count();
        let pending = ls.iter().filter(|l| !l.in_broadcast).count();
        (ls.len(), synced_followers, synced_observers, pending)
    }
}
