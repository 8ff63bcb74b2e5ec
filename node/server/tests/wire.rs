//! Byte-level tests of the client port: handshake forms, pings, zxid assignment, and
//! every kind of bad input — each must end only its own connection (or get an error
//! reply), while the server and every other session keep working and nothing stored
//! changes.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;
use zab_jute::codes::op;
use zab_jute::data::Acl;
use zab_jute::proto::{ConnectRequest, CreateRequest, PathWatchRequest};
use zab_jute::record::Record;

fn create_body(path: &str) -> Vec<u8> {
    CreateRequest { path: path.into(), data: Some(b"v".to_vec()), acl: Acl::open_unsafe(), flags: 0 }.to_bytes()
}

async fn exists(raw: &mut Raw, path: &str) -> i32 {
    let (h, _) = raw
        .call(1000, op::EXISTS, &PathWatchRequest { path: path.into(), watch: false }.to_bytes())
        .await
        .expect("exists reply");
    h.err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_in_both_forms() {
    let s = start(test_config()).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = ConnectRequest { time_out: 1, passwd: vec![0; 16], read_only: Some(false), ..Default::default() };
    assert_eq!(req.to_bytes().len(), 45);
    stream.write_all(&frame(&req.to_bytes())).await.unwrap();
    let rsp = read_frame(&mut stream).await.unwrap();
    assert_eq!(rsp.len(), 37);
    // timeout clamped up to minSessionTimeout, session id carries server id 1 on top
    assert_eq!(i32::from_be_bytes(rsp[4..8].try_into().unwrap()), 200);
    assert_eq!(rsp[8], 1);
    let legacy = ConnectRequest { time_out: 999_999, passwd: vec![0; 16], read_only: None, ..Default::default() };
    assert_eq!(legacy.to_bytes().len(), 44);
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream.write_all(&frame(&legacy.to_bytes())).await.unwrap();
    let rsp = read_frame(&mut stream).await.unwrap();
    assert_eq!(rsp.len(), 36);
    assert_eq!(i32::from_be_bytes(rsp[4..8].try_into().unwrap()), 20_000, "clamped to maxSessionTimeout");
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_zxids_of_every_write_including_failures() {
    let s = start(test_config()).await;
    let mut c = Raw::connect(s.addr).await;
    let (h, body) = c.call(-2, op::PING, &[]).await.unwrap();
    assert_eq!((h.xid, h.zxid, h.err, body.len()), (-2, 1, 0, 0));
    let (h, _) = c.call(1, op::CREATE, &create_body("/x")).await.unwrap();
    assert_eq!((h.xid, h.zxid, h.err), (1, 2, 0));
    let (h, _) = c.call(2, op::CREATE, &create_body("/x")).await.unwrap();
    assert_eq!((h.zxid, h.err), (3, -110), "a failed write is an error txn with its own zxid");
    let (h, _) = c.call(3, op::CREATE, &create_body("bad")).await.unwrap();
    assert_eq!((h.zxid, h.err), (4, -8));
    // ZooKeeper looks the parent up before it validates the whole path: NoNode here ...
    let (h, _) = c.call(4, op::CREATE, &create_body("/a/../b")).await.unwrap();
    assert_eq!((h.zxid, h.err), (5, -101));
    // ... and BadArguments once the parent exists.
    let (h, _) = c.call(4, op::CREATE, &create_body("/x/.")).await.unwrap();
    assert_eq!((h.zxid, h.err), (6, -8));
    let (h, _) = c.call(5, op::EXISTS, &PathWatchRequest { path: "/x".into(), watch: false }.to_bytes()).await.unwrap();
    assert_eq!((h.zxid, h.err), (6, 0), "reads carry the last zxid and consume none");
    let (h, _) = c.call(6, op::CLOSE_SESSION, &[]).await.unwrap();
    assert_eq!((h.zxid, h.err), (7, 0));
    assert!(c.is_closed().await);
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_only_its_own_connection() {
    let s = start(test_config()).await;
    let mut good = Raw::connect(s.addr).await;
    assert_eq!(good.call(1, op::CREATE, &create_body("/keep")).await.unwrap().0.err, 0);

    // a frame longer than jute.maxbuffer
    let mut bad = Raw::connect(s.addr).await;
    bad.send_raw(&(zab_jute::DEFAULT_MAX_BUFFER as i32 + 1).to_be_bytes()).await;
    assert!(bad.is_closed().await);
    // a negative length
    let mut bad = Raw::connect(s.addr).await;
    bad.send_raw(&(-5i32).to_be_bytes()).await;
    assert!(bad.is_closed().await);
    // a frame too short for a request header
    let mut bad = Raw::connect(s.addr).await;
    bad.send_raw(&frame(&[1, 2, 3])).await;
    assert!(bad.is_closed().await);
    // an unknown opcode: Unimplemented, then closed
    let mut bad = Raw::connect(s.addr).await;
    let (h, _) = bad.call(9, 999, &[]).await.unwrap();
    assert_eq!((h.xid, h.zxid, h.err), (9, -1, -6));
    assert!(bad.is_closed().await);
    // a record whose string length lies: a marshalling error, the session goes on
    let mut liar = Raw::connect(s.addr).await;
    let mut body = create_body("/lie");
    body[0..4].copy_from_slice(&1000i32.to_be_bytes());
    let (h, _) = liar.call(1, op::CREATE, &body).await.unwrap();
    assert_eq!(h.err, -5);
    let (h, _) = liar.call(2, op::GET_DATA, &[0, 0, 0, 9, b'/']).await.unwrap();
    assert_eq!(h.err, -5, "a truncated read request is a marshalling error too");
    assert_eq!(exists(&mut liar, "/keep").await, 0);
    // garbage before the handshake
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream.write_all(&frame(b"garbage")).await.unwrap();
    assert!(read_frame(&mut stream).await.is_none());
    // a bad auth packet closes that connection with AuthFailed
    let mut bad = Raw::connect(s.addr).await;
    let (h, _) = bad.call(-4, op::AUTH, &[0, 0, 0, 0, 0, 0, 0, 3, b'x', b'y', b'z', 0, 0, 0, 0]).await.unwrap();
    assert_eq!(h.err, -115);
    assert!(bad.is_closed().await);

    // everyone else is untouched
    assert_eq!(exists(&mut good, "/keep").await, 0);
    assert_eq!(exists(&mut good, "/lie").await, -101);
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_max_client_cnxns_are_refused() {
    let mut cfg = test_config();
    cfg.max_client_cnxns = 4;
    let s = start(cfg).await;
    let mut four = Vec::new();
    for _ in 0..4 {
        four.push(Raw::connect(s.addr).await);
    }
    let fifth = Raw::connect_with(
        s.addr,
        ConnectRequest { time_out: 1000, passwd: vec![0; 16], read_only: Some(false), ..Default::default() },
    )
    .await;
    assert!(fifth.is_none(), "the fifth connection from one address is closed");
    for c in &mut four {
        assert_eq!(exists(c, "/").await, 0);
    }
    drop(four.pop());
    eventually(5, "a slot frees when a connection closes", || async {
        Raw::connect_with(
            s.addr,
            ConnectRequest { time_out: 1000, passwd: vec![0; 16], read_only: Some(false), ..Default::default() },
        )
        .await
        .is_some()
    })
    .await;
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words_honour_the_whitelist() {
    let mut cfg = test_config();
    cfg.four_letter_whitelist =
        Some(["ruok".to_string(), "srvr".to_string(), "mntr".to_string()].into_iter().collect());
    let s = start(cfg).await;
    let ask = |cmd: &'static str| async move {
        let mut st = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        st.write_all(cmd.as_bytes()).await.unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut st, &mut out).await.unwrap();
        out
    };
    assert_eq!(ask("ruok").await, "imok");
    let srvr = ask("srvr").await;
    assert!(srvr.starts_with("Zookeeper version: 3.8.0-zab"), "{srvr}");
    assert!(srvr.contains("Mode: standalone") && srvr.contains("Node count: 4"), "{srvr}");
    let mntr = ask("mntr").await;
    assert!(mntr.lines().any(|l| l == "zk_znode_count\t4"), "{mntr}");
    assert_eq!(ask("dump").await, "dump is not executed because it is not in the whitelist.\n");
    let _ = s.stop().await;
}

/// Arbitrary bytes after a handshake never take the server down or change stored data.
#[test]
fn fuzz_frames_after_handshake() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let s = rt.block_on(start(test_config()));
    let addr = s.addr;
    rt.block_on(async {
        let mut c = Raw::connect(addr).await;
        assert_eq!(c.call(1, op::CREATE, &create_body("/stay")).await.unwrap().0.err, 0);
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 200, ..ProptestConfig::default() });
    runner
        .run(
            &(proptest::collection::vec(any::<u8>(), 0..200), any::<i32>(), any::<bool>()),
            |(bytes, op_type, framed)| {
                rt.block_on(async {
                    let mut c = Raw::connect(addr).await;
                    if framed {
                        let mut p = zab_jute::proto::RequestHeader { xid: 7, op_type }.to_bytes();
                        p.extend_from_slice(&bytes);
                        c.send_raw(&frame(&p)).await;
                    } else {
                        c.send_raw(&bytes).await;
                    }
                    let mut probe = Raw::connect(addr).await;
                    let (h, _) = probe
                        .call(1, op::GET_DATA, &PathWatchRequest { path: "/stay".into(), watch: false }.to_bytes())
                        .await
                        .expect("server alive");
                    prop_assert_eq!(h.err, 0);
                    Ok(())
                })
            },
        )
        .unwrap();
    let _ = rt.block_on(s.stop());
}

/// `zookeeper.nio.sessionlessCnxnTimeout`: a connection that sends nothing, or only part of
/// its ConnectRequest, is closed once that time has passed; the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_a_connect_request_is_closed_in_time() {
    use tokio::io::AsyncReadExt;
    let mut cfg = test_config();
    cfg.sessionless_cnxn_timeout = 300;
    let s = start(cfg).await;
    for sent in [&b""[..], &[0u8, 0, 0, 45, 0, 0, 0, 0][..]] {
        let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let mut buf = [0u8; 64];
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await;
        assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "after {} bytes: still open ({r:?})", sent.len());
    }
    let mut raw = Raw::connect(s.addr).await;
    assert_eq!(exists(&mut raw, "/").await, 0);
    s.stop().await;
}
