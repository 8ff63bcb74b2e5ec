//! Reconcile scenarios against a fake API server (tower-test mock service, tests/common):
//! create, a rolling restart step by step (followers first, the leader last, one at a time,
//! each only after the previous member is synced in the leader's epoch), an invalid spec,
//! a refused scale, an API conflict, deletion, and no status write when nothing changed.

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{report, FakeApi, FakeMembers, TestClock};
use kube::runtime::controller::Action as Requeue;
use serde_json::{json, Value};
use zab_operator::build::{build_all, Membership};
use zab_operator::controller::{error_policy, reconcile, Context, Error};
use zab_operator::crd::ZabEnsemble;
use zab_operator::metrics::Metrics;
use zab_operator::planner::Limits;
use zab_status::Role;

const ENS: &str = "/apis/zab.io/v1alpha1/namespaces/prod/zabensembles/zk";
const STS: &str = "/apis/apps/v1/namespaces/prod/statefulsets/zk";
const PODS: &str = "/api/v1/namespaces/prod/pods";
const PDB: &str = "/apis/policy/v1/namespaces/prod/poddisruptionbudgets/zk";

struct World {
    api: Arc<FakeApi>,
    members: Arc<FakeMembers>,
    clock: TestClock,
    ctx: Arc<Context>,
    metrics: Arc<Metrics>,
}

fn world(spec: Value) -> World {
    let api = Arc::new(FakeApi::default());
    api.put(
        ENS,
        json!({
            "apiVersion": "zab.io/v1alpha1", "kind": "ZabEnsemble",
            "metadata": {"name": "zk", "namespace": "prod", "uid": "ens-uid", "generation": 1},
            "spec": spec,
        }),
    );
    let members = Arc::new(FakeMembers::default());
    let clock = TestClock::new(1_000_000);
    let metrics = Arc::new(Metrics::new());
    let client = common::client(api.clone());
    let ctx = Arc::new(Context::new(client, members.clone(), metrics.clone(), Limits::default(), clock.clock()));
    World { api, members, clock, ctx, metrics }
}

impl World {
    fn ens(&self) -> ZabEnsemble {
        serde_json::from_value(self.api.get(ENS).unwrap()).unwrap()
    }
    async fn reconcile(&self) -> Result<Requeue, Error> {
        reconcile(Arc::new(self.ens()), self.ctx.clone()).await
    }
    fn status(&self) -> Value {
        self.api.get(ENS).unwrap()["status"].clone()
    }
    fn condition(&self, type_: &str) -> (String, String) {
        let st = self.status();
        let c = st["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap().clone();
        (c["status"].as_str().unwrap().to_owned(), c["reason"].as_str().unwrap().to_owned())
    }
    fn target_hash(&self) -> String {
        build_all(&self.ens(), Membership { members: 3, observers: 0 }, false).unwrap().config_hash
    }
    /// A running pod of ordinal `o`.
    fn pod(&self, o: u32, uid: &str, hash: &str, rev: &str) {
        self.pod_ready(o, uid, hash, rev, true)
    }
    fn pod_ready(&self, o: u32, uid: &str, hash: &str, rev: &str, ready: bool) {
        self.api.put(
            &format!("{PODS}/zk-{o}"),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("zk-{o}"), "namespace": "prod", "uid": uid,
                    "labels": {"app.kubernetes.io/name": "zab-node", "app.kubernetes.io/instance": "zk", "controller-revision-hash": rev},
                    "annotations": {"zab.io/config-hash": hash}},
                "spec": {"containers": [{"name": "zab-node", "image": "localhost/zab-node:e2e"}]},
                "status": {"phase": "Running", "podIP": format!("10.0.0.{o}"),
                    "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
            }),
        );
    }
    /// Every member reports; `leader` is the leader's ordinal.
    fn members_synced(&self, leader: u32, epoch: i64) {
        for o in 0..3u32 {
            let role = if o == leader { Role::Leading } else { Role::Following };
            self.members
                .set(&format!("10.0.0.{o}"), report(u64::from(o) + 1, role, epoch, Some(u64::from(leader) + 1), true));
        }
    }
    /// After a first pass: the StatefulSet observed at `rev`, three running pods with config
    /// hash `hash` (None: the current target) at revision `pod_rev`, all synced under
    /// `leader`.
    async fn running(&self, rev: &str, hash: Option<&str>, pod_rev: &str, leader: u32, epoch: i64) {
        self.reconcile().await.unwrap();
        self.sts_observed(rev);
        let h = hash.map(str::to_owned).unwrap_or_else(|| self.target_hash());
        for o in 0..3 {
            self.pod(o, &format!("old{o}"), &h, pod_rev);
        }
        self.members_synced(leader, epoch);
    }
    fn sts_observed(&self, rev: &str) {
        let mut sts = self.api.get(STS).unwrap();
        sts["status"] = json!({"observedGeneration": 1, "updateRevision": rev, "replicas": 3});
        self.api.put(STS, sts);
    }
    fn deletes(&self, log: &[(String, String)]) -> Vec<String> {
        log.iter().filter(|(m, _)| m == "DELETE").map(|(_, p)| p.rsplit('/').next().unwrap().to_owned()).collect()
    }
}

