//! What a server is in its ensemble ([`Role`]) and what its writes go up to
//! ([`Upstream`]): nothing (standalone), the leader's broadcast ([`Broadcast`], implemented
//! by the leader's runtime) or a learner's link to its leader ([`LeaderLink`], implemented
//! by the learner's runtime). A server is given its upstream when it starts and keeps it
//! for its epoch, so its role and what it writes through cannot disagree.
//!
//! A leaf: the traits are the only way the server reaches the peer runtime
//! ([`crate::peer`]); the write pipelines that call them are `standalone`, `leader` and
//! `learner` beside this file.

use std::sync::Arc;

use tokio::sync::oneshot;
use zab_jute::data::Id;
use zab_quorum::verifier::QuorumMaj;

use crate::peer_state::LearnerView;
use crate::write_result::ProposeError;

/// What this server is in its ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Standalone,
    Leader,
    Follower,
    Observer,
}

impl Role {
    pub fn is_learner(self) -> bool {
        matches!(self, Role::Follower | Role::Observer)
    }

    /// The `Mode:` of srvr/stat and the role of /status.
    pub fn name(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Observer => "observer",
        }
    }
}

/// The leader's side of the write path: the Zab broadcast its writes are proposed to
/// (`Leader.propose`), and its own ACK (`AckRequestProcessor`). Calls must not block.
pub trait Broadcast: Send + Sync {
    /// A txn was prepared, in zxid order (called under the prep lock). An error refuses
    /// the write (the leader must step down, ZOOKEEPER-1277).
    fn propose(&self, zxid: i64, payload: &Arc<Vec<u8>>) -> Result<(), ProposeError>;
    /// The log thread made these txns durable here, in order: the leader's own ACK.
    fn logged(&self, zxids: &[i64]);
    /// What the leader knows of each learner (/status, mntr).
    fn learners(&self) -> Vec<LearnerView>;
    /// The configuration in force and the last one seen (a reconfig in flight when they
    /// differ), as the engine holds them: what a reconfig is checked against.
    fn configs(&self) -> QuorumConfigs;
    /// Whether a quorum of `view`'s voters is connected and synced (`isQuorumSynced`).
    fn is_quorum_synced(&self, view: &QuorumMaj) -> bool;
    /// [`propose`](Self::propose) for a reconfig txn: it activates `view` once a quorum
    /// of the current configuration and of `view` have logged it.
    fn propose_reconfig(&self, zxid: i64, payload: &Arc<Vec<u8>>, view: QuorumMaj) -> Result<(), ProposeError>;
    /// Hands the leadership over to `to` (None: the most up-to-date eligible follower):
    /// refused at once with why, or the receiver gets the new leader's sid once this
    /// leader's epoch has ended, or why the hand-over failed.
    fn hand_over(&self, to: Option<u64>) -> Result<HandOverWait, String>;
}

/// The outcome of a hand-over that started: the next leader's sid, or why it failed.
pub type HandOverWait = std::sync::mpsc::Receiver<Result<u64, String>>;

/// The leader's configuration state, as its engine holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfigs {
    /// The configuration in force (`getQuorumVerifier`).
    pub current: QuorumMaj,
    /// The last one seen (`getLastSeenQuorumVerifier`): a reconfig's in flight when it
    /// differs from the current one.
    pub last_seen: QuorumMaj,
}

/// A learner's side of the write path: its link to the leader. Calls must not block.
pub trait LeaderLink: Send + Sync {
    /// Sends a client's request to the leader (`Learner.request`, a REQUEST packet).
    fn forward(&self, session_id: i64, cxid: i32, op_type: i32, body: &[u8], auth: &[Id]);
    /// Asks the leader whether a session may move here (REVALIDATE); the receiver fails
    /// if no answer will come.
    fn revalidate(&self, session_id: i64, timeout: i32) -> oneshot::Receiver<bool>;
    /// The log thread made these txns durable here, in order: ACK them to the leader
    /// (`SendAckRequestProcessor`).
    fn logged(&self, zxids: &[i64]);
}

/// What a server's writes go up to, by role.
pub enum Upstream {
    /// Nothing: a write is committed by this server's own fsync.
    Standalone,
    Leader(Arc<dyn Broadcast>),
    Follower(Arc<dyn LeaderLink>),
    Observer(Arc<dyn LeaderLink>),
}

impl Upstream {
    pub fn role(&self) -> Role {
        match self {
            Upstream::Standalone => Role::Standalone,
            Upstream::Leader(_) => Role::Leader,
            Upstream::Follower(_) => Role::Follower,
            Upstream::Observer(_) => Role::Observer,
        }
    }

    /// A quorum member (leader, follower or observer): its applied txns are kept for the
    /// next epoch's leader (the committed-log window).
    pub fn in_ensemble(&self) -> bool {
        !matches!(self, Upstream::Standalone)
    }

    /// A follower's or an observer's link to its leader.
    pub fn leader_link(&self) -> Option<&dyn LeaderLink> {
        match self {
            Upstream::Follower(l) | Upstream::Observer(l) => Some(&**l),
            Upstream::Standalone | Upstream::Leader(_) => None,
        }
    }
}
