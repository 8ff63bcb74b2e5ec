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
mod tests {
    use super::*;
    use crate::verifier::QuorumServer;

    /// Voters 1..=3, observer 4.
    fn view() -> QuorumMaj {
        let mut servers: Vec<QuorumServer> =
            (1..=3).map(|i| QuorumServer::parse(i, &format!("127.0.0.{i}:2888:3888")).expect("server line")).collect();
        servers.push(QuorumServer::parse(4, "127.0.0.4:2888:3888:observer").expect("observer line"));
        QuorumMaj::new(servers, 0)
    }

    fn fle(sid: u64, zxid: i64) -> FastLeaderElection {
        FastLeaderElection::new(sid, view(), zxid, 1, ElectionConfig::default())
    }

    #[test]
    fn a_newer_configuration_is_adopted_only_with_reconfig_and_restarts_the_round() {
        let mut newer = view();
        newer.version = 0x100000000;
        newer.servers.insert(5, QuorumServer::parse(5, "127.0.0.5:2888:3888").unwrap());
        let mut n = note(PeerState::Looking, 2, 5, 1, 1);
        n.config = newer.to_text().into_bytes();
        let mut off = fle(1, 5);
        off.start(5, 1, 0);
        assert!(!off.on_notification(2, &n, 1).iter().any(|a| matches!(a, Action::NewerConfig(_))));
        let mut on =
            FastLeaderElection::new(1, view(), 5, 1, ElectionConfig { reconfig_enabled: true, ..Default::default() });
        on.start(5, 1, 0);
        let out = on.on_notification(2, &n, 1);
        assert_eq!(out, vec![Action::NewerConfig(newer.clone())]);
        let clock = on.logical_clock();
        let out = on.set_view(newer, 2);
        assert_eq!(on.view().version, 0x100000000);
        assert_eq!(on.logical_clock(), clock + 1, "a new round");
        assert_eq!(sends(&out).len(), 4, "to the 4 voters of the new view");
        assert!(on.on_notification(2, &n, 3).iter().all(|a| !matches!(a, Action::NewerConfig(_))), "not newer now");
    }

    #[test]
    fn a_member_removed_by_a_reconfiguration_does_not_answer_its_own_stale_notification() {
        // cluster_sim seed 0 with reconfigurations: member 2 looks as a voter (notifying
        // itself too), adopts a newer configuration without it, then receives its own
        // notification of the old round. Answering it would send one more to itself, and so
        // on, without end.
        let cfg = ElectionConfig { reconfig_enabled: true, ..Default::default() };
        let mut m = FastLeaderElection::new(2, view(), 0x100000003, 1, cfg);
        let out = sends(&m.start(0x100000003, 1, 0));
        let (_, own) = out.iter().find(|(to, _)| *to == 2).cloned().expect("a voter notifies itself");
        let mut without_2 = view();
        without_2.servers.remove(&2);
        without_2.version = 0x20000000d;
        let restarted = sends(&m.set_view(without_2, 1));
        assert!(restarted.iter().all(|(to, _)| *to != 2), "a non-voter notifies the voters only");
        assert!(m.on_notification(2, &own, 2).is_empty(), "its own old notification is not answered");
        // Another non-voter is still answered at once.
        assert_eq!(sends(&m.on_notification(4, &own, 3)).len(), 1);
    }

    fn sends(actions: &[Action]) -> Vec<(u64, Notification)> {
        actions
            .iter()
            .filter_map(|a| if let Action::Send { to, n } = a { Some((*to, n.clone())) } else { None })
            .collect()
    }

    #[test]
    fn a_member_absent_from_the_view_follows_as_a_non_voting_participant() {
        // A joiner (5) before its `reconfig -add`: it proposes no one, but once the
        // established ensemble answers it FOLLOWS (`learningState` of a PARTICIPANT), and
        // stays FOLLOWING, answering as a voter would, once a reconfig adds it.
        let mut j = fle(5, 0);
        assert_eq!(j.learner_type(), LearnerType::Participant);
        j.start(0, 0, 0);
        let established = |s| note(s, 3, 0x100000003, 1, 1);
        j.on_notification(1, &established(PeerState::Following), 1);
        let out = j.on_notification(3, &established(PeerState::Leading), 2);
        assert!(out.iter().any(|a| matches!(a, Action::Decided { state: PeerState::Following, .. })), "{out:?}");
        let mut added = view();
        added.version = 0x100000009;
        added.servers.insert(5, QuorumServer::parse(5, "127.0.0.5:2888:3888").unwrap());
        j.set_view(added, 3);
        let out = sends(&j.on_notification(2, &note(PeerState::Looking, 2, 0x100000002, 2, 1), 4));
        assert_eq!(out.first().map(|(to, n)| (*to, n.state, n.leader)), Some((2, peer_state::FOLLOWING, 3)));
    }

