//! What tests do to the world and ask of it: faults (crashes are in `world.rs`),
//! partitions, broken connections, clients' writes, random chaos, convergence, reports.

use super::disk::Tree;
use super::learner::Stage as LStage;
use super::net::ConnId;
use super::peer::{CrashOpts, Role};
use super::world::{Chaos, Ev, World};
use super::{hex, Sid, TxnId};

impl World {
    /// Cuts every link between `group` and the others.
    pub fn partition(&mut self, group: &[Sid]) -> Vec<(Sid, Sid)> {
        let mut pairs = Vec::new();
        for a in self.sids() {
            for b in self.sids() {
                if a < b && (group.contains(&a) != group.contains(&b)) {
                    self.net.cut_pair(a, b);
                    pairs.push((a, b));
                }
            }
        }
        self.note(format!("PARTITION {group:?} from the rest"));
        pairs
    }

    /// Cuts the link between two members only.
    pub fn cut(&mut self, a: Sid, b: Sid) {
        self.net.cut_pair(a, b);
        self.note(format!("CUT {a} - {b}"));
    }

    /// Breaks a quorum connection (both sides see end of stream; what was in flight is lost).
    pub fn sever(&mut self, conn: ConnId) {
        self.note(format!("BREAK conn {conn}"));
        let d = self.cfg.net_delay;
        for (to_leader, at, gen) in self.net.sever(conn, self.now, &mut self.rng, d) {
            self.schedule(at, Ev::Deliver { conn, to_leader, gen });
        }
    }

    /// The open quorum connection of learner `sid`.
    pub fn conn_of(&self, sid: Sid) -> Option<ConnId> {
        self.net
            .conns
            .iter()
            .rev()
            .find(|(_, c)| c.learner == sid && c.learner_open && c.leader_open)
            .map(|(id, _)| *id)
    }

    pub fn heal_all(&mut self) {
        self.net.cut.clear();
        self.note("HEAL all".into());
        self.kick_pipes();
        self.flush_elec_pending();
    }

    /// A client writes to `sid` if it is a serving leader.
    pub fn write_to(&mut self, sid: Sid) -> Option<(TxnId, i64)> {
        self.next_txn += 1;
        let t = self.next_txn;
        let mut z = None;
        self.with_peer(sid, |p, ctx| z = p.client_write(t, ctx));
        let z = z?;
        self.hist.submitted += 1;
        self.submitted.insert(t, (sid, z));
        self.note(format!("client write {t} to {sid} as {}", hex(z)));
        Some((t, z))
    }

    /// A reconfig through member `sid` (if it leads) to the voters `members` of the
    /// configuration every member starts with; a write like any other for the history.
    pub fn reconfig_to(&mut self, sid: Sid, members: &[Sid]) -> Option<(TxnId, i64)> {
        let all = self.cfg.view();
        let view =
            zab_quorum::verifier::QuorumMaj::new(all.servers.values().filter(|s| members.contains(&s.sid)).cloned(), 0);
        self.next_txn += 1;
        let t = self.next_txn;
        let mut z = None;
        self.with_peer(sid, |p, ctx| z = p.client_reconfig(t, view, ctx));
        let z = z?;
        self.hist.submitted += 1;
        self.submitted.insert(t, (sid, z));
        self.hist.count("reconfig proposed");
        self.note(format!("client reconfig {t} to {members:?} through {sid} as {}", hex(z)));
        Some((t, z))
    }

    /// Asks member `sid` (if it leads and serves) to hand its role over to `to`, or (None)
    /// to its most up-to-date follower: the member named, or the engine's refusal.
    pub fn hand_over(&mut self, sid: Sid, to: Option<Sid>) -> Option<Result<Sid, String>> {
        let mut r = None;
        self.with_peer(sid, |p, ctx| r = p.hand_over(to, ctx));
        let r = r?;
        self.note(format!("HAND-OVER asked of {sid} (to {to:?}): {r:?}"));
        Some(r)
    }

    /// A random hand-over: the serving leader to its best follower or to a member at random;
    /// now and then a learner is cut off just then, so it may never read HANDOVER.
    fn random_hand_over(&mut self, ch: &Chaos) {
        let Some(l) = self.leader() else { return };
        let to = if self.rng.below(2) == 0 { None } else { Some(1 + self.rng.below(self.cfg.members)) };
        if !matches!(self.hand_over(l, to), Some(Ok(_))) || self.rng.below(3) != 0 {
            return;
        }
        let others: Vec<Sid> = self.sids().into_iter().filter(|s| *s != l).collect();
        if let Some(cut) = self.rng.pick(&others) {
            let pairs = self.partition(&[cut]);
            let at = self.now + self.rng.range(ch.partition_for.0, ch.partition_for.1);
            self.schedule(at, Ev::Heal(pairs));
        }
    }

