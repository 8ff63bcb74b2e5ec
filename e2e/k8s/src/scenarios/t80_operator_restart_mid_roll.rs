//! t80 (issue 12): the operator's pod is deleted in the middle of a rolling restart. The new
//! operator replica takes the leader Lease, reads the restart in flight from the status, and
//! finishes the roll: every member restarted exactly once, never two replaced at once, the
//! leader last, no acknowledged write lost.
//! Never: accept a roll that restarted a member twice or two members together.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::Api;

use crate::cluster::Ctx;
use crate::operator::{self, Unavailability};
use crate::wait::{wait_for, Check};

const ROLL: Duration = Duration::from_secs(600);

pub async fn run(ctx: Ctx) -> Result<()> {
    let (_, writer) = operator::settled_with_writer(&ctx, 2000, "/t80").await?;
    let sampler = Unavailability::start(&ctx, "zk", 3);
    operator::apply_ensemble(&ctx, "zk", operator::three_members(&ctx.node_image, 3000)).await?;

    // As soon as the first member restart is decided, the operator goes away.
    wait_for("the first RestartingMember event", Duration::from_secs(120), || async {
        let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
        let n = evs.iter().filter(|(r, _)| r == "RestartingMember").count();
        Ok(if n >= 1 { Check::Done(()) } else { Check::NotYet(format!("{} events", evs.len())) })
    })
    .await?;
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.ns);
    let op_pods = pods.list(&ListParams::default().labels("app.kubernetes.io/name=zab-operator")).await?;
    for p in &op_pods.items {
        let name = p.metadata.name.clone().unwrap_or_default();
        pods.delete(&name, &DeleteParams::default()).await.with_context(|| format!("delete operator pod {name}"))?;
        tracing::info!("t80: deleted operator pod {name} mid-roll");
    }

    let after = operator::wait_settled(&ctx, "zk", 3, ROLL).await?;
    let worst = sampler.finish().await?;
    let report = writer.finish().await?;
    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    let mut per_pod: BTreeMap<String, usize> = BTreeMap::new();
    for (_, note) in evs.iter().filter(|(r, _)| r == "RestartingMember") {
        *per_pod.entry(note.split_whitespace().next().unwrap_or_default().to_owned()).or_default() += 1;
    }
    tracing::info!("t80: restarts per pod {per_pod:?}; {report}; worst {worst}");
    ensure!(
        per_pod.len() == 3 && per_pod.values().all(|n| *n == 1),
        "each member restarted exactly once: {per_pod:?} / {evs:?}"
    );
    ensure!(worst <= 1, "{worst} members were being replaced at once");
    ensure!(after.status.as_ref().and_then(|s| s.restart.clone()).is_none(), "a restart is still recorded");
    ensure!(report.lost == 0 && report.session_expired == 0, "writer: {report}");
    println!("t80 operator restarted mid-roll: {report}; at most {worst} member replaced at once");
    Ok(())
}
