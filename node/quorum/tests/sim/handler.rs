//! One `LearnerHandler` of a leader's term (`handle_learner`, `serve_learner`,
//! `sync_learner` in `peer/leader.rs`): FOLLOWERINFO (an older connection of the same sid
//! is shut down), ACKEPOCH, the wait for the epoch's server, the sync plan sent with the
//! outstanding proposals and NEWLEADER under one lock, then ACKs and PINGs; and how a
//! handler ends (it leaves `st.learners` and broadcast only if the entry is still its own).

use std::collections::BTreeMap;

use zab_jute::quorum::{packet, LearnerInfo, QuorumPacket, ZAB_PROTOCOL_VERSION};
use zab_jute::record::Record;
use zab_quorum::broadcast::LearnerKind;
use zab_quorum::newleader::NewLeaderAction;
use zab_quorum::sync::{plan_with, LeaderLog, PlanOptions, SyncPacket};
use zab_quorum::zxid;

use super::disk::Disk;
use super::leader::{Entry, LeaderTerm};
use super::net::{ConnId, Wire};
use super::peer::{Ctx, End, Fx};
use super::{encode, hex, Sid, TxnId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading FOLLOWERINFO.
    Hello,
    /// Reading ACKEPOCH.
    AckEpoch,
    /// Waiting for the new epoch's server (`st.bcast`), at most initLimit.
    WaitBcast,
    /// Sync packets queued: reading ACKs and PINGs.
    Broadcast,
}

/// One learner handler thread.
#[derive(Debug)]
pub struct Handler {
    pub sid: Option<Sid>,
    pub stage: Stage,
    pub last_read: i64,
    pub timeout: i64,
    pub acked_newleader: bool,
    pub wait_until: i64,
    pub peer_last: i64,
    pub cross_epoch: bool,
}

impl LeaderTerm {
    /// The acceptor spawned a handler for a new connection.
    pub fn on_accept(&mut self, conn: ConnId, ctx: &mut Ctx) {
        self.handlers.insert(
            conn,
            Handler {
                sid: None,
                stage: Stage::Hello,
                last_read: ctx.now,
                timeout: ctx.cfg.init_ms(),
                acked_newleader: false,
                wait_until: 0,
                peer_last: -1,
                cross_epoch: false,
            },
        );
    }

    /// A handler ends (`handle_learner` returns): its stream is shut down and, when it ran
    /// `serve_learner`, it leaves `st.learners` and broadcast if the entry is still its own.
    pub(super) fn handler_end(&mut self, conn: ConnId, why: &str, ctx: &mut Ctx) {
        let Some(h) = self.handlers.remove(&conn) else { return };
        ctx.fx.push(Fx::Close { conn, leader_side: true });
        let cleanup = h.stage != Stage::Hello;
        if let (true, Some(sid)) = (cleanup, h.sid) {
            if self.learners.get(&sid).is_some_and(|e| e.conn == conn) {
                self.learners.remove(&sid);
                if let Some(b) = self.bcast.as_mut() {
                    b.remove_learner(sid);
                }
            }
        }
        ctx.log(|| format!("handler for {:?} (conn {conn}) ends: {why}", h.sid));
    }

    pub fn on_wire(&mut self, conn: ConnId, w: Wire, disk: &mut Disk, ctx: &mut Ctx) -> Result<(), End> {
        let Some(h) = self.handlers.get_mut(&conn) else { return Ok(()) };
        let p = match w {
            Wire::Pkt(p) => p,
            Wire::Snap(..) => return Ok(()),
            Wire::Closed => {
                self.handler_end(conn, "end of stream", ctx);
                return Ok(());
            }
        };
        h.last_read = ctx.now;
        match h.stage {
            Stage::Hello => self.on_hello(conn, p, disk, ctx)?,
            Stage::AckEpoch => self.on_ack_epoch(conn, p, disk, ctx)?,
            Stage::WaitBcast => {}
            Stage::Broadcast => self.on_learner_packet(conn, p, ctx),
        }
        if self.zombie {
            return Ok(()); // run_term has returned
        }
        self.progress(disk, ctx)
    }

