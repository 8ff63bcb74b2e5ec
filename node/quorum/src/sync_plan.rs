//! How the leader synchronises a learner (`LearnerHandler.syncFollower` and
//! `queueCommittedProposals`, ZooKeeper 3.8): from the learner's last zxid and the leader's
//! committed proposals (the in-memory window of `commitLogCount`, and past it the on-disk
//! log), choose DIFF, TRUNC, TRUNC+DIFF or SNAP and the packets that follow.
//!
//! The rules, in ZooKeeper's order:
//! 1. the learner is at the leader's last processed zxid: DIFF with that zxid;
//! 2. it is past the newest committed proposal (and not at a new epoch's zero counter):
//!    TRUNC to the newest committed proposal;
//! 3. it is inside the committed window: walk it. Its exact zxid found: DIFF carrying the
//!    *newest committed zxid*, then PROPOSAL/COMMIT for everything after. A newer proposal
//!    of the same epoch found first: TRUNC to the previous proposal, then the rest. One of
//!    a different epoch first: nothing — SNAP (TRUNC never crosses an epoch in 3.5+);
//! 4. it is older than the window and on-disk sync is enabled: the same walk over the log
//!    on disk, then over the window; a gap between them means SNAP;
//! 5. otherwise SNAP.

use zab_jute::quorum::packet;

use crate::zxid;

/// One packet of a sync, before NEWLEADER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPacket {
    Diff(i64),
    Trunc(i64),
    /// PROPOSAL of the committed txn with this zxid (its bytes come from the log).
    Proposal(i64),
    Commit(i64),
}

impl SyncPacket {
    pub fn packet_type(&self) -> i32 {
        match self {
            SyncPacket::Diff(_) => packet::DIFF,
            SyncPacket::Trunc(_) => packet::TRUNC,
            SyncPacket::Proposal(_) => packet::PROPOSAL,
            SyncPacket::Commit(_) => packet::COMMIT,
        }
    }
}

/// The leader's plan for one learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    /// True: send SNAP and a snapshot instead of `packets`.
    pub snap: bool,
    pub packets: Vec<SyncPacket>,
    /// The zxid the learner will be at once the packets are applied (where forwarding of
    /// new proposals starts).
    pub current_zxid: i64,
}

/// What the leader has.
pub struct LeaderLog<'a> {
    pub last_processed_zxid: i64,
    /// Zxids of the committed proposals kept in memory, ascending.
    pub committed: &'a [i64],
    /// Zxids readable from the on-disk log from the learner's zxid on, ascending, when
    /// on-disk sync is enabled and within `snapshotSizeFactor`; `None` otherwise.
    pub on_disk: Option<&'a [i64]>,
}

struct Walk {
    packets: Vec<SyncPacket>,
    need_op: bool,
    cross_epoch_trunc: bool,
}

impl Walk {
    /// `queueCommittedProposals`: returns the last zxid queued.
    fn queue(&mut self, zxids: &[i64], peer: i64, max_zxid: Option<i64>, last_committed: i64) -> i64 {
        let new_epoch_peer = zxid::counter(peer) == 0;
        let mut queued = peer;
        let mut prev = -1;
        for &z in zxids {
            if max_zxid.is_some_and(|m| z > m) {
                break;
            }
            if z < peer {
                prev = z;
                continue;
            }
            if self.need_op {
                if z == peer {
                    self.packets.push(SyncPacket::Diff(last_committed));
                    self.need_op = false;
                    continue;
                }
                if new_epoch_peer {
                    self.packets.push(SyncPacket::Diff(last_committed));
                    self.need_op = false;
                } else if z > peer {
                    if zxid::epoch(z) != zxid::epoch(peer) && !self.cross_epoch_trunc {
                        return queued;
                    }
                    self.packets.push(SyncPacket::Trunc(prev));
                    self.need_op = false;
                }
            }
            if z <= queued {
                continue;
            }
            self.packets.push(SyncPacket::Proposal(z));
            self.packets.push(SyncPacket::Commit(z));
            queued = z;
        }
        if self.need_op && new_epoch_peer {
            self.packets.push(SyncPacket::Diff(last_committed));
            self.need_op = false;
        }
        queued
    }
}

/// Choices beyond ZooKeeper 3.8's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// TRUNC (then DIFF) a learner whose newest txn is followed in the leader's history by
    /// one of a later epoch, instead of SNAP. Only safe for a learner that drops snapshots
    /// newer than the truncation point (a zab learner announcing
    /// [`zab_jute::quorum::ZAB_PROTOCOL_VERSION`]); 3.5+ never does it.
    pub cross_epoch_trunc: bool,
}

/// `syncFollower`.
pub fn plan(peer_last_zxid: i64, log: &LeaderLog<'_>) -> SyncPlan {
    plan_with(peer_last_zxid, log, PlanOptions::default())
}