    /// The serving leader of the newest epoch.
    pub fn leader(&self) -> Option<Sid> {
        self.peers
            .iter()
            .filter_map(|p| p.leader_epoch().filter(|t| t.is_serving()).map(|t| (t.epoch(), p.sid)))
            .max()
            .map(|(_, s)| s)
    }

    pub(super) fn client(&mut self) {
        let Some(ch) = self.chaos.clone() else { return };
        if self.now >= ch.until {
            return;
        }
        let at = self.now + self.rng.range(ch.write_every.0, ch.write_every.1);
        self.schedule(at, Ev::Client);
        let leaders: Vec<Sid> =
            self.peers.iter().filter(|p| p.leader_epoch().is_some_and(|t| t.is_serving())).map(|p| p.sid).collect();
        if let Some(l) = self.rng.pick(&leaders) {
            // With reconfigEnabled, now and then a reconfig: every member a voter, or one
            // member (at random, the leader too) removed.
            let every = if self.cfg.wide_reconfigs { 6 } else { 25 };
            if self.cfg.reconfig && self.rng.below(every) == 0 {
                let mut members: Vec<Sid> = (1..=self.cfg.members).collect();
                if self.cfg.wide_reconfigs {
                    let n = self.cfg.members;
                    let size = self.rng.range((n / 2 + 1) as i64, n as i64) as usize;
                    while members.len() > size {
                        let gone = self.rng.below(members.len() as u64) as usize;
                        members.remove(gone);
                    }
                } else if self.rng.below(2) == 0 {
                    let gone = self.rng.range(1, self.cfg.members as i64) as usize;
                    members.remove(gone.min(members.len() - 1));
                }
                self.reconfig_to(l, &members);
            } else {
                self.write_to(l);
            }
        }
    }

    pub(super) fn fault(&mut self) {
        let Some(ch) = self.chaos.clone() else { return };
        if self.now >= ch.until {
            return;
        }
        let at = self.now + self.rng.range(ch.fault_every.0, ch.fault_every.1);
        self.schedule(at, Ev::Fault);
        let alive: Vec<Sid> = self.peers.iter().filter(|p| p.alive()).map(|p| p.sid).collect();
        match self.rng.below(100) {
            0..=34 => {
                let victim = match self.leader() {
                    Some(l) if self.rng.below(2) == 0 => Some(l),
                    _ => self.rng.pick(&alive),
                };
                if let Some(v) = victim {
                    self.crash(v, CrashOpts::default());
                }
            }
            35..=59 => {
                let n = self.cfg.members;
                let size = 1 + self.rng.below(n / 2 + 1);
                let mut group = Vec::new();
                while (group.len() as u64) < size {
                    let s = 1 + self.rng.below(n);
                    if !group.contains(&s) {
                        group.push(s);
                    }
                }
                let pairs = self.partition(&group);
                let at = self.now + self.rng.range(ch.partition_for.0, ch.partition_for.1);
                self.schedule(at, Ev::Heal(pairs));
            }
            60..=64 => {
                // A power failure: everyone at once, losing what was not fsynced.
                self.note("POWER FAILURE".into());
                for sid in self.sids() {
                    self.crash(sid, CrashOpts::default());
                }
            }
            65..=79 => {
                let open: Vec<ConnId> =
                    self.net.conns.iter().filter(|(_, c)| c.leader_open && c.learner_open).map(|(id, _)| *id).collect();
                if let Some(conn) = self.rng.pick(&open) {
                    self.sever(conn);
                }
            }
            80..=99 if self.cfg.handovers => self.random_hand_over(&ch),
            _ => {}
        }
    }

    /// Starts random faults and writes until `until`.
    pub fn start_chaos(&mut self, ch: Chaos) {
        self.restart_after = Some(ch.downtime);
        let a = self.now + self.rng.range(ch.fault_every.0, ch.fault_every.1);
        let b = self.now + self.rng.range(ch.write_every.0, ch.write_every.1);
        self.chaos = Some(ch);
        self.schedule(a, Ev::Fault);
        self.schedule(b, Ev::Client);
    }

    /// Every member alive follows one serving leader, synchronised, with nothing in flight,
    /// all at the same state.
    pub fn converged(&self) -> Option<Sid> {
        let l = self.leader()?;
        let lt = self.peer(l).leader_epoch()?;
        let ls = lt.server.as_ref()?;
        if lt.engine.outstanding() > 0
            || lt.engine.handing_over().is_some()
            || !ls.queue.is_empty()
            || !ls.awaiting.is_empty()
        {
            return None;
        }
        for p in &self.peers {
            if p.sid == l || !p.alive() {
                continue;
            }
            let t = p.learner_epoch()?;
            let s = t.server.as_ref()?;
            if t.leader != l
                || t.stage != LStage::Broadcast
                || !s.serving
                || s.tree.hash != ls.tree.hash
                || !s.queue.is_empty()
            {
                return None;
            }
            if !lt.in_broadcast(p.sid) {
                return None;
            }
        }
        Some(l)
    }

