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
//!
//! Observers (and any member outside the voting view) follow ZooKeeper 3.8: their initial
//! vote is `(Long.MIN_VALUE, Long.MIN_VALUE, Long.MIN_VALUE)` (`getInitId`,
//! `getInitLastLoggedZxid`, `getPeerEpoch`), they notify only the voters, learn the leader
//! from the voters' answers, and decide OBSERVING (`learningState`). A voter answers a
//! non-voter at once with its current vote and never counts it (`WorkerReceiver`).
//!
//! Votes are compared as `Vote.equals` does: in full when either side is LOOKING, otherwise
//! by leader and peer epoch only (ZOOKEEPER-1805), and by leader alone when just one side
//! carries a notification version (ZOOKEEPER-1732, mixed ensembles).

use std::collections::{BTreeSet, HashMap};

use zab_jute::quorum::{peer_state, Notification};

use crate::verifier::{LearnerType, QuorumMaj};
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
    /// `reconfigEnabled`: a newer configuration in a notification is adopted
    /// ([`Action::NewerConfig`]); without it configurations never change here.
    pub reconfig_enabled: bool,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 60_000,
            reconfig_enabled: false,
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
    /// A notification carried a newer configuration than this member's while it looks for
    /// a leader (`WorkerReceiver`): it adopts it (`processReconfig`) and elects again with
    /// it ([`FastLeaderElection::set_view`]); this election round is over.
    NewerConfig(QuorumMaj),
}

/// A vote as it sits in `recvset` / `outofelection`, with the sender's state and the
/// version `Vote.equals` looks at.
#[derive(Debug, Clone, Copy)]
struct Ballot {
    vote: Vote,
    state: PeerState,
    version: i32,
}

impl Ballot {
    /// `Vote.equals`.
    fn same(&self, o: &Ballot) -> bool {
        if self.state == PeerState::Looking || o.state == PeerState::Looking {
            return self.vote.same(&o.vote);
        }
        if (self.version > 0) ^ (o.version > 0) {
            self.vote.leader == o.vote.leader
        } else {
            self.vote.leader == o.vote.leader && self.vote.peer_epoch == o.vote.peer_epoch
        }
    }
}

/// This member's learner type in `qv` (`QuorumPeer.updateLearnerType`): OBSERVER only when
/// listed as one; a member absent from it (a joiner before its `reconfig -add`, a removed
/// member) is a non-voting PARTICIPANT, which follows (FOLLOWING) as the runtime does.
fn learner_type_in(qv: &QuorumMaj, myid: u64) -> LearnerType {
    match qv.servers.get(&myid) {
        Some(s) if s.learner_type == LearnerType::Observer => LearnerType::Observer,
        _ => LearnerType::Participant,
    }
}

/// The initial vote of a non-voter: `Long.MIN_VALUE` as leader, zxid and peer epoch.
pub const NO_VOTE: i64 = i64::MIN;

pub struct FastLeaderElection {
    myid: u64,
    /// PARTICIPANT when this member votes in `qv`, OBSERVER otherwise.
    learner_type: LearnerType,
    qv: QuorumMaj,
    cfg: ElectionConfig,
    /// This member's own (last logged zxid, current epoch): its claim to lead.
    own_zxid: i64,
    own_epoch: i64,
    logical_clock: i64,
    proposal: (u64, i64, i64),
    state: PeerState,
    recv: HashMap<u64, Ballot>,
    out_of_election: HashMap<u64, Ballot>,
    finalize_at: Option<i64>,
    last_activity: i64,
    not_timeout: i64,
    /// The vote this member holds (`QuorumPeer.currentVote`): its own claim until the first
    /// decision, then the last decided vote, kept while a new election runs.
    current: Vote,
}

impl FastLeaderElection {
    /// A member of `qv` (an observer when `qv` does not count it as a voter) with its last
    /// logged zxid and current epoch (`QuorumPeer.startLeaderElection`).
    pub fn new(myid: u64, qv: QuorumMaj, own_zxid: i64, own_epoch: i64, cfg: ElectionConfig) -> FastLeaderElection {
        let current = Vote { leader: myid, zxid: own_zxid, election_epoch: -1, peer_epoch: own_epoch };
        let learner_type = learner_type_in(&qv, myid);
        let mut fle = FastLeaderElection {
            myid,
            learner_type,
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
        };
        fle.proposal = fle.init_vote();
        fle
    }

