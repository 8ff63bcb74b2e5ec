//! Helpers for scripted scenarios (`cluster_scenarios.rs`, `cluster_sim_findings.rs`).

use super::disk::Tree;
use super::peer::CrashOpts;
use super::world::World;
use super::{hex, Config, Fixes, Sid, TxnId};

/// Crash losing what was not fsynced and what was on its way.
pub const HARD: CrashOpts = CrashOpts { keep_unsynced: Some(false), inflight: Some(false) };
/// Crash after the sync thread wrote what it had, with nothing in flight delivered.
pub const LOGGED_SILENT: CrashOpts = CrashOpts { keep_unsynced: Some(true), inflight: Some(false) };

pub fn config(members: u64, fixes: Fixes) -> Config {
    let mut c = Config::new(members);
    c.fixes = fixes;
    c
}

/// Runs a scenario; on failure shows the end of the trace.
pub fn check(name: &str, w: &mut World, f: impl FnOnce(&mut World) -> Result<(), String>) {
    let r = f(w);
    let violations = w.hist.violations.join("\n");
    if let Err(e) = r {
        let more = if e.contains(&violations) { String::new() } else { violations };
        panic!("{name}: {e}\n{more}\n--- trace ---\n{}", w.trace_tail(150));
    }
    if !violations.is_empty() {
        panic!("{name}: {violations}\n--- trace ---\n{}", w.trace_tail(150));
    }
}

pub fn expect(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

pub fn epoch_of(w: &World, sid: Sid) -> Option<i64> {
    w.peer(sid).leader_epoch().and_then(|t| t.epoch())
}

pub fn tree(w: &World, sid: Sid) -> Result<Tree, String> {
    w.tree_of(sid).cloned().ok_or_else(|| format!("member {sid} does not serve:\n{}", w.describe()))
}

/// The leader proposes a txn and dies before anyone (itself included) has fsynced it;
/// only `keeper` keeps it (the others lose it in their crash). Slow disks make the window.
pub fn proposal_kept_only_by(w: &mut World, leader: Sid, keeper: Sid) -> Result<(TxnId, i64), String> {
    let (tx, zx) = w.write_to(leader).ok_or("no write")?;
    w.run_for(w.cfg.net_delay.1 + 1);
    for s in w.sids() {
        w.crash(s, if s == keeper { LOGGED_SILENT } else { HARD });
    }
    let kept = w.peer(keeper).disk.all_logged().contains(&(zx, tx));
    let elsewhere = w.sids().into_iter().any(|s| s != keeper && w.peer(s).disk.all_logged().contains(&(zx, tx)));
    expect(kept && !elsewhere, || format!("{} should be on {keeper}'s disk only", hex(zx)))?;
    Ok((tx, zx))
}
