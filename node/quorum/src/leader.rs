//! One term as leader (`Leader.lead` and one `LearnerHandler` per learner connection), as
//! one synchronous state machine: connections, their packets, the clock, the server's
//! start, the log's fsyncs and the clients' proposals go in; a list of [`LeaderAction`]s
//! comes out, to be carried out in order. The server (`node/server/src/peer/leader.rs`)
//! carries them out over sockets, threads and a data directory; the cluster simulator
//! (`node/quorum/tests/sim`) over its seeded network and disks. Both run this very code.
//!
//! The term composes the phase machines of this crate:
//! 1. discovery ([`LeaderDiscovery`]): each connection's FOLLOWERINFO / OBSERVERINFO, the
//!    new epoch (acceptedEpoch persisted before LEADERINFO goes out), ACKEPOCH; once a
//!    quorum acknowledged it, currentEpoch is written and the term's server starts
//!    ([`LeaderAction::StartServer`], then [`Leader::server_started`]);
//! 2. synchronisation: for each learner, the plan ([`plan_with`]: DIFF, TRUNC or SNAP; from
//!    the window of recent txns, or from the log on disk past the newest snapshot), the
//!    outstanding proposals, membership in broadcast, NEWLEADER — all in one step, so the
//!    learner misses no proposal ([`Leader::sync_learner`]); NEWLEADER's quorum
//!    ([`NewLeaderPhase`]) starts serving;
//! 3. broadcast ([`LeaderBroadcast`]): proposals, ACKs (the leader's own after its fsync),
//!    ordered commits, learners' `sync` answered once what came before is committed, a
//!    PING every tick to learners whose sync is queued, and a step-down once fewer than a
//!    quorum of voters are in touch within syncLimit.
//!
//! Every connection is identified by a number the runtime chooses ([`ConnId`]); a
//! learner that connects again replaces its older connection, which is closed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use thiserror::Error;
// A learner's `sync` (OpCode.sync) is answered by the leader itself.
use zab_jute::codes::op::SYNC as OP_SYNC;
use zab_jute::learner_bodies::{ForwardedRequest, RevalidateRequest};
use zab_jute::quorum::{packet, LearnerInfo, QuorumPacket, ZAB_PROTOCOL_VERSION};
use zab_jute::record::Record;

use crate::broadcast::{BroadcastAction, BroadcastError, LeaderBroadcast, LearnerKind};
use crate::discovery::{DiscoveryError, LeaderAction as DiscoveryAction, LeaderDiscovery};
use crate::learner::SyncMode;
use crate::newleader::{NewLeaderAction, NewLeaderError, NewLeaderPhase};
use crate::sync::{plan_with, LeaderLog, PlanOptions, SyncPacket};
use crate::verifier::QuorumMaj;
use crate::zxid;

/// A learner connection, numbered by the runtime.
pub type ConnId = u64;

/// A txn as it travels: TxnHeader, txn and digest, serialized.
pub type Payload = Arc<Vec<u8>>;

/// Why a leader's term ends.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LeaderError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    NewLeader(#[from] NewLeaderError),
    #[error(transparent)]
    Broadcast(#[from] BroadcastError),
    #[error("not sufficient followers synced, only synced with sids: {0:?}")]
    QuorumLost(BTreeSet<u64>),
    #[error("the leader is not established yet: no proposal can be made")]
    NotEstablished,
    #[error("the term has ended: {0}")]
    Ended(String),
}

/// What one term of a leader needs to know.
#[derive(Debug, Clone)]
pub struct LeaderSettings {
    pub myid: u64,
    pub view: QuorumMaj,
    /// initLimit and syncLimit in milliseconds.
    pub init_ms: i64,
    pub sync_ms: i64,
    /// `zookeeper.commitLogCount`: the window of recent committed txns DIFFs are made from.
    pub commit_log_count: usize,
    /// `crossEpochTruncDiff`: a learner announcing zab's protocol version may be truncated
    /// across an epoch.
    pub cross_epoch_trunc: bool,
}

/// The log on disk past a learner's zxid, read by the runtime for [`Leader::sync_learner`]
/// when the learner is older than the window of recent txns.
#[derive(Debug, Clone, Default)]
pub struct LogExtract {
    /// The zxid of the newest snapshot in the data directory.
    pub newest_snapshot: i64,
    /// The size of the applied tree's data, in bytes: a SNAP is cheaper than a DIFF that
    /// weighs more than a third of it (`snapshotSizeFactor` 0.33).
    pub tree_size: u64,
    /// The txns with zxid >= the learner's, in log order, up to the window's start.
    pub txns: Vec<(i64, Payload)>,
}

