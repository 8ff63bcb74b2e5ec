//! One epoch as follower, as `peer/learner.rs` runs it: connect (retrying every 10 ms for
//! the first 200 ms, then every 100 ms, within initLimit), then the very engine the runtime
//! runs (`zab_quorum::learner::Learner`), its actions carried out in order over the seeded
//! disk and network: TRUNC reloads the database from disk; SNAP holds the streamed tree
//! until TakeSnapshot; before NEWLEADER's server exists txns are logged and applied
//! directly, after it through the server, whose sync thread ACKs them.
//!
//! A crash may strike between any two actions of synchronisation (`Ctx::crash_point`).

use std::collections::VecDeque;

use zab_jute::quorum::{packet, QuorumPacket};
use zab_quorum::learner::{Learner, LearnerAction, LearnerError, LearnerSettings};
use zab_quorum::zxid;

use super::disk::{Db, Disk, Tree};
use super::net::{ConnId, Wire};
use super::peer::{Ctx, End, Fx};
use super::server::Server;
use super::{decode, hex, Sid, TxnId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `connect`'s loop: attempts until `deadline`.
    Connecting {
        deadline: i64,
        tries: u32,
    },
    /// Waiting for LEADERINFO.
    Discovery,
    Sync,
    Broadcast,
}

pub struct LearnerEpoch {
    pub me: Sid,
    pub leader: Sid,
    pub stage: Stage,
    pub conn: Option<ConnId>,
    /// The engine, once connected.
    pub engine: Option<Learner>,
    pub last_zxid: i64,
    /// The database (None after SNAP until TakeSnapshot: the next epoch then loads it from
    /// disk) and the streamed one.
    pub db: Option<Db>,
    pub snapped: Option<Db>,
    pub server: Option<Server>,
    /// NEWLEADER's ACK went out (the next epoch ACK is UPTODATE's).
    pub acked_newleader: bool,
}

/// What a learner-side failure is: anomalies are protocol errors that a correct ensemble
/// should not produce (they only end the epoch, so they are counted, not failed on).
pub fn classify(reason: &str) -> Option<String> {
    if !(reason.starts_with("sync:") || reason.starts_with("broadcast:") || reason.starts_with("discovery:")) {
        return None;
    }
    // The kind of error, without its zxids.
    let words: Vec<&str> = reason.split_whitespace().filter(|w| !w.trim_start_matches('(').starts_with("0x")).collect();
    Some(words.join(" "))
}

fn ended(e: LearnerError, ctx: &mut Ctx) -> End {
    if e.makes_truncation_unsafe() {
        ctx.trunc_unsafe = true;
    }
    End::Epoch(e.to_string())
}

impl LearnerEpoch {
    pub fn start(me: Sid, leader: Sid, db: Db, ctx: &mut Ctx) -> Box<LearnerEpoch> {
        let deadline = ctx.now + ctx.cfg.init_ms().max(1000);
        ctx.fx.push(Fx::Connect { leader });
        Box::new(LearnerEpoch {
            me,
            leader,
            stage: Stage::Connecting { deadline, tries: 1 },
            conn: None,
            engine: None,
            last_zxid: db.tree.zxid,
            db: Some(db),
            snapped: None,
            server: None,
            acked_newleader: false,
        })
    }

