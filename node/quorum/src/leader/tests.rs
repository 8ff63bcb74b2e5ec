use super::*;
use crate::broadcast::BroadcastError;
use crate::discovery::LearnerDiscovery;
use crate::verifier::QuorumServer;

const E1: i64 = 1 << 32;

fn settings() -> LeaderSettings {
    LeaderSettings {
        myid: 3,
        view: QuorumMaj::new((1..=3).map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0),
        init_ms: 1_000,
        sync_ms: 500,
        commit_log_count: 500,
        cross_epoch_trunc: false,
        reconfig_enabled: true,
    }
}

fn hello(sid: u64) -> QuorumPacket {
    LearnerDiscovery { myid: sid, accepted_epoch: 0, current_epoch: 0, last_logged_zxid: 0 }.hello(false, 0)
}

fn sends(out: &[LeaderAction]) -> Vec<(ConnId, i32, i64)> {
    out.iter()
        .filter_map(|a| match a {
            LeaderAction::Send { conn, packet } => Some((*conn, packet.packet_type, packet.zxid)),
            _ => None,
        })
        .collect()
}

/// A learner on connection 10 (sid 1) through discovery and sync to broadcast.
fn established() -> Leader {
    let (mut l, out) = Leader::start(settings(), 0, 0, 0, VecDeque::new(), 0);
    assert!(out.is_empty());
    l.on_accept(10, 0);
    let out = l.on_packet(10, hello(1), 1);
    assert_eq!(out[0], LeaderAction::PersistAcceptedEpoch(1), "acceptedEpoch before LEADERINFO");
    assert_eq!(sends(&out), vec![(10, packet::LEADERINFO, E1)]);
    let ack_epoch = QuorumPacket::new(packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec()));
    let out = l.on_packet(10, ack_epoch, 2);
    assert_eq!(
        out,
        vec![LeaderAction::PersistCurrentEpoch(1), LeaderAction::StartServer { start_zxid: E1 }],
        "a quorum (3 and 1) acknowledged epoch 1"
    );
    assert_eq!(l.server_started(3), vec![LeaderAction::PrepareSync { conn: 10, read_log_from: None }]);
    let out = l.sync_learner(10, 0, None);
    assert_eq!(sends(&out), vec![(10, packet::DIFF, 0), (10, packet::NEWLEADER, E1)]);
    let out = l.on_packet(10, QuorumPacket::new(packet::ACK, E1, None), 4);
    // ZOOKEEPER-1783: the initial configuration (version 0) takes the NEWLEADER zxid.
    assert!(matches!(&out[0], LeaderAction::Activated { zxid: E1, view, designated: 3 } if view.version == E1));
    assert_eq!(out[1], LeaderAction::StartServing);
    assert_eq!(l.config().version, E1);
    assert_eq!(sends(&out), vec![(10, packet::UPTODATE, -1)]);
    assert!(l.is_serving());
    l
}

#[test]
fn a_write_commits_once_a_quorum_has_it_durable() {
    let mut l = established();
    let z = l.next_zxid().unwrap();
    assert_eq!(z, E1 | 1);
    let out = l.propose(z, Arc::new(vec![7])).unwrap();
    assert_eq!(sends(&out), vec![(10, packet::PROPOSAL, z)]);
    assert!(l.logged(&[z]).iter().all(|a| !matches!(a, LeaderAction::CommitUpTo(_))), "one ACK of 3 is no quorum");
    let out = l.on_packet(10, QuorumPacket::new(packet::ACK, z, None), 5);
    assert_eq!(sends(&out), vec![(10, packet::COMMIT, z)]);
    assert!(out.contains(&LeaderAction::CommitUpTo(z)));
    assert_eq!(l.committed_log().len(), 1);
}

#[test]
fn pings_go_to_synced_learners_and_a_lost_quorum_ends_the_epoch() {
    let mut l = established();
    let out = l.on_tick(100).unwrap();
    assert_eq!(sends(&out), vec![(10, packet::PING, E1)]);
    assert!(matches!(l.on_tick(600), Err(LeaderError::QuorumLost(_))), "1 silent for longer than syncLimit");
    assert!(l.on_tick(601).is_err(), "the failure stays");
}

#[test]
fn a_reconnecting_learner_replaces_its_older_connection() {
    let mut l = established();
    l.on_accept(11, 10);
    let out = l.on_packet(11, hello(1), 10);
    assert!(out.contains(&LeaderAction::Close { conn: 10 }));
    assert_eq!(l.learners().len(), 1);
    assert_eq!(l.learners()[0].conn, 11);
    assert!(l.on_closed(10).is_empty(), "the old handler is gone already");
    assert_eq!(l.end(), vec![LeaderAction::Close { conn: 11 }]);
}