    /// Ends the chaos, heals, restarts every member that is down, and waits for
    /// convergence.
    pub fn settle(&mut self, limit: i64) -> Result<Sid, String> {
        self.chaos = None;
        self.cfg.crash_point_permille = 0;
        self.heal_all();
        for sid in self.sids() {
            if !self.peer(sid).alive() {
                self.boot(sid);
            }
        }
        if !self.run_until_cond(limit, |w| w.converged().is_some()) {
            if !self.hist.violations.is_empty() {
                return Err(self.hist.violations.join("\n"));
            }
            return Err(format!("liveness: no convergence within {limit} ms after healing:\n{}", self.describe()));
        }
        if !self.hist.violations.is_empty() {
            return Err(self.hist.violations.join("\n"));
        }
        self.converged().ok_or_else(|| "converged, then not".into())
    }

    /// Waits (without healing or booting anyone) until every member that is up follows one
    /// serving leader at its state.
    pub fn wait_converged(&mut self, limit: i64) -> Result<Sid, String> {
        if self.run_until_cond(limit, |w| w.converged().is_some()) && self.hist.violations.is_empty() {
            return self.converged().ok_or_else(|| "converged, then not".into());
        }
        if !self.hist.violations.is_empty() {
            return Err(self.hist.violations.join("\n"));
        }
        Err(format!("no convergence within {limit} ms:\n{}", self.describe()))
    }

    /// `n` writes to the current leader, each waited for until acknowledged.
    pub fn write_acked(&mut self, n: usize, limit: i64) -> Result<Vec<(TxnId, i64)>, String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let l = self.leader().ok_or_else(|| format!("no serving leader:\n{}", self.describe()))?;
            let (t, z) = self.write_to(l).ok_or("the leader refused the write")?;
            if !self.run_until_cond(limit, |w| w.hist.acked.contains_key(&t)) {
                return Err(format!("write {t} ({}) not acknowledged:\n{}", hex(z), self.describe()));
            }
            out.push((t, z));
        }
        Ok(out)
    }

    /// What member `sid` would start from after a restart (its disk read back).
    pub fn restored(&self, sid: Sid) -> Result<Tree, String> {
        self.peer(sid).disk.restore(self.cfg.commit_log_count).map(|db| db.tree)
    }

    /// One line per member.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for p in &self.peers {
            let role = match p.role() {
                None => format!("down{}", p.stuck.as_ref().map(|w| format!(" (stuck: {w})")).unwrap_or_default()),
                Some(Role::Paused) => "paused".into(),
                Some(Role::Looking(db)) => format!("looking at {}", hex(db.tree.zxid)),
                Some(Role::Leading(t)) => format!(
                    "leading epoch {:?} {:?} serving={} learners={:?} proposed={} tree={} queue={} awaiting={}",
                    t.epoch(),
                    t.phase(),
                    t.is_serving(),
                    t.engine.learners().iter().map(|l| (l.sid, l.in_broadcast)).collect::<Vec<_>>(),
                    t.engine.outstanding(),
                    t.server.as_ref().map_or("-".into(), |s| hex(s.tree.zxid)),
                    t.server.as_ref().map_or(0, |s| s.queue.len()),
                    t.server.as_ref().map_or(0, |s| s.awaiting.len()),
                ),
                Some(Role::Following(t)) => format!(
                    "following {} {:?} serving={} tree={} awaiting={}",
                    t.leader,
                    t.stage,
                    t.is_serving(),
                    t.server.as_ref().map_or("-".into(), |s| hex(s.tree.zxid)),
                    t.server.as_ref().map_or(0, |s| s.awaiting.len()),
                ),
            };
            s.push_str(&format!("  member {}: {role}; log last {}\n", p.sid, hex(p.disk.last_logged_zxid())));
        }
        s
    }

    /// The applied tree of a serving member.
    pub fn tree_of(&self, sid: Sid) -> Option<&Tree> {
        self.peer(sid).serving_tree()
    }

    /// Crashes every member, then boots them all again.
    pub fn crash_all_and_restart(&mut self) {
        for sid in self.sids() {
            self.crash(sid, CrashOpts::default());
        }
        for sid in self.sids() {
            let at = self.now + self.rng.range(1, 50);
            self.schedule(at, Ev::Boot(sid));
        }
    }

    pub fn trace_tail(&self, n: usize) -> String {
        match &self.trace {
            Some(t) => t[t.len().saturating_sub(n)..].join("\n"),
            None => String::new(),
        }
    }
}