    fn note(state: PeerState, leader: i64, zxid: i64, election_epoch: i64, peer_epoch: i64) -> Notification {
        Notification {
            state: state.wire(),
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version: zab_jute::quorum::NOTIFICATION_VERSION,
            config: Vec::new(),
        }
    }

    #[test]
    fn an_observer_proposes_no_one_and_notifies_only_the_voters() {
        // FastLeaderElection.getInitId / getInitLastLoggedZxid / getPeerEpoch for an OBSERVER.
        let mut o = fle(4, 0x100000007);
        assert_eq!(o.learner_type(), LearnerType::Observer);
        let out = sends(&o.start(0x100000007, 1, 0));
        assert_eq!(out.iter().map(|(to, _)| *to).collect::<Vec<_>>(), vec![1, 2, 3], "voters only, not itself");
        for (_, n) in &out {
            assert_eq!((n.state, n.leader, n.zxid, n.peer_epoch), (peer_state::LOOKING, i64::MIN, i64::MIN, i64::MIN));
            assert_eq!(n.election_epoch, 1);
        }
    }

    #[test]
    fn a_voter_answers_an_observer_with_its_current_vote_and_does_not_count_it() {
        let mut v = fle(1, 0x100000005);
        v.start(0x100000005, 1, 0);
        // The observer (and a stranger, sid 9) claim a huge zxid for voter 1.
        for from in [4, 9] {
            let out = v.on_notification(from, &note(PeerState::Looking, 1, 0x100000005, 1, 1), 1);
            let answers = sends(&out);
            assert_eq!(answers.len(), 1);
            let (to, n) = &answers[0];
            assert_eq!(*to, from);
            // WorkerReceiver: current vote (still the initial one) with the logical clock and state.
            assert_eq!((n.state, n.leader, n.zxid, n.election_epoch, n.peer_epoch), (0, 1, 0x100000005, 1, 1));
        }
        // Only its own vote counts: nothing to finalize.
        v.on_notification(1, &note(PeerState::Looking, 1, 0x100000005, 1, 1), 2);
        assert!(v.on_tick(10_000).iter().all(|a| !matches!(a, Action::Decided { .. })), "observers gave no quorum");
        assert_eq!(v.state(), PeerState::Looking);
    }

    #[test]
    fn an_observer_decides_observing_from_the_voters_answers() {
        let mut o = fle(4, 0);
        o.start(0, 0, 0);
        // Looking voters answer with their own initial votes: the observer adopts the best,
        // but no quorum agrees, so it keeps looking.
        for sid in 1..=3 {
            o.on_notification(sid, &note(PeerState::Looking, sid as i64, 0x100000000 + sid as i64, 1, 1), 1);
        }
        assert_eq!(o.current_vote().leader, 3);
        assert!(o.on_tick(1_000).iter().all(|a| !matches!(a, Action::Decided { .. })));
        // Decided voters answer FOLLOWING/LEADING 3.
        let established = |s| note(s, 3, 0x100000003, 1, 1);
        assert!(o.on_notification(1, &established(PeerState::Following), 2_000).is_empty());
        let out = o.on_notification(3, &established(PeerState::Leading), 2_001);
        let decided =
            out.iter().find_map(|a| if let Action::Decided { state, vote } = a { Some((*state, *vote)) } else { None });
        assert_eq!(decided.map(|(s, v)| (s, v.leader)), Some((PeerState::Observing, 3)));
        assert_eq!(o.state(), PeerState::Observing);
        // Once observing it tells a looking voter who leads, in state OBSERVING.
        let out = sends(&o.on_notification(2, &note(PeerState::Looking, 2, 0x100000002, 2, 1), 3_000));
        assert_eq!(out.first().map(|(to, n)| (*to, n.state, n.leader)), Some((2, peer_state::OBSERVING, 3)));
    }

