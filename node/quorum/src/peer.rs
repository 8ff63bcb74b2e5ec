//! What a member carries from one epoch to the next (`QuorumPeer.run`'s loop): the protocol
//! version its learner announces, and the pause before it elects again. Owned by the
//! server's member loop (`node/server/src/peer/mod.rs`) and by the simulator's member
//! alike; the epoch engines themselves are [`crate::leader`] and [`crate::learner`].

use std::sync::Arc;

use crate::learner::protocol_version;
use crate::verifier::{LearnerType, QuorumMaj};

/// An epoch that lasted less than this is followed by [`PAUSE_MS`] before the next election,
/// so a member that cannot serve (a leader without a quorum, a learner that found no
/// leader) does not spin through elections. Not before a designated role.
pub const SHORT_EPOCH_MS: i64 = 500;
pub const PAUSE_MS: i64 = 200;

/// The role of the next epoch when a reconfiguration designated its leader
/// (`QuorumPeer.updateServerState` with the reconfig flag set): taken without an election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextRole {
    Lead,
    Follow(u64),
    Observe(u64),
}

/// One member's memory across its epochs, for as long as it runs.
#[derive(Debug, Clone)]
pub struct QuorumPeer {
    /// False once a truncation on this member came up short: from then on it announces
    /// ZooKeeper's protocol version, so no leader truncates it across an epoch again.
    truncation_safe: bool,
    epoch_started: i64,
    /// The configuration a reconfiguration put in force (None: the one it started with).
    view: Option<Arc<QuorumMaj>>,
    designated: Option<NextRole>,
}

impl Default for QuorumPeer {
    fn default() -> Self {
        QuorumPeer::new()
    }
}

impl QuorumPeer {
    pub fn new() -> QuorumPeer {
        QuorumPeer { truncation_safe: true, epoch_started: 0, view: None, designated: None }
    }

    /// The protocol version this member's learner announces in FOLLOWERINFO / OBSERVERINFO.
    pub fn protocol_version(&self) -> i32 {
        protocol_version(self.truncation_safe)
    }

    /// The configuration a reconfiguration put in force, if one did.
    pub fn view(&self) -> Option<&Arc<QuorumMaj>> {
        self.view.as_ref()
    }

    /// A configuration activated during the epoch (`processReconfig`); `designated` its
    /// leader, when the reconfig named one: the next epoch follows it without an election.
    pub fn reconfigured(&mut self, myid: u64, view: Arc<QuorumMaj>, designated: Option<u64>) {
        self.designated = designated.map(|d| {
            if d == myid {
                NextRole::Lead
            } else if view.servers.get(&myid).is_some_and(|s| s.learner_type == LearnerType::Observer) {
                NextRole::Observe(d)
            } else {
                NextRole::Follow(d)
            }
        });
        self.view = Some(view);
    }

    /// The leader handed its role over to `to` (HANDOVER): the next epoch follows `to`
    /// without an election, as an observer when this member observes, or leads when `to`
    /// is this member.
    pub fn handed_over(&mut self, myid: u64, to: u64, observer: bool) {
        self.designated = Some(if to == myid {
            NextRole::Lead
        } else if observer {
            NextRole::Observe(to)
        } else {
            NextRole::Follow(to)
        });
    }

    /// The role a reconfiguration or a hand-over designated for the next epoch, once.
    pub fn take_designated(&mut self) -> Option<NextRole> {
        self.designated.take()
    }

    /// The election gave this member a role; its epoch begins.
    pub fn epoch_started(&mut self, now: i64) {
        self.epoch_started = now;
    }

    /// The epoch ended at `now` (`truncation_short`: a learner's truncation could not reach
    /// its zxid); returns how long to wait before the next election.
    pub fn epoch_ended(&mut self, now: i64, truncation_short: bool) -> i64 {
        if truncation_short {
            self.truncation_safe = false;
        }
        // A designated next role (a hand-over, a reconfiguration) is taken at once: no
        // election follows, so there is nothing to spin through.
        if now - self.epoch_started < SHORT_EPOCH_MS && self.designated.is_none() {
            PAUSE_MS
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_jute::quorum::{PROTOCOL_VERSION, ZAB_PROTOCOL_VERSION};

    #[test]
    fn a_short_truncation_changes_the_announced_version_for_good() {
        let (mut a, b) = (QuorumPeer::new(), QuorumPeer::new());
        assert_eq!(a.protocol_version(), ZAB_PROTOCOL_VERSION);
        a.epoch_started(0);
        a.epoch_ended(10_000, true);
        assert_eq!(a.protocol_version(), PROTOCOL_VERSION);
        a.epoch_ended(20_000, false);
        assert_eq!(a.protocol_version(), PROTOCOL_VERSION);
        assert_eq!(b.protocol_version(), ZAB_PROTOCOL_VERSION, "only its own member's");
    }

    #[test]
    fn a_designated_leader_gives_the_next_role_once() {
        use crate::verifier::QuorumServer;
        let view = Arc::new(QuorumMaj::new(
            [QuorumServer::parse(1, "h:1:2").unwrap(), QuorumServer::parse(2, "h:1:2:observer").unwrap()],
            7,
        ));
        let mut p = QuorumPeer::new();
        p.reconfigured(1, view.clone(), Some(1));
        assert_eq!(p.take_designated(), Some(NextRole::Lead));
        assert_eq!(p.take_designated(), None, "then elections again");
        let mut o = QuorumPeer::new();
        o.reconfigured(2, view.clone(), Some(1));
        assert_eq!(o.take_designated(), Some(NextRole::Observe(1)));
        let mut f = QuorumPeer::new();
        f.reconfigured(3, view.clone(), Some(1));
        assert_eq!(f.take_designated(), Some(NextRole::Follow(1)), "not in the view: a non-voting follower");
        f.reconfigured(3, view, None);
        assert_eq!(f.take_designated(), None, "no designated leader: an election");
        assert_eq!(f.view().map(|v| v.version), Some(7));
    }

    #[test]
    fn a_hand_over_gives_the_next_role_once() {
        let mut p = QuorumPeer::new();
        p.handed_over(2, 2, false);
        assert_eq!(p.take_designated(), Some(NextRole::Lead));
        p.handed_over(1, 2, false);
        assert_eq!(p.take_designated(), Some(NextRole::Follow(2)));
        p.handed_over(4, 2, true);
        assert_eq!(p.take_designated(), Some(NextRole::Observe(2)));
        assert_eq!(p.take_designated(), None);
    }

    #[test]
    fn a_short_epoch_is_followed_by_a_pause() {
        let mut p = QuorumPeer::new();
        p.epoch_started(1_000);
        assert_eq!(p.epoch_ended(1_499, false), PAUSE_MS);
        p.epoch_started(2_000);
        assert_eq!(p.epoch_ended(2_500, false), 0);
        p.epoch_started(3_000);
        p.handed_over(1, 2, false);
        assert_eq!(p.epoch_ended(3_001, false), 0, "a designated role is taken at once");
    }
}
