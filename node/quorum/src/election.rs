//! FastLeaderElection as a state machine (`FastLeaderElection.lookForLeader` and its
//! `WorkerReceiver`), driven by the server (or a simulator) with notifications and ticks.
//!
//! - [`FastLeaderElection::start`] begins an election: the logical clock moves on, the
//!   member proposes itself and notifies every voter (itself included, as ZooKeeper does;
//!   the driver delivers that one back).
//! - [`FastLeaderElection::on_notification`] handles one notification: adopts better
//!   proposals (peer epoch, then zxid, then sid), counts votes, and answers members that
//!   are behind or still looking while this one has decided.
//! - [`FastLeaderElection::on_tick`] finishes an election once a quorum agrees and nothing
//!   better arrived for `finalizeWait`, and re-sends notifications after silence, backing
//!   off to `maxNotificationInterval`.
//!
//! Time is milliseconds passed in by the caller.

use std::collections::{BTreeSet, HashMap};

use zab_jute::quorum::{peer_state, Notification};

use crate::verifier::QuorumMaj;
use crate::vote::{total_order, Vote};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl PeerState {
    pub fn wire(self) -> i32 {
        match self {
            PeerState::Looking => peer_state::LOOKING,
            PeerState::Following => peer_state::FOLLOWING,
            PeerState::Leading => peer_state::LEADING,
            PeerState::Observing => peer_state::OBSERVING,
        }
    }

    pub fn from_wire(s: i32) -> Option<PeerState> {
        Some(match s {
            peer_state::LOOKING => PeerState::Looking,
            peer_state::FOLLOWING => PeerState::Following,
            peer_state::LEADING => PeerState::Leading,
            peer_state::OBSERVING => PeerState::Observing,
            _ => return None,
        })
    }
}

/// Timing settings (ZooKeeper's defaults: 200 ms, 200 ms, 60 s).
#[derive(Debug, Clone, Copy)]
pub struct ElectionConfig {
    pub finalize_wait_ms: i64,
    pub min_notification_interval_ms: i64,
    pub max_notification_interval_ms: i64,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 60_000,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        to: u64,
        n: Notification,
    },
    /// The election is over for this member.
    Decided {
        state: PeerState,
        vote: Vote,
    },
}

pub struct FastLeaderElection {
    myid: u64,
    qv: QuorumMaj,
    cfg: ElectionConfig,
    /// This member's own (last logged zxid, current epoch): its claim to lead.
    own_zxid: i64,
    own_epoch: i64,
    logical_clock: i64,
    proposal: (u64, i64, i64),
    state: PeerState,
    recv: HashMap<u64, (Vote, PeerState)>,
    out_of_election: HashMap<u64, (Vote, PeerState)>,
    finalize_at: Option<i64>,
    last_activity: i64,
    not_timeout: i64,
    /// The vote this member holds once decided.
    current: Vote,
}

impl FastLeaderElection {
    pub fn new(myid: u64, qv: QuorumMaj, own_zxid: i64, own_epoch: i64, cfg: ElectionConfig) -> FastLeaderElection {
        let current = Vote { leader: myid, zxid: own_zxid, election_epoch: 0, peer_epoch: own_epoch };
        FastLeaderElection {
            myid,
            qv,
            cfg,
            own_zxid,
            own_epoch,
            logical_clock: 0,
            proposal: (myid, own_zxid, own_epoch),
            state: PeerState::Looking,
            recv: HashMap::new(),
            out_of_election: HashMap::new(),
            finalize_at: None,
            last_activity: 0,
            not_timeout: cfg.min_notification_interval_ms,
            current,
        }
    }

    pub fn state(&self) -> PeerState {
        self.state
    }

    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// The vote this member stands by (its proposal while looking).
    pub fn current_vote(&self) -> Vote {
        if self.state == PeerState::Looking {
            let (leader, zxid, peer_epoch) = self.proposal;
            Vote { leader, zxid, election_epoch: self.logical_clock, peer_epoch }
        } else {
            self.current
        }
    }

    fn notification(&self) -> Notification {
        let v = self.current_vote();
        Notification {
            state: self.state.wire(),
            leader: v.leader as i64,
            zxid: v.zxid,
            election_epoch: v.election_epoch,
            peer_epoch: v.peer_epoch,
            version: zab_jute::quorum::NOTIFICATION_VERSION,
            config: self.qv.to_text().into_bytes(),
        }
    }

    fn send_all(&self) -> Vec<Action> {
        let n = self.notification();
        self.qv.voters().map(|to| Action::Send { to, n: n.clone() }).collect()
    }

    /// Starts (or restarts) an election with this member's (last logged zxid, epoch).
    pub fn start(&mut self, own_zxid: i64, own_epoch: i64, now: i64) -> Vec<Action> {
        self.own_zxid = own_zxid;
        self.own_epoch = own_epoch;
        self.state = PeerState::Looking;
        self.logical_clock += 1;
        self.proposal = (self.myid, own_zxid, own_epoch);
        self.recv.clear();
        self.out_of_election.clear();
        self.finalize_at = None;
        self.not_timeout = self.cfg.min_notification_interval_ms;
        self.last_activity = now;
        self.send_all()
    }

