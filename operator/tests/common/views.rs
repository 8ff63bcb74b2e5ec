//! Member views for the planner tests: a healthy ensemble, one member, the planner's input
//! for a steady membership, the leader moved.

use std::time::Duration;

use zab_operator::build::Membership;
use zab_operator::planner::{InFlight, Limits, MemberView, PlanInput, PodView, Report};
use zab_status::Role;

pub const EPOCH: i64 = 7;

pub fn member(ordinal: u32, participant: bool, role: Role, leader_sid: u64) -> MemberView {
    MemberView {
        ordinal,
        name: format!("zk-{ordinal}"),
        participant,
        pod: Some(PodView { uid: format!("uid-{ordinal}-0"), up_to_date: true, terminating: false, ready: true }),
        report: Some(Report { role, synced: true, current_epoch: EPOCH, leader_sid: Some(leader_sid) }),
        out_for: None,
    }
}

/// A healthy ensemble of `members` participants and `observers` observers led by `leader`.
pub fn healthy(members: u32, observers: u32, leader: u32) -> Vec<MemberView> {
    (0..members + observers)
        .map(|o| {
            let role = if o == leader {
                Role::Leading
            } else if o < members {
                Role::Following
            } else {
                Role::Observing
            };
            member(o, o < members, role, u64::from(leader) + 1)
        })
        .collect()
}

pub fn input<'a>(
    m: Membership,
    members: &'a [MemberView],
    in_flight: Option<&'a InFlight>,
    repaired: &'a [String],
) -> PlanInput<'a> {
    PlanInput {
        desired: m,
        current: m,
        replicas: m.total(),
        members,
        in_flight,
        repaired,
        paused: false,
        reconfig_supported: false,
        config: None,
        limits: Limits { restart_timeout: Duration::from_secs(300), repair_after: Duration::from_secs(120) },
    }
}

pub fn mem(members: u32, observers: u32) -> Membership {
    Membership { members, observers }
}

pub fn set_leader(views: &mut [MemberView], members: u32, leader: u32) {
    for v in views.iter_mut() {
        let role = if v.ordinal == leader {
            Role::Leading
        } else if v.ordinal < members {
            Role::Following
        } else {
            Role::Observing
        };
        v.report =
            Some(Report { role, synced: true, current_epoch: EPOCH + 1, leader_sid: Some(u64::from(leader) + 1) });
    }
}