    /// `handle_learner`: FOLLOWERINFO; an older handler of the same sid is shut down (and,
    /// its entry no longer its own, leaves broadcast membership as it is).
    pub(super) fn on_hello(
        &mut self,
        conn: ConnId,
        p: QuorumPacket,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<(), End> {
        if p.packet_type != packet::FOLLOWERINFO && p.packet_type != packet::OBSERVERINFO {
            self.handler_end(conn, "first packet is not FOLLOWERINFO", ctx);
            return Ok(());
        }
        let Ok(info) = LearnerInfo::from_bytes(p.data.as_deref().unwrap_or(&[]), 1024) else {
            self.handler_end(conn, "bad LearnerInfo", ctx);
            return Ok(());
        };
        let sid = info.serverid as Sid;
        if !ctx.qv.servers.contains_key(&sid) {
            self.handler_end(conn, "not in the configuration", ctx);
            return Ok(());
        }
        if let Some(old) = self.learners.remove(&sid) {
            ctx.fx.push(Fx::Close { conn: old.conn, leader_side: true });
            if self.handlers.remove(&old.conn).is_some() {
                ctx.log(|| format!("older handler of {sid} (conn {}) shut down by conn {conn}", old.conn));
            }
        }
        self.learners.insert(sid, Entry { conn, last_heard: ctx.now, in_broadcast: false, synced: false });
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.sid = Some(sid);
            h.cross_epoch = ctx.cfg.cross_epoch_trunc && info.protocol_version == ZAB_PROTOCOL_VERSION;
            h.stage = Stage::AckEpoch;
        }
        let actions = match self.discovery.on_learner_info(sid, &p) {
            Ok(a) => a,
            Err(e) => {
                // handle_learner returns here without its cleanup.
                if let Some(h) = self.handlers.get_mut(&conn) {
                    h.stage = Stage::Hello;
                }
                self.handler_end(conn, &e.to_string(), ctx);
                return Ok(());
            }
        };
        self.discovery_actions(actions, disk, ctx)
    }

