//! t40 (issue 12): a config change rolls through the ensemble one member at a time, the
//! leader last, under a continuous writer. The ensemble settles on the new zoo.cfg hash; the
//! operator's events show three RestartingMember decisions, the last one the member that led,
//! after one HandingOverLeadership (the leader hands over to a synced follower first, so the
//! ensemble never waits for an election); no acknowledged write is lost and no session
//! expires.
//! Never: accept two members restarted at once (the events and the member states are checked).

use std::time::Duration;

use anyhow::{ensure, Result};

use crate::cluster::Ctx;
use crate::operator;

const ROLL: Duration = Duration::from_secs(600);

pub async fn run(ctx: Ctx) -> Result<()> {
    let (before, writer) = operator::settled_with_writer(&ctx, 2000, "/t40").await?;
    let old_hash = before.status.as_ref().and_then(|s| s.current_config_hash.clone());
    let trail = operator::StatusTrail::start(&ctx, "zk");
    operator::apply_ensemble(&ctx, "zk", operator::three_members(&ctx.node_image, 2500)).await?;
    let after = operator::wait_settled(&ctx, "zk", 3, ROLL).await?;
    let trail = trail.finish().await?;
    let report = writer.finish().await?;
    let st = after.status.clone().unwrap_or_default();
    ensure!(st.current_config_hash != old_hash, "the config hash did not change: {:?}", st.current_config_hash);

    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    let restarts: Vec<&(String, String)> = evs.iter().filter(|(r, _)| r == "RestartingMember").collect();
    let backs = evs.iter().filter(|(r, _)| r == "MemberRestarted").count();
    tracing::info!("t40: restarts {restarts:?}; {report}");
    ensure!(restarts.len() == 3, "expected 3 RestartingMember events: {evs:?}");
    ensure!(backs == 3, "expected 3 MemberRestarted events: {evs:?}");
    // The leader goes last, after handing its leadership over to a synced follower.
    operator::leader_last_after_handover(&evs)?;
    ensure!(report.lost == 0, "acknowledged writes lost: {report}");
    ensure!(report.session_expired == 0, "sessions expired: {report}");
    println!("t40 rolling-restart sequence:");
    for (r, n) in &evs {
        println!("  event {r}: {n}");
    }
    for line in &trail {
        println!("  status {line}");
    }
    println!("t40 rolling restart: {report}");
    Ok(())
}
