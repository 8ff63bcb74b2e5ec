//! Deliberately broken engines (feature `broken-engine`, never built into the server): each
//! [`Mutant`] is one protocol bug planted in the engine, switched on for the current thread.
//! The cluster simulator runs its seeds against each one and must catch it; that is what
//! shows it runs the engine the server runs, and that its invariants bite.

use std::cell::Cell;

/// One planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutant {
    /// The learner ACKs NEWLEADER first, before logging the synchronised proposals and
    /// writing currentEpoch (ZOOKEEPER-3911/4643's order).
    LearnerAcksNewLeaderBeforeLogging,
    /// The learner ACKs NEWLEADER before writing currentEpoch (but after logging).
    LearnerAcksNewLeaderBeforeEpoch,
    /// A follower ACKs a proposal in broadcast as soon as it hands it to its log, before
    /// the fsync (so the leader counts a copy that a crash can still lose).
    FollowerAcksProposalBeforeFsync,
    /// The leader counts its own ACK of a proposal when it proposes, before its fsync.
    LeaderCountsOwnAckBeforeFsync,
    /// A hand-over sends HANDOVER before the member it names acknowledged every committed
    /// txn.
    HandOverBeforeTheFollowerHoldsAll,
    /// A hand-over sends HANDOVER with proposals still outstanding (commits after it).
    HandOverWithProposalsOutstanding,
}

impl Mutant {
    pub const ALL: [Mutant; 6] = [
        Mutant::LearnerAcksNewLeaderBeforeLogging,
        Mutant::LearnerAcksNewLeaderBeforeEpoch,
        Mutant::FollowerAcksProposalBeforeFsync,
        Mutant::LeaderCountsOwnAckBeforeFsync,
        Mutant::HandOverBeforeTheFollowerHoldsAll,
        Mutant::HandOverWithProposalsOutstanding,
    ];
}

thread_local! {
    static ACTIVE: Cell<Option<Mutant>> = const { Cell::new(None) };
}

/// Plants `m` in the engines this thread runs from now on (`None`: the real engine).
pub fn set(m: Option<Mutant>) {
    ACTIVE.with(|a| a.set(m));
}

pub(crate) fn active(m: Mutant) -> bool {
    ACTIVE.with(|a| a.get() == Some(m))
}