/// Found by the cluster simulator (seed 3267, 5 members): a member that acknowledged
/// NEWLEADER and then reconnected got UPTODATE on its new connection, before any sync
/// packet, once NEWLEADER had its quorum. UPTODATE goes only to a connection that
/// acknowledged NEWLEADER; the new one gets it after its own ACK.
#[test]
fn uptodate_goes_only_to_connections_that_acknowledged_newleader() {
    let mut s = settings();
    s.view = view(&[1, 2, 3, 4, 5], 0);
    let (mut l, _) = Leader::start(s, 0, 0, 0, VecDeque::new(), 0);
    let ack_epoch = || QuorumPacket::new(packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec()));
    for (conn, sid) in [(10, 1), (12, 2)] {
        l.on_accept(conn, 0);
        l.on_packet(conn, hello(sid), 1);
        l.on_packet(conn, ack_epoch(), 2);
    }
    l.server_started(3);
    for conn in [10, 12] {
        l.sync_learner(conn, 0, None);
    }
    assert!(ack(&mut l, 10, E1, 4).is_empty(), "3 and 1: no quorum of 5 yet");
    // 1 reconnects: its new connection is in discovery when the quorum forms.
    l.on_accept(14, 5);
    l.on_packet(14, hello(1), 5);
    let out = ack(&mut l, 12, E1, 6);
    assert!(out.contains(&LeaderAction::StartServing), "3, 1 and 2 acknowledged NEWLEADER");
    assert_eq!(sends(&out), vec![(12, packet::UPTODATE, -1)], "nothing on 1's new connection");
    l.on_packet(14, ack_epoch(), 7);
    let out = l.sync_learner(14, 0, None);
    assert_eq!(sends(&out)[0].1, packet::DIFF, "its first sync packet");
    assert_eq!(sends(&ack(&mut l, 14, E1, 8)), vec![(14, packet::UPTODATE, -1)]);
}

#[test]
fn a_learners_sync_is_answered_after_what_was_proposed_before_it() {
    let mut l = established();
    let z = l.next_zxid().unwrap();
    l.propose(z, Arc::new(vec![1])).unwrap();
    let req = ForwardedRequest { session_id: 5, cxid: 1, op_type: OP_SYNC }.encode(&[]);
    let out = l.on_packet(10, QuorumPacket::new(packet::REQUEST, -1, Some(req)), 6);
    assert!(sends(&out).is_empty(), "waits for 0x100000001");
    l.logged(&[z]);
    let out = l.on_packet(10, QuorumPacket::new(packet::ACK, z, None), 7);
    assert_eq!(sends(&out), vec![(10, packet::COMMIT, z), (10, packet::SYNC, 0)]);
    let write = ForwardedRequest { session_id: 5, cxid: 2, op_type: 1 }.encode(&[]);
    let out = l.on_packet(10, QuorumPacket::new(packet::REQUEST, -1, Some(write)), 8);
    assert!(matches!(&out[..], [LeaderAction::Forwarded { sid: 1, .. }]));
}

fn view(ids: &[u64], version: i64) -> QuorumMaj {
    QuorumMaj::new(ids.iter().map(|i| QuorumServer::parse(*i, "h:1:2").unwrap()), version)
}

/// Member `sid` joins on `conn` (discovery and sync) while the leader serves.
fn join(l: &mut Leader, conn: ConnId, sid: u64, now: i64) {
    join_with(l, conn, hello(sid), now)
}

/// A zab member's FOLLOWERINFO (it understands HANDOVER).
fn zab_hello(sid: u64) -> QuorumPacket {
    LearnerDiscovery { myid: sid, accepted_epoch: 0, current_epoch: 0, last_logged_zxid: 0 }.hello_as(
        false,
        0,
        ZAB_PROTOCOL_VERSION,
    )
}

fn join_with(l: &mut Leader, conn: ConnId, hello: QuorumPacket, now: i64) {
    l.on_accept(conn, now);
    let out = l.on_packet(conn, hello, now);
    assert_eq!(sends(&out), vec![(conn, packet::LEADERINFO, E1)]);
    let ack_epoch = QuorumPacket::new(packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec()));
    let out = l.on_packet(conn, ack_epoch, now);
    assert_eq!(out, vec![LeaderAction::PrepareSync { conn, read_log_from: None }]);
    l.sync_learner(conn, 0, None);
    let out = l.on_packet(conn, QuorumPacket::new(packet::ACK, E1, None), now);
    assert_eq!(sends(&out), vec![(conn, packet::UPTODATE, -1)]);
}

