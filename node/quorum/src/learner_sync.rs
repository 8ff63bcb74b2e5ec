//! The learner's side of synchronisation (`Learner.syncWithLeader`), in the order that
//! ZooKeeper 3.9.3 settled on after ZOOKEEPER-3911/4643/4646/4685/4785/4925:
//!
//! 1. DIFF, TRUNC (cut the log after the zxid) or SNAP (replace the database);
//! 2. PROPOSAL and COMMIT pairs are only collected — nothing is applied, logged or
//!    acknowledged yet, and proposals must be contiguous;
//! 3. on NEWLEADER: take a snapshot if SNAP or TRUNC asked for one, log and fsync every
//!    proposal received, apply the committed ones, write currentEpoch, and only then ACK
//!    NEWLEADER — so a quorum of ACKs means a quorum has the history on disk;
//! 4. between NEWLEADER and UPTODATE proposals are logged and acknowledged as in broadcast,
//!    and commits are remembered (a COMMIT may arrive after the NEWLEADER ACK,
//!    ZOOKEEPER-3023/4394);
//! 5. on UPTODATE: ACK with newEpoch << 32, start serving, apply the remembered commits.

use std::collections::VecDeque;

use thiserror::Error;
use zab_jute::quorum::{packet, QuorumPacket};

use crate::zxid;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SyncError {
    #[error("the first sync packet must be DIFF, TRUNC or SNAP, got type {0}")]
    BadStart(i32),
    #[error("proposal 0x{got:x} does not follow 0x{last:x}: the leader's history has a hole (ZOOKEEPER-4925)")]
    NotContiguous { last: i64, got: i64 },
    #[error("COMMIT 0x{0:x} for a proposal that was never received")]
    UnknownCommit(i64),
    #[error("unexpected packet type {0} during synchronisation")]
    Unexpected(i32),
}

/// What the learner must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAction {
    /// Cut the log after this zxid (and drop snapshots newer than it).
    Truncate(i64),
    /// Replace the database with the snapshot streamed after the SNAP packet.
    LoadSnapshot(i64),
    TakeSnapshot,
    /// Append these txns (zxid, PROPOSAL data) to the log and fsync before going on.
    LogAndSync(Vec<(i64, Vec<u8>)>),
    /// Apply the txn with this zxid (already durable) to the tree.
    Apply(i64),
    PersistCurrentEpoch(i64),
    Send(QuorumPacket),
    StartServing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Collecting,
    AfterNewLeader,
    Done,
}

pub struct LearnerSync {
    new_epoch: i64,
    phase: Phase,
    last_zxid: i64,
    snapshot_needed: bool,
    proposals: VecDeque<(i64, Vec<u8>)>,
    committed: Vec<i64>,
    committed_after_newleader: Vec<i64>,
    /// `zookeeper.testingonly.initialZxid`: a leader may jump its counter to this value, so
    /// a proposal with the next counter is no hole.
    skip_counter: Option<i64>,
}

fn ack(zxid: i64) -> SyncAction {
    SyncAction::Send(QuorumPacket::new(packet::ACK, zxid, None))
}

impl LearnerSync {
    /// Starts after ACKEPOCH: `last_logged_zxid` is this learner's, `new_epoch` the
    /// leader's.
    pub fn new(last_logged_zxid: i64, new_epoch: i64) -> LearnerSync {
        LearnerSync {
            new_epoch,
            phase: Phase::Start,
            last_zxid: last_logged_zxid,
            snapshot_needed: false,
            proposals: VecDeque::new(),
            committed: Vec::new(),
            committed_after_newleader: Vec::new(),
            skip_counter: None,
        }
    }

