//! Replication in-process: three members on loopback with the leader fixed (so that these
//! tests exercise discovery, synchronisation and broadcast alone; the election has its own
//! tests), real quorum connections, real clients through the `zookeeper-client` crate.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ensemble::*;
use std::net::TcpListener as StdListener;
use std::time::Duration;

use zookeeper_client as zk;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_any_member_reach_every_member() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let members = start_serving(root.path(), 1, &ports).await;
    let leader = members[0].server().expect("leader");
    assert_eq!(leader.role().name(), "leader");
    assert_eq!(members[1].server().expect("follower").role().name(), "follower");

    // A session on a follower: its writes are forwarded, committed by the quorum, and
    // answered by the follower once applied there.
    let c2 = members[1].client().await;
    let (stat, _) =
        c2.create("/a", b"one", &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())).await.unwrap();
    assert_eq!(stat.version, 0);
    c2.create("/e", b"", &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())).await.unwrap();
    let (seq_stat, seq) =
        c2.create("/s-", b"", &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all())).await.unwrap();
    assert!(seq.into_i64() >= 0 && seq_stat.czxid > stat.czxid);
    c2.set_data("/a", b"two", Some(0)).await.unwrap();
    assert!(matches!(c2.set_data("/a", b"x", Some(0)).await, Err(zk::Error::BadVersion)));

    // A session on the other follower sees them after sync; so does one on the leader.
    let c3 = members[2].client().await;
    c3.sync("/a").await.unwrap();
    assert_eq!(c3.get_data("/a").await.unwrap().0, b"two");
    assert!(c3.check_stat("/e").await.unwrap().is_some());
    let c1 = members[0].client().await;
    assert_eq!(c1.get_data("/a").await.unwrap().0, b"two");
    // a write through the leader reaches the followers
    c1.create("/from-leader", b"L", &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())).await.unwrap();
    let (z, _) = converged(&[&members[0], &members[1], &members[2]]).await;
    assert_eq!(z >> 32, leader.prepared_zxid() >> 32, "one epoch");

    // Closing the follower's session removes its ephemeral everywhere.
    drop(c2);
    until(Duration::from_secs(20), "ephemeral gone on every member", || async {
        let gone = members.iter().all(|m| m.server().is_some_and(|s| s.tree().node("/e").is_none()));
        gone.then_some(())
    })
    .await;
    converged(&[&members[0], &members[1], &members[2]]).await;

    let learners = leader.learners();
    assert_eq!(learners.len(), 2, "{learners:?}");
    assert!(learners.iter().all(|l| l.in_broadcast && l.sync_mode == "DIFF"), "{learners:?}");
    drop((c1, c3));
    for m in members {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_returning_follower_catches_up_by_diff_and_by_snap() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let dir = |id: u64| root.path().join(format!("m{id}"));
    let m1 = start_member(1, 1, &dir(1), &ports).await;
    let m2 = start_member(2, 1, &dir(2), &ports).await;
    let m3 = start_member(3, 1, &dir(3), &ports).await;
    for m in [&m1, &m2, &m3] {
        until(Duration::from_secs(20), "member serving", || async { m.server().map(|_| ()) }).await;
    }
    let c1 = m1.client().await;
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    c1.create("/d", b"", &acl).await.unwrap();
    converged(&[&m1, &m2, &m3]).await;

    // Member 3 stops; the two others are still a quorum and keep committing.
    let id3 = m3.id;
    m3.stop().await;
    for i in 0..10 {
        c1.create(&format!("/d/n{i}"), b"while away", &acl).await.unwrap();
    }
    let m3 = start_member(id3, 1, &dir(id3), &ports).await;
    let (z, _) = converged(&[&m1, &m2, &m3]).await;
    let views = m1.server().expect("leader").learners();
    let v3 = views.iter().find(|l| l.sid == 3).expect("member 3 connected");
    assert_eq!(v3.sync_mode, "DIFF", "10 txns behind is inside the committed window");
    assert_eq!(m3.server().expect("m3").tree().node("/d").map(|n| n.num_children()), Some(10));

    // Away for more than the committed window (commitLogCount = 500): SNAP.
    m3.stop().await;
    for i in 0..600 {
        c1.set_data("/d", format!("{i}").as_bytes(), None).await.unwrap();
    }
    let m3 = start_member(id3, 1, &dir(id3), &ports).await;
    let (z2, _) = converged(&[&m1, &m2, &m3]).await;
    assert!(z2 > z);
    let views = m1.server().expect("leader").learners();
    assert_eq!(views.iter().find(|l| l.sid == 3).map(|l| l.sync_mode), Some("SNAP"));
    // ... and it is durable there: a restart of member 3 (DIFF from its own snapshot and log) agrees.
    m3.stop().await;
    let m3 = start_member(id3, 1, &dir(id3), &ports).await;
    converged(&[&m1, &m2, &m3]).await;
    drop(c1);
    for m in [m1, m2, m3] {
        m.stop().await;
    }
}