#[test]
fn a_reconfig_commits_with_a_quorum_of_the_old_and_of_the_new_configuration() {
    let mut l = established();
    join(&mut l, 14, 4, 10);
    let next = view(&[1, 2, 3, 4], E1 | 1);
    assert!(l.is_quorum_synced(&next), "3, 1 and 4 are synced: 3 of 4");
    assert!(!l.is_quorum_synced(&view(&[1, 2, 4, 5, 6], E1 | 1)));
    let z = l.next_zxid().unwrap();
    let out = l.propose_reconfig(z, Arc::new(vec![9]), next.clone()).unwrap();
    assert_eq!(sends(&out), vec![(10, packet::PROPOSAL, z), (14, packet::PROPOSAL, z)], "the joiner gets it too");
    assert_eq!(l.next_config(), Some(&next));
    assert!(matches!(
        l.propose_reconfig(z + 1, Arc::new(vec![]), next.clone()),
        Err(LeaderError::Broadcast(BroadcastError::ReconfigInProgress(_)))
    ));
    l.logged(&[z]);
    let out = l.on_packet(10, QuorumPacket::new(packet::ACK, z, None), 11);
    assert!(!out.contains(&LeaderAction::CommitUpTo(z)), "old quorum (3, 1), but 2 of 4 in the new one");
    let out = l.on_packet(14, QuorumPacket::new(packet::ACK, z, None), 12);
    assert_eq!(sends(&out), vec![(10, packet::COMMITANDACTIVATE, z), (14, packet::COMMITANDACTIVATE, z)]);
    let LeaderAction::Send { packet: activate, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!(activate.data.as_deref(), Some(&3u64.to_be_bytes()[..]), "3 stays the leader");
    assert!(out.contains(&LeaderAction::Activated { zxid: z, view: Arc::new(next.clone()), designated: 3 }));
    assert_eq!(l.config(), &next);
    assert!(l.next_config().is_none());
    // A member synchronised from now on gets the configuration in force in NEWLEADER, not
    // the one the epoch started with (found by the simulator: led to by a hand-over, such a
    // member counted the older configuration's quorums).
    l.on_accept(16, 13);
    l.on_packet(16, hello(2), 13);
    let ack_epoch = QuorumPacket::new(packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec()));
    l.on_packet(16, ack_epoch, 13);
    let out = l.sync_learner(16, 0, None);
    let newleader = out.iter().find_map(|a| match a {
        LeaderAction::Send { packet, .. } if packet.packet_type == packet::NEWLEADER => packet.data.clone(),
        _ => None,
    });
    assert_eq!(newleader, Some(next.to_text().into_bytes()));
}

#[test]
fn a_reconfig_that_removes_the_leader_designates_a_follower_and_stops_commits() {
    let mut l = established();
    join(&mut l, 12, 2, 10);
    let next = view(&[1, 2], E1 | 1);
    let z = l.next_zxid().unwrap();
    l.propose_reconfig(z, Arc::new(vec![9]), next).unwrap();
    let z2 = z + 1;
    l.propose(z2, Arc::new(vec![1])).unwrap();
    l.logged(&[z, z2]);
    l.on_packet(12, QuorumPacket::new(packet::ACK, z, None), 11);
    l.on_packet(12, QuorumPacket::new(packet::ACK, z2, None), 11);
    let out = l.on_packet(10, QuorumPacket::new(packet::ACK, z, None), 12);
    let designated = out.iter().find_map(|a| match a {
        LeaderAction::Activated { designated, .. } => Some(*designated),
        _ => None,
    });
    assert_eq!(designated, Some(2), "2 acked the reconfig and what came after it");
    let out = l.on_packet(10, QuorumPacket::new(packet::ACK, z2, None), 13);
    assert!(!out.contains(&LeaderAction::CommitUpTo(z2)), "no longer allowed to commit");
}

