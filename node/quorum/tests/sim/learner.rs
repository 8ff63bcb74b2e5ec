//! One term as follower, as `peer/learner.rs` runs it: connect (retrying every 10 ms for
//! the first 200 ms, then every 100 ms, within initLimit), FOLLOWERINFO / LEADERINFO / ACKEPOCH, `LearnerSync`'s actions carried
//! out in order (TRUNC reloads the database from disk; SNAP holds the streamed tree until
//! TakeSnapshot; before NEWLEADER's server exists txns are logged and applied directly,
//! after it through the server, whose sync thread ACKs them), then `FollowerBroadcast`.
//!
//! A crash may strike between any two actions (`Ctx::crash_point`).

use std::collections::{BTreeMap, BTreeSet};

use zab_jute::quorum::{packet, QuorumPacket, PROTOCOL_VERSION, ZAB_PROTOCOL_VERSION};
use zab_quorum::discovery::LearnerDiscovery;
use zab_quorum::follower::{FollowerAction, FollowerBroadcast};
use zab_quorum::learner_sync::{LearnerSync, SyncAction};
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

pub struct LearnerTerm {
    pub me: Sid,
    pub leader: Sid,
    pub stage: Stage,
    pub conn: Option<ConnId>,
    pub disc: Option<LearnerDiscovery>,
    pub sync: Option<LearnerSync>,
    pub last_zxid: i64,
    /// The database (None after SNAP until TakeSnapshot: the next term then loads it from
    /// disk) and the streamed one.
    pub db: Option<Db>,
    pub snapped: Option<Db>,
    pub collected: BTreeMap<i64, TxnId>,
    pub after_newleader: Vec<i64>,
    /// Proposals logged at NEWLEADER whose COMMIT had not come (`adopt_logged`).
    pub adopted: Vec<i64>,
    pub applied_after: BTreeSet<i64>,
    pub server: Option<Server>,
    pub fb: Option<FollowerBroadcast>,
    pub last_read: i64,
    pub timeout: i64,
    pub mode: &'static str,
}

/// What a learner-side failure is: anomalies are protocol errors that a correct ensemble
/// should not produce (they only end the term, so they are counted, not failed on).
pub fn classify(reason: &str) -> Option<String> {
    if !(reason.starts_with("sync:") || reason.starts_with("broadcast:") || reason.starts_with("discovery:")) {
        return None;
    }
    // The kind of error, without its zxids.
    let words: Vec<&str> = reason.split_whitespace().filter(|w| !w.trim_start_matches('(').starts_with("0x")).collect();
    Some(words.join(" "))
}

impl LearnerTerm {
    pub fn start(me: Sid, leader: Sid, db: Db, ctx: &mut Ctx) -> Box<LearnerTerm> {
        let deadline = ctx.now + ctx.cfg.init_ms().max(1000);
        ctx.fx.push(Fx::Connect { leader });
        Box::new(LearnerTerm {
            me,
            leader,
            stage: Stage::Connecting { deadline, tries: 1 },
            conn: None,
            disc: None,
            sync: None,
            last_zxid: db.tree.zxid,
            db: Some(db),
            snapped: None,
            collected: BTreeMap::new(),
            after_newleader: Vec::new(),
            adopted: Vec::new(),
            applied_after: BTreeSet::new(),
            server: None,
            fb: None,
            last_read: ctx.now,
            timeout: ctx.cfg.init_ms(),
            mode: "DIFF",
        })
    }

