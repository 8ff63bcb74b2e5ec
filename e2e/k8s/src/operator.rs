//! The operator under test, for the operator scenarios (t10, t40, t60, t90): installs the
//! ZabEnsemble CRD (cluster-scoped, server-side applied from `zab_operator::crd`, left
//! installed: later runs apply the same), and in the scenario's namespace a ServiceAccount, a
//! ClusterRole and ClusterRoleBinding holding exactly `zab_operator::rbac::policy_rules()`
//! (owned by the namespace object, so they go when the namespace goes), and a Deployment of
//! the operator image watching only that namespace, with leader election. Then helpers to
//! create and change a ZabEnsemble and to wait on its status and read its events.
//! Never: touch another namespace's objects, or a cluster-scoped object other than the CRD
//! and this namespace's own ClusterRole and binding.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, Namespace, ObjectFieldSelector, PodSpec, PodTemplateSpec, ServiceAccount,
};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, CustomResourceExt, Resource, ResourceExt};
use serde_json::{json, Value};
use zab_operator::crd::ZabEnsemble;

use crate::cluster::Ctx;
use crate::wait::{wait_for, Check};

const MANAGER: &str = "zab-k8s-e2e";

fn ssa() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

/// Installs the CRD and runs the operator in `ctx.ns`; returns when the CRD is established
/// and the operator's pod is ready.
pub async fn install(ctx: &Ctx) -> Result<()> {
    let client = &ctx.client;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let crd = ZabEnsemble::crd();
    let crd_name = crd.name_any();
    crds.patch(&crd_name, &ssa(), &Patch::Apply(&crd)).await.context("apply the ZabEnsemble CRD")?;
    wait_for("ZabEnsemble CRD established", Duration::from_secs(60), || async {
        let c = crds.get(&crd_name).await?;
        let ok = c
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        Ok(if ok { Check::Done(()) } else { Check::NotYet("not established".into()) })
    })
    .await?;

    let ns_obj = Api::<Namespace>::all(client.clone()).get(&ctx.ns).await?;
    let owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        name: ctx.ns.clone(),
        uid: ns_obj.uid().unwrap_or_default(),
        ..OwnerReference::default()
    };
    let name = format!("zab-operator-{}", ctx.ns);
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("zab-operator".into()),
            namespace: Some(ctx.ns.clone()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), &ctx.ns)
        .patch("zab-operator", &ssa(), &Patch::Apply(&sa))
        .await?;
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        rules: Some(zab_operator::rbac::policy_rules()),
        ..ClusterRole::default()
    };
    Api::<ClusterRole>::all(client.clone()).patch(&name, &ssa(), &Patch::Apply(&role)).await?;
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta { name: Some(name.clone()), owner_references: Some(vec![owner]), ..ObjectMeta::default() },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "zab-operator".into(),
            namespace: Some(ctx.ns.clone()),
            ..Subject::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(client.clone()).patch(&name, &ssa(), &Patch::Apply(&binding)).await?;
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ctx.ns);
    deployments.patch("zab-operator", &ssa(), &Patch::Apply(&deployment(ctx))).await?;
    wait_for("zab-operator deployment available", Duration::from_secs(120), || async {
        let d = deployments.get("zab-operator").await?;
        let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
        Ok(if ready >= 1 { Check::Done(()) } else { Check::NotYet(format!("{ready} ready replicas")) })
    })
    .await
}

