//! The event loop: a virtual clock, one seeded RNG, a queue of timed events ordered by
//! (time, sequence number). Members tick every half `tickTime` (the election driver's and
//! the leader's PING loop's period); faults, restarts and clients' writes are events too.
//! The invariants of [`super::check`] are checked after every event.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use zab_jute::quorum::Notification;
use zab_quorum::verifier::QuorumMaj;

use super::check::History;
use super::disk::Disk;
use super::net::{ConnId, Net, Wire};
use super::peer::{CrashOpts, Ctx, Fx, Peer, ScriptedCrash};
use super::rng::Rng;
use super::{hex, Config, Sid, TxnId};

#[derive(Debug)]
pub enum Ev {
    Boot(Sid),
    Tick(Sid),
    /// `token`: the send-queue slot the notification left from (0: none); a newer one
    /// queued in the same millisecond goes instead (`Net::elec_newer`).
    Elec {
        from: Sid,
        to: Sid,
        n: Box<Notification>,
        token: u64,
    },
    Deliver {
        conn: ConnId,
        to_leader: bool,
        gen: u64,
    },
    Fsync {
        sid: Sid,
        inc: u64,
        period: u64,
    },
    Wake {
        sid: Sid,
        inc: u64,
        period: u64,
    },
    Retry {
        sid: Sid,
        inc: u64,
        period: u64,
    },
    Client,
    Fault,
    Heal(Vec<(Sid, Sid)>),
}

