//! The election port on real sockets (127.0.0.1): QuorumCnxManager's handshake bytes and tie
//! rule against a hand-driven fake peer, bad input ending only its own connection, and
//! FastLeaderElection drivers electing, re-electing, rejoining and observing.
//!
//! Nothing sleeps to wait: each condition is polled against a deadline. Every QCM and driver
//! is shut down at the end of its test.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, frame, read_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use zab_jute::quorum::{peer_state, InitialMessage, Notification, INITIAL_MESSAGE_V1, INITIAL_MESSAGE_V2};
use zab_node::peer::election::{Elected, Election};
use zab_node::peer::qcm::{QcmSettings, QuorumCnxManager, PACKETMAXSIZE};
use zab_quorum::election::{ElectionConfig, PeerState};
use zab_quorum::verifier::{QuorumMaj, QuorumServer};

type Received = mpsc::Receiver<(u64, Vec<u8>)>;

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0")
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> u16 {
    listener().await.local_addr().expect("local addr").port()
}

/// A view of `(sid, election port, observer)` members on 127.0.0.1.
fn view(members: &[(u64, u16, bool)]) -> QuorumMaj {
    QuorumMaj::new(
        members.iter().map(|(sid, port, observer)| {
            let kind = if *observer { ":observer" } else { "" };
            QuorumServer::parse(*sid, &format!("127.0.0.1:2888:{port}{kind}")).expect("server line")
        }),
        0,
    )
}

