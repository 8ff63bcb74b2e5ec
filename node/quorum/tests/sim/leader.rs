//! One epoch as leader, as `peer/leader.rs` runs it: the very engine the runtime runs
//! (`zab_quorum::leader::Leader`: discovery, one handler per learner connection, the sync
//! plans, NEWLEADER's quorum, broadcast, the PING loop, the step-down), its actions carried
//! out in order over the seeded disk and network. This driver owns the epoch's database
//! until the engine asks for the server (`StartServer`), then the server (`server.rs`):
//! a client's write is proposed to the engine and handed to the server's sync thread,
//! whose fsync gives the engine the leader's own ACKs (`logged`).
//!
//! A SNAP packet and the snapshot stream that follows it (`SendSnapshot`) travel as one
//! `Wire::Snap` carrying the applied tree. A crash may strike before acceptedEpoch and
//! currentEpoch are written, right after a SNAP stream went out, and between a proposal's
//! PROPOSALs and its hand-over to the log. Every commit is checked against the members'
//! disks (invariant 6, `Fx::Committed`).
//!
//! A leader hand-over (`Leader::hand_over`, asked by `World::hand_over`) is carried out as
//! `peer/leader.rs` does: the member's next epoch follows the one named
//! (`QuorumPeer::handed_over`). A crash may strike just after HANDOVER went out; the member
//! named must hold every committed txn on its disk then, and nothing commits after it
//! (invariant 8, `Fx::HandOverSent`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use zab_jute::quorum::{packet, QuorumPacket};
use zab_quorum::leader::{ConnId, Leader, LeaderAction, LeaderPhase, LeaderSettings, LogExtract};
use zab_quorum::verifier::QuorumMaj;

use super::disk::{Db, Disk};
use super::net::Wire;
use super::peer::{Ctx, End, Fx};
use super::server::Server;
use super::{decode, encode, hex, Sid, TxnId};

pub struct LeaderEpoch {
    pub me: Sid,
    pub engine: Leader,
    /// The database until the server starts on it.
    pub db: Option<Db>,
    pub server: Option<Server>,
    /// A SNAP packet waiting for its snapshot stream (`SendSnapshot`).
    snap: Option<(ConnId, QuorumPacket)>,
    /// The configurations each proposal needs a quorum of (invariant 6).
    quorums: BTreeMap<i64, Vec<Arc<QuorumMaj>>>,
    /// HANDOVER went out after this zxid (invariant 8: nothing is committed after it).
    handover_sent: Option<i64>,
}

