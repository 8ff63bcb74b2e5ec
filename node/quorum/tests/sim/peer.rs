//! One member's life, as `peer/mod.rs` (`run_member`) and the election driver run it:
//! FastLeaderElection answers notifications for the life of the process; each epoch starts
//! from the last epoch's database (or the disk's, after a crash or when the epoch left none),
//! elects with (last zxid, currentEpoch), leads or follows, and — when the epoch lasted less
//! than 500 ms — pauses 200 ms before electing again.
//!
//! The state machines' effects on the world (packets, connections, timers) are collected in
//! [`Ctx::fx`] and carried out by the world after each step.

use zab_jute::quorum::Notification;
use zab_quorum::election::{Action, ElectionConfig, FastLeaderElection, PeerState};
use zab_quorum::peer::{NextRole, QuorumPeer};
use zab_quorum::verifier::QuorumMaj;

use super::check::History;
use super::disk::{Db, Disk};
use super::leader::LeaderEpoch;
use super::learner::{classify, LearnerEpoch};
use super::net::{ConnId, Wire};
use super::rng::Rng;
use super::{hex, Config, Sid, TxnId};

/// How a crash treats what was not durable yet (`None`: at random).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrashOpts {
    /// The txns handed to the sync thread but not fsynced reach the disk.
    pub keep_unsynced: Option<bool>,
    /// Packets this member had sent that are still on their way arrive.
    pub inflight: Option<bool>,
}

/// Why a step stopped short.
#[derive(Debug)]
pub enum End {
    /// The process dies here.
    Crash(CrashOpts),
    /// The epoch ends with this reason.
    Epoch(String),
}

/// What a member asks of the world.
#[derive(Debug)]
pub enum Fx {
    Elec {
        to: Sid,
        n: Notification,
    },
    Connect {
        leader: Sid,
    },
    /// Try to connect again at this time (if the epoch still wants to).
    ConnectAt {
        leader: Sid,
        at: i64,
    },
    Send {
        conn: ConnId,
        from_leader: bool,
        wire: Wire,
    },
    Close {
        conn: ConnId,
        leader_side: bool,
    },
    /// The sync thread has a batch to write: an fsync completes after a delay.
    Fsync,
    /// Look for a leader again at this time.
    Wake {
        at: i64,
    },
    SyncPlanned {
        conn: ConnId,
        needed: usize,
    },
    Synced {
        conn: ConnId,
    },
    /// The leader committed this zxid (invariant 6 is checked against every member's disk).
    Committed {
        zxid: i64,
        /// The configurations whose quorums the proposal needed.
        views: Vec<std::sync::Arc<QuorumMaj>>,
    },
    /// The leader sent HANDOVER naming `to` after `zxid` (invariant 8 is checked against
    /// `to`'s disk).
    HandOverSent {
        to: Sid,
        zxid: i64,
    },
}

/// A scripted crash: the `nth` time (1-based) member `sid` reaches point `label`.
#[derive(Debug, Clone)]
pub struct ScriptedCrash {
    pub sid: Sid,
    pub label: String,
    pub nth: u32,
    pub opts: CrashOpts,
    pub seen: u32,
}

pub struct Ctx<'a> {
    pub now: i64,
    pub sid: Sid,
    pub cfg: &'a Config,
    pub qv: &'a QuorumMaj,
    pub rng: &'a mut Rng,
    pub hist: &'a mut History,
    pub trace: &'a mut Option<Vec<String>>,
    pub script: &'a mut Vec<ScriptedCrash>,
    pub fx: Vec<Fx>,
    /// `updateElectionVote` with this epoch.
    pub update_vote: Option<i64>,
    /// A truncation could not reach its zxid (the runtime's `MemberMemory::truncation_failed`).
    pub trunc_unsafe: bool,
    /// An activation changed this member's leader: the next epoch follows (or is) this one.
    pub designated_next: Option<(std::sync::Arc<QuorumMaj>, Sid)>,
    /// A hand-over named this member's next leader (`QuorumPeer::handed_over`).
    pub handed_over_to: Option<Sid>,
    pub crash_opts: CrashOpts,
    /// The member crashed during this step.
    pub crashed: Option<CrashOpts>,
    /// Configurations of reconfig proposals the step logged (`saw_reconfig`).
    pub saw_configs: Vec<std::sync::Arc<QuorumMaj>>,
    /// The log past this zxid went (a TRUNC, a SNAP): so did a reconfig proposal there.
    pub forget_configs_after: Option<i64>,
}