struct Sched {
    at: i64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Sched {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Sched {}
impl PartialOrd for Sched {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Sched {
    /// Reversed: the heap pops the earliest.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// A packet seen on the wire: (conn, learner, to the leader, type (-1: end of stream),
/// zxid).
pub type Tapped = (ConnId, Sid, bool, i32, i64);

/// Random faults and writes until `until`.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub until: i64,
    pub fault_every: (i64, i64),
    pub write_every: (i64, i64),
    pub downtime: (i64, i64),
    pub partition_for: (i64, i64),
}

pub struct World {
    pub cfg: Config,
    /// The initial configuration (members whose disk holds none run with it).
    pub qv: std::sync::Arc<QuorumMaj>,
    pub now: i64,
    pub rng: Rng,
    heap: BinaryHeap<Sched>,
    seq: u64,
    pub peers: Vec<Peer>,
    pub net: Net,
    pub hist: History,
    pub trace: Option<Vec<String>>,
    pub script: Vec<ScriptedCrash>,
    pub chaos: Option<Chaos>,
    pub next_txn: TxnId,
    pub events: u64,
    /// Every quorum packet delivered, when recording: (conn, learner, to the leader, type,
    /// zxid).
    pub tap: Option<Vec<Tapped>>,
    /// Members that crash come back after this long (random runs); scripts boot them.
    pub restart_after: Option<(i64, i64)>,
    /// Members a step touched (their invariants are checked after it).
    pub touched: Vec<Sid>,
    /// Writes submitted: txn -> (leader, zxid).
    pub submitted: BTreeMap<TxnId, (Sid, i64)>,
    /// The most events a run may take ([`EVENT_BUDGET`]): a run that exhausts it made no
    /// progress (a livelock) and fails with a violation instead of running forever.
    pub event_budget: u64,
    /// The most events at one virtual millisecond ([`INSTANT_BUDGET`]): more is a loop of
    /// zero-delay events (a member notifying itself, say) that time never ends.
    pub instant_budget: u64,
    /// Events so far at the current virtual millisecond.
    instant_events: u64,
}

/// A run's default event budget: some 75 times the busiest seed of the random runs (3,362
/// events, 5 members with reconfigurations).
pub const EVENT_BUDGET: u64 = 250_000;
/// The default most events at one virtual millisecond.
pub const INSTANT_BUDGET: u64 = 20_000;

impl World {
    pub fn new(cfg: Config, seed: u64, disks: Vec<Disk>, trace: bool) -> World {
        let qv = std::sync::Arc::new(cfg.view());
        super::reset_payloads();
        let peers = disks.into_iter().enumerate().map(|(i, d)| Peer::new(i as Sid + 1, d)).collect();
        World {
            cfg,
            qv,
            now: 0,
            rng: Rng::new(seed),
            heap: BinaryHeap::new(),
            seq: 0,
            peers,
            net: Net::default(),
            hist: History::new(),
            trace: trace.then(Vec::new),
            script: Vec::new(),
            chaos: None,
            next_txn: 0,
            events: 0,
            restart_after: None,
            tap: None,
            touched: Vec::new(),
            submitted: BTreeMap::new(),
            event_budget: EVENT_BUDGET,
            instant_budget: INSTANT_BUDGET,
            instant_events: 0,
        }
    }

    /// A fresh ensemble of empty data directories.
    pub fn fresh(cfg: Config, seed: u64, trace: bool) -> World {
        let n = cfg.members as usize;
        World::new(cfg, seed, vec![Disk::default(); n], trace)
    }

    pub fn schedule(&mut self, at: i64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Sched { at: at.max(self.now), seq: self.seq, ev });
    }

    pub fn note(&mut self, what: String) {
        if let Some(t) = self.trace.as_mut() {
            t.push(format!("{:>6} [*] {what}", self.now));
        }
    }

    pub fn peer(&self, sid: Sid) -> &Peer {
        &self.peers[(sid - 1) as usize]
    }

    pub fn sids(&self) -> Vec<Sid> {
        (1..=self.cfg.members).collect()
    }

    /// Boots every member (at slightly different times) and starts their tickers.
    pub fn boot_all(&mut self) {
        for sid in self.sids() {
            let at = self.now + self.rng.range(0, 30);
            self.schedule(at, Ev::Boot(sid));
            let tick_at = self.now + self.rng.range(0, self.cfg.tick_ms / 2);
            self.schedule(tick_at, Ev::Tick(sid));
        }
    }

    /// Runs events up to time `t`; false once an invariant is violated or the run is out of
    /// its event budget (a violation too: a livelock).
    pub fn run_until(&mut self, t: i64) -> bool {
        while self.heap.peek().is_some_and(|s| s.at <= t) {
            let Some(s) = self.heap.pop() else { break };
            self.instant_events = if s.at == self.now { self.instant_events + 1 } else { 1 };
            self.now = s.at;
            self.events += 1;
            if self.events > self.event_budget || self.instant_events > self.instant_budget {
                let what = if self.instant_events > self.instant_budget {
                    format!("{} events at this one virtual millisecond", self.instant_events - 1)
                } else {
                    format!("{} events in {} virtual ms", self.events - 1, self.now)
                };
                let last = format!("{:?}", s.ev);
                let last: String = last.chars().take(300).collect();
                self.hist.violation(
                    self.now,
                    format!("no progress (livelock): out of the event budget after {what}; next event: {last}"),
                );
                return false;
            }
            self.dispatch(s.ev);
            self.check();
            self.touched.clear();
            if !self.hist.violations.is_empty() {
                return false;
            }
        }
        self.now = self.now.max(t);
        true
    }

    pub fn run_for(&mut self, ms: i64) -> bool {
        let t = self.now + ms;
        self.run_until(t)
    }

    /// Runs until `cond` holds (checked every 10 ms), at most `limit` ms.
    pub fn run_until_cond(&mut self, limit: i64, mut cond: impl FnMut(&World) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if cond(self) {
                return true;
            }
            if !self.run_for(10) {
                return false;
            }
        }
        cond(self)
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Boot(sid) => self.boot(sid),
            Ev::Tick(sid) => {
                let next = self.now + self.cfg.tick_ms / 2;
                self.schedule(next, Ev::Tick(sid));
                if self.peer(sid).alive() {
                    self.with_peer(sid, |p, ctx| p.tick(ctx));
                }
            }
            Ev::Elec { from, to, mut n, token } => {
                if let Some(newer) = self.net.elec_newer.remove(&token) {
                    *n = newer;
                }
                if std::env::var("ZAB_SIM_TRACE_ELECTION").is_ok() {
                    self.note(format!(
                        "elec {from}->{to} state {} leader {} zxid {} round {} epoch {}",
                        n.state,
                        n.leader,
                        hex(n.zxid),
                        n.election_epoch,
                        n.peer_epoch
                    ));
                }
                if self.peer(to).alive() && !self.net.is_cut(from, to) {
                    self.with_peer(to, |p, ctx| p.on_notification(from, &n, ctx));
                }
            }
            Ev::Deliver { conn, to_leader, gen } => self.deliver(conn, to_leader, gen),
            Ev::Fsync { sid, inc, period } => {
                if self.peer(sid).inc == inc {
                    self.with_peer(sid, |p, ctx| p.on_fsync(period, ctx));
                }
            }
            Ev::Wake { sid, inc, period } => {
                if self.peer(sid).inc == inc {
                    self.with_peer(sid, |p, ctx| p.wake(period, ctx));
                }
            }
            Ev::Retry { sid, inc, period } => {
                if self.peer(sid).inc == inc {
                    self.with_peer(sid, |p, ctx| p.retry_connect(period, ctx));
                }
            }
            Ev::Client => self.client(),
            Ev::Fault => self.fault(),
            Ev::Heal(pairs) => {
                for (a, b) in pairs {
                    self.net.heal_pair(a, b);
                }
                self.kick_pipes();
                self.flush_elec_pending();
            }
        }
    }

