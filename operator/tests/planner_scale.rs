//! The scale steps of the planner (issue 12): the step sequences of 3 -> 5 and 5 -> 3, the
//! refusals (no reconfig, to or from one member, a change that would lose quorum), a joining
//! member that never syncs, and properties over random member states (each step safe) and
//! over whole scales with the leader moving at random between passes.

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::views::{healthy, input, mem, set_leader, EPOCH};
use proptest::prelude::*;
use zab_operator::build::Membership;
use zab_operator::planner::{
    leader, majority, plan, synced_with, Action, ConfigView, MemberView, PlanInput, PodView, Report, ScaleStep,
};
use zab_status::Role;

fn config(participants: &[u64], observers: &[u64], committed: bool) -> ConfigView {
    ConfigView {
        version: 0x100000003,
        participants: participants.iter().copied().collect(),
        observers: observers.iter().copied().collect(),
        committed_on_all: committed,
        reconfig_in_flight: false,
    }
}

fn scaling<'a>(cur: Membership, des: Membership, views: &'a [MemberView], cfg: &'a ConfigView) -> PlanInput<'a> {
    let mut inp = input(cur, views, None, &[]);
    inp.desired = des;
    inp.reconfig_supported = true;
    inp.config = Some(cfg);
    inp.replicas = views.len() as u32;
    inp
}

