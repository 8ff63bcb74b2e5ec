//! The invariants, and the history they are checked against.
//!
//! The committed history `C` is one sequence of (zxid, txn), grown by two events only:
//! - a leader *establishes* its epoch (a quorum ACKed NEWLEADER): its whole history then
//!   becomes committed, and must extend `C` — no committed txn lost, none replaced;
//! - a leader *commits* a proposal (a quorum ACKed it): the txn is in `C` already (same
//!   zxid, same txn) or comes after everything in it.
//!
//! Checked after every step of the simulation:
//! 1. at most one leader establishes each epoch;
//! 2. every serving member's applied history is a prefix of `C` (so whatever two members
//!    applied agrees on the common prefix), and members at the same zxid have the same
//!    applied state (hash);
//! 3. no acknowledged write is lost: it is in `C` when acknowledged; every later leader's
//!    history holds it (`C` is a prefix of it); every learner that finishes synchronising
//!    applied every write acknowledged before its leader planned the sync;
//! 4. a member can always start again from its disk (restore and the epoch checks pass);
//! 5. an ACK leaves a learner only for what its disk holds, checked when its engine's Send
//!    is carried out: a proposal's once the txn is in its log; NEWLEADER's (and
//!    UPTODATE's) once currentEpoch is the new epoch and the log or snapshot reaches the
//!    last zxid the leader sent (`sim/learner.rs`);
//! 6. a leader commits a proposal only once a quorum of voters' disks hold it (the leader
//!    counted among them): checked when its engine's `Committed` is carried out, against
//!    every member's log (`sim/leader.rs`, `world.rs`);
//! 7. with dynamic reconfiguration, independently of what the engine believes: a commit of
//!    zxid z is held by a quorum of the configuration in force at z by the committed
//!    history `C` (the last reconfig txn of `C` before z, else the initial one), and a
//!    reconfig txn also by a quorum of the configuration it activates. So two quorums that
//!    share no member never both commit: not across a reconfiguration either (what a
//!    leader that activated a configuration early, or counted the new one alone, would do).
//! 8. a leader hand-over (`Leader::hand_over`): HANDOVER goes out only once the member it
//!    names holds, on its disk, every committed txn up to the zxid HANDOVER carries (checked
//!    when the engine's `HandOverSent` is carried out, `world.rs`), and the leader commits
//!    nothing after it (`sim/leader.rs`). That the named member, once it leads, holds every
//!    acknowledged write is invariant 3 (its established history extends `C`).
//!
//! Protocol errors that only end an epoch (a learner refusing a packet, say) are not safety
//! violations but should not happen either: they are counted as anomalies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use zab_quorum::verifier::QuorumMaj;

use super::disk::{prefix_hash, Tree};
use super::rng::mix;
use super::{hex, Sid, TxnId};

#[derive(Debug, Default)]
pub struct History {
    pub committed: Vec<(i64, TxnId)>,
    /// `prefix[i]`: the hash of the first i txns of `committed`.
    pub prefix: Vec<u64>,
    /// Acknowledged writes: txn -> zxid.
    pub acked: BTreeMap<TxnId, i64>,
    /// How many txns of `committed` it takes to hold every acknowledged write.
    pub acked_len: usize,
    pub established: BTreeMap<i64, Sid>,
    /// The reconfig txns of `committed`: (zxid, the configuration it activates).
    pub configs: Vec<(i64, Arc<QuorumMaj>)>,
    /// How many commits invariant 7 checked against a configuration a reconfig put in
    /// force, and how many reconfig txns it checked against both configurations.
    pub checked_after_reconfig: u64,
    pub checked_reconfigs: u64,
    /// How many HANDOVERs invariant 8 checked against the named member's disk.
    pub checked_handovers: u64,
    pub violations: Vec<String>,
    pub anomalies: BTreeMap<String, u64>,
    /// Known issues that the run worked around (kind -> count).
    pub known: BTreeMap<String, u64>,
    pub submitted: u64,
    pub commits: u64,
    /// What happened, for the run's summary (sync modes, crash points, faults).
    pub stats: BTreeMap<String, u64>,
}