    /// Runs `f` on member `sid` with a context, then carries out its effects (and its crash,
    /// if it crashed).
    pub fn with_peer(&mut self, sid: Sid, f: impl FnOnce(&mut Peer, &mut Ctx)) {
        self.touched.push(sid);
        let idx = (sid - 1) as usize;
        let member_view = self.peers[idx].disk.config.clone().unwrap_or_else(|| self.qv.clone());
        let (fx, crashed) = {
            let World { cfg, rng, hist, trace, script, peers, now, .. } = self;
            let qv: &QuorumMaj = &member_view;
            let mut ctx = Ctx {
                now: *now,
                sid,
                cfg,
                qv,
                rng,
                hist,
                trace,
                script,
                fx: Vec::new(),
                update_vote: None,
                trunc_unsafe: false,
                designated_next: None,
                handed_over_to: None,
                crash_opts: CrashOpts::default(),
                saw_configs: Vec::new(),
                forget_configs_after: None,
                crashed: None,
            };
            f(&mut peers[idx], &mut ctx);
            (ctx.fx, ctx.crashed)
        };
        let (inc, period) = (self.peer(sid).inc, self.peer(sid).period());
        self.apply_fx(sid, inc, period, fx);
        if let Some(opts) = crashed {
            self.crash(sid, opts);
        }
    }

    fn apply_fx(&mut self, sid: Sid, inc: u64, period: u64, fx: Vec<Fx>) {
        for f in fx {
            match f {
                Fx::Elec { to, n } => self.send_elec(sid, to, n),
                Fx::Connect { leader } => self.connect(sid, leader),
                Fx::ConnectAt { at, .. } => self.schedule(at, Ev::Retry { sid, inc, period }),
                Fx::Send { conn, from_leader, wire } => {
                    let d = self.cfg.net_delay;
                    if let Some((at, gen)) = self.net.push(conn, from_leader, wire, self.now, &mut self.rng, d) {
                        self.schedule(at, Ev::Deliver { conn, to_leader: !from_leader, gen });
                    }
                }
                Fx::Close { conn, leader_side } => self.close(conn, leader_side, None),
                Fx::Fsync => {
                    let at = self.now + self.rng.range(self.cfg.fsync_delay.0, self.cfg.fsync_delay.1);
                    self.schedule(at, Ev::Fsync { sid, inc, period });
                }
                Fx::Wake { at } => self.schedule(at, Ev::Wake { sid, inc, period }),
                Fx::SyncPlanned { conn, needed } => {
                    if let Some(c) = self.net.conns.get_mut(&conn) {
                        c.needed = needed;
                    }
                }
                Fx::Synced { conn } => {
                    let needed = self.net.conns.get(&conn).map_or(0, |c| c.needed);
                    let tree = self.peer(sid).learner_epoch().and_then(|t| t.server.as_ref()).map(|s| s.tree.clone());
                    if let Some(tree) = tree {
                        self.hist.check_synced(self.now, sid, &tree, needed);
                    }
                }
                Fx::Committed { zxid, views } => self.check_commit_durable(sid, zxid, &views),
                Fx::HandOverSent { to, zxid } => self.check_handover_target(sid, to, zxid),
            }
        }
    }

    /// Invariant 6: leader `sid` committed `z` while, in each configuration the proposal
    /// needed (the current one, and the next during a reconfiguration), a quorum of voters'
    /// disks hold it; and invariant 7, against the configurations of the committed history.
    fn check_commit_durable(&mut self, sid: Sid, z: i64, views: &[std::sync::Arc<QuorumMaj>]) {
        let holders: BTreeSet<Sid> = self
            .peers
            .iter()
            .filter(|p| p.disk.read_from(z).first().is_some_and(|(e, _)| *e == z))
            .map(|p| p.sid)
            .collect();
        let quorum = views.iter().all(|v| v.contains_quorum(&holders));
        self.hist.check_commit_durable(self.now, sid, z, &holders, quorum);
        self.hist.check_commit_configs(self.now, sid, z, &holders, &self.qv);
    }