impl Ctx<'_> {
    pub fn log(&mut self, f: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_mut() {
            t.push(format!("{:>6} [{}] {}", self.now, self.sid, f()));
        }
    }

    /// Whether the member crashes at `label` now (scripted, or at random).
    pub fn crash_now(&mut self, label: &str) -> bool {
        for s in self.script.iter_mut() {
            if s.sid == self.sid && s.label == label {
                s.seen += 1;
                if s.seen == s.nth {
                    self.crash_opts = s.opts;
                    self.log(|| format!("crash point hit (scripted): {label}"));
                    return true;
                }
            }
        }
        if self.rng.per_mille(self.cfg.crash_point_permille) {
            self.hist.count(&format!("crash at '{label}'"));
            self.log(|| format!("crash point hit: {label}"));
            return true;
        }
        false
    }

    pub fn crash_point(&mut self, label: &str) -> Result<(), End> {
        if self.crash_now(label) {
            Err(End::Crash(self.crash_opts))
        } else {
            Ok(())
        }
    }

    /// A crash point of a rare step (the hand-over's): one time in ten when crash points
    /// are on at all, so that a few thousand seeds reach each of them.
    pub fn rare_crash_point(&mut self, label: &str) -> Result<(), End> {
        let on = self.cfg.crash_point_permille > 0 && self.rng.per_mille(100);
        if on || self.crash_now(label) {
            if on {
                self.hist.count(&format!("crash at '{label}'"));
                self.log(|| format!("crash point hit: {label}"));
            }
            Err(End::Crash(self.crash_opts))
        } else {
            Ok(())
        }
    }
}

pub enum Role {
    /// Between epochs (or before the first one).
    Paused,
    Looking(Db),
    Leading(Box<LeaderEpoch>),
    Following(Box<LearnerEpoch>),
}

pub struct Proc {
    pub fle: FastLeaderElection,
    pub role: Role,
    /// Counts periods (epochs and pauses), so stale timers are ignored.
    pub period: u64,
    /// The last epoch's database.
    pub carried: Option<Db>,
    /// What the member carries across its epochs (the runtime's `QuorumPeer`).
    pub member: QuorumPeer,
    /// The newest configuration a reconfig proposal logged here carried, activated or not
    /// (the runtime's `PeerInfo::last_seen`, `lastSeenQuorumVerifier`): its next epoch as
    /// leader completes it (`Leader::set_last_seen`, ZOOKEEPER-1324).
    pub last_seen: Option<std::sync::Arc<QuorumMaj>>,
}

pub struct Peer {
    pub sid: Sid,
    /// Counts boots and crashes, so stale events are ignored.
    pub inc: u64,
    pub disk: Disk,
    pub proc: Option<Proc>,
    /// Why this member cannot start any more, if it cannot.
    pub stuck: Option<String>,
}

impl Peer {
    pub fn new(sid: Sid, disk: Disk) -> Peer {
        Peer { sid, inc: 0, disk, proc: None, stuck: None }
    }

    pub fn alive(&self) -> bool {
        self.proc.is_some()
    }

    pub fn role(&self) -> Option<&Role> {
        self.proc.as_ref().map(|p| &p.role)
    }

    pub fn leader_epoch(&self) -> Option<&LeaderEpoch> {
        match self.role() {
            Some(Role::Leading(t)) => Some(t),
            _ => None,
        }
    }