/// `syncFollower` with [`PlanOptions`].
pub fn plan_with(peer_last_zxid: i64, log: &LeaderLog<'_>, opts: PlanOptions) -> SyncPlan {
    let new_epoch_peer = zxid::counter(peer_last_zxid) == 0;
    let (min, max) = match (log.committed.first(), log.committed.last()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => (log.last_processed_zxid, log.last_processed_zxid),
    };
    let mut w = Walk { packets: Vec::new(), need_op: true, cross_epoch_trunc: opts.cross_epoch_trunc };
    let mut current = peer_last_zxid;
    let mut need_snap = true;
    if log.last_processed_zxid == peer_last_zxid {
        w.packets.push(SyncPacket::Diff(peer_last_zxid));
        w.need_op = false;
        need_snap = false;
    } else if peer_last_zxid > max && !new_epoch_peer {
        w.packets.push(SyncPacket::Trunc(max));
        current = max;
        w.need_op = false;
        need_snap = false;
    } else if max >= peer_last_zxid && min <= peer_last_zxid {
        current = w.queue(log.committed, peer_last_zxid, None, max);
        need_snap = false;
    } else if let (true, Some(disk)) = (peer_last_zxid < min, log.on_disk) {
        if !disk.is_empty() {
            current = w.queue(disk, peer_last_zxid, Some(min), max);
            if current < min {
                // a gap between the end of the disk log and the window
                current = peer_last_zxid;
                w.packets.clear();
                w.need_op = true;
            } else {
                current = w.queue(log.committed, current, None, max);
                need_snap = false;
            }
        }
    }
    if w.need_op && !need_snap {
        need_snap = true;
    }
    if need_snap {
        return SyncPlan { snap: true, packets: Vec::new(), current_zxid: log.last_processed_zxid };
    }
    SyncPlan { snap: false, packets: w.packets, current_zxid: current }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SyncPacket::*;

    const E5: i64 = 5 << 32;
    const E6: i64 = 6 << 32;

    fn log(committed: &[i64]) -> LeaderLog<'_> {
        LeaderLog { last_processed_zxid: *committed.last().unwrap_or(&0), committed, on_disk: None }
    }

    #[test]
    fn diff_carries_the_newest_committed_zxid() {
        // Seed scenario: leader has 0x500000001..5, learner at 0x500000003.
        let c = [E5 | 1, E5 | 2, E5 | 3, E5 | 4, E5 | 5];
        let p = plan(E5 | 3, &log(&c));
        assert!(!p.snap);
        assert_eq!(p.packets, vec![Diff(E5 | 5), Proposal(E5 | 4), Commit(E5 | 4), Proposal(E5 | 5), Commit(E5 | 5)]);
        assert_eq!(p.current_zxid, E5 | 5);
    }

    #[test]
    fn up_to_date_learner_gets_an_empty_diff() {
        let c = [E5 | 1, E5 | 2];
        assert_eq!(plan(E5 | 2, &log(&c)).packets, vec![Diff(E5 | 2)]);
    }

    #[test]
    fn trunc_only_when_the_learner_is_ahead() {
        let c = [E5 | 1, E5 | 2];
        let l = LeaderLog { last_processed_zxid: E5 | 2, committed: &c, on_disk: None };
        let p = plan(E5 | 7, &l);
        assert_eq!(p.packets, vec![Trunc(E5 | 2)]);
        assert_eq!(p.current_zxid, E5 | 2);
    }

    #[test]
    fn trunc_diff_inside_one_epoch() {
        // The learner holds 0x500000003, which the leader does not; the next proposal the
        // leader has is of the same epoch.
        let c = [E5 | 1, E5 | 2, E5 | 4, E5 | 5];
        let p = plan(E5 | 3, &log(&c));
        assert_eq!(p.packets, vec![Trunc(E5 | 2), Proposal(E5 | 4), Commit(E5 | 4), Proposal(E5 | 5), Commit(E5 | 5)]);
    }

    #[test]
    fn trunc_never_crosses_an_epoch_so_snap() {
        // Seed scenario TRUNC+DIFF across epochs: B led epoch 5 and logged 0x500000003
        // alone; A leads epoch 6 with 0x500000001-2 and 0x600000001-2. 3.8 sends SNAP.
        let c = [E5 | 1, E5 | 2, E6 | 1, E6 | 2];
        let p = plan(E5 | 3, &log(&c));
        assert!(p.snap);
        assert_eq!(p.current_zxid, E6 | 2);
    }

    #[test]
    fn cross_epoch_trunc_diff_when_the_learner_can_take_it() {
        // The seeds' packet sequence: TRUNC 0x500000002, then epoch 6's proposals.
        let c = [E5 | 1, E5 | 2, E6 | 1, E6 | 2];
        let p = plan_with(E5 | 3, &log(&c), PlanOptions { cross_epoch_trunc: true });
        assert!(!p.snap);
        assert_eq!(p.packets, vec![Trunc(E5 | 2), Proposal(E6 | 1), Commit(E6 | 1), Proposal(E6 | 2), Commit(E6 | 2)]);
        assert_eq!(p.current_zxid, E6 | 2);
    }

    #[test]
    fn learner_older_than_the_window_gets_snap_or_the_disk_log() {
        let c = [E5 | 10, E5 | 11];
        assert!(plan(E5 | 3, &log(&c)).snap);
        let disk = [E5 | 3, E5 | 4, E5 | 5, E5 | 6, E5 | 7, E5 | 8, E5 | 9, E5 | 10];
        let l = LeaderLog { last_processed_zxid: E5 | 11, committed: &c, on_disk: Some(&disk) };
        let p = plan(E5 | 3, &l);
        assert!(!p.snap);
        assert_eq!(p.packets.first(), Some(&Diff(E5 | 11)));
        assert_eq!(p.packets.last(), Some(&Commit(E5 | 11)));
        assert_eq!(p.packets.len(), 1 + 2 * 8);
        // a hole between the disk log and the window: SNAP
        let holey = [E5 | 3, E5 | 4, E5 | 5];
        let l = LeaderLog { last_processed_zxid: E5 | 11, committed: &c, on_disk: Some(&holey) };
        assert!(plan(E5 | 3, &l).snap);
    }

    #[test]
    fn a_learner_at_a_new_epoch_gets_diff() {
        let c = [E5 | 1, E5 | 2, E6 | 1];
        let p = plan(E6, &log(&c));
        assert_eq!(p.packets, vec![Diff(E6 | 1), Proposal(E6 | 1), Commit(E6 | 1)]);
    }
}