fn deployment(ctx: &Ctx) -> Deployment {
    let labels = BTreeMap::from([("app.kubernetes.io/name".to_owned(), "zab-operator".to_owned())]);
    let field = |path: &str| EnvVarSource {
        field_ref: Some(ObjectFieldSelector { field_path: path.into(), ..ObjectFieldSelector::default() }),
        ..EnvVarSource::default()
    };
    let env = vec![
        EnvVar { name: "POD_NAME".into(), value_from: Some(field("metadata.name")), ..EnvVar::default() },
        EnvVar { name: "POD_NAMESPACE".into(), value_from: Some(field("metadata.namespace")), ..EnvVar::default() },
        EnvVar { name: "ZAB_OPERATOR_WATCH_NAMESPACES".into(), value: Some(ctx.ns.clone()), ..EnvVar::default() },
        EnvVar { name: "ZAB_OPERATOR_LEADER_ELECTION".into(), value: Some("true".into()), ..EnvVar::default() },
        EnvVar { name: "ZAB_OPERATOR_LOG".into(), value: Some("info,zab_operator=debug".into()), ..EnvVar::default() },
        // Short enough for a scenario to see a member that never returns.
        EnvVar { name: "ZAB_OPERATOR_RESTART_TIMEOUT".into(), value: Some("180".into()), ..EnvVar::default() },
    ];
    Deployment {
        metadata: ObjectMeta {
            name: Some("zab-operator".into()),
            namespace: Some(ctx.ns.clone()),
            ..ObjectMeta::default()
        },
        spec: DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector { match_labels: Some(labels.clone()), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some("zab-operator".into()),
                    containers: vec![Container {
                        name: "zab-operator".into(),
                        image: Some(ctx.operator_image.clone()),
                        image_pull_policy: Some("IfNotPresent".into()),
                        args: Some(vec!["run".into()]),
                        env: Some(env),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

/// Creates or changes the ZabEnsemble `name` (server-side apply of `spec`).
pub async fn apply_ensemble(ctx: &Ctx, name: &str, spec: Value) -> Result<()> {
    let body =
        json!({"apiVersion": "zab.io/v1alpha1", "kind": "ZabEnsemble", "metadata": {"name": name}, "spec": spec});
    Api::<ZabEnsemble>::namespaced(ctx.client.clone(), &ctx.ns)
        .patch(name, &ssa(), &Patch::Apply(&body))
        .await
        .with_context(|| format!("apply ZabEnsemble {name}"))?;
    Ok(())
}

/// The condition `type_` as (status, reason).
pub fn condition(e: &ZabEnsemble, type_: &str) -> Option<(String, String)> {
    let c = e.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

/// Waits until the ensemble reports its current generation Available with `members` ready,
/// not progressing, not degraded, every member on the target config hash.
pub async fn wait_settled(ctx: &Ctx, name: &str, members: i32, timeout: Duration) -> Result<ZabEnsemble> {
    let api = Api::<ZabEnsemble>::namespaced(ctx.client.clone(), &ctx.ns);
    wait_for(&format!("ZabEnsemble {name} settled with {members} ready"), timeout, || async {
        let e = api.get(name).await?;
        let Some(st) = e.status.clone() else { return Ok(Check::NotYet("no status".into())) };
        let seen = format!(
            "generation {:?}/{:?} ready {} leader {:?} available {:?} progressing {:?} degraded {:?} hash {:?}/{:?}",
            st.observed_generation,
            e.metadata.generation,
            st.ready_members,
            st.leader,
            condition(&e, "Available"),
            condition(&e, "Progressing"),
            condition(&e, "Degraded"),
            st.current_config_hash,
            st.target_config_hash
        );
        let settled = st.observed_generation == e.metadata.generation
            && st.ready_members == members
            && condition(&e, "Available").is_some_and(|c| c.0 == "True")
            && condition(&e, "Progressing").is_some_and(|c| c.0 == "False" && c.1 == "Stable")
            && condition(&e, "Degraded").is_some_and(|c| c.0 == "False")
            && st.current_config_hash.is_some()
            && st.current_config_hash == st.target_config_hash;
        Ok(if settled { Check::Done(e) } else { Check::NotYet(seen) })
    })
    .await
}

/// Events about the ZabEnsemble (the operator's decisions), oldest first: (reason, note).
pub async fn events(client: &Client, ns: &str, name: &str) -> Result<Vec<(String, String)>> {
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&Default::default()).await?;
    let mut evs: Vec<_> = list
        .items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.name.as_deref() == Some(name) && r.kind.as_deref() == Some("ZabEnsemble"))
        })
        .map(|e| {
            let t = e.event_time.as_ref().map(|t| t.0).or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
            (t, e.reason.unwrap_or_default(), e.note.unwrap_or_default())
        })
        .collect();
    evs.sort_by_key(|e| e.0);
    Ok(evs.into_iter().map(|(_, r, n)| (r, n)).collect())
}

/// Every member's own `/status` (pods by the operator's labels), in pod-name order.
pub async fn member_statuses(ctx: &Ctx, name: &str) -> Result<Vec<crate::member::Named>> {
    let lp = kube::api::ListParams::default()
        .labels(&format!("app.kubernetes.io/name=zab-node,app.kubernetes.io/instance={name}"));
    let mut pods =
        Api::<k8s_openapi::api::core::v1::Pod>::namespaced(ctx.client.clone(), &ctx.ns).list(&lp).await?.items;
    pods.sort_by_key(|p| p.metadata.name.clone());
    let mut out = Vec::new();
    for pod in pods {
        let pod_name = pod.name_any();
        let ip = crate::ensemble::pod_ip(&pod).with_context(|| format!("pod {pod_name}"))?;
        out.push((pod_name.clone(), crate::member::status(&ip).await.with_context(|| format!("member {pod_name}"))?));
    }
    Ok(out)
}

/// The spec of the scenarios' 3-member ensemble `zk`.
pub fn three_members(image: &str, tick_time: i32) -> Value {
    members(3, image, tick_time)
}

/// The spec of an ensemble `zk` of `n` members.
pub fn members(n: i32, image: &str, tick_time: i32) -> Value {
    json!({"members": n, "image": image, "config": {"tickTime": tick_time}})
}

/// Installs the operator, creates `zk` (`three_members(tick_time)`), waits until it
/// settles, and starts a continuous writer on `path` through its client Service.
pub async fn settled_with_writer(
    ctx: &Ctx,
    tick_time: i32,
    path: &str,
) -> Result<(ZabEnsemble, crate::writer::Writer)> {
    settled_n_with_writer(ctx, 3, tick_time, path).await
}

/// The same with `n` members.
pub async fn settled_n_with_writer(
    ctx: &Ctx,
    n: i32,
    tick_time: i32,
    path: &str,
) -> Result<(ZabEnsemble, crate::writer::Writer)> {
    install(ctx).await?;
    apply_ensemble(ctx, "zk", members(n, &ctx.node_image, tick_time)).await?;
    let e = wait_settled(ctx, "zk", n, Duration::from_secs(300)).await?;
    let addr = crate::zk::service_address(&ctx.client, &ctx.ns, "zk", crate::zk::CLIENT_PORT).await?;
    let writer = crate::writer::Writer::start(&addr, path).await?;
    Ok((e, writer))
}

/// Fails unless `e` has a leader; returns its pod name.
pub fn leader(e: &ZabEnsemble) -> Result<String> {
    match e.status.as_ref().and_then(|s| s.leader.clone()) {
        Some(l) => Ok(l),
        None => bail!("ZabEnsemble {} reports no leader", e.name_any()),
    }
}

/// The ensemble's uid (for owner checks).
pub fn uid(e: &ZabEnsemble) -> String {
    e.meta().uid.clone().unwrap_or_default()
}

/// Samples the ensemble's pods while a change rolls: the most members being replaced at any
/// one sample (pod missing, terminating, or a new pod not yet Ready once). A member that is
/// only between leaders (not Ready during an election) is not being replaced and does not
/// count. Bounded: stops when told or after 15 minutes.
pub struct Unavailability {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Result<usize>>,
}

impl Unavailability {
    pub fn start(ctx: &Ctx, name: &str, members: usize) -> Unavailability {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(ctx.client.clone(), &ctx.ns);
        let lp = kube::api::ListParams::default()
            .labels(&format!("app.kubernetes.io/name=zab-node,app.kubernetes.io/instance={name}"));
        let names: Vec<String> = (0..members).map(|o| format!("{name}-{o}")).collect();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut first_uid: BTreeMap<String, String> = BTreeMap::new();
            let mut replaced: std::collections::BTreeSet<String> = Default::default();
            let mut worst = 0;
            while !s.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(900) {
                let list = pods.list(&lp).await?.items;
                let mut in_restart = 0;
                for n in &names {
                    let Some(p) = list.iter().find(|p| p.metadata.name.as_ref() == Some(n)) else {
                        in_restart += 1;
                        continue;
                    };
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    let first = first_uid.entry(n.clone()).or_insert_with(|| uid.clone());
                    if p.metadata.deletion_timestamp.is_some() {
                        in_restart += 1;
                    } else if *first != uid && !replaced.contains(n) {
                        if crate::ensemble::is_ready(p) {
                            replaced.insert(n.clone());
                        } else {
                            in_restart += 1;
                        }
                    }
                }
                worst = worst.max(in_restart);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(worst)
        });
        Unavailability { stop, task }
    }

    /// Stops sampling; the most members being replaced at once.
    pub async fn finish(self) -> Result<usize> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.context("sampler task")?
    }
}

