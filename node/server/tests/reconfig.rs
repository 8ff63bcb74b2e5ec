//! The reconfig op end to end on real zab-node processes (ZooKeeper 3.8's
//! `PrepRequestProcessor` case reconfig, `FinalRequestProcessor`'s GetDataResponse): a
//! 3-member ensemble with reconfigEnabled and a super user, driven by `zab-node reconfig`.
//! Its refusals by name (NOAUTH without the super user, BADVERSION, BADARGUMENTS,
//! NEWCONFIGNOQUORUM), then the removal of a follower: every remaining member serves the new
//! configuration in `/zookeeper/config`, wrote `zoo.cfg.dynamic.<version>` and names it in
//! zoo.cfg, and writes keep being acknowledged.
//!
//! Membership changes of a running ensemble under load (joining, replacing, removing the
//! leader, observers) are in `reconfig_membership.rs`. ReconfigInProgress is left out: a
//! second reconfig would have to land between a proposal and its commit.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::member::{version_of, Member, AUTH};
use common::{free_port, wait_for};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Three members with reconfigEnabled, not started.
fn ensemble(root: &Path) -> Vec<Member> {
    let nodes: Vec<Member> = (1..=3).map(|id| Member::new(root, id)).collect();
    let servers: Vec<String> = nodes.iter().map(|n| n.line("participant")).collect();
    for n in &nodes {
        n.write_config(&servers);
    }
    nodes
}

/// The command failed, naming `code`.
fn refused(out: &Output, code: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(code), "expected {code}, got {:?}: {err}", out.status);
}

#[test]
fn remove_a_follower_and_every_refusal_by_name() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut nodes = ensemble(root.path());
    for n in nodes.iter_mut() {
        n.start();
    }
    let modes = wait_for(Duration::from_secs(30), "a leader and two followers", || {
        let modes: Vec<String> = nodes.iter().filter_map(Member::mode).collect();
        (modes.iter().filter(|m| *m == "leader").count() == 1 && modes.len() == 3).then_some(modes)
    });
    let followers: Vec<usize> = (0..3).filter(|i| modes[*i] == "follower").collect();
    let (kept, removed) = (&nodes[followers[0]], &nodes[followers[1]]);
    let auth = AUTH;

    // `members` prints the configuration in force: version 0 became the NEWLEADER zxid.
    let out = kept.reconfig(&["members"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    let version = version_of(&before);
    assert_eq!(version >> 32, 1, "{before}");
    let removed_id = removed.id.to_string();

    // The refusals, in 3.8's order; each leaves the configuration as it was.
    refused(&kept.reconfig(&["--remove", &removed_id]), "NOAUTH");
    refused(&kept.reconfig(&[&auth[..], &["--remove", &removed_id, "--from-config", "1"]].concat()), "BADVERSION");
    refused(&kept.reconfig(&[&auth[..], &["--remove", "1", "--remove", "2"]].concat()), "BADARGUMENTS");
    refused(&kept.reconfig(&[&auth[..], &["--add", "server.4=127.0.0.1:1:2"]].concat()), "BADARGUMENTS");
    refused(&kept.reconfig(&[&auth[..], &["--members", "clientPort=1"]].concat()), "BADARGUMENTS");
    let absent: Vec<String> = (4..=6)
        .map(|i| format!("server.{i}=127.0.0.1:{}:{};127.0.0.1:{}", free_port(), free_port(), free_port()))
        .collect();
    let add: Vec<&str> = absent.iter().flat_map(|s| ["--add", s.as_str()]).collect();
    refused(&kept.reconfig(&[&auth[..], &add[..]].concat()), "NEWCONFIGNOQUORUM");
    assert_eq!(kept.config().as_deref(), Some(before.as_str()));

    // Remove a follower, through the other one (forwarded to the leader).
    let from = format!("{version:x}");
    let out = kept.reconfig(&[&auth[..], &["--remove", &removed_id, "--from-config", &from]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    let new_version = version_of(&after);
    assert!(new_version > version, "{after}");
    assert!(!after.contains(&format!("server.{removed_id}=")), "{after}");
    assert_eq!(after.lines().filter(|l| l.starts_with("server.")).count(), 2, "{after}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("mzxid=0x{new_version:x} version=-1")), "{err}");

    for n in nodes.iter().filter(|n| n.id != removed.id) {
        let served = wait_for(Duration::from_secs(20), "the new configuration served", || {
            n.config().filter(|c| version_of(c) == new_version)
        });
        assert_eq!(served, after, "member {}", n.id);
        let dynamic = n.dir.join(format!("zoo.cfg.dynamic.{new_version:x}"));
        let file = wait_for(Duration::from_secs(20), "the dynamic file", || std::fs::read_to_string(&dynamic).ok());
        let servers: Vec<&str> = after.lines().filter(|l| l.starts_with("server.")).collect();
        assert_eq!(file.lines().collect::<Vec<_>>(), servers, "member {}", n.id);
        let cfg = std::fs::read_to_string(n.dir.join("zoo.cfg")).unwrap();
        assert!(cfg.contains(&format!("dynamicConfigFile={}", dynamic.display())), "member {}: {cfg}", n.id);
    }

    // Writes are still acknowledged, through each remaining member.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for n in nodes.iter().filter(|n| n.id != removed.id) {
            let c = zookeeper_client::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&n.addr())
                .await
                .expect("connect");
            let acl = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
            let path = format!("/after-{}", n.id);
            tokio::time::timeout(Duration::from_secs(10), c.create(&path, b"x", &acl))
                .await
                .expect("a write acknowledged in time")
                .expect("a write after the reconfig");
        }
    });
}
