//! ZAB replication as pure state machines: messages and ticks (time is an argument) go in,
//! actions to carry out come out. No sockets, threads or clocks: the server wires them to
//! QuorumCnxManager and the quorum port; tests drive them deterministically.
//!
//! # Layout
//! - [`zxid`]: epoch and counter of a zxid (`ZxidUtils`).
//! - [`verifier`]: `server.N` lines and majority quorums (`QuorumPeer.QuorumServer`,
//!   `QuorumMaj`).
//! - [`vote`]: votes and their total order (`Vote`, `FastLeaderElection.totalOrderPredicate`).
//! - [`election`]: FastLeaderElection (`lookForLeader`, `WorkerReceiver`).
//! - [`discovery`]: the new epoch (FOLLOWERINFO, LEADERINFO, ACKEPOCH).
//! - [`leader`]: one epoch of a leader with a handler per learner connection, composing
//!   discovery, the sync plan, NEWLEADER and broadcast; run by the server and the simulator.
//! - [`learner`]: one epoch of a follower or observer, composing discovery, learner sync and
//!   broadcast; run by the server and by the cluster simulator alike.
//! - [`reconfig`]: dynamic reconfiguration's pure parts: the configuration text, the
//!   designated leader, whether an activation ends a member's epoch.
//! - [`peer`]: what a member carries from one epoch to the next (QuorumPeer's loop).
//! - [`learner_sync`]: the learner's sync conversation up to UPTODATE (3.9.3 order).
//! - [`broadcast`]: the leader's proposals, ACK quorums and ordered commits.
//! - [`follower`]: broadcast on a follower or observer (PROPOSAL/ACK/COMMIT, INFORM).
//! - [`newleader`]: NEWLEADER, its ACK quorum and UPTODATE on the leader.
//! - [`sync_plan`]: the leader's choice of DIFF / TRUNC / SNAP for a learner (`syncFollower`).

pub mod broadcast;
pub mod discovery;
pub mod election;
pub mod follower;
pub mod leader;
pub mod learner;
pub mod learner_sync;
#[cfg(feature = "broken-engine")]
pub mod mutant;
pub mod newleader;
pub mod peer;
pub mod reconfig;
pub mod sync_plan;
pub mod verifier;
pub mod vote;
pub mod zxid;
