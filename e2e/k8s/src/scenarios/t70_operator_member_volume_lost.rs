//! t70 (issue 12): a member loses its volume: its PVC and then its pod are deleted under a
//! continuous writer. The StatefulSet makes a new, empty claim and pod; the member rejoins
//! and is synchronised from the leader (a SNAP, since it has nothing); it then holds the data
//! written before the loss; the ensemble settles with 3 ready members and no acknowledged
//! write lost.
//! Never: accept the member back without reading the old data from it directly.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::DeleteParams;
use kube::Api;

use crate::cluster::Ctx;
use crate::operator::{self, leader};
use crate::wait::{wait_for, Check};
use crate::zk::{self, bounded, persistent, read_synced, CLIENT_PORT};

pub async fn run(ctx: Ctx) -> Result<()> {
    let (e, writer) = operator::settled_with_writer(&ctx, 2000, "/t70-writes").await?;
    let lead = leader(&e)?;
    // A follower loses its volume (the leader's loss is t60 plus this).
    let victim = ["zk-0", "zk-1", "zk-2"].into_iter().find(|p| *p != lead).unwrap_or("zk-0").to_owned();
    let addr = zk::service_address(&ctx.client, &ctx.ns, "zk", CLIENT_PORT).await?;
    let zk = zk::connect(&addr).await?;
    let payload = b"t70: written before the volume was lost".to_vec();
    bounded("create /t70", zk.create("/t70", &payload, &persistent())).await?;
    drop(zk);

    let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ctx.ns);
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.ns);
    let claim = format!("data-{victim}");
    let old_claim_uid = claims.get(&claim).await?.metadata.uid;
    // The claim is in use: it goes once its pod has gone (pvc-protection).
    claims.delete(&claim, &DeleteParams::default()).await.with_context(|| format!("delete pvc {claim}"))?;
    pods.delete(&victim, &DeleteParams::default()).await.with_context(|| format!("delete pod {victim}"))?;
    wait_for(&format!("a new claim {claim}"), Duration::from_secs(180), || async {
        let uid = claims.get_opt(&claim).await?.and_then(|c| c.metadata.uid);
        Ok(if uid.is_some() && uid != old_claim_uid {
            Check::Done(())
        } else {
            Check::NotYet(format!("claim uid {uid:?}"))
        })
    })
    .await?;
    let after = operator::wait_settled(&ctx, "zk", 3, Duration::from_secs(300)).await?;
    let report = writer.finish().await?;

    // The member itself, asked directly, has the old data.
    let ip = crate::ensemble::pod_ip(&pods.get(&victim).await?)?;
    let direct = zk::connect(&format!("{ip}:{CLIENT_PORT}")).await?;
    ensure!(read_synced(&direct, "/t70").await? == payload, "{victim} came back without /t70");
    let statuses = operator::member_statuses(&ctx, "zk").await?;
    let sid = victim.rsplit('-').next().and_then(|o| o.parse::<u64>().ok()).map(|o| o + 1).unwrap_or(0);
    let sync_mode =
        statuses.iter().flat_map(|(_, s)| s.learners.iter()).find(|l| l.sid == sid).and_then(|l| l.sync_mode);
    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    tracing::info!(
        "t70: {victim} back (sync {sync_mode:?}); leader {:?}; {report}; events {evs:?}",
        after.status.and_then(|s| s.leader)
    );
    ensure!(report.lost == 0 && report.session_expired == 0, "writer: {report}");
    ensure!(sync_mode == Some(zab_status::SyncMode::Snap), "{victim} was synchronised by {sync_mode:?}, not SNAP");
    println!("t70 {victim} lost its volume, resynchronised ({sync_mode:?}): {report}");
    Ok(())
}