    fn better(&self, leader: u64, zxid: i64, epoch: i64, than: (u64, i64, i64)) -> bool {
        total_order((leader, zxid, epoch), than, self.qv.weight(leader))
    }

    fn quorum_for(&self, votes: &HashMap<u64, (Vote, PeerState)>, v: &Vote) -> bool {
        let acks: BTreeSet<u64> = votes.iter().filter(|(_, (x, _))| x.same(v)).map(|(s, _)| *s).collect();
        self.qv.contains_quorum(&acks)
    }

    /// `checkLeader`: the leader of an established ensemble must itself say it leads.
    fn check_leader(&self, votes: &HashMap<u64, (Vote, PeerState)>, leader: u64, election_epoch: i64) -> bool {
        if leader != self.myid {
            matches!(votes.get(&leader), Some((_, PeerState::Leading)))
        } else {
            self.logical_clock == election_epoch
        }
    }

    fn decide(&mut self, vote: Vote) -> Vec<Action> {
        self.state = if vote.leader == self.myid { PeerState::Leading } else { PeerState::Following };
        self.current = vote;
        self.finalize_at = None;
        vec![Action::Decided { state: self.state, vote }]
    }

    /// Handles one notification from `from`.
    pub fn on_notification(&mut self, from: u64, n: &Notification, now: i64) -> Vec<Action> {
        let Some(sender_state) = PeerState::from_wire(n.state) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // A non-voter (an observer) just learns our current vote.
        if !self.qv.is_voter(from) {
            out.push(Action::Send { to: from, n: self.notification() });
            return out;
        }
        if self.state != PeerState::Looking {
            // Decided: a member still looking is told who leads (ZOOKEEPER-1732: the
            // established ensemble answers with its current vote).
            if sender_state == PeerState::Looking {
                out.push(Action::Send { to: from, n: self.notification() });
            }
            return out;
        }
        self.last_activity = now;
        let leader = n.leader.max(0) as u64;
        if !self.qv.is_voter(leader) && sender_state == PeerState::Looking {
            return out;
        }
        let vote = Vote { leader, zxid: n.zxid, election_epoch: n.election_epoch, peer_epoch: n.peer_epoch };
        if let Some(at) = self.finalize_at {
            // Waiting out finalizeWait: only a better proposal matters.
            if sender_state == PeerState::Looking
                && n.election_epoch >= self.logical_clock
                && self.better(leader, n.zxid, n.peer_epoch, self.proposal)
            {
                self.finalize_at = None;
            } else if sender_state == PeerState::Looking {
                self.finalize_at = Some(at.max(now + self.cfg.finalize_wait_ms));
                return out;
            }
        }
        match sender_state {
            PeerState::Looking => {
                if n.election_epoch > self.logical_clock {
                    self.logical_clock = n.election_epoch;
                    self.recv.clear();
                    let own = (self.myid, self.own_zxid, self.own_epoch);
                    self.proposal = if self.better(leader, n.zxid, n.peer_epoch, own) {
                        (leader, n.zxid, n.peer_epoch)
                    } else {
                        own
                    };
                    out.extend(self.send_all());
                } else if n.election_epoch < self.logical_clock {
                    // A member behind: tell it where we are.
                    out.push(Action::Send { to: from, n: self.notification() });
                    return out;
                } else if self.better(leader, n.zxid, n.peer_epoch, self.proposal) {
                    self.proposal = (leader, n.zxid, n.peer_epoch);
                    out.extend(self.send_all());
                }
                self.recv.insert(from, (vote, sender_state));
                let mine = self.current_vote();
                if self.quorum_for(&self.recv, &mine) && self.finalize_at.is_none() {
                    self.finalize_at = Some(now + self.cfg.finalize_wait_ms);
                }
            }
            PeerState::Observing => {}
            PeerState::Following | PeerState::Leading => {
                if n.election_epoch == self.logical_clock {
                    self.recv.insert(from, (vote, sender_state));
                    if self.quorum_for(&self.recv, &vote) && self.check_leader(&self.recv, leader, n.election_epoch) {
                        out.extend(self.decide(vote));
                        return out;
                    }
                }
                self.out_of_election.insert(from, (vote, sender_state));
                if self.quorum_for(&self.out_of_election, &vote)
                    && self.check_leader(&self.out_of_election, leader, n.election_epoch)
                {
                    self.logical_clock = n.election_epoch;
                    out.extend(self.decide(vote));
                }
            }
        }
        out
    }

    /// Advances time: finishes the election after finalizeWait, or re-sends after silence.
    pub fn on_tick(&mut self, now: i64) -> Vec<Action> {
        if self.state != PeerState::Looking {
            return Vec::new();
        }
        if let Some(at) = self.finalize_at {
            if now >= at {
                let v = self.current_vote();
                return self.decide(v);
            }
            return Vec::new();
        }
        if now - self.last_activity >= self.not_timeout {
            self.last_activity = now;
            self.not_timeout = (self.not_timeout * 2).min(self.cfg.max_notification_interval_ms);
            return self.send_all();
        }
        Vec::new()
    }
}
