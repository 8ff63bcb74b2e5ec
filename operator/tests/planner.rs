//! The restart / scale planner, property-tested over member-status combinations: every
//! mix of present / up-to-date / terminating pods and ready / synced / leading reports, a
//! member that never returns, a leader that changes mid-roll, the hand-over before the
//! leader's restart (issue 12). The scale steps: tests/planner_scale.rs.

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::views::{healthy, input, mem, member, set_leader, EPOCH};
use proptest::prelude::*;
use zab_operator::planner::{
    leader, majority, plan, synced_participants_without, Action, InFlight, MemberView, Plan, PodView, Report,
    RestartReason,
};
use zab_status::Role;

/// A random member state: (pod present, up to date, terminating, report present, role,
/// synced, same epoch, leader sid).
type RawMember = (bool, bool, bool, bool, u8, bool, bool, u8);

fn arb_members(total: u32) -> impl Strategy<Value = Vec<RawMember>> {
    prop::collection::vec(
        (
            prop::bool::weighted(0.9),
            any::<bool>(),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.85),
            0u8..4,
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.9),
            0u8..8,
        ),
        total as usize,
    )
}

fn to_views(members: u32, raw: &[RawMember]) -> Vec<MemberView> {
    raw.iter()
        .enumerate()
        .map(|(i, &(present, up, term, rep, role, synced, same_epoch, lsid))| {
            let o = i as u32;
            let role = match role {
                0 => Role::Looking,
                1 => Role::Leading,
                2 if o >= members => Role::Observing,
                _ => Role::Following,
            };
            MemberView {
                ordinal: o,
                name: format!("zk-{o}"),
                participant: o < members,
                pod: present.then(|| PodView {
                    uid: format!("u{o}"),
                    up_to_date: up,
                    terminating: term,
                    ready: rep && synced,
                }),
                report: rep.then_some(Report {
                    role,
                    synced,
                    current_epoch: if same_epoch { EPOCH } else { EPOCH - 1 },
                    leader_sid: Some(u64::from(lsid % (raw.len() as u8)) + 1),
                }),
                out_for: None,
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A rollout restart happens only with a leader, every member synced in its epoch, no
    /// pod in motion, a quorum of synced participants left, and the leader only when it is
    /// the last one out of date. Inputs: a healthy ensemble with random perturbations.
    #[test]
    fn rollout_restarts_are_safe(members in prop::sample::select(vec![1u32, 3, 5, 7]), observers in 0u32..3,
                                 ldr in 0u32..7, outdated in prop::collection::vec(any::<bool>(), 10),
                                 faults in prop::collection::vec((0u32..10, 0u8..8), 0..4)) {
        let total = members + observers;
        let mut views = healthy(members, observers, ldr % members);
        for (v, o) in views.iter_mut().zip(outdated) { v.pod.as_mut().unwrap().up_to_date = !o; }
        for (who, what) in faults {
            let v = &mut views[(who % total) as usize];
            match (what, v.pod.as_mut(), v.report.as_mut()) {
                (0, _, _) => v.pod = None,
                (1, Some(p), _) => p.terminating = true,
                (2, _, _) => v.report = None,
                (3, _, Some(r)) => r.synced = false,
                (4, _, Some(r)) => r.current_epoch = EPOCH - 1,
                (5, _, Some(r)) => r.role = Role::Leading,
                (6, Some(p), _) => p.ready = false,
                (_, _, Some(r)) => r.role = Role::Looking,
                _ => {}
            }
        }
        check_restart_safety(members, observers, &views)?;
    }

    /// The same, over fully random member states.
    #[test]
    fn rollout_restarts_are_safe_on_random_states(members in prop::sample::select(vec![1u32, 3, 5, 7]), observers in 0u32..3,
                                 raw in arb_members(9)) {
        let views = to_views(members, &raw[..(members + observers) as usize]);
        check_restart_safety(members, observers, &views)?;
    }

    /// Never two at once: while a restart is in flight and its member is not synced back,
    /// the planner restarts nothing.
    #[test]
    fn never_two_restarts_at_once(members in prop::sample::select(vec![1u32, 3, 5]), observers in 0u32..3,
                                  raw in arb_members(8), which in 0u32..8, secs in 0u64..1000, uid_same in any::<bool>()) {
        let total = members + observers;
        let mut views = to_views(members, &raw[..total as usize]);
        let which = which % total;
        let old_uid = if uid_same { format!("u{which}") } else { "gone".to_owned() };
        let f = InFlight { pod: format!("zk-{which}"), old_uid, elapsed: Duration::from_secs(secs) };
        // Whatever the others say, the restarted member is not synced back.
        if let Some(r) = views[which as usize].report.as_mut() { r.synced = false; }
        let inp = input(mem(members, observers), &views, Some(&f), &[]);
        let p = plan(&inp);
        prop_assert!(!matches!(p.action, Action::Restart { .. }), "{:?}", p.action);
        prop_assert!(!p.in_flight_done);
        if secs > 300 {
            prop_assert!(matches!(p.action, Action::Degraded { reason: "MemberNotReturning", .. }), "{:?}", p.action);
        }
        let _ = &mut views;
    }

    /// A whole roll with the leader changing at random moments (to any synced participant):
    /// one restart at a time, each safe, the current leader only when everyone else is done,
    /// and the roll ends Steady with every pod up to date.
    #[test]
    fn a_roll_finishes_with_the_leader_last(members in prop::sample::select(vec![3u32, 5, 7]), observers in 0u32..3,
                                            first_leader in 0u32..7, moves in prop::collection::vec(0u32..7, 0..40)) {
        let m = mem(members, observers);
        let mut views = healthy(members, observers, first_leader % members);
        for v in views.iter_mut() { v.pod.as_mut().unwrap().up_to_date = false; }
        let moves_len = moves.len() as u32;
        let mut moves = moves.into_iter();
        let mut restarts = 0;
        let mut handovers = 0u32;
        let mut leader_now = first_leader % members;
        for _step in 0..200 {
            // The leader may move to another participant between passes (an election).
            if let Some(mv) = moves.next() {
                if mv % 3 == 0 {
                    leader_now = mv % members;
                    set_leader(&mut views, members, leader_now);
                }
            }
            let inp = input(m, &views, None, &[]);
            match plan(&inp).action {
                Action::Steady => break,
                Action::HandOver { leader: from, to, .. } => {
                    prop_assert_eq!(from, u64::from(leader_now) + 1);
                    prop_assert!(to != from && to <= u64::from(members));
                    prop_assert!(views.iter().filter(|v| v.ordinal != leader_now).all(|v| v.pod.as_ref().unwrap().up_to_date));
                    handovers += 1;
                    leader_now = (to - 1) as u32;
                    set_leader(&mut views, members, leader_now);
                }
                Action::Restart { ordinal, .. } => {
                    restarts += 1;
                    prop_assert!(ordinal != leader_now, "the leader is never restarted while it leads");
                    // The pod comes back up to date and syncs with the current leader.
                    let v = &mut views[ordinal as usize];
                    v.pod = Some(PodView { uid: format!("new-{ordinal}-{restarts}"), up_to_date: true, terminating: false, ready: true });
                    set_leader(&mut views, members, leader_now);
                }
                other => prop_assert!(false, "a healthy roll should not stop: {other:?}"),
            }
        }
        prop_assert_eq!(restarts, members + observers);
        // A leader that moved to a restarted member needs no hand-over; one that did not has one.
        prop_assert!(handovers <= 1 + moves_len, "{} hand-overs", handovers);
        prop_assert!(views.iter().all(|v| v.pod.as_ref().unwrap().up_to_date));
    }
}

fn check_restart_safety(members: u32, observers: u32, views: &[MemberView]) -> Result<(), TestCaseError> {
    let inp = input(mem(members, observers), views, None, &[]);
    let Plan { action, .. } = plan(&inp);
    if let Action::HandOver { leader: from, to, .. } = &action {
        let l = leader(&inp).expect("a hand-over needs a leader");
        prop_assert_eq!(*from, u64::from(l.0) + 1);
        let target = &views[(*to - 1) as usize];
        prop_assert!(target.participant && *to != *from);
        prop_assert!(zab_operator::planner::synced_with(target, *from, l.1), "the target is a synced follower");
        prop_assert!(
            views.iter().filter(|v| v.ordinal != l.0).all(|v| v.pod.as_ref().unwrap().up_to_date),
            "the leader is handed over only when it is the last one out of date"
        );
        prop_assert!(views.iter().all(|v| zab_operator::planner::synced_with(v, *from, l.1)));
    }
    if let Action::Restart { ordinal, reason, .. } = action {
        prop_assert_eq!(reason, RestartReason::Rollout);
        let l = leader(&inp).expect("a restart needs a leader");
        prop_assert!(views.iter().all(|v| v.pod.as_ref().is_some_and(|p| !p.terminating && p.ready)));
        prop_assert!(views.iter().all(|v| zab_operator::planner::synced_with(v, u64::from(l.0) + 1, l.1)));
        let target = &views[ordinal as usize];
        prop_assert!(!target.pod.as_ref().unwrap().up_to_date);
        if members > 1 || !target.participant {
            prop_assert!(synced_participants_without(&inp, l, ordinal) >= majority(members));
        }
        prop_assert!(ordinal != l.0 || members == 1, "a leader with followers hands over before its restart");
        if target.participant {
            prop_assert!(
                views.iter().filter(|v| !v.participant).all(|v| v.pod.as_ref().unwrap().up_to_date),
                "observers go first"
            );
        }
    }
    Ok(())
}

/// The generators reach restarts (so the safety properties are not vacuous).
#[test]
fn the_safety_properties_see_restarts() {
    let mut runner = proptest::test_runner::TestRunner::default();
    let seen = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&(0u32..3, prop::collection::vec(any::<bool>(), 5)), |(ldr, outdated)| {
            let mut views = healthy(5, 0, ldr);
            for (v, o) in views.iter_mut().zip(outdated) {
                v.pod.as_mut().unwrap().up_to_date = !o;
            }
            if matches!(plan(&input(mem(5, 0), &views, None, &[])).action, Action::Restart { .. }) {
                seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            check_restart_safety(5, 0, &views)
        })
        .unwrap();
    assert!(seen.into_inner() > 100, "most healthy ensembles with outdated pods restart one");
}

#[test]
fn a_member_that_never_returns_stops_the_roll() {
    let m = mem(3, 0);
    let mut views = healthy(3, 0, 2);
    for v in views.iter_mut() {
        v.pod.as_mut().unwrap().up_to_date = false;
    }
    let first = plan(&input(m, &views, None, &[])).action;
    let Action::Restart { pod, ordinal, .. } = first else { panic!("expected a restart, got {first:?}") };
    assert_eq!(ordinal, 0, "followers first, lowest ordinal first");
    // The new pod runs but never syncs.
    views[0].pod = Some(PodView { uid: "new".into(), up_to_date: true, terminating: false, ready: true });
    views[0].report = Some(Report { role: Role::Looking, synced: false, current_epoch: EPOCH, leader_sid: None });
    for secs in [1u64, 100, 299] {
        let f = InFlight { pod: pod.clone(), old_uid: "uid-0-0".into(), elapsed: Duration::from_secs(secs) };
        let p = plan(&input(m, &views, Some(&f), &[]));
        assert_eq!(
            p.action,
            Action::Wait { reason: "MemberRejoining", message: "pod zk-0 is rejoining the ensemble".into() }
        );
    }
    let f = InFlight { pod: pod.clone(), old_uid: "uid-0-0".into(), elapsed: Duration::from_secs(301) };
    let p = plan(&input(m, &views, Some(&f), &[]));
    match p.action {
        Action::Degraded { reason, message } => {
            assert_eq!(reason, "MemberNotReturning");
            assert!(message.contains("kubectl logs zk-0"), "{message}");
        }
        other => panic!("expected Degraded, got {other:?}"),
    }
}

#[test]
fn a_restarted_member_synced_in_the_leaders_epoch_ends_the_wait_and_the_next_one_starts() {
    let m = mem(3, 0);
    let mut views = healthy(3, 0, 2);
    views[1].pod.as_mut().unwrap().up_to_date = false;
    views[2].pod.as_mut().unwrap().up_to_date = false;
    views[0].pod = Some(PodView { uid: "new".into(), up_to_date: true, terminating: false, ready: true });
    let f = InFlight { pod: "zk-0".into(), old_uid: "uid-0-0".into(), elapsed: Duration::from_secs(5) };
    // Synced, but in an older epoch: not yet.
    views[0].report.as_mut().unwrap().current_epoch = EPOCH - 1;
    assert!(matches!(plan(&input(m, &views, Some(&f), &[])).action, Action::Wait { reason: "MemberRejoining", .. }));
    views[0].report.as_mut().unwrap().current_epoch = EPOCH;
    // Synced, but the kubelet has not marked the pod Ready yet: not yet.
    views[0].pod.as_mut().unwrap().ready = false;
    assert!(matches!(plan(&input(m, &views, Some(&f), &[])).action, Action::Wait { reason: "MemberRejoining", .. }));
    views[0].pod.as_mut().unwrap().ready = true;
    let p = plan(&input(m, &views, Some(&f), &[]));
    assert!(p.in_flight_done);
    assert!(matches!(p.action, Action::Restart { ordinal: 1, .. }), "{:?}", p.action);
}

#[test]
fn the_old_pod_still_there_is_a_restart_in_progress() {
    let m = mem(3, 0);
    let mut views = healthy(3, 0, 1);
    views[0].pod.as_mut().unwrap().terminating = true;
    let f = InFlight { pod: "zk-0".into(), old_uid: "uid-0-0".into(), elapsed: Duration::from_secs(2) };
    assert!(matches!(plan(&input(m, &views, Some(&f), &[])).action, Action::Wait { reason: "MemberRestarting", .. }));
}

#[test]
fn no_restart_without_a_leader_or_with_a_member_unsynced() {
    let m = mem(3, 0);
    let mut views = healthy(3, 0, 0);
    views[1].pod.as_mut().unwrap().up_to_date = false;
    views[2].report.as_mut().unwrap().synced = false;
    assert!(matches!(plan(&input(m, &views, None, &[])).action, Action::Wait { reason: "MembersNotSynced", .. }));
    for v in views.iter_mut() {
        v.report.as_mut().unwrap().role = Role::Looking;
    }
    assert!(matches!(plan(&input(m, &views, None, &[])).action, Action::Wait { reason: "NoLeader", .. }));
}

#[test]
fn two_members_claiming_leadership_is_no_leader() {
    let mut views = healthy(3, 0, 0);
    views[1].report.as_mut().unwrap().role = Role::Leading;
    assert_eq!(leader(&input(mem(3, 0), &views, None, &[])), None);
}

#[test]
fn a_single_member_ensemble_still_rolls_and_says_it_is_unavailable_meanwhile() {
    let mut views = healthy(1, 0, 0);
    views[0].pod.as_mut().unwrap().up_to_date = false;
    match plan(&input(mem(1, 0), &views, None, &[])).action {
        Action::Restart { ordinal: 0, why, .. } => assert!(why.contains("unavailable"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stuck_member_is_restarted_once_then_degraded() {
    let m = mem(3, 0);
    let mut views = healthy(3, 0, 0);
    views[2].report = Some(Report { role: Role::Looking, synced: false, current_epoch: EPOCH - 1, leader_sid: None });
    views[2].out_for = Some(Duration::from_secs(60));
    assert!(matches!(plan(&input(m, &views, None, &[])).action, Action::Wait { reason: "MembersNotSynced", .. }));
    views[2].out_for = Some(Duration::from_secs(130));
    match plan(&input(m, &views, None, &[])).action {
        Action::Restart { ordinal: 2, reason: RestartReason::Repair, .. } => {}
        other => panic!("{other:?}"),
    }
    let repaired = vec!["zk-2".to_owned()];
    assert!(matches!(plan(&input(m, &views, None, &repaired)).action, Action::Degraded { reason: "MemberStuck", .. }));
}

#[test]
fn a_standalone_single_member_is_its_own_leader() {
    let views = vec![MemberView {
        report: Some(Report { role: Role::Standalone, synced: true, current_epoch: 0, leader_sid: None }),
        ..member(0, true, Role::Standalone, 1)
    }];
    let inp = input(mem(1, 0), &views, None, &[]);
    assert_eq!(leader(&inp), Some((0, 0)));
    assert_eq!(plan(&inp).action, Action::Steady);
}

#[test]
fn paused_does_nothing() {
    let mut views = healthy(3, 0, 0);
    views[0].pod.as_mut().unwrap().up_to_date = false;
    let mut inp = input(mem(3, 0), &views, None, &[]);
    inp.paused = true;
    assert_eq!(plan(&inp).action, Action::Paused);
}

#[test]
fn the_leader_last_hands_over_to_the_lowest_synced_follower_then_restarts() {
    let m = mem(3, 0);
    let mut views = healthy(3, 0, 2);
    views[2].pod.as_mut().unwrap().up_to_date = false;
    match plan(&input(m, &views, None, &[])).action {
        Action::HandOver { leader: 3, to: 1, why } => {
            assert_eq!(why, "hand over leadership from 3 to 1 before restarting it (zk-2 runs an old template)")
        }
        other => panic!("{other:?}"),
    }
    // A member not synced: no hand-over (every member must be synced first).
    views[0].report.as_mut().unwrap().synced = false;
    assert!(matches!(plan(&input(m, &views, None, &[])).action, Action::Wait { reason: "MembersNotSynced", .. }));
    views[0].report.as_mut().unwrap().synced = true;
    // zk-0 leads now: the former leader is a follower and restarts.
    set_leader(&mut views, 3, 0);
    views[2].pod.as_mut().unwrap().up_to_date = false;
    match plan(&input(m, &views, None, &[])).action {
        Action::Restart { ordinal: 2, why, .. } => assert!(why.contains("a follower"), "{why}"),
        other => panic!("{other:?}"),
    }
}
