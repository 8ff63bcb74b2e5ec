//! One epoch as leader (`Leader.lead` and one `LearnerHandler` per learner connection), as
//! one synchronous state machine: connections, their packets, the clock, the server's
//! start, the log's fsyncs and the clients' proposals go in; a list of [`LeaderAction`]s
//! comes out, to be carried out in order. The server (`node/server/src/peer/leader.rs`)
//! carries them out over sockets, threads and a data directory; the cluster simulator
//! (`node/quorum/tests/sim`) over its seeded network and disks. Both run this very code.
//!
//! The epoch composes the phase machines of this crate:
//! 1. discovery ([`LeaderDiscovery`]): each connection's FOLLOWERINFO / OBSERVERINFO, the
//!    new epoch (acceptedEpoch persisted before LEADERINFO goes out), ACKEPOCH; once a
//!    quorum acknowledged it, currentEpoch is written and the epoch's server starts
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
use crate::sync_plan::{plan_with, LeaderLog, PlanOptions, SyncPacket};
use crate::verifier::QuorumMaj;
use crate::zxid;

mod handler;
mod handover;
mod status;
mod sync;
#[cfg(test)]
mod tests;

/// A learner connection, numbered by the runtime.
pub type ConnId = u64;

/// A txn as it travels: TxnHeader, txn and digest, serialized.
pub type Payload = Arc<Vec<u8>>;

/// Why a leader's epoch ends.
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
    #[error("the epoch has ended: {0}")]
    Ended(String),
    /// A hand-over is under way: no proposal until it ends.
    #[error("the leadership is being handed over to {0}; retry on the next leader")]
    HandingOver(u64),
}

pub use handover::HandOverError;
pub use status::LearnerStatus;

/// What one epoch of a leader needs to know.
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
    /// `reconfigEnabled`: a server not in the configuration may connect as a non-voting
    /// follower or observer (a member joining by reconfig); otherwise it is refused.
    pub reconfig_enabled: bool,
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
    /// Start the epoch's server on the database, its next zxid after `start_zxid`; then
    /// call [`Leader::server_started`].
    StartServer { start_zxid: i64 },
    /// A learner waits for its synchronisation: read what [`Leader::sync_learner`] needs
    /// (the applied zxid; the log from `read_log_from` when given) and call it.
    PrepareSync { conn: ConnId, read_log_from: Option<i64> },
    /// The leader chose how to synchronise a learner (for logs and metrics).
    Synchronising { sid: u64, mode: SyncMode, from_disk: bool, with_proposals: bool, outstanding: usize },
    /// A quorum acknowledged NEWLEADER: serve clients.
    StartServing,
    /// A reconfig committed and its configuration is in force from now on (write it as
    /// the dynamic configuration); `designated` leads it — when that is another member,
    /// this leader commits nothing more and its epoch ends once its followers leave.
    Activated { zxid: i64, view: Arc<QuorumMaj>, designated: u64 },
    /// A proposal is committed: record it; [`LeaderAction::CommitUpTo`] follows.
    Committed { zxid: i64, payload: Option<Payload> },
    /// Apply, in order, every txn up to this zxid.
    CommitUpTo(i64),
    /// A learner's PING carried the sessions its clients touched (SessionTouch records).
    TouchSessions { sid: u64, data: Vec<u8> },
    /// A learner forwarded a client's write (`REQUEST`); the answer reaches the client
    /// through the learner, when it applies the txn.
    Forwarded { sid: u64, packet: QuorumPacket },
    /// The hand-over to `to` failed (why): proposing resumes, the epoch goes on.
    HandOverFailed { to: u64, reason: String },
    /// HANDOVER went out to every learner, after `zxid`, the last txn, which `to` holds.
    HandOverSent { to: u64, zxid: i64 },
    /// The learners have left (or the wait for them ended): the epoch ends, and the next
    /// one follows `to` without an election.
    HandOverComplete { to: u64 },
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

/// A learner the epoch knows by sid (`st.learners`): its current connection.
#[derive(Debug, Clone)]
struct Entry {
    conn: ConnId,
    last_heard: i64,
    in_broadcast: bool,
    sync_mode: Option<SyncMode>,
    last_acked: i64,
    observer: bool,
    /// The protocol version its FOLLOWERINFO / OBSERVERINFO announced.
    protocol_version: i32,
}

/// Where the epoch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderPhase {
    Discovery,
    /// The server runs; waiting for NEWLEADER's quorum.
    Sync,
    Broadcast,
}