    pub fn learner_epoch(&self) -> Option<&LearnerEpoch> {
        match self.role() {
            Some(Role::Following(t)) => Some(t),
            _ => None,
        }
    }

    /// The applied tree of a member that serves clients.
    pub fn serving_tree(&self) -> Option<&super::disk::Tree> {
        match self.role()? {
            Role::Leading(t) if t.is_serving() => t.server.as_ref().map(|s| &s.tree),
            Role::Following(t) if t.is_serving() => t.server.as_ref().map(|s| &s.tree),
            _ => None,
        }
    }

    /// A process starts: the election driver with no claim yet, then `run_member`.
    pub fn boot(&mut self, ctx: &mut Ctx) {
        let election = ElectionConfig { reconfig_enabled: ctx.cfg.reconfig, ..ctx.cfg.election };
        let fle = FastLeaderElection::new(self.sid, ctx.qv.clone(), -1, 0, election);
        // `<cfg>.dynamic.next` from before a restart is the member's last seen (run_member).
        // Its history reaches the reconfig's zxid (a zxid belongs to one leader's proposal:
        // the txn there is that reconfig).
        let last = self.disk.last_logged_zxid().max(self.disk.snaps.keys().next_back().copied().unwrap_or(-1));
        let logged = |v: &QuorumMaj| v.version <= last;
        let last_seen = self.disk.next_config.clone().filter(|v| {
            // Not newer than the configuration in force: no leader would use it anyway.
            let keep = !ctx.cfg.fixes.last_seen_only_if_logged || v.version <= ctx.qv.version || logged(v);
            if !keep {
                ctx.hist.known_issue(".dynamic.next names a reconfig beyond the member's history: not taken");
            }
            keep
        });
        self.proc =
            Some(Proc { fle, role: Role::Paused, period: 0, carried: None, member: QuorumPeer::new(), last_seen });
        ctx.log(|| "boots".into());
        self.look(ctx);
    }

    /// `run_member`'s loop head: the database (carried or loaded), the epoch files, then
    /// `look_for_leader`.
    fn look(&mut self, ctx: &mut Ctx) {
        let Some(proc) = self.proc.as_mut() else { return };
        if ctx.cfg.fixes.snapshot_on_first_load && self.disk.snaps.is_empty() && self.disk.last_logged_zxid() == -1 {
            self.disk.snaps.insert(0, Default::default());
            self.disk.synthetic_snap0 = true;
        }
        if self.disk.synthetic_snap0 && self.disk.snaps.len() == 1 && self.disk.last_logged_zxid() != -1 {
            ctx.hist.known_issue("a log without a snapshot (snapshot.0 written on first load here)");
        }
        let db = match proc.carried.take() {
            Some(db) => db,
            None => match self.disk.restore(ctx.cfg.commit_log_count) {
                Ok(db) => db,
                Err(e) => {
                    self.get_stuck(format!("cannot load the database: {e}"), ctx);
                    return;
                }
            },
        };
        let current = match self.disk.load_epochs(db.tree.zxid) {
            Ok((c, _)) => c,
            Err(e) if e.starts_with("the current epoch") && ctx.cfg.fixes.epoch_from_zxid => {
                // ZOOKEEPER-1653's window (see cluster_scenarios.rs): repaired as ZooKeeper
                // 3.4's updatingEpoch would, so the run can go on.
                ctx.hist.known_issue("ZOOKEEPER-1653 window: currentEpoch older than the last zxid's epoch");
                ctx.log(|| format!("cannot read the epoch files: {e} (repaired: currentEpoch := the zxid's)"));
                let ze = db.tree.zxid >> 32;
                self.disk.current_epoch = Some(ze);
                if self.disk.accepted_epoch.is_some_and(|a| a < ze) {
                    self.disk.accepted_epoch = Some(ze);
                }
                ze
            }
            Err(e) => {
                self.get_stuck(format!("cannot read the epoch files: {e}"), ctx);
                return;
            }
        };
        let Some(proc) = self.proc.as_mut() else { return };
        // An activation designated this epoch's leader: no election (`updateServerState`).
        if let Some(role) = proc.member.take_designated() {
            let (state, leader) = match role {
                NextRole::Lead => (PeerState::Leading, self.sid),
                NextRole::Follow(l) => (PeerState::Following, l),
                NextRole::Observe(l) => (PeerState::Observing, l),
            };
            ctx.log(|| format!("designated: {state:?}, leader {leader}"));
            // Its election answers with the designated vote from now on (`updateVote`), as
            // the runtime's member loop does (`Decide::designated`).
            proc.fle.designated(state, leader, db.tree.zxid);
            proc.role = Role::Looking(db);
            self.decided(state, leader, ctx);
            return;
        }
        let actions = proc.fle.start(db.tree.zxid, current, ctx.now);
        ctx.log(|| format!("looks for a leader with (epoch {current}, zxid {})", hex(db.tree.zxid)));
        proc.role = Role::Looking(db);
        self.fle_actions(actions, ctx);
    }

