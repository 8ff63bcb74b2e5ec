//! Scaling by dynamic reconfiguration, step by step: grow the StatefulSet (new members
//! start as observers), promote the synced newcomers with a reconfig, hand the leadership
//! over if the leader is to leave, remove the leaving members with a reconfig, wait until
//! the new configuration is committed on every remaining member, shrink the StatefulSet,
//! record the new membership. Never by rewriting the static server list: two halves
//! restarted with different lists can each elect a leader.
//!
//! zab-node has no reconfig yet (issue 15): with `reconfig_supported` false every scale
//! request is refused (`ReconfigurationUnavailable`) before anything is touched.

use std::collections::BTreeSet;

use super::restart::pods_in_motion;
use super::{leader, synced_with, Action, PlanInput};
use crate::build::Membership;

/// The quorum configuration the leader reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigView {
    /// Its version (the zxid of the reconfig that made it).
    pub version: i64,
    pub participants: BTreeSet<u64>,
    pub observers: BTreeSet<u64>,
    /// Every reachable member reports this version.
    pub committed_on_all: bool,
}

/// One step of a scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleStep {
    /// Set the StatefulSet's replicas to this (the new pods join as observers).
    AddPods { replicas: u32 },
    /// A reconfig: add these sids as participants / observers, remove these.
    Reconfigure { add_participants: Vec<u64>, add_observers: Vec<u64>, remove: Vec<u64> },
    /// The leader is among the members to remove: hand its leadership over first.
    HandOverLeadership { leader: u64 },
    /// Set the StatefulSet's replicas down to this (the configuration no longer has them).
    RemovePods { replicas: u32 },
    /// Everything matches: record the membership (StatefulSet annotations).
    Record(Membership),
}

pub(super) fn plan(input: &PlanInput) -> Action {
    let (cur, des) = (input.current, input.desired);
    if !input.reconfig_supported {
        return Action::Refuse {
            reason: "ReconfigurationUnavailable",
            message: format!(
                "scaling from {} members and {} observers to {} members and {} observers needs dynamic \
                 reconfiguration (new members join as observers and are promoted by reconfig; leaving ones are \
                 removed by reconfig first), which zab-node does not support yet; set spec.members back to {} and \
                 spec.observers to {}. The ensemble keeps running unchanged",
                cur.members, cur.observers, des.members, des.observers, cur.members, cur.observers
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
    if let Some(m) = input.members.iter().find(|m| !synced_with(m, leader_sid, epoch)) {
        return Action::Wait {
            reason: "MembersNotSynced",
            message: format!("{} is not synced with the leader; scaling waits until every member is", m.name),
        };
    }
    let Some(cfg) = input.config else {
        return Action::Wait {
            reason: "ConfigurationUnknown",
            message: "the leader has not reported its configuration".into(),
        };
    };
    if input.replicas < des.total() {
        return Action::Scale(ScaleStep::AddPods { replicas: des.total() });
    }
    let want_p: BTreeSet<u64> = (1..=u64::from(des.members)).collect();
    let want_o: BTreeSet<u64> = (u64::from(des.members) + 1..=u64::from(des.total())).collect();
    let add_participants: Vec<u64> = want_p.difference(&cfg.participants).copied().collect();
    let add_observers: Vec<u64> = want_o.difference(&cfg.observers).copied().collect();
    if !add_participants.is_empty() || !add_observers.is_empty() {
        return Action::Scale(ScaleStep::Reconfigure { add_participants, add_observers, remove: vec![] });
    }
    let remove: Vec<u64> =
        cfg.participants.difference(&want_p).chain(cfg.observers.difference(&want_o)).copied().collect();
    if !remove.is_empty() {
        if remove.contains(&leader_sid) {
            return Action::Scale(ScaleStep::HandOverLeadership { leader: leader_sid });
        }
        return Action::Scale(ScaleStep::Reconfigure { add_participants: vec![], add_observers: vec![], remove });
    }
    if !cfg.committed_on_all {
        return Action::Wait {
            reason: "ConfigurationNotCommitted",
            message: format!("configuration 0x{:x} is not on every member yet", cfg.version),
        };
    }
    if input.replicas > des.total() {
        return Action::Scale(ScaleStep::RemovePods { replicas: des.total() });
    }
    Action::Scale(ScaleStep::Record(des))
}
