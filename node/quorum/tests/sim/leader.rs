//! One term as leader, as `peer/leader.rs` runs it: `lead` / `run_term` (discovery, then
//! synchronisation until a quorum ACKs NEWLEADER, then broadcast with a PING every half
//! tick and a step-down once fewer than a quorum of learners are in touch), the write
//! path (`propose`, the leader's own ACK after its fsync, commits applied in order), and
//! the end of the term. Its learner handlers are in `handler.rs`.
//!
//! Every step below names the runtime code it mirrors; where the runtime keys state by
//! sid (`st.learners`), so does this.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use zab_jute::quorum::{packet, QuorumPacket};
use zab_quorum::broadcast::{BroadcastAction, LeaderBroadcast};
use zab_quorum::discovery::{LeaderAction, LeaderDiscovery};
use zab_quorum::newleader::NewLeaderPhase;
use zab_quorum::zxid;

use super::disk::{Db, Disk};
pub use super::handler::{Handler, Stage};
use super::net::{ConnId, Wire};
use super::peer::{Ctx, End, Fx};
use super::server::Server;
use super::{encode, hex, Sid, TxnId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Discovery,
    Sync,
    Broadcast,
}

/// `st.learners[sid]`.
#[derive(Debug)]
pub struct Entry {
    pub conn: ConnId,
    pub last_heard: i64,
    pub in_broadcast: bool,
    /// Its sync packets are queued (`view.sync_mode` set).
    pub synced: bool,
}

pub struct LeaderTerm {
    pub me: Sid,
    pub started: i64,
    pub discovery: LeaderDiscovery,
    pub phase: Phase,
    pub newleader: Option<NewLeaderPhase>,
    pub bcast: Option<LeaderBroadcast>,
    pub serving: bool,
    pub proposed: BTreeMap<i64, TxnId>,
    pub committed_log: VecDeque<(i64, TxnId)>,
    pub learners: BTreeMap<Sid, Entry>,
    pub handlers: BTreeMap<ConnId, Handler>,
    pub failure: Option<String>,
    /// The database until the server starts on it.
    pub db: Option<Db>,
    pub server: Option<Server>,
    /// The term has ended (`lead` returned) but handlers that were still reading
    /// FOLLOWERINFO live on: `lead` shuts down only the streams in `st.learners`.
    pub zombie: bool,
    /// Whether `leader.server` still upgrades for such a handler (client connections may
    /// still hold the server after `take_database` emptied its tree).
    pub server_alive: bool,
}

impl LeaderTerm {
    /// `lead`: the epoch files, then discovery counting this member first.
    pub fn start(me: Sid, db: Db, disk: &mut Disk, ctx: &mut Ctx) -> Result<Box<LeaderTerm>, (Option<Db>, End)> {
        let last = db.tree.zxid;
        let (current, accepted) = match disk.load_epochs(last) {
            Ok(e) => e,
            Err(e) => return Err((Some(db), End::Term(format!("reading the epoch files: {e}")))),
        };
        let (discovery, actions) =
            LeaderDiscovery::new(me, ctx.qv.clone(), accepted, current, last, 0, ctx.cfg.init_ms());
        let mut t = Box::new(LeaderTerm {
            me,
            started: ctx.now,
            discovery,
            phase: Phase::Discovery,
            newleader: None,
            bcast: None,
            serving: false,
            proposed: BTreeMap::new(),
            committed_log: db.committed_log.clone(),
            learners: BTreeMap::new(),
            handlers: BTreeMap::new(),
            failure: None,
            db: Some(db),
            server: None,
            zombie: false,
            server_alive: false,
        });
        ctx.log(|| format!("leads: accepted {accepted}, current {current}, last {}", hex(last)));
        if let Err(e) = t.discovery_actions(actions, disk, ctx) {
            let db = t.db.take();
            return Err((db, e));
        }
        Ok(t)
    }

    pub(super) fn now_rel(&self, ctx: &Ctx) -> i64 {
        ctx.now - self.started
    }

    pub fn epoch(&self) -> Option<i64> {
        self.discovery.epoch()
    }

    /// `send(st, to, p)`: through whatever connection `st.learners[to]` holds.
    pub(super) fn send(&self, to: Sid, p: QuorumPacket, ctx: &mut Ctx) {
        if let Some(e) = self.learners.get(&to) {
            ctx.fx.push(Fx::Send { conn: e.conn, from_leader: true, wire: Wire::Pkt(p) });
        }
    }