/// One epoch of a leader.
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
    /// The initial configuration with the NEWLEADER zxid as its version, to activate once
    /// NEWLEADER has its quorum (reconfigEnabled only).
    bumped: Option<Arc<QuorumMaj>>,
    /// A configuration a reconfig logged here but never activated (the runtime's
    /// `lastSeenQuorumVerifier`): this epoch's NEWLEADER completes it (ZOOKEEPER-1324).
    pending: Option<Arc<QuorumMaj>>,
    /// A hand-over of the leadership under way.
    hand_over: Option<handover::HandOver>,
    /// The latest time a call gave (for what a call without one decides).
    clock: i64,
}

impl Leader {
    /// An epoch begins: discovery counts this member first. `committed_log` is the window of
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
            bumped: None,
            pending: None,
            hand_over: None,
            clock: now,
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

    /// The configuration in force (the one the epoch started with, until a reconfig
    /// activates another).
    pub fn config(&self) -> &QuorumMaj {
        match &self.bcast {
            Some(b) => b.config(),
            None => &self.settings.view,
        }
    }

    /// A reconfig this member logged but never saw activate (`lastSeenQuorumVerifier`),
    /// given before the epoch's server starts: when newer than the configuration in force,
    /// NEWLEADER carries it and needs a quorum of it too, and it is in force once NEWLEADER
    /// has both quorums (`Leader.startZkServer`, ZOOKEEPER-1324).
    pub fn set_last_seen(&mut self, view: QuorumMaj) {
        if self.settings.reconfig_enabled && self.bcast.is_none() && view.version > self.settings.view.version {
            self.pending = Some(Arc::new(view));
        }
    }

    /// The configuration a reconfig in flight will activate.
    pub fn next_config(&self) -> Option<&QuorumMaj> {
        self.bcast.as_ref().and_then(|b| b.next_config()).map(|v| v.as_ref())
    }

    /// The recent committed txns (the DIFF window) as they stand.
    pub fn committed_log(&self) -> &VecDeque<(i64, Payload)> {
        &self.committed_log
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
                BroadcastAction::Activate { zxid, view, designated } => {
                    out.push(LeaderAction::Activated { zxid, view, designated });
                }
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

    /// The clock: handlers' read timeouts and waits, discovery's and NEWLEADER's
    /// deadlines, and in broadcast a PING to every learner whose sync is queued, and the
    /// quorum check. An error ends the epoch.
    pub fn on_tick(&mut self, now: i64) -> Result<Vec<LeaderAction>, LeaderError> {
        let mut out = Vec::new();
        self.clock = self.clock.max(now);
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
            LeaderPhase::Broadcast if self.hand_over.as_ref().is_some_and(|h| h.sent) => {
                // The learners leave for the next leader: no quorum is expected any more.
                self.advance_hand_over(now, &mut out);
            }
            LeaderPhase::Broadcast => {
                self.advance_hand_over(now, &mut out);
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
                if !self.config().contains_quorum(&synced) {
                    return Err(self.fail(LeaderError::QuorumLost(synced)));
                }
            }
        }
        Ok(out)
    }

    /// The next zxid to propose, or the error that forces a new epoch (this one ends).
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
        self.may_propose()?;
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

    /// A reconfig txn, prepared at `zxid`: it activates `view` (its version `zxid`) once a
    /// quorum of the current configuration and of `view` have logged it.
    pub fn propose_reconfig(
        &mut self,
        zxid: i64,
        payload: Payload,
        view: QuorumMaj,
    ) -> Result<Vec<LeaderAction>, LeaderError> {
        self.may_propose()?;
        let b = self.bcast.as_mut().ok_or(LeaderError::NotEstablished)?;
        let actions = match b.propose_reconfig(zxid, payload.to_vec(), view) {
            Ok(a) => a,
            Err(e @ BroadcastError::ReconfigInProgress(_)) => return Err(e.into()),
            Err(e) => return Err(self.fail(e.into())),
        };
        self.proposed.insert(zxid, payload);
        let mut out = Vec::new();
        self.exec(actions, &mut out);
        Ok(out)
    }

    /// Whether a client's write may be proposed now.
    fn may_propose(&self) -> Result<(), LeaderError> {
        if self.ended {
            return Err(LeaderError::Ended("the epoch is over".into()));
        }
        match &self.hand_over {
            Some(h) => Err(LeaderError::HandingOver(h.to)),
            None => Ok(()),
        }
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
        self.advance_hand_over(self.clock, &mut out);
        out
    }

    /// The epoch ends (`Leader.shutdown`): every learner connection is closed, the ones
    /// still in discovery included, so no handler outlives its epoch.
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
