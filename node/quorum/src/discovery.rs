//! ZAB discovery (phase 1): the leader learns the accepted epochs of a quorum, proposes
//! max + 1, and collects the acknowledgements (`Leader.getEpochToPropose`,
//! `Leader.waitForEpochAck`, `Learner.registerWithLeader`).
//!
//! Packets (QuorumPacket): the learner sends FOLLOWERINFO (or OBSERVERINFO) with zxid =
//! acceptedEpoch << 32 and a LearnerInfo; the leader answers LEADERINFO with zxid =
//! newEpoch << 32 and the protocol version; the learner persists acceptedEpoch *before*
//! answering ACKEPOCH with its last logged zxid and its currentEpoch (or -1 when it had
//! already accepted this epoch). A learner whose (currentEpoch, lastZxid) is newer than
//! the leader's makes the leader give up. Both sides time out after initLimit ticks.

use std::collections::BTreeSet;

use thiserror::Error;
use zab_jute::quorum::{packet, LearnerInfo, QuorumPacket, PROTOCOL_VERSION};
use zab_jute::record::Record;

use crate::verifier::QuorumMaj;
use crate::zxid;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    #[error("timeout while waiting for {0} from a quorum (initLimit)")]
    Timeout(&'static str),
    #[error("learner {sid} is ahead of the leader: learner (epoch {epoch}, zxid 0x{zxid:x}), leader (epoch {leader_epoch}, zxid 0x{leader_zxid:x})")]
    LearnerAhead { sid: u64, epoch: i64, zxid: i64, leader_epoch: i64, leader_zxid: i64 },
    #[error("the leader's epoch {leader} is below this member's accepted epoch {accepted}")]
    LeaderEpochTooOld { leader: i64, accepted: i64 },
    #[error("malformed {0} packet")]
    Malformed(&'static str),
}

/// What the leader must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAction {
    /// Persist acceptedEpoch (atomically) before anything else goes out.
    PersistAcceptedEpoch(i64),
    Send {
        to: u64,
        packet: QuorumPacket,
    },
    /// A quorum acknowledged the new epoch: go on to synchronisation.
    EpochAcknowledged(i64),
}

/// The leader's side of discovery.
pub struct LeaderDiscovery {
    myid: u64,
    qv: QuorumMaj,
    epoch: i64,
    waiting_for_new_epoch: bool,
    connecting: BTreeSet<u64>,
    /// Learners waiting for LEADERINFO (those that connected before the epoch was known).
    awaiting_info: Vec<u64>,
    electing: BTreeSet<u64>,
    acknowledged: bool,
    /// The leader's own (currentEpoch, last processed zxid).
    summary: (i64, i64),
    deadline: i64,
}

fn leader_info(epoch: i64) -> QuorumPacket {
    QuorumPacket::new(packet::LEADERINFO, zxid::make(epoch, 0), Some(PROTOCOL_VERSION.to_be_bytes().to_vec()))
}

impl LeaderDiscovery {
    /// Starts discovery as leader, counting itself first (as `Leader.lead` does).
    pub fn new(
        myid: u64,
        qv: QuorumMaj,
        accepted_epoch: i64,
        current_epoch: i64,
        last_zxid: i64,
        now: i64,
        init_limit_ms: i64,
    ) -> (LeaderDiscovery, Vec<LeaderAction>) {
        let mut d = LeaderDiscovery {
            myid,
            qv,
            epoch: -1,
            waiting_for_new_epoch: true,
            connecting: BTreeSet::new(),
            awaiting_info: Vec::new(),
            electing: BTreeSet::new(),
            acknowledged: false,
            summary: (current_epoch, last_zxid),
            deadline: now + init_limit_ms,
        };
        let mut out = d.propose(myid, accepted_epoch);
        out.extend(d.ack(myid, current_epoch, last_zxid).unwrap_or_default());
        (d, out)
    }