/// Appends a create of `path` at `zxid` to the transaction log in `dir`, as a leader that
/// logged a txn and crashed before proposing it would have.
fn append_lost_txn(dir: &std::path::Path, zxid: i64, path: &str) {
    use zab_jute::txn::{CreateTxn, Txn, TxnHeader};
    let hdr = TxnHeader { client_id: 0, cxid: 0, zxid, time: 1, txn_type: zab_jute::codes::op::CREATE };
    let acl =
        vec![zab_jute::data::Acl { perms: 31, id: zab_jute::data::Id { scheme: "world".into(), id: "anyone".into() } }];
    let txn = Txn::Create(CreateTxn {
        path: path.into(),
        data: Some(b"lost".to_vec()),
        acl,
        ephemeral: false,
        parent_c_version: 0,
    });
    let payload = zab_persistence::txnlog::marshal(&hdr, &txn, None);
    let log_dir = zab_persistence::snaplog::SnapLog::new(dir, dir).log_dir;
    let mut w = zab_persistence::txnlog::TxnLogWriter::open(&log_dir, 4096, true).expect("open the log");
    w.append(zxid, &payload);
    w.commit().expect("log the lost txn");
}

/// The seed scenarios of a learner with a txn nobody else has: B leads, commits two txns,
/// logs a third that never reaches anyone, and stops. A then leads a new epoch with C.
/// B returning before the new epoch commits anything is past the leader's last committed
/// txn: TRUNC. B returning after the new epoch committed: its txn sits in an older epoch
/// than the leader's window continues with, and 3.8 never truncates across an epoch: SNAP.
/// Either way B ends with A's and C's tree, without its txn — also after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_with_an_uncommitted_txn_is_truncated_or_snapped() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ZAB_LOG"))
        .with_test_writer()
        .try_init();
    // (the new epoch commits before B returns, the leader may TRUNC across an epoch)
    for (new_epoch_commits, cross_epoch) in [(false, false), (true, false), (true, true)] {
        let root = tempfile::tempdir().expect("temp dir");
        let mut ports = ports(3);
        for p in ports.iter_mut() {
            p.cross_epoch = cross_epoch;
        }
        let dir = |id: u64| root.path().join(format!("m{id}"));
        let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        // B (2) leads A (1) and C (3).
        let a = start_member(1, 2, &dir(1), &ports).await;
        let b = start_member(2, 2, &dir(2), &ports).await;
        let c = start_member(3, 2, &dir(3), &ports).await;
        for m in [&a, &b, &c] {
            until(Duration::from_secs(20), "member serving", || async { m.server().map(|_| ()) }).await;
        }
        let cb = b.client().await;
        cb.create("/x1", b"", &acl).await.unwrap();
        cb.create("/x2", b"", &acl).await.unwrap();
        converged(&[&a, &b, &c]).await;
        // Everyone stops; then B's log gets /x3, the txn it logged and never proposed.
        for m in [a, b, c] {
            m.stop().await;
        }
        drop(cb);
        let lost = zab_node::zk_server::Database::load(&config(2, &dir(2), &ports)).unwrap().last_zxid() + 1;
        append_lost_txn(&dir(2), lost, "/x3");
        if cross_epoch {
            // B even snapshotted its lost txn: a TRUNC that left this snapshot would bring
            // /x3 back on B's next restart (why ZooKeeper 3.5+ never truncates across epochs).
            let cfg = config(2, &dir(2), &ports);
            let db = zab_node::zk_server::Database::load(&cfg).expect("B's data dir");
            zab_node::snapshot::write_snapshot(&cfg, &db.tree, &db.sessions).expect("B's snapshot");
        }
        assert!(zab_node::zk_server::Database::load(&config(2, &dir(2), &ports)).unwrap().tree.node("/x3").is_some());
        // A leads a new epoch with C.
        let a = start_member(1, 1, &dir(1), &ports).await;
        let c = start_member(3, 1, &dir(3), &ports).await;
        for m in [&a, &c] {
            until(Duration::from_secs(20), "member serving", || async { m.server().map(|_| ()) }).await;
        }
        let leader = a.server().expect("A leads");
        assert!(leader.prepared_zxid() >> 32 > lost >> 32, "a newer epoch");
        // (A client's session is itself a txn of the new epoch.)
        let ca = if new_epoch_commits {
            let ca = a.client().await;
            ca.create("/y1", b"", &acl).await.unwrap();
            ca.create("/y2", b"", &acl).await.unwrap();
            Some(ca)
        } else {
            None
        };
        let b = start_member(2, 1, &dir(2), &ports).await;
        converged(&[&a, &b, &c]).await;
        let mode = leader.learners().iter().find(|l| l.sid == 2).map(|l| l.sync_mode);
        let expected = if new_epoch_commits && !cross_epoch { "SNAP" } else { "TRUNC" };
        assert_eq!(mode, Some(expected), "new epoch commits: {new_epoch_commits}, cross-epoch TRUNC: {cross_epoch}");
        assert!(b.server().expect("B").tree().node("/x3").is_none(), "B must drop its uncommitted txn");
        // B's disk agrees: restarted, it comes back without /x3 and in step.
        b.stop().await;
        let b = start_member(2, 1, &dir(2), &ports).await;
        converged(&[&a, &b, &c]).await;
        assert!(b.server().expect("B").tree().node("/x3").is_none(), "not back after a restart");
        let restored = zab_node::zk_server::Database::load(&config(2, &dir(2), &ports)).expect("B's data dir loads");
        assert!(restored.tree.node("/x3").is_none(), "B's data directory holds no /x3");
        drop(ca);
        drop(leader);
        for m in [a, b, c] {
            m.stop().await;
        }
    }
}