/// What the leader asks of its runtime, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAction {
    /// Send this packet on this learner connection.
    Send { conn: ConnId, packet: QuorumPacket },
    /// Send the snapshot stream (sessions, tree, signature) of the database as it is now,
    /// at the zxid the SNAP packet before it named.
    SendSnapshot { conn: ConnId },
    /// Close this learner connection: its handler ends.
    Close { conn: ConnId },
    /// Write acceptedEpoch (atomically, durably) before anything else goes out.
    PersistAcceptedEpoch(i64),
    /// A quorum acknowledged the new epoch: write currentEpoch.
    PersistCurrentEpoch(i64),
    /// Start the term's server on the database, its next zxid after `start_zxid`; then
    /// call [`Leader::server_started`].
    StartServer { start_zxid: i64 },
    /// A learner waits for its synchronisation: read what [`Leader::sync_learner`] needs
    /// (the applied zxid; the log from `read_log_from` when given) and call it.
    PrepareSync { conn: ConnId, read_log_from: Option<i64> },
    /// The leader chose how to synchronise a learner (for logs and metrics).
    Synchronising { sid: u64, mode: SyncMode, from_disk: bool, with_proposals: bool, outstanding: usize },
    /// A quorum acknowledged NEWLEADER: serve clients.
    StartServing,
    /// A proposal is committed: record it; [`LeaderAction::CommitUpTo`] follows.
    Committed { zxid: i64, payload: Option<Payload> },
    /// Apply, in order, every txn up to this zxid.
    CommitUpTo(i64),
    /// A learner's PING carried the sessions its clients touched (SessionTouch records).
    TouchSessions { sid: u64, data: Vec<u8> },
    /// A learner forwarded a client's write (`REQUEST`); the answer reaches the client
    /// through the learner, when it applies the txn.
    Forwarded { sid: u64, packet: QuorumPacket },
    /// A learner asks whether a client's session may move to it; answer with REVALIDATE
    /// on `conn`.
    Revalidate { conn: ConnId, sid: u64, session_id: i64, timeout: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading FOLLOWERINFO / OBSERVERINFO.
    Hello,
    /// Reading ACKEPOCH.
    AckEpoch,
    /// Waiting for the new epoch's server, at most initLimit.
    WaitServer { until: i64 },
    /// [`LeaderAction::PrepareSync`] is out.
    Preparing,
    /// Sync packets queued: reading ACKs, PINGs and requests.
    Broadcast,
}

/// One learner handler.
#[derive(Debug)]
struct Handler {
    sid: Option<u64>,
    observer: bool,
    stage: Stage,
    last_read: i64,
    timeout: i64,
    acked_newleader: bool,
    peer_last: i64,
    cross_epoch: bool,
}

/// A learner the term knows by sid (`st.learners`): its current connection.
#[derive(Debug, Clone)]
struct Entry {
    conn: ConnId,
    last_heard: i64,
    in_broadcast: bool,
    sync_mode: Option<SyncMode>,
    last_acked: i64,
    observer: bool,
}

/// A learner as `/status` and the admin commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerStatus {
    pub sid: u64,
    pub conn: ConnId,
    pub observer: bool,
    pub sync_mode: Option<SyncMode>,
    pub last_acked: i64,
    pub in_broadcast: bool,
}

/// Where the term is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderPhase {
    Discovery,
    /// The server runs; waiting for NEWLEADER's quorum.
    Sync,
    Broadcast,
}

/// One term of a leader.
pub struct Leader {
    settings: LeaderSettings,
    phase: LeaderPhase,
    discovery: LeaderDiscovery,
    newleader: Option<NewLeaderPhase>,
    bcast: Option<LeaderBroadcast>,
    server_starting: bool,
    /// Proposed, not yet committed.
    proposed: BTreeMap<i64, Payload>,
    /// The last `commit_log_count` committed txns (the DIFF window), oldest first.
    committed_log: VecDeque<(i64, Payload)>,
    learners: BTreeMap<u64, Entry>,
    handlers: BTreeMap<ConnId, Handler>,
    /// Learners' `sync` requests: answered once this zxid is committed.
    syncs: VecDeque<(i64, u64)>,
    failure: Option<LeaderError>,
    ended: bool,
}

impl Leader {
    /// A term begins: discovery counts this member first. `committed_log` is the window of
    /// recent committed txns the database carries.
    pub fn start(
        settings: LeaderSettings,
        accepted_epoch: i64,
        current_epoch: i64,
        last_zxid: i64,
        committed_log: VecDeque<(i64, Payload)>,
        now: i64,
    ) -> (Leader, Vec<LeaderAction>) {
        let (discovery, actions) = LeaderDiscovery::new(
            settings.myid,
            settings.view.clone(),
            accepted_epoch,
            current_epoch,
            last_zxid,
            now,
            settings.init_ms,
        );
        let mut leader = Leader {
            settings,
            phase: LeaderPhase::Discovery,
            discovery,
            newleader: None,
            bcast: None,
            server_starting: false,
            proposed: BTreeMap::new(),
            committed_log,
            learners: BTreeMap::new(),
            handlers: BTreeMap::new(),
            syncs: VecDeque::new(),
            failure: None,
            ended: false,
        };
        let mut out = Vec::new();
        leader.discovery_actions(actions, &mut out);
        (leader, out)
    }

