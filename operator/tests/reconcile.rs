//! Reconcile scenarios against a fake API server (tower-test mock service, tests/common):
//! create, a rolling restart step by step (followers first, then the leader's leadership
//! handed over, then the former leader; one at a time, each only after the previous member
//! is synced in the leader's epoch), scale up 3 -> 5 and down 5 -> 3 with the leader among
//! the removed (tests/scale.rs), an invalid spec, refused scales, an API conflict, deletion,
//! and no status write when nothing changed.

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::report;
use common::world::{minimal, world, ENS, PDB, STS};
use kube::runtime::controller::Action as Requeue;
use serde_json::json;
use zab_operator::controller::{error_policy, reconcile};
use zab_status::Role;

#[tokio::test]
async fn create_applies_every_object_and_reports_progress() {
    let w = world(minimal());
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Requeue::requeue(Duration::from_secs(5)), "in motion: look again soon");
    let log = w.api.take_log();
    let patched: Vec<&str> = log.iter().filter(|(m, _)| m == "PATCH").map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        patched,
        [
            "/api/v1/namespaces/prod/configmaps/zk-config",
            "/api/v1/namespaces/prod/services/zk-headless",
            "/api/v1/namespaces/prod/services/zk",
            STS,
            PDB,
            "/apis/zab.io/v1alpha1/namespaces/prod/zabensembles/zk/status",
        ]
    );
    assert!(w.deletes(&log).is_empty());
    let sts = w.api.get(STS).unwrap();
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(sts["spec"]["updateStrategy"]["type"], "OnDelete");
    assert_eq!(sts["metadata"]["ownerReferences"][0]["uid"], "ens-uid");
    assert_eq!(w.condition("Available"), ("False".into(), "NoLeader".into()));
    assert_eq!(w.condition("Progressing"), ("True".into(), "MemberPodMissing".into()));
    assert_eq!(w.status()["observedGeneration"], 1);
    assert_eq!(w.status()["selector"], "app.kubernetes.io/instance=zk,app.kubernetes.io/name=zab-node");
    let events = w.api.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, "MemberPodMissing");
}

#[tokio::test]
async fn a_healthy_ensemble_is_stable_and_its_status_is_written_once() {
    let w = world(minimal());
    w.running("rev-1", None, "rev-1", 1, 5).await;
    let h = w.target_hash();
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Requeue::requeue(Duration::from_secs(300)));
    assert_eq!(w.condition("Available"), ("True".into(), "QuorumServing".into()));
    assert_eq!(w.condition("Progressing"), ("False".into(), "Stable".into()));
    assert_eq!(w.condition("Degraded"), ("False".into(), "AsExpected".into()));
    let st = w.status();
    assert_eq!(st["leader"], "zk-1");
    assert_eq!(st["readyMembers"], 3);
    assert_eq!(st["zxid"], "0x500000009");
    assert_eq!(st["members"][1]["role"], "leading");
    assert_eq!(st["currentConfigHash"], json!(h));
    w.api.take_log();
    // Nothing changed, time moved on: the status is not written again.
    w.clock.set(1_000_500);
    w.reconcile().await.unwrap();
    let log = w.api.take_log();
    assert!(!log.iter().any(|(_, p)| p.ends_with("/status")), "status written although unchanged: {log:?}");
}