/// An observer (`server.4=...:observer`) syncs, receives INFORM for every commit, serves
/// reads and forwards writes, and does not count towards the quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_observer_follows_serves_reads_and_forwards_writes() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut ports = ports(4);
    ports[3].observer = true;
    let members = start_serving(root.path(), 1, &ports).await;
    let observer = members[3].server().expect("observer");
    assert_eq!(observer.role().name(), "observer");
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let c4 = members[3].client().await;
    c4.create("/via-observer", b"o", &acl).await.unwrap();
    let c1 = members[0].client().await;
    c1.create("/via-leader", b"l", &acl).await.unwrap();
    c4.sync("/").await.unwrap();
    assert_eq!(c4.get_data("/via-leader").await.unwrap().0, b"l");
    let refs: Vec<&Member> = members.iter().collect();
    converged(&refs).await;
    let views = members[0].server().expect("leader").learners();
    assert!(views.iter().any(|l| l.sid == 4 && l.observer && l.in_broadcast), "{views:?}");
    // Two voters down: the leader and the observer alone are no quorum, and the leader
    // steps down (the observer's ACKs would not count even if it sent any).
    drop(observer);
    let mut it = members.into_iter();
    let (m1, m2, m3, m4) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    m2.stop().await;
    m3.stop().await;
    until(Duration::from_secs(20), "the leader stops serving without a voting quorum", || async {
        m1.server().is_none().then_some(())
    })
    .await;
    drop((c1, c4));
    m1.stop().await;
    m4.stop().await;
}