    /// A quorum has acknowledged the new epoch.
    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged
    }

    pub fn epoch(&self) -> Option<i64> {
        (!self.waiting_for_new_epoch).then_some(self.epoch)
    }

    /// `getEpochToPropose`.
    fn propose(&mut self, sid: u64, last_accepted: i64) -> Vec<LeaderAction> {
        if !self.waiting_for_new_epoch {
            return Vec::new();
        }
        if last_accepted >= self.epoch {
            self.epoch = last_accepted + 1;
        }
        if self.qv.is_voter(sid) {
            self.connecting.insert(sid);
        }
        if self.connecting.contains(&self.myid) && self.qv.contains_quorum(&self.connecting) {
            self.waiting_for_new_epoch = false;
            let mut out = vec![LeaderAction::PersistAcceptedEpoch(self.epoch)];
            for to in self.awaiting_info.drain(..) {
                out.push(LeaderAction::Send { to, packet: leader_info(self.epoch) });
            }
            return out;
        }
        Vec::new()
    }

    /// FOLLOWERINFO or OBSERVERINFO from `sid`.
    pub fn on_learner_info(&mut self, sid: u64, p: &QuorumPacket) -> Result<Vec<LeaderAction>, DiscoveryError> {
        if p.packet_type != packet::FOLLOWERINFO && p.packet_type != packet::OBSERVERINFO {
            return Err(DiscoveryError::Malformed("FOLLOWERINFO"));
        }
        if let Some(d) = &p.data {
            LearnerInfo::from_bytes(d, 1 << 20).map_err(|_| DiscoveryError::Malformed("LearnerInfo"))?;
        }
        let accepted = zxid::epoch(p.zxid);
        let was_waiting = self.waiting_for_new_epoch;
        let mut out = self.propose(sid, accepted);
        if self.waiting_for_new_epoch {
            if !self.awaiting_info.contains(&sid) {
                self.awaiting_info.push(sid);
            }
        } else if !was_waiting || !out.iter().any(|a| matches!(a, LeaderAction::Send { to, .. } if *to == sid)) {
            out.push(LeaderAction::Send { to: sid, packet: leader_info(self.epoch) });
        }
        Ok(out)
    }

    /// ACKEPOCH from `sid` (`waitForEpochAck`).
    pub fn on_ack_epoch(&mut self, sid: u64, p: &QuorumPacket) -> Result<Vec<LeaderAction>, DiscoveryError> {
        let data = p.data.as_deref().unwrap_or(&[]);
        let Some(b) = data.get(..4) else {
            return Err(DiscoveryError::Malformed("ACKEPOCH"));
        };
        let current_epoch = i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64;
        self.ack(sid, current_epoch, p.zxid)
    }

    fn ack(&mut self, sid: u64, current_epoch: i64, last_zxid: i64) -> Result<Vec<LeaderAction>, DiscoveryError> {
        if self.acknowledged {
            return Ok(Vec::new());
        }
        if current_epoch != -1 {
            let (le, lz) = self.summary;
            if current_epoch > le || (current_epoch == le && last_zxid > lz) {
                return Err(DiscoveryError::LearnerAhead {
                    sid,
                    epoch: current_epoch,
                    zxid: last_zxid,
                    leader_epoch: le,
                    leader_zxid: lz,
                });
            }
            if last_zxid != -1 && self.qv.is_voter(sid) {
                self.electing.insert(sid);
            }
        }
        if self.electing.contains(&self.myid) && self.qv.contains_quorum(&self.electing) && !self.waiting_for_new_epoch
        {
            self.acknowledged = true;
            return Ok(vec![LeaderAction::EpochAcknowledged(self.epoch)]);
        }
        Ok(Vec::new())
    }

    /// Fails discovery once initLimit has passed without a quorum.
    pub fn on_tick(&self, now: i64) -> Result<(), DiscoveryError> {
        if now < self.deadline {
            return Ok(());
        }
        if self.waiting_for_new_epoch {
            return Err(DiscoveryError::Timeout("epoch"));
        }
        if !self.acknowledged {
            return Err(DiscoveryError::Timeout("epoch acknowledgements"));
        }
        Ok(())
    }
}

/// The learner's side: the packets it sends and what it must persist.
#[derive(Debug, Clone, Copy)]
pub struct LearnerDiscovery {
    pub myid: u64,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    pub last_logged_zxid: i64,
}

impl LearnerDiscovery {
    /// FOLLOWERINFO (or OBSERVERINFO for an observer).
    pub fn hello(&self, observer: bool, config_version: i64) -> QuorumPacket {
        self.hello_as(observer, config_version, PROTOCOL_VERSION)
    }

    /// FOLLOWERINFO / OBSERVERINFO announcing `protocol_version` (ZooKeeper's, or
    /// [`zab_jute::quorum::ZAB_PROTOCOL_VERSION`]).
    pub fn hello_as(&self, observer: bool, config_version: i64, protocol_version: i32) -> QuorumPacket {
        let info = LearnerInfo { serverid: self.myid as i64, protocol_version, config_version };
        let t = if observer { packet::OBSERVERINFO } else { packet::FOLLOWERINFO };
        QuorumPacket::new(t, zxid::make(self.accepted_epoch, 0), Some(info.to_bytes()))
    }

