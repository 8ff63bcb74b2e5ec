//! ZAB in a seeded, simulated ensemble: election, discovery, synchronisation and broadcast
//! of 3 and 5 members under random faults — crashes (at random points of the protocol
//! too), partitions, broken quorum connections, lost and duplicated election messages —
//! while clients write to whoever leads. The invariants of `sim/check.rs` are checked after
//! every event; after the chaos the network heals and every member restarts, the ensemble
//! must converge and acknowledge a new write (liveness), and after a crash of every member
//! at once no acknowledged write may be missing (durability).
//!
//! - `ZAB_SIM_SEEDS=N`: how many seeds per ensemble size (default 1000: 2000 runs, a few
//!   seconds in a debug build).
//! - `ZAB_SIM_SEED=S`: replay one seed with a trace (`-- --nocapture` to see it);
//!   `ZAB_SIM_MEMBERS=3|5` picks the size (default: the size the seed ran with, odd
//!   seeds 5).
//! - `ZAB_SIM_KEEP_GOING=1`: run every seed and sum the failures up by kind.
//! - `ZAB_SIM_FIND=text`: name the seeds whose anomalies, known issues or counters
//!   mention `text`; `ZAB_SIM_STATS=1`: print the counters (sync modes, crash points).
//! - Leaders and learners run the runtime's own engines (`zab_quorum::leader::Leader`,
//!   `zab_quorum::learner::Learner`); only a member's startup between epochs is a model of
//!   the runtime, which by default works around two bugs this simulator found there
//!   (`sim::Fixes`; ZOOKEEPER-1653 in `cluster_scenarios.rs`). `ZAB_SIM_STRICT=1` turns
//!   both off; `ZAB_SIM_UNFIX=epoch_from_zxid` or `ZAB_SIM_UNFIX=snapshot_on_first_load`
//!   only the named one, to see one bug alone; likewise `newleader_config_seen`, the
//!   runtime's gap in remembering a proposed configuration (a committed reconfig that
//!   never comes into force: invariant 7).
//! - `--features broken-engine`: `broken_engines_are_caught` plants each bug of
//!   `zab_quorum::mutant` in the engines in turn and names the first seed that catches it.
//! - Half the seeds run with reconfigEnabled (ZOOKEEPER-1783's first version, and now and
//!   then a reconfig removing one member, the leader too, or restoring all) under the same
//!   faults; `ZAB_SIM_RECONFIG=0` runs none. `ZAB_SIM_RECONFIG=wide`: more of them, to any
//!   majority of the members as voters, so old and new quorums may share no member
//!   ({1,2,3} to {3,4,5}); `a_reconfiguration_to_disjoint_voters_binds_the_members_it_did_not_reach`
//!   is that case scripted.
//! - A run that takes more than `sim::world::EVENT_BUDGET` events (or 20,000 at one virtual
//!   millisecond) fails as a livelock, naming its seed, instead of running forever.
//! - Half the seeds (drawn apart from reconfigEnabled) ask the serving leader now and then
//!   to hand its role over (`Leader::hand_over`, zab's own; to its best follower or to a
//!   member at random, sometimes cutting a learner off just then), under the same faults,
//!   with crash points of their own (the leader after HANDOVER went out, a learner as it
//!   reads it, the named member before it leads); invariant 8 of `sim/check.rs`.
//!   `ZAB_SIM_HANDOVER=0` runs none.
//! - `ZAB_SIM_TRACE_ELECTION=1`: with `ZAB_SIM_SEED`, also trace every notification.
//!
//! A failure prints its seed and the command that replays it.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::collections::BTreeMap;

use sim::rng::Rng;
use sim::world::{Chaos, World};
use sim::Config;