/// Away for more than the committed window but for less than a third of the tree's size in
/// txns: the leader replays its log on disk (DIFF), as ZooKeeper's `getProposalsFromTxnLog`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_older_than_the_window_is_synced_from_the_log_on_disk() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let dir = |id: u64| root.path().join(format!("m{id}"));
    let m1 = start_member(1, 1, &dir(1), &ports).await;
    let m2 = start_member(2, 1, &dir(2), &ports).await;
    let m3 = start_member(3, 1, &dir(3), &ports).await;
    for m in [&m1, &m2, &m3] {
        until(Duration::from_secs(20), "member serving", || async { m.server().map(|_| ()) }).await;
    }
    let c1 = m1.client().await;
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let big = vec![b'x'; 4096];
    for i in 0..100 {
        c1.create(&format!("/big{i}"), &big, &acl).await.unwrap();
    }
    converged(&[&m1, &m2, &m3]).await;
    m3.stop().await;
    for i in 0..600 {
        c1.set_data("/big0", format!("{i}").as_bytes(), None).await.unwrap();
    }
    let m3 = start_member(3, 1, &dir(3), &ports).await;
    converged(&[&m1, &m2, &m3]).await;
    let views = m1.server().expect("leader").learners();
    assert_eq!(views.iter().find(|l| l.sid == 3).map(|l| l.sync_mode), Some("DIFF"), "{views:?}");
    drop(c1);
    for m in [m1, m2, m3] {
        m.stop().await;
    }
}

/// ZOOKEEPER-1277: the zxid counter must never wrap. With ZooKeeper's
/// `zookeeper.testingonly.initialZxid` each new leader starts its counter at 0xfffffff0, so
/// a few writes reach the end: the leader refuses the write that would take counter
/// 0xffffffff, gives up its epoch, and the next one goes on. Every write a
/// client saw acknowledged is on every member, and no zxid has the counter 0xffffffff.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_zxid_counter_rolls_over_into_a_new_epoch() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ZAB_LOG"))
        .with_test_writer()
        .try_init();
    let root = tempfile::tempdir().expect("temp dir");
    let mut ports = ports(3);
    for p in &mut ports {
        p.initial_zxid = Some(0xffff_fff0);
    }
    let members = start_serving(root.path(), 1, &ports).await;
    let first_epoch = members[0].server().expect("leader").prepared_zxid() >> 32;
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let mut acked = Vec::new();
    let mut retries = 0;
    // 40 writes through a follower; one that fails with the leader's step-down is retried
    // on a new session once the member serves again.
    let mut client = members[1].client().await;
    for i in 0..40 {
        let path = format!("/roll-{i}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match client.create(&path, format!("{i}").as_bytes(), &acl).await {
                Ok((stat, _)) => {
                    acked.push((path.clone(), stat.czxid));
                    break;
                }
                Err(zk::Error::NodeExists) => break, // a retry of a write that did commit
                Err(e) => {
                    retries += 1;
                    assert!(tokio::time::Instant::now() < deadline, "{path}: still failing: {e}");
                    until(Duration::from_secs(20), "the follower serving again", || async {
                        members[1].server().map(|_| ())
                    })
                    .await;
                    if let Ok(c) = zk::Client::connector()
                        .with_session_timeout(Duration::from_secs(10))
                        .connect(&format!("127.0.0.1:{}", members[1].client))
                        .await
                    {
                        client = c;
                    }
                }
            }
        }
    }
    let (last, _) = converged(&[&members[0], &members[1], &members[2]]).await;
    assert!(last >> 32 >= first_epoch + 2, "40 writes at 14 per epoch need new epochs: 0x{last:x}");
    println!(
        "zxid rollover: 40 writes from epoch {first_epoch} to epoch {} (last zxid 0x{last:x}), {} acknowledged, {retries} retried",
        last >> 32,
        acked.len()
    );
    for (path, czxid) in &acked {
        assert_ne!(czxid & 0xffff_ffff, 0xffff_ffff, "{path} got the last counter value");
    }
    for m in &members {
        let s = m.server().expect("serving");
        let t = s.tree();
        for i in 0..40 {
            let n = t.node(&format!("/roll-{i}")).unwrap_or_else(|| panic!("/roll-{i} missing on member {}", m.id));
            assert_ne!(n.stat.czxid & 0xffff_ffff, 0xffff_ffff);
        }
    }
    drop(client);
    for m in members {
        m.stop().await;
    }
}

