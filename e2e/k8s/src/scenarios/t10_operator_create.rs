//! t10 (issue 12): the operator creates a 3-member ensemble from a ZabEnsemble and it serves.
//! The operator runs in the scenario's namespace (crate::operator); the ensemble must report
//! Available with 3 ready members, a leader, every member synced, and a client through the
//! client Service writes and reads a znode.
//! Never: accept the ensemble as formed from the pods alone; the operator's status must say so
//! and every member's own /status must agree.

use std::time::Duration;

use anyhow::{ensure, Result};
use serde_json::json;

use crate::cluster::Ctx;
use crate::member::healthy_ensemble;
use crate::operator::{self, leader};
use crate::zk::{self, bounded, persistent, read_synced, CLIENT_PORT};

const SETTLE: Duration = Duration::from_secs(300);

pub async fn run(ctx: Ctx) -> Result<()> {
    operator::install(&ctx).await?;
    operator::apply_ensemble(&ctx, "zk", json!({"members": 3, "image": ctx.node_image})).await?;
    let e = operator::wait_settled(&ctx, "zk", 3, SETTLE).await?;
    let st = e.status.clone().unwrap_or_default();
    let leader = leader(&e)?;
    ensure!(st.members.len() == 3, "status lists {} members: {:?}", st.members.len(), st.members);
    ensure!(st.members.iter().all(|m| m.synced && m.ready), "not every member synced and ready: {:?}", st.members);
    ensure!(st.members.iter().filter(|m| m.role == "leading").count() == 1, "one leader expected: {:?}", st.members);
    tracing::info!("t10: ZabEnsemble zk Available, leader {leader}, zxid {:?}", st.zxid);

    let statuses = operator::member_statuses(&ctx, "zk").await?;
    ensure!(statuses.len() == 3, "{} member pods answered /status", statuses.len());
    let own = healthy_ensemble(&statuses).map_err(|e| anyhow::anyhow!("members' own /status: {e}"))?;
    ensure!(own == leader, "the members say {own} leads, the operator says {leader}");

    let addr = zk::service_address(&ctx.client, &ctx.ns, "zk", CLIENT_PORT).await?;
    let zk = zk::connect(&addr).await?;
    let payload = b"t10: created by zab-operator".to_vec();
    bounded("create /t10", zk.create("/t10", &payload, &persistent())).await?;
    ensure!(read_synced(&zk, "/t10").await? == payload, "/t10 read back through {addr} differs");
    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    tracing::info!("t10: events {evs:?}");
    Ok(())
}
