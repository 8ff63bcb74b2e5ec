//! ZAB broadcast on a follower or observer (`Follower.processPacket`,
//! `FollowerZooKeeperServer.logRequest/commit`, `Observer.processPacket`): a PROPOSAL is
//! logged and acknowledged once durable; a COMMIT applies the oldest pending proposal, which
//! must be the one it names; an observer gets INFORM with the whole txn, logs and applies
//! it, and never acknowledges.

use std::collections::VecDeque;

use thiserror::Error;
use zab_jute::quorum::{packet, QuorumPacket};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FollowerError {
    #[error("proposal 0x{got:x} does not follow 0x{last:x}")]
    OutOfOrder { last: i64, got: i64 },
    #[error("COMMIT 0x{got:x} but the oldest pending proposal is {pending}: out of sync with the leader")]
    CommitMismatch { got: i64, pending: String },
    #[error("unexpected packet type {0} in broadcast")]
    Unexpected(i32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowerAction {
    /// Append to the log; once fsynced, call [`FollowerBroadcast::on_local_sync`].
    Log {
        zxid: i64,
        data: Vec<u8>,
    },
    Send(QuorumPacket),
    /// Apply the (durable) txn to the tree.
    Apply(i64),
    /// The reconfig txn `zxid` (just applied) activates its configuration, led by
    /// `designated` (COMMITANDACTIVATE, INFORMANDACTIVATE).
    Activate {
        zxid: i64,
        designated: u64,
    },
}

pub struct FollowerBroadcast {
    observer: bool,
    last_zxid: i64,
    pending: VecDeque<i64>,
}

impl FollowerBroadcast {
    /// After UPTODATE: `last_zxid` is the last txn this member has.
    /// Starts broadcast with proposals already logged during synchronisation whose COMMIT
    /// has not arrived yet (those after NEWLEADER), oldest first.
    pub fn with_pending(last_zxid: i64, observer: bool, pending: Vec<i64>) -> FollowerBroadcast {
        FollowerBroadcast { observer, last_zxid, pending: pending.into() }
    }

    pub fn new(last_zxid: i64, observer: bool) -> FollowerBroadcast {
        FollowerBroadcast { observer, last_zxid, pending: VecDeque::new() }
    }

    /// A proposal must come after the last one. Usually it is the next zxid (or a new
    /// epoch's first), but a leader may skip ahead (ZooKeeper's
    /// `zookeeper.testingonly.initialZxid`); ZooKeeper's Follower only warns about that, so
    /// a gap is accepted here too and the runtime logs it.
    fn follows(&self, z: i64) -> bool {
        z > self.last_zxid
    }

    /// The zxid of the last proposal (or INFORM) taken.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    pub fn on_packet(&mut self, p: &QuorumPacket) -> Result<Vec<FollowerAction>, FollowerError> {
        match (p.packet_type, self.observer) {
            (packet::COMMITANDACTIVATE, false) => {
                let designated = designated_of(p)?;
                let mut out = self.on_packet(&QuorumPacket::new(packet::COMMIT, p.zxid, None))?;
                out.push(FollowerAction::Activate { zxid: p.zxid, designated });
                Ok(out)
            }
            (packet::INFORMANDACTIVATE, true) => {
                let designated = designated_of(p)?;
                let txn = p.data.as_deref().and_then(|d| d.get(8..)).unwrap_or(&[]).to_vec();
                let mut out = self.on_packet(&QuorumPacket::new(packet::INFORM, p.zxid, Some(txn)))?;
                out.push(FollowerAction::Activate { zxid: p.zxid, designated });
                Ok(out)
            }
            (packet::PROPOSAL, false) | (packet::INFORM, true) => {
                if !self.follows(p.zxid) {
                    return Err(FollowerError::OutOfOrder { last: self.last_zxid, got: p.zxid });
                }
                self.last_zxid = p.zxid;
                let mut out = vec![FollowerAction::Log { zxid: p.zxid, data: p.data.clone().unwrap_or_default() }];
                if self.observer {
                    // already committed: log it and apply it (the driver applies after the fsync)
                    out.push(FollowerAction::Apply(p.zxid));
                } else {
                    self.pending.push_back(p.zxid);
                }
                Ok(out)
            }
            (packet::COMMIT, false) => match self.pending.front() {
                Some(&z) if z == p.zxid => {
                    self.pending.pop_front();
                    Ok(vec![FollowerAction::Apply(z)])
                }
                other => Err(FollowerError::CommitMismatch {
                    got: p.zxid,
                    pending: other.map_or("none".to_string(), |z| format!("0x{z:x}")),
                }),
            },
            (packet::PING, _) | (packet::SYNC, _) => Ok(Vec::new()),
            (t, _) => Err(FollowerError::Unexpected(t)),
        }
    }

    /// The log made `zxid` durable: a follower acknowledges it.
    pub fn on_local_sync(&self, zxid: i64) -> Vec<FollowerAction> {
        if self.observer {
            return Vec::new();
        }
        vec![FollowerAction::Send(QuorumPacket::new(packet::ACK, zxid, None))]
    }
}

/// The designated leader a COMMITANDACTIVATE / INFORMANDACTIVATE starts with.
fn designated_of(p: &QuorumPacket) -> Result<u64, FollowerError> {
    let d = p.data.as_deref().unwrap_or(&[]);
    let b: [u8; 8] = d.get(..8).and_then(|b| b.try_into().ok()).ok_or(FollowerError::Unexpected(p.packet_type))?;
    Ok(u64::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const E6: i64 = 6 << 32;

    fn p(t: i32, z: i64) -> QuorumPacket {
        QuorumPacket::new(t, z, Some(vec![z as u8]))
    }

    #[test]
    fn follower_logs_acks_and_applies_in_order() {
        let mut f = FollowerBroadcast::new(E6, false);
        assert_eq!(
            f.on_packet(&p(packet::PROPOSAL, E6 | 1)).unwrap(),
            vec![FollowerAction::Log { zxid: E6 | 1, data: vec![1] }]
        );
        assert_eq!(f.on_local_sync(E6 | 1), vec![FollowerAction::Send(QuorumPacket::new(packet::ACK, E6 | 1, None))]);
        f.on_packet(&p(packet::PROPOSAL, E6 | 2)).unwrap();
        assert_eq!(f.on_packet(&p(packet::COMMIT, E6 | 1)).unwrap(), vec![FollowerAction::Apply(E6 | 1)]);
        assert!(matches!(f.on_packet(&p(packet::COMMIT, E6 | 3)), Err(FollowerError::CommitMismatch { .. })));
        // Backwards or repeated: refused. Ahead with a gap (a leader that skipped its
        // counter forward): taken, as ZooKeeper's Follower does.
        assert!(matches!(f.on_packet(&p(packet::PROPOSAL, E6 | 2)), Err(FollowerError::OutOfOrder { .. })));
        assert!(matches!(f.on_packet(&p(packet::PROPOSAL, E6 | 1)), Err(FollowerError::OutOfOrder { .. })));
        assert_eq!(f.on_packet(&p(packet::PROPOSAL, E6 | 0xffff_fff0)).unwrap().len(), 1);
        assert_eq!(f.last_zxid(), E6 | 0xffff_fff0);
        assert_eq!(f.on_packet(&p(packet::COMMIT, E6 | 2)).unwrap(), vec![FollowerAction::Apply(E6 | 2)]);
        assert_eq!(
            f.on_packet(&p(packet::COMMIT, E6 | 0xffff_fff0)).unwrap(),
            vec![FollowerAction::Apply(E6 | 0xffff_fff0)]
        );
    }

    #[test]
    fn activations_commit_then_activate() {
        let mut f = FollowerBroadcast::new(E6, false);
        f.on_packet(&p(packet::PROPOSAL, E6 | 1)).unwrap();
        let cna = QuorumPacket::new(packet::COMMITANDACTIVATE, E6 | 1, Some(2u64.to_be_bytes().to_vec()));
        assert_eq!(
            f.on_packet(&cna).unwrap(),
            vec![FollowerAction::Apply(E6 | 1), FollowerAction::Activate { zxid: E6 | 1, designated: 2 }]
        );
        let mut o = FollowerBroadcast::new(E6, true);
        let mut data = 3u64.to_be_bytes().to_vec();
        data.push(7);
        let out = o.on_packet(&QuorumPacket::new(packet::INFORMANDACTIVATE, E6 | 1, Some(data))).unwrap();
        assert_eq!(
            out,
            vec![
                FollowerAction::Log { zxid: E6 | 1, data: vec![7] },
                FollowerAction::Apply(E6 | 1),
                FollowerAction::Activate { zxid: E6 | 1, designated: 3 }
            ]
        );
        assert!(o.on_packet(&QuorumPacket::new(packet::INFORMANDACTIVATE, E6 | 2, Some(vec![1]))).is_err(), "short");
    }

    #[test]
    fn observer_logs_and_applies_informs_without_acking() {
        let mut o = FollowerBroadcast::new(E6, true);
        let out = o.on_packet(&p(packet::INFORM, E6 | 1)).unwrap();
        assert_eq!(out, vec![FollowerAction::Log { zxid: E6 | 1, data: vec![1] }, FollowerAction::Apply(E6 | 1)]);
        assert!(o.on_local_sync(E6 | 1).is_empty());
        assert!(matches!(o.on_packet(&p(packet::PROPOSAL, E6 | 2)), Err(FollowerError::Unexpected(_))));
    }
}