    pub fn phase(&self) -> LeaderPhase {
        self.phase
    }

    /// The new epoch, once a quorum of FOLLOWERINFO fixed it.
    pub fn epoch(&self) -> Option<i64> {
        self.discovery.epoch()
    }

    pub fn is_serving(&self) -> bool {
        self.phase == LeaderPhase::Broadcast && !self.ended
    }

    /// The newest committed zxid in broadcast.
    pub fn last_committed(&self) -> Option<i64> {
        self.bcast.as_ref().map(|b| b.last_committed())
    }

    /// Proposed and not committed yet.
    pub fn outstanding(&self) -> usize {
        self.proposed.len()
    }

    /// A proposal not committed yet (for the ACK latency metric).
    pub fn proposal(&self, zxid: i64) -> Option<&Payload> {
        self.proposed.get(&zxid)
    }

    /// The recent committed txns (the DIFF window) as they stand.
    pub fn committed_log(&self) -> &VecDeque<(i64, Payload)> {
        &self.committed_log
    }

    /// Every learner the term knows, by sid.
    pub fn learners(&self) -> Vec<LearnerStatus> {
        self.learners
            .iter()
            .map(|(sid, e)| LearnerStatus {
                sid: *sid,
                conn: e.conn,
                observer: e.observer,
                sync_mode: e.sync_mode,
                last_acked: e.last_acked,
                in_broadcast: e.in_broadcast,
            })
            .collect()
    }

    /// The connections of learners that are not synchronised yet.
    pub fn syncing(&self) -> usize {
        self.learners.values().filter(|e| !e.in_broadcast).count()
    }

    /// The sid a connection announced, once it has.
    pub fn sid_of(&self, conn: ConnId) -> Option<u64> {
        self.handlers.get(&conn).and_then(|h| h.sid)
    }

    /// How long this connection's learner may stay silent now.
    pub fn read_timeout_ms(&self, conn: ConnId) -> i64 {
        self.handlers.get(&conn).map_or(self.settings.init_ms, |h| h.timeout)
    }

    fn send_to_sid(&self, sid: u64, packet: QuorumPacket, out: &mut Vec<LeaderAction>) {
        if let Some(e) = self.learners.get(&sid) {
            out.push(LeaderAction::Send { conn: e.conn, packet });
        }
    }

    fn fail(&mut self, e: LeaderError) -> LeaderError {
        if self.failure.is_none() {
            self.failure = Some(e.clone());
        }
        e
    }

    fn discovery_actions(&mut self, actions: Vec<DiscoveryAction>, out: &mut Vec<LeaderAction>) {
        for a in actions {
            match a {
                DiscoveryAction::PersistAcceptedEpoch(e) => out.push(LeaderAction::PersistAcceptedEpoch(e)),
                DiscoveryAction::Send { to, packet } => self.send_to_sid(to, packet, out),
                DiscoveryAction::EpochAcknowledged(_) => {}
            }
        }
        if !self.server_starting && self.discovery.is_acknowledged() {
            if let Some(epoch) = self.discovery.epoch() {
                self.server_starting = true;
                out.push(LeaderAction::PersistCurrentEpoch(epoch));
                out.push(LeaderAction::StartServer { start_zxid: zxid::make(epoch, 0) });
            }
        }
    }

    /// Broadcast's actions: sends, and commits recorded in the window (and answered to the
    /// learners' `sync`s) followed by one [`LeaderAction::CommitUpTo`].
    fn exec(&mut self, actions: Vec<BroadcastAction>, out: &mut Vec<LeaderAction>) {
        let mut newest = None;
        for a in actions {
            match a {
                BroadcastAction::Send { to, packet } => self.send_to_sid(to, packet, out),
                BroadcastAction::Commit(z) => {
                    newest = Some(z);
                    let payload = self.proposed.remove(&z);
                    if let Some(data) = &payload {
                        self.committed_log.push_back((z, data.clone()));
                        while self.committed_log.len() > self.settings.commit_log_count {
                            self.committed_log.pop_front();
                        }
                    }
                    out.push(LeaderAction::Committed { zxid: z, payload });
                    while self.syncs.front().is_some_and(|(w, _)| *w <= z) {
                        if let Some((_, sid)) = self.syncs.pop_front() {
                            self.send_to_sid(sid, QuorumPacket::new(packet::SYNC, 0, None), out);
                        }
                    }
                }
            }
        }
        out.extend(newest.map(LeaderAction::CommitUpTo));
    }

    /// The acceptor took a new learner connection.
    pub fn on_accept(&mut self, conn: ConnId, now: i64) -> Vec<LeaderAction> {
        if self.ended {
            return vec![LeaderAction::Close { conn }];
        }
        let handler = Handler {
            sid: None,
            observer: false,
            stage: Stage::Hello,
            last_read: now,
            timeout: self.settings.init_ms,
            acked_newleader: false,
            peer_last: -1,
            cross_epoch: false,
        };
        self.handlers.insert(conn, handler);
        Vec::new()
    }