#[test]
fn without_reconfig_newleader_carries_the_bumped_version_but_nothing_activates() {
    let mut s = settings();
    s.reconfig_enabled = false;
    let (mut l, _) = Leader::start(s, 0, 0, 0, VecDeque::new(), 0);
    l.on_accept(10, 0);
    l.on_packet(10, hello(1), 1);
    l.on_packet(10, QuorumPacket::new(packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec())), 2);
    l.server_started(3);
    let out = l.sync_learner(10, 0, None);
    let newleader = out.iter().find_map(|a| match a {
        LeaderAction::Send { packet, .. } if packet.packet_type == packet::NEWLEADER => packet.data.clone(),
        _ => None,
    });
    let text = String::from_utf8(newleader.unwrap()).unwrap();
    assert!(text.ends_with("version=100000000"), "{text}");
    let out = l.on_packet(10, QuorumPacket::new(packet::ACK, E1, None), 4);
    assert_eq!(out[0], LeaderAction::StartServing);
    assert_eq!(l.config().version, 0);
}

fn ack(l: &mut Leader, conn: ConnId, z: i64, now: i64) -> Vec<LeaderAction> {
    l.on_packet(conn, QuorumPacket::new(packet::ACK, z, None), now)
}

#[test]
fn a_hand_over_waits_for_the_follower_to_hold_everything_then_sends_handover() {
    let mut l = established();
    join_with(&mut l, 12, zab_hello(2), 10);
    let z = l.next_zxid().unwrap();
    l.propose(z, Arc::new(vec![1])).unwrap();
    let (to, out) = l.hand_over(None, 11).unwrap();
    assert_eq!(to, 2, "1 announced ZooKeeper's protocol version: only 2 understands HANDOVER");
    assert!(out.is_empty(), "0x100000001 is outstanding");
    assert_eq!(l.handing_over(), Some(2));
    assert_eq!(l.propose(z + 1, Arc::new(vec![2])), Err(LeaderError::HandingOver(2)), "no proposal meanwhile");
    assert!(matches!(l.hand_over(Some(2), 11), Err(HandOverError::AlreadyHandingOver(2))));
    l.logged(&[z]);
    let out = ack(&mut l, 10, z, 12);
    assert!(out.contains(&LeaderAction::CommitUpTo(z)), "3 and 1 commit it");
    assert!(!sends(&out).iter().any(|s| s.1 == packet::HANDOVER), "2 has not acknowledged it yet");
    let out = ack(&mut l, 12, z, 13);
    assert_eq!(sends(&out), vec![(10, packet::HANDOVER, z), (12, packet::HANDOVER, z)]);
    let LeaderAction::Send { packet: h, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!(h.data.as_deref(), Some(&2u64.to_be_bytes()[..]));
    assert_eq!(out.last(), Some(&LeaderAction::HandOverSent { to: 2, zxid: z }));
    assert_eq!(l.on_closed(12), vec![LeaderAction::Close { conn: 12 }], "1 is still connected");
    assert_eq!(l.on_tick(14).unwrap(), vec![], "no PING, no quorum check: the learners are leaving");
    assert_eq!(l.on_closed(10), vec![LeaderAction::Close { conn: 10 }, LeaderAction::HandOverComplete { to: 2 }]);
    assert!(matches!(l.propose(z + 1, Arc::new(vec![2])), Err(LeaderError::Ended(_))));
}

/// Found by the cluster simulator: HANDOVER reached a learner still synchronising (its
/// first sync packet must be DIFF, TRUNC or SNAP: a protocol error). Such connections are
/// closed instead, and so are the ones that open once HANDOVER went out.
#[test]
fn a_hand_over_closes_the_connections_still_synchronising() {
    let mut l = established();
    join_with(&mut l, 12, zab_hello(2), 10);
    l.on_accept(14, 11);
    l.on_packet(14, zab_hello(4), 11);
    let ack_epoch = QuorumPacket::new(packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec()));
    assert_eq!(l.on_packet(14, ack_epoch, 11), vec![LeaderAction::PrepareSync { conn: 14, read_log_from: None }]);
    let (to, out) = l.hand_over(Some(2), 12).unwrap();
    assert_eq!(to, 2);
    assert_eq!(sends(&out), vec![(10, packet::HANDOVER, E1), (12, packet::HANDOVER, E1)], "not to 4");
    assert!(out.contains(&LeaderAction::Close { conn: 14 }), "{out:?}");
    assert_eq!(out.last(), Some(&LeaderAction::HandOverSent { to: 2, zxid: E1 }));
    l.on_accept(16, 13);
    let out = l.on_packet(16, zab_hello(5), 13);
    assert_eq!(out.last(), Some(&LeaderAction::Close { conn: 16 }), "a connection after HANDOVER is closed");
    assert!(l.sid_of(16).is_none());
}

