//! What a member carries from one term to the next (`QuorumPeer.run`'s loop): the protocol
//! version its learner announces, and the pause before it elects again. Owned by the
//! server's member loop (`node/server/src/peer/mod.rs`) and by the simulator's member
//! alike; the term engines themselves are [`crate::leader`] and [`crate::learner`].

use crate::learner::protocol_version;

/// A term that lasted less than this is followed by [`PAUSE_MS`] before the next election,
/// so a member that cannot serve (a leader without a quorum, a learner that found no
/// leader) does not spin through elections.
pub const SHORT_TERM_MS: i64 = 500;
pub const PAUSE_MS: i64 = 200;

/// One member's memory across its terms, for as long as it runs.
#[derive(Debug, Clone)]
pub struct QuorumPeer {
    /// False once a truncation on this member came up short: from then on it announces
    /// ZooKeeper's protocol version, so no leader truncates it across an epoch again.
    truncation_safe: bool,
    term_started: i64,
}

impl Default for QuorumPeer {
    fn default() -> Self {
        QuorumPeer::new()
    }
}

impl QuorumPeer {
    pub fn new() -> QuorumPeer {
        QuorumPeer { truncation_safe: true, term_started: 0 }
    }

    /// The protocol version this member's learner announces in FOLLOWERINFO / OBSERVERINFO.
    pub fn protocol_version(&self) -> i32 {
        protocol_version(self.truncation_safe)
    }

    /// The election gave this member a role; its term begins.
    pub fn term_started(&mut self, now: i64) {
        self.term_started = now;
    }

    /// The term ended at `now` (`truncation_short`: a learner's truncation could not reach
    /// its zxid); returns how long to wait before the next election.
    pub fn term_ended(&mut self, now: i64, truncation_short: bool) -> i64 {
        if truncation_short {
            self.truncation_safe = false;
        }
        if now - self.term_started < SHORT_TERM_MS {
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
        a.term_started(0);
        a.term_ended(10_000, true);
        assert_eq!(a.protocol_version(), PROTOCOL_VERSION);
        a.term_ended(20_000, false);
        assert_eq!(a.protocol_version(), PROTOCOL_VERSION);
        assert_eq!(b.protocol_version(), ZAB_PROTOCOL_VERSION, "only its own member's");
    }

    #[test]
    fn a_short_term_is_followed_by_a_pause() {
        let mut p = QuorumPeer::new();
        p.term_started(1_000);
        assert_eq!(p.term_ended(1_499, false), PAUSE_MS);
        p.term_started(2_000);
        assert_eq!(p.term_ended(2_500, false), 0);
    }
}
