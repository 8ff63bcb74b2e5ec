//! t41 (issue 12, for comparison with t40): the same restart of a 3-member ensemble done the
//! way a StatefulSet RollingUpdate does it, without the operator: pods replaced in reverse
//! ordinal order, each as soon as the previous one is Ready, the leader wherever it falls.
//! Same continuous writer as t40; the scenario reports what it saw (writes acknowledged and
//! lost, SessionExpired, the longest write pause) and fails only on lost writes.
//! Never: use the operator; this is the baseline.

use std::time::Duration;

use anyhow::{ensure, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::cluster::Ctx;
use crate::ensemble::Plain;
use crate::member::healthy_ensemble;
use crate::wait::{wait_for, Check};
use crate::writer::Writer;
use crate::zk::{self, CLIENT_PORT};

pub async fn run(ctx: Ctx) -> Result<()> {
    let client = &ctx.client;
    let ens = Plain { name: "zk".into(), ns: ctx.ns.clone(), replicas: 3, image: ctx.node_image.clone() };
    ens.create(client).await?;
    let formed = || async {
        Ok(match ens.statuses(client).await {
            Ok(s) if s.len() == 3 => match healthy_ensemble(&s) {
                Ok(l) => Check::Done(l),
                Err(e) => Check::NotYet(e),
            },
            Ok(s) => Check::NotYet(format!("{} members answer", s.len())),
            Err(e) => Check::NotYet(format!("{e:#}")),
        })
    };
    let leader = wait_for("plain ensemble formed", Duration::from_secs(240), formed).await?;
    let addr = zk::service_address(client, &ctx.ns, &ens.client_service(), CLIENT_PORT).await?;
    let writer = Writer::start(&addr, "/t41").await?;

    let sts = Api::<StatefulSet>::namespaced(client.clone(), &ctx.ns);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"zab.io/restarted-for": "t41"}}}}});
    sts.patch(&ens.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_for("RollingUpdate finished", Duration::from_secs(600), || async {
        let s = sts.get(&ens.name).await?;
        let gen = s.metadata.generation;
        let st = s.status.unwrap_or_default();
        let done = st.observed_generation == gen
            && st.updated_replicas == Some(3)
            && st.ready_replicas == Some(3)
            && st.current_revision.is_some()
            && st.current_revision == st.update_revision;
        Ok(if done {
            Check::Done(())
        } else {
            Check::NotYet(format!("updated {:?} ready {:?}", st.updated_replicas, st.ready_replicas))
        })
    })
    .await?;
    let new_leader = wait_for("plain ensemble formed again", Duration::from_secs(240), formed).await?;
    let report = writer.finish().await?;
    println!("t41 StatefulSet RollingUpdate (order zk-2, zk-1, zk-0; leader was {leader}, now {new_leader}): {report}");
    ensure!(report.lost == 0, "acknowledged writes lost: {report}");
    Ok(())
}