#[test]
fn a_hand_over_that_the_follower_cannot_complete_fails_and_proposing_resumes() {
    let mut l = established();
    join_with(&mut l, 12, zab_hello(2), 10);
    assert!(matches!(l.hand_over(Some(1), 10), Err(HandOverError::NotEligible { sid: 1, .. })));
    assert!(matches!(l.hand_over(Some(3), 10), Err(HandOverError::NotEligible { sid: 3, .. })), "itself");
    assert!(matches!(l.hand_over(Some(7), 10), Err(HandOverError::NotEligible { sid: 7, .. })));
    let z = l.next_zxid().unwrap();
    l.propose(z, Arc::new(vec![1])).unwrap();
    l.hand_over(Some(2), 10).unwrap();
    let out = l.on_tick(400).unwrap();
    assert!(!out.iter().any(|a| matches!(a, LeaderAction::HandOverFailed { .. })), "within syncLimit");
    ack(&mut l, 10, 0, 500);
    ack(&mut l, 12, 0, 500);
    let out = l.on_tick(510).unwrap();
    assert!(
        out.iter().any(|a| matches!(a, LeaderAction::HandOverFailed { to: 2, reason } if reason.contains("syncLimit"))),
        "{out:?}"
    );
    assert_eq!(l.handing_over(), None);
    assert!(l.propose(z + 1, Arc::new(vec![2])).is_ok(), "proposing resumes");
    // The chosen follower leaving fails the hand-over at once.
    let z = l.next_zxid().unwrap();
    l.propose(z, Arc::new(vec![3])).unwrap();
    l.hand_over(Some(2), 520).unwrap();
    let out = l.on_closed(12);
    assert!(out.iter().any(|a| matches!(a, LeaderAction::HandOverFailed { to: 2, .. })), "{out:?}");
}

#[test]
fn no_hand_over_without_an_eligible_follower_or_during_a_reconfig() {
    let mut l = established();
    assert!(matches!(l.hand_over(None, 10), Err(HandOverError::NoCandidate(why)) if why.contains("1: it announced")));
    join_with(&mut l, 12, zab_hello(2), 10);
    let z = l.next_zxid().unwrap();
    l.propose_reconfig(z, Arc::new(vec![9]), view(&[1, 2, 3, 4], z)).unwrap();
    assert!(matches!(l.hand_over(None, 11), Err(HandOverError::ReconfigInFlight(v)) if v == z));
}

/// ZOOKEEPER-1324: a reconfig {1,2,3} -> {2,3,4} logged here but left in flight by the
/// last leader. NEWLEADER carries it and needs a quorum of both configurations; once it has
/// them the new configuration is in force, led by this leader (a voter there).
#[test]
fn a_reconfig_left_in_flight_is_completed_by_newleader() {
    let mut s = settings();
    s.view.version = E1;
    let next =
        crate::reconfig::parse_config("server.2=h:1:2\nserver.3=h:1:2\nserver.4=h:1:2\nversion=100000007").unwrap();
    let (mut l, _) = Leader::start(s, 1, 1, E1 | 7, VecDeque::new(), 0);
    l.set_last_seen(next.clone());
    for (conn, sid) in [(10, 1), (11, 4)] {
        l.on_accept(conn, 0);
        let hello = LearnerDiscovery { myid: sid, accepted_epoch: 1, current_epoch: 1, last_logged_zxid: E1 | 7 };
        l.on_packet(conn, hello.hello(false, 0), 1);
        l.on_packet(conn, QuorumPacket::new(packet::ACKEPOCH, E1 | 7, Some(1i32.to_be_bytes().to_vec())), 2);
    }
    l.server_started(3);
    let e2 = 2i64 << 32;
    for conn in [10, 11] {
        let out = l.sync_learner(conn, E1 | 7, None);
        let data = out.iter().find_map(|a| match a {
            LeaderAction::Send { packet, .. } if packet.packet_type == packet::NEWLEADER => packet.data.clone(),
            _ => None,
        });
        assert_eq!(data, Some(next.to_text().into_bytes()), "NEWLEADER carries the configuration to complete");
    }
    // 3 and 1 are a quorum of {1,2,3}, not of {2,3,4}.
    assert!(!ack(&mut l, 10, e2, 4).contains(&LeaderAction::StartServing));
    let out = ack(&mut l, 11, e2, 5);
    let at = out.iter().position(|a| *a == LeaderAction::StartServing).expect("serving with both quorums");
    assert!(
        matches!(&out[at - 1], LeaderAction::Activated { designated: 3, view, .. } if view.version == next.version)
    );
    assert_eq!(l.config().version, next.version);
}