// ---- Scripted conversations (as ZooKeeper's Zab1_0Test): the test plays one side of the
// quorum port with raw QuorumPackets against the real learner or leader.

use zab_jute::quorum::{packet, LearnerInfo, QuorumPacket};
use zab_jute::record::Record;
use zab_node::peer::wire::{write_packet, PacketReader};

/// A create txn as a leader proposes it (header, CreateTxn, no digest).
fn create_txn(zxid: i64, path: &str, data: &[u8], parent_cversion: i32) -> Vec<u8> {
    let hdr = zab_jute::txn::TxnHeader {
        client_id: 0x77,
        cxid: zxid as i32,
        zxid,
        time: 1,
        txn_type: zab_jute::codes::op::CREATE,
    };
    let txn = zab_jute::txn::Txn::Create(zab_jute::txn::CreateTxn {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: zab_jute::data::Acl::open_unsafe(),
        ephemeral: false,
        parent_c_version: parent_cversion,
    });
    zab_persistence::txnlog::marshal(&hdr, &txn, None)
}

fn send(s: &mut std::net::TcpStream, t: i32, zxid: i64, data: Option<Vec<u8>>) {
    write_packet(s, &QuorumPacket::new(t, zxid, data)).expect("send a quorum packet");
}

fn epoch_file(dir: &std::path::Path, name: &str) -> Option<i64> {
    zab_persistence::epoch::read_epoch(&dir.join("version-2"), name).ok().flatten()
}

