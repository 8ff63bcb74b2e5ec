//! Sessions across the members of an in-process ensemble (leader fixed at member 1), checked
//! against what ZooKeeper 3.8 does on every member:
//! - a session closed through another member (a second handle with its id and password) or
//!   expired by the leader closes its client's connection on the member the client is on
//!   (`FinalRequestProcessor`: a committed closeSession with no local request closes the
//!   session's connection through `ServerCnxnFactory.closeSession`), so the client sees a
//!   disconnection, then, reconnecting, that its session expired;
//! - a write through the old connection of a session that moved to another member closes that
//!   connection instead of answering SESSIONMOVED (ZOOKEEPER-710); on the leader a read or ping
//!   through it does too (the leader checks the owner of every request);
//! - a connection that sends nothing for its session timeout is closed (NIOServerCnxnFactory).
//!
//! Every test starts its own ensemble and stops it; waits poll with a deadline.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::ensemble::*;
use common::Raw;
use zab_jute::codes::op;
use zab_jute::data::Acl;
use zab_jute::proto::{ConnectRequest, CreateRequest, PathWatchRequest, SetDataRequest};
use zab_jute::record::Record;
use zookeeper_client as zk;

fn addr(m: &Member) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], m.client))
}

/// A connection of `session` (id and password) through `m`, with the session's timeout.
async fn attach(m: &Member, session: i64, timeout: i32) -> Raw {
    let req = ConnectRequest {
        session_id: session,
        passwd: zab_datatree::java::session_password(session).to_vec(),
        time_out: timeout,
        read_only: Some(false),
        ..Default::default()
    };
    Raw::connect_with(addr(m), req).await.expect("handshake through a member")
}

/// Whether `m` answers a reconnect of `session` with ZooKeeper's "expired" (session 0,
/// timeout 0).
async fn expired_on(m: &Member, session: i64) -> bool {
    let r = attach(m, session, 10_000).await;
    r.session_id == 0 && r.timeout == 0
}

/// Waits (20 s at most) until the client's session is Expired, and checks it only passed
/// through Disconnected on the way (it never got its session back).
async fn ends_expired(mut w: zk::StateWatcher, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let s = match tokio::time::timeout_at(deadline, w.changed()).await {
            Ok(s) => s,
            Err(_) => panic!("{what}: the client never saw its session expire (states seen: {seen:?})"),
        };
        seen.push(s);
        if s == zk::SessionState::Expired {
            break;
        }
    }
    let before = &seen[..seen.len() - 1];
    assert!(before.iter().all(|s| *s == zk::SessionState::Disconnected), "{what}: states on the way {seen:?}");
}

async fn stop_all(members: Vec<Member>) {
    for m in members {
        m.stop().await;
    }
}

/// A client with an ephemeral node is on member `client_on` (0 is the leader); a second
/// handle of its session closes it through member `closed_via`. The client's connection is
/// closed by its member (the client sees Disconnected), and its reconnect through that member
/// is answered "expired"; the ephemeral node is gone on every member.
async fn closed_through_another_member(client_on: usize, closed_via: usize) {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let members = start_serving(root.path(), 1, &ports).await;
    let mut client = Raw::connect(addr(&members[client_on])).await;
    let session = client.session_id;
    let create = CreateRequest { path: "/eph".into(), data: None, acl: Acl::open_unsafe(), flags: 1 }.to_bytes();
    let (h, _) = client.call(1, op::CREATE, &create).await.expect("create answered");
    assert_eq!(h.err, 0, "an ephemeral node");

    let mut closer = attach(&members[closed_via], session, 10_000).await;
    assert_eq!(closer.session_id, session, "the second handle attaches to the live session");
    let (h, _) = closer.call(1, op::CLOSE_SESSION, &[]).await.expect("closeSession answered");
    assert_eq!(h.err, 0);

    let what = format!("client on member {}, session closed through member {}", client_on + 1, closed_via + 1);
    assert!(client.is_closed().await, "{what}: the client's connection stays open");
    assert!(expired_on(&members[client_on], session).await, "{what}: the reconnect is not told it expired");
    for m in &members {
        assert!(expired_on(m, session).await, "member {} still knows the closed session", m.id);
        until(Duration::from_secs(20), "the ephemeral node gone", || async {
            m.server().filter(|s| s.tree().node("/eph").is_none()).map(|_| ())
        })
        .await;
    }
    stop_all(members).await;
}