/// The settings of one seed: every knob drawn from the seed.
fn config(seed: u64, members: u64) -> Config {
    let mut r = Rng::new(seed ^ 0xC0FF_EE00);
    let mut c = Config::new(members);
    c.commit_log_count = if r.below(3) == 0 { 500 } else { r.range(2, 30) as usize };
    c.snap_count = r.range(4, 60) as u64;
    c.net_delay = (1, r.range(2, 20));
    c.fsync_delay = (1, r.range(1, 15));
    c.elec_drop_permille = [0, 0, 50, 200][r.below(4) as usize];
    c.elec_dup_permille = [0, 30][r.below(2) as usize];
    c.crash_point_permille = [0, 2, 8, 20][r.below(4) as usize];
    c.cross_epoch_trunc = r.below(3) == 0;
    c.reconfig = reconfig_seeds() && r.below(2) == 0;
    c.wide_reconfigs = std::env::var("ZAB_SIM_RECONFIG").is_ok_and(|v| v == "wide");
    c.handovers = handover_seeds() && r.below(2) == 0;
    if std::env::var("ZAB_SIM_STRICT").is_ok_and(|v| v == "1") {
        c.fixes = sim::Fixes::none();
    }
    if let Ok(names) = std::env::var("ZAB_SIM_UNFIX") {
        for name in names.split(',').map(str::trim) {
            c.fixes.unset(name);
        }
    }
    c
}

/// Whether half the seeds run with reconfigEnabled (`ZAB_SIM_RECONFIG=0`: none).
fn reconfig_seeds() -> bool {
    std::env::var("ZAB_SIM_RECONFIG").map_or(true, |v| v != "0")
}

/// Whether half the seeds ask their leaders to hand over (`ZAB_SIM_HANDOVER=0`: none).
fn handover_seeds() -> bool {
    std::env::var("ZAB_SIM_HANDOVER").map_or(true, |v| v != "0")
}

const CHAOS_MS: i64 = 3_000;
const SETTLE_MS: i64 = 20_000;

/// One seed end to end; the world is returned for its trace and counters.
fn run(seed: u64, members: u64, trace: bool) -> (Result<(), String>, World) {
    let mut w = World::fresh(config(seed, members), seed, trace);
    let r = scenario(&mut w);
    (r, w)
}

/// The invariants held so far.
fn no_violations(w: &World) -> Result<(), String> {
    if w.hist.violations.is_empty() {
        Ok(())
    } else {
        Err(w.hist.violations.join("\n"))
    }
}

fn scenario(w: &mut World) -> Result<(), String> {
    w.boot_all();
    w.start_chaos(Chaos {
        until: CHAOS_MS,
        fault_every: (100, 600),
        write_every: (5, 60),
        downtime: (20, 1_500),
        partition_for: (50, 1_500),
    });
    if !w.run_until(CHAOS_MS) {
        return Err(w.hist.violations.join("\n"));
    }
    let leader = w.settle(SETTLE_MS)?;
    no_violations(w)?;
    // Liveness: with everyone back and the network whole, a new write is acknowledged.
    let (t, _) = w.write_to(leader).ok_or("the converged leader does not take writes")?;
    if !w.run_until_cond(5_000, |w| w.hist.acked.contains_key(&t)) {
        no_violations(w)?;
        return Err(format!(
            "liveness: a write to the converged leader {leader} was not acknowledged:\n{}",
            w.describe()
        ));
    }
    let leader = w.settle(SETTLE_MS)?;
    let tree = w.tree_of(leader).cloned().ok_or("no tree")?;
    let missing = w.hist.missing_acked(&tree);
    if !missing.is_empty() {
        return Err(format!("acknowledged writes missing on the converged leader {leader}: {missing:?}"));
    }
    // Durability: every member crashes at once while writes are in flight (losing whatever
    // was not fsynced) and comes back from its disk.
    let burst = w.rng.range(1, 30);
    for _ in 0..burst {
        w.write_to(leader);
        let gap = w.rng.range(0, 3);
        if !w.run_for(gap) {
            return Err(w.hist.violations.join("\n"));
        }
    }
    let gap = w.rng.range(0, 20);
    if !w.run_for(gap) {
        return Err(w.hist.violations.join("\n"));
    }
    w.crash_all_and_restart();
    let leader = w.settle(SETTLE_MS)?;
    let tree = w.tree_of(leader).cloned().ok_or("no tree")?;
    let missing = w.hist.missing_acked(&tree);
    if !missing.is_empty() {
        return Err(format!("after a crash of every member, acknowledged writes are missing: {missing:?}"));
    }
    if !w.hist.violations.is_empty() {
        return Err(w.hist.violations.join("\n"));
    }
    Ok(())
}

