//! Why an epoch of the peer runtime ended ([`PeerError`]).
//!
//! The leader's and the learner's epochs end with one of these variants; the member's loop
//! (`run_member`) matches the variant, never the text. Every message says what failed and
//! what happens next. What a member remembers across its epochs is
//! [`zab_quorum::peer::QuorumPeer`], owned by that loop: nothing is process-global.

/// Why an epoch ended.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The member was told to stop (shutdown); not a failure.
    #[error("stopped: this member is shutting down")]
    Stopped,
    /// The configuration has no quorum section for this server.
    #[error("not a quorum member: the configuration has no server.N lines; run standalone or add them")]
    NotAMember,
    /// The member's own id is missing from the configuration it runs with.
    #[error("this member (myid {0}) is not in its own configuration; check myid and the server.N lines")]
    NotInConfiguration(u64),
    /// The election chose a leader the configuration does not list.
    #[error("the elected leader {0} is not in the configuration; electing again")]
    UnknownLeader(u64),
    /// The leader's quorum port could not be reached within initLimit.
    #[error("cannot connect to the leader at {addr} after {tries} tries within initLimit: {last}; electing again")]
    Connect { addr: String, tries: u32, last: String },
    /// A socket failed: binding, reading or writing a quorum connection.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The data directory could not be read or written (epoch files, log, snapshots).
    #[error("{what}: {detail}; check the data directory (space, permissions)")]
    Disk { what: String, detail: String },
    /// Discovery failed (LEADERINFO refused, or no quorum agreed on an epoch in time).
    #[error(transparent)]
    Discovery(#[from] zab_quorum::discovery::DiscoveryError),
    /// The learner's synchronisation state machine refused a packet.
    #[error(transparent)]
    Sync(#[from] zab_quorum::learner_sync::SyncError),
    /// A quorum did not acknowledge NEWLEADER in time.
    #[error(transparent)]
    NewLeader(#[from] zab_quorum::newleader::NewLeaderError),
    /// The follower's broadcast state machine refused a packet.
    #[error(transparent)]
    Follower(#[from] zab_quorum::follower::FollowerError),
    /// A packet or stream that cannot be decoded, or one out of place.
    #[error("{0}")]
    Protocol(String),
    /// The learner's engine ended the epoch (a packet out of place, a truncation that came
    /// up short, a silent leader).
    #[error(transparent)]
    Learner(#[from] zab_quorum::learner::LearnerError),
    /// A reconfiguration changed this member's role or its leader: it leaves the epoch
    /// (`processReconfig`'s major change), to follow `designated` when one was named.
    #[error("a reconfiguration changed this member's role or leader (designated leader {designated:?}); starting a new epoch")]
    Reconfigured { designated: Option<u64> },
    /// The leader handed its role over (HANDOVER): the next epoch follows `to` without an
    /// election (leads, when `to` is this member).
    #[error("the leadership was handed over to {to}; the next epoch follows it without an election")]
    HandedOver { to: u64 },
    /// The epoch's server could not start on the database.
    #[error("starting the epoch's server: {0}")]
    Start(#[source] crate::zk_server::StartError),
    /// The epoch's server could not take a txn from the leader into its log.
    #[error("logging a txn from the leader: {0}")]
    Txn(#[from] crate::zk_server::TxnError),
    /// The epoch was handed no database (the last epoch kept it); the next one loads it
    /// from the data directory.
    #[error("no database to lead with; the next epoch loads it from the data directory")]
    NoDatabase,
    /// The leader gave up: a quorum is no longer in touch, or its broadcast failed.
    #[error("{0}")]
    LeaderGaveUp(String),
    /// The election gave this member no role.
    #[error("the election ended still looking; electing again")]
    StillLooking,
    /// The thread running the epoch panicked or was cancelled.
    #[error("the epoch's thread failed: {0}")]
    Thread(String),
}

impl PeerError {
    /// A socket error, saying what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        PeerError::Io { what: what.into(), source }
    }

    /// A data directory error, saying what was being done.
    pub fn disk(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        PeerError::Disk { what: what.into(), detail: detail.to_string() }
    }

    /// A state machine's refusal or a decoding failure.
    pub fn protocol(e: impl std::fmt::Display) -> Self {
        PeerError::Protocol(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_failed() {
        let e = PeerError::io("reading from the leader", std::io::Error::other("reset"));
        assert_eq!(e.to_string(), "reading from the leader: reset");
        assert!(matches!(PeerError::Stopped, PeerError::Stopped));
        let t = PeerError::from(zab_quorum::learner::LearnerError::TruncationShort {
            target: 0x100000005,
            now_at: 0x100000002,
        });
        assert!(t.to_string().contains("0x100000005") && t.to_string().contains("SNAP"));
    }
}