    fn get_stuck(&mut self, why: String, ctx: &mut Ctx) {
        ctx.log(|| format!("STUCK: {why}"));
        ctx.hist.violation(ctx.now, format!("member {} cannot start from its disk: {why}", self.sid));
        self.stuck = Some(why);
        self.proc = None;
    }

    fn fle_actions(&mut self, actions: Vec<Action>, ctx: &mut Ctx) {
        for a in actions {
            match a {
                Action::Send { to, n } => ctx.fx.push(Fx::Elec { to, n }),
                Action::Decided { state, vote } => self.decided(state, vote.leader, ctx),
                Action::NewerConfig(view) => self.adopt_newer_config(view, ctx),
            }
        }
    }

    /// A notification carried a newer configuration: it is this member's from now on (its
    /// dynamic file), and the election starts over with it.
    fn adopt_newer_config(&mut self, view: QuorumMaj, ctx: &mut Ctx) {
        let Some(proc) = self.proc.as_mut() else { return };
        ctx.log(|| format!("adopts the newer configuration {}", hex(view.version)));
        let view = std::sync::Arc::new(view);
        self.disk.config = Some(view.clone());
        proc.member.reconfigured(self.sid, view.clone(), None);
        let actions = proc.fle.set_view((*view).clone(), ctx.now);
        self.fle_actions(actions, ctx);
    }

    fn decided(&mut self, state: PeerState, leader: Sid, ctx: &mut Ctx) {
        let Some(proc) = self.proc.as_mut() else { return };
        let Role::Looking(_) = proc.role else { return };
        let Role::Looking(db) = std::mem::replace(&mut proc.role, Role::Paused) else { return };
        proc.period += 1;
        proc.member.epoch_started(ctx.now);
        ctx.log(|| format!("decided {state:?}, leader {leader}"));
        let end = match state {
            PeerState::Leading => match LeaderEpoch::start(self.sid, db, proc.last_seen.clone(), &mut self.disk, ctx) {
                Ok(t) => {
                    proc.role = Role::Leading(t);
                    None
                }
                Err((db, end)) => {
                    proc.carried = db;
                    Some(end)
                }
            },
            PeerState::Following | PeerState::Observing => {
                proc.role = Role::Following(LearnerEpoch::start(self.sid, leader, db, ctx));
                None
            }
            PeerState::Looking => {
                proc.carried = Some(db);
                Some(End::Epoch("the election ended still looking".into()))
            }
        };
        if let Some(end) = end {
            self.handle_end(end, ctx);
        }
    }

    /// A step stopped short: a crash (the world carries it out) or the end of the epoch.
    fn handle_end(&mut self, end: End, ctx: &mut Ctx) {
        match end {
            End::Crash(opts) => ctx.crashed = Some(opts),
            End::Epoch(reason) => self.end_epoch(reason, ctx),
        }
    }

