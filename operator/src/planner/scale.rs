//! Scaling by dynamic reconfiguration, step by step (issue 12), one step per pass:
//!
//! 1. `AddPods`: grow the StatefulSet; the new pods start from the seed zoo.cfg, which
//!    lists them as observers, so they join the running ensemble without a vote.
//! 2. `Reconfigure` (promote): once every joining member is synced with the leader, one
//!    reconfig makes them participants (and adds new observers).
//! 3. `HandOverLeadership`: the leader is among the members to remove: its leadership goes
//!    to a synced participant that stays, before anything is removed.
//! 4. `Reconfigure` (remove): one reconfig removes the leaving members (highest ordinals).
//! 5. Wait until every member of the new configuration reports its version.
//! 6. `RemovePods`: shrink the StatefulSet (its `whenScaled` PVC retention policy applies).
//! 7. `Record`: the StatefulSet's annotations say the new membership; the seed zoo.cfg
//!    follows.
//!
//! Never by rewriting the static server list: two halves restarted with different lists
//! can each elect a leader. A change whose new configuration would not have a quorum of
//! synced participants is refused (`ScaleWouldLoseQuorum`), as is any change to or from a
//! single member (a one-member ensemble runs standalone, and ZooKeeper's reconfig needs at
//! least two voters with `standaloneEnabled`).

use std::collections::BTreeSet;

use super::restart::pods_in_motion;
use super::{leader, majority, synced_with, Action, MemberView, PlanInput};
use crate::build::Membership;

/// The quorum configuration the leader reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigView {
    /// Its version (the zxid of the reconfig that made it).
    pub version: i64,
    pub participants: BTreeSet<u64>,
    pub observers: BTreeSet<u64>,
    /// Every reachable member of this configuration reports this version.
    pub committed_on_all: bool,
    /// The leader has a reconfiguration proposed and not yet committed.
    pub reconfig_in_flight: bool,
}

/// One step of a scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleStep {
    /// Set the StatefulSet's replicas to this (the new pods join as observers).
    AddPods { replicas: u32 },
    /// A reconfig: add these sids as participants / observers, remove these.
    Reconfigure { add_participants: Vec<u64>, add_observers: Vec<u64>, remove: Vec<u64> },
    /// The leader is among the members to remove: hand its leadership over to `to` first.
    HandOverLeadership { leader: u64, to: u64 },
    /// Set the StatefulSet's replicas down to this (the configuration no longer has them).
    RemovePods { replicas: u32 },
    /// Everything matches: record the membership (StatefulSet annotations).
    Record(Membership),
}

fn list(sids: &[u64]) -> String {
    sids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

impl ScaleStep {
    /// One sentence for the Progressing condition and the event.
    pub fn describe(&self) -> String {
        match self {
            ScaleStep::AddPods { replicas } => {
                format!("scale the StatefulSet up to {replicas} pods; the new members join as observers")
            }
            ScaleStep::Reconfigure { add_participants, add_observers, remove } => {
                let mut parts = vec![];
                if !add_participants.is_empty() {
                    parts.push(format!("promote {} to participants (synced with the leader)", list(add_participants)));
                }
                if !add_observers.is_empty() {
                    parts.push(format!("add {} as observers", list(add_observers)));
                }
                if !remove.is_empty() {
                    parts.push(format!("remove {} from the configuration", list(remove)));
                }
                format!("reconfig: {}", parts.join("; "))
            }
            ScaleStep::HandOverLeadership { leader, to } => {
                format!("hand over leadership from {leader} to {to} before removing {leader}")
            }
            ScaleStep::RemovePods { replicas } => format!(
                "the new configuration is committed on every remaining member; scale the StatefulSet down to {replicas} pods"
            ),
            ScaleStep::Record(m) => format!("scaled to {} members and {} observers", m.members, m.observers),
        }
    }

    /// The event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ScaleStep::AddPods { .. } => "AddingMembers",
            ScaleStep::Reconfigure { remove, .. } if remove.is_empty() => "PromotingMembers",
            ScaleStep::Reconfigure { .. } => "RemovingMembers",
            ScaleStep::HandOverLeadership { .. } => "HandingOverLeadership",
            ScaleStep::RemovePods { .. } => "ShrinkingStatefulSet",
            ScaleStep::Record(_) => "Scaled",
        }
    }
}

/// The participants and observers (sids) the spec asks for.
fn wanted(des: Membership) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let p = (1..=u64::from(des.members)).collect();
    let o = (u64::from(des.members) + 1..=u64::from(des.total())).collect();
    (p, o)
}

/// Is a scale in progress or asked for: the spec's membership differs from the recorded one,
/// the StatefulSet has another size, or the leader's configuration is not the spec's.
pub(super) fn scaling(input: &PlanInput) -> bool {
    if input.desired != input.current || input.replicas != input.desired.total() {
        return true;
    }
    match input.config {
        Some(cfg) if input.reconfig_supported => {
            let (p, o) = wanted(input.desired);
            cfg.participants != p || cfg.observers != o
        }
        _ => false,
    }
}

fn by_sid<'a>(input: &'a PlanInput, sid: u64) -> Option<&'a MemberView> {
    input.members.iter().find(|m| m.myid() == sid)
}