    /// Invariant 8: leader `sid` sent HANDOVER naming `to` after `zxid` only once `to`'s
    /// disk holds every committed txn up to `zxid` (so that, leading next, it holds every
    /// acknowledged write even if it crashes and restarts first).
    fn check_handover_target(&mut self, sid: Sid, to: Sid, zxid: i64) {
        let held = self.peer(to).disk.restore(self.cfg.commit_log_count).map(|db| db.tree);
        let have: BTreeSet<(i64, super::TxnId)> =
            held.as_ref().map(|t| t.txns.iter().copied().collect()).unwrap_or_default();
        let missing: Vec<String> = self
            .hist
            .committed
            .iter()
            .take_while(|(z, _)| *z <= zxid)
            .filter(|e| !have.contains(e))
            .map(|(z, t)| format!("{t}@{}", super::hex(*z)))
            .collect();
        if !missing.is_empty() || held.is_err() {
            let what = format!(
                "leader {sid} sent HANDOVER to {to} after {} while {to}'s disk lacks committed txns {} ({:?})",
                super::hex(zxid),
                missing.join(", "),
                held.err()
            );
            self.hist.violation(self.now, what);
        }
        self.hist.checked_handovers += 1;
    }

    pub(super) fn close(&mut self, conn: ConnId, leader_side: bool, inflight: Option<bool>) {
        let d = self.cfg.net_delay;
        if let Some((to_leader, at, gen)) = self.net.close(conn, leader_side, self.now, &mut self.rng, inflight, d) {
            self.schedule(at, Ev::Deliver { conn, to_leader, gen });
        }
    }

    fn send_elec(&mut self, from: Sid, to: Sid, n: Notification) {
        if to == from {
            self.schedule(self.now, Ev::Elec { from, to, n: Box::new(n), token: 0 });
            return;
        }
        if to == 0 || to > self.peers.len() as u64 {
            return;
        }
        if self.net.is_cut(from, to) || !self.peer(to).alive() {
            self.net.elec_pending.insert((from, to), n);
            return;
        }
        self.net.elec_pending.remove(&(from, to));
        if let Some((_, token)) = self.net.elec_queued.get(&(from, to)).filter(|(at, _)| *at == self.now) {
            // Queued in this same millisecond behind one not written yet: it replaces it.
            self.net.elec_newer.insert(*token, n);
            self.hist.count("election notification replaced in the send queue");
            return;
        }
        let mut extra = 0;
        if self.rng.per_mille(self.cfg.elec_drop_permille) {
            // The connection broke with it in flight: lost, or re-sent as the last message
            // once QCM has reconnected.
            if self.rng.below(2) == 0 {
                return;
            }
            extra = self.rng.range(100, 1_000);
        }
        let copies = if self.rng.per_mille(self.cfg.elec_dup_permille) { 2 } else { 1 };
        self.net.elec_tokens += 1;
        let token = self.net.elec_tokens;
        self.net.elec_queued.insert((from, to), (self.now, token));
        for copy in 0..copies {
            // A duplicate is the connection's re-send of what it carried: not replaced.
            let token = if copy == 0 { token } else { 0 };
            let last = self.net.elec_last.get(&(from, to)).copied().unwrap_or(0);
            let at = (self.now + extra + self.rng.range(self.cfg.net_delay.0, self.cfg.net_delay.1)).max(last);
            self.net.elec_last.insert((from, to), at);
            self.schedule(at, Ev::Elec { from, to, n: Box::new(n.clone()), token });
        }
    }

    /// Connections on the election port came up again: queued notifications go out.
    pub(super) fn flush_elec_pending(&mut self) {
        let ready: Vec<(Sid, Sid)> = self
            .net
            .elec_pending
            .keys()
            .copied()
            .filter(|(f, t)| self.peer(*f).alive() && self.peer(*t).alive() && !self.net.is_cut(*f, *t))
            .collect();
        for (from, to) in ready {
            if let Some(n) = self.net.elec_pending.remove(&(from, to)) {
                self.send_elec(from, to, n);
            }
        }
    }

    /// `connect`: a connection when the leader's quorum port listens and is reachable.
    fn connect(&mut self, learner: Sid, leader: Sid) {
        let cut = self.net.is_cut(learner, leader);
        let listening = self.peer(leader).leader_epoch().is_some();
        if !cut && listening {
            let conn = self.net.open_conn(learner, leader);
            self.note(format!("{learner} connects to {leader} (conn {conn})"));
            self.with_peer(leader, |p, ctx| p.on_accept(conn, ctx));
            self.with_peer(learner, |p, ctx| p.on_connect(Some(conn), false, ctx));
        } else {
            self.with_peer(learner, |p, ctx| p.on_connect(None, cut, ctx));
        }
    }

