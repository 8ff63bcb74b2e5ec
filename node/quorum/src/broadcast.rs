//! ZAB broadcast on the leader (`Leader.propose`, `processAck`, `tryToCommit`): each txn is
//! proposed to the followers, acknowledged by each after its fsync (the leader's own ACK
//! comes after its own fsync too), and committed once a quorum has acknowledged it — in
//! zxid order: a proposal never commits before the one before it. Committed txns go to
//! followers as COMMIT and to observers as INFORM with the whole txn.
//!
//! The zxid counter must never wrap: a proposal that would reach counter 0xffffffff is
//! refused, and the leader must step down so a new epoch starts (ZOOKEEPER-1277).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use thiserror::Error;
use zab_jute::quorum::{packet, QuorumPacket};

use crate::verifier::QuorumMaj;
use crate::zxid;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BroadcastError {
    #[error(
        "zxid 0x{0:x} would exhaust the epoch's counter: the leader must step down for a new epoch (ZOOKEEPER-1277)"
    )]
    CounterExhausted(i64),
    #[error("proposal 0x{got:x} does not follow 0x{last:x}")]
    OutOfOrder { last: i64, got: i64 },
    #[error("a reconfiguration (version 0x{0:x}) is already in flight; retry once it commits")]
    ReconfigInProgress(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BroadcastAction {
    Send {
        to: u64,
        packet: QuorumPacket,
    },
    /// Apply the committed txn locally and answer its client.
    Commit(i64),
    /// The reconfiguration committed just before this action activates: `view` is the
    /// configuration from now on, `designated` its leader (`processReconfig`).
    Activate {
        zxid: i64,
        view: Arc<QuorumMaj>,
        designated: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerKind {
    Follower,
    Observer,
}

struct Proposal {
    data: Vec<u8>,
    /// One ack set per configuration whose quorum the proposal needs: the current one, and
    /// the next one while a reconfiguration is in flight (`qvAcksetPairs`).
    quorums: Vec<(Arc<QuorumMaj>, BTreeSet<u64>)>,
    /// The configuration a reconfig proposal activates once committed.
    activates: Option<Arc<QuorumMaj>>,
}

impl Proposal {
    fn has_all_quorums(&self) -> bool {
        self.quorums.iter().all(|(qv, acks)| qv.contains_quorum(acks))
    }
}

pub struct LeaderBroadcast {
    myid: u64,
    qv: Arc<QuorumMaj>,
    /// The configuration a reconfig proposed and not yet committed (`lastSeenQuorumVerifier`).
    next: Option<Arc<QuorumMaj>>,
    learners: BTreeMap<u64, LearnerKind>,
    outstanding: BTreeMap<i64, Proposal>,
    last_proposed: i64,
    last_committed: i64,
    /// False once a committed reconfig designated another leader: this one commits nothing
    /// more (`allowedToCommit`).
    allowed_to_commit: bool,
}

impl LeaderBroadcast {
    /// Starts broadcast after synchronisation, at the NEWLEADER zxid (`epoch << 32`).
    pub fn new(myid: u64, qv: QuorumMaj, start_zxid: i64) -> LeaderBroadcast {
        LeaderBroadcast {
            myid,
            qv: Arc::new(qv),
            next: None,
            learners: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            last_proposed: start_zxid,
            last_committed: start_zxid,
            allowed_to_commit: true,
        }
    }

    /// A learner finished synchronising and takes part from now on.
    pub fn add_learner(&mut self, sid: u64, kind: LearnerKind) {
        self.learners.insert(sid, kind);
    }

    pub fn remove_learner(&mut self, sid: u64) {
        self.learners.remove(&sid);
    }

    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }

    /// The configuration in force.
    pub fn config(&self) -> &Arc<QuorumMaj> {
        &self.qv
    }

    /// The configuration a reconfig in flight will activate.
    pub fn next_config(&self) -> Option<&Arc<QuorumMaj>> {
        self.next.as_ref()
    }

    /// Whether this leader may still commit (no reconfig designated another leader).
    pub fn allowed_to_commit(&self) -> bool {
        self.allowed_to_commit
    }

    /// The next zxid to assign, or the error that forces a new epoch.
    pub fn next_zxid(&self) -> Result<i64, BroadcastError> {
        let next = self.last_proposed + 1;
        if zxid::counter(next) >= 0xffff_ffff {
            return Err(BroadcastError::CounterExhausted(next));
        }
        Ok(next)
    }

    /// Moves the zxid counter forward to `zxid` (the next proposal is `zxid + 1`), within
    /// the epoch: ZooKeeper's `zookeeper.testingonly.initialZxid`, which lets a test reach the
    /// counter's end (ZOOKEEPER-1277) without four billion writes.
    pub fn skip_to(&mut self, zxid: i64) -> Result<(), BroadcastError> {
        if zxid::epoch(zxid) != zxid::epoch(self.last_proposed) || zxid < self.last_proposed {
            return Err(BroadcastError::OutOfOrder { last: self.last_proposed, got: zxid });
        }
        self.last_proposed = zxid;
        Ok(())
    }

    /// Proposes a txn (its zxid from [`next_zxid`](Self::next_zxid), `data` the serialized
    /// TxnHeader + txn + digest).
    pub fn propose(&mut self, zxid: i64, data: Vec<u8>) -> Result<Vec<BroadcastAction>, BroadcastError> {
        self.propose_with(zxid, data, None)
    }

    /// Proposes a reconfig txn that activates `view` (its version the zxid) once a quorum
    /// of the current configuration AND of `view` have it; until then every proposal needs
    /// both quorums. One reconfiguration at a time.
    pub fn propose_reconfig(
        &mut self,
        zxid: i64,
        data: Vec<u8>,
        view: QuorumMaj,
    ) -> Result<Vec<BroadcastAction>, BroadcastError> {
        if let Some(next) = &self.next {
            return Err(BroadcastError::ReconfigInProgress(next.version));
        }
        self.propose_with(zxid, data, Some(Arc::new(view)))
    }

    fn propose_with(
        &mut self,
        zxid: i64,
        data: Vec<u8>,
        activates: Option<Arc<QuorumMaj>>,
    ) -> Result<Vec<BroadcastAction>, BroadcastError> {
        let expected = self.next_zxid()?;
        if zxid != expected {
            return Err(BroadcastError::OutOfOrder { last: self.last_proposed, got: zxid });
        }
        self.last_proposed = zxid;
        if let Some(view) = &activates {
            self.next = Some(view.clone());
        }
        let mut quorums = vec![(self.qv.clone(), BTreeSet::new())];
        quorums.extend(self.next.iter().map(|n| (n.clone(), BTreeSet::new())));
        let out = self
            .learners
            .iter()
            .filter(|(_, k)| **k == LearnerKind::Follower)
            .map(|(sid, _)| BroadcastAction::Send {
                to: *sid,
                packet: QuorumPacket::new(packet::PROPOSAL, zxid, Some(data.clone())),
            })
            .collect();
        self.outstanding.insert(zxid, Proposal { data, quorums, activates });
        Ok(out)
    }

    /// The leader's own log has made `zxid` durable: its own ACK.
    pub fn on_local_sync(&mut self, zxid: i64) -> Vec<BroadcastAction> {
        self.on_ack(self.myid, zxid)
    }

    /// ACK from `sid` (`processAck`); commits what all the needed quorums now hold, in
    /// order. A sid counts in each configuration where it votes.
    pub fn on_ack(&mut self, sid: u64, zxid: i64) -> Vec<BroadcastAction> {
        if !self.allowed_to_commit {
            return Vec::new();
        }
        if let Some(p) = self.outstanding.get_mut(&zxid) {
            for (qv, acks) in &mut p.quorums {
                if qv.is_voter(sid) {
                    acks.insert(sid);
                }
            }
        }
        let mut out = Vec::new();
        // tryToCommit: only the oldest outstanding proposal may commit.
        while let Some((&z, p)) = self.outstanding.iter().next() {
            if !self.allowed_to_commit || !p.has_all_quorums() {
                break;
            }
            let Some(p) = self.outstanding.remove(&z) else { break };
            self.last_committed = z;
            match &p.activates {
                None => {
                    for (to, kind) in &self.learners {
                        let packet = match kind {
                            LearnerKind::Follower => QuorumPacket::new(packet::COMMIT, z, None),
                            LearnerKind::Observer => QuorumPacket::new(packet::INFORM, z, Some(p.data.clone())),
                        };
                        out.push(BroadcastAction::Send { to: *to, packet });
                    }
                    out.push(BroadcastAction::Commit(z));
                }
                Some(view) => self.activate(z, &p, view.clone(), &mut out),
            }
        }
        out
    }

    /// A reconfig committed: its leader designated, COMMITANDACTIVATE to the followers and
    /// INFORMANDACTIVATE to the observers, the new configuration in force.
    fn activate(&mut self, z: i64, p: &Proposal, view: Arc<QuorumMaj>, out: &mut Vec<BroadcastAction>) {
        let acked = p.quorums.last().map(|(_, a)| a.clone()).unwrap_or_default();
        let later: Vec<BTreeSet<u64>> = self
            .outstanding
            .values()
            .map(|q| q.quorums.iter().flat_map(|(_, a)| a.iter().copied()).collect())
            .collect();
        let designated = crate::reconfig::designated_leader(self.myid, &self.qv, &view, &acked, &later);
        let leader = designated.to_be_bytes().to_vec();
        for (to, kind) in &self.learners {
            let packet = match kind {
                LearnerKind::Follower => QuorumPacket::new(packet::COMMITANDACTIVATE, z, Some(leader.clone())),
                LearnerKind::Observer => {
                    let mut data = leader.clone();
                    data.extend_from_slice(&p.data);
                    QuorumPacket::new(packet::INFORMANDACTIVATE, z, Some(data))
                }
            };
            out.push(BroadcastAction::Send { to: *to, packet });
        }
        out.push(BroadcastAction::Commit(z));
        out.push(BroadcastAction::Activate { zxid: z, view: view.clone(), designated });
        self.qv = view;
        self.next = None;
        if designated != self.myid {
            self.allowed_to_commit = false;
        }
    }

    /// A reconfig an earlier epoch left in flight is in force from the start of this one
    /// (NEWLEADER had both quorums, ZOOKEEPER-1324); when `designated` is another member this
    /// leader commits nothing.
    pub fn complete_reconfig(&mut self, view: Arc<QuorumMaj>, designated: u64) {
        self.qv = view;
        if designated != self.myid {
            self.allowed_to_commit = false;
        }
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::QuorumServer;

    const E6: i64 = 6 << 32;

    fn leader() -> LeaderBroadcast {
        let mut qv = QuorumMaj::new((1..=3).map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0);
        qv.servers.insert(4, QuorumServer::parse(4, "h:1:2:observer").unwrap());
        let mut b = LeaderBroadcast::new(3, qv, E6);
        b.add_learner(1, LearnerKind::Follower);
        b.add_learner(2, LearnerKind::Follower);
        b.add_learner(4, LearnerKind::Observer);
        b
    }

    fn commits(a: &[BroadcastAction]) -> Vec<i64> {
        a.iter().filter_map(|x| if let BroadcastAction::Commit(z) = x { Some(*z) } else { None }).collect()
    }

    #[test]
    fn commits_need_a_quorum_and_go_in_order() {
        let mut b = leader();
        let out = b.propose(E6 | 1, vec![1]).unwrap();
        assert_eq!(out.len(), 2, "PROPOSAL to the two followers, not the observer");
        b.propose(E6 | 2, vec![2]).unwrap();
        // a quorum for 2 before 1: nothing commits yet
        assert!(commits(&b.on_local_sync(E6 | 2)).is_empty());
        assert!(commits(&b.on_ack(1, E6 | 2)).is_empty());
        // the leader's own fsync alone is not a quorum
        assert!(commits(&b.on_local_sync(E6 | 1)).is_empty());
        let out = b.on_ack(2, E6 | 1);
        assert_eq!(commits(&out), vec![E6 | 1, E6 | 2]);
        let inform = out.iter().find(|a| matches!(a, BroadcastAction::Send { to: 4, .. })).unwrap();
        let BroadcastAction::Send { packet, .. } = inform else { unreachable!() };
        assert_eq!(
            (packet.packet_type, packet.data.as_deref()),
            (packet::INFORM, Some(&[1u8][..])),
            "observers get the whole txn"
        );
        assert_eq!(b.last_committed(), E6 | 2);
        assert_eq!(b.outstanding(), 0);
    }

    #[test]
    fn observers_and_strangers_do_not_count() {
        let mut b = leader();
        b.propose(E6 | 1, vec![]).unwrap();
        b.on_local_sync(E6 | 1);
        assert!(commits(&b.on_ack(4, E6 | 1)).is_empty());
        assert!(commits(&b.on_ack(9, E6 | 1)).is_empty());
        assert_eq!(commits(&b.on_ack(1, E6 | 1)), vec![E6 | 1]);
    }

    #[test]
    fn the_counter_never_wraps() {
        let qv = QuorumMaj::new((1..=3).map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0);
        let mut b = LeaderBroadcast::new(1, qv, E6 | 0xffff_fffd);
        assert!(b.propose(E6 | 0xffff_fffe, vec![]).is_ok());
        assert_eq!(b.next_zxid(), Err(BroadcastError::CounterExhausted(E6 | 0xffff_ffff)));
        assert!(matches!(b.propose(E6 | 0xffff_ffff, vec![]), Err(BroadcastError::CounterExhausted(_))));
        assert!(b.propose(E6 | 5, vec![]).is_err());
    }

    #[test]
    fn the_counter_skips_forward_only_within_the_epoch() {
        let qv = QuorumMaj::new((1..=3).map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0);
        let mut b = LeaderBroadcast::new(1, qv, E6);
        assert!(b.propose(E6 | 1, vec![]).is_ok());
        assert!(b.skip_to(E6).is_err(), "backwards");
        assert!(b.skip_to(7 << 32).is_err(), "another epoch");
        assert!(b.skip_to(E6 | 0xffff_fff0).is_ok());
        assert_eq!(b.next_zxid(), Ok(E6 | 0xffff_fff1));
        // The proposal before the gap still commits first.
        assert!(b.propose(E6 | 0xffff_fff1, vec![]).is_ok());
        assert!(commits(&b.on_ack(1, E6 | 0xffff_fff1)).is_empty());
        assert!(commits(&b.on_ack(2, E6 | 0xffff_fff1)).is_empty(), "waits for 0x...1");
        assert_eq!(commits(&b.on_ack(1, E6 | 1)), Vec::<i64>::new());
        assert_eq!(commits(&b.on_ack(2, E6 | 1)), vec![E6 | 1, E6 | 0xffff_fff1]);
    }
}