    pub(super) fn discovery_actions(
        &mut self,
        actions: Vec<LeaderAction>,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<(), End> {
        for a in actions {
            match a {
                LeaderAction::PersistAcceptedEpoch(e) => {
                    ctx.crash_point("leader: before writing acceptedEpoch")?;
                    disk.accepted_epoch = Some(e);
                }
                LeaderAction::Send { to, packet } => self.send(to, packet, ctx),
                LeaderAction::EpochAcknowledged(_) => {}
            }
        }
        Ok(())
    }

    /// `Leader::exec`: broadcast actions under the lock; returns the newest commit.
    pub(super) fn exec(&mut self, actions: Vec<BroadcastAction>, ctx: &mut Ctx) -> Option<i64> {
        let mut committed = None;
        for a in actions {
            match a {
                BroadcastAction::Send { to, packet } => self.send(to, packet, ctx),
                BroadcastAction::Commit(z) => {
                    committed = Some(z);
                    if let Some(t) = self.proposed.remove(&z) {
                        self.committed_log.push_back((z, t));
                        while self.committed_log.len() > ctx.cfg.commit_log_count {
                            self.committed_log.pop_front();
                        }
                        ctx.hist.on_commit(ctx.now, self.me, z, t);
                    }
                }
            }
        }
        committed
    }

    /// `Leader::commit`: the server applies what is durable here and committed; each
    /// applied write is answered to its client.
    pub(super) fn commit(&mut self, z: Option<i64>, ctx: &mut Ctx) {
        if let (Some(z), Some(server)) = (z, self.server.as_mut()) {
            for (az, t) in server.commit_up_to(z) {
                ctx.hist.on_ack(ctx.now, self.me, az, t);
            }
        }
    }

    /// `run_term`'s loop, woken by the condition variable.
    pub fn progress(&mut self, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        loop {
            if let Some(f) = &self.failure {
                return Err(End::Term(f.clone()));
            }
            match self.phase {
                Phase::Discovery => {
                    let Some(epoch) = self.discovery.epoch().filter(|_| self.discovery.is_acknowledged()) else {
                        return Ok(());
                    };
                    ctx.crash_point("leader: before writing currentEpoch")?;
                    disk.current_epoch = Some(epoch);
                    let start = zxid::make(epoch, 0);
                    let db = self.db.take().ok_or_else(|| End::Term("no database".into()))?;
                    let server =
                        Server::from_db(db, Some(start), disk, ctx.cfg.commit_log_count, ctx.cfg.snap_count, ctx.rng)
                            .map_err(|e| End::Term(format!("starting the leader's server: {e}")))?;
                    self.server = Some(server);
                    self.bcast = Some(LeaderBroadcast::new(self.me, ctx.qv.clone(), start));
                    let now_rel = self.now_rel(ctx);
                    self.newleader =
                        Some(NewLeaderPhase::new(self.me, ctx.qv.clone(), epoch, now_rel, ctx.cfg.init_ms()));
                    self.phase = Phase::Sync;
                    ctx.log(|| format!("epoch {epoch} acknowledged by a quorum; synchronising learners"));
                    let waiting: Vec<ConnId> =
                        self.handlers.iter().filter(|(_, h)| h.stage == Stage::WaitBcast).map(|(c, _)| *c).collect();
                    for c in waiting {
                        self.sync_learner(c, disk, ctx)?;
                    }
                }
                Phase::Sync => {
                    if !self.serving {
                        return Ok(());
                    }
                    let epoch = self.discovery.epoch().unwrap_or(-1);
                    let Some(server) = self.server.as_mut() else { return Err(End::Term("no server".into())) };
                    server.serving = true;
                    self.phase = Phase::Broadcast;
                    ctx.update_vote = Some(server.epoch);
                    ctx.log(|| format!("established epoch {epoch} at {}: serving", hex(server.tree.zxid)));
                    ctx.hist.on_establish(ctx.now, self.me, epoch, &server.tree);
                }
                Phase::Broadcast => return Ok(()),
            }
        }
    }

    /// Every half tick: `run_term`'s timeouts and PING loop, and each handler's read timeout
    /// (or its wait for the epoch's server).
    pub fn tick(&mut self, ctx: &mut Ctx) -> Result<(), End> {
        let now = ctx.now;
        let expired: Vec<(ConnId, &'static str)> = self
            .handlers
            .iter()
            .filter_map(|(c, h)| match h.stage {
                Stage::WaitBcast if now >= h.wait_until => Some((*c, "timed out waiting for the epoch")),
                Stage::WaitBcast => None,
                _ if now - h.last_read > h.timeout => Some((*c, "read timed out")),
                _ => None,
            })
            .collect();
        for (c, why) in expired {
            self.handler_end(c, why, ctx);
        }
        if self.zombie {
            return Ok(());
        }
        if let Some(f) = &self.failure {
            return Err(End::Term(f.clone()));
        }
        let now_rel = self.now_rel(ctx);
        match self.phase {
            Phase::Discovery => self.discovery.on_tick(now_rel).map_err(|e| End::Term(e.to_string())),
            Phase::Sync => match self.newleader.as_ref().map(|n| n.on_tick(now_rel)) {
                Some(Err(e)) => Err(End::Term(e.to_string())),
                _ => Ok(()),
            },
            Phase::Broadcast => {
                let last = self.bcast.as_ref().map(|b| b.last_committed()).unwrap_or(0);
                let mut synced = BTreeSet::new();
                synced.insert(self.me);
                for (sid, e) in &self.learners {
                    let p = QuorumPacket::new(packet::PING, last, None);
                    if !ctx.cfg.fixes.ping_after_sync || e.synced {
                        ctx.fx.push(Fx::Send { conn: e.conn, from_leader: true, wire: Wire::Pkt(p) });
                    } else {
                        ctx.hist.known_issue("PING to a learner before its sync packets (held back here)");
                    }
                    if e.in_broadcast && now - e.last_heard <= ctx.cfg.sync_ms() {
                        synced.insert(*sid);
                    }
                }
                if !ctx.qv.contains_quorum(&synced) {
                    let why = format!("not sufficient followers synced, only synced with sids: {synced:?}");
                    self.failure = Some(why.clone());
                    return Err(End::Term(why));
                }
                Ok(())
            }
        }
    }

    /// A client's write reaches the leader: prep assigns the next zxid, `propose` sends
    /// PROPOSAL (under the prep lock), then the txn goes to the sync thread. Returns the zxid.
    pub fn client_write(&mut self, t: TxnId, ctx: &mut Ctx) -> Result<Option<i64>, End> {
        if self.phase != Phase::Broadcast || !self.serving {
            return Ok(None);
        }
        let Some(b) = self.bcast.as_mut() else { return Ok(None) };
        let z = match b.next_zxid() {
            Ok(z) => z,
            Err(e) => {
                self.failure = Some(e.to_string());
                return Ok(None);
            }
        };
        let actions = match b.propose(z, encode(t)) {
            Ok(a) => a,
            Err(e) => {
                self.failure = Some(e.to_string());
                return Ok(None);
            }
        };
        self.proposed.insert(z, t);
        let c = self.exec(actions, ctx);
        self.commit(c, ctx);
        ctx.crash_point("leader: proposed, not yet handed to the log")?;
        if let Some(server) = self.server.as_mut() {
            if server.log_txn(z, t) {
                ctx.fx.push(Fx::Fsync);
            }
        }
        Ok(Some(z))
    }

    /// The sync thread fsynced a batch: `logged` — the leader's own ACKs.
    pub fn on_fsync(&mut self, disk: &mut Disk, ctx: &mut Ctx) {
        let Some(server) = self.server.as_mut() else { return };
        let batch = server.fsync(disk);
        let mut actions = Vec::new();
        if let Some(b) = self.bcast.as_mut() {
            for (z, _) in &batch {
                actions.extend(b.on_local_sync(*z));
            }
        }
        let c = self.exec(actions, ctx);
        self.commit(c, ctx);
        self.commit(Some(i64::MIN), ctx);
        if let Some(server) = self.server.as_mut() {
            server.maybe_snapshot(batch.len(), disk, ctx.rng);
            if !server.queue.is_empty() {
                server.fsync_scheduled = true;
                ctx.fx.push(Fx::Fsync);
            }
        }
    }

    /// The end of `lead`: the streams in `st.learners` shut down (a handler still reading
    /// FOLLOWERINFO is not there, and lives on against the ended term), the server stopped
    /// (its sync thread logs what it has), and the database for the next term.
    pub fn shutdown(&mut self, disk: &mut Disk, ctx: &mut Ctx) -> Option<Db> {
        for e in self.learners.values() {
            ctx.fx.push(Fx::Close { conn: e.conn, leader_side: true });
        }
        let all = ctx.cfg.fixes.handlers_end_with_term;
        if all && self.handlers.values().any(|h| h.stage == Stage::Hello) {
            ctx.hist.known_issue("a learner handler outlives its term (ended with it here)");
        }
        for (c, h) in &self.handlers {
            if (all || h.stage != Stage::Hello) && !self.learners.values().any(|e| e.conn == *c) {
                // Its entry was replaced: its thread ends on its own read error.
                ctx.fx.push(Fx::Close { conn: *c, leader_side: true });
            }
        }
        self.handlers.retain(|_, h| !all && h.stage == Stage::Hello);
        self.learners.clear();
        self.zombie = true;
        self.server_alive = ctx.cfg.zombie_server.unwrap_or_else(|| ctx.rng.below(2) == 0);
        match self.server.as_mut() {
            Some(s) => {
                s.stop(disk);
                Some(s.take_database())
            }
            None => self.db.take(),
        }
    }

    /// Serving clients (a quorum acknowledged NEWLEADER).
    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast && self.serving
    }
}