fn minimal() -> Value {
    json!({"members": 3, "image": "localhost/zab-node:e2e"})
}

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

    // Then the leader, last.
    w.clock.set(1_000_030);
    w.reconcile().await.unwrap();
    let d = w.deletes(&w.api.take_log());
    assert_eq!(d, ["zk-1"]);
    order.extend(d);
    assert_eq!(w.status()["restart"]["pod"], "zk-1");

    // zk-1 comes back; zk-2 won the election meanwhile (epoch 6).
    w.pod(1, "new1", &h, "rev-2");
    w.members_synced(2, 6);
    w.clock.set(1_000_040);
    w.reconcile().await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(order, ["zk-0", "zk-2", "zk-1"]);
    assert_eq!(w.condition("Progressing"), ("False".into(), "Stable".into()));
    assert!(w.status().get("restart").is_none_or(|r| r.is_null()));
    assert_eq!(w.status()["leader"], "zk-2");
    let reasons: Vec<String> = w.api.events().into_iter().map(|e| e.1).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "RestartingMember").count(), 3);
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
async fn scaling_up_and_down_is_refused_and_the_server_list_is_kept() {
    let w = world(minimal());
    w.running("rev-1", None, "rev-1", 0, 3).await;
    let mut ens = w.api.get(ENS).unwrap();
    ens["spec"]["members"] = json!(5);
    ens["metadata"]["generation"] = json!(2);
    w.api.put(ENS, ens);
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Requeue::requeue(Duration::from_secs(30)));
    assert!(w.deletes(&w.api.take_log()).is_empty());
    let sts = w.api.get(STS).unwrap();
    assert_eq!(sts["spec"]["replicas"], 3, "the StatefulSet keeps its size");
    let cm = w.api.get("/api/v1/namespaces/prod/configmaps/zk-config").unwrap();
    let cfg = cm["data"]["zoo.cfg"].as_str().unwrap();
    assert!(cfg.contains("server.3=") && !cfg.contains("server.4="), "the server list is not rewritten:\n{cfg}");
    assert_eq!(w.condition("Degraded"), ("True".into(), "ReconfigurationUnavailable".into()));
    assert_eq!(w.condition("Progressing"), ("False".into(), "ReconfigurationUnavailable".into()));
    assert_eq!(w.condition("Available"), ("True".into(), "QuorumServing".into()));
    let ev = w.api.events();
    let refusal = ev.iter().find(|e| e.1 == "ReconfigurationUnavailable").unwrap();
    assert_eq!(refusal.0, "Warning");
    assert!(refusal.2.contains("zab-node does not support"), "{}", refusal.2);

    // Scaling down (3 -> 1) is refused the same way: no pod deleted, the list kept.
    let mut ens = w.api.get(ENS).unwrap();
    ens["spec"]["members"] = json!(1);
    ens["metadata"]["generation"] = json!(3);
    w.api.put(ENS, ens);
    w.reconcile().await.unwrap();
    assert!(w.deletes(&w.api.take_log()).is_empty());
    assert_eq!(w.api.get(STS).unwrap()["spec"]["replicas"], 3);
    let msg = w.status()["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Degraded").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("from 3 members") && msg.contains("to 1 members") && msg.contains("set spec.members back to 3"),
        "{msg}"
    );
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