/// With a client library on a follower: the session closed through the leader ends as
/// Expired, having passed only through Disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_library_sees_its_session_closed_elsewhere_expire() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let members = start_serving(root.path(), 1, &ports).await;
    let client = members[1].client().await;
    let session = client.session().id().0;
    let states = client.state_watcher();
    let mut closer = attach(&members[0], session, 10_000).await;
    let (h, _) = closer.call(1, op::CLOSE_SESSION, &[]).await.expect("closeSession answered");
    assert_eq!(h.err, 0);
    ends_expired(states, "client library on member 2, session closed through member 1").await;
    assert!(matches!(client.get_data("/").await, Err(zk::Error::SessionExpired)));
    drop(client);
    stop_all(members).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_on_a_follower_closed_through_the_leader_expires_its_client() {
    closed_through_another_member(1, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_on_a_follower_closed_through_the_other_follower_expires_its_client() {
    closed_through_another_member(1, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_on_the_leader_closed_through_a_follower_expires_its_client() {
    closed_through_another_member(0, 1).await;
}

/// The leader expires silent sessions whose clients are connected to a follower and to the
/// leader itself: each member closes its connection, and a reconnect hears "expired".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_expired_by_the_leader_closes_its_connection_on_every_member() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let members = start_serving(root.path(), 1, &ports).await;
    // tickTime 100: the shortest timeout is 200 ms. These clients never ping.
    let silent = |m: &Member| {
        let a = addr(m);
        async move {
            Raw::connect_with(a, ConnectRequest { time_out: 200, passwd: vec![0; 16], ..Default::default() })
                .await
                .expect("a session")
        }
    };
    let mut on_follower = silent(&members[1]).await;
    let mut on_leader = silent(&members[0]).await;
    assert_ne!(on_follower.session_id, 0);
    assert!(on_follower.is_closed().await, "the follower keeps the expired session's connection open");
    assert!(on_leader.is_closed().await, "the leader keeps the expired session's connection open");
    for m in &members {
        assert!(expired_on(m, on_follower.session_id).await, "member {}", m.id);
        assert!(expired_on(m, on_leader.session_id).await, "member {}", m.id);
    }
    stop_all(members).await;
}

fn set_data(path: &str, data: &[u8]) -> Vec<u8> {
    SetDataRequest { path: path.into(), data: Some(data.to_vec()), version: -1 }.to_bytes()
}

/// A session moves from member `from` to member `to`; a write through the old connection
/// closes that connection without an answer (ZooKeeper's SessionMovedException handling), and
/// the write is not applied.
async fn write_through_the_old_member(from: usize, to: usize) {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let members = start_serving(root.path(), 1, &ports).await;
    let setup = members[0].client().await;
    setup.create("/owned", b"v0", &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())).await.unwrap();
    let mut old = Raw::connect(addr(&members[from])).await;
    let session = old.session_id;
    let mut moved = attach(&members[to], session, 10_000).await;
    assert_eq!(moved.session_id, session);
    let (h, _) =
        moved.call(1, op::SET_DATA, &set_data("/owned", b"new")).await.expect("a write through the new member");
    assert_eq!(h.err, 0);

    let mut frame = zab_jute::proto::RequestHeader { xid: 2, op_type: op::SET_DATA }.to_bytes();
    frame.extend_from_slice(&set_data("/owned", b"old"));
    old.send_raw(&common::frame(&frame)).await;
    match old.read_reply().await {
        None => {}
        Some((h, _)) => panic!("the old connection was answered (xid {}, err {}) instead of closed", h.xid, h.err),
    }
    assert!(old.is_closed().await);
    assert_eq!(setup.get_data("/owned").await.unwrap().0, b"new");
    let (h, _) = moved.call(3, op::SET_DATA, &set_data("/owned", b"again")).await.expect("the new member still serves");
    assert_eq!(h.err, 0);
    drop(setup);
    stop_all(members).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_through_a_moved_sessions_old_follower_closes_that_connection() {
    write_through_the_old_member(1, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_through_a_moved_sessions_old_leader_connection_closes_it() {
    write_through_the_old_member(0, 1).await;
}

/// With a client library: the write fails as a connection loss, the client reconnects through
/// its member (taking the session back) and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_library_sees_a_connection_loss_not_session_moved() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let members = start_serving(root.path(), 1, &ports).await;
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let old = members[1].client().await;
    old.create("/owned", b"", &acl).await.unwrap();
    let moved = zk::Client::connector()
        .with_session(old.session().clone())
        .with_session_timeout(Duration::from_secs(10))
        .connect(&format!("127.0.0.1:{}", members[2].client))
        .await
        .expect("the session reconnects through member 3");
    moved.set_data("/owned", b"from 3", None).await.expect("a write through the new member");
    let r = old.set_data("/owned", b"from 2", None).await;
    assert!(matches!(r, Err(zk::Error::ConnectionLoss)), "expected a connection loss, got {r:?}");
    assert_eq!(moved.get_data("/owned").await.unwrap().0, b"from 3");
    drop((old, moved));
    stop_all(members).await;
}

/// On the leader every request of a session passes the owner check (ZooKeeper's
/// PrepRequestProcessor checks reads and pings too): once the session moved to a follower, a
/// read or a ping through its old connection on the leader closes that connection unanswered.
/// On a follower reads are served locally without that check, so an old connection there
/// still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_and_pings_through_a_moved_sessions_old_leader_connection_close_it() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let members = start_serving(root.path(), 1, &ports).await;
    let get_data = PathWatchRequest { path: "/".into(), watch: false }.to_bytes();
    for (xid, op_type, body) in
        [(5, op::GET_DATA, get_data.clone()), (zab_jute::codes::xid::PING, op::PING, Vec::new())]
    {
        let mut old = Raw::connect(addr(&members[0])).await;
        let session = old.session_id;
        let (h, _) = old.call(1, op_type, &body).await.expect("answered before the move");
        assert_eq!(h.err, 0);
        let moved = attach(&members[1], session, 10_000).await;
        assert_eq!(moved.session_id, session);
        let mut frame = zab_jute::proto::RequestHeader { xid, op_type }.to_bytes();
        frame.extend_from_slice(&body);
        old.send_raw(&common::frame(&frame)).await;
        if let Some((h, _)) = old.read_reply().await {
            panic!("{} through the old leader connection answered (err {})", op::name(op_type), h.err);
        }
        assert!(old.is_closed().await);
    }
    // A follower's old connection still reads.
    let mut old = Raw::connect(addr(&members[1])).await;
    let session = old.session_id;
    let _moved = attach(&members[2], session, 10_000).await;
    let (h, _) = old.call(7, op::GET_DATA, &get_data).await.expect("a follower answers reads of a moved session");
    assert_eq!(h.err, 0);
    stop_all(members).await;
}

/// NIOServerCnxnFactory's connection expiry: a connection that sends nothing for its
/// session's timeout is closed by its member (within one sweep of sessionlessCnxnTimeout) even
/// while the session lives on through another connection (here a second handle on another
/// member that keeps pinging).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_connection_is_closed_after_its_session_timeout_while_the_session_lives() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut ports = ports(3);
    // Sweeps every 100 ms instead of ZooKeeper's default 10 s.
    for p in &mut ports {
        p.sessionless_ms = Some(100);
    }
    let members = start_serving(root.path(), 1, &ports).await;
    let mut silent = Raw::connect(addr(&members[1])).await;
    let session = silent.session_id;
    let timeout = silent.timeout;
    let mut live = attach(&members[2], session, timeout).await;
    assert_eq!(live.session_id, session);
    // Ping through the live handle (bounded: 200 pings) until the silent one is closed.
    let pinger = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        for _ in 0..200 {
            tick.tick().await;
            let (h, _) = live.call(zab_jute::codes::xid::PING, op::PING, &[]).await.expect("ping answered");
            assert_eq!(h.err, 0);
        }
        live
    });
    assert!(silent.is_closed().await, "a connection silent for {timeout} ms stays open");
    pinger.abort();
    assert!(!expired_on(&members[2], session).await, "the session itself lives on");
    stop_all(members).await;
}