/// A zab learner against a scripted leader: discovery, a DIFF with a proposal and its commit,
/// NEWLEADER followed at once by a new proposal (the order of ZOOKEEPER-3023/4394: the
/// leader forwards proposals before UPTODATE), then UPTODATE and broadcast. The learner must
/// persist acceptedEpoch before ACKEPOCH, have the synced txn and currentEpoch on disk before
/// it ACKs NEWLEADER, ACK the proposal that came before UPTODATE, apply each txn only on its
/// COMMIT, and answer PING.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_learner_follows_a_scripted_leader() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let leader_port = StdListener::bind(("127.0.0.1", ports[0].quorum)).expect("the scripted leader's quorum port");
    let dir2 = root.path().join("m2");
    let member = start_member(2, 1, &dir2, &ports).await;
    let script = {
        let dir2 = dir2.clone();
        tokio::task::spawn_blocking(move || {
            let (mut s, _) = leader_port.accept().expect("the learner connects");
            s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
            let mut r = PacketReader::new(s.try_clone().expect("clone"), 1 << 20);
            let hello = r.read().expect("FOLLOWERINFO");
            assert_eq!(hello.packet_type, packet::FOLLOWERINFO);
            let info = LearnerInfo::from_bytes(hello.data.as_deref().unwrap_or(&[]), 1024).expect("LearnerInfo");
            assert_eq!(info.serverid, 2);
            assert_eq!(hello.zxid, 0, "acceptedEpoch 0 on a fresh member");
            const E: i64 = 1 << 32;
            send(&mut s, packet::LEADERINFO, E, Some(0x10000i32.to_be_bytes().to_vec()));
            let ack_epoch = r.read().expect("ACKEPOCH");
            assert_eq!(ack_epoch.packet_type, packet::ACKEPOCH);
            assert_eq!(ack_epoch.zxid, 0, "the learner's last zxid");
            assert_eq!(epoch_file(&dir2, "acceptedEpoch"), Some(1), "acceptedEpoch persisted before ACKEPOCH");
            // Synchronisation: DIFF up to E|1 with its proposal and commit, NEWLEADER, and a
            // new proposal before UPTODATE.
            send(&mut s, packet::DIFF, E | 1, None);
            send(&mut s, packet::PROPOSAL, E | 1, Some(create_txn(E | 1, "/synced", b"1", 1)));
            send(&mut s, packet::COMMIT, E | 1, None);
            send(&mut s, packet::NEWLEADER, E, None);
            send(&mut s, packet::PROPOSAL, E | 2, Some(create_txn(E | 2, "/before-uptodate", b"2", 2)));
            let ack = r.read().expect("ACK of NEWLEADER");
            assert_eq!((ack.packet_type, ack.zxid), (packet::ACK, E), "the first ACK is NEWLEADER's");
            assert_eq!(epoch_file(&dir2, "currentEpoch"), Some(1), "currentEpoch written before the ACK");
            let logged: Vec<i64> = zab_persistence::txnlog::read_from(&dir2.join("version-2"), 0)
                .expect("the learner's log")
                .iter()
                .map(|e| e.hdr.zxid)
                .collect();
            assert!(logged.contains(&(E | 1)), "the synced txn is on disk before the ACK: {logged:x?}");
            send(&mut s, packet::UPTODATE, -1, None);
            // The ACKs of UPTODATE and of the proposal before it, in either order.
            let mut seen = Vec::new();
            while seen.len() < 2 {
                let p = r.read().expect("ACKs after UPTODATE");
                assert_eq!(p.packet_type, packet::ACK, "only ACKs now: {p:?}");
                seen.push(p.zxid);
            }
            seen.sort_unstable();
            assert_eq!(seen, vec![E, E | 2]);
            (s, r)
        })
    };
    let (mut s, mut r) = script.await.expect("the script");
    const E: i64 = 1 << 32;
    let server = until(Duration::from_secs(20), "the learner serving", || async { member.server() }).await;
    assert!(server.tree().node("/synced").is_some());
    assert!(server.tree().node("/before-uptodate").is_none(), "not applied before its COMMIT");
    send(&mut s, packet::COMMIT, E | 2, None);
    until(Duration::from_secs(20), "the COMMIT applied", || async {
        server.tree().node("/before-uptodate").map(|_| ())
    })
    .await;
    // Broadcast: PROPOSAL -> ACK (after the learner's fsync) -> COMMIT -> applied; PING -> PING.
    let (s, r) = tokio::task::spawn_blocking(move || {
        send(&mut s, packet::PROPOSAL, E | 3, Some(create_txn(E | 3, "/broadcast", b"3", 3)));
        let ack = r.read().expect("ACK");
        assert_eq!((ack.packet_type, ack.zxid), (packet::ACK, E | 3));
        send(&mut s, packet::PING, E | 3, None);
        let ping = r.read().expect("PING answer");
        assert_eq!(ping.packet_type, packet::PING);
        (s, r)
    })
    .await
    .expect("broadcast script");
    assert!(server.tree().node("/broadcast").is_none(), "not applied before its COMMIT");
    let mut s = s;
    send(&mut s, packet::COMMIT, E | 3, None);
    until(Duration::from_secs(20), "the broadcast txn applied", || async {
        server.tree().node("/broadcast").map(|_| ())
    })
    .await;
    // (A client session would need the scripted leader to answer its forwarded
    // createSession; the tree is checked directly instead.)
    for p in ["/synced", "/before-uptodate", "/broadcast"] {
        assert_eq!(server.tree().node(p).map(|n| n.stat.mzxid >> 32), Some(1), "{p}");
    }
    drop((r, server));
    let _ = s.shutdown(std::net::Shutdown::Both);
    member.stop().await;
}

