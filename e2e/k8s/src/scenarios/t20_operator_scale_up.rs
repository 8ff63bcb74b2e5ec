//! t20 (issue 12): `members: 3 -> 5` under a continuous writer. The operator grows the
//! StatefulSet, the two new members join as observers, and once synced one reconfig makes
//! them participants; no member is restarted. At the end every member's own /status lists the
//! same configuration of five participants, the ensemble reports 5 ready, no acknowledged
//! write is lost and no session expires.
//! Never: accept a scale that restarted a running member, or members disagreeing on the
//! configuration.

use std::time::Duration;

use anyhow::{ensure, Result};

use crate::cluster::Ctx;
use crate::member::healthy_ensemble;
use crate::operator::{self, StatusTrail};

const SCALE: Duration = Duration::from_secs(600);

pub async fn run(ctx: Ctx) -> Result<()> {
    let (_, writer) = operator::settled_with_writer(&ctx, 2000, "/t20").await?;
    let trail = StatusTrail::start(&ctx, "zk");
    operator::apply_ensemble(&ctx, "zk", operator::members(5, &ctx.node_image, 2000)).await?;
    let after = operator::wait_settled(&ctx, "zk", 5, SCALE).await?;
    let trail = trail.finish().await?;
    let report = writer.finish().await?;
    let st = after.status.clone().unwrap_or_default();
    ensure!(st.current_members == Some(5), "the ensemble records {:?} members", st.current_members);

    let statuses = operator::member_statuses(&ctx, "zk").await?;
    ensure!(statuses.len() == 5, "{} member pods answered /status", statuses.len());
    healthy_ensemble(&statuses).map_err(|e| anyhow::anyhow!("members' own /status: {e}"))?;
    let version = statuses[0].1.quorum.config_version.value;
    for (pod, s) in &statuses {
        let participants = s.quorum.members.iter().filter(|m| m.member_type == "participant").count();
        ensure!(participants == 5, "{pod} lists {participants} participants: {:?}", s.quorum.members);
        ensure!(
            s.quorum.config_version.value == version,
            "{pod} runs configuration {} not {version:x}",
            s.quorum.config_version.hex
        );
    }

    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    let reasons: Vec<&str> = evs.iter().map(|(r, _)| r.as_str()).collect();
    for want in ["AddingMembers", "PromotingMembers", "Scaled"] {
        ensure!(reasons.contains(&want), "no {want} event: {evs:?}");
    }
    ensure!(!reasons.contains(&"RestartingMember"), "a member was restarted by a scale-up: {evs:?}");
    for line in &trail {
        tracing::info!("t20 status: {line}");
    }
    for (r, n) in &evs {
        tracing::info!("t20 event: {r}: {n}");
    }
    ensure!(report.lost == 0, "acknowledged writes lost: {report}");
    ensure!(report.session_expired == 0, "sessions expired: {report}");
    println!("t20 scale 3 -> 5: {report}; configuration {}", statuses[0].1.quorum.config_version.hex);
    Ok(())
}