fn seeds() -> u64 {
    std::env::var("ZAB_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

#[derive(Default)]
struct Totals {
    runs: u64,
    events: u64,
    submitted: u64,
    acked: u64,
    epochs: u64,
    most_events: u64,
    reconfig_seeds: u64,
    reconfigs_proposed: u64,
    reconfigs_committed: u64,
    checked_after_reconfig: u64,
    handover_seeds: u64,
    checked_handovers: u64,
    anomalies: BTreeMap<String, u64>,
    known: BTreeMap<String, u64>,
    stats: BTreeMap<String, u64>,
}

fn many(members: u64, first_seed: u64) {
    if std::env::var("ZAB_SIM_SEED").is_ok() {
        return; // replaying one seed instead
    }
    let started = std::time::Instant::now();
    let mut totals = Totals::default();
    let mut failures: Vec<(u64, String)> = Vec::new();
    let keep_going = std::env::var("ZAB_SIM_KEEP_GOING").is_ok();
    for i in 0..seeds() {
        let seed = first_seed + 2 * i;
        let (r, w) = run(seed, members, false);
        totals.runs += 1;
        totals.events += w.events;
        totals.submitted += w.hist.submitted;
        totals.acked += w.hist.acked.len() as u64;
        totals.epochs += w.hist.established.len() as u64;
        totals.most_events = totals.most_events.max(w.events);
        totals.reconfig_seeds += u64::from(w.cfg.reconfig);
        totals.reconfigs_proposed += w.hist.stats.get("reconfig proposed").copied().unwrap_or(0);
        totals.reconfigs_committed += w.hist.configs.len() as u64;
        totals.checked_after_reconfig += w.hist.checked_after_reconfig;
        totals.handover_seeds += u64::from(w.cfg.handovers);
        totals.checked_handovers += w.hist.checked_handovers;
        for (k, v) in &w.hist.anomalies {
            *totals.anomalies.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &w.hist.known {
            *totals.known.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &w.hist.stats {
            *totals.stats.entry(k.clone()).or_insert(0) += v;
        }
        if let Ok(find) = std::env::var("ZAB_SIM_FIND") {
            let hit = w
                .hist
                .anomalies
                .keys()
                .chain(w.hist.known.keys())
                .chain(w.hist.stats.keys())
                .any(|k| k.contains(&find));
            if hit {
                eprintln!("  seed {seed} ({members} members) has {find:?}");
            }
        }
        if let Err(e) = r {
            failures.push((seed, e));
            if failures.len() >= 3 && !keep_going {
                break;
            }
        }
    }
    eprintln!(
        "{members} members: {} seeds, {} events, {} writes submitted, {} acknowledged, {} epochs established, {:.1} s",
        totals.runs,
        totals.events,
        totals.submitted,
        totals.acked,
        totals.epochs,
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "  reconfigEnabled in {} seeds: {} reconfigs proposed, {} committed, {} leader crashes with one in \
         flight, {} commits checked against a configuration a reconfig put in force; at most {} events in one seed",
        totals.reconfig_seeds,
        totals.reconfigs_proposed,
        totals.reconfigs_committed,
        totals.stats.get("leader crashed with a reconfig in flight").copied().unwrap_or(0),
        totals.checked_after_reconfig,
        totals.most_events
    );
    let stat = |k: &str| totals.stats.get(k).copied().unwrap_or(0);
    eprintln!(
        "  hand-overs in {} seeds: {} asked, {} refused, {} started, {} sent ({} checked against the named \
         member's disk), {} completed, {} failed; HANDOVER read {} times ({} by the member named)",
        totals.handover_seeds,
        stat("hand-over started") + stat("hand-over refused"),
        stat("hand-over refused"),
        stat("hand-over started"),
        stat("hand-over sent"),
        totals.checked_handovers,
        stat("hand-over complete"),
        stat("hand-over failed"),
        stat("HANDOVER read") + stat("HANDOVER read by the member it names"),
        stat("HANDOVER read by the member it names"),
    );
    eprintln!("  anomalies (protocol errors that ended an epoch): {:?}", totals.anomalies);
    eprintln!("  known issues worked around: {:?}", totals.known);
    if std::env::var("ZAB_SIM_STATS").is_ok() {
        for (k, v) in &totals.stats {
            eprintln!("  {v:>8}  {k}");
        }
    }
    if keep_going {
        // Failures by kind: the first line without its numbers.
        let mut kinds: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
        for (seed, e) in &failures {
            let first = e.lines().next().unwrap_or("");
            let kind: String = first.split(':').skip(1).collect::<Vec<_>>().join(":");
            let kind: String = kind.chars().filter(|c| !c.is_ascii_digit()).take(90).collect();
            let k = kinds.entry(kind).or_default();
            k.0 += 1;
            if k.1.len() < 5 {
                k.1.push(*seed);
            }
        }
        for (k, (n, seeds)) in kinds {
            eprintln!("  {n:>5} failures: {k} (seeds {seeds:?})");
        }
    }
    if let Some((seed, e)) = failures.first() {
        // Replay the first failure with a trace and show its end.
        let (_, w) = run(*seed, members, true);
        panic!(
            "{} of the seeds failed; first: seed {seed} ({members} members):\n{e}\n--- trace tail ---\n{}\n\
             replay: ZAB_SIM_SEED={seed} ZAB_SIM_MEMBERS={members} cargo test -p zab-quorum --test cluster_sim -- --nocapture replay",
            failures.len(),
            w.trace_tail(60)
        );
    }
}

#[test]
fn three_members_under_random_faults() {
    many(3, 0);
}

#[test]
fn five_members_under_random_faults() {
    many(5, 1);
}

/// Each deliberately broken engine (`zab_quorum::mutant`) must be caught by the seeds: the
/// simulator runs the engine the server runs, and its invariants see the bug. Prints how
/// many seeds each took.
#[cfg(feature = "broken-engine")]
#[test]
fn broken_engines_are_caught() {
    use zab_quorum::mutant::{set, Mutant};
    let limit = seeds().max(2000);
    let mut missed = Vec::new();
    for m in Mutant::ALL {
        set(Some(m));
        let caught = (0..limit).find_map(|i| {
            let members = if i % 2 == 1 { 5 } else { 3 };
            run(i, members, false).0.err().map(|e| (i, e))
        });
        set(None);
        match caught {
            Some((seed, e)) => eprintln!(
                "mutant {m:?}: caught by seed {seed}, after {} seeds: {}",
                seed + 1,
                e.lines().next().unwrap_or("")
            ),
            None => missed.push(m),
        }
    }
    assert!(missed.is_empty(), "not caught within {limit} seeds: {missed:?}");
}

/// `ZAB_SIM_SEED=S`: one seed with its whole trace.
#[test]
fn replay() {
    let Some(seed) = std::env::var("ZAB_SIM_SEED").ok().and_then(|v| v.parse::<u64>().ok()) else { return };
    let members =
        std::env::var("ZAB_SIM_MEMBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(if seed % 2 == 1 { 5 } else { 3 });
    let (r, w) = run(seed, members, true);
    if let Some(t) = &w.trace {
        for line in t {
            println!("{line}");
        }
    }
    println!("{}", w.describe());
    println!("config: {:?}", w.cfg);
    println!("anomalies: {:?}\nknown issues: {:?}", w.hist.anomalies, w.hist.known);
    if let Err(e) = r {
        panic!("seed {seed} ({members} members) failed:\n{e}");
    }
}

/// Issue 15, disjoint quorums: a reconfiguration from {L, a, b} to {L, c, d} (two
/// configurations whose quorums {a, b} and {c, d} share no member) commits with a quorum of
/// each, and a and b are cut off just then, before COMMITANDACTIVATE reaches them. a or b
/// logged the reconfig (the old configuration's quorum needs one of them), so whichever of
/// them leads next has it in its history. As in ZooKeeper 3.8, that member remembers the
/// proposed configuration (`setLastSeenQuorumVerifier`, `PeerInfo::last_seen` in the
/// runtime), its NEWLEADER needs a quorum of it too (`Leader::set_last_seen`,
/// ZOOKEEPER-1324), and {a, b} alone cannot establish an epoch while L, c and d go on.
/// (Before that, a and b established epoch 2 and committed on their own: a split.)
/// Their failed attempts leave a and b with an acceptedEpoch above L's epoch, so after the
/// heal they cannot follow L until the next election ("the leader's epoch is below this
/// member's accepted epoch", ZooKeeper's registerWithLeader does the same): only L's side
/// is asked to serve.
#[test]
fn a_reconfiguration_to_disjoint_voters_binds_the_members_it_did_not_reach() {
    let mut c = Config::new(5);
    c.reconfig = true;
    let mut w = World::fresh(c, 15, true);
    sim::script::check("disjoint reconfig", &mut w, |w| {
        w.boot_all();
        let l = w.wait_converged(5_000)?;
        let others: Vec<u64> = w.sids().into_iter().filter(|s| *s != l).collect();
        let (a, b, c, d) = (others[0], others[1], others[2], others[3]);
        let (t1, _) = w.reconfig_to(l, &[l, a, b]).ok_or("the first reconfig was refused")?;
        if !w.run_until_cond(3_000, |w| w.hist.acked.contains_key(&t1)) {
            return Err(format!("the reconfig to {:?} was not acknowledged:\n{}", [l, a, b], w.describe()));
        }
        w.wait_converged(5_000)?;
        let (_, z2) = w.reconfig_to(l, &[l, c, d]).ok_or("the second reconfig was refused")?;
        let mut waited = 0;
        while !w.hist.committed.iter().any(|e| e.0 == z2) {
            if waited > 3_000 || !w.run_for(1) {
                return Err(format!("the reconfig to {:?} did not commit:\n{}", [l, c, d], w.describe()));
            }
            waited += 1;
        }
        let logged = |w: &World, s: u64| w.peer(s).disk.read_from(z2).first().is_some_and(|e| e.0 == z2);
        sim::script::expect(logged(w, a) || logged(w, b), || "neither a nor b logged the reconfig".into())?;
        w.partition(&[a, b]);
        w.run_for(3_000);
        // Both sides take writes if they can; no two leaders may commit apart.
        for _ in 0..5 {
            for s in w.sids() {
                if w.peer(s).leader_epoch().is_some_and(|t| t.is_serving()) {
                    w.write_to(s);
                }
            }
            w.run_for(100);
        }
        let serving: Vec<u64> =
            w.sids().into_iter().filter(|s| w.peer(*s).leader_epoch().is_some_and(|t| t.is_serving())).collect();
        sim::script::expect(serving == vec![l], || format!("serving leaders {serving:?}, want only {l}"))?;
        w.heal_all();
        w.run_for(2_000);
        let (t, _) = w.write_to(l).ok_or("L does not take writes after the heal")?;
        if !w.run_until_cond(3_000, |w| w.hist.acked.contains_key(&t)) {
            return Err(format!("a write to {l} after the heal was not acknowledged:\n{}", w.describe()));
        }
        Ok(())
    });
}
