//! The end of synchronisation on the leader (`Leader.lead` / `waitForNewLeaderAck`,
//! `LearnerHandler.run`): after its sync packets each learner gets NEWLEADER (zxid
//! `newEpoch << 32`, the quorum configuration as data); once a quorum — the leader
//! included — has acknowledged NEWLEADER, the leader starts serving and every learner that
//! acknowledged gets UPTODATE (later ones as soon as they acknowledge). No quorum within
//! initLimit: the leader gives up.

use std::collections::BTreeSet;

use thiserror::Error;
use zab_jute::quorum::{packet, QuorumPacket};

use crate::verifier::QuorumMaj;
use crate::zxid;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NewLeaderError {
    #[error("ACK of NEWLEADER from {sid} carries 0x{got:x}, expected 0x{want:x}")]
    WrongZxid { sid: u64, got: i64, want: i64 },
    #[error("timeout waiting for a quorum to acknowledge NEWLEADER (initLimit)")]
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewLeaderAction {
    Send {
        to: u64,
        packet: QuorumPacket,
    },
    /// A quorum has the new epoch's history: the leader serves clients from now on.
    StartServing,
}

pub struct NewLeaderPhase {
    myid: u64,
    qv: QuorumMaj,
    /// A configuration a reconfig left in flight, which NEWLEADER completes (ZOOKEEPER-1324).
    next: Option<QuorumMaj>,
    zxid: i64,
    config: Vec<u8>,
    acks: BTreeSet<u64>,
    formed: bool,
    deadline: i64,
}

impl NewLeaderPhase {
    /// The leader acknowledges its own NEWLEADER first.
    pub fn new(myid: u64, qv: QuorumMaj, new_epoch: i64, now: i64, init_limit_ms: i64) -> NewLeaderPhase {
        let config = qv.to_text().into_bytes();
        let mut acks = BTreeSet::new();
        acks.insert(myid);
        NewLeaderPhase {
            myid,
            qv,
            next: None,
            zxid: zxid::make(new_epoch, 0),
            config,
            acks,
            formed: false,
            deadline: now + init_limit_ms,
        }
    }

    /// A reconfig was logged but not activated before this epoch (`lastSeenQuorumVerifier`
    /// newer than the configuration in force): NEWLEADER carries `next`, and needs a quorum
    /// of it too (`newLeaderProposal.addQuorumVerifier`), so that the epoch completes it
    /// (ZOOKEEPER-1324, `Leader.startZkServer`).
    pub fn with_next(mut self, next: QuorumMaj) -> NewLeaderPhase {
        self.config = next.to_text().into_bytes();
        self.next = Some(next);
        self
    }

    /// The members that acknowledged NEWLEADER so far, this leader included.
    pub fn acks(&self) -> &BTreeSet<u64> {
        &self.acks
    }

    fn has_quorum(&self, qv: &QuorumMaj) -> bool {
        let voters: BTreeSet<u64> = self.acks.iter().copied().filter(|s| qv.is_voter(*s)).collect();
        qv.contains_quorum(&voters)
    }

    /// NEWLEADER for a learner whose sync packets have been queued.
    pub fn newleader_for(&self, to: u64) -> NewLeaderAction {
        NewLeaderAction::Send { to, packet: QuorumPacket::new(packet::NEWLEADER, self.zxid, Some(self.config.clone())) }
    }

    pub fn on_ack(&mut self, sid: u64, zxid: i64) -> Result<Vec<NewLeaderAction>, NewLeaderError> {
        if zxid != self.zxid {
            return Err(NewLeaderError::WrongZxid { sid, got: zxid, want: self.zxid });
        }
        let uptodate = |to: u64| NewLeaderAction::Send { to, packet: QuorumPacket::new(packet::UPTODATE, -1, None) };
        if self.formed {
            return Ok(vec![uptodate(sid)]);
        }
        // Observers wait for the quorum like everyone else, but do not count towards it.
        self.acks.insert(sid);
        if !self.has_quorum(&self.qv) || !self.next.as_ref().is_none_or(|n| self.has_quorum(n)) {
            return Ok(Vec::new());
        }
        self.formed = true;
        let mut out = vec![NewLeaderAction::StartServing];
        out.extend(self.acks.iter().copied().filter(|s| *s != self.myid).map(uptodate));
        Ok(out)
    }

    pub fn on_tick(&self, now: i64) -> Result<(), NewLeaderError> {
        if !self.formed && now >= self.deadline {
            return Err(NewLeaderError::Timeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{LeaderAction, LeaderDiscovery, LearnerDiscovery};
    use crate::learner_sync::{LearnerSync, SyncAction};
    use crate::sync_plan::{plan, LeaderLog, SyncPacket};
    use crate::verifier::QuorumServer;

    const E5: i64 = 5 << 32;

    fn qv3() -> QuorumMaj {
        QuorumMaj::new((1..=3).map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0)
    }

    #[test]
    fn a_reconfig_left_in_flight_needs_both_quorums_and_goes_out_in_newleader() {
        // {1,2,3} -> {1,4,5,6}: 1 and 2 are a quorum of the old configuration only.
        let next = QuorumMaj::new([1, 4, 5, 6].map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0x500000009);
        let mut nl = NewLeaderPhase::new(1, qv3(), 6, 0, 10_000).with_next(next.clone());
        let NewLeaderAction::Send { packet: p, .. } = nl.newleader_for(2) else { panic!() };
        assert_eq!(p.data, Some(next.to_text().into_bytes()), "NEWLEADER carries the configuration to complete");
        assert!(nl.on_ack(2, 6 << 32).unwrap().is_empty());
        assert!(nl.on_ack(4, 6 << 32).unwrap().is_empty(), "1 and 4 are no quorum of {{1,4,5,6}}");
        let out = nl.on_ack(5, 6 << 32).unwrap();
        assert_eq!(out[0], NewLeaderAction::StartServing);
        assert_eq!(nl.acks().len(), 4);
    }

    #[test]
    fn quorum_of_newleader_acks_starts_serving_then_uptodate() {
        let mut nl = NewLeaderPhase::new(3, qv3(), 6, 0, 10_000);
        let NewLeaderAction::Send { packet: p, .. } = nl.newleader_for(1) else { panic!() };
        assert_eq!((p.packet_type, p.zxid), (packet::NEWLEADER, 6 << 32));
        assert!(p.data.as_deref().is_some_and(|d| d.ends_with(b"version=0")));
        assert!(nl.on_ack(1, 5 << 32).is_err());
        let out = nl.on_ack(1, 6 << 32).unwrap();
        assert_eq!(out[0], NewLeaderAction::StartServing);
        assert_eq!(out.len(), 2, "UPTODATE to 1 only, never to the leader itself");
        let late = nl.on_ack(2, 6 << 32).unwrap();
        assert!(
            matches!(&late[..], [NewLeaderAction::Send { to: 2, packet }] if packet.packet_type == packet::UPTODATE)
        );
        let lonely = NewLeaderPhase::new(3, qv3(), 6, 0, 10_000);
        assert_eq!(lonely.on_tick(10_000), Err(NewLeaderError::Timeout));
    }

    /// The DIFF seed scenario end to end, between the real leader and learner machines:
    /// the leader's committed log holds 0x500000001..5, the learner is at 0x500000003.
    /// On the wire: DIFF, PROPOSAL/COMMIT 4, PROPOSAL/COMMIT 5, NEWLEADER, ACK, UPTODATE, ACK.
    #[test]
    fn diff_seed_scenario_packet_sequence() {
        let mut wire: Vec<(char, i32, i64)> = Vec::new();
        // discovery: leader 3 (epoch 5), learner 1
        let (mut disc, _) = LeaderDiscovery::new(3, qv3(), 5, 5, E5 | 5, 0, 10_000);
        let mut l1 = LearnerDiscovery { myid: 1, accepted_epoch: 5, current_epoch: 5, last_logged_zxid: E5 | 3 };
        let out = disc.on_learner_info(1, &l1.hello(false, 0)).unwrap();
        let info = out
            .iter()
            .find_map(|a| if let LeaderAction::Send { to: 1, packet } = a { Some(packet.clone()) } else { None })
            .expect("LEADERINFO");
        let (_, ackepoch) = l1.on_leader_info(&info).unwrap();
        assert!(disc.on_ack_epoch(1, &ackepoch).unwrap().contains(&LeaderAction::EpochAcknowledged(6)));
        // synchronisation plan from the committed log
        let committed = [E5 | 1, E5 | 2, E5 | 3, E5 | 4, E5 | 5];
        let p = plan(ackepoch.zxid, &LeaderLog { last_processed_zxid: E5 | 5, committed: &committed, on_disk: None });
        let mut learner = LearnerSync::new(E5 | 3, 6);
        let mut nl = NewLeaderPhase::new(3, qv3(), 6, 0, 10_000);
        let mut to_learner: Vec<QuorumPacket> = p
            .packets
            .iter()
            .map(|sp| {
                let data = matches!(sp, SyncPacket::Proposal(_)).then(|| vec![0u8]);
                let z = match sp {
                    SyncPacket::Diff(z) | SyncPacket::Trunc(z) | SyncPacket::Proposal(z) | SyncPacket::Commit(z) => *z,
                };
                QuorumPacket::new(sp.packet_type(), z, data)
            })
            .collect();
        let NewLeaderAction::Send { packet: newleader, .. } = nl.newleader_for(1) else { panic!() };
        to_learner.push(newleader);
        for pkt in to_learner {
            wire.push(('L', pkt.packet_type, pkt.zxid));
            for a in learner.on_packet(&pkt).unwrap() {
                if let SyncAction::Send(ack) = a {
                    wire.push(('F', ack.packet_type, ack.zxid));
                    for r in nl.on_ack(1, ack.zxid).unwrap() {
                        if let NewLeaderAction::Send { packet: up, .. } = r {
                            wire.push(('L', up.packet_type, up.zxid));
                            for a2 in learner.on_packet(&up).unwrap() {
                                if let SyncAction::Send(ack2) = a2 {
                                    wire.push(('F', ack2.packet_type, ack2.zxid));
                                }
                            }
                        }
                    }
                }
            }
        }
        let e6 = 6i64 << 32;
        assert_eq!(
            wire,
            vec![
                ('L', packet::DIFF, E5 | 5),
                ('L', packet::PROPOSAL, E5 | 4),
                ('L', packet::COMMIT, E5 | 4),
                ('L', packet::PROPOSAL, E5 | 5),
                ('L', packet::COMMIT, E5 | 5),
                ('L', packet::NEWLEADER, e6),
                ('F', packet::ACK, e6),
                ('L', packet::UPTODATE, -1),
                ('F', packet::ACK, e6),
            ]
        );
        assert!(learner.done());
    }
}
