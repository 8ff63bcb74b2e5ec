//! t00: the smoke scenario (issue 11, acceptance 1). A 3-replica StatefulSet of the real
//! zab-node image, configured with its members' DNS names, with a headless Service and a PVC per
//! member, forms one ensemble; a client through the ClusterIP Service writes and reads; the
//! leader's pod is deleted and comes back with its data (the znode is on its own volume, it
//! follows the new leader in sync); then every pod is deleted at once, so the data can only come
//! from the volumes, and the znode is still there.
//! Never: accept an ensemble as formed without every member's own `/status` saying so.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client};

use crate::cluster::Ctx;
use crate::ensemble::{is_ready, pod_ip, Plain};
use crate::member::healthy_ensemble;
use crate::wait::{wait_for, Check};
use crate::zk::{self, bounded, persistent, read_synced, CLIENT_PORT};

const FORM_TIMEOUT: Duration = Duration::from_secs(240);
const ZNODE: &str = "/t00-smoke";

pub async fn run(ctx: Ctx) -> Result<()> {
    let client = &ctx.client;
    let ens = Plain { name: "zab".into(), ns: ctx.ns.clone(), replicas: 3, image: ctx.node_image.clone() };
    ens.create(client).await?;
    let leader = wait_formed(client, &ens, &[]).await?;
    tracing::info!("ensemble formed, leader {leader}");

    // Members know each other by their DNS names (zoo.cfg), and each has a bound volume.
    for (pod, s) in ens.statuses(client).await? {
        for i in 0..ens.replicas {
            let host = ens.host(i);
            ensure!(
                s.quorum.members.iter().any(|m| m.sid == u64::from(i) + 1 && m.address.starts_with(&host)),
                "{pod}'s quorum does not list server.{} at {host}: {:?}",
                i + 1,
                s.quorum.members
            );
        }
    }
    let volumes_before = volumes(client, &ens).await?;

    // A client through the ClusterIP Service writes and reads.
    let service = zk::service_address(client, &ctx.ns, &ens.client_service(), CLIENT_PORT).await?;
    let payload = format!("written in {} before any restart", ctx.ns).into_bytes();
    let zk = zk::connect(&service).await?;
    let (stat, _) = bounded(&format!("create {ZNODE}"), zk.create(ZNODE, &payload, &persistent())).await?;
    ensure!(read_synced(&zk, ZNODE).await? == payload, "{ZNODE} read back through {service} differs");
    drop(zk);
    tracing::info!("wrote {ZNODE} (zxid 0x{:x}) through service {service}", stat.mzxid);

    // The leader's pod is deleted; it comes back on its volume and follows in sync.
    let pods = Api::<Pod>::namespaced(client.clone(), &ctx.ns);
    let old = uids(&ens.pods(client).await?);
    pods.delete(&leader, &DeleteParams::default()).await.with_context(|| format!("delete pod {leader}"))?;
    let replaced: Vec<(String, String)> = old.iter().filter(|(n, _)| *n == leader).cloned().collect();
    let new_leader = wait_formed(client, &ens, &replaced).await?;
    tracing::info!("{leader} is back; leader now {new_leader}");
    let back = pods.get(&leader).await?;
    let ip = pod_ip(&back)?;
    let direct = zk::connect(&format!("{ip}:{CLIENT_PORT}")).await?;
    let data = read_synced(&direct, ZNODE).await.with_context(|| format!("read {ZNODE} from {leader} ({ip})"))?;
    ensure!(data == payload, "{leader} came back without {ZNODE}'s data");
    drop(direct);
    let status = crate::member::status(&ip).await?;
    ensure!(status.synced, "{leader} is back but not synced: {:?}", status);
    ensure!(
        status.last_processed_zxid.value >= stat.mzxid,
        "{leader} is back at zxid {} before the write's 0x{:x}",
        status.last_processed_zxid.hex,
        stat.mzxid
    );

    // Every pod at once: no member keeps anything in memory; the data is on the volumes.
    let old = uids(&ens.pods(client).await?);
    pods.delete_collection(&DeleteParams::default(), &ListParams::default().labels(&ens.selector()))
        .await
        .context("delete all member pods")?;
    wait_formed(client, &ens, &old).await?;
    let zk = zk::connect(&service).await?;
    ensure!(read_synced(&zk, ZNODE).await? == payload, "{ZNODE} lost after every member restarted");
    let after = b"written after every member restarted".to_vec();
    bounded(&format!("set {ZNODE}"), zk.set_data(ZNODE, &after, None)).await?;
    ensure!(read_synced(&zk, ZNODE).await? == after, "write after the restarts not read back");
    drop(zk);
    let volumes_after = volumes(client, &ens).await?;
    ensure!(
        volumes_before == volumes_after,
        "members' volumes changed across restarts: {volumes_before:?} -> {volumes_after:?}"
    );
    Ok(())
}

/// Waits until all members run (pods listed in `replaced` with a new uid), are Ready, and
/// form one ensemble by their own `/status`; returns the leader's pod name.
async fn wait_formed(client: &Client, ens: &Plain, replaced: &[(String, String)]) -> Result<String> {
    let what = format!("{} members of {} ready in one ensemble", ens.replicas, ens.name);
    wait_for(&what, FORM_TIMEOUT, || async {
        let pods = ens.pods(client).await?;
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        if pods.len() != ens.replicas as usize || ready != pods.len() {
            return Ok(Check::NotYet(format!("{} pods, {ready} ready", pods.len())));
        }
        let now = uids(&pods);
        if let Some((name, _)) = replaced.iter().find(|old| now.contains(old)) {
            return Ok(Check::NotYet(format!("{name} not replaced yet")));
        }
        let statuses = ens.statuses(client).await?;
        Ok(match healthy_ensemble(&statuses) {
            Ok(leader) => Check::Done(leader),
            Err(why) => Check::NotYet(why),
        })
    })
    .await
}

fn uids(pods: &[Pod]) -> Vec<(String, String)> {
    pods.iter()
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), p.metadata.uid.clone().unwrap_or_default()))
        .collect()
}

/// Each member's claim and the volume bound to it.
async fn volumes(client: &Client, ens: &Plain) -> Result<Vec<(String, String)>> {
    let api = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ens.ns);
    let mut out = Vec::new();
    for i in 0..ens.replicas {
        let name = format!("data-{}", ens.pod(i));
        let pvc = api.get(&name).await.with_context(|| format!("get pvc {name}"))?;
        let status = pvc.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        let Some(volume) = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
            bail!("pvc {name} is not bound (phase {status})");
        };
        ensure!(status == "Bound", "pvc {name} is {status}");
        out.push((name, volume));
    }
    Ok(out)
}
