//! Black-box tests through the `zookeeper-client` crate: every operation, create mode,
//! error code and Stat rule a ZooKeeper client relies on.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use zookeeper_client as zk;

const OPEN: zk::Acls<'static> = zk::Acls::anyone_all();

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(OPEN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_versions_and_stat_rules() {
    let s = start(test_config()).await;
    let c = s.client().await;
    let (stat, _) = c.create("/a", b"one", &persistent()).await.unwrap();
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (2, 2, 2), "createSession is zxid 1, this create zxid 2");
    assert_eq!((stat.version, stat.cversion, stat.aversion, stat.data_length, stat.num_children), (0, 0, 0, 3, 0));
    assert_eq!(c.create("/a", b"", &persistent()).await.unwrap_err(), zk::Error::NodeExists);
    // The failed create consumed zxid 3 (an error txn), as ZooKeeper does.
    let stat = c.set_data("/a", b"two", Some(0)).await.unwrap();
    assert_eq!((stat.mzxid, stat.version, stat.czxid), (4, 1, 2));
    assert_eq!(c.set_data("/a", b"x", Some(0)).await.unwrap_err(), zk::Error::BadVersion);
    let (data, got) = c.get_data("/a").await.unwrap();
    assert_eq!(data, b"two");
    assert_eq!(got.version, 1);
    c.create("/a/b", b"", &persistent()).await.unwrap();
    assert_eq!(c.delete("/a", None).await.unwrap_err(), zk::Error::NotEmpty);
    assert_eq!(c.delete("/a/b", Some(5)).await.unwrap_err(), zk::Error::BadVersion);
    c.delete("/a/b", Some(0)).await.unwrap();
    let parent = c.check_stat("/a").await.unwrap().unwrap();
    // One create and one delete: cversion counts both; pzxid is the delete's zxid.
    assert_eq!((parent.cversion, parent.num_children), (2, 0));
    assert_eq!(parent.pzxid, 9);
    assert_eq!(c.get_data("/missing").await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(c.check_stat("/missing").await.unwrap(), None);
    assert_eq!(c.delete("/missing", None).await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(c.create("/missing/x", b"", &persistent()).await.unwrap_err(), zk::Error::NoNode);
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_names_come_from_parent_cversion() {
    let s = start(test_config()).await;
    let c = s.client().await;
    c.create("/q", b"", &persistent()).await.unwrap();
    let seq = zk::CreateMode::PersistentSequential.with_acls(OPEN);
    let (_, n0) = c.create("/q/n-", b"", &seq).await.unwrap();
    assert_eq!(n0.into_i64(), 0);
    c.create("/q/plain", b"", &persistent()).await.unwrap();
    c.delete("/q/plain", None).await.unwrap();
    let (_, n1) = c.create("/q/n-", b"", &seq).await.unwrap();
    assert_eq!(n1.into_i64(), 2, "suffix is the parent's create count");
    let mut children = c.list_children("/q").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["n-0000000000", "n-0000000002"]);
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_go_with_their_session_and_others_are_told() {
    let s = start(test_config()).await;
    let owner = s.client().await;
    let other = s.client().await;
    let eph = zk::CreateMode::Ephemeral.with_acls(OPEN);
    owner.create("/e", b"", &eph).await.unwrap();
    assert_eq!(owner.create("/e/child", b"", &persistent()).await.unwrap_err(), zk::Error::NoChildrenForEphemerals);
    let stat = other.check_stat("/e").await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, owner.session_id().0);
    assert_eq!(owner.list_ephemerals("/").await.unwrap(), vec!["/e".to_string()]);
    let (_, watcher) = other.check_and_watch_stat("/e").await.unwrap();
    drop(owner); // closes the session
    let ev = tokio::time::timeout(Duration::from_secs(5), watcher.changed()).await.expect("deletion event");
    assert_eq!(ev.event_type, zk::EventType::NodeDeleted);
    assert_eq!(other.check_stat("/e").await.unwrap(), None);
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_and_ttl_nodes_are_deleted_by_the_container_manager() {
    let s = start(test_config()).await;
    let c = s.client().await;
    let container = zk::CreateMode::Container.with_acls(OPEN);
    let (stat, _) = c.create("/box", b"", &container).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0, "containers show ephemeralOwner 0 to clients");
    c.create("/box/item", b"", &persistent()).await.unwrap();
    c.delete("/box/item", None).await.unwrap();
    eventually(5, "empty container deleted", || async { c.check_stat("/box").await.unwrap().is_none() }).await;
    // a container that never had a child stays
    c.create("/fresh", b"", &container).await.unwrap();
    let ttl = zk::CreateMode::Persistent.with_acls(OPEN).with_ttl(Duration::from_millis(100));
    c.create("/ttl", b"", &ttl).await.unwrap();
    eventually(5, "expired TTL node deleted", || async { c.check_stat("/ttl").await.unwrap().is_none() }).await;
    assert!(c.check_stat("/fresh").await.unwrap().is_some());
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_needs_extended_types() {
    let mut cfg = test_config();
    cfg.extended_types = false;
    let s = start(cfg).await;
    let c = s.client().await;
    let ttl = zk::CreateMode::Persistent.with_acls(OPEN).with_ttl(Duration::from_secs(10));
    let err = c.create("/ttl", b"", &ttl).await.unwrap_err();
    assert!(matches!(err, zk::Error::Unimplemented), "{err:?}");
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_digest_ip_auth_and_super() {
    let s = start(test_config()).await;
    let a = s.client().await;
    a.auth("digest", b"bob:secret").await.unwrap();
    let users = a.list_auth_users().await.unwrap();
    let schemes: Vec<_> = users.iter().map(|u| (u.scheme().to_string(), u.user().to_string())).collect();
    assert!(schemes.contains(&("ip".into(), "127.0.0.1".into())), "{schemes:?}");
    assert!(schemes.contains(&("digest".into(), "bob".into())), "{schemes:?}");
    let creator_only = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    a.create("/private", b"p", &creator_only).await.unwrap();
    let (acl, _) = a.get_acl("/private").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");
    assert!(acl[0].id().starts_with("bob:"));
    let b = s.client().await;
    assert_eq!(b.get_data("/private").await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(b.get_data("/nope").await.unwrap_err(), zk::Error::NoNode, "NoNode is checked before NoAuth");
    // creator ACL without any authenticated identity is invalid
    assert_eq!(b.create("/c", b"", &creator_only).await.unwrap_err(), zk::Error::InvalidAcl);
    b.auth("digest", b"bob:secret").await.unwrap();
    assert_eq!(b.get_data("/private").await.unwrap().0, b"p");
    // ip ACLs with CIDR
    let loopback = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("ip", "127.0.0.0/8"))];
    a.create("/ip-ok", b"", &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&loopback))).await.unwrap();
    let elsewhere = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("ip", "10.0.0.0/8"))];
    a.create("/ip-no", b"", &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&elsewhere))).await.unwrap();
    let c = s.client().await;
    c.get_data("/ip-ok").await.unwrap();
    assert_eq!(c.get_data("/ip-no").await.unwrap_err(), zk::Error::NoAuth);
    // world read-only: reads work, writes do not
    a.create("/ro", b"r", &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_read())).await.unwrap();
    c.get_data("/ro").await.unwrap();
    assert_eq!(c.set_data("/ro", b"w", None).await.unwrap_err(), zk::Error::NoAuth);
    // the super user passes every check
    c.auth("digest", b"super:test").await.unwrap();
    c.get_data("/private").await.unwrap();
    c.get_data("/ip-no").await.unwrap();
    c.set_data("/ro", b"w", None).await.unwrap();
    // a wrong ACL scheme is invalid
    let bad = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("nosuch", "x"))];
    assert_eq!(
        a.create("/bad", b"", &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&bad))).await.unwrap_err(),
        zk::Error::InvalidAcl
    );
    // setACL needs ADMIN before the aversion is even looked at
    assert_eq!(a.set_acl("/ro", &zk::Acls::anyone_all(), Some(3)).await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(c.set_acl("/ro", &zk::Acls::anyone_all(), Some(3)).await.unwrap_err(), zk::Error::BadVersion);
    let stat = c.set_acl("/ro", &zk::Acls::anyone_all(), Some(0)).await.unwrap();
    assert_eq!(stat.aversion, 1);
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watches_fire_once() {
    let s = start(test_config()).await;
    let c = s.client().await;
    let w = s.client().await;
    let (_, exists) = w.check_and_watch_stat("/w").await.unwrap();
    c.create("/w", b"", &persistent()).await.unwrap();
    assert_eq!(exists.changed().await.event_type, zk::EventType::NodeCreated);
    let (_, _, data) = w.get_and_watch_data("/w").await.unwrap();
    let (_, _, children) = w.get_and_watch_children("/w").await.unwrap();
    c.set_data("/w", b"1", None).await.unwrap();
    assert_eq!(data.changed().await.event_type, zk::EventType::NodeDataChanged);
    c.create("/w/c", b"", &persistent()).await.unwrap();
    let ev = children.changed().await;
    assert_eq!((ev.event_type, ev.path.as_str()), (zk::EventType::NodeChildrenChanged, "/w"));
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_and_recursive_watches() {
    let s = start(test_config()).await;
    let c = s.client().await;
    // ZooKeeper 3.8 keeps one mode per (connection, path): use two connections.
    let w1 = s.client().await;
    let w2 = s.client().await;
    c.create("/p", b"", &persistent()).await.unwrap();
    let mut rec = w1.watch("/p", zk::AddWatchMode::PersistentRecursive).await.unwrap();
    let mut per = w2.watch("/p", zk::AddWatchMode::Persistent).await.unwrap();
    c.create("/p/a", b"", &persistent()).await.unwrap();
    c.create("/p/a/b", b"", &persistent()).await.unwrap();
    c.set_data("/p/a/b", b"x", None).await.unwrap();
    c.set_data("/p", b"y", None).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        let e = tokio::time::timeout(Duration::from_secs(5), rec.changed()).await.unwrap();
        got.push((e.event_type, e.path));
    }
    assert_eq!(
        got,
        vec![
            (zk::EventType::NodeCreated, "/p/a".to_string()),
            (zk::EventType::NodeCreated, "/p/a/b".to_string()),
            (zk::EventType::NodeDataChanged, "/p/a/b".to_string()),
            (zk::EventType::NodeDataChanged, "/p".to_string()),
        ],
        "recursive watches never see NodeChildrenChanged"
    );
    let e1 = per.changed().await;
    assert_eq!((e1.event_type, e1.path.as_str()), (zk::EventType::NodeChildrenChanged, "/p"));
    let e2 = per.changed().await;
    assert_eq!((e2.event_type, e2.path.as_str()), (zk::EventType::NodeDataChanged, "/p"));
    let watches = || s.server.tree().with_watches(|w| w.data.watch_count() + w.child.watch_count());
    assert_eq!(watches(), 4, "two modes, each in the data and child managers");
    #[allow(deprecated)]
    per.remove().await.unwrap();
    #[allow(deprecated)]
    rec.remove().await.unwrap();
    assert_eq!(watches(), 0);
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_event_arrives_before_the_reply_that_shows_its_change() {
    let s = start(test_config()).await;
    let writer = s.client().await;
    let reader = s.client().await;
    writer.create("/o", b"0", &persistent()).await.unwrap();
    for i in 1..50u32 {
        let (_, _, watcher) = reader.get_and_watch_data("/o").await.unwrap();
        writer.set_data("/o", i.to_string().as_bytes(), None).await.unwrap();
        // Once the reader sees the new data, its notification must already be delivered.
        eventually(5, "reader sees write", || async {
            reader.get_data("/o").await.unwrap().0 == i.to_string().as_bytes()
        })
        .await;
        let ev =
            tokio::time::timeout(Duration::ZERO, watcher.changed()).await.expect("event delivered before the reply");
        assert_eq!(ev.event_type, zk::EventType::NodeDataChanged);
    }
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_commits_all_or_nothing_and_multi_read_may_partly_fail() {
    let s = start(test_config()).await;
    let c = s.client().await;
    c.create("/m", b"", &persistent()).await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_create("/m/a", b"a", &persistent()).unwrap();
    w.add_set_data("/m", b"m", Some(0)).unwrap();
    w.add_check_version("/m", 1).unwrap();
    w.add_delete("/m/a", None).unwrap();
    let r = w.commit().await.unwrap();
    assert_eq!(r.len(), 4);
    assert!(matches!(r[3], zk::MultiWriteResult::Delete));
    let mut w = c.new_multi_writer();
    w.add_create("/m/b", b"", &persistent()).unwrap();
    w.add_check_version("/m", 7).unwrap();
    w.add_delete("/m", None).unwrap();
    match w.commit().await.unwrap_err() {
        zk::MultiWriteError::OperationFailed { index, source } => {
            assert_eq!((index, source), (1, zk::Error::BadVersion));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(c.check_stat("/m/b").await.unwrap(), None, "nothing of a failed multi is applied");
    let mut r = c.new_multi_reader();
    r.add_get_data("/m").unwrap();
    r.add_get_data("/nope").unwrap();
    r.add_get_children("/m").unwrap();
    let got = r.commit().await.unwrap();
    assert!(matches!(&got[0], zk::MultiReadResult::Data { data, .. } if data == b"m"));
    assert!(matches!(&got[1], zk::MultiReadResult::Error { err: zk::Error::NoNode }));
    assert!(matches!(&got[2], zk::MultiReadResult::Children { children } if children.is_empty()));
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_sync_config_and_system_nodes() {
    let s = start(test_config()).await;
    let c = s.client().await;
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 3, "/zookeeper, quota, config");
    c.create("/t", b"", &persistent()).await.unwrap();
    c.create("/t/1", b"", &persistent()).await.unwrap();
    c.create("/t/1/2", b"", &persistent()).await.unwrap();
    assert_eq!(c.count_descendants_number("/t").await.unwrap(), 2);
    c.sync("/t").await.unwrap();
    let (data, stat) = c.get_config().await.unwrap();
    assert!(data.is_empty());
    assert_eq!(stat.aversion, -1);
    let (acl, _) = c.get_acl("/zookeeper/config").await.unwrap();
    assert_eq!(acl[0].permission(), zk::Permission::READ);
    let mut kids = c.list_children("/zookeeper").await.unwrap();
    kids.sort();
    assert_eq!(kids, vec!["config", "quota"]);
    assert!(matches!(c.delete("/zookeeper", None).await.unwrap_err(), zk::Error::BadArguments(_)));
    let _ = s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_reconnect_with_password_and_expire() {
    let s = start(test_config()).await;
    let c = zk::Client::connector()
        .with_session_timeout(Duration::from_millis(400))
        .with_detached()
        .connect(&s.connect_string())
        .await
        .unwrap();
    c.create("/held", b"", &zk::CreateMode::Ephemeral.with_acls(OPEN)).await.unwrap();
    let info = c.session().clone();
    drop(c);
    // Reconnect to the same session before it expires: the ephemeral is still there.
    let again = zk::Client::connector()
        .with_session_timeout(Duration::from_millis(400))
        .with_session(info.clone())
        .with_detached()
        .connect(&s.connect_string())
        .await
        .unwrap();
    assert_eq!(again.session_id(), info.id());
    assert!(again.check_stat("/held").await.unwrap().is_some());
    drop(again);
    let watcher_client = s.client().await;
    eventually(5, "session expiry removes the ephemeral", || async {
        watcher_client.check_stat("/held").await.unwrap().is_none()
    })
    .await;
    let err = zk::Client::connector().with_session(info).connect(&s.connect_string()).await.unwrap_err();
    assert_eq!(err, zk::Error::SessionExpired);
    let _ = s.stop().await;
}

/// `whoAmI` lists a connection's ids, and an `auth` ACL expands to its authenticated ids, in
/// ZooKeeper 3.8's order (its ConcurrentHashMap-backed set's iteration order, not the order of
/// the auth packets): the digests of alice and bob before the connection's ip, alice first
/// even when bob authenticated first (as a Java 17 set of ZooKeeper's Id lists them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_am_i_and_auth_acls_list_ids_in_zookeepers_order() {
    let s = start(test_config()).await;
    let c = s.client().await;
    let users = |v: Vec<zk::AuthUser>| v.iter().map(|u| format!("{}:{}", u.scheme(), u.user())).collect::<Vec<_>>();
    assert_eq!(users(c.list_auth_users().await.unwrap()), ["ip:127.0.0.1"]);
    c.auth("digest", b"bob:bob-secret").await.unwrap();
    c.auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(users(c.list_auth_users().await.unwrap()), ["digest:alice", "digest:bob", "ip:127.0.0.1"]);
    c.create("/mine", b"", &zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all())).await.unwrap();
    let (acl, _) = c.get_acl("/mine").await.unwrap();
    let ids: Vec<String> = acl.iter().map(|a| format!("{}:{}", a.scheme(), a.id())).collect();
    assert_eq!(ids, ["digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", "digest:bob:j7ZGIvWbIQ1LANfL4BJ8Ibdfqsk="]);
    drop(c);
    s.stop().await;
}