    /// A connection's handler ends (its stream failed, or the engine closed it): it
    /// leaves the learners and broadcast if the entry is still its own.
    pub fn on_closed(&mut self, conn: ConnId) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        self.end_handler(conn, &mut out);
        out
    }

    fn end_handler(&mut self, conn: ConnId, out: &mut Vec<LeaderAction>) {
        let Some(h) = self.handlers.remove(&conn) else { return };
        out.push(LeaderAction::Close { conn });
        if let Some(sid) = h.sid {
            if self.learners.get(&sid).is_some_and(|e| e.conn == conn) {
                self.learners.remove(&sid);
                if let Some(b) = self.bcast.as_mut() {
                    b.remove_learner(sid);
                }
            }
        }
    }

    /// A packet from the learner on `conn`.
    pub fn on_packet(&mut self, conn: ConnId, p: QuorumPacket, now: i64) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        let Some(h) = self.handlers.get_mut(&conn) else { return out };
        h.last_read = now;
        match h.stage {
            Stage::Hello => self.on_hello(conn, p, now, &mut out),
            Stage::AckEpoch => self.on_ack_epoch(conn, p, now, &mut out),
            Stage::WaitServer { .. } | Stage::Preparing => {}
            Stage::Broadcast => self.on_learner_packet(conn, p, now, &mut out),
        }
        out
    }

    /// FOLLOWERINFO / OBSERVERINFO; an older connection of the same learner is closed.
    fn on_hello(&mut self, conn: ConnId, p: QuorumPacket, now: i64, out: &mut Vec<LeaderAction>) {
        if p.packet_type != packet::FOLLOWERINFO && p.packet_type != packet::OBSERVERINFO {
            return self.end_handler(conn, out);
        }
        let Ok(info) = LearnerInfo::from_bytes(p.data.as_deref().unwrap_or(&[]), 1024) else {
            return self.end_handler(conn, out);
        };
        let sid = info.serverid as u64;
        if !self.settings.view.servers.contains_key(&sid) {
            return self.end_handler(conn, out);
        }
        let observer = p.packet_type == packet::OBSERVERINFO;
        if let Some(old) = self.learners.remove(&sid) {
            if let Some(b) = self.bcast.as_mut() {
                b.remove_learner(sid);
            }
            self.handlers.remove(&old.conn);
            out.push(LeaderAction::Close { conn: old.conn });
        }
        let entry = Entry { conn, last_heard: now, in_broadcast: false, sync_mode: None, last_acked: -1, observer };
        self.learners.insert(sid, entry);
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.sid = Some(sid);
            h.observer = observer;
            h.cross_epoch = self.settings.cross_epoch_trunc && info.protocol_version == ZAB_PROTOCOL_VERSION;
            h.stage = Stage::AckEpoch;
        }
        match self.discovery.on_learner_info(sid, &p) {
            Ok(actions) => self.discovery_actions(actions, out),
            Err(_) => self.end_handler(conn, out),
        }
    }

    /// ACKEPOCH; then the learner waits for the epoch's server, or is synchronised at once.
    fn on_ack_epoch(&mut self, conn: ConnId, p: QuorumPacket, now: i64, out: &mut Vec<LeaderAction>) {
        let Some(sid) = self.sid_of(conn) else { return };
        if p.packet_type != packet::ACKEPOCH {
            return self.end_handler(conn, out);
        }
        match self.discovery.on_ack_epoch(sid, &p) {
            Ok(actions) => self.discovery_actions(actions, out),
            Err(_) => return self.end_handler(conn, out),
        }
        let until = now + self.settings.init_ms;
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.peer_last = p.zxid;
            h.stage = Stage::WaitServer { until };
        }
        if self.bcast.is_some() {
            self.prepare_sync(conn, out);
        }
    }

    /// The term's server runs: synchronisation begins, for every learner waiting.
    pub fn server_started(&mut self, now: i64) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        let Some(epoch) = self.discovery.epoch() else { return out };
        let start = zxid::make(epoch, 0);
        let (myid, view) = (self.settings.myid, self.settings.view.clone());
        self.bcast = Some(LeaderBroadcast::new(myid, view.clone(), start));
        self.newleader = Some(NewLeaderPhase::new(myid, view, epoch, now, self.settings.init_ms));
        self.phase = LeaderPhase::Sync;
        let waiting: Vec<ConnId> = self
            .handlers
            .iter()
            .filter(|(_, h)| matches!(h.stage, Stage::WaitServer { .. }))
            .map(|(c, _)| *c)
            .collect();
        for conn in waiting {
            self.prepare_sync(conn, &mut out);
        }
        out
    }

    fn prepare_sync(&mut self, conn: ConnId, out: &mut Vec<LeaderAction>) {
        let Some(h) = self.handlers.get_mut(&conn) else { return };
        h.stage = Stage::Preparing;
        let peer_last = h.peer_last;
        // getProposalsFromTxnLog: only for a learner older than the window.
        let read_log_from = self
            .committed_log
            .front()
            .map(|(z, _)| *z)
            .filter(|start| peer_last < *start && peer_last > 0)
            .map(|_| peer_last);
        out.push(LeaderAction::PrepareSync { conn, read_log_from });
    }

    /// The txns of the log on disk a DIFF may use: only past the newest snapshot, where
    /// the log is known to hold this member's history (before it, txns it got by SNAP are
    /// missing and txns it lost to a TRUNC or SNAP may linger: ZOOKEEPER-2846); not when
    /// they outweigh a third of the tree; and only when the learner's own zxid is there.
    fn usable_log(&self, peer_last: i64, log: LogExtract) -> Option<BTreeMap<i64, Payload>> {
        let window_start = self.committed_log.front().map(|(z, _)| *z)?;
        if peer_last < log.newest_snapshot {
            return None;
        }
        let limit = log.tree_size / 3;
        let mut size = 0u64;
        let mut txns = BTreeMap::new();
        for (z, data) in log.txns {
            if z > window_start {
                break;
            }
            size += data.len() as u64;
            if size > limit {
                return None;
            }
            txns.insert(z, data);
        }
        txns.contains_key(&peer_last).then_some(txns)
    }

    /// `LearnerHandler.syncFollower`, then `startForwarding` and NEWLEADER, in one step:
    /// `applied` is the server's last applied zxid as the snapshot (if any) will show it,
    /// `log` what [`LeaderAction::PrepareSync`] asked for.
    pub fn sync_learner(&mut self, conn: ConnId, applied: i64, log: Option<LogExtract>) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        let Some(h) = self.handlers.get(&conn).filter(|h| h.stage == Stage::Preparing) else { return out };
        let (peer_last, cross_epoch, observer) = (h.peer_last, h.cross_epoch, h.observer);
        let Some(sid) = h.sid else { return out };
        // Packets go through the learner's current connection.
        let Some(to) = self.learners.get(&sid).map(|e| e.conn) else {
            self.end_handler(conn, &mut out);
            return out;
        };
        let disk = log.and_then(|l| self.usable_log(peer_last, l));
        let zxids: Vec<i64> = self.committed_log.iter().map(|(z, _)| *z).collect();
        let last_committed = zxids.last().copied().unwrap_or(applied).max(applied);
        let disk_zxids: Option<Vec<i64>> = disk.as_ref().map(|d| d.keys().copied().collect());
        let leader_log =
            LeaderLog { last_processed_zxid: last_committed, committed: &zxids, on_disk: disk_zxids.as_deref() };
        let plan = plan_with(peer_last, &leader_log, PlanOptions { cross_epoch_trunc: cross_epoch });
        let send =
            |packet: QuorumPacket, out: &mut Vec<LeaderAction>| out.push(LeaderAction::Send { conn: to, packet });
        let mode = if plan.snap {
            SyncMode::Snap
        } else if matches!(plan.packets.first(), Some(SyncPacket::Trunc(_))) {
            SyncMode::Trunc
        } else {
            SyncMode::Diff
        };
        let from_disk = !plan.snap
            && plan.packets.iter().any(|p| matches!(p, SyncPacket::Proposal(z) if zxids.first().is_none_or(|m| z < m)));
        if plan.snap {
            send(QuorumPacket::new(packet::SNAP, applied, None), &mut out);
            out.push(LeaderAction::SendSnapshot { conn: to });
            // Committed but not applied yet: as proposals and commits after the snapshot.
            for (z, d) in self.committed_log.iter().filter(|(z, _)| *z > applied) {
                send(QuorumPacket::new(packet::PROPOSAL, *z, Some(d.to_vec())), &mut out);
                send(QuorumPacket::new(packet::COMMIT, *z, None), &mut out);
            }
        } else {
            for p in &plan.packets {
                let packet = match *p {
                    SyncPacket::Diff(z) => QuorumPacket::new(packet::DIFF, z, None),
                    SyncPacket::Trunc(z) => QuorumPacket::new(packet::TRUNC, z, None),
                    SyncPacket::Commit(z) => QuorumPacket::new(packet::COMMIT, z, None),
                    SyncPacket::Proposal(z) => {
                        let data = match self.committed_log.binary_search_by_key(&z, |(k, _)| *k) {
                            Ok(i) => self.committed_log.get(i).map(|(_, d)| d.clone()),
                            Err(_) => disk.as_ref().and_then(|d| d.get(&z).cloned()),
                        };
                        let Some(data) = data else {
                            // Cannot happen: the plan only names txns of the window or the log.
                            self.end_handler(conn, &mut out);
                            return out;
                        };
                        QuorumPacket::new(packet::PROPOSAL, z, Some(data.to_vec()))
                    }
                };
                send(packet, &mut out);
            }
        }
        // startForwarding: the outstanding proposals follow, then the learner is in the set.
        if !observer {
            for (z, d) in &self.proposed {
                send(QuorumPacket::new(packet::PROPOSAL, *z, Some(d.to_vec())), &mut out);
            }
        }
        let kind = if observer { LearnerKind::Observer } else { LearnerKind::Follower };
        if let Some(b) = self.bcast.as_mut() {
            b.add_learner(sid, kind);
        }
        if let Some(NewLeaderAction::Send { packet, .. }) = self.newleader.as_ref().map(|n| n.newleader_for(sid)) {
            send(packet, &mut out);
        }
        if let Some(e) = self.learners.get_mut(&sid) {
            e.sync_mode = Some(mode);
        }
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.stage = Stage::Broadcast;
        }
        let with_proposals = !plan.snap && plan.packets.iter().any(|p| matches!(p, SyncPacket::Proposal(_)));
        out.push(LeaderAction::Synchronising {
            sid,
            mode,
            from_disk,
            with_proposals,
            outstanding: if observer { 0 } else { self.proposed.len() },
        });
        out
    }

    /// After the sync: ACKs (NEWLEADER's, UPTODATE's, proposals'), PINGs, requests.
    fn on_learner_packet(&mut self, conn: ConnId, p: QuorumPacket, now: i64, out: &mut Vec<LeaderAction>) {
        let Some(sid) = self.sid_of(conn) else { return };
        match p.packet_type {
            packet::ACK => {
                if let Some(e) = self.learners.get_mut(&sid) {
                    e.last_heard = now;
                    e.last_acked = e.last_acked.max(p.zxid);
                }
                if zxid::counter(p.zxid) == 0 {
                    self.on_newleader_ack(conn, sid, p.zxid, out);
                    return;
                }
                let actions = self.bcast.as_mut().map(|b| b.on_ack(sid, p.zxid)).unwrap_or_default();
                self.exec(actions, out);
            }
            packet::PING => {
                if let Some(e) = self.learners.get_mut(&sid) {
                    e.last_heard = now;
                }
                out.push(LeaderAction::TouchSessions { sid, data: p.data.unwrap_or_default() });
            }
            packet::REQUEST => self.on_request(sid, p, out),
            packet::REVALIDATE => {
                let data = p.data.unwrap_or_default();
                match RevalidateRequest::from_bytes(&data, data.len()) {
                    Ok(r) => {
                        out.push(LeaderAction::Revalidate { conn, sid, session_id: r.session_id, timeout: r.timeout })
                    }
                    Err(_) => self.end_handler(conn, out),
                }
            }
            _ => {}
        }
    }

    fn on_newleader_ack(&mut self, conn: ConnId, sid: u64, zxid: i64, out: &mut Vec<LeaderAction>) {
        let Some(h) = self.handlers.get_mut(&conn) else { return };
        if std::mem::replace(&mut h.acked_newleader, true) {
            return; // the ACK of UPTODATE
        }
        h.timeout = self.settings.sync_ms;
        let actions = match self.newleader.as_mut().map(|n| n.on_ack(sid, zxid)) {
            Some(Ok(a)) => a,
            Some(Err(_)) => return self.end_handler(conn, out),
            None => Vec::new(),
        };
        for a in actions {
            match a {
                NewLeaderAction::Send { to, packet } => self.send_to_sid(to, packet, out),
                NewLeaderAction::StartServing => {
                    self.phase = LeaderPhase::Broadcast;
                    out.push(LeaderAction::StartServing);
                }
            }
        }
        if let Some(e) = self.learners.get_mut(&sid) {
            e.in_broadcast = true;
        }
    }

    /// A learner forwarded a client's request: `sync` is answered here once everything
    /// proposed before it is committed; every other request goes to the server.
    fn on_request(&mut self, sid: u64, p: QuorumPacket, out: &mut Vec<LeaderAction>) {
        let is_sync = ForwardedRequest::decode(p.data.as_deref().unwrap_or(&[]))
            .is_ok_and(|(header, _)| header.op_type == OP_SYNC);
        if !is_sync {
            out.push(LeaderAction::Forwarded { sid, packet: p });
            return;
        }
        match self.proposed.keys().next_back().copied() {
            Some(last) => self.syncs.push_back((last, sid)),
            None => self.send_to_sid(sid, QuorumPacket::new(packet::SYNC, 0, None), out),
        }
    }

    /// The clock: handlers' read timeouts and waits, discovery's and NEWLEADER's
    /// deadlines, and in broadcast a PING to every learner whose sync is queued, and the
    /// quorum check. An error ends the term.
    pub fn on_tick(&mut self, now: i64) -> Result<Vec<LeaderAction>, LeaderError> {
        let mut out = Vec::new();
        let expired: Vec<ConnId> = self
            .handlers
            .iter()
            .filter(|(_, h)| match h.stage {
                Stage::WaitServer { until } => now >= until,
                Stage::Preparing => false,
                _ => now - h.last_read > h.timeout,
            })
            .map(|(c, _)| *c)
            .collect();
        for conn in expired {
            self.end_handler(conn, &mut out);
        }
        if let Some(f) = &self.failure {
            return Err(f.clone());
        }
        match self.phase {
            LeaderPhase::Discovery => {
                self.discovery.on_tick(now).map_err(|e| self.fail(e.into()))?;
            }
            LeaderPhase::Sync => {
                if let Some(Err(e)) = self.newleader.as_ref().map(|n| n.on_tick(now)) {
                    return Err(self.fail(e.into()));
                }
            }
            LeaderPhase::Broadcast => {
                let last = self.last_committed().unwrap_or(0);
                let mut synced = BTreeSet::new();
                synced.insert(self.settings.myid);
                for (sid, e) in &self.learners {
                    // Only once its sync packets are queued: a learner's first packet after
                    // ACKEPOCH must be DIFF, TRUNC or SNAP.
                    if e.sync_mode.is_some() {
                        out.push(LeaderAction::Send {
                            conn: e.conn,
                            packet: QuorumPacket::new(packet::PING, last, None),
                        });
                    }
                    if e.in_broadcast && now - e.last_heard <= self.settings.sync_ms {
                        synced.insert(*sid);
                    }
                }
                if !self.settings.view.contains_quorum(&synced) {
                    return Err(self.fail(LeaderError::QuorumLost(synced)));
                }
            }
        }
        Ok(out)
    }

    /// The next zxid to propose, or the error that forces a new epoch (the term ends).
    pub fn next_zxid(&mut self) -> Result<i64, LeaderError> {
        let b = self.bcast.as_ref().ok_or(LeaderError::NotEstablished)?;
        b.next_zxid().map_err(|e| self.fail(e.into()))
    }

    /// Moves the zxid counter forward (`zookeeper.testingonly.initialZxid`).
    pub fn skip_to(&mut self, zxid: i64) -> Result<(), LeaderError> {
        let b = self.bcast.as_mut().ok_or(LeaderError::NotEstablished)?;
        Ok(b.skip_to(zxid)?)
    }

    /// A client's write, prepared at `zxid` (in order): PROPOSAL to the followers. The
    /// leader's own ACK follows its fsync ([`Leader::logged`]).
    pub fn propose(&mut self, zxid: i64, payload: Payload) -> Result<Vec<LeaderAction>, LeaderError> {
        if self.ended {
            return Err(LeaderError::Ended("the term is over".into()));
        }
        let b = self.bcast.as_mut().ok_or(LeaderError::NotEstablished)?;
        #[allow(unused_mut)] // changed only by a planted bug
        let mut actions = match b.propose(zxid, payload.to_vec()) {
            Ok(a) => a,
            Err(e) => return Err(self.fail(e.into())),
        };
        #[cfg(feature = "broken-engine")]
        if crate::mutant::active(crate::mutant::Mutant::LeaderCountsOwnAckBeforeFsync) {
            actions.extend(b.on_local_sync(zxid));
        }
        self.proposed.insert(zxid, payload);
        let mut out = Vec::new();
        self.exec(actions, &mut out);
        Ok(out)
    }

    /// The leader's log made these txns durable: its own ACKs.
    pub fn logged(&mut self, zxids: &[i64]) -> Vec<LeaderAction> {
        let mut actions = Vec::new();
        if let Some(b) = self.bcast.as_mut() {
            for z in zxids {
                actions.extend(b.on_local_sync(*z));
            }
        }
        let mut out = Vec::new();
        self.exec(actions, &mut out);
        out
    }

    /// The term ends (`Leader.shutdown`): every learner connection is closed, the ones
    /// still in discovery included, so no handler outlives its term.
    pub fn end(&mut self) -> Vec<LeaderAction> {
        self.ended = true;
        let conns: Vec<ConnId> = self.handlers.keys().copied().collect();
        let mut out: Vec<LeaderAction> = conns.into_iter().map(|conn| LeaderAction::Close { conn }).collect();
        for e in self.learners.values() {
            if !out.contains(&LeaderAction::Close { conn: e.conn }) {
                out.push(LeaderAction::Close { conn: e.conn });
            }
        }
        self.handlers.clear();
        self.learners.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::LearnerDiscovery;
    use crate::verifier::QuorumServer;

    const E1: i64 = 1 << 32;

    fn settings() -> LeaderSettings {
        LeaderSettings {
            myid: 3,
            view: QuorumMaj::new((1..=3).map(|i| QuorumServer::parse(i, "h:1:2").unwrap()), 0),
            init_ms: 1_000,
            sync_ms: 500,
            commit_log_count: 500,
            cross_epoch_trunc: false,
        }
    }

    fn hello(sid: u64) -> QuorumPacket {
        LearnerDiscovery { myid: sid, accepted_epoch: 0, current_epoch: 0, last_logged_zxid: 0 }.hello(false, 0)
    }

    fn sends(out: &[LeaderAction]) -> Vec<(ConnId, i32, i64)> {
        out.iter()
            .filter_map(|a| match a {
                LeaderAction::Send { conn, packet } => Some((*conn, packet.packet_type, packet.zxid)),
                _ => None,
            })
            .collect()
    }

    /// A learner on connection 10 (sid 1) through discovery and sync to broadcast.
    fn established() -> Leader {
        let (mut l, out) = Leader::start(settings(), 0, 0, 0, VecDeque::new(), 0);
        assert!(out.is_empty());
        l.on_accept(10, 0);
        let out = l.on_packet(10, hello(1), 1);
        assert_eq!(out[0], LeaderAction::PersistAcceptedEpoch(1), "acceptedEpoch before LEADERINFO");
        assert_eq!(sends(&out), vec![(10, packet::LEADERINFO, E1)]);
        let ack_epoch = QuorumPacket::new(packet::ACKEPOCH, 0, Some(0i32.to_be_bytes().to_vec()));
        let out = l.on_packet(10, ack_epoch, 2);
        assert_eq!(
            out,
            vec![LeaderAction::PersistCurrentEpoch(1), LeaderAction::StartServer { start_zxid: E1 }],
            "a quorum (3 and 1) acknowledged epoch 1"
        );
        assert_eq!(l.server_started(3), vec![LeaderAction::PrepareSync { conn: 10, read_log_from: None }]);
        let out = l.sync_learner(10, 0, None);
        assert_eq!(sends(&out), vec![(10, packet::DIFF, 0), (10, packet::NEWLEADER, E1)]);
        let out = l.on_packet(10, QuorumPacket::new(packet::ACK, E1, None), 4);
        assert_eq!(out[0], LeaderAction::StartServing);
        assert_eq!(sends(&out), vec![(10, packet::UPTODATE, -1)]);
        assert!(l.is_serving());
        l
    }

    #[test]
    fn a_write_commits_once_a_quorum_has_it_durable() {
        let mut l = established();
        let z = l.next_zxid().unwrap();
        assert_eq!(z, E1 | 1);
        let out = l.propose(z, Arc::new(vec![7])).unwrap();
        assert_eq!(sends(&out), vec![(10, packet::PROPOSAL, z)]);
        assert!(l.logged(&[z]).iter().all(|a| !matches!(a, LeaderAction::CommitUpTo(_))), "one ACK of 3 is no quorum");
        let out = l.on_packet(10, QuorumPacket::new(packet::ACK, z, None), 5);
        assert_eq!(sends(&out), vec![(10, packet::COMMIT, z)]);
        assert!(out.contains(&LeaderAction::CommitUpTo(z)));
        assert_eq!(l.committed_log().len(), 1);
    }

    #[test]
    fn pings_go_to_synced_learners_and_a_lost_quorum_ends_the_term() {
        let mut l = established();
        let out = l.on_tick(100).unwrap();
        assert_eq!(sends(&out), vec![(10, packet::PING, E1)]);
        assert!(matches!(l.on_tick(600), Err(LeaderError::QuorumLost(_))), "1 silent for longer than syncLimit");
        assert!(l.on_tick(601).is_err(), "the failure stays");
    }

    #[test]
    fn a_reconnecting_learner_replaces_its_older_connection() {
        let mut l = established();
        l.on_accept(11, 10);
        let out = l.on_packet(11, hello(1), 10);
        assert!(out.contains(&LeaderAction::Close { conn: 10 }));
        assert_eq!(l.learners().len(), 1);
        assert_eq!(l.learners()[0].conn, 11);
        assert!(l.on_closed(10).is_empty(), "the old handler is gone already");
        assert_eq!(l.end(), vec![LeaderAction::Close { conn: 11 }]);
    }

    #[test]
    fn a_learners_sync_is_answered_after_what_was_proposed_before_it() {
        let mut l = established();
        let z = l.next_zxid().unwrap();
        l.propose(z, Arc::new(vec![1])).unwrap();
        let req = ForwardedRequest { session_id: 5, cxid: 1, op_type: OP_SYNC }.encode(&[]);
        let out = l.on_packet(10, QuorumPacket::new(packet::REQUEST, -1, Some(req)), 6);
        assert!(sends(&out).is_empty(), "waits for 0x100000001");
        l.logged(&[z]);
        let out = l.on_packet(10, QuorumPacket::new(packet::ACK, z, None), 7);
        assert_eq!(sends(&out), vec![(10, packet::COMMIT, z), (10, packet::SYNC, 0)]);
        let write = ForwardedRequest { session_id: 5, cxid: 2, op_type: 1 }.encode(&[]);
        let out = l.on_packet(10, QuorumPacket::new(packet::REQUEST, -1, Some(write)), 8);
        assert!(matches!(&out[..], [LeaderAction::Forwarded { sid: 1, .. }]));
    }
}