/// Checks the end of a roll of three members: the leader was handed over once (a
/// HandingOverLeadership event) before the last RestartingMember, which restarted the member
/// that had been the leader; nobody else was restarted while leading.
pub fn leader_last_after_handover(evs: &[(String, String)]) -> Result<()> {
    let restarts: Vec<(usize, &String)> =
        evs.iter().enumerate().filter(|(_, (r, _))| r == "RestartingMember").map(|(i, (_, n))| (i, n)).collect();
    let handovers: Vec<(usize, &String)> =
        evs.iter().enumerate().filter(|(_, (r, _))| r == "HandingOverLeadership").map(|(i, (_, n))| (i, n)).collect();
    anyhow::ensure!(restarts.len() == 3, "expected 3 RestartingMember events: {evs:?}");
    anyhow::ensure!(handovers.len() == 1, "expected one HandingOverLeadership event: {evs:?}");
    let (h_at, h_note) = handovers[0];
    let (last_at, last_note) = restarts[2];
    anyhow::ensure!(
        restarts[1].0 < h_at && h_at < last_at,
        "the hand-over must come just before the last restart: {evs:?}"
    );
    // "hand over leadership from 3 to 1 before restarting it (zk-2 runs an old template)"
    let old_leader_pod = h_note.split('(').nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or_default();
    anyhow::ensure!(
        !old_leader_pod.is_empty() && last_note.starts_with(old_leader_pod),
        "the last restart must be the former leader {old_leader_pod:?}: {last_note}"
    );
    anyhow::ensure!(
        restarts.iter().all(|(_, n)| !n.contains("the leader;")),
        "a leader restarted while leading: {evs:?}"
    );
    Ok(())
}

