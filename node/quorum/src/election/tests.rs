//! FastLeaderElection's tests: one member's state machine fed notifications (lookForLeader's
//! rules, the WorkerReceiver's answers).

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
    actions.iter().filter_map(|a| if let Action::Send { to, n } = a { Some((*to, n.clone())) } else { None }).collect()
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
    assert!(out.iter().any(|a| matches!(a, Action::Decided { state: PeerState::Following, vote } if vote.leader == 3)));
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
    let decided = out.iter().find_map(|a| if let Action::Decided { vote, .. } = a { Some(vote.leader) } else { None });
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