pub(super) fn plan(input: &PlanInput) -> Action {
    let (cur, des) = (input.current, input.desired);
    if !input.reconfig_supported {
        return Action::Refuse {
            reason: "ReconfigurationUnavailable",
            message: format!(
                "scaling from {} members and {} observers to {} members and {} observers needs dynamic \
                 reconfiguration (new members join as observers and are promoted by reconfig; leaving ones are \
                 removed by reconfig first), which this ensemble does not run with; set spec.members back to {} and \
                 spec.observers to {}. The ensemble keeps running unchanged",
                cur.members, cur.observers, des.members, des.observers, cur.members, cur.observers
            ),
        };
    }
    if cur != des && (cur.members == 1 || des.members == 1) {
        return Action::Refuse {
            reason: "SingleMemberReconfiguration",
            message: format!(
                "scaling from {} to {} members (and {} to {} observers) is not done: a one-member ensemble runs \
                 standalone and a reconfig needs at least two voters; set spec.members back to {} and spec.observers \
                 to {}. The ensemble keeps running unchanged",
                cur.members, des.members, cur.observers, des.observers, cur.members, cur.observers
            ),
        };
    }
    if let Some(a) = pods_in_motion(input) {
        return a;
    }
    let Some((l, epoch)) = leader(input) else {
        return Action::Wait { reason: "NoLeader", message: "no leader yet; scaling waits for one".into() };
    };
    let leader_sid = u64::from(l) + 1;
    let Some(cfg) = input.config else {
        return Action::Wait {
            reason: "ConfigurationUnknown",
            message: "the leader has not reported its configuration".into(),
        };
    };
    if cfg.reconfig_in_flight {
        return Action::Wait {
            reason: "ReconfigInFlight",
            message: "the leader has a reconfiguration in flight; the next step waits until it is committed".into(),
        };
    }
    let synced = |sid: u64| by_sid(input, sid).is_some_and(|m| synced_with(m, leader_sid, epoch));
    let (want_p, want_o) = wanted(des);
    let add_participants: Vec<u64> = want_p.difference(&cfg.participants).copied().collect();
    let add_observers: Vec<u64> = want_o.difference(&cfg.observers).copied().collect();
    let remove: Vec<u64> =
        cfg.participants.difference(&want_p).chain(cfg.observers.difference(&want_o)).copied().collect();

    // The participants once everything asked for is done: a quorum of them must be synced
    // (joining members count once they are: they are promoted only then).
    let synced_after = want_p.iter().filter(|s| synced(**s) || !cfg.participants.contains(s)).count();
    if synced_after < majority(des.members) {
        return Action::Refuse {
            reason: "ScaleWouldLoseQuorum",
            message: format!(
                "scaling to {} members would leave {} synced participants (of {}), {} are needed; the operator waits \
                 until enough members are synced with the leader or spec.members is set back to {}",
                des.members,
                synced_after,
                des.members,
                majority(des.members),
                cur.members
            ),
        };
    }

    // 1. Grow the StatefulSet.
    if input.replicas < des.total() && (!add_participants.is_empty() || !add_observers.is_empty()) {
        return Action::Scale(ScaleStep::AddPods { replicas: des.total() });
    }
    // 2. Promote the joining members once they are synced.
    if !add_participants.is_empty() || !add_observers.is_empty() {
        let joining: Vec<u64> = add_participants.iter().chain(&add_observers).copied().collect();
        let unsynced: Vec<String> =
            joining.iter().filter(|s| !synced(**s)).map(|s| format!("{} (server {s})", name_of(input, *s))).collect();
        if !unsynced.is_empty() {
            return Action::Wait {
                reason: "JoiningMembersNotSynced",
                message: format!(
                    "{} not synced with the leader yet; they are promoted once they are",
                    unsynced.join(", ")
                ),
            };
        }
        let new_p = cfg.participants.union(&add_participants.iter().copied().collect()).count();
        let synced_new = cfg.participants.iter().chain(&add_participants).filter(|s| synced(**s)).count();
        if synced_new < majority(new_p as u32) {
            return Action::Wait {
                reason: "QuorumAtRisk",
                message: format!(
                    "promoting {} would make a configuration of {new_p} participants with {synced_new} synced; waiting",
                    list(&add_participants)
                ),
            };
        }
        return Action::Scale(ScaleStep::Reconfigure { add_participants, add_observers, remove: vec![] });
    }
    // 3. and 4. Remove the leaving members, the leader's leadership handed over first.
    if !remove.is_empty() {
        if remove.contains(&leader_sid) {
            let Some(to) = want_p.iter().copied().find(|s| *s != leader_sid && synced(*s)) else {
                return Action::Wait {
                    reason: "NoHandOverTarget",
                    message: format!("no synced participant that stays to hand the leadership of {leader_sid} to"),
                };
            };
            return Action::Scale(ScaleStep::HandOverLeadership { leader: leader_sid, to });
        }
        return Action::Scale(ScaleStep::Reconfigure { add_participants: vec![], add_observers: vec![], remove });
    }
    // 5. The new configuration on every member that stays.
    if !cfg.committed_on_all {
        return Action::Wait {
            reason: "ConfigurationNotCommitted",
            message: format!("configuration 0x{:x} is not on every member yet", cfg.version),
        };
    }
    // 6. Shrink.
    if input.replicas > des.total() {
        return Action::Scale(ScaleStep::RemovePods { replicas: des.total() });
    }
    if input.replicas < des.total() {
        // The configuration has them already (e.g. recorded by an earlier pass): pods back.
        return Action::Scale(ScaleStep::AddPods { replicas: des.total() });
    }
    // 7. Record.
    if cur != des {
        return Action::Scale(ScaleStep::Record(des));
    }
    // Everything matches; the next pass plans restarts.
    Action::Wait { reason: "ConfigurationSettling", message: "the configuration matches the spec".into() }
}

fn name_of(input: &PlanInput, sid: u64) -> String {
    by_sid(input, sid).map(|m| m.name.clone()).unwrap_or_else(|| format!("ordinal {}", sid.saturating_sub(1)))
}