    /// `connect`'s attempt ended: a connection, or a refusal (`unreachable`: the 1 s
    /// connect timeout ran out first).
    pub fn on_connect(
        &mut self,
        conn: Option<ConnId>,
        unreachable: bool,
        protocol_version: i32,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<(), End> {
        let Stage::Connecting { deadline, tries } = self.stage else { return Ok(()) };
        let Some(conn) = conn else {
            // connect_timeout(1 s) when unreachable, then a pause: 10 ms for the first 20
            // tries, 100 ms after.
            let pause = if tries < 20 { 10 } else { 100 };
            let next_try = ctx.now + if unreachable { 1000 } else { 0 } + pause;
            if next_try >= deadline {
                return Err(End::Epoch(format!("cannot connect to the leader {} within initLimit", self.leader)));
            }
            self.stage = Stage::Connecting { deadline, tries: tries + 1 };
            ctx.fx.push(Fx::ConnectAt { leader: self.leader, at: next_try });
            return Ok(());
        };
        self.conn = Some(conn);
        // run_epoch(): the epoch files, then the engine's FOLLOWERINFO.
        let (current, accepted) =
            disk.load_epochs(self.last_zxid).map_err(|e| End::Epoch(format!("epoch files: {e}")))?;
        let settings = LearnerSettings {
            myid: self.me,
            observer: false,
            config_version: ctx.qv.version,
            protocol_version,
            init_ms: ctx.cfg.init_ms(),
            sync_ms: ctx.cfg.sync_ms(),
            counter_skip: None,
            leader: self.leader,
            view: std::sync::Arc::new(ctx.qv.clone()),
            reconfig_enabled: ctx.cfg.reconfig,
        };
        let (engine, hello) = Learner::start(settings, current, accepted, self.last_zxid, ctx.now);
        self.engine = Some(engine);
        self.stage = Stage::Discovery;
        self.carry_out(hello, None, disk, ctx)
    }

    fn send(&self, p: QuorumPacket, ctx: &mut Ctx) {
        if let Some(conn) = self.conn {
            ctx.fx.push(Fx::Send { conn, from_leader: false, wire: Wire::Pkt(p) });
        }
    }

    pub fn tick(&mut self, ctx: &mut Ctx) -> Result<(), End> {
        match (self.stage, self.engine.as_ref()) {
            (Stage::Connecting { deadline, .. }, _) if ctx.now >= deadline => {
                Err(End::Epoch(format!("cannot connect to the leader {} within initLimit", self.leader)))
            }
            (_, Some(engine)) => engine.on_tick(ctx.now).map_err(|e| ended(e, ctx)),
            _ => Ok(()),
        }
    }

    pub fn on_wire(&mut self, w: Wire, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let (p, body) = match w {
            Wire::Closed => return Err(End::Epoch("reading from the leader: end of stream".into())),
            Wire::Pkt(p) => (p, None),
            Wire::Snap(p, t) => (p, Some(t)),
        };
        let Some(engine) = self.engine.as_mut() else { return Ok(()) };
        let newleader_config = (p.packet_type == packet::NEWLEADER && ctx.cfg.reconfig)
            .then(|| p.data.as_deref().and_then(|d| std::str::from_utf8(d).ok()))
            .flatten()
            .and_then(|t| zab_quorum::reconfig::parse_config(t).ok());
        let actions = engine.on_packet(p, ctx.now).map_err(|e| ended(e, ctx))?;
        if let Some(view) =
            newleader_config.filter(|v| ctx.cfg.fixes.newleader_config_seen && v.version > ctx.qv.version)
        {
            // Learner.syncWithLeader, NEWLEADER: setLastSeenQuorumVerifier(qv, true).
            ctx.hist.count("a learner remembers NEWLEADER's newer configuration as the last seen");
            let view = std::sync::Arc::new(view);
            disk.next_config = Some(view.clone());
            ctx.saw_configs.push(view);
        }
        self.carry_out(actions, body, disk, ctx)
    }

    /// Carries out the engine's actions in order; during synchronisation the member may
    /// crash before each one.
    fn carry_out(
        &mut self,
        actions: Vec<LearnerAction>,
        body: Option<Tree>,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<(), End> {
        let syncing = !self.engine.as_ref().is_some_and(|e| e.in_broadcast()) || self.stage != Stage::Broadcast;
        let mut queue: VecDeque<LearnerAction> = actions.into();
        while let Some(a) = queue.pop_front() {
            if syncing {
                if let Some(label) = label(&a) {
                    ctx.crash_point(label)?;
                }
            }
            match a {
                LearnerAction::Send(p) => {
                    self.check_durable(&p, disk, ctx);
                    self.send(p, ctx)
                }
                LearnerAction::PersistAcceptedEpoch(e) => disk.accepted_epoch = Some(e),
                LearnerAction::Truncate(z) => {
                    disk.truncate_with_snapshots(z);
                    ctx.forget_configs_after = Some(z);
                    self.db = None;
                    let db = disk
                        .restore(ctx.cfg.commit_log_count)
                        .map_err(|e| End::Epoch(format!("loading after TRUNC: {e}")))?;
                    let now_at = db.tree.zxid;
                    self.db = Some(db);
                    let engine = self.engine.as_mut().ok_or_else(|| End::Epoch("no engine".into()))?;
                    queue.extend(engine.truncated(now_at).map_err(|e| ended(e, ctx))?);
                }
                LearnerAction::LoadSnapshot(z) => {
                    let mut tree = body.clone().ok_or_else(|| End::Epoch("reading the snapshot: no stream".into()))?;
                    tree.zxid = z;
                    ctx.forget_configs_after = Some(z);
                    self.db = None;
                    self.snapped = Some(Db { tree, committed_log: Default::default(), snapshot: None });
                }
                LearnerAction::InitConfigNode => {}
                LearnerAction::TakeSnapshot => {
                    if let Some(fresh) = self.snapped.take() {
                        self.db = Some(fresh);
                    }
                    let d = self.db.as_ref().ok_or_else(|| End::Epoch("no database to snapshot".into()))?;
                    disk.snapshot(&d.tree);
                    ctx.crash_point("learner: after TakeSnapshot")?;
                }
                LearnerAction::LogDirect(txns) => {
                    let entries: Vec<(i64, TxnId)> = txns.iter().map(|(z, d)| (*z, decode(d))).collect();
                    // A crash in the middle leaves a prefix of the batch in the file.
                    if ctx.crash_now("learner: during LogAndSync") {
                        let k = ctx.rng.below(entries.len() as u64 + 1) as usize;
                        write_file(disk, &entries[..k]);
                        return Err(End::Crash(Default::default()));
                    }
                    write_file(disk, &entries);
                    for (_, t) in &entries {
                        saw_reconfig(*t, disk, ctx);
                    }
                }
                LearnerAction::ApplyDirect { zxid, data } => {
                    let d = self.db.as_mut().ok_or_else(|| End::Epoch("no database".into()))?;
                    let t = decode(&data);
                    d.tree.apply(zxid, t);
                    d.committed_log.push_back((zxid, t));
                    while d.committed_log.len() > ctx.cfg.commit_log_count {
                        d.committed_log.pop_front();
                    }
                }
                LearnerAction::PersistCurrentEpoch(e) => disk.current_epoch = Some(e),
                LearnerAction::StartServer { adopted } => {
                    let d = self.db.take().ok_or_else(|| End::Epoch("no database".into()))?;
                    let mut s = Server::from_db(d, None, disk, ctx.cfg.commit_log_count, ctx.cfg.snap_count, ctx.rng)
                        .map_err(End::Epoch)?;
                    let adopted: Vec<(i64, TxnId)> = adopted.iter().map(|(z, d)| (*z, decode(d))).collect();
                    s.adopt(&adopted);
                    self.server = Some(s);
                }
                LearnerAction::Log { zxid, data } => {
                    saw_reconfig(decode(&data), disk, ctx);
                    if let Some(s) = self.server.as_mut() {
                        if s.log_txn(zxid, decode(&data)) {
                            ctx.fx.push(Fx::Fsync);
                        }
                    }
                    if !syncing {
                        ctx.crash_point("learner: proposal handed to the log")?;
                    }
                }
                LearnerAction::CommitUpTo(z) => {
                    if let Some(s) = self.server.as_mut() {
                        let _ = s.commit_up_to(z);
                    }
                }
                LearnerAction::StartServing => {
                    let s = self.server.as_mut().ok_or_else(|| End::Epoch("UPTODATE before NEWLEADER".into()))?;
                    s.serving = true;
                    ctx.update_vote = Some(s.epoch);
                    let mode = self.engine.as_ref().map_or("?", |e| e.sync_mode().as_str());
                    let at = s.tree.zxid;
                    ctx.log(|| format!("synchronised with {} ({mode}) at {}; serving", self.leader, hex(at)));
                }
                LearnerAction::AnswerPing(p) => {
                    self.send(QuorumPacket::new(packet::PING, p.zxid, Some(Vec::new())), ctx);
                }
                LearnerAction::SyncDone | LearnerAction::Revalidated { .. } => {}
                LearnerAction::Activate { zxid, view, designated, leave } => {
                    ctx.log(|| format!("configuration {} in force (leave: {leave})", hex(zxid)));
                    disk.config = Some(view.clone());
                    if leave {
                        if let Some(d) = designated {
                            ctx.designated_next = Some((view, d));
                        }
                        return Err(End::Epoch("a reconfiguration changed this member's role or leader".into()));
                    }
                }
                LearnerAction::HandedOver { to } => {
                    // Read in broadcast, where the crash points of synchronisation are off.
                    ctx.rare_crash_point("learner: HANDOVER read, before following the member it names")?;
                    ctx.hist.count(if to == self.me {
                        "HANDOVER read by the member it names"
                    } else {
                        "HANDOVER read"
                    });
                    ctx.handed_over_to = Some(to);
                    return Err(End::Epoch(format!("the leader handed its role over to {to}")));
                }
            }
        }
        let Some(engine) = self.engine.as_ref() else { return Ok(()) };
        if engine.in_broadcast() && self.stage != Stage::Broadcast {
            self.stage = Stage::Broadcast;
            if let Some(conn) = self.conn {
                ctx.fx.push(Fx::Synced { conn });
            }
        } else if engine.leader_epoch().is_some() && self.stage == Stage::Discovery {
            self.stage = Stage::Sync;
        }
        Ok(())
    }

    /// Invariant 5 (`check.rs`): an ACK leaves only for what this member's disk holds.
    fn check_durable(&mut self, p: &QuorumPacket, disk: &Disk, ctx: &mut Ctx) {
        if p.packet_type != packet::ACK {
            return;
        }
        if zxid::counter(p.zxid) != 0 {
            return check_durable_proposal(p.zxid, disk, ctx);
        }
        // NEWLEADER's ACK: the new epoch and the synchronised history; UPTODATE's: the
        // epoch (what came after NEWLEADER is ACKed one by one).
        let epoch = zxid::epoch(p.zxid);
        let first = !std::mem::replace(&mut self.acked_newleader, true);
        let wanted = if first { self.engine.as_ref().map_or(-1, |e| e.last_received()) } else { -1 };
        let held = disk.restore(ctx.cfg.commit_log_count).map_or(-1, |d| d.tree.zxid);
        if disk.current_epoch != Some(epoch) || held < wanted {
            let what = format!(
                "member {} ACKs epoch {epoch} with currentEpoch {:?} and its disk at {} (synchronised up to {})",
                self.me,
                disk.current_epoch,
                hex(held),
                hex(wanted)
            );
            ctx.hist.violation(ctx.now, what);
        }
    }

    /// The sync thread fsynced a batch: the engine's `Acker` ACKs each txn, then what is
    /// committed is applied.
    pub fn on_fsync(&mut self, disk: &mut Disk, ctx: &mut Ctx) {
        let Some(server) = self.server.as_mut() else { return };
        let batch = server.fsync(disk);
        let zxids: Vec<i64> = batch.iter().map(|(z, _)| *z).collect();
        if let (Some(conn), Some(engine)) = (self.conn, self.engine.as_ref()) {
            for ack in engine.acker().acks(&zxids) {
                check_durable_proposal(ack.zxid, disk, ctx);
                ctx.fx.push(Fx::Send { conn, from_leader: false, wire: Wire::Pkt(ack) });
            }
        }
        let _ = server.commit_up_to(i64::MIN);
        server.maybe_snapshot(batch.len(), disk, ctx.rng);
        if !server.queue.is_empty() {
            server.fsync_scheduled = true;
            ctx.fx.push(Fx::Fsync);
        }
    }

    /// The end of `follow`: the stream shut down, the server stopped, and the database for
    /// the next epoch (None: load it from disk).
    pub fn shutdown(&mut self, disk: &mut Disk, ctx: &mut Ctx) -> Option<Db> {
        if let Some(conn) = self.conn.take() {
            ctx.fx.push(Fx::Close { conn, leader_side: false });
        }
        match self.server.as_mut() {
            Some(s) => {
                s.stop(disk);
                Some(s.take_database())
            }
            None => self.db.take(),
        }
    }

    pub fn is_serving(&self) -> bool {
        self.server.as_ref().is_some_and(|s| s.serving)
    }
}

/// A proposal's ACK leaves only once the txn is in this member's log.
fn check_durable_proposal(z: i64, disk: &Disk, ctx: &mut Ctx) {
    if disk.read_from(z).first().is_none_or(|(e, _)| *e != z) {
        let what = format!("member {} ACKs {} before its log holds it", ctx.sid, hex(z));
        ctx.hist.violation(ctx.now, what);
    }
}

/// A txn this learner logs: a reconfig's configuration is the last seen (the runtime's
/// `activate::saw_reconfig`: `.dynamic.next`, and `PeerInfo::last_seen` through the step).
fn saw_reconfig(t: TxnId, disk: &mut Disk, ctx: &mut Ctx) {
    if !ctx.cfg.reconfig {
        return;
    }
    if let Some(view) = super::reconfig_view(t) {
        let view = std::sync::Arc::new(view);
        disk.next_config = Some(view.clone());
        ctx.saw_configs.push(view);
    }
}

/// A new `TxnLogWriter`: a new file named after its first txn, written and fsynced.
fn write_file(disk: &mut Disk, entries: &[(i64, TxnId)]) {
    if let Some(first) = entries.first() {
        let id = disk.open_file(first.0);
        disk.append(id, entries);
    }
}

/// The crash point before each action of synchronisation.
fn label(a: &LearnerAction) -> Option<&'static str> {
    Some(match a {
        LearnerAction::PersistAcceptedEpoch(_) => "learner: before writing acceptedEpoch",
        LearnerAction::Truncate(_) => "learner: before Truncate",
        LearnerAction::LoadSnapshot(_) => "learner: before LoadSnapshot",
        LearnerAction::TakeSnapshot => "learner: before TakeSnapshot",
        LearnerAction::LogDirect(_) | LearnerAction::Log { .. } => "learner: before LogAndSync",
        LearnerAction::ApplyDirect { .. } | LearnerAction::CommitUpTo(_) => "learner: before Apply",
        LearnerAction::PersistCurrentEpoch(_) => "learner: before writing currentEpoch",
        LearnerAction::StartServer { .. } => "learner: after writing currentEpoch",
        LearnerAction::Send(p) if p.packet_type == packet::ACK && zxid::counter(p.zxid) == 0 => {
            "learner: before ACK of NEWLEADER/UPTODATE"
        }
        LearnerAction::Send(p)
            if matches!(p.packet_type, packet::FOLLOWERINFO | packet::OBSERVERINFO | packet::ACKEPOCH) =>
        {
            return None
        }
        LearnerAction::Send(_) => "learner: before Send",
        LearnerAction::StartServing => "learner: before StartServing",
        LearnerAction::Activate { .. } => "learner: before activating a configuration",
        LearnerAction::InitConfigNode
        | LearnerAction::HandedOver { .. }
        | LearnerAction::AnswerPing(_)
        | LearnerAction::SyncDone
        | LearnerAction::Revalidated { .. } => return None,
    })
}