    #[test]
    fn established_votes_compare_by_leader_and_peer_epoch() {
        // ZOOKEEPER-1805: a follower and the leader may report different zxids and election
        // epochs (QuorumPeer.updateElectionVote); a joiner still recognises the leader.
        let mut j = fle(2, 0x100000001);
        j.start(0x100000001, 1, 0);
        assert!(j.on_notification(1, &note(PeerState::Following, 3, 0x100000003, 4, 2), 1).is_empty());
        let out = j.on_notification(3, &note(PeerState::Leading, 3, 0x200000000, 5, 2), 2);
        assert!(out
            .iter()
            .any(|a| matches!(a, Action::Decided { state: PeerState::Following, vote } if vote.leader == 3)));
        // A different peer epoch is a different ensemble: no decision.
        let mut k = fle(2, 0x100000001);
        k.start(0x100000001, 1, 0);
        k.on_notification(1, &note(PeerState::Following, 3, 0x100000003, 4, 1), 1);
        let out = k.on_notification(3, &note(PeerState::Leading, 3, 0x200000000, 5, 2), 2);
        assert!(out.iter().all(|a| !matches!(a, Action::Decided { .. })));
    }

    #[test]
    fn votes_for_non_voters_and_minus_one_zxids_are_ignored() {
        let mut v = fle(1, 0x100000001);
        v.start(0x100000001, 1, 0);
        // A vote for the observer (leader 4) or with zxid -1 changes nothing.
        assert!(v.on_notification(2, &note(PeerState::Looking, 4, 0x900000000, 1, 9), 1).is_empty());
        assert!(v.on_notification(2, &note(PeerState::Looking, 2, -1, 1, 9), 1).is_empty());
        assert_eq!(v.current_vote().leader, 1);
        // A voter behind is answered with our proposal.
        let mut w = fle(1, 0x100000001);
        w.start(0, 1, 0);
        w.start(0x100000001, 1, 0);
        let out = sends(&w.on_notification(2, &note(PeerState::Looking, 2, 0x100000000, 1, 1), 1));
        assert_eq!(out.first().map(|(to, n)| (*to, n.election_epoch, n.leader)), Some((2, 2, 1)));
    }

    #[test]
    fn a_designated_role_is_what_the_member_answers_with() {
        // cluster_sim seed 1094 with reconfigurations: 1 and 2 followed 3; a reconfig
        // removing 3 designated 1, and both took their roles without an election. 3, now
        // outside the configuration, looks for the ensemble: it must hear "1 leads", not
        // the votes for 3 of the election before.
        let mut one = fle(1, 0x100000001f);
        let mut two = fle(2, 0x100000001f);
        for m in [&mut one, &mut two] {
            m.start(0x100000001f, 2, 0);
            for sid in [1, 2, 3] {
                m.on_notification(sid, &note(PeerState::Looking, 3, 0x100000001f, 1, 2), 1);
            }
            assert!(m.on_tick(1_000).iter().any(|a| matches!(a, Action::Decided { .. })));
            assert_eq!(m.current_vote().leader, 3);
        }
        one.designated(PeerState::Leading, 1, 0x200000025);
        two.designated(PeerState::Following, 1, 0x200000025);
        one.update_election_vote(3);
        two.update_election_vote(3);
        let looking = note(PeerState::Looking, i64::MIN, i64::MIN, 4, i64::MIN);
        let a1 = sends(&one.on_notification(2, &looking, 2_000));
        let a2 = sends(&two.on_notification(1, &looking, 2_000));
        assert_eq!(
            a1.first().map(|(_, n)| (n.state, n.leader, n.zxid, n.peer_epoch)),
            Some((peer_state::LEADING, 1, 0x200000025, 3))
        );
        assert_eq!(a2.first().map(|(_, n)| (n.state, n.leader, n.peer_epoch)), Some((peer_state::FOLLOWING, 1, 3)));
        // A member looking for the ensemble decides on 1 from their answers.
        let mut three = fle(3, 0x200000026);
        three.start(0x200000026, 2, 2_000);
        three.on_notification(2, &a2[0].1, 2_001);
        let out = three.on_notification(1, &a1[0].1, 2_002);
        let decided =
            out.iter().find_map(|a| if let Action::Decided { vote, .. } = a { Some(vote.leader) } else { None });
        assert_eq!(decided, Some(1));
    }

    #[test]
    fn update_election_vote_changes_the_answer() {
        let mut v = fle(3, 0x100000003);
        v.start(0x100000003, 1, 0);
        for sid in [1, 2, 3] {
            v.on_notification(sid, &note(PeerState::Looking, 3, 0x100000003, 1, 1), 1);
        }
        let decided = v.on_tick(1_000);
        assert!(decided.iter().any(|a| matches!(a, Action::Decided { state: PeerState::Leading, .. })));
        v.update_election_vote(2);
        let out = sends(&v.on_notification(1, &note(PeerState::Looking, 1, 0, 1, 1), 2_000));
        assert_eq!(out.first().map(|(_, n)| (n.state, n.peer_epoch)), Some((peer_state::LEADING, 2)));
    }
}
