//! t30 (issue 12): `members: 5 -> 3` with the leader among the removed, under a continuous
//! writer. The leadership is first moved to member 5 (a hand-over asked of the leader by
//! the test, so the leader is among the removed); then the operator hands it over to a
//! member that stays, removes 4 and 5 by reconfig, waits until every remaining member runs
//! the new configuration, and only then shrinks the StatefulSet. No acknowledged write is
//! lost and no session expires; the sequence of events and statuses is printed.
//! Never: accept a StatefulSet shrunk before the configuration left out the removed
//! members, or a removed member still in a remaining member's configuration.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Api;

use crate::cluster::Ctx;
use crate::member::{self, healthy_ensemble};
use crate::operator::{self, StatusTrail};
use crate::wait::{wait_for, Check};

const SETTLE: Duration = Duration::from_secs(600);

/// Moves the leadership to `zk-4` (sid 5) unless the leader is zk-3 or zk-4 already.
async fn leader_among_the_removed(ctx: &Ctx) -> Result<String> {
    let statuses = operator::member_statuses(ctx, "zk").await?;
    let leader = healthy_ensemble(&statuses).map_err(|e| anyhow::anyhow!("before the scale: {e}"))?;
    if leader == "zk-3" || leader == "zk-4" {
        return Ok(leader);
    }
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(ctx.client.clone(), &ctx.ns);
    let ip = crate::ensemble::pod_ip(&pods.get(&leader).await?).with_context(|| format!("pod {leader}"))?;
    let (code, body) = member::post(&ip, "/commands/handover?to=5").await?;
    if code != 200 {
        bail!("POST /commands/handover?to=5 to {leader} answered {code}: {body}");
    }
    wait_for("zk-4 leads", Duration::from_secs(60), || async {
        let statuses = operator::member_statuses(ctx, "zk").await?;
        Ok(match healthy_ensemble(&statuses) {
            Ok(l) if l == "zk-4" => Check::Done(l),
            Ok(l) => Check::NotYet(format!("{l} leads")),
            Err(e) => Check::NotYet(e),
        })
    })
    .await
}

pub async fn run(ctx: Ctx) -> Result<()> {
    let (_, writer) = operator::settled_n_with_writer(&ctx, 5, 2000, "/t30").await?;
    let leader = leader_among_the_removed(&ctx).await?;
    operator::wait_settled(&ctx, "zk", 5, SETTLE).await?;
    tracing::info!("t30: {leader} leads before the scale-down");
    let trail = StatusTrail::start(&ctx, "zk");
    operator::apply_ensemble(&ctx, "zk", operator::members(3, &ctx.node_image, 2000)).await?;
    let after = operator::wait_settled(&ctx, "zk", 3, SETTLE).await?;
    let trail = trail.finish().await?;
    let report = writer.finish().await?;
    let st = after.status.clone().unwrap_or_default();
    ensure!(st.current_members == Some(3), "the ensemble records {:?} members", st.current_members);
    let new_leader = operator::leader(&after)?;
    ensure!(new_leader != "zk-3" && new_leader != "zk-4", "{new_leader} still leads");

    let sts = Api::<StatefulSet>::namespaced(ctx.client.clone(), &ctx.ns).get("zk").await?;
    ensure!(sts.spec.replicas == Some(3), "the StatefulSet keeps {:?} replicas", sts.spec.replicas);
    let statuses = operator::member_statuses(&ctx, "zk").await?;
    ensure!(statuses.len() == 3, "{} member pods answered /status", statuses.len());
    healthy_ensemble(&statuses).map_err(|e| anyhow::anyhow!("members' own /status: {e}"))?;
    for (pod, s) in &statuses {
        let sids: Vec<u64> = s.quorum.members.iter().map(|m| m.sid).collect();
        ensure!(sids == [1, 2, 3], "{pod} runs configuration {} with servers {sids:?}", s.quorum.config_version.hex);
    }

    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    let at = |reason: &str| evs.iter().position(|(r, _)| r == reason);
    let (Some(h), Some(r), Some(s), Some(d)) =
        (at("HandingOverLeadership"), at("RemovingMembers"), at("ShrinkingStatefulSet"), at("Scaled"))
    else {
        bail!("missing scale-down events: {evs:?}");
    };
    ensure!(h < r && r < s && s < d, "events out of order (hand over, remove, shrink, record): {evs:?}");
    ensure!(!evs.iter().any(|(r, _)| r == "RestartingMember"), "a member was restarted by a scale-down: {evs:?}");
    println!("t30 scale-down sequence:");
    for (r, n) in &evs {
        println!("  event {r}: {n}");
    }
    for line in &trail {
        println!("  status {line}");
    }
    ensure!(report.lost == 0, "acknowledged writes lost: {report}");
    ensure!(report.session_expired == 0, "sessions expired: {report}");
    println!("t30 scale 5 -> 3 (leader {leader} among the removed): {report}");
    Ok(())
}