    /// Handles LEADERINFO: returns the acceptedEpoch to persist first (if it changes) and
    /// the ACKEPOCH to send after.
    pub fn on_leader_info(&mut self, p: &QuorumPacket) -> Result<(Option<i64>, QuorumPacket), DiscoveryError> {
        if p.packet_type != packet::LEADERINFO {
            return Err(DiscoveryError::Malformed("LEADERINFO"));
        }
        let new_epoch = zxid::epoch(p.zxid);
        let (persist, reported) = if new_epoch > self.accepted_epoch {
            self.accepted_epoch = new_epoch;
            (Some(new_epoch), self.current_epoch as i32)
        } else if new_epoch == self.accepted_epoch {
            (None, -1)
        } else {
            return Err(DiscoveryError::LeaderEpochTooOld { leader: new_epoch, accepted: self.accepted_epoch });
        };
        let ack = QuorumPacket::new(packet::ACKEPOCH, self.last_logged_zxid, Some(reported.to_be_bytes().to_vec()));
        Ok((persist, ack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::QuorumServer;

    fn qv3() -> QuorumMaj {
        QuorumMaj::new((1..=3).map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0)
    }

    #[test]
    fn a_quorum_agrees_on_max_accepted_epoch_plus_one() {
        // Leader 3 has accepted epoch 4; follower 2 accepted 5: the new epoch is 6.
        let (mut leader, out) = LeaderDiscovery::new(3, qv3(), 4, 4, 0x400000009, 0, 10_000);
        assert!(out.is_empty(), "one member is not a quorum");
        let mut f2 = LearnerDiscovery { myid: 2, accepted_epoch: 5, current_epoch: 4, last_logged_zxid: 0x400000008 };
        let out = leader.on_learner_info(2, &f2.hello(false, 0)).unwrap();
        assert_eq!(
            out[0],
            LeaderAction::PersistAcceptedEpoch(6),
            "acceptedEpoch is persisted before LEADERINFO goes out"
        );
        let LeaderAction::Send { to: 2, packet: info } = &out[1] else { panic!("LEADERINFO to 2: {out:?}") };
        assert_eq!((info.packet_type, info.zxid), (packet::LEADERINFO, 6 << 32));
        assert_eq!(info.data.as_deref(), Some(&PROTOCOL_VERSION.to_be_bytes()[..]));
        let (persist, ack) = f2.on_leader_info(info).unwrap();
        assert_eq!(persist, Some(6));
        assert_eq!((ack.packet_type, ack.zxid), (packet::ACKEPOCH, 0x400000008));
        assert_eq!(ack.data.as_deref(), Some(&4i32.to_be_bytes()[..]));
        assert_eq!(leader.on_ack_epoch(2, &ack).unwrap(), vec![LeaderAction::EpochAcknowledged(6)]);
        // a late learner still gets LEADERINFO, and re-acking the same epoch reports -1
        let f1 = LearnerDiscovery { myid: 1, accepted_epoch: 6, current_epoch: 4, last_logged_zxid: 0x400000001 };
        let out = leader.on_learner_info(1, &f1.hello(false, 0)).unwrap();
        let LeaderAction::Send { packet: info, .. } = &out[0] else { panic!("{out:?}") };
        let (persist, ack) = { f1 }.on_leader_info(info).unwrap();
        assert_eq!(persist, None);
        assert_eq!(ack.data.as_deref(), Some(&(-1i32).to_be_bytes()[..]));
    }

    #[test]
    fn a_learner_ahead_makes_the_leader_give_up() {
        let (mut leader, _) = LeaderDiscovery::new(3, qv3(), 4, 4, 0x400000009, 0, 10_000);
        let f2 = LearnerDiscovery { myid: 2, accepted_epoch: 4, current_epoch: 4, last_logged_zxid: 0x40000000a };
        let out = leader.on_learner_info(2, &f2.hello(false, 0)).unwrap();
        let LeaderAction::Send { packet: info, .. } = &out[1] else { panic!("{out:?}") };
        let (_, ack) = { f2 }.on_leader_info(info).unwrap();
        assert!(matches!(leader.on_ack_epoch(2, &ack), Err(DiscoveryError::LearnerAhead { sid: 2, .. })));
    }

    #[test]
    fn older_leader_epochs_are_refused_and_init_limit_times_out() {
        let mut f = LearnerDiscovery { myid: 2, accepted_epoch: 7, current_epoch: 6, last_logged_zxid: 0 };
        assert!(matches!(f.on_leader_info(&leader_info(6)), Err(DiscoveryError::LeaderEpochTooOld { .. })));
        let (leader, _) = LeaderDiscovery::new(3, qv3(), 4, 4, 0, 0, 10_000);
        assert!(leader.on_tick(9_999).is_ok());
        assert_eq!(leader.on_tick(10_000), Err(DiscoveryError::Timeout("epoch")));
    }
}
