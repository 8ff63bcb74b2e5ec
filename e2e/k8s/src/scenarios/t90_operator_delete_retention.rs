//! t90 (issue 12): deleting a ZabEnsemble deletes everything it owns, and its volumes as its
//! PVC retention policy says: `whenDeleted: Delete` removes the claims, `Retain` keeps them.
//! Two one-member ensembles side by side, one per policy.
//! Never: decide from the StatefulSet alone; the claims themselves are checked.

use std::time::Duration;

use anyhow::{ensure, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
use kube::api::{DeleteParams, ListParams};
use kube::Api;
use serde_json::json;
use zab_operator::crd::ZabEnsemble;

use crate::cluster::Ctx;
use crate::operator;
use crate::wait::{wait_for, Check};

const SETTLE: Duration = Duration::from_secs(300);

pub async fn run(ctx: Ctx) -> Result<()> {
    operator::install(&ctx).await?;
    for (name, policy) in [("keep", "Retain"), ("drop", "Delete")] {
        let spec =
            json!({"members": 1, "image": ctx.node_image, "storage": {"retentionPolicy": {"whenDeleted": policy}}});
        operator::apply_ensemble(&ctx, name, spec).await?;
    }
    for name in ["keep", "drop"] {
        operator::wait_settled(&ctx, name, 1, SETTLE).await?;
    }
    let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ctx.ns);
    let claims_of = |name: &'static str| {
        let claims = claims.clone();
        async move {
            let lp = ListParams::default().labels(&format!("app.kubernetes.io/instance={name}"));
            anyhow::Ok(claims.list(&lp).await?.items.len())
        }
    };
    ensure!(claims_of("keep").await? == 1 && claims_of("drop").await? == 1, "each ensemble should have one claim");

    let ensembles = Api::<ZabEnsemble>::namespaced(ctx.client.clone(), &ctx.ns);
    for name in ["keep", "drop"] {
        ensembles.delete(name, &DeleteParams::foreground()).await?;
    }
    let sts = Api::<StatefulSet>::namespaced(ctx.client.clone(), &ctx.ns);
    let cms = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ctx.ns);
    wait_for("owned objects garbage-collected", Duration::from_secs(180), || async {
        let left_sts = sts.list(&ListParams::default()).await?.items.len();
        let left_cm =
            cms.list(&ListParams::default().labels("app.kubernetes.io/managed-by=zab-operator")).await?.items.len();
        Ok(if left_sts + left_cm == 0 {
            Check::Done(())
        } else {
            Check::NotYet(format!("{left_sts} statefulsets, {left_cm} configmaps"))
        })
    })
    .await?;
    wait_for("the Delete policy's claim removed", Duration::from_secs(180), || async {
        let n = claims_of("drop").await?;
        Ok(if n == 0 { Check::Done(()) } else { Check::NotYet(format!("{n} claims of drop")) })
    })
    .await?;
    let kept = claims_of("keep").await?;
    ensure!(kept == 1, "the Retain policy's claim must stay, found {kept}");
    println!("t90 delete with retention: Delete removed the claim, Retain kept it");
    Ok(())
}
