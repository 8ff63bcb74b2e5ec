//! Restarts: the rolling restart of members whose pod is out of date, the wait for a
//! restarted member, and the one-time repair of a member stuck out of the ensemble.
//! Pure; see `mod.rs` for the rules.

use super::{
    leader, majority, synced_participants_without, synced_with, Action, InFlight, MemberView, PlanInput, RestartReason,
};

/// The restart in flight: `None` when it is finished (the member is synced in the leader's
/// epoch again), else what to do meanwhile.
pub(super) fn in_flight(input: &PlanInput, f: &InFlight) -> Option<Action> {
    let Some(m) = input.members.iter().find(|m| m.name == f.pod) else {
        // The member is gone from the StatefulSet (scaled away): nothing to wait for.
        return None;
    };
    let replaced = m.pod.as_ref().is_some_and(|p| p.uid != f.old_uid && !p.terminating);
    let ready = m.pod.as_ref().is_some_and(|p| p.ready);
    if replaced && ready {
        if let Some((l, epoch)) = leader(input) {
            if synced_with(m, u64::from(l) + 1, epoch) {
                return None;
            }
        }
    }
    if f.elapsed > input.limits.restart_timeout {
        return Some(Action::Degraded {
            reason: "MemberNotReturning",
            message: format!(
                "pod {} was restarted and is not synced with the leader within {}s; the roll stopped. \
                 Check `kubectl logs {}` and its volume; the operator resumes when it is synced or the spec changes",
                f.pod,
                input.limits.restart_timeout.as_secs(),
                f.pod
            ),
        });
    }
    let (reason, what) =
        if replaced { ("MemberRejoining", "rejoining the ensemble") } else { ("MemberRestarting", "restarting") };
    Some(Action::Wait { reason, message: format!("pod {} is {what}", f.pod) })
}

/// Restart planning when the membership is what the spec asks for.
pub(super) fn plan(input: &PlanInput) -> Action {
    if let Some(a) = pods_in_motion(input) {
        return a;
    }
    let ldr = leader(input);
    if let Some(a) = repair(input, ldr) {
        return a;
    }
    let pending: Vec<&MemberView> =
        input.members.iter().filter(|m| m.pod.as_ref().is_some_and(|p| !p.up_to_date)).collect();
    let Some(ldr) = ldr else {
        return Action::Wait {
            reason: "NoLeader",
            message: "no leader with a quorum behind it yet; waiting for the election".into(),
        };
    };
    let leader_sid = u64::from(ldr.0) + 1;
    let unsynced: Vec<String> =
        input.members.iter().filter(|m| !synced_with(m, leader_sid, ldr.1)).map(|m| m.ordinal.to_string()).collect();
    if !unsynced.is_empty() {
        return Action::Wait {
            reason: "MembersNotSynced",
            message: format!("members with ordinal {} are not synced with the leader yet", unsynced.join(", ")),
        };
    }
    let unready: Vec<&str> =
        input.members.iter().filter(|m| m.pod.as_ref().is_some_and(|p| !p.ready)).map(|m| m.name.as_str()).collect();
    if !unready.is_empty() {
        // Synced already, but Services and the PodDisruptionBudget go by the Ready condition.
        return Action::Wait {
            reason: "MembersNotReady",
            message: format!("pods {} are not Ready yet", unready.join(", ")),
        };
    }
    if pending.is_empty() {
        return Action::Steady;
    }
    // Observers first, then followers, the leader last; lowest ordinal first within each.
    let rank = |m: &MemberView| (m.ordinal == ldr.0, m.participant, m.ordinal);
    let Some(next) = pending.into_iter().min_by_key(|m| rank(m)) else { return Action::Steady };
    let pod = next.name.clone();
    let left = synced_participants_without(input, ldr, next.ordinal);
    let need = majority(input.current.members);
    let single = input.current.members == 1 && next.participant;
    if next.participant && left < need && !single {
        return Action::Wait {
            reason: "QuorumAtRisk",
            message: format!("restarting {pod} would leave {left} synced participants, {need} are needed; waiting"),
        };
    }
    if next.ordinal == ldr.0 && !single && input.config.is_some_and(|c| c.reconfig_in_flight) {
        return Action::Wait {
            reason: "ReconfigInFlight",
            message: format!("{pod} (the leader) hands over once its reconfiguration in flight is committed"),
        };
    }
    if next.ordinal == ldr.0 && !single {
        // Hand the leadership over first (to the lowest synced participant), so the ensemble
        // does not wait for an election while the leader restarts.
        let to = input
            .members
            .iter()
            .filter(|m| m.participant && m.ordinal != ldr.0 && synced_with(m, leader_sid, ldr.1))
            .map(|m| m.myid())
            .min();
        if let Some(to) = to {
            return Action::HandOver {
                leader: leader_sid,
                to,
                why: format!(
                    "hand over leadership from {leader_sid} to {to} before restarting it ({pod} runs an old template)"
                ),
            };
        }
    }
    let role = if next.ordinal == ldr.0 {
        "the leader; every other member is up to date"
    } else if next.participant {
        "a follower"
    } else {
        "an observer"
    };
    let why = if single {
        format!("{pod} runs an old template; it is the only voting member, so the ensemble is unavailable while it restarts")
    } else {
        format!("{pod} ({role}) runs an old template; {left} synced participants remain, {need} needed")
    };
    Action::Restart { pod, ordinal: next.ordinal, reason: RestartReason::Rollout, why }
}

/// A pod missing or terminating: the StatefulSet controller is at work; never act meanwhile.
pub(super) fn pods_in_motion(input: &PlanInput) -> Option<Action> {
    for m in input.members {
        match &m.pod {
            None => {
                return Some(Action::Wait {
                    reason: "MemberPodMissing",
                    message: format!(
                        "the pod of ordinal {} does not exist; waiting for the StatefulSet to create it",
                        m.ordinal
                    ),
                })
            }
            Some(p) if p.terminating => {
                return Some(Action::Wait {
                    reason: "PodTerminating",
                    message: format!("pod {} is terminating", m.name),
                })
            }
            Some(_) => {}
        }
    }
    None
}

/// A member out of the ensemble for `repair_after` while the others hold a quorum: restart
/// it once; if it was restarted once already, report Degraded.
fn repair(input: &PlanInput, ldr: Option<(u32, i64)>) -> Option<Action> {
    let ldr = ldr?;
    let stuck = input.members.iter().find(|m| m.out_for.is_some_and(|d| d >= input.limits.repair_after))?;
    stuck.pod.as_ref()?;
    let pod = stuck.name.clone();
    let secs = input.limits.repair_after.as_secs();
    if input.repaired.contains(&pod) {
        return Some(Action::Degraded {
            reason: "MemberStuck",
            message: format!(
                "pod {pod} is out of the ensemble for more than {secs}s although it was restarted once; \
                 check `kubectl logs {pod}` and its volume (delete the PVC and the pod to resync it by SNAP)"
            ),
        });
    }
    let left = synced_participants_without(input, ldr, stuck.ordinal);
    if left < majority(input.current.members) {
        return None;
    }
    Some(Action::Restart {
        pod: pod.clone(),
        ordinal: stuck.ordinal,
        reason: RestartReason::Repair,
        why: format!("{pod} is out of the ensemble for more than {secs}s; restarting it once"),
    })
}