/// A scripted follower against a real zab leader: discovery and an empty DIFF, then a
/// client's write through the leader is proposed to the follower and not committed until
/// the follower ACKs it (the leader and this follower are the quorum); the COMMIT follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scripted_follower_against_a_real_leader() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let member = start_member(1, 1, &root.path().join("m1"), &ports).await;
    let quorum_port = ports[0].quorum;
    let (s, r) = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut s = loop {
            match std::net::TcpStream::connect(("127.0.0.1", quorum_port)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(std::time::Instant::now() < deadline, "the leader's quorum port: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let mut r = PacketReader::new(s.try_clone().expect("clone"), 1 << 20);
        let info = LearnerInfo { serverid: 2, protocol_version: 0x10000, config_version: 0 };
        send(&mut s, packet::FOLLOWERINFO, 0, Some(info.to_bytes()));
        let li = r.read().expect("LEADERINFO");
        assert_eq!(li.packet_type, packet::LEADERINFO);
        let epoch = li.zxid >> 32;
        assert_eq!(epoch, 1, "a quorum of fresh members agrees on epoch 1");
        assert_eq!(li.data.as_deref(), Some(&0x10000i32.to_be_bytes()[..]), "the leader's protocol version");
        send(&mut s, packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec()));
        let diff = r.read().expect("DIFF");
        assert_eq!(diff.packet_type, packet::DIFF, "an empty learner of an empty leader gets DIFF");
        let nl = r.read().expect("NEWLEADER");
        assert_eq!((nl.packet_type, nl.zxid), (packet::NEWLEADER, epoch << 32));
        send(&mut s, packet::ACK, epoch << 32, None);
        let up = r.read().expect("UPTODATE");
        assert_eq!(up.packet_type, packet::UPTODATE);
        send(&mut s, packet::ACK, epoch << 32, None);
        (s, r)
    })
    .await
    .expect("the discovery script");
    let server = until(Duration::from_secs(20), "the leader serving", || async { member.server() }).await;
    assert_eq!(server.role().name(), "leader");
    let learners = server.learners();
    assert_eq!(learners.len(), 1);
    assert!(learners[0].in_broadcast && learners[0].sync_mode == "DIFF", "{learners:?}");
    // A client on the leader: its createSession, then its create, each proposed to us and
    // committed only after our ACK.
    let addr = format!("127.0.0.1:{}", member.client);
    let client = tokio::spawn(async move {
        let c = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&addr)
            .await
            .expect("a session on the leader");
        let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        c.create("/x", b"v", &acl).await.expect("the create").0.czxid
    });
    let check = server.clone();
    let (s, r, czxid_seen) = tokio::task::spawn_blocking(move || {
        let (mut s, mut r) = (s, r);
        let mut proposals = 0;
        let mut create_zxid = None;
        while create_zxid.is_none() {
            let p = r.read().expect("PROPOSAL");
            if p.packet_type == packet::PING {
                send(&mut s, packet::PING, p.zxid, Some(Vec::new()));
                continue;
            }
            assert_eq!(p.packet_type, packet::PROPOSAL, "{p:?}");
            proposals += 1;
            let e = zab_persistence::txnlog::unmarshal(p.data.as_deref().unwrap_or(&[])).expect("a txn");
            eprintln!("scripted follower: PROPOSAL 0x{:x} type {}", p.zxid, e.hdr.txn_type);
            if matches!(&e.txn, zab_jute::txn::Txn::Create(c) if c.path == "/x") {
                // Proposed but not acknowledged by anyone but the leader: not applied.
                assert!(check.tree().node("/x").is_none(), "applied before a quorum ACKed");
                create_zxid = Some(p.zxid);
            }
            send(&mut s, packet::ACK, p.zxid, None);
            loop {
                let c = r.read().expect("COMMIT");
                if c.packet_type == packet::PING {
                    send(&mut s, packet::PING, c.zxid, Some(Vec::new()));
                    continue;
                }
                assert_eq!((c.packet_type, c.zxid), (packet::COMMIT, p.zxid), "the COMMIT of what we ACKed");
                break;
            }
        }
        assert!(proposals >= 2, "createSession, then create");
        (s, r, create_zxid)
    })
    .await
    .expect("the broadcast script");
    let czxid = tokio::time::timeout(Duration::from_secs(20), client).await.expect("the create returns").expect("task");
    assert_eq!(Some(czxid), czxid_seen);
    drop((r, server));
    let _ = s.shutdown(std::net::Shutdown::Both);
    member.stop().await;
}