impl History {
    pub fn new() -> History {
        History { prefix: vec![0], ..History::default() }
    }

    fn push(&mut self, z: i64, t: TxnId) {
        if let Some(view) = super::reconfig_view(t) {
            self.configs.push((z, Arc::new(view)));
        }
        let h = mix(*self.prefix.last().unwrap_or(&0), z, t);
        self.committed.push((z, t));
        self.prefix.push(h);
    }

    fn position(&self, z: i64) -> Option<usize> {
        self.committed.binary_search_by_key(&z, |e| e.0).ok()
    }

    pub fn violation(&mut self, now: i64, what: String) {
        self.violations.push(format!("t={now}: {what}"));
    }

    pub fn anomaly(&mut self, kind: &str) {
        *self.anomalies.entry(kind.to_string()).or_insert(0) += 1;
    }

    pub fn count(&mut self, what: &str) {
        *self.stats.entry(what.to_string()).or_insert(0) += 1;
    }

    pub fn known_issue(&mut self, kind: &str) {
        *self.known.entry(kind.to_string()).or_insert(0) += 1;
    }

    /// Invariant 1 and the first half of 3.
    pub fn on_establish(&mut self, now: i64, sid: Sid, epoch: i64, tree: &Tree) {
        if let Some(other) = self.established.insert(epoch, sid) {
            if other != sid {
                self.violation(now, format!("two leaders established epoch {epoch}: {other} and {sid}"));
            }
        }
        let n = self.committed.len();
        if tree.txns.len() < n || prefix_hash(&tree.txns, n) != self.prefix[n] {
            let first_diff = self.committed.iter().zip(tree.txns.iter()).position(|(a, b)| a != b);
            self.violation(
                now,
                format!(
                    "leader {sid} established epoch {epoch} with a history that does not extend the committed one \
                     (committed {} txns up to {}, its history {} txns up to {}, first difference at index {:?}: \
                     committed {:?}, leader {:?})",
                    n,
                    hex(self.committed.last().map_or(0, |e| e.0)),
                    tree.txns.len(),
                    hex(tree.zxid),
                    first_diff,
                    first_diff.and_then(|i| self.committed.get(i)).map(|e| (hex(e.0), e.1)),
                    first_diff.and_then(|i| tree.txns.get(i)).map(|e| (hex(e.0), e.1)),
                ),
            );
            return;
        }
        for &(z, t) in &tree.txns[n..] {
            self.push(z, t);
        }
    }

    /// A leader committed (z, t).
    pub fn on_commit(&mut self, now: i64, sid: Sid, z: i64, t: TxnId) {
        self.commits += 1;
        match self.position(z) {
            Some(i) if self.committed[i].1 == t => {}
            Some(i) => {
                let other = self.committed[i].1;
                self.violation(
                    now,
                    format!("leader {sid} committed txn {t} at {}, where txn {other} was committed", hex(z)),
                );
            }
            None if self.committed.last().is_none_or(|l| l.0 < z) => self.push(z, t),
            None => self.violation(
                now,
                format!(
                    "leader {sid} committed {} after the committed history moved on to {} without it",
                    hex(z),
                    hex(self.committed.last().map_or(0, |e| e.0))
                ),
            ),
        }
    }

    /// Invariant 6: leader `sid` committed `z`; `holders` are the voters whose logs hold
    /// it, `quorum` whether they make a quorum.
    pub fn check_commit_durable(&mut self, now: i64, sid: Sid, z: i64, holders: &BTreeSet<Sid>, quorum: bool) {
        if !quorum {
            self.violation(
                now,
                format!("leader {sid} committed {} while only the disks of {holders:?} hold it", hex(z)),
            );
        }
    }