    /// The epoch's thread returned: shut it down, keep its database, pause if it was short.
    fn end_epoch(&mut self, reason: String, ctx: &mut Ctx) {
        let Some(proc) = self.proc.as_mut() else { return };
        let role = std::mem::replace(&mut proc.role, Role::Paused);
        let db = match role {
            Role::Leading(mut t) => t.shutdown(&mut self.disk, ctx),
            Role::Following(mut t) => t.shutdown(&mut self.disk, ctx),
            Role::Looking(db) => Some(db),
            Role::Paused => proc.carried.take(),
        };
        // take_database's snapshot is the last one the server wrote, if still on disk.
        proc.carried = db.map(|mut d| {
            if d.snapshot.is_some_and(|z| !self.disk.snaps.contains_key(&z)) {
                d.snapshot = None;
            }
            d
        });
        if let Some(kind) = classify(&reason) {
            ctx.hist.anomaly(&kind);
        }
        ctx.log(|| format!("epoch ended: {reason}"));
        proc.period += 1;
        let pause = proc.member.epoch_ended(ctx.now, ctx.trunc_unsafe);
        ctx.fx.push(Fx::Wake { at: ctx.now + pause });
    }

    /// Runs an epoch's step and deals with how it stopped.
    fn step(&mut self, ctx: &mut Ctx, f: impl FnOnce(&mut Role, &mut Disk, &mut Ctx, i32) -> Result<(), End>) {
        let Some(proc) = self.proc.as_mut() else { return };
        let r = f(&mut proc.role, &mut self.disk, ctx, proc.member.protocol_version());
        if let Some(e) = ctx.update_vote.take() {
            proc.fle.update_election_vote(e);
        }
        if let Some((view, leader)) = ctx.designated_next.take() {
            proc.member.reconfigured(self.sid, view, Some(leader));
        }
        if let Some(to) = ctx.handed_over_to.take() {
            // The simulator has no observers.
            proc.member.handed_over(self.sid, to, false);
            // The member named crashes before it leads (its epoch ends all the same).
            if to == self.sid && ctx.rare_crash_point("named by HANDOVER, before leading").is_err() {
                ctx.crashed = Some(ctx.crash_opts);
            }
        }
        if let Some(z) = ctx.forget_configs_after.take() {
            if proc.last_seen.as_ref().is_some_and(|v| v.version > z) {
                proc.last_seen = None;
            }
        }
        for view in std::mem::take(&mut ctx.saw_configs) {
            if proc.last_seen.as_ref().is_none_or(|v| v.version < view.version) {
                proc.last_seen = Some(view);
            }
        }
        // A configuration activated during the step: the election uses it from now on.
        if let Some(view) = self.disk.config.as_ref().filter(|v| v.version > proc.fle.view().version) {
            let actions = proc.fle.set_view((**view).clone(), ctx.now);
            self.fle_actions(actions, ctx);
        }
        if let Err(end) = r {
            self.handle_end(end, ctx);
        }
    }

    pub fn wake(&mut self, period: u64, ctx: &mut Ctx) {
        if self.proc.as_ref().is_some_and(|p| p.period == period && matches!(p.role, Role::Paused)) {
            self.look(ctx);
        }
    }

    pub fn period(&self) -> u64 {
        self.proc.as_ref().map_or(0, |p| p.period)
    }

    pub fn on_notification(&mut self, from: Sid, n: &Notification, ctx: &mut Ctx) {
        let Some(proc) = self.proc.as_mut() else { return };
        let actions = proc.fle.on_notification(from, n, ctx.now);
        self.fle_actions(actions, ctx);
    }

    pub fn tick(&mut self, ctx: &mut Ctx) {
        let Some(proc) = self.proc.as_mut() else { return };
        let actions = proc.fle.on_tick(ctx.now);
        self.fle_actions(actions, ctx);
        self.step(ctx, |role, disk, ctx, _| match role {
            Role::Leading(t) => t.tick(disk, ctx),
            Role::Following(t) => t.tick(ctx),
            _ => Ok(()),
        });
    }

