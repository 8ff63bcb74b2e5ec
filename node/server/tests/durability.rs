//! Durability through the server: what was acknowledged survives a restart, sessions and
//! their ephemerals come back, snapshots roll the log, and a torn log tail is cut.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use zookeeper_client as zk;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_restart() {
    let mut cfg = test_config();
    cfg.snap_count = 50; // several snapshots and log files
    let s = start(cfg.clone()).await;
    let c = s.client().await;
    for i in 0..200 {
        c.create(&format!("/k{i}"), format!("v{i}").as_bytes(), &persistent()).await.unwrap();
    }
    c.set_data("/k7", b"changed", None).await.unwrap();
    c.delete("/k8", None).await.unwrap();
    let last = s.server.last_processed_zxid();
    let digest = s.server.tree().digest();
    drop(c);
    let data = s.stop().await.unwrap();
    let snaps = std::fs::read_dir(data.path().join("version-2"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("snapshot."))
        .count();
    assert!(snaps >= 2, "snapCount 50 over ~200 txns writes snapshots ({snaps})");
    let mut cfg2 = cfg.clone();
    cfg2.data_dir = data.path().to_owned();
    cfg2.data_log_dir = data.path().to_owned();
    let s = start_in(cfg2).await;
    // the closeSession of the client above is logged too
    assert!(s.server.last_processed_zxid() >= last);
    let c = s.client().await;
    assert_eq!(c.get_data("/k7").await.unwrap().0, b"changed");
    assert_eq!(c.check_stat("/k8").await.unwrap(), None);
    assert_eq!(c.get_data("/k199").await.unwrap().0, b"v199");
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 199 + 3);
    let _ = digest;
    drop(c);
    let _ = s.stop().await;
    drop(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_ephemerals_come_back_and_expire() {
    let cfg = test_config();
    let s = start(cfg.clone()).await;
    let c = zk::Client::connector()
        .with_session_timeout(Duration::from_millis(500))
        .with_detached()
        .connect(&s.connect_string())
        .await
        .unwrap();
    c.create("/eph", b"", &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())).await.unwrap();
    let info = c.session().clone();
    drop(c);
    let data = s.stop().await.unwrap();
    let mut cfg2 = cfg.clone();
    cfg2.data_dir = data.path().to_owned();
    cfg2.data_log_dir = data.path().to_owned();
    let s = start_in(cfg2).await;
    // The session was restored: its owner can come back to it...
    let again = zk::Client::connector()
        .with_session(info)
        .with_session_timeout(Duration::from_millis(500))
        .connect(&s.connect_string())
        .await
        .unwrap();
    assert!(again.check_stat("/eph").await.unwrap().is_some());
    drop(again);
    // ...and once it is gone for good, expiry removes the ephemeral.
    let watcher = s.client().await;
    eventually(10, "restored session expires", || async { watcher.check_stat("/eph").await.unwrap().is_none() }).await;
    let _ = s.stop().await;
    drop(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_cut_on_restart() {
    let cfg = test_config();
    let s = start(cfg.clone()).await;
    let c = s.client().await;
    for i in 0..20 {
        c.create(&format!("/t{i}"), b"x", &persistent()).await.unwrap();
    }
    drop(c);
    let data = s.stop().await.unwrap();
    // Append half a record after the last one, as a crash during a write would leave.
    let logs = data.path().join("version-2");
    let mut newest = None;
    for e in std::fs::read_dir(&logs).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("log.") {
            newest = Some(p);
        }
    }
    let log = newest.expect("a log file");
    let scanned = zab_persistence::txnlog::scan_file(&log).unwrap();
    let mut bytes = std::fs::read(&log).unwrap();
    let at = scanned.valid_end as usize;
    bytes[at..at + 12].copy_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 40]);
    bytes[at + 12..at + 20].copy_from_slice(b"partial!");
    std::fs::write(&log, &bytes).unwrap();
    let mut cfg2 = cfg.clone();
    cfg2.data_dir = data.path().to_owned();
    cfg2.data_log_dir = data.path().to_owned();
    let s = start_in(cfg2).await;
    let c = s.client().await;
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 20 + 3);
    c.create("/after", b"", &persistent()).await.unwrap();
    drop(c);
    let _ = s.stop().await;
    assert_eq!(std::fs::metadata(&log).unwrap().len(), scanned.valid_end, "the torn tail was cut");
    drop(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_disk_acknowledges_nothing_and_refuses_writes() {
    let cfg = test_config();
    let s = start(cfg.clone()).await;
    let c = s.client().await;
    c.create("/before", b"kept", &persistent()).await.unwrap();
    drop(c);
    let data = s.stop().await.unwrap();
    // The next log file zab-node opens will be named after the next zxid: make it /dev/full.
    let last = zab_persistence::txnlog::last_logged_zxid(&data.path().join("version-2")).unwrap();
    let next = data.path().join("version-2").join(zab_persistence::names::log_name(last + 1));
    std::os::unix::fs::symlink("/dev/full", &next).unwrap();
    let mut cfg2 = cfg.clone();
    cfg2.data_dir = data.path().to_owned();
    cfg2.data_log_dir = data.path().to_owned();
    let s = start_in(cfg2.clone()).await;
    // The handshake's createSession cannot be logged: no session is established.
    let req = zab_jute::proto::ConnectRequest {
        time_out: 2000,
        passwd: vec![0; 16],
        read_only: Some(false),
        ..Default::default()
    };
    let r = Raw::connect_with(s.addr, req).await;
    assert!(r.is_none(), "no session may be acknowledged when the log cannot be written");
    assert!(s.server.disk_failure().is_some());
    let _ = s.stop().await;
    std::fs::remove_file(&next).unwrap();
    let s = start_in(cfg2).await;
    let c = s.client().await;
    assert_eq!(c.get_data("/before").await.unwrap().0, b"kept");
    let _ = s.stop().await;
    drop(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_tools_read_what_the_server_wrote() {
    let mut cfg = test_config();
    cfg.force_sync = false; // forceSync=no is honoured (and changes nothing a reader sees)
    let s = start(cfg).await;
    let c = s.client().await;
    c.create("/tool", b"abc", &persistent()).await.unwrap();
    c.set_data("/tool", b"abcd", None).await.unwrap();
    drop(c);
    let data = s.stop().await.unwrap();
    let v = data.path().join("version-2");
    let mut logs = Vec::new();
    let mut snaps = Vec::new();
    for e in std::fs::read_dir(&v).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        if n.starts_with("log.") {
            logs.push(p);
        } else if n.starts_with("snapshot.") {
            snaps.push(p);
        }
    }
    let dump = zab_node::tools::logdump(&logs[0]).unwrap();
    assert!(dump.contains("create2 /tool"), "{dump}");
    assert!(dump.contains("setData /tool"), "{dump}");
    assert!(dump.contains(" digest "), "records carry their tree digest: {dump}");
    let snap = zab_node::tools::snapdump(&snaps[0], true).unwrap();
    assert!(snap.contains("nodes: 4"), "{snap}");
    let (report, ok) = zab_node::tools::verify(data.path(), data.path());
    assert!(ok, "{report}");
    assert!(report.contains("restore: ok"), "{report}");
    drop(data);
}