    /// Invariant 7: leader `sid` committed `z`, which the disks of `holders` hold;
    /// `initial` is the configuration every member started with.
    pub fn check_commit_configs(&mut self, now: i64, sid: Sid, z: i64, holders: &BTreeSet<Sid>, initial: &QuorumMaj) {
        let before = self.configs.partition_point(|(c, _)| *c < z);
        let mut needed: Vec<(&str, &QuorumMaj)> = Vec::new();
        match before.checked_sub(1).and_then(|i| self.configs.get(i)) {
            Some((_, v)) => {
                self.checked_after_reconfig += 1;
                needed.push(("in force", v));
            }
            None => needed.push(("in force", initial)),
        }
        if let Some((_, v)) = self.configs.get(before).filter(|(c, _)| *c == z) {
            self.checked_reconfigs += 1;
            needed.push(("it activates", v));
        }
        let missing: Vec<String> = needed
            .iter()
            .filter(|(_, v)| !v.contains_quorum(holders))
            .map(|(what, v)| {
                format!("the configuration {what} ({}: voters {:?})", hex(v.version), v.voters().collect::<Vec<_>>())
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        self.violation(
            now,
            format!(
                "leader {sid} committed {} while only the disks of {holders:?} hold it: no quorum of {}",
                hex(z),
                missing.join(", nor of ")
            ),
        );
    }

    /// The leader applied (z, t) and answered its client.
    pub fn on_ack(&mut self, now: i64, sid: Sid, z: i64, t: TxnId) {
        match self.position(z) {
            Some(i) if self.committed[i].1 == t => {
                self.acked.insert(t, z);
                self.acked_len = self.acked_len.max(i + 1);
            }
            _ => {
                self.violation(now, format!("leader {sid} acknowledged txn {t} at {}, which is not committed", hex(z)))
            }
        }
    }

    /// Invariant 2 for one serving member.
    pub fn check_serving(&mut self, now: i64, sid: Sid, tree: &Tree) {
        let n = tree.txns.len();
        if n >= self.prefix.len() || self.prefix[n] != tree.hash {
            let first_diff = self.committed.iter().zip(tree.txns.iter()).position(|(a, b)| a != b);
            self.violation(
                now,
                format!(
                    "serving member {sid} applied {n} txns up to {} that are not a prefix of the committed history \
                     ({} txns up to {}); first difference at index {:?}: committed {:?}, member {:?}",
                    hex(tree.zxid),
                    self.committed.len(),
                    hex(self.committed.last().map_or(0, |e| e.0)),
                    first_diff,
                    first_diff.and_then(|i| self.committed.get(i)).map(|e| (hex(e.0), e.1)),
                    first_diff.and_then(|i| tree.txns.get(i)).map(|e| (hex(e.0), e.1)),
                ),
            );
        }
    }

    /// The rest of invariant 3: a learner finished synchronising.
    pub fn check_synced(&mut self, now: i64, sid: Sid, tree: &Tree, needed: usize) {
        let have: std::collections::BTreeSet<&(i64, TxnId)> = tree.txns.iter().collect();
        let missing: Vec<String> = self.committed[..needed.min(self.committed.len())]
            .iter()
            .filter(|e| self.acked.contains_key(&e.1) && !have.contains(e))
            .map(|(z, t)| format!("{t}@{}", hex(*z)))
            .collect();
        if !missing.is_empty() {
            self.violation(
                now,
                format!(
                    "member {sid} finished synchronising at {} without acknowledged writes {}",
                    hex(tree.zxid),
                    missing.join(", ")
                ),
            );
        }
    }

    /// Every acknowledged write is in `tree` (final checks).
    pub fn missing_acked(&self, tree: &Tree) -> Vec<String> {
        let have: std::collections::BTreeSet<(i64, TxnId)> = tree.txns.iter().copied().collect();
        self.acked
            .iter()
            .filter(|(t, z)| !have.contains(&(**z, **t)))
            .map(|(t, z)| format!("{t}@{}", hex(*z)))
            .collect()
    }
}