    /// `serve_learner` up to the sync: ACKEPOCH, then wait for the epoch's server.
    pub(super) fn on_ack_epoch(
        &mut self,
        conn: ConnId,
        p: QuorumPacket,
        disk: &mut Disk,
        ctx: &mut Ctx,
    ) -> Result<(), End> {
        let Some(sid) = self.handlers.get(&conn).and_then(|h| h.sid) else { return Ok(()) };
        if p.packet_type != packet::ACKEPOCH {
            self.handler_end(conn, "expected ACKEPOCH", ctx);
            return Ok(());
        }
        let actions = match self.discovery.on_ack_epoch(sid, &p) {
            Ok(a) => a,
            Err(e) => {
                self.handler_end(conn, &e.to_string(), ctx);
                return Ok(());
            }
        };
        self.discovery_actions(actions, disk, ctx)?;
        let wait_until = ctx.now + ctx.cfg.init_ms();
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.peer_last = p.zxid;
            h.stage = Stage::WaitBcast;
            h.wait_until = wait_until;
        }
        if self.bcast.is_some() {
            self.sync_learner(conn, disk, ctx)?;
        } else if self.zombie {
            self.handler_end(conn, "the leader is stopping", ctx);
        }
        Ok(())
    }

    /// `sync_learner`: the plan, the SNAP stream or DIFF/TRUNC packets, the outstanding
    /// proposals, membership in broadcast and NEWLEADER — all under one lock.
    pub(super) fn sync_learner(&mut self, conn: ConnId, disk: &Disk, ctx: &mut Ctx) -> Result<(), End> {
        let Some((sid, peer_last, cross)) =
            self.handlers.get(&conn).and_then(|h| Some((h.sid?, h.peer_last, h.cross_epoch)))
        else {
            return Ok(());
        };
        // `tx` is taken from st.learners[sid], whatever connection it now holds.
        let Some(out_conn) = self.learners.get(&sid).map(|e| e.conn) else {
            self.handler_end(conn, "learner gone", ctx);
            return Ok(());
        };
        let Some(server) = self.server.as_ref().filter(|_| !self.zombie || self.server_alive) else {
            self.handler_end(conn, "no server", ctx);
            return Ok(());
        };
        if self.zombie {
            ctx.hist.count("a learner synchronised by an ended leader term");
            ctx.log(|| {
                format!("handler of an ended term syncs {sid} from a stopped server at {}", hex(server.tree.zxid))
            });
        }
        let out = |w: Wire, ctx: &mut Ctx| ctx.fx.push(Fx::Send { conn: out_conn, from_leader: true, wire: w });
        let on_disk = self.on_disk_txns(disk, peer_last, ctx);
        let zxids: Vec<i64> = self.committed_log.iter().map(|e| e.0).collect();
        let applied = server.tree.zxid;
        let last_committed = zxids.last().copied().unwrap_or(applied).max(applied);
        let disk_zxids: Option<Vec<i64>> = on_disk.as_ref().map(|d| d.keys().copied().collect());
        let log = LeaderLog { last_processed_zxid: last_committed, committed: &zxids, on_disk: disk_zxids.as_deref() };
        let the_plan = plan_with(peer_last, &log, PlanOptions { cross_epoch_trunc: cross });
        let from_disk = !the_plan.snap
            && the_plan
                .packets
                .iter()
                .any(|p| matches!(p, SyncPacket::Proposal(z) if zxids.first().is_none_or(|m| z < m)));
        let mode;
        if the_plan.snap {
            mode = "SNAP";
            out(Wire::Snap(QuorumPacket::new(packet::SNAP, applied, None), server.tree.clone()), ctx);
            // A crash here: the learner may get the snapshot and never NEWLEADER
            // (ZOOKEEPER-3642).
            ctx.crash_point("leader: SNAP sent, NEWLEADER not yet")?;
            for (z, t) in self.committed_log.iter().filter(|(z, _)| *z > applied) {
                out(Wire::Pkt(QuorumPacket::new(packet::PROPOSAL, *z, Some(encode(*t)))), ctx);
                out(Wire::Pkt(QuorumPacket::new(packet::COMMIT, *z, None)), ctx);
            }
        } else {
            mode = match the_plan.packets.first() {
                Some(SyncPacket::Trunc(_)) => "TRUNC",
                _ => "DIFF",
            };
            for p in &the_plan.packets {
                let pkt = match *p {
                    SyncPacket::Diff(z) => QuorumPacket::new(packet::DIFF, z, None),
                    SyncPacket::Trunc(z) => QuorumPacket::new(packet::TRUNC, z, None),
                    SyncPacket::Commit(z) => QuorumPacket::new(packet::COMMIT, z, None),
                    SyncPacket::Proposal(z) => {
                        let t = match self.committed_log.binary_search_by_key(&z, |e| e.0) {
                            Ok(i) => Some(self.committed_log[i].1),
                            Err(_) => on_disk.as_ref().and_then(|d| d.get(&z).copied()),
                        };
                        match t {
                            Some(t) => QuorumPacket::new(packet::PROPOSAL, z, Some(encode(t))),
                            None => {
                                self.handler_end(conn, "committed txn left the window during sync", ctx);
                                return Ok(());
                            }
                        }
                    }
                };
                out(Wire::Pkt(pkt), ctx);
            }
        }
        // startForwarding: outstanding proposals follow, then the learner is in the set.
        for (z, t) in &self.proposed {
            out(Wire::Pkt(QuorumPacket::new(packet::PROPOSAL, *z, Some(encode(*t)))), ctx);
        }
        if let Some(b) = self.bcast.as_mut() {
            b.add_learner(sid, LearnerKind::Follower);
        }
        if let Some(NewLeaderAction::Send { packet, .. }) = self.newleader.as_ref().map(|n| n.newleader_for(sid)) {
            out(Wire::Pkt(packet), ctx);
        }
        if let Some(e) = self.learners.get_mut(&sid) {
            e.synced = true;
        }
        ctx.fx.push(Fx::SyncPlanned { conn: out_conn, needed: ctx.hist.acked_len });
        let with_proposals = the_plan.packets.iter().any(|p| matches!(p, SyncPacket::Proposal(_)));
        ctx.hist
            .count(&format!("sync {mode}{}", if with_proposals && !the_plan.snap { " with proposals" } else { "" }));
        if from_disk {
            ctx.hist.count("sync from the log on disk");
        }
        if !self.proposed.is_empty() {
            ctx.hist.count("sync with outstanding proposals");
        }
        let now = ctx.now;
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.stage = Stage::Broadcast;
            h.last_read = now;
        }
        ctx.log(|| {
            format!(
                "syncs {sid} ({mode}) from {} to {}: {} packets, {} outstanding proposals",
                hex(peer_last),
                hex(last_committed),
                the_plan.packets.len(),
                self.proposed.len()
            )
        });
        Ok(())
    }

    /// `on_disk_txns` (`getProposalsFromTxnLog`): for a learner older than the committed
    /// window, the txns from its zxid up to the window's start as the log on disk has them
    /// (`read_from`: from the newest file starting at or before it, in file order) — unless
    /// they outweigh a third of the tree (`snapshotSizeFactor` 0.33; here every txn weighs
    /// the same, so: more than a third of the applied txns), or the learner's own zxid is not
    /// among them.
    fn on_disk_txns(&self, disk: &Disk, peer_last: i64, ctx: &mut Ctx) -> Option<BTreeMap<i64, TxnId>> {
        let window_start = self.committed_log.front()?.0;
        if peer_last >= window_start || peer_last <= 0 {
            return None;
        }
        let newest_snapshot = disk.snaps.keys().next_back().copied().unwrap_or(0);
        if ctx.cfg.fixes.disk_sync_after_snapshot && peer_last < newest_snapshot {
            ctx.hist.known_issue("sync from the log on disk behind the newest snapshot (refused here)");
            return None;
        }
        let limit = self.server.as_ref().map_or(0, |s| s.tree.txns.len() / 3);
        let mut out = BTreeMap::new();
        for (size, (z, t)) in disk.read_from(peer_last).into_iter().enumerate() {
            if z > window_start {
                break;
            }
            if size + 1 > limit {
                return None;
            }
            out.insert(z, t);
        }
        out.contains_key(&peer_last).then_some(out)
    }

    /// `serve_learner` after the sync: ACK (NEWLEADER's, UPTODATE's, proposals') and PING.
    pub(super) fn on_learner_packet(&mut self, conn: ConnId, p: QuorumPacket, ctx: &mut Ctx) {
        let Some(sid) = self.handlers.get(&conn).and_then(|h| h.sid) else { return };
        let now = ctx.now;
        match p.packet_type {
            packet::ACK => {
                if let Some(e) = self.learners.get_mut(&sid) {
                    e.last_heard = now;
                }
                if zxid::counter(p.zxid) == 0 {
                    let Some(h) = self.handlers.get_mut(&conn) else { return };
                    if h.acked_newleader {
                        return; // the ACK of UPTODATE
                    }
                    h.acked_newleader = true;
                    let actions = match self.newleader.as_mut().map(|n| n.on_ack(sid, p.zxid)) {
                        Some(Ok(a)) => a,
                        Some(Err(e)) => {
                            self.handler_end(conn, &e.to_string(), ctx);
                            return;
                        }
                        None => Vec::new(),
                    };
                    for a in actions {
                        match a {
                            NewLeaderAction::Send { to, packet } => self.send(to, packet, ctx),
                            NewLeaderAction::StartServing => self.serving = true,
                        }
                    }
                    if let Some(e) = self.learners.get_mut(&sid) {
                        e.in_broadcast = true;
                    }
                    let sync_ms = ctx.cfg.sync_ms();
                    if let Some(h) = self.handlers.get_mut(&conn) {
                        h.timeout = sync_ms;
                    }
                    return;
                }
                let actions = self.bcast.as_mut().map(|b| b.on_ack(sid, p.zxid)).unwrap_or_default();
                let c = self.exec(actions, ctx);
                self.commit(c, ctx);
            }
            packet::PING => {
                if let Some(e) = self.learners.get_mut(&sid) {
                    e.last_heard = now;
                }
            }
            _ => {}
        }
    }
}