/// Samples the ensemble's status while something changes, recording each distinct
/// (Progressing reason and message, leader, configuration version, recorded members, ready)
/// in order: the sequence of statuses the operator produced. Bounded like the others.
pub struct StatusTrail {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Result<Vec<String>>>,
}

impl StatusTrail {
    pub fn start(ctx: &Ctx, name: &str) -> StatusTrail {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let api = Api::<ZabEnsemble>::namespaced(ctx.client.clone(), &ctx.ns);
        let (s, name) = (stop.clone(), name.to_owned());
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut trail: Vec<String> = Vec::new();
            while !s.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(900) {
                if let Ok(e) = api.get(&name).await {
                    let st = e.status.clone().unwrap_or_default();
                    let prog = st.conditions.iter().find(|c| c.type_ == "Progressing");
                    let line = format!(
                        "progressing={} {}: {} | leader={} config={} members={} ready={}",
                        prog.map(|c| c.status.as_str()).unwrap_or("?"),
                        prog.map(|c| c.reason.as_str()).unwrap_or("?"),
                        prog.map(|c| c.message.as_str()).unwrap_or(""),
                        st.leader.as_deref().unwrap_or("-"),
                        st.configuration_version.as_deref().unwrap_or("-"),
                        st.current_members.unwrap_or(0),
                        st.ready_members
                    );
                    if trail.last() != Some(&line) {
                        trail.push(line);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(trail)
        });
        StatusTrail { stop, task }
    }

    /// Stops sampling; the distinct statuses in order.
    pub async fn finish(self) -> Result<Vec<String>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.context("status trail task")?
    }
}