fn settings() -> QcmSettings {
    QcmSettings {
        socket_timeout: Duration::from_millis(500),
        cnx_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

async fn qcm(myid: u64, view: QuorumMaj, l: TcpListener) -> (Arc<QuorumCnxManager>, Received) {
    QuorumCnxManager::start_on(myid, view, settings(), l).await.expect("start QCM")
}

fn port(l: &TcpListener) -> u16 {
    l.local_addr().expect("local addr").port()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn initial(version: i64, sid: i64, address: &str) -> Vec<u8> {
    InitialMessage { protocol_version: version, sid, addresses: vec![address.to_owned()] }.encode()
}

fn looking(leader: i64, zxid: i64, round: i64, epoch: i64) -> Notification {
    Notification {
        state: peer_state::LOOKING,
        leader,
        zxid,
        election_epoch: round,
        peer_epoch: epoch,
        version: 2,
        config: b"server.9=127.0.0.1:2888:3888:participant\nversion=0".to_vec(),
    }
}

/// True when the other side closes `s` (EOF or reset) within 5 s.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn recv(rx: &mut Received) -> (u64, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a message within 5 s").expect("channel open")
}

/// Reads an initial message the way ZooKeeper's `handleConnection` does.
async fn read_initial(s: &mut TcpStream) -> (i64, i64, String) {
    let version = s.read_i64().await.expect("protocol version");
    let sid = s.read_i64().await.expect("sid");
    let len = s.read_i32().await.expect("address length");
    assert!((1..=2048).contains(&len), "address length {len}");
    let mut text = vec![0u8; len as usize];
    s.read_exact(&mut text).await.expect("address");
    (version, sid, String::from_utf8(text).expect("utf-8 address"))
}

/// Checks `bytes` against FastLeaderElection.buildMsg's layout and returns its fields.
fn zookeeper_layout(bytes: &[u8]) -> (i32, i64, i64, i64, i64, String) {
    let int = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let long = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    assert!(bytes.len() >= 44, "a version-2 notification has 44 bytes before its config");
    assert_eq!(int(36), 2, "version");
    let config_len = int(40) as usize;
    assert_eq!(bytes.len(), 44 + config_len, "configLength covers the rest");
    let config = String::from_utf8(bytes[44..].to_vec()).expect("config text");
    (int(0), long(4), long(12), long(20), long(28), config)
}

#[tokio::test]
async fn a_higher_sid_keeps_its_connection_and_messages_flow_both_ways() {
    let l = listener().await;
    let me = port(&l);
    let (q, mut rx) = qcm(1, view(&[(1, me, false), (2, closed_port().await, false), (3, 3888, false)]), l).await;

    // Sid 3 dials with a V2 initial message, then sends a version-2 notification.
    let mut fake = TcpStream::connect(addr(me)).await.expect("connect");
    fake.write_all(&initial(INITIAL_MESSAGE_V2, 3, "127.0.0.1:3888")).await.expect("write");
    let n = looking(3, 0x500000002, 7, 5);
    fake.write_all(&frame(&n.encode())).await.expect("write");
    let (from, bytes) = recv(&mut rx).await;
    assert_eq!((from, bytes), (3, n.encode()), "delivered as sent, tagged with the sender's sid");
    assert_eq!(q.connected_peers(), vec![3]);

    // The QCM answers over the same connection: int length, then ZooKeeper's layout.
    let answer = Notification { state: peer_state::FOLLOWING, leader: 3, config: b"version=0".to_vec(), ..n.clone() };
    q.send(3, answer.encode());
    let got = read_frame(&mut fake).await.expect("a frame");
    assert_eq!(zookeeper_layout(&got), (1, 3, 0x500000002, 7, 5, "version=0".to_owned()));

    // A message to myself goes straight to the receive channel.
    q.send(1, b"loopback".to_vec());
    assert_eq!(recv(&mut rx).await, (1, b"loopback".to_vec()));
    q.shutdown().await;
    assert!(closed(&mut fake).await, "shutdown closes the connections");
}

#[tokio::test]
async fn a_lower_sid_is_dropped_and_dialled_back() {
    let l = listener().await;
    let me = port(&l);
    let fake_listener = listener().await;
    let fake_port = port(&fake_listener);
    // The fake (sid 1) advertises its own listener; the view holds an unusable port for it,
    // so the dial-back must use the advertised address, as ZooKeeper's connectOne(sid, addr).
    let (q, mut rx) = qcm(3, view(&[(1, closed_port().await, false), (3, me, false)]), l).await;

    let mut fake = TcpStream::connect(addr(me)).await.expect("connect");
    fake.write_all(&initial(INITIAL_MESSAGE_V1, 1, &format!("127.0.0.1:{fake_port}"))).await.expect("write");
    assert!(closed(&mut fake).await, "the connection from the smaller sid is closed");

    let (mut back, _) = tokio::time::timeout(Duration::from_secs(5), fake_listener.accept())
        .await
        .expect("the QCM dials back within 5 s")
        .expect("accept");
    let (version, sid, address) = read_initial(&mut back).await;
    assert_eq!(version, INITIAL_MESSAGE_V1, "ZooKeeper 3.8 sends V1 unless multiAddress.enabled");
    assert_eq!((sid, address), (3, format!("127.0.0.1:{me}")));
    eventually(5, "the dialled connection is kept", || {
        let q = q.clone();
        async move { q.connected_peers() == vec![1] }
    })
    .await;
    q.send(1, b"hello".to_vec());
    assert_eq!(read_frame(&mut back).await, Some(b"hello".to_vec()));
    back.write_all(&frame(b"world")).await.expect("write");
    assert_eq!(recv(&mut rx).await, (1, b"world".to_vec()));
    q.shutdown().await;
}

#[tokio::test]
async fn a_legacy_observer_gets_a_negative_id_and_is_dialled_back() {
    // handleConnection: sid Long.MAX_VALUE (QuorumPeer.OBSERVER_ID) becomes -1, -2, ...,
    // which is smaller than any myid, so the connection is closed and dialled back.
    let l = listener().await;
    let me = port(&l);
    let fake_listener = listener().await;
    let (q, mut rx) = qcm(2, view(&[(2, me, false)]), l).await;
    let mut fake = TcpStream::connect(addr(me)).await.expect("connect");
    let advertised = format!("127.0.0.1:{}", port(&fake_listener));
    fake.write_all(&initial(INITIAL_MESSAGE_V1, i64::MAX, &advertised)).await.expect("write");
    assert!(closed(&mut fake).await);
    let (mut back, _) = tokio::time::timeout(Duration::from_secs(5), fake_listener.accept())
        .await
        .expect("dialled back")
        .expect("accept");
    assert_eq!(read_initial(&mut back).await.1, 2);
    back.write_all(&frame(b"from an observer")).await.expect("write");
    assert_eq!(recv(&mut rx).await, (-1i64 as u64, b"from an observer".to_vec()));
    q.shutdown().await;
}

#[tokio::test]
async fn a_busy_election_port_is_an_error_naming_it() {
    let busy = listener().await;
    let p = port(&busy);
    let settings = QcmSettings { election_port_bind_retry: 1, ..settings() };
    let err = match QuorumCnxManager::start(1, view(&[(1, p, false)]), settings).await {
        Ok(_) => panic!("bound a port that is in use"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&format!("127.0.0.1:{p}")) && err.contains("electionPortBindRetry"), "{err}");
}

#[tokio::test]
async fn bad_input_closes_only_that_connection() {
    let l = listener().await;
    let me = port(&l);
    let (q, mut rx) = qcm(1, view(&[(1, me, false), (5, closed_port().await, false)]), l).await;
    let long = |v: i64| v.to_be_bytes().to_vec();
    let int = |v: i32| v.to_be_bytes().to_vec();
    let header = |len: i32| [long(INITIAL_MESSAGE_V2), long(5), int(len)].concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown protocol version", [long(-7), long(5)].concat()),
        ("address length over 2048", header(4096)),
        ("address length 0", header(0)),
        ("negative address length", header(-1)),
        ("address without a port", [header(9), b"127.0.0.1".to_vec()].concat()),
        ("address with a bad port", [header(15), b"127.0.0.1:99999".to_vec()].concat()),
        ("stalled handshake", long(INITIAL_MESSAGE_V2)),
        ("garbage", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
    ];
    for (what, bytes) in cases {
        let mut s = TcpStream::connect(addr(me)).await.expect("connect");
        s.write_all(&bytes).await.expect("write");
        assert!(closed(&mut s).await, "{what}: the connection must be closed");
    }
    // After a good handshake: an oversized, a negative and a zero length frame.
    for len in [PACKETMAXSIZE as i32 + 1, -4, 0] {
        let mut s = TcpStream::connect(addr(me)).await.expect("connect");
        s.write_all(&initial(INITIAL_MESSAGE_V2, 5, "127.0.0.1:1")).await.expect("write");
        s.write_all(&int(len)).await.expect("write");
        assert!(closed(&mut s).await, "frame length {len}: the connection must be closed");
    }
    // Still working for everyone else, including a frame of exactly PACKETMAXSIZE.
    let mut good = TcpStream::connect(addr(me)).await.expect("connect");
    good.write_all(&initial(INITIAL_MESSAGE_V2, 5, "127.0.0.1:1")).await.expect("write");
    let big = vec![7u8; PACKETMAXSIZE];
    good.write_all(&frame(&big)).await.expect("write");
    let (from, bytes) = recv(&mut rx).await;
    assert_eq!((from, bytes.len()), (5, PACKETMAXSIZE));
    q.shutdown().await;
}

#[tokio::test]
async fn a_stranger_is_answered_with_the_current_vote() {
    // ZooKeeper 3.8 accepts a sid outside the view and FastLeaderElection answers it as a
    // non-voter (WorkerReceiver) with its current vote, logical clock and state.
    let l = listener().await;
    let me = port(&l);
    let v = view(&[(1, me, false), (2, closed_port().await, false), (3, closed_port().await, false)]);
    let (q, rx) = qcm(1, v.clone(), l).await;
    let election = Arc::new(Election::start(q, rx, 0x400000009, 4, ElectionConfig::default()));
    let looking_task = {
        let e = election.clone();
        tokio::spawn(async move { e.look_for_leader(0x400000009, 4).await })
    };
    let mut fake = TcpStream::connect(addr(me)).await.expect("connect");
    fake.write_all(&initial(INITIAL_MESSAGE_V2, 9, "127.0.0.1:1")).await.expect("write");
    fake.write_all(&frame(&looking(9, 0x700000000, 1, 7).encode())).await.expect("write");
    let got = read_frame(&mut fake).await.expect("an answer");
    let (state, leader, zxid, round, epoch, config) = zookeeper_layout(&got);
    assert_eq!((state, leader, zxid, round, epoch), (peer_state::LOOKING, 1, 0x400000009, 1, 4));
    assert_eq!(config, v.to_text(), "the sender's quorum verifier as text");
    assert_eq!(election.state(), PeerState::Looking, "a stranger's vote does not count");
    election.shutdown().await;
    assert_eq!(looking_task.await.expect("join"), None, "a pending election ends with the driver");
}

/// Starts a driver on `l` (or on the view's port when `l` is None).
async fn driver(myid: u64, v: &QuorumMaj, l: Option<TcpListener>, zxid: i64) -> Arc<Election> {
    let (q, rx) = match l {
        Some(l) => qcm(myid, v.clone(), l).await,
        None => QuorumCnxManager::start(myid, v.clone(), settings()).await.expect("start QCM on the view's port"),
    };
    Arc::new(Election::start(q, rx, zxid, 1, ElectionConfig::default()))
}

/// Runs look_for_leader on every driver at once; returns (sid, state, leader).
async fn elect(drivers: &[(u64, Arc<Election>, i64)]) -> Vec<(u64, PeerState, u64)> {
    let tasks: Vec<_> = drivers
        .iter()
        .map(|(sid, e, zxid)| {
            let (sid, e, zxid) = (*sid, e.clone(), *zxid);
            tokio::spawn(async move {
                let decided = tokio::time::timeout(Duration::from_secs(20), e.look_for_leader(zxid, 1)).await;
                match decided.expect("decided within 20 s").expect("not stopped") {
                    Elected::Role(state, vote) => (sid, state, vote.leader),
                    Elected::NewerConfig(v) => panic!("one configuration in these tests, got {v:?}"),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("join"));
    }
    out
}

#[tokio::test]
async fn three_members_elect_reelect_and_a_restarted_member_rejoins() {
    let ls = [listener().await, listener().await, listener().await];
    let v = view(&[(1, port(&ls[0]), false), (2, port(&ls[1]), false), (3, port(&ls[2]), false)]);
    let zxids = [0x100000005, 0x100000007, 0x100000006];
    let mut drivers = Vec::new();
    for (i, l) in ls.into_iter().enumerate() {
        let sid = i as u64 + 1;
        drivers.push((sid, driver(sid, &v, Some(l), zxids[i]).await, zxids[i]));
    }
    // The highest zxid wins, even over a higher sid.
    let result = elect(&drivers).await;
    assert_eq!(
        result,
        vec![(1, PeerState::Following, 2), (2, PeerState::Leading, 2), (3, PeerState::Following, 2)],
        "sid 2 has the highest zxid"
    );

    // The leader goes away; the other two elect again and agree on 3 (zxid 6 > 5).
    let (_, leader, _) = drivers.remove(1);
    leader.shutdown().await;
    drop(leader);
    let result = elect(&drivers).await;
    assert_eq!(result, vec![(1, PeerState::Following, 3), (3, PeerState::Leading, 3)]);

    // Sid 2 comes back on its old port with less history: the established ensemble, no
    // longer looking, answers it with its current vote and it follows 3.
    let back = driver(2, &v, None, 0x100000001).await;
    let rejoin = elect(&[(2, back.clone(), 0x100000001)]).await;
    assert_eq!(rejoin, vec![(2, PeerState::Following, 3)]);
    assert_eq!(drivers[0].1.state(), PeerState::Following, "sid 1 did not start looking");
    assert_eq!(drivers[1].1.state(), PeerState::Leading, "sid 3 did not start looking");
    eventually(5, "sid 2 is connected to both", || {
        let back = back.clone();
        async move { back.qcm().connected_peers() == vec![1, 3] }
    })
    .await;
    back.shutdown().await;
    for (_, e, _) in drivers {
        e.shutdown().await;
    }
}

#[tokio::test]
async fn an_observer_learns_the_leader_from_the_voters() {
    let ls = [listener().await, listener().await, listener().await, listener().await];
    let v =
        view(&[(1, port(&ls[0]), false), (2, port(&ls[1]), false), (3, port(&ls[2]), false), (4, port(&ls[3]), true)]);
    // The observer has the most history: it must still not be proposed, nor count.
    let zxids = [0x100000003, 0x100000002, 0x100000001, 0x100000009];
    let mut drivers = Vec::new();
    for (i, l) in ls.into_iter().enumerate() {
        let sid = i as u64 + 1;
        drivers.push((sid, driver(sid, &v, Some(l), zxids[i]).await, zxids[i]));
    }
    let result = elect(&drivers).await;
    assert_eq!(
        result,
        vec![
            (1, PeerState::Leading, 1),
            (2, PeerState::Following, 1),
            (3, PeerState::Following, 1),
            (4, PeerState::Observing, 1),
        ]
    );
    for (_, e, _) in drivers {
        e.shutdown().await;
    }
}
