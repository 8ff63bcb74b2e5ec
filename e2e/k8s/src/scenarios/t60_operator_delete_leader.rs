//! t60 (issue 12): the leader's pod is deleted under a continuous writer. The StatefulSet
//! brings it back, the ensemble elects, the operator reports Available again with 3 ready
//! members and does not restart anything itself; no acknowledged write is lost.
//! Never: let the operator restart a member for a pod deletion it did not make.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::Api;

use crate::cluster::Ctx;
use crate::operator::{self, leader};

const SETTLE: Duration = Duration::from_secs(300);

pub async fn run(ctx: Ctx) -> Result<()> {
    let (e, writer) = operator::settled_with_writer(&ctx, 2000, "/t60").await?;
    let old_leader = leader(&e)?;
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.ns);
    let old_uid = pods.get(&old_leader).await?.metadata.uid;
    pods.delete(&old_leader, &DeleteParams::default()).await.with_context(|| format!("delete pod {old_leader}"))?;
    crate::wait::wait_for(&format!("{old_leader} replaced"), Duration::from_secs(120), || async {
        let uid = pods.get_opt(&old_leader).await?.and_then(|p| p.metadata.uid);
        Ok(if uid.is_some() && uid != old_uid {
            crate::wait::Check::Done(())
        } else {
            crate::wait::Check::NotYet(format!("uid {uid:?}"))
        })
    })
    .await?;
    let after = operator::wait_settled(&ctx, "zk", 3, SETTLE).await?;
    let report = writer.finish().await?;
    let new_leader = leader(&after)?;
    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    tracing::info!("t60: leader {old_leader} -> {new_leader}; {report}; events {evs:?}");
    ensure!(
        !evs.iter().any(|(r, _)| r == "RestartingMember" || r == "RepairingMember"),
        "the operator restarted a member: {evs:?}"
    );
    ensure!(report.lost == 0, "acknowledged writes lost: {report}");
    ensure!(report.session_expired == 0, "sessions expired: {report}");
    println!("t60 delete the leader's pod ({old_leader} -> {new_leader}): {report}");
    Ok(())
}
