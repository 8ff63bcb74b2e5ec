//! The world of the reconcile scenarios: the fake API server with one ZabEnsemble `zk` in
//! namespace `prod`, fake members and admin, a settable clock, and helpers to make pods and
//! reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use kube::runtime::controller::Action as Requeue;
use serde_json::{json, Value};
use zab_operator::build::{build_all, Membership};
use zab_operator::controller::{reconcile, Context, Error};
use zab_operator::crd::ZabEnsemble;
use zab_operator::metrics::Metrics;
use zab_operator::planner::Limits;
use zab_status::Role;

use super::{report, with_config, FakeAdmin, FakeApi, FakeMembers, TestClock};

pub const ENS: &str = "/apis/zab.io/v1alpha1/namespaces/prod/zabensembles/zk";
pub const STS: &str = "/apis/apps/v1/namespaces/prod/statefulsets/zk";
pub const PODS: &str = "/api/v1/namespaces/prod/pods";
pub const PDB: &str = "/apis/policy/v1/namespaces/prod/poddisruptionbudgets/zk";

pub struct World {
    pub api: Arc<FakeApi>,
    pub members: Arc<FakeMembers>,
    pub admin: Arc<FakeAdmin>,
    pub clock: TestClock,
    pub ctx: Arc<Context>,
    pub metrics: Arc<Metrics>,
}

pub fn world(spec: Value) -> World {
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
    let client = super::client(api.clone());
    let admin = Arc::new(FakeAdmin::default());
    let ctx = Arc::new(
        Context::new(client, members.clone(), metrics.clone(), Limits::default(), clock.clock())
            .with_admin(admin.clone()),
    );
    World { api, members, admin, clock, ctx, metrics }
}

impl World {
    pub fn ens(&self) -> ZabEnsemble {
        serde_json::from_value(self.api.get(ENS).unwrap()).unwrap()
    }
    pub async fn reconcile(&self) -> Result<Requeue, Error> {
        reconcile(Arc::new(self.ens()), self.ctx.clone()).await
    }
    pub fn status(&self) -> Value {
        self.api.get(ENS).unwrap()["status"].clone()
    }
    pub fn condition(&self, type_: &str) -> (String, String) {
        let st = self.status();
        let c = st["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap().clone();
        (c["status"].as_str().unwrap().to_owned(), c["reason"].as_str().unwrap().to_owned())
    }
    pub fn target_hash(&self) -> String {
        build_all(&self.ens(), Membership { members: 3, observers: 0 }, false).unwrap().config_hash
    }
    /// A running pod of ordinal `o`.
    pub fn pod(&self, o: u32, uid: &str, hash: &str, rev: &str) {
        self.pod_ready(o, uid, hash, rev, true)
    }
    pub fn pod_ready(&self, o: u32, uid: &str, hash: &str, rev: &str, ready: bool) {
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
    pub fn members_synced(&self, leader: u32, epoch: i64) {
        for o in 0..3u32 {
            let role = if o == leader { Role::Leading } else { Role::Following };
            self.members
                .set(&format!("10.0.0.{o}"), report(u64::from(o) + 1, role, epoch, Some(u64::from(leader) + 1), true));
        }
    }
    /// After a first pass: the StatefulSet observed at `rev`, three running pods with config
    /// hash `hash` (None: the current target) at revision `pod_rev`, all synced under
    /// `leader`.
    pub async fn running(&self, rev: &str, hash: Option<&str>, pod_rev: &str, leader: u32, epoch: i64) {
        self.reconcile().await.unwrap();
        self.sts_observed(rev);
        let h = hash.map(str::to_owned).unwrap_or_else(|| self.target_hash());
        for o in 0..3 {
            self.pod(o, &format!("old{o}"), &h, pod_rev);
        }
        self.members_synced(leader, epoch);
    }
    /// Members 0..n report: all synced under `leader` (ordinal) in `epoch`; those in
    /// `participants` (sids) follow, the others observe (joining, not yet voting); every one
    /// reports the configuration `participants` at `version`, except those in `stale`, which
    /// report `stale_version` with 1..=n.
    #[allow(clippy::too_many_arguments)]
    pub fn members_config(
        &self,
        n: u32,
        leader: u32,
        epoch: i64,
        participants: &[u64],
        version: i64,
        stale: &[u32],
        stale_version: i64,
    ) {
        let all: Vec<u64> = (1..=u64::from(n)).collect();
        for o in 0..n {
            let sid = u64::from(o) + 1;
            let role = if o == leader {
                Role::Leading
            } else if participants.contains(&sid) {
                Role::Following
            } else {
                Role::Observing
            };
            let r = report(sid, role, epoch, Some(u64::from(leader) + 1), true);
            let r = if stale.contains(&o) {
                with_config(r, &all, stale_version)
            } else {
                with_config(r, participants, version)
            };
            self.members.set(&format!("10.0.0.{o}"), r);
        }
    }
    /// After a first pass: `n` running pods on the target hash, the StatefulSet observed,
    /// all synced under `leader` with a configuration of members 1..=n at `version`.
    pub async fn running_n(&self, n: u32, leader: u32, epoch: i64, version: i64) {
        self.reconcile().await.unwrap();
        self.sts_observed("rev-1");
        let h = self.target_hash();
        for o in 0..n {
            self.pod(o, &format!("old{o}"), &h, "rev-1");
        }
        let all: Vec<u64> = (1..=u64::from(n)).collect();
        self.members_config(n, leader, epoch, &all, version, &[], 0);
    }
    pub fn sts_observed(&self, rev: &str) {
        let mut sts = self.api.get(STS).unwrap();
        sts["status"] = json!({"observedGeneration": 1, "updateRevision": rev, "replicas": 3});
        self.api.put(STS, sts);
    }
    pub fn deletes(&self, log: &[(String, String)]) -> Vec<String> {
        log.iter().filter(|(m, _)| m == "DELETE").map(|(_, p)| p.rsplit('/').next().unwrap().to_owned()).collect()
    }
}

pub fn minimal() -> Value {
    json!({"members": 3, "image": "localhost/zab-node:e2e"})
}