/// The member a session's client is connected to dies: the client reattaches through another
/// member within its timeout and keeps its session and ephemeral node; a session whose client
/// never comes back is expired by the leader, and its ephemeral node goes on every member.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_outlive_their_members_death_only_if_their_client_returns() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let mut members = start_serving(root.path(), 1, &ports).await;
    let ephemeral = |path: &str| CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 1 };
    let mut back = Raw::connect(addr(&members[1])).await;
    let mut gone = Raw::connect(addr(&members[1])).await;
    for (raw, path) in [(&mut back, "/back"), (&mut gone, "/gone")] {
        let (h, _) = raw.call(1, op::CREATE, &ephemeral(path).to_bytes()).await.expect("create answered");
        assert_eq!(h.err, 0, "{path}");
    }
    let (back_id, gone_id) = (back.session_id, gone.session_id);
    members.remove(1).stop().await;
    assert!(back.is_closed().await && gone.is_closed().await, "a stopped member's connections are closed");
    let mut again = attach(&members[1], back_id, back.timeout).await;
    assert_eq!(again.session_id, back_id, "the session survives its member through another one");
    let (h, _) = again.call(2, op::SET_DATA, &set_data("/back", b"still mine")).await.expect("a write");
    assert_eq!(h.err, 0);
    // The returned client pings (bounded: 400 pings), as a client library would.
    let pinger = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        for _ in 0..400 {
            tick.tick().await;
            let (h, _) = again.call(zab_jute::codes::xid::PING, op::PING, &[]).await.expect("ping answered");
            assert_eq!(h.err, 0);
        }
    });
    for m in &members {
        until(Duration::from_secs(20), "the lost session expired and its ephemeral gone", || async {
            m.server().filter(|s| s.tree().node("/gone").is_none()).map(|_| ())
        })
        .await;
        assert!(expired_on(m, gone_id).await, "member {}", m.id);
        let server = m.server().expect("serving");
        let node = server.tree().node("/back").map(|n| n.stat.ephemeral_owner);
        assert_eq!(node, Some(back_id), "member {}: the returned session's ephemeral stays", m.id);
    }
    assert!(!pinger.is_finished(), "the returned session's pings kept being answered");
    pinger.abort();
    stop_all(members).await;
}