#[tokio::test]
async fn a_rolling_restart_goes_one_member_at_a_time_with_the_leader_last() {
    let w = world(minimal());
    w.running("rev-2", Some("old-hash"), "rev-1", 1, 5).await;
    let h = w.target_hash();
    let mut order = Vec::new();

    // Pass 1: a follower goes first (lowest ordinal).
    w.api.take_log();
    let stale = w.ens();
    w.reconcile().await.unwrap();
    let d = w.deletes(&w.api.take_log());
    assert_eq!(d, ["zk-0"]);
    order.extend(d);
    assert_eq!(w.status()["restart"]["pod"], "zk-0");
    assert_eq!(w.condition("Progressing"), ("True".into(), "RollingRestart".into()));

    // A pass started from a watch cache that has not seen that status yet still knows the
    // restart in flight (the ensemble is read again) and restarts nothing else.
    w.clock.set(1_000_005);
    reconcile(Arc::new(stale), w.ctx.clone()).await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(w.status()["restart"]["pod"], "zk-0");

    // The replacement runs but is not synced yet: nothing else is restarted.
    w.pod(0, "new0", &h, "rev-2");
    w.members.set("10.0.0.0", report(1, Role::Looking, 5, None, false));
    w.clock.set(1_000_010);
    w.reconcile().await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(w.condition("Progressing"), ("True".into(), "MemberRejoining".into()));

    // Synced in the leader's epoch but its pod not Ready yet (the kubelet probes every 2 s):
    // Services and the PDB do not count it yet, so nothing else is restarted.
    w.members_synced(1, 5);
    w.pod_ready(0, "new0", &h, "rev-2", false);
    w.clock.set(1_000_015);
    w.reconcile().await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(w.status()["restart"]["pod"], "zk-0");

    // Ready: the next follower.
    w.pod(0, "new0", &h, "rev-2");
    w.clock.set(1_000_020);
    w.reconcile().await.unwrap();
    let d = w.deletes(&w.api.take_log());
    assert_eq!(d, ["zk-2"]);
    order.extend(d);
    w.pod(2, "new2", &h, "rev-2");

    // Then the leader, last: first its leadership goes to a synced follower (zk-0, sid 1),
    // no pod deleted.
    w.clock.set(1_000_030);
    w.reconcile().await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty(), "the leader is not restarted while it leads");
    assert_eq!(w.admin.handovers(), [("10.0.0.1".to_owned(), Some(1))]);
    assert_eq!(w.condition("Progressing"), ("True".into(), "HandingOverLeadership".into()));
    let ev = w.api.events();
    let ho = ev.iter().find(|e| e.1 == "HandingOverLeadership").unwrap();
    assert!(ho.2.starts_with("hand over leadership from 2 to 1 before restarting it"), "{}", ho.2);

    // zk-0 leads (epoch 6): the former leader, now a follower, restarts.
    w.members_synced(0, 6);
    w.clock.set(1_000_035);
    w.reconcile().await.unwrap();
    let d = w.deletes(&w.api.take_log());
    assert_eq!(d, ["zk-1"]);
    order.extend(d);
    assert_eq!(w.status()["restart"]["pod"], "zk-1");
    assert_eq!(w.admin.handovers().len(), 1, "one hand-over");

    // zk-1 comes back and syncs with zk-0.
    w.pod(1, "new1", &h, "rev-2");
    w.members_synced(0, 6);
    w.clock.set(1_000_040);
    w.reconcile().await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(order, ["zk-0", "zk-2", "zk-1"]);
    assert_eq!(w.condition("Progressing"), ("False".into(), "Stable".into()));
    assert!(w.status().get("restart").is_none_or(|r| r.is_null()));
    assert_eq!(w.status()["leader"], "zk-0");
    let reasons: Vec<String> = w.api.events().into_iter().map(|e| e.1).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "RestartingMember").count(), 3);
    assert_eq!(reasons.iter().filter(|r| *r == "HandingOverLeadership").count(), 1);
    assert_eq!(reasons.iter().filter(|r| *r == "MemberRestarted").count(), 3);
    assert!(w.metrics.render().contains("zab_operator_member_restarts_total{reason=\"rollout\"} 3"));
}

#[tokio::test]
async fn an_invalid_spec_is_reported_and_never_applied() {
    let w = world(
        json!({"members": 4, "image": "localhost/zab-node:e2e", "config": {"additional": {"jute.maxbufer": "1"}}}),
    );
    w.reconcile().await.unwrap();
    let log = w.api.take_log();
    let patched: Vec<&str> = log.iter().filter(|(m, _)| m == "PATCH").map(|(_, p)| p.as_str()).collect();
    assert_eq!(patched, ["/apis/zab.io/v1alpha1/namespaces/prod/zabensembles/zk/status"]);
    assert_eq!(w.condition("Degraded"), ("True".into(), "EvenMembers".into()));
    assert_eq!(w.condition("Progressing"), ("False".into(), "InvalidSpec".into()));
    let st = w.status();
    let msg = st["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Degraded").unwrap()["message"].clone();
    assert!(msg.as_str().unwrap().contains("3 or 5") && msg.as_str().unwrap().contains("jute.maxbufer"), "{msg}");
    let events = w.api.events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].0.as_str(), events[0].1.as_str()), ("Warning", "EvenMembers"));
    // The same problem again: no second event.
    w.reconcile().await.unwrap();
    assert_eq!(w.api.events().len(), 1);
}

