//! The learner engine's tests: one epoch as a follower or observer, driven packet by packet
//! (discovery, DIFF/TRUNC/SNAP, NEWLEADER, UPTODATE, broadcast, reconfig and HANDOVER).

use super::*;

const E5: i64 = 5 << 32;
const E6: i64 = 6 << 32;

fn settings(observer: bool) -> LearnerSettings {
    LearnerSettings {
        myid: 2,
        observer,
        config_version: 0,
        protocol_version: ZAB_PROTOCOL_VERSION,
        init_ms: 1_000,
        sync_ms: 500,
        counter_skip: None,
        leader: 3,
        view: Arc::new(view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2"], 0x100000000)),
        reconfig_enabled: true,
    }
}

fn pkt(t: i32, z: i64) -> QuorumPacket {
    let data = if t == packet::PROPOSAL { Some(vec![z as u8]) } else { None };
    QuorumPacket::new(t, z, data)
}

fn view(lines: &[&str], version: i64) -> QuorumMaj {
    parse_config(&format!("{}\nversion={version:x}", lines.join("\n"))).unwrap()
}

/// A reconfig txn's bytes: TxnHeader (type reconfig), SetDataTxn of /zookeeper/config.
fn reconfig_txn(zxid: i64, config: &QuorumMaj) -> Vec<u8> {
    use zab_jute::txn::{SetDataTxn, TxnHeader};
    let mut out = zab_jute::OutputArchive::new();
    TxnHeader { client_id: 1, cxid: 1, zxid, time: 0, txn_type: zab_jute::codes::op::RECONFIG }.write(&mut out);
    SetDataTxn { path: "/zookeeper/config".into(), data: Some(config.to_text().into_bytes()), version: -1 }
        .write(&mut out);
    out.into_inner()
}

/// A follower through DIFF, NEWLEADER and UPTODATE, in broadcast.
#[test]
fn handover_ends_the_epoch_for_the_named_leader() {
    let mut l = following(settings(false));
    let p = QuorumPacket::new(packet::HANDOVER, E6, Some(1u64.to_be_bytes().to_vec()));
    assert_eq!(l.on_packet(p, 1).unwrap(), vec![LearnerAction::HandedOver { to: 1 }]);
    let bad = QuorumPacket::new(packet::HANDOVER, E6, Some(vec![1]));
    assert_eq!(l.on_packet(bad, 2).unwrap(), vec![], "a body that is not a sid is ignored");
}

fn following(settings: LearnerSettings) -> Learner {
    let (mut l, _) = Learner::start(settings, 5, 5, E5, 0);
    l.on_packet(leader_info(6), 0).unwrap();
    l.on_packet(pkt(packet::DIFF, E5), 0).unwrap();
    l.on_packet(pkt(packet::NEWLEADER, E6), 0).unwrap();
    l.on_packet(pkt(packet::UPTODATE, -1), 0).unwrap();
    l
}

#[test]
fn a_committed_reconfig_activates_and_ends_the_epoch_when_the_leader_changes() {
    let mut l = following(settings(false));
    // 3 (the leader) leaves; 2 is designated.
    let next = view(&["server.1=h1:1:2", "server.2=h2:1:2"], E6 | 1);
    let proposal = QuorumPacket::new(packet::PROPOSAL, E6 | 1, Some(reconfig_txn(E6 | 1, &next)));
    assert!(matches!(&l.on_packet(proposal, 1).unwrap()[..], [LearnerAction::Log { .. }]));
    let cna = QuorumPacket::new(packet::COMMITANDACTIVATE, E6 | 1, Some(2u64.to_be_bytes().to_vec()));
    let out = l.on_packet(cna, 2).unwrap();
    assert_eq!(out[0], LearnerAction::CommitUpTo(E6 | 1));
    assert_eq!(
        out[1],
        LearnerAction::Activate { zxid: E6 | 1, view: Arc::new(next.clone()), designated: Some(2), leave: true }
    );
    assert_eq!(l.config().as_ref(), &next);
}

#[test]
fn without_reconfig_nothing_activates() {
    let mut s = settings(false);
    s.reconfig_enabled = false;
    let mut l = following(s);
    let next = view(&["server.1=h1:1:2", "server.2=h2:1:2"], E6 | 1);
    l.on_packet(QuorumPacket::new(packet::PROPOSAL, E6 | 1, Some(reconfig_txn(E6 | 1, &next))), 1).unwrap();
    let cna = QuorumPacket::new(packet::COMMITANDACTIVATE, E6 | 1, Some(2u64.to_be_bytes().to_vec()));
    assert_eq!(l.on_packet(cna, 2).unwrap(), vec![LearnerAction::CommitUpTo(E6 | 1)]);
    assert_eq!(l.config().version, 0x100000000);
}

#[test]
fn a_reconfig_that_keeps_the_leader_does_not_end_the_epoch() {
    let mut l = following(settings(false));
    let next = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2", "server.4=h4:1:2"], E6 | 1);
    let proposal = QuorumPacket::new(packet::PROPOSAL, E6 | 1, Some(reconfig_txn(E6 | 1, &next)));
    l.on_packet(proposal, 1).unwrap();
    let cna = QuorumPacket::new(packet::COMMITANDACTIVATE, E6 | 1, Some(3u64.to_be_bytes().to_vec()));
    let out = l.on_packet(cna, 2).unwrap();
    assert!(matches!(out[1], LearnerAction::Activate { leave: false, designated: Some(3), .. }));
}

#[test]
fn a_newer_configuration_from_newleader_is_in_force_before_serving() {
    let (mut l, _) = Learner::start(settings(false), 5, 5, E5, 0);
    l.on_packet(leader_info(6), 0).unwrap();
    l.on_packet(pkt(packet::DIFF, E5), 0).unwrap();
    let next = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2:observer"], E5 | 9);
    let newleader = QuorumPacket::new(packet::NEWLEADER, E6, Some(next.to_text().into_bytes()));
    l.on_packet(newleader, 0).unwrap();
    let out = l.on_packet(pkt(packet::UPTODATE, -1), 0).unwrap();
    let serving = out.iter().position(|a| *a == LearnerAction::StartServing).unwrap();
    assert!(
        matches!(&out[serving - 1], LearnerAction::Activate { designated: None, leave: true, .. }),
        "the leader 3 is an observer there: a major change; {out:?}"
    );
}

#[test]
fn an_observer_takes_a_reconfig_as_informandactivate_during_its_sync() {
    // Promoted while it syncs: the observer logs the reconfig, then leaves its epoch.
    let mut s = settings(true);
    s.view = Arc::new(view(&["server.1=h1:1:2", "server.2=h2:1:2:observer", "server.3=h3:1:2"], 0x100000000));
    let (mut l, _) = Learner::start(s, 5, 5, E5, 0);
    l.on_packet(leader_info(6), 0).unwrap();
    l.on_packet(pkt(packet::DIFF, E5), 0).unwrap();
    l.on_packet(pkt(packet::NEWLEADER, E6), 0).unwrap();
    let next = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2"], E6 | 1);
    let mut data = 3u64.to_be_bytes().to_vec();
    data.extend(reconfig_txn(E6 | 1, &next));
    let out = l.on_packet(QuorumPacket::new(packet::INFORMANDACTIVATE, E6 | 1, Some(data)), 0).unwrap();
    assert!(matches!(&out[0], LearnerAction::Log { zxid, .. } if *zxid == E6 | 1), "{out:?}");
    assert!(matches!(out[1], LearnerAction::Activate { designated: Some(3), leave: true, .. }), "{out:?}");
}

fn leader_info(epoch: i64) -> QuorumPacket {
    QuorumPacket::new(packet::LEADERINFO, epoch << 32, Some(PROTOCOL_VERSION.to_be_bytes().to_vec()))
}

fn ack(z: i64) -> LearnerAction {
    LearnerAction::Send(QuorumPacket::new(packet::ACK, z, None))
}

#[test]
fn a_diff_sync_logs_applies_and_writes_the_epoch_before_acking_newleader() {
    let (mut l, out) = Learner::start(settings(false), 5, 5, E5 | 3, 0);
    assert!(matches!(&out[..], [LearnerAction::Send(p)] if p.packet_type == packet::FOLLOWERINFO));
    let out = l.on_packet(leader_info(6), 1).unwrap();
    assert_eq!(out[0], LearnerAction::PersistAcceptedEpoch(6), "acceptedEpoch before ACKEPOCH");
    assert!(matches!(&out[1], LearnerAction::Send(p) if p.packet_type == packet::ACKEPOCH));
    assert_eq!(l.on_packet(pkt(packet::DIFF, E5 | 5), 2).unwrap(), vec![LearnerAction::InitConfigNode]);
    for p in [pkt(packet::PROPOSAL, E5 | 4), pkt(packet::COMMIT, E5 | 4), pkt(packet::PROPOSAL, E5 | 5)] {
        assert!(l.on_packet(p, 3).unwrap().is_empty(), "collected only (ZOOKEEPER-4685)");
    }
    let out = l.on_packet(pkt(packet::NEWLEADER, E6), 4).unwrap();
    assert_eq!(
        out,
        vec![
            LearnerAction::LogDirect(vec![(E5 | 4, vec![4]), (E5 | 5, vec![5])]),
            LearnerAction::ApplyDirect { zxid: E5 | 4, data: vec![4] },
            LearnerAction::PersistCurrentEpoch(6),
            LearnerAction::StartServer { adopted: vec![(E5 | 5, vec![5])] },
            ack(E6),
        ]
    );
    // A proposal between NEWLEADER and UPTODATE goes through the server's log, which
    // ACKs it once durable: no ACK from the state machine.
    assert_eq!(
        l.on_packet(pkt(packet::PROPOSAL, E6 | 1), 5).unwrap(),
        vec![LearnerAction::Log { zxid: E6 | 1, data: vec![1] }]
    );
    let out = l.on_packet(pkt(packet::UPTODATE, -1), 6).unwrap();
    assert_eq!(out, vec![ack(E6), LearnerAction::StartServing, ack(E5 | 5)], "the adopted proposal is ACKed");
    assert!(l.in_broadcast());
    assert_eq!(l.read_timeout_ms(), 500);
    // Broadcast: the pending commits come in order, the adopted one first.
    assert_eq!(l.on_packet(pkt(packet::COMMIT, E5 | 5), 7).unwrap(), vec![LearnerAction::CommitUpTo(E5 | 5)]);
    assert_eq!(l.on_packet(pkt(packet::COMMIT, E6 | 1), 8).unwrap(), vec![LearnerAction::CommitUpTo(E6 | 1)]);
    assert!(l.on_packet(pkt(packet::COMMIT, E6 | 2), 9).is_err());
}

#[test]
fn a_truncation_must_reach_its_zxid() {
    let (mut l, _) = Learner::start(settings(false), 5, 5, E5 | 9, 0);
    l.on_packet(leader_info(6), 0).unwrap();
    assert_eq!(l.on_packet(pkt(packet::TRUNC, E5 | 7), 0).unwrap(), vec![LearnerAction::Truncate(E5 | 7)]);
    assert_eq!(l.on_packet(pkt(packet::NEWLEADER, E6), 0), Err(LearnerError::TruncationPending(E5 | 7)));
    let e = l.truncated(E5 | 2).unwrap_err();
    assert!(e.makes_truncation_unsafe());
    assert_eq!(protocol_version(false), PROTOCOL_VERSION);

    let (mut l, _) = Learner::start(settings(false), 5, 5, E5 | 9, 0);
    l.on_packet(leader_info(6), 0).unwrap();
    l.on_packet(pkt(packet::TRUNC, E5 | 7), 0).unwrap();
    assert_eq!(l.truncated(E5 | 7).unwrap(), vec![LearnerAction::InitConfigNode]);
    let out = l.on_packet(pkt(packet::NEWLEADER, E6), 0).unwrap();
    assert_eq!(out[0], LearnerAction::TakeSnapshot, "TRUNC asks for a snapshot before the NEWLEADER ACK");
    assert_eq!(l.sync_mode(), SyncMode::Trunc);
}

#[test]
fn an_observer_never_acks_and_answers_the_leaders_packets() {
    let (mut l, out) = Learner::start(settings(true), 5, 5, E5, 0);
    assert!(matches!(&out[..], [LearnerAction::Send(p)] if p.packet_type == packet::OBSERVERINFO));
    assert!(l.acker().acks(&[E5 | 1]).is_empty());
    l.on_packet(leader_info(6), 0).unwrap();
    l.on_packet(pkt(packet::DIFF, E5), 0).unwrap();
    l.on_packet(pkt(packet::NEWLEADER, E6), 0).unwrap();
    l.on_packet(pkt(packet::UPTODATE, -1), 0).unwrap();
    let inform = QuorumPacket::new(packet::INFORM, E6 | 1, Some(vec![1]));
    assert_eq!(
        l.on_packet(inform, 0).unwrap(),
        vec![LearnerAction::Log { zxid: E6 | 1, data: vec![1] }, LearnerAction::CommitUpTo(E6 | 1)]
    );
    let ping = pkt(packet::PING, 3);
    assert_eq!(l.on_packet(ping.clone(), 0).unwrap(), vec![LearnerAction::AnswerPing(ping)]);
    assert_eq!(l.on_packet(pkt(packet::SYNC, 0), 0).unwrap(), vec![LearnerAction::SyncDone]);
    let reply =
        QuorumPacket::new(packet::REVALIDATE, -1, Some(RevalidateReply { session_id: 9, valid: true }.to_bytes()));
    assert_eq!(l.on_packet(reply, 0).unwrap(), vec![LearnerAction::Revalidated { session_id: 9, valid: true }]);
    assert_eq!(Learner::start(settings(false), 5, 5, E5, 0).0.acker().acks(&[E5 | 1]).len(), 1);
}

#[test]
fn a_silent_leader_ends_the_epoch() {
    let (l, _) = Learner::start(settings(false), 5, 5, E5, 100);
    assert!(l.on_tick(1_100).is_ok());
    assert_eq!(l.on_tick(1_101), Err(LearnerError::Timeout(1_000)));
}