    pub fn on_accept(&mut self, conn: ConnId, ctx: &mut Ctx) {
        self.step(ctx, |role, disk, ctx, _| match role {
            Role::Leading(t) => t.on_accept(conn, disk, ctx),
            _ => Ok(()),
        });
    }

    /// A scheduled connection retry of period `period`.
    pub fn retry_connect(&mut self, period: u64, ctx: &mut Ctx) {
        if self.period() != period {
            return;
        }
        if let Some(Role::Following(t)) = self.proc.as_ref().map(|p| &p.role) {
            if matches!(t.stage, super::learner::Stage::Connecting { .. }) {
                ctx.fx.push(Fx::Connect { leader: t.leader });
            }
        }
    }

    pub fn on_connect(&mut self, conn: Option<ConnId>, unreachable: bool, ctx: &mut Ctx) {
        self.step(ctx, |role, disk, ctx, version| match role {
            Role::Following(t) => t.on_connect(conn, unreachable, version, disk, ctx),
            _ => Ok(()),
        });
    }

    /// A packet (or end of stream) on `conn`, for this member's side of it.
    pub fn on_wire(&mut self, conn: ConnId, leader_side: bool, w: Wire, ctx: &mut Ctx) {
        self.step(ctx, |role, disk, ctx, _| match role {
            Role::Leading(t) if leader_side => t.on_wire(conn, w, disk, ctx),
            Role::Following(t) if !leader_side && t.conn == Some(conn) => t.on_wire(w, disk, ctx),
            _ => Ok(()),
        });
    }

    pub fn on_fsync(&mut self, period: u64, ctx: &mut Ctx) {
        if self.period() != period {
            return;
        }
        self.step(ctx, |role, disk, ctx, _| match role {
            Role::Leading(t) => t.on_fsync(disk, ctx),
            Role::Following(t) => {
                t.on_fsync(disk, ctx);
                Ok(())
            }
            _ => Ok(()),
        });
    }

    /// A client's write to this member, if it leads and serves: the zxid it was given.
    pub fn client_write(&mut self, t: TxnId, ctx: &mut Ctx) -> Option<i64> {
        let mut z = None;
        self.step(ctx, |role, disk, ctx, _| match role {
            Role::Leading(leader) => {
                z = leader.client_write(t, disk, ctx)?;
                Ok(())
            }
            _ => Ok(()),
        });
        z
    }

    /// A client's reconfig to this member, if it leads and serves: the zxid it was given.
    pub fn client_reconfig(&mut self, t: TxnId, view: QuorumMaj, ctx: &mut Ctx) -> Option<i64> {
        let mut z = None;
        self.step(ctx, |role, disk, ctx, _| match role {
            Role::Leading(leader) => {
                z = leader.client_reconfig(t, view, disk, ctx)?;
                Ok(())
            }
            _ => Ok(()),
        });
        z
    }

    /// The runtime's `POST /commands/handover` on this member, if it leads and serves: the
    /// member the hand-over goes to, or why the engine refused.
    pub fn hand_over(&mut self, to: Option<Sid>, ctx: &mut Ctx) -> Option<Result<Sid, String>> {
        let mut r = None;
        self.step(ctx, |role, disk, ctx, _| match role {
            Role::Leading(leader) => {
                r = leader.hand_over(to, disk, ctx)?;
                Ok(())
            }
            _ => Ok(()),
        });
        r
    }

    /// A crash: the process and everything not durable are gone.
    pub fn crash(&mut self, rng: &mut Rng, opts: CrashOpts) {
        if let Some(mut proc) = self.proc.take() {
            let server = match &mut proc.role {
                Role::Leading(t) => t.server.as_mut(),
                Role::Following(t) => t.server.as_mut(),
                _ => None,
            };
            if let Some(s) = server {
                s.crash(&mut self.disk, rng, opts.keep_unsynced);
            }
        }
    }
}