#[tokio::test]
async fn a_scale_to_or_from_one_member_is_refused_and_the_server_list_is_kept() {
    let w = world(minimal());
    w.running("rev-1", None, "rev-1", 0, 3).await;
    let mut ens = w.api.get(ENS).unwrap();
    ens["spec"]["members"] = json!(1);
    ens["metadata"]["generation"] = json!(2);
    w.api.put(ENS, ens);
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Requeue::requeue(Duration::from_secs(30)));
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(w.api.get(STS).unwrap()["spec"]["replicas"], 3, "the StatefulSet keeps its size");
    let cm = w.api.get("/api/v1/namespaces/prod/configmaps/zk-config").unwrap();
    let cfg = cm["data"]["zoo.cfg"].as_str().unwrap();
    assert!(cfg.contains("server.3=") && !cfg.contains("server.4="), "the server list is not rewritten:\n{cfg}");
    assert_eq!(w.condition("Degraded"), ("True".into(), "SingleMemberReconfiguration".into()));
    assert_eq!(w.condition("Progressing"), ("False".into(), "SingleMemberReconfiguration".into()));
    assert_eq!(w.condition("Available"), ("True".into(), "QuorumServing".into()));
    let ev = w.api.events();
    let refusal = ev.iter().find(|e| e.1 == "SingleMemberReconfiguration").unwrap();
    assert_eq!(refusal.0, "Warning");
    assert!(refusal.2.contains("set spec.members back to 3"), "{}", refusal.2);
    assert!(w.admin.reconfigs().is_empty() && w.admin.handovers().is_empty());
    // The same refusal again: no second event.
    w.reconcile().await.unwrap();
    assert_eq!(w.api.events().iter().filter(|e| e.1 == "SingleMemberReconfiguration").count(), 1);
}

#[tokio::test]
async fn an_api_conflict_fails_the_pass_and_the_next_one_succeeds() {
    let w = world(minimal());
    w.api.fail_once("PATCH", STS, 409);
    let err = w.reconcile().await.unwrap_err();
    assert_eq!(err.kind(), "conflict");
    let action = error_policy(Arc::new(w.ens()), &err, w.ctx.clone());
    assert_eq!(action, Requeue::requeue(Duration::from_secs(5)));
    assert!(w.metrics.render().contains("zab_operator_reconcile_errors_total{kind=\"conflict\"} 1"));
    assert!(w.api.get(ENS).unwrap().get("status").is_none(), "a failed pass writes no status");
    w.reconcile().await.unwrap();
    assert_eq!(w.api.get(STS).unwrap()["spec"]["replicas"], 3);
}

#[tokio::test]
async fn a_deleted_ensemble_is_left_to_the_garbage_collector() {
    let w = world(minimal());
    let mut ens = w.api.get(ENS).unwrap();
    ens["metadata"]["deletionTimestamp"] = json!("2026-12-07T18:00:00Z");
    w.api.put(ENS, ens);
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Requeue::await_change());
    assert!(w.api.take_log().is_empty(), "no API call for an ensemble being deleted");
}

#[tokio::test]
async fn paused_applies_and_restarts_nothing() {
    let w = world(minimal());
    w.running("rev-2", Some("old-hash"), "rev-1", 1, 5).await;
    let mut ens = w.api.get(ENS).unwrap();
    ens["spec"]["paused"] = json!(true);
    w.api.put(ENS, ens);
    w.api.take_log();
    w.reconcile().await.unwrap();
    let log = w.api.take_log();
    assert!(w.deletes(&log).is_empty());
    assert!(log.iter().filter(|(m, _)| m == "PATCH").all(|(_, p)| p.ends_with("/status")), "{log:?}");
    assert_eq!(w.condition("Progressing"), ("False".into(), "Paused".into()));
    assert!(w.status()["members"].as_array().unwrap().iter().all(|m| m["restartPending"] == true));
}

#[tokio::test]
async fn a_member_that_never_returns_stops_the_roll_with_degraded() {
    let w = world(minimal());
    w.running("rev-2", Some("old-hash"), "rev-1", 1, 5).await;
    w.reconcile().await.unwrap();
    assert_eq!(w.deletes(&w.api.take_log()), ["zk-0"]);
    // The new pod never answers.
    w.pod(0, "new0", &w.target_hash(), "rev-2");
    w.members.clear("10.0.0.0");
    w.clock.set(1_000_000 + 301);
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Requeue::requeue(Duration::from_secs(30)));
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(w.condition("Degraded"), ("True".into(), "MemberNotReturning".into()));
    w.clock.set(1_000_000 + 400);
    w.reconcile().await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty(), "nothing else is touched");
}