    pub fn learner_type(&self) -> LearnerType {
        self.learner_type
    }

    /// `(getInitId, getInitLastLoggedZxid, getPeerEpoch)`: this member's own claim, or
    /// [`NO_VOTE`] everywhere for a non-voter.
    fn init_vote(&self) -> (u64, i64, i64) {
        let id = if self.qv.is_voter(self.myid) { self.myid } else { NO_VOTE as u64 };
        match self.learner_type {
            LearnerType::Participant => (id, self.own_zxid, self.own_epoch),
            LearnerType::Observer => (id, NO_VOTE, NO_VOTE),
        }
    }

    /// `learningState`: FOLLOWING for a participant, OBSERVING for an observer.
    fn learning_state(&self) -> PeerState {
        match self.learner_type {
            LearnerType::Participant => PeerState::Following,
            LearnerType::Observer => PeerState::Observing,
        }
    }

    /// `QuorumPeer.updateElectionVote`: once a leader has established a new epoch, the vote
    /// this member answers with carries that epoch.
    pub fn update_election_vote(&mut self, new_epoch: i64) {
        self.current.peer_epoch = new_epoch;
    }

    /// A role a reconfiguration or a hand-over designated, taken without an election
    /// (`QuorumPeer.updateVote`, then `updateServerState`): the vote answered to others
    /// names `leader` from now on; its peer epoch comes once the new epoch is established
    /// ([`update_election_vote`](Self::update_election_vote)).
    pub fn designated(&mut self, state: PeerState, leader: u64, zxid: i64) {
        self.state = state;
        self.current = Vote { leader, zxid, election_epoch: -1, peer_epoch: -1 };
        self.finalize_at = None;
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

    /// The answer to a non-voter (`WorkerReceiver`): the current vote, this member's logical
    /// clock and its state, whether or not it is looking.
    fn answer_non_voter(&self) -> Notification {
        Notification {
            state: self.state.wire(),
            leader: self.current.leader as i64,
            zxid: self.current.zxid,
            election_epoch: self.logical_clock,
            peer_epoch: self.current.peer_epoch,
            version: zab_jute::quorum::NOTIFICATION_VERSION,
            config: self.qv.to_text().into_bytes(),
        }
    }

    /// Notifies every voter (`sendNotifications`); a voter includes itself.
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
        self.proposal = self.init_vote();
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

    /// `getVoteTracker(...).hasAllQuorums()`.
    fn quorum_for(&self, votes: &HashMap<u64, Ballot>, probe: &Ballot) -> bool {
        let acks: BTreeSet<u64> = votes.iter().filter(|(_, b)| b.same(probe)).map(|(s, _)| *s).collect();
        self.qv.contains_quorum(&acks)
    }

    /// `checkLeader`: the leader of an established ensemble must itself say it leads.
    fn check_leader(&self, votes: &HashMap<u64, Ballot>, leader: u64, election_epoch: i64) -> bool {
        if leader != self.myid {
            matches!(votes.get(&leader), Some(b) if b.state == PeerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    fn decide(&mut self, vote: Vote) -> Vec<Action> {
        self.state = if vote.leader == self.myid { PeerState::Leading } else { self.learning_state() };
        self.current = vote;
        self.finalize_at = None;
        vec![Action::Decided { state: self.state, vote }]
    }

    /// The configuration this member elects with.
    pub fn view(&self) -> &QuorumMaj {
        &self.qv
    }

    /// Elects with `qv` from now on (a reconfiguration activated): the member's learner
    /// type follows it, and an election in progress starts over (`restartLeaderElection`).
    pub fn set_view(&mut self, qv: QuorumMaj, now: i64) -> Vec<Action> {
        self.learner_type = learner_type_in(&qv, self.myid);
        self.qv = qv;
        if self.state == PeerState::Looking {
            return self.start(self.own_zxid, self.own_epoch, now);
        }
        Vec::new()
    }

    /// Handles one notification from `from`.
    pub fn on_notification(&mut self, from: u64, n: &Notification, now: i64) -> Vec<Action> {
        // WorkerReceiver: a newer configuration, while looking, is adopted first.
        if self.cfg.reconfig_enabled && self.state == PeerState::Looking && n.version > 1 {
            let newer = std::str::from_utf8(&n.config)
                .ok()
                .and_then(|t| crate::reconfig::parse_config(t).ok())
                .filter(|v| v.version > self.qv.version);
            if let Some(v) = newer {
                return vec![Action::NewerConfig(v)];
            }
        }
        // WorkerReceiver: a non-voter (an observer, a sid outside the view) is answered at
        // once with the current vote and never counted. Never this member itself: its own
        // notification, sent while it was a voter and received after a reconfiguration made
        // it a non-voter, would be answered to itself, and that answer again, forever at
        // the same instant. ZooKeeper never sees one: a non-voter notifies only the voters
        // (sendNotifications), and adopting a newer configuration restarts the election
        // with a new QuorumCnxManager, whose receive queue starts empty.
        if !self.qv.is_voter(from) {
            if from == self.myid {
                return Vec::new();
            }
            return vec![Action::Send { to: from, n: self.answer_non_voter() }];
        }
        let Some(sender_state) = PeerState::from_wire(n.state) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.state != PeerState::Looking {
            // Decided: a member still looking is told who leads (ZOOKEEPER-1732: the
            // established ensemble answers with its current vote).
            if sender_state == PeerState::Looking {
                out.push(Action::Send { to: from, n: self.notification() });
            }
            return out;
        }
        self.last_activity = now;
        if sender_state == PeerState::Looking && n.election_epoch < self.logical_clock {
            // WorkerReceiver: a looking member behind us is told our proposal; lookForLeader
            // then drops the notification.
            out.push(Action::Send { to: from, n: self.notification() });
            if let Some(at) = self.finalize_at {
                self.finalize_at = Some(at.max(now + self.cfg.finalize_wait_ms));
            }
            return out;
        }
        // lookForLeader only counts votes for a voter (`validVoter(n.leader)`).
        let leader = n.leader as u64;
        if !self.qv.is_voter(leader) {
            return out;
        }
        // "Ignoring notification as our zxid is -1" / "from member with -1 zxid".
        if sender_state == PeerState::Looking && (self.init_vote().1 == -1 || n.zxid == -1) {
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
                    let own = self.init_vote();
                    self.proposal = if self.better(leader, n.zxid, n.peer_epoch, own) {
                        (leader, n.zxid, n.peer_epoch)
                    } else {
                        own
                    };
                    out.extend(self.send_all());
                } else if self.better(leader, n.zxid, n.peer_epoch, self.proposal) {
                    self.proposal = (leader, n.zxid, n.peer_epoch);
                    out.extend(self.send_all());
                }
                self.recv.insert(from, Ballot { vote, state: sender_state, version: 0 });
                let mine = Ballot { vote: self.current_vote(), state: PeerState::Looking, version: 0 };
                if self.quorum_for(&self.recv, &mine) && self.finalize_at.is_none() {
                    self.finalize_at = Some(now + self.cfg.finalize_wait_ms);
                }
            }
            PeerState::Observing => {}
            PeerState::Following | PeerState::Leading => {
                // receivedFollowingNotification: recvset keeps the vote without its version,
                // outofelection with it; the probe carries the notification's version.
                let probe = Ballot { vote, state: sender_state, version: n.version };
                if n.election_epoch == self.logical_clock {
                    self.recv.insert(from, Ballot { version: 0, ..probe });
                    if self.quorum_for(&self.recv, &probe) && self.check_leader(&self.recv, leader, n.election_epoch) {
                        out.extend(self.decide(vote));
                        return out;
                    }
                }
                self.out_of_election.insert(from, probe);
                if self.quorum_for(&self.out_of_election, &probe)
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

#[cfg(test)]
mod tests;