    /// Accepts a proposal at counter `counter + 1` after any earlier zxid: the leader was
    /// told to move its counter there (ZooKeeper's `zookeeper.testingonly.initialZxid`,
    /// for tests of ZOOKEEPER-1277).
    pub fn allow_counter_skip(mut self, counter: Option<i64>) -> LearnerSync {
        self.skip_counter = counter;
        self
    }

    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The last zxid this learner holds or was handed: its own at the start, the TRUNC or
    /// SNAP point, then each proposal received.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    fn check_contiguous(&self, z: i64) -> Result<(), SyncError> {
        let skipped = self.skip_counter.is_some_and(|c| zxid::counter(z) == c + 1 && z > self.last_zxid);
        let follows = z == self.last_zxid + 1
            || (zxid::epoch(z) > zxid::epoch(self.last_zxid) && zxid::counter(z) == 1)
            || skipped;
        if follows {
            Ok(())
        } else {
            Err(SyncError::NotContiguous { last: self.last_zxid, got: z })
        }
    }

    /// Handles the next packet from the leader.
    pub fn on_packet(&mut self, p: &QuorumPacket) -> Result<Vec<SyncAction>, SyncError> {
        match (self.phase, p.packet_type) {
            (Phase::Start, packet::DIFF) => {
                self.phase = Phase::Collecting;
                Ok(Vec::new())
            }
            (Phase::Start, packet::TRUNC) => {
                self.phase = Phase::Collecting;
                self.last_zxid = p.zxid;
                self.snapshot_needed = true;
                Ok(vec![SyncAction::Truncate(p.zxid)])
            }
            (Phase::Start, packet::SNAP) => {
                self.phase = Phase::Collecting;
                self.last_zxid = p.zxid;
                self.snapshot_needed = true;
                Ok(vec![SyncAction::LoadSnapshot(p.zxid)])
            }
            (Phase::Start, t) => Err(SyncError::BadStart(t)),
            // An observer's txn and its commit at once (`syncWithLeader`'s INFORM): the leader
            // informs an observer of what commits while it synchronises; never ACKed.
            (Phase::Collecting | Phase::AfterNewLeader, t @ (packet::PROPOSAL | packet::INFORM)) => {
                self.check_contiguous(p.zxid)?;
                self.last_zxid = p.zxid;
                let data = p.data.clone().unwrap_or_default();
                let inform = t == packet::INFORM;
                if self.phase == Phase::Collecting {
                    // ZOOKEEPER-4685: no ACK for a proposal before NEWLEADER is acknowledged.
                    self.proposals.push_back((p.zxid, data));
                    if inform {
                        self.committed.push(p.zxid);
                    }
                    Ok(Vec::new())
                } else if inform {
                    self.committed_after_newleader.push(p.zxid);
                    Ok(vec![SyncAction::LogAndSync(vec![(p.zxid, data)])])
                } else {
                    Ok(vec![SyncAction::LogAndSync(vec![(p.zxid, data)]), ack(p.zxid)])
                }
            }
            (Phase::Collecting, packet::COMMIT) => {
                if !self.proposals.iter().any(|(z, _)| *z == p.zxid) {
                    return Err(SyncError::UnknownCommit(p.zxid));
                }
                self.committed.push(p.zxid);
                Ok(Vec::new())
            }
            (Phase::AfterNewLeader, packet::COMMIT) => {
                self.committed_after_newleader.push(p.zxid);
                Ok(Vec::new())
            }
            (Phase::Collecting, packet::NEWLEADER) => {
                let mut out = Vec::new();
                if self.snapshot_needed {
                    out.push(SyncAction::TakeSnapshot);
                }
                let logged: Vec<(i64, Vec<u8>)> = self.proposals.drain(..).collect();
                if !logged.is_empty() {
                    out.push(SyncAction::LogAndSync(logged));
                }
                out.extend(self.committed.drain(..).map(SyncAction::Apply));
                out.push(SyncAction::PersistCurrentEpoch(self.new_epoch));
                out.push(ack(p.zxid));
                self.phase = Phase::AfterNewLeader;
                Ok(out)
            }
            (Phase::AfterNewLeader, packet::UPTODATE) => {
                self.phase = Phase::Done;
                let mut out = vec![ack(zxid::make(self.new_epoch, 0)), SyncAction::StartServing];
                out.extend(self.committed_after_newleader.drain(..).map(SyncAction::Apply));
                Ok(out)
            }
            (_, packet::PING) => Ok(Vec::new()),
            (_, t) => Err(SyncError::Unexpected(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observer_takes_informs_during_synchronisation() {
        let inform = |z: i64| QuorumPacket::new(packet::INFORM, z, Some(vec![z as u8]));
        let mut s = LearnerSync::new(E5 | 2, 6);
        s.on_packet(&QuorumPacket::new(packet::DIFF, E5 | 2, None)).unwrap();
        assert!(s.on_packet(&inform(E5 | 3)).unwrap().is_empty(), "collected until NEWLEADER");
        assert!(matches!(s.on_packet(&inform(E5 | 5)), Err(SyncError::NotContiguous { .. })));
        let out = s.on_packet(&QuorumPacket::new(packet::NEWLEADER, E6, None)).unwrap();
        assert_eq!(out[0], SyncAction::LogAndSync(vec![(E5 | 3, vec![3])]));
        assert_eq!(out[1], SyncAction::Apply(E5 | 3), "an INFORM is committed");
        let out = s.on_packet(&inform(E6 | 1)).unwrap();
        assert_eq!(out, vec![SyncAction::LogAndSync(vec![(E6 | 1, vec![1])])], "no ACK: observers never acknowledge");
        let out = s.on_packet(&QuorumPacket::new(packet::UPTODATE, -1, None)).unwrap();
        assert_eq!(out.last(), Some(&SyncAction::Apply(E6 | 1)), "applied once serving");
    }

    const E5: i64 = 5 << 32;
    const E6: i64 = 6 << 32;

    fn pkt(t: i32, z: i64) -> QuorumPacket {
        let data = if t == packet::PROPOSAL { Some(vec![z as u8]) } else { None };
        QuorumPacket::new(t, z, data)
    }

    fn run(s: &mut LearnerSync, ps: &[(i32, i64)]) -> Result<Vec<SyncAction>, SyncError> {
        let mut out = Vec::new();
        for &(t, z) in ps {
            out.extend(s.on_packet(&pkt(t, z))?);
        }
        Ok(out)
    }

    #[test]
    fn diff_seed_scenario_persists_before_acking_newleader() {
        // Learner at 0x500000003; leader sends DIFF, 4 and 5, NEWLEADER, UPTODATE.
        let mut s = LearnerSync::new(E5 | 3, 6);
        let out = run(
            &mut s,
            &[
                (packet::DIFF, E5 | 5),
                (packet::PROPOSAL, E5 | 4),
                (packet::COMMIT, E5 | 4),
                (packet::PROPOSAL, E5 | 5),
                (packet::COMMIT, E5 | 5),
                (packet::NEWLEADER, E6),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                SyncAction::LogAndSync(vec![(E5 | 4, vec![4]), (E5 | 5, vec![5])]),
                SyncAction::Apply(E5 | 4),
                SyncAction::Apply(E5 | 5),
                SyncAction::PersistCurrentEpoch(6),
                ack(E6),
            ],
            "log, apply, currentEpoch, then ACK (ZOOKEEPER-3911/4643/4646)"
        );
        let out = s.on_packet(&pkt(packet::UPTODATE, -1)).unwrap();
        assert_eq!(out, vec![ack(E6), SyncAction::StartServing]);
        assert!(s.done());
    }

    #[test]
    fn commit_after_the_newleader_ack_is_applied_after_uptodate() {
        // ZOOKEEPER-3023/4394: DIFF, PROPOSAL, COMMIT, PROPOSAL, NEWLEADER, COMMIT, UPTODATE.
        let mut s = LearnerSync::new(E5 | 1, 6);
        let out = run(
            &mut s,
            &[
                (packet::DIFF, E5 | 3),
                (packet::PROPOSAL, E5 | 2),
                (packet::COMMIT, E5 | 2),
                (packet::PROPOSAL, E5 | 3),
                (packet::NEWLEADER, E6),
                (packet::COMMIT, E5 | 3),
                (packet::UPTODATE, -1),
            ],
        )
        .unwrap();
        let applied: Vec<&SyncAction> = out.iter().filter(|a| matches!(a, SyncAction::Apply(_))).collect();
        assert_eq!(applied, vec![&SyncAction::Apply(E5 | 2), &SyncAction::Apply(E5 | 3)]);
        let serving = out.iter().position(|a| *a == SyncAction::StartServing).unwrap();
        assert_eq!(out.get(serving + 1), Some(&SyncAction::Apply(E5 | 3)));
    }

    #[test]
    fn no_proposal_is_acked_before_newleader_and_later_ones_are() {
        let mut s = LearnerSync::new(E5 | 1, 6);
        let before = run(&mut s, &[(packet::DIFF, E5 | 2), (packet::PROPOSAL, E5 | 2)]).unwrap();
        assert!(before.is_empty(), "ZOOKEEPER-4685");
        run(&mut s, &[(packet::NEWLEADER, E6)]).unwrap();
        let after = s.on_packet(&pkt(packet::PROPOSAL, E6 | 1)).unwrap();
        assert_eq!(after, vec![SyncAction::LogAndSync(vec![(E6 | 1, vec![1])]), ack(E6 | 1)]);
    }

    #[test]
    fn trunc_and_snap_take_a_snapshot_before_acking() {
        let mut s = LearnerSync::new(E5 | 9, 6);
        let out = run(&mut s, &[(packet::TRUNC, E5 | 7), (packet::NEWLEADER, E6)]).unwrap();
        assert_eq!(
            out,
            vec![SyncAction::Truncate(E5 | 7), SyncAction::TakeSnapshot, SyncAction::PersistCurrentEpoch(6), ack(E6)]
        );
        let mut s = LearnerSync::new(0, 6);
        let out = run(&mut s, &[(packet::SNAP, E5 | 7), (packet::PROPOSAL, E5 | 8), (packet::NEWLEADER, E6)]).unwrap();
        assert_eq!(out[0], SyncAction::LoadSnapshot(E5 | 7));
        assert_eq!(out[1], SyncAction::TakeSnapshot);
    }

    #[test]
    fn holes_and_strange_packets_are_refused() {
        let mut s = LearnerSync::new(E5 | 1, 6);
        assert_eq!(
            run(&mut s, &[(packet::DIFF, E5 | 4), (packet::PROPOSAL, E5 | 3)]),
            Err(SyncError::NotContiguous { last: E5 | 1, got: E5 | 3 })
        );
        let mut s = LearnerSync::new(E5 | 1, 6);
        assert_eq!(run(&mut s, &[(packet::PROPOSAL, E5 | 2)]), Err(SyncError::BadStart(packet::PROPOSAL)));
        let mut s = LearnerSync::new(E5 | 1, 6);
        assert_eq!(
            run(&mut s, &[(packet::DIFF, E5 | 1), (packet::COMMIT, E5 | 2)]),
            Err(SyncError::UnknownCommit(E5 | 2))
        );
        // a new epoch may start at counter 1
        let mut s = LearnerSync::new(E5 | 1, 7);
        assert!(run(&mut s, &[(packet::DIFF, E6 | 1), (packet::PROPOSAL, E6 | 1)]).is_ok());
        // a counter moved by zookeeper.testingonly.initialZxid is no hole, when configured
        let mut s = LearnerSync::new(E5 | 1, 6);
        assert!(matches!(
            run(&mut s, &[(packet::DIFF, E5 | 1), (packet::PROPOSAL, E6 | 0xffff_fff1)]),
            Err(SyncError::NotContiguous { .. })
        ));
        let mut s = LearnerSync::new(E5 | 1, 6).allow_counter_skip(Some(0xffff_fff0));
        assert!(run(&mut s, &[(packet::DIFF, E5 | 1), (packet::PROPOSAL, E6 | 0xffff_fff1)]).is_ok());
        let mut s = LearnerSync::new(E5 | 1, 6).allow_counter_skip(Some(0xffff_fff0));
        assert!(run(&mut s, &[(packet::DIFF, E5 | 1), (packet::PROPOSAL, E6 | 0xffff_fff2)]).is_err(), "still a hole");
    }
}