#[test]
fn scaling_is_refused_without_reconfiguration() {
    let views = healthy(3, 0, 0);
    let mut inp = input(mem(3, 0), &views, None, &[]);
    inp.desired = mem(5, 0);
    match plan(&inp).action {
        Action::Refuse { reason, message } => {
            assert_eq!(reason, "ReconfigurationUnavailable");
            assert!(message.contains("set spec.members back to 3"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scaling_to_or_from_one_member_is_refused() {
    let views = healthy(3, 0, 0);
    let cfg = config(&[1, 2, 3], &[], true);
    let inp = scaling(mem(3, 0), mem(1, 0), &views, &cfg);
    assert!(matches!(plan(&inp).action, Action::Refuse { reason: "SingleMemberReconfiguration", .. }));
    let views = healthy(1, 0, 0);
    let cfg = config(&[1], &[], true);
    let inp = scaling(mem(1, 0), mem(3, 0), &views, &cfg);
    assert!(matches!(plan(&inp).action, Action::Refuse { reason: "SingleMemberReconfiguration", .. }));
}

#[test]
fn scale_up_steps() {
    let views3 = healthy(3, 0, 0);
    let cfg = config(&[1, 2, 3], &[], true);
    let inp = scaling(mem(3, 0), mem(5, 0), &views3, &cfg);
    assert_eq!(plan(&inp).action, Action::Scale(ScaleStep::AddPods { replicas: 5 }));
    // The two new pods joined (not in the configuration yet) and are synced.
    let mut views5 = healthy(3, 2, 0);
    let inp = scaling(mem(3, 0), mem(5, 0), &views5, &cfg);
    assert_eq!(
        plan(&inp).action,
        Action::Scale(ScaleStep::Reconfigure { add_participants: vec![4, 5], add_observers: vec![], remove: vec![] })
    );
    // One of them not synced: wait.
    views5[4].report.as_mut().unwrap().synced = false;
    let inp = scaling(mem(3, 0), mem(5, 0), &views5, &cfg);
    assert!(matches!(plan(&inp).action, Action::Wait { reason: "JoiningMembersNotSynced", .. }));
    let views5 = healthy(5, 0, 0);
    let cfg = config(&[1, 2, 3, 4, 5], &[], true);
    let inp = scaling(mem(3, 0), mem(5, 0), &views5, &cfg);
    assert_eq!(plan(&inp).action, Action::Scale(ScaleStep::Record(mem(5, 0))));
    let inp = scaling(mem(5, 0), mem(5, 0), &views5, &cfg);
    assert_eq!(plan(&inp).action, Action::Steady);
}

#[test]
fn scale_down_hands_leadership_over_removes_then_shrinks() {
    let views = healthy(5, 0, 4);
    let cfg = config(&[1, 2, 3, 4, 5], &[], true);
    let inp = scaling(mem(5, 0), mem(3, 0), &views, &cfg);
    assert_eq!(plan(&inp).action, Action::Scale(ScaleStep::HandOverLeadership { leader: 5, to: 1 }));
    let views = healthy(5, 0, 1);
    let inp = scaling(mem(5, 0), mem(3, 0), &views, &cfg);
    assert_eq!(
        plan(&inp).action,
        Action::Scale(ScaleStep::Reconfigure { add_participants: vec![], add_observers: vec![], remove: vec![4, 5] })
    );
    let cfg = config(&[1, 2, 3], &[], false);
    let inp = scaling(mem(5, 0), mem(3, 0), &views, &cfg);
    assert!(matches!(plan(&inp).action, Action::Wait { reason: "ConfigurationNotCommitted", .. }));
    let cfg = config(&[1, 2, 3], &[], true);
    let inp = scaling(mem(5, 0), mem(3, 0), &views, &cfg);
    assert_eq!(plan(&inp).action, Action::Scale(ScaleStep::RemovePods { replicas: 3 }));
    let views3 = healthy(3, 0, 1);
    let inp = scaling(mem(5, 0), mem(3, 0), &views3, &cfg);
    assert_eq!(plan(&inp).action, Action::Scale(ScaleStep::Record(mem(3, 0))));
}

#[test]
fn no_step_while_a_reconfig_is_in_flight() {
    let views = healthy(5, 0, 4);
    let mut cfg = config(&[1, 2, 3, 4, 5], &[], true);
    cfg.reconfig_in_flight = true;
    let inp = scaling(mem(5, 0), mem(3, 0), &views, &cfg);
    assert!(matches!(plan(&inp).action, Action::Wait { reason: "ReconfigInFlight", .. }));
}

#[test]
fn a_scale_down_that_would_lose_quorum_is_refused() {
    let mut views = healthy(5, 0, 4);
    for v in &mut views[..2] {
        v.report.as_mut().unwrap().synced = false;
    }
    let cfg = config(&[1, 2, 3, 4, 5], &[], true);
    let inp = scaling(mem(5, 0), mem(3, 0), &views, &cfg);
    match plan(&inp).action {
        Action::Refuse { reason: "ScaleWouldLoseQuorum", message } => {
            assert!(message.contains("1 synced participants (of 3), 2 are needed"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_joining_member_that_never_syncs_is_never_promoted() {
    let cfg = config(&[1, 2, 3], &[], true);
    let mut views = healthy(3, 2, 0);
    views[4].report = Some(Report { role: Role::Looking, synced: false, current_epoch: EPOCH, leader_sid: None });
    for leader_now in [0u32, 1, 2, 0, 1] {
        set_leader(&mut views[..4], 3, leader_now);
        let inp = scaling(mem(3, 0), mem(5, 0), &views, &cfg);
        match plan(&inp).action {
            Action::Wait { reason: "JoiningMembersNotSynced", message } => {
                assert!(message.contains("zk-4 (server 5)"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A random member: (pod present, terminating, report, role, synced, leader sid).
type Raw = (bool, bool, bool, u8, bool, u8);

fn views_of(raw: &[Raw], cfg: &ConfigView) -> Vec<MemberView> {
    raw.iter()
        .enumerate()
        .map(|(i, &(present, term, rep, role, synced, lsid))| {
            let o = i as u32;
            let role = match role {
                0 => Role::Looking,
                1 => Role::Leading,
                2 => Role::Observing,
                _ => Role::Following,
            };
            MemberView {
                ordinal: o,
                name: format!("zk-{o}"),
                participant: cfg.participants.contains(&(u64::from(o) + 1)),
                pod: present.then(|| PodView {
                    uid: format!("u{o}"),
                    up_to_date: true,
                    terminating: term,
                    ready: true,
                }),
                report: rep.then_some(Report {
                    role,
                    synced,
                    current_epoch: EPOCH,
                    leader_sid: Some(u64::from(lsid % raw.len() as u8) + 1),
                }),
                out_for: None,
            }
        })
        .collect()
}

/// What must hold of any scale step the planner takes.
fn check_scale_step(inp: &PlanInput, cfg: &ConfigView) -> Result<(), TestCaseError> {
    let action = plan(inp).action;
    let Action::Scale(step) = &action else { return Ok(()) };
    let (l, epoch) = leader(inp).expect("a scale step needs a leader");
    let lsid = u64::from(l) + 1;
    let synced = |sid: u64| inp.members.iter().any(|m| m.myid() == sid && synced_with(m, lsid, epoch));
    prop_assert!(inp.members.iter().all(|m| m.pod.as_ref().is_some_and(|p| !p.terminating)), "no pod in motion");
    let des = inp.desired;
    match step {
        ScaleStep::Reconfigure { add_participants, add_observers, remove } => {
            prop_assert!(!remove.contains(&lsid), "the leader is never removed while it leads");
            for s in add_participants.iter().chain(add_observers) {
                prop_assert!(synced(*s), "server {} promoted before it is synced", s);
            }
            let after: BTreeSet<u64> =
                cfg.participants.iter().chain(add_participants).copied().filter(|s| !remove.contains(s)).collect();
            let up = after.iter().filter(|s| synced(**s)).count();
            prop_assert!(up >= majority(after.len() as u32), "new configuration {:?} with {} synced", after, up);
        }
        ScaleStep::HandOverLeadership { leader: from, to } => {
            prop_assert_eq!(*from, lsid);
            prop_assert!(synced(*to) && *to <= u64::from(des.members) && *to != lsid);
        }
        ScaleStep::RemovePods { replicas } => {
            prop_assert!(cfg.committed_on_all);
            prop_assert!(cfg.participants.iter().chain(&cfg.observers).all(|s| *s <= u64::from(*replicas)));
        }
        ScaleStep::AddPods { replicas } => prop_assert_eq!(*replicas, des.total()),
        ScaleStep::Record(m) => {
            prop_assert_eq!(*m, des);
            prop_assert!(cfg.participants.len() as u32 == des.members && cfg.committed_on_all);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Every scale step taken from any state is safe (see `check_scale_step`).
    #[test]
    fn scale_steps_are_safe_on_random_states(
        cur in prop::sample::select(vec![3u32, 5, 7]), des in prop::sample::select(vec![3u32, 5, 7]),
        in_cfg in prop::collection::vec(any::<bool>(), 7), committed in any::<bool>(),
        raw in prop::collection::vec((prop::bool::weighted(0.95), prop::bool::weighted(0.05),
            prop::bool::weighted(0.9), 0u8..4, prop::bool::weighted(0.85), 0u8..8), 7),
        replicas in 3u32..8,
    ) {
        // A configuration: the first `cur` always, others at random (a scale half done).
        let participants: Vec<u64> =
            (1..=7u64).filter(|s| *s <= u64::from(cur) || in_cfg[(*s - 1) as usize]).collect();
        let cfg = config(&participants, &[], committed);
        let n = replicas.max(cur).min(7) as usize;
        let views = views_of(&raw[..n], &cfg);
        let inp = scaling(mem(cur, 0), mem(des, 0), &views, &cfg);
        check_scale_step(&inp, &cfg)?;
    }

    /// A whole scale, 3 -> 5 or 5 -> 3 (or 3 -> 7, 7 -> 3), with the leader moving to a
    /// random synced participant between passes: each step is safe, and it ends with the
    /// spec's membership recorded and nothing left to do.
    #[test]
    fn a_whole_scale_ends_recorded_with_the_leader_moving(
        (from, to) in prop::sample::select(vec![(3u32, 5u32), (5, 3), (3, 7), (7, 3), (5, 7)]),
        first_leader in 0u32..7, moves in prop::collection::vec(0u32..14, 0..60),
    ) {
        let mut cfg = config(&(1..=u64::from(from)).collect::<Vec<_>>(), &[], true);
        let mut views = healthy(from, 0, first_leader % from);
        let mut leader_now = first_leader % from;
        let mut current = mem(from, 0);
        let mut moves = moves.into_iter();
        let mut done = false;
        for _pass in 0..100 {
            if let Some(mv) = moves.next() {
                // An election between passes: any participant of the configuration may win.
                if mv % 2 == 0 && cfg.participants.contains(&(u64::from(mv % 7) + 1)) && (mv % 7) < views.len() as u32 {
                    leader_now = mv % 7;
                }
            }
            for v in views.iter_mut() { v.participant = cfg.participants.contains(&v.myid()); }
            relead(&mut views, leader_now);
            let inp = scaling(current, mem(to, 0), &views, &cfg);
            check_scale_step(&inp, &cfg)?;
            match plan(&inp).action {
                Action::Steady => { done = true; break; }
                Action::Scale(ScaleStep::AddPods { replicas }) => {
                    for o in views.len() as u32..replicas {
                        let mut m = healthy(1, 0, 0).remove(0);
                        m.ordinal = o;
                        m.name = format!("zk-{o}");
                        m.participant = false;
                        views.push(m);
                    }
                }
                Action::Scale(ScaleStep::Reconfigure { add_participants, remove, .. }) => {
                    cfg.participants.extend(add_participants);
                    cfg.participants.retain(|s| !remove.contains(s));
                    cfg.version += 1;
                    cfg.committed_on_all = false;
                }
                Action::Scale(ScaleStep::HandOverLeadership { to: t, .. }) => leader_now = (t - 1) as u32,
                Action::Scale(ScaleStep::RemovePods { replicas }) => views.truncate(replicas as usize),
                Action::Scale(ScaleStep::Record(m)) => current = m,
                Action::Wait { reason: "ConfigurationNotCommitted", .. } => cfg.committed_on_all = true,
                other => prop_assert!(false, "a healthy scale should not stop: {other:?}"),
            }
        }
        prop_assert!(done, "the scale did not finish");
        prop_assert_eq!(current, mem(to, 0));
        prop_assert_eq!(cfg.participants, (1..=u64::from(to)).collect::<BTreeSet<u64>>());
        prop_assert_eq!(views.len() as u32, to);
    }
}

/// Every member synced under the leader at ordinal `l` (participants follow, the others
/// observe).
fn relead(views: &mut [MemberView], l: u32) {
    for v in views.iter_mut() {
        let role = if v.ordinal == l {
            Role::Leading
        } else if v.participant {
            Role::Following
        } else {
            Role::Observing
        };
        v.report = Some(Report { role, synced: true, current_epoch: EPOCH, leader_sid: Some(u64::from(l) + 1) });
    }
}

/// The random-state generator reaches every kind of step (the safety property is not vacuous).
#[test]
fn the_random_states_reach_every_step() {
    let mut runner = proptest::test_runner::TestRunner::default();
    let seen = std::sync::Mutex::new(BTreeSet::new());
    let strategy = (
        prop::sample::select(vec![(3u32, 5u32), (5, 3)]),
        0u32..5,
        prop::collection::vec(any::<bool>(), 5),
        any::<bool>(),
        prop::sample::select(vec![3u32, 5]),
    );
    runner
        .run(&strategy, |((cur, des), l, in_cfg, committed, replicas)| {
            // A configuration part way between the two sizes.
            let participants: Vec<u64> =
                (1..=5u64).filter(|s| *s <= u64::from(cur.min(des)) || in_cfg[(*s - 1) as usize]).collect();
            let cfg = config(&participants, &[], committed);
            let mut views = healthy(replicas, 0, l % replicas);
            for v in views.iter_mut() {
                v.participant = cfg.participants.contains(&v.myid());
            }
            relead(&mut views, l % replicas);
            let inp = scaling(mem(cur, 0), mem(des, 0), &views, &cfg);
            if let Action::Scale(step) = plan(&inp).action {
                seen.lock().unwrap().insert(step.reason());
            }
            check_scale_step(&inp, &cfg)
        })
        .unwrap();
    let seen = seen.into_inner().unwrap();
    for r in [
        "AddingMembers",
        "PromotingMembers",
        "RemovingMembers",
        "HandingOverLeadership",
        "ShrinkingStatefulSet",
        "Scaled",
    ] {
        assert!(seen.contains(r), "never reached {r}: {seen:?}");
    }
}
