//! `/zookeeper/config` in an ensemble (`ZKDatabase.initConfigInZKDatabase`): every member
//! holds the quorum configuration as `QuorumMaj.toString` writes it, with version -1 and
//! mzxid the configuration's version; a member writes it at its first start (so it goes into
//! snapshot.0) and again after it synchronises with a leader, and the tree digest, which
//! leaves `/zookeeper/` out, is the same on every member. Standalone leaves the node empty
//! (tests/client_ops.rs). In-process members on loopback (tests/common/ensemble.rs).

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ensemble::*;
use std::time::Duration;

use zookeeper_client as zk;

/// The text ZooKeeper 3.8 serves for these ports.
fn expected_config(ports: &[Ports]) -> String {
    let mut s = String::new();
    for (i, p) in ports.iter().enumerate() {
        let kind = if p.observer { "observer" } else { "participant" };
        s.push_str(&format!("server.{}=127.0.0.1:{}:{}:{kind}\n", i + 1, p.quorum, p.election));
    }
    s.push_str("version=0");
    s
}

/// `/zookeeper/config` as a member's clients see it: (data, version, mzxid, mtime).
async fn config_of(m: &Member) -> (String, i32, i64, i64) {
    let c = m.client().await;
    let (data, stat) = c.get_config().await.expect("getConfig");
    let (again, _) = c.get_data("/zookeeper/config").await.expect("getData /zookeeper/config");
    assert_eq!(data, again, "getConfig reads /zookeeper/config");
    assert_eq!(stat.data_length as usize, data.len());
    (String::from_utf8(data).expect("UTF-8 config"), stat.version, stat.mzxid, stat.mtime)
}

fn now_ms() -> i64 {
    zab_node::zk_server::wall_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_member_serves_the_quorum_config() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut ports = ports(4);
    ports[3].observer = true;
    let started = now_ms();
    let members = start_serving(root.path(), 1, &ports).await;
    let want = expected_config(&ports);
    for m in &members {
        let (text, version, mzxid, mtime) = config_of(m).await;
        assert_eq!(text, want, "member {}", m.id);
        assert_eq!((version, mzxid), (-1, 0), "member {}", m.id);
        assert!(mtime >= started && mtime <= now_ms(), "member {}: mtime {mtime}", m.id);
        // snapshot.0, written at the first start, holds it too.
        let dir = root.path().join(format!("m{}", m.id)).join("version-2");
        let snap0 = std::fs::read(dir.join("snapshot.0")).expect("snapshot.0");
        assert!(snap0.windows(want.len()).any(|w| w == want.as_bytes()), "member {}: snapshot.0", m.id);
    }
    // Writes leave it alone, and the members agree on the tree digest.
    let c = members[1].client().await;
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    c.create("/a", b"x", &acl).await.unwrap();
    assert!(matches!(c.set_data("/zookeeper/config", b"no", None).await, Err(zk::Error::NoAuth)));
    let refs: Vec<&Member> = members.iter().collect();
    converged(&refs).await;
    assert_eq!(config_of(&members[0]).await.0, want);
    drop(c);
    for m in members {
        m.stop().await;
    }
}

/// A learner writes its own config after synchronising (`Learner.syncWithLeader`), whatever
/// its snapshot (DIFF) or the leader's (SNAP) held; a leader keeps the one its snapshot holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_rewrites_the_config_after_each_sync() {
    let root = tempfile::tempdir().expect("temp dir");
    let ports = ports(3);
    let want = expected_config(&ports);
    let dir = |id: u64| root.path().join(format!("m{id}"));
    let mut it = start_serving(root.path(), 1, &ports).await.into_iter();
    let (m1, m2, m3) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let leader_mtime = config_of(&m1).await.3;
    let c1 = m1.client().await;
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for i in 0..20 {
        c1.create(&format!("/n{i}"), &[b'v'; 200], &acl).await.unwrap();
    }
    converged(&[&m1, &m2, &m3]).await;

    // Member 3 returns with its own data directory: DIFF.
    m3.stop().await;
    let before = wait_past(leader_mtime).await;
    let m3 = start_member(3, 1, &dir(3), &ports).await;
    converged(&[&m1, &m2, &m3]).await;
    let (text, version, mzxid, mtime) = config_of(&m3).await;
    assert_eq!((text.as_str(), version, mzxid), (want.as_str(), -1, 0));
    assert!(mtime >= before, "written after the DIFF: mtime {mtime}, restarted at {before}");

    // Member 2 returns with an empty data directory: the leader's snapshot, then its own config.
    m2.stop().await;
    std::fs::remove_dir_all(dir(2)).expect("wipe member 2");
    let before = wait_past(before).await;
    let m2 = start_member(2, 1, &dir(2), &ports).await;
    converged(&[&m1, &m2, &m3]).await;
    let views = m1.server().expect("leader").learners();
    assert_eq!(views.iter().find(|l| l.sid == 2).map(|l| l.sync_mode), Some("SNAP"), "{views:?}");
    let (text, version, _, mtime) = config_of(&m2).await;
    assert_eq!((text.as_str(), version), (want.as_str(), -1));
    assert!(mtime >= before, "written after the SNAP: mtime {mtime}, restarted at {before}");
    // The leader's is the one it wrote at its start.
    assert_eq!(config_of(&m1).await.3, leader_mtime);
    drop(c1);
    for m in [m1, m2, m3] {
        m.stop().await;
    }
}

/// Polls the wall clock until it is past `t` (ms), and gives the time then.
async fn wait_past(t: i64) -> i64 {
    until(Duration::from_secs(5), "the wall clock to move on", || async { (now_ms() > t).then(now_ms) }).await
}