    /// `connect`'s attempt ended: a connection, or a refusal (`unreachable`: the 1 s
    /// connect timeout ran out first).
    pub fn on_connect(
        &mut self,
        conn: Option<ConnId>,
        unreachable: bool,
        trunc_safe: bool,
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
                return Err(End::Term(format!("cannot connect to the leader {} within initLimit", self.leader)));
            }
            self.stage = Stage::Connecting { deadline, tries: tries + 1 };
            ctx.fx.push(Fx::ConnectAt { leader: self.leader, at: next_try });
            return Ok(());
        };
        self.conn = Some(conn);
        self.last_read = ctx.now;
        self.timeout = ctx.cfg.init_ms();
        // term(): the epoch files, FOLLOWERINFO.
        let (current, accepted) =
            disk.load_epochs(self.last_zxid).map_err(|e| End::Term(format!("epoch files: {e}")))?;
        let disc = LearnerDiscovery {
            myid: self.me,
            accepted_epoch: accepted,
            current_epoch: current,
            last_logged_zxid: self.last_zxid,
        };
        let version = if trunc_safe { ZAB_PROTOCOL_VERSION } else { PROTOCOL_VERSION };
        self.send(disc.hello_as(false, ctx.qv.version, version), ctx);
        self.disc = Some(disc);
        self.stage = Stage::Discovery;
        Ok(())
    }

    fn send(&self, p: QuorumPacket, ctx: &mut Ctx) {
        if let Some(conn) = self.conn {
            ctx.fx.push(Fx::Send { conn, from_leader: false, wire: Wire::Pkt(p) });
        }
    }

    pub fn tick(&mut self, ctx: &mut Ctx) -> Result<(), End> {
        match self.stage {
            Stage::Connecting { deadline, .. } if ctx.now >= deadline => {
                Err(End::Term(format!("cannot connect to the leader {} within initLimit", self.leader)))
            }
            Stage::Connecting { .. } => Ok(()),
            _ if ctx.now - self.last_read > self.timeout => {
                Err(End::Term(format!("reading from the leader: timed out ({} ms)", self.timeout)))
            }
            _ => Ok(()),
        }
    }

    pub fn on_wire(&mut self, w: Wire, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        self.last_read = ctx.now;
        let (p, body) = match w {
            Wire::Closed => return Err(End::Term("reading from the leader: end of stream".into())),
            Wire::Pkt(p) => (p, None),
            Wire::Snap(p, t) => (p, Some(t)),
        };
        match self.stage {
            Stage::Connecting { .. } => Ok(()),
            Stage::Discovery => self.on_leader_info(p, disk, ctx),
            Stage::Sync => self.on_sync_packet(p, body, disk, ctx),
            Stage::Broadcast => self.on_broadcast_packet(p, disk, ctx),
        }
    }

    fn on_leader_info(&mut self, p: QuorumPacket, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let Some(disc) = self.disc.as_mut() else { return Ok(()) };
        let (persist, ack) = disc.on_leader_info(&p).map_err(|e| End::Term(format!("discovery: {e}")))?;
        if let Some(e) = persist {
            ctx.crash_point("learner: before writing acceptedEpoch")?;
            disk.accepted_epoch = Some(e);
        }
        self.send(ack, ctx);
        let new_epoch = zxid::epoch(p.zxid);
        self.sync = Some(LearnerSync::new(self.last_zxid, new_epoch));
        self.stage = Stage::Sync;
        Ok(())
    }

    fn on_sync_packet(
        &mut self,
        p: QuorumPacket,
        body: Option<Tree>,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<(), End> {
        let Some(sync) = self.sync.as_mut() else { return Ok(()) };
        let actions = sync
            .on_packet(&p)
            .map_err(|e| End::Term(format!("sync: {e} (packet type {}, zxid {})", p.packet_type, hex(p.zxid))))?;
        let mut skip_ack = BTreeSet::new();
        for a in actions {
            ctx.crash_point(label(&a))?;
            match a {
                SyncAction::Truncate(z) => {
                    self.mode = "TRUNC";
                    disk.truncate_with_snapshots(z);
                    self.db = None;
                    let db = disk
                        .restore(ctx.cfg.commit_log_count)
                        .map_err(|e| End::Term(format!("loading after TRUNC: {e}")))?;
                    let now_at = db.tree.zxid;
                    self.db = Some(db);
                    if now_at != z {
                        ctx.trunc_unsafe = true;
                        return Err(End::Term(format!(
                            "after truncating to {} the database is at {} (no snapshot old enough)",
                            hex(z),
                            hex(now_at)
                        )));
                    }
                }
                SyncAction::LoadSnapshot(z) => {
                    self.mode = "SNAP";
                    let mut tree = body.clone().ok_or_else(|| End::Term("reading the snapshot: no stream".into()))?;
                    tree.zxid = z;
                    self.db = None;
                    self.snapped = Some(Db { tree, committed_log: Default::default(), snapshot: None });
                }
                SyncAction::TakeSnapshot => {
                    if let Some(fresh) = self.snapped.take() {
                        self.db = Some(fresh);
                    }
                    let d = self.db.as_ref().ok_or_else(|| End::Term("no database to snapshot".into()))?;
                    disk.snapshot(&d.tree);
                    ctx.crash_point("learner: after TakeSnapshot")?;
                }
                SyncAction::LogAndSync(txns) => match self.server.as_mut() {
                    None => {
                        let entries: Vec<(i64, TxnId)> = txns.iter().map(|(z, d)| (*z, decode(d))).collect();
                        // A crash in the middle leaves a prefix of the batch in the file.
                        let written = if ctx.crash_now("learner: during LogAndSync") {
                            let k = ctx.rng.below(entries.len() as u64 + 1) as usize;
                            write_file(disk, &entries[..k]);
                            return Err(End::Crash(Default::default()));
                        } else {
                            entries
                        };
                        write_file(disk, &written);
                        for (z, t) in written {
                            self.collected.insert(z, t);
                        }
                    }
                    Some(s) => {
                        for (z, d) in txns {
                            if s.log_txn(z, decode(&d)) {
                                ctx.fx.push(Fx::Fsync);
                            }
                            self.after_newleader.push(z);
                            skip_ack.insert(z);
                        }
                    }
                },
                SyncAction::Apply(z) => match self.server.as_mut() {
                    None => {
                        let d = self.db.as_mut().ok_or_else(|| End::Term("no database".into()))?;
                        let t = self
                            .collected
                            .remove(&z)
                            .ok_or_else(|| End::Term(format!("no txn {} to apply", hex(z))))?;
                        d.tree.apply(z, t);
                        if ctx.cfg.fixes.window_has_sync_txns {
                            ctx.hist.known_issue("txns applied during sync left out of the DIFF window (added here)");
                            d.committed_log.push_back((z, t));
                            while d.committed_log.len() > ctx.cfg.commit_log_count {
                                d.committed_log.pop_front();
                            }
                        }
                    }
                    Some(s) => {
                        let _ = s.commit_up_to(z);
                        self.applied_after.insert(z);
                    }
                },
                SyncAction::PersistCurrentEpoch(e) => {
                    disk.current_epoch = Some(e);
                    ctx.crash_point("learner: after writing currentEpoch")?;
                    let d = self.db.take().ok_or_else(|| End::Term("no database".into()))?;
                    let mut s = Server::from_db(d, None, disk, ctx.cfg.commit_log_count, ctx.cfg.snap_count, ctx.rng)
                        .map_err(End::Term)?;
                    // Proposals logged above whose COMMIT is still to come.
                    let rest: Vec<(i64, TxnId)> = std::mem::take(&mut self.collected).into_iter().collect();
                    self.after_newleader.extend(rest.iter().map(|(z, _)| *z));
                    self.adopted = rest.iter().map(|(z, _)| *z).collect();
                    s.adopt(&rest);
                    self.server = Some(s);
                }
                SyncAction::Send(p) => {
                    if !(p.packet_type == packet::ACK && skip_ack.contains(&p.zxid)) {
                        self.send(p, ctx);
                    }
                }
                SyncAction::StartServing => {
                    let s = self.server.as_mut().ok_or_else(|| End::Term("UPTODATE before NEWLEADER".into()))?;
                    s.serving = true;
                    ctx.update_vote = Some(s.epoch);
                    let (mode, at) = (self.mode, s.tree.zxid);
                    ctx.log(|| format!("synchronised with {} ({mode}) at {}; serving", self.leader, hex(at)));
                }
            }
        }
        if self.sync.as_ref().is_some_and(|s| s.done()) {
            let server =
                self.server.as_ref().ok_or_else(|| End::Term("synchronisation ended without a server".into()))?;
            self.timeout = ctx.cfg.sync_ms();
            let pending: Vec<i64> =
                self.after_newleader.iter().copied().filter(|z| !self.applied_after.contains(z)).collect();
            self.fb = Some(FollowerBroadcast::with_pending(server.hzxid, false, pending.clone()));
            self.stage = Stage::Broadcast;
            // The runtime never ACKs the proposals it adopted at NEWLEADER, so a proposal
            // that needs this member's ACK for its quorum never commits, and every later
            // proposal waits behind it. ZooKeeper logs them after UPTODATE through its
            // SyncRequestProcessor, which ACKs them (`Learner.syncWithLeader`); unless the
            // run is strict, do as ZooKeeper does so the run can go on.
            let unacked: Vec<i64> = self.adopted.iter().copied().filter(|z| pending.contains(z)).collect();
            if !unacked.is_empty() {
                if !ctx.cfg.fixes.ack_adopted {
                    ctx.log(|| {
                        format!(
                            "adopted proposals never ACKed: {:?}",
                            unacked.iter().map(|z| hex(*z)).collect::<Vec<_>>()
                        )
                    });
                } else {
                    ctx.hist.known_issue("adopted proposals not ACKed (ACKed here as ZooKeeper does)");
                    for z in unacked {
                        self.send(QuorumPacket::new(packet::ACK, z, None), ctx);
                    }
                }
            }
            if let Some(conn) = self.conn {
                ctx.fx.push(Fx::Synced { conn });
            }
        }
        Ok(())
    }

    fn on_broadcast_packet(&mut self, p: QuorumPacket, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        match p.packet_type {
            packet::PING => {
                self.send(QuorumPacket::new(packet::PING, p.zxid, Some(Vec::new())), ctx);
                return Ok(());
            }
            packet::SYNC | packet::REVALIDATE => return Ok(()),
            _ => {}
        }
        let Some(fb) = self.fb.as_mut() else { return Ok(()) };
        let actions = fb.on_packet(&p).map_err(|e| End::Term(format!("broadcast: {e}")))?;
        for a in actions {
            match a {
                FollowerAction::Log { zxid, data } => {
                    if let Some(s) = self.server.as_mut() {
                        if s.log_txn(zxid, decode(&data)) {
                            ctx.fx.push(Fx::Fsync);
                        }
                    }
                    ctx.crash_point("learner: proposal handed to the log")?;
                }
                FollowerAction::Apply(z) => {
                    if let Some(s) = self.server.as_mut() {
                        let _ = s.commit_up_to(z);
                    }
                }
                FollowerAction::Send(p) => self.send(p, ctx),
            }
        }
        let _ = disk;
        Ok(())
    }

    /// The sync thread fsynced a batch: `LearnerLink::logged` ACKs each txn, then what is
    /// committed is applied.
    pub fn on_fsync(&mut self, disk: &mut Disk, ctx: &mut Ctx) {
        let Some(server) = self.server.as_mut() else { return };
        let batch = server.fsync(disk);
        for (z, _) in &batch {
            if let Some(conn) = self.conn {
                ctx.fx.push(Fx::Send {
                    conn,
                    from_leader: false,
                    wire: Wire::Pkt(QuorumPacket::new(packet::ACK, *z, None)),
                });
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
    /// the next term (None: load it from disk).
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

/// A new `TxnLogWriter`: a new file named after its first txn, written and fsynced.
fn write_file(disk: &mut Disk, entries: &[(i64, TxnId)]) {
    if let Some(first) = entries.first() {
        let id = disk.open_file(first.0);
        disk.append(id, entries);
    }
}

/// The crash point before each sync action.
fn label(a: &SyncAction) -> &'static str {
    match a {
        SyncAction::Truncate(_) => "learner: before Truncate",
        SyncAction::LoadSnapshot(_) => "learner: before LoadSnapshot",
        SyncAction::TakeSnapshot => "learner: before TakeSnapshot",
        SyncAction::LogAndSync(_) => "learner: before LogAndSync",
        SyncAction::Apply(_) => "learner: before Apply",
        SyncAction::PersistCurrentEpoch(_) => "learner: before writing currentEpoch",
        SyncAction::Send(p) if p.packet_type == packet::ACK && zxid::counter(p.zxid) == 0 => {
            "learner: before ACK of NEWLEADER/UPTODATE"
        }
        SyncAction::Send(_) => "learner: before Send",
        SyncAction::StartServing => "learner: before StartServing",
    }
}