    fn deliver(&mut self, conn: ConnId, to_leader: bool, gen: u64) {
        let now = self.now;
        let Some(c) = self.net.conns.get(&conn) else { return };
        let cut = self.net.is_cut(c.learner, c.leader);
        let Some(c) = self.net.conns.get_mut(&conn) else { return };
        let (receiver, open) = if to_leader { (c.leader, c.leader_open) } else { (c.learner, c.learner_open) };
        let p = c.pipe(to_leader);
        if p.gen != gen || !p.scheduled {
            return;
        }
        p.scheduled = false;
        if cut {
            return; // stalled until the partition heals
        }
        let Some((_, w)) = p.q.pop_front() else { return };
        let next = p.arm(now);
        if let Some((at, g)) = next {
            self.schedule(at, Ev::Deliver { conn, to_leader, gen: g });
        }
        if !open {
            return;
        }
        if let Some(tap) = self.tap.as_mut() {
            let learner = self.net.conns.get(&conn).map_or(0, |c| c.learner);
            match &w {
                Wire::Pkt(p) | Wire::Snap(p, _) => tap.push((conn, learner, to_leader, p.packet_type, p.zxid)),
                Wire::Closed => tap.push((conn, learner, to_leader, -1, 0)),
            }
        }
        if matches!(w, Wire::Closed) {
            if let Some(c) = self.net.conns.get_mut(&conn) {
                if to_leader {
                    c.leader_open = false;
                } else {
                    c.learner_open = false;
                }
            }
        }
        self.with_peer(receiver, |p, ctx| p.on_wire(conn, to_leader, w, ctx));
    }

    /// After a heal: deliveries that waited on a cut link.
    pub(super) fn kick_pipes(&mut self) {
        let now = self.now;
        let mut todo = Vec::new();
        let cut: Vec<ConnId> =
            self.net.conns.iter().filter(|(_, c)| self.net.is_cut(c.learner, c.leader)).map(|(id, _)| *id).collect();
        for (id, c) in self.net.conns.iter_mut() {
            if cut.contains(id) {
                continue;
            }
            for to_leader in [true, false] {
                if let Some((at, gen)) = c.pipe(to_leader).arm(now) {
                    todo.push((at, *id, to_leader, gen));
                }
            }
        }
        for (at, conn, to_leader, gen) in todo {
            let at = at + self.rng.range(self.cfg.net_delay.0, self.cfg.net_delay.1);
            self.schedule(at, Ev::Deliver { conn, to_leader, gen });
        }
    }

    pub fn boot(&mut self, sid: Sid) {
        if self.peer(sid).alive() || self.peer(sid).stuck.is_some() {
            return;
        }
        self.peers[(sid - 1) as usize].inc += 1;
        self.with_peer(sid, |p, ctx| p.boot(ctx));
        self.flush_elec_pending();
    }

    /// Member `sid` crashes.
    pub fn crash(&mut self, sid: Sid, opts: CrashOpts) {
        if !self.peer(sid).alive() {
            return;
        }
        self.note(format!("CRASH {sid} ({opts:?})"));
        if self.peer(sid).leader_epoch().is_some_and(|t| t.engine.next_config().is_some()) {
            self.hist.count("leader crashed with a reconfig in flight");
        }
        let idx = (sid - 1) as usize;
        self.peers[idx].crash(&mut self.rng, opts);
        self.peers[idx].inc += 1;
        self.net.elec_pending.retain(|(f, _), _| *f != sid);
        for (conn, leader_side) in self.net.conns_of(sid) {
            self.close(conn, leader_side, opts.inflight);
        }
        self.net.gc();
        if let Some(down) = self.restart_after {
            let at = self.now + self.rng.range(down.0, down.1);
            self.schedule(at, Ev::Boot(sid));
        }
    }

    /// The invariants that can change with a step: those of the members it touched.
    fn check(&mut self) {
        let World { peers, hist, now, touched, .. } = self;
        touched.sort_unstable();
        touched.dedup();
        for &sid in touched.iter() {
            let Some(tree) = peers[(sid - 1) as usize].serving_tree() else { continue };
            hist.check_serving(*now, sid, tree);
            for p in peers.iter().filter(|p| p.sid != sid) {
                if let Some(other) = p.serving_tree().filter(|o| o.zxid == tree.zxid && o.hash != tree.hash) {
                    let _ = other;
                    hist.violation(
                        *now,
                        format!("members {} and {sid} are both at {} with different states", p.sid, hex(tree.zxid)),
                    );
                }
            }
        }
    }
}