impl LeaderEpoch {
    /// `lead`: the epoch files, then the engine's discovery, counting this member first.
    pub fn start(
        me: Sid,
        db: Db,
        last_seen: Option<Arc<QuorumMaj>>,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<Box<LeaderEpoch>, (Option<Db>, End)> {
        let last = db.tree.zxid;
        let (current, accepted) = match disk.load_epochs(last) {
            Ok(e) => e,
            Err(e) => return Err((Some(db), End::Epoch(format!("reading the epoch files: {e}")))),
        };
        let settings = LeaderSettings {
            myid: me,
            view: ctx.qv.clone(),
            init_ms: ctx.cfg.init_ms(),
            sync_ms: ctx.cfg.sync_ms(),
            commit_log_count: ctx.cfg.commit_log_count,
            cross_epoch_trunc: ctx.cfg.cross_epoch_trunc,
            reconfig_enabled: ctx.cfg.reconfig,
        };
        let window: VecDeque<_> = db.committed_log.iter().map(|(z, t)| (*z, encode(*t))).collect();
        let (mut engine, actions) = Leader::start(settings, accepted, current, last, window, ctx.now);
        // A reconfig logged here but never activated: this epoch completes it (ZOOKEEPER-1324).
        if let Some(view) = last_seen.filter(|v| ctx.cfg.reconfig && v.version > ctx.qv.version) {
            ctx.hist.count("a leader completes a reconfig it logged and never saw activate");
            engine.set_last_seen((*view).clone());
        }
        let mut t = Box::new(LeaderEpoch {
            me,
            engine,
            db: Some(db),
            server: None,
            snap: None,
            quorums: BTreeMap::new(),
            handover_sent: None,
        });
        ctx.log(|| format!("leads: accepted {accepted}, current {current}, last {}", hex(last)));
        match t.carry_out(actions, disk, ctx) {
            Ok(()) => Ok(t),
            Err(e) => Err((t.db.take(), e)),
        }
    }

    pub fn epoch(&self) -> Option<i64> {
        self.engine.epoch()
    }

    pub fn phase(&self) -> LeaderPhase {
        self.engine.phase()
    }

    /// Serving clients (a quorum acknowledged NEWLEADER).
    pub fn is_serving(&self) -> bool {
        self.engine.is_serving() && self.server.as_ref().is_some_and(|s| s.serving)
    }

    /// Whether learner `sid` is synchronised and in broadcast.
    pub fn in_broadcast(&self, sid: Sid) -> bool {
        self.engine.learners().iter().any(|l| l.sid == sid && l.in_broadcast)
    }

    fn send(conn: ConnId, wire: Wire, ctx: &mut Ctx) {
        ctx.fx.push(Fx::Send { conn, from_leader: true, wire });
    }

    /// Carries out the engine's actions in order; what an action's answer asks for
    /// (`server_started`, `sync_learner`) is carried out before the actions after it.
    fn carry_out(&mut self, actions: Vec<LeaderAction>, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let mut queue: VecDeque<LeaderAction> = actions.into();
        while let Some(a) = queue.pop_front() {
            let next = self.carry_out_one(a, disk, ctx)?;
            for a in next.into_iter().rev() {
                queue.push_front(a);
            }
        }
        Ok(())
    }

    fn carry_out_one(&mut self, a: LeaderAction, disk: &mut Disk, ctx: &mut Ctx) -> Result<Vec<LeaderAction>, End> {
        match a {
            LeaderAction::Send { conn, packet } if packet.packet_type == packet::SNAP => {
                self.snap = Some((conn, packet));
            }
            LeaderAction::Send { conn, packet } => Self::send(conn, Wire::Pkt(packet), ctx),
            LeaderAction::SendSnapshot { conn } => {
                let tree = self.server.as_ref().map(|s| s.tree.clone()).unwrap_or_default();
                if let Some((c, p)) = self.snap.take().filter(|(c, _)| *c == conn) {
                    Self::send(c, Wire::Snap(p, tree), ctx);
                }
                // A crash here: the learner may get the snapshot and never NEWLEADER
                // (ZOOKEEPER-3642).
                ctx.crash_point("leader: SNAP sent, NEWLEADER not yet")?;
            }
            LeaderAction::Close { conn } => ctx.fx.push(Fx::Close { conn, leader_side: true }),
            LeaderAction::PersistAcceptedEpoch(e) => {
                ctx.crash_point("leader: before writing acceptedEpoch")?;
                disk.accepted_epoch = Some(e);
            }
            LeaderAction::PersistCurrentEpoch(e) => {
                ctx.crash_point("leader: before writing currentEpoch")?;
                disk.current_epoch = Some(e);
            }
            LeaderAction::StartServer { start_zxid } => {
                let db = self.db.take().ok_or_else(|| End::Epoch("no database".into()))?;
                let server =
                    Server::from_db(db, Some(start_zxid), disk, ctx.cfg.commit_log_count, ctx.cfg.snap_count, ctx.rng)
                        .map_err(|e| End::Epoch(format!("starting the leader's server: {e}")))?;
                self.server = Some(server);
                let epoch = self.engine.epoch().unwrap_or(-1);
                ctx.log(|| format!("epoch {epoch} acknowledged by a quorum; synchronising learners"));
                return Ok(self.engine.server_started(ctx.now));
            }
            LeaderAction::PrepareSync { conn, read_log_from } => {
                let Some(server) = self.server.as_ref() else { return Err(End::Epoch("no server".into())) };
                let log = read_log_from.map(|from| LogExtract {
                    newest_snapshot: disk.snaps.keys().next_back().copied().unwrap_or(0),
                    // Every txn of the model weighs 8 bytes: "more than a third of the
                    // tree" is more than a third of the applied txns.
                    tree_size: server.tree.txns.len() as u64 * 8,
                    txns: disk.read_from(from).into_iter().map(|(z, t)| (z, encode(t))).collect(),
                });
                return Ok(self.engine.sync_learner(conn, server.tree.zxid, log));
            }
            LeaderAction::Synchronising { sid, mode, from_disk, with_proposals, outstanding } => {
                let suffix = if with_proposals { " with proposals" } else { "" };
                ctx.hist.count(&format!("sync {}{suffix}", mode.as_str()));
                if from_disk {
                    ctx.hist.count("sync from the log on disk");
                }
                if outstanding > 0 {
                    ctx.hist.count("sync with outstanding proposals");
                }
                let conn = self.engine.learners().iter().find(|l| l.sid == sid).map(|l| l.conn);
                if let Some(conn) = conn {
                    ctx.fx.push(Fx::SyncPlanned { conn, needed: ctx.hist.acked_len });
                }
                let at = self.server.as_ref().map_or(-1, |s| s.tree.zxid);
                ctx.log(|| {
                    format!("syncs {sid} ({}) at {}, {outstanding} outstanding proposals", mode.as_str(), hex(at))
                });
            }
            LeaderAction::StartServing => {
                let epoch = self.engine.epoch().unwrap_or(-1);
                let Some(server) = self.server.as_mut() else { return Err(End::Epoch("no server".into())) };
                server.serving = true;
                ctx.update_vote = Some(server.epoch);
                ctx.log(|| format!("established epoch {epoch} at {}: serving", hex(server.tree.zxid)));
                ctx.hist.on_establish(ctx.now, self.me, epoch, &server.tree);
            }
            LeaderAction::Committed { zxid, payload } => {
                if let Some(sent) = self.handover_sent {
                    let what = format!(
                        "leader {} committed {} after HANDOVER went out after {}",
                        self.me,
                        hex(zxid),
                        hex(sent)
                    );
                    ctx.hist.violation(ctx.now, what);
                }
                if let Some(data) = payload {
                    ctx.hist.on_commit(ctx.now, self.me, zxid, decode(&data));
                }
                let views = self.quorums.remove(&zxid).unwrap_or_else(|| vec![Arc::new(self.engine.config().clone())]);
                ctx.fx.push(Fx::Committed { zxid, views });
            }
            LeaderAction::CommitUpTo(z) => self.apply_up_to(z, ctx),
            LeaderAction::Activated { zxid, view, designated } => {
                ctx.log(|| {
                    format!("configuration {} in force, {} members, leader {designated}", hex(zxid), view.servers.len())
                });
                disk.config = Some(view.clone());
                if designated != self.me {
                    ctx.designated_next = Some((view, designated));
                }
            }
            // Sessions and forwarded requests are not in the model.
            LeaderAction::TouchSessions { .. } | LeaderAction::Forwarded { .. } | LeaderAction::Revalidate { .. } => {}
            LeaderAction::HandOverFailed { to, reason } => {
                ctx.hist.count("hand-over failed");
                ctx.log(|| format!("hand-over to {to} failed: {reason}"));
            }
            LeaderAction::HandOverSent { to, zxid } => {
                ctx.hist.count("hand-over sent");
                ctx.log(|| format!("HANDOVER to {to} sent after {}", hex(zxid)));
                self.handover_sent = Some(zxid);
                ctx.fx.push(Fx::HandOverSent { to, zxid });
                // The learners may follow `to` while this member is gone.
                ctx.rare_crash_point("leader: HANDOVER sent, epoch not ended")?;
            }
            LeaderAction::HandOverComplete { to } => {
                // The next epoch follows `to` without an election (the runtime's
                // `QuorumPeer::handed_over`).
                ctx.hist.count("hand-over complete");
                ctx.handed_over_to = Some(to);
                return Err(End::Epoch(format!("handed the leadership over to {to}")));
            }
        }
        Ok(Vec::new())
    }

    /// `commit_up_to`: the server applies what is durable here and committed; each
    /// applied write is answered to its client.
    fn apply_up_to(&mut self, z: i64, ctx: &mut Ctx) {
        if let Some(server) = self.server.as_mut() {
            for (az, t) in server.commit_up_to(z) {
                ctx.hist.on_ack(ctx.now, self.me, az, t);
            }
        }
    }

    /// Every half tick: the engine's timeouts, PINGs and quorum check.
    pub fn tick(&mut self, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let actions = self.engine.on_tick(ctx.now).map_err(|e| End::Epoch(e.to_string()))?;
        self.carry_out(actions, disk, ctx)
    }

    /// The acceptor took a new learner connection.
    pub fn on_accept(&mut self, conn: ConnId, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let actions = self.engine.on_accept(conn, ctx.now);
        self.carry_out(actions, disk, ctx)
    }

    /// A packet (or end of stream) from a learner connection.
    pub fn on_wire(&mut self, conn: ConnId, w: Wire, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let actions = match w {
            Wire::Pkt(p) => self.engine.on_packet(conn, p, ctx.now),
            Wire::Snap(..) => return Ok(()),
            Wire::Closed => self.engine.on_closed(conn),
        };
        self.carry_out(actions, disk, ctx)
    }

    /// A client's write reaches the leader: the next zxid, the PROPOSALs, then the txn goes
    /// to the sync thread. Returns the zxid.
    pub fn client_write(&mut self, t: TxnId, disk: &mut Disk, ctx: &mut Ctx) -> Result<Option<i64>, End> {
        if !self.is_serving() {
            return Ok(None);
        }
        // A refusal is kept by the engine and ends the epoch at its next tick.
        let Ok(z) = self.engine.next_zxid() else { return Ok(None) };
        let Ok(actions) = self.engine.propose(z, encode(t)) else { return Ok(None) };
        self.note_quorums(z);
        self.carry_out(actions, disk, ctx)?;
        self.hand_to_log(z, t, ctx)?;
        Ok(Some(z))
    }

    /// `POST /commands/handover`: the engine's `hand_over` and its first actions. None when
    /// this leader does not serve; the engine's refusal as an error.
    pub fn hand_over(
        &mut self,
        to: Option<Sid>,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<Option<Result<Sid, String>>, End> {
        if !self.is_serving() {
            return Ok(None);
        }
        match self.engine.hand_over(to, ctx.now) {
            Ok((to, actions)) => {
                ctx.hist.count("hand-over started");
                ctx.log(|| format!("hands its role over to {to}"));
                self.carry_out(actions, disk, ctx)?;
                Ok(Some(Ok(to)))
            }
            Err(e) => {
                ctx.hist.count("hand-over refused");
                ctx.log(|| format!("hand-over refused: {e}"));
                Ok(Some(Err(e.to_string())))
            }
        }
    }

    /// A client's reconfig (write `t`) to `members` (the version is its zxid): proposed as a
    /// reconfig txn. Returns the zxid, or None when the engine refuses (not serving, one in
    /// flight) — what a client would get as an error.
    pub fn client_reconfig(
        &mut self,
        t: TxnId,
        mut view: QuorumMaj,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<Option<i64>, End> {
        if !self.is_serving() || self.engine.next_config().is_some() {
            return Ok(None);
        }
        if ctx.cfg.wide_reconfigs && !self.engine.is_quorum_synced(&view) {
            return Ok(None); // NewConfigNoQuorum
        }
        let Ok(z) = self.engine.next_zxid() else { return Ok(None) };
        view.version = z;
        let payload = super::reconfig_txn(t, z, &view);
        let proposed = Arc::new(view.clone());
        let Ok(actions) = self.engine.propose_reconfig(z, payload, view) else { return Ok(None) };
        // Leader.propose: setLastSeenQuorumVerifier(request.qv, true), as the driver does.
        disk.next_config = Some(proposed.clone());
        ctx.saw_configs.push(proposed);
        self.note_quorums(z);
        ctx.log(|| format!("proposes reconfig {}", hex(z)));
        self.carry_out(actions, disk, ctx)?;
        self.hand_to_log(z, t, ctx)?;
        Ok(Some(z))
    }

    /// A proposal goes to the server's sync thread (a crash may strike just before).
    fn hand_to_log(&mut self, z: i64, t: TxnId, ctx: &mut Ctx) -> Result<(), End> {
        ctx.crash_point("leader: proposed, not yet handed to the log")?;
        if let Some(server) = self.server.as_mut() {
            if server.log_txn(z, t) {
                ctx.fx.push(Fx::Fsync);
            }
        }
        Ok(())
    }

    fn note_quorums(&mut self, z: i64) {
        let mut views = vec![Arc::new(self.engine.config().clone())];
        views.extend(self.engine.next_config().map(|v| Arc::new(v.clone())));
        self.quorums.insert(z, views);
    }

    /// The sync thread fsynced a batch: the engine's `logged` (the leader's own ACKs), then
    /// what was committed before it was durable here is applied.
    pub fn on_fsync(&mut self, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let Some(server) = self.server.as_mut() else { return Ok(()) };
        let batch = server.fsync(disk);
        let zxids: Vec<i64> = batch.iter().map(|(z, _)| *z).collect();
        let actions = self.engine.logged(&zxids);
        self.carry_out(actions, disk, ctx)?;
        self.apply_up_to(i64::MIN, ctx);
        if let Some(server) = self.server.as_mut() {
            server.maybe_snapshot(batch.len(), disk, ctx.rng);
            if !server.queue.is_empty() {
                server.fsync_scheduled = true;
                ctx.fx.push(Fx::Fsync);
            }
        }
        Ok(())
    }

    /// The end of `lead`: the engine closes every learner connection, the server stops
    /// (its sync thread logs what it has), and the database goes to the next epoch.
    pub fn shutdown(&mut self, disk: &mut Disk, ctx: &mut Ctx) -> Option<Db> {
        let learners: Vec<ConnId> = self.engine.learners().iter().map(|l| l.conn).collect();
        for a in self.engine.end() {
            if let LeaderAction::Close { conn } = a {
                if !learners.contains(&conn) {
                    ctx.hist.count("a connection still reading FOLLOWERINFO closed with its epoch");
                }
                ctx.fx.push(Fx::Close { conn, leader_side: true });
            }
        }
        match self.server.as_mut() {
            Some(s) => {
                s.stop(disk);
                Some(s.take_database())
            }
            None => self.db.take(),
        }
    }
}
