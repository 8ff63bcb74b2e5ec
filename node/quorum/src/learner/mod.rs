//! One epoch as a follower or observer (`Learner`, `Follower`, `Observer`), as one
//! synchronous state machine: the leader's packets, the outcome of a truncation and the
//! clock go in; a list of [`LearnerAction`]s comes out, to be carried out in order. The
//! server (`node/server/src/peer/learner.rs`) carries them out over a socket and a data
//! directory; the cluster simulator (`node/quorum/tests/sim`) over its seeded network and
//! disks. Both run this very code, so what the simulator's seeds find is what the server
//! does.
//!
//! The epoch composes the phase machines of this crate in turn:
//! 1. discovery ([`LearnerDiscovery`]): FOLLOWERINFO / OBSERVERINFO, then LEADERINFO, whose
//!    epoch is persisted as acceptedEpoch before ACKEPOCH goes out;
//! 2. synchronisation ([`LearnerSync`]): DIFF / TRUNC / SNAP, proposals and commits collected
//!    until NEWLEADER. At NEWLEADER the collected proposals are logged and fsynced and the
//!    committed ones applied, directly on the database; currentEpoch is written; the epoch's
//!    server starts, adopting the logged proposals whose COMMIT is still to come; only then
//!    is NEWLEADER acknowledged. From there on txns go through the server's log, whose sync
//!    thread ACKs each one once durable ([`Acker`]);
//! 3. broadcast ([`FollowerBroadcast`]) from UPTODATE on, after acknowledging the adopted
//!    proposals (ZooKeeper logs them through its SyncRequestProcessor, which ACKs them).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use thiserror::Error;
use zab_jute::learner_bodies::RevalidateReply;
use zab_jute::quorum::{packet, QuorumPacket, PROTOCOL_VERSION, ZAB_PROTOCOL_VERSION};
use zab_jute::record::Record;

use crate::discovery::{DiscoveryError, LearnerDiscovery};
use crate::follower::{FollowerAction, FollowerBroadcast, FollowerError};
use crate::learner_sync::{LearnerSync, SyncAction, SyncError};
use crate::reconfig::{config_of_txn, major_change, parse_config};
use crate::verifier::QuorumMaj;
use crate::zxid;

/// Why a learner's epoch ends.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LearnerError {
    #[error("discovery: {0}")]
    Discovery(#[from] DiscoveryError),
    #[error("sync: {0}")]
    Sync(#[from] SyncError),
    #[error("broadcast: {0}")]
    Broadcast(#[from] FollowerError),
    /// A TRUNC could not bring the database down to its zxid (no snapshot old enough).
    #[error(
        "after truncating to 0x{target:x} the database is at 0x{now_at:x} (no snapshot old enough); \
         asking the leader for SNAP from now on"
    )]
    TruncationShort { target: i64, now_at: i64 },
    #[error("sync: COMMIT of 0x{0:x}, a txn this learner does not hold")]
    NotHeld(i64),
    #[error("sync: a packet from the leader before the truncation to 0x{0:x} was reported done")]
    TruncationPending(i64),
    #[error("reading from the leader: timed out ({0} ms)")]
    Timeout(i64),
}

impl LearnerError {
    /// Whether the member must stop announcing that it can be truncated across an epoch
    /// (see [`protocol_version`]).
    pub fn makes_truncation_unsafe(&self) -> bool {
        matches!(self, LearnerError::TruncationShort { .. })
    }
}

/// The protocol version a learner announces: zab's (the leader may truncate it across an
/// epoch) unless a truncation on this member has come up short, then ZooKeeper's, so the
/// leader sends SNAP instead.
pub fn protocol_version(truncation_safe: bool) -> i32 {
    if truncation_safe {
        ZAB_PROTOCOL_VERSION
    } else {
        PROTOCOL_VERSION
    }
}

/// What one epoch of a learner needs to know.
#[derive(Debug, Clone)]
pub struct LearnerSettings {
    pub myid: u64,
    pub observer: bool,
    /// The configuration version announced in FOLLOWERINFO / OBSERVERINFO.
    pub config_version: i64,
    /// [`protocol_version`] of this member.
    pub protocol_version: i32,
    /// initLimit and syncLimit in milliseconds: how long the leader may stay silent before
    /// and after synchronisation.
    pub init_ms: i64,
    pub sync_ms: i64,
    /// `zookeeper.testingonly.initialZxid`: the counter a leader may jump to.
    pub counter_skip: Option<i64>,
    /// The leader this epoch follows, and the configuration the member runs with.
    pub leader: u64,
    pub view: Arc<QuorumMaj>,
    /// `reconfigEnabled`: without it no configuration ever activates here
    /// (`processReconfig` returns at once).
    pub reconfig_enabled: bool,
}

/// What the learner asks of its runtime, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerAction {
    /// Send this packet to the leader.
    Send(QuorumPacket),
    /// Write acceptedEpoch (atomically, durably) before anything else goes out.
    PersistAcceptedEpoch(i64),
    /// Cut the log after this zxid and drop the snapshots newer than it, load the database
    /// from disk again, and report where it ended with [`Learner::truncated`] before the
    /// next packet.
    Truncate(i64),
    /// Read the snapshot stream that follows the SNAP packet; it becomes the database
    /// (whose last zxid is this one), held apart from the disk until [`TakeSnapshot`].
    ///
    /// [`TakeSnapshot`]: LearnerAction::TakeSnapshot
    LoadSnapshot(i64),
    /// Write this member's own ensemble configuration into the database's
    /// `/zookeeper/config` (`initConfigInZKDatabase`), whatever the leader's snapshot held.
    InitConfigNode,
    /// Write a snapshot of the database (the streamed one, if SNAP gave one).
    TakeSnapshot,
    /// No server runs yet: append these txns to the log and fsync before going on.
    LogDirect(Vec<(i64, Vec<u8>)>),
    /// No server runs yet: apply this durable txn to the database and its window of recent
    /// txns (`addCommittedProposal`, which a later DIFF from this member relies on).
    ApplyDirect { zxid: i64, data: Vec<u8> },
    /// Write currentEpoch (atomically, durably).
    PersistCurrentEpoch(i64),
    /// Start the epoch's server on the database; these proposals, already durable, wait in
    /// it for their COMMIT.
    StartServer { adopted: Vec<(i64, Vec<u8>)> },
    /// Hand this txn to the server's log; once fsynced, ACK it with [`Acker`].
    Log { zxid: i64, data: Vec<u8> },
    /// Apply, in order, every txn up to this zxid that is committed.
    CommitUpTo(i64),
    /// Serve clients.
    StartServing,
    /// Answer the leader's PING (this zxid and auth) with the sessions the clients touched.
    AnswerPing(QuorumPacket),
    /// The leader answered the oldest `sync` this member forwarded.
    SyncDone,
    /// The leader's answer to a REVALIDATE this member sent for a client's session.
    Revalidated { session_id: i64, valid: bool },
    /// A configuration is in force from now on (`processReconfig`): write it as the
    /// dynamic configuration; `designated` leads it (None: whoever leads). When `leave`,
    /// the member's role or leader changes: the epoch ends once this is carried out.
    Activate { zxid: i64, view: Arc<QuorumMaj>, designated: Option<u64>, leave: bool },
    /// The leader handed its role over to `to` (HANDOVER, zab's own): the epoch ends once
    /// this is carried out, and the next one follows `to` without an election (leads, when
    /// `to` is this member).
    HandedOver { to: u64 },
}

/// The ACKs of txns the server's log made durable: from the sync thread, beside the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Acker {
    observer: bool,
}

impl Acker {
    pub fn new(observer: bool) -> Acker {
        Acker { observer }
    }

    /// One ACK per txn, for a follower; an observer never acknowledges.
    pub fn acks(&self, zxids: &[i64]) -> Vec<QuorumPacket> {
        if self.observer {
            return Vec::new();
        }
        zxids.iter().map(|z| QuorumPacket::new(packet::ACK, *z, None)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovery,
    Sync,
    Broadcast,
}

/// How the leader synchronised this learner, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Diff => "DIFF",
            SyncMode::Trunc => "TRUNC",
            SyncMode::Snap => "SNAP",
        }
    }
}

/// One epoch of a follower or observer.
pub struct Learner {
    settings: LearnerSettings,
    stage: Stage,
    disc: LearnerDiscovery,
    sync: Option<LearnerSync>,
    bcast: Option<FollowerBroadcast>,
    /// Proposals logged during synchronisation, before the server started.
    collected: BTreeMap<i64, Vec<u8>>,
    server_started: bool,
    /// Proposals that reached the server's log during synchronisation (adopted or logged
    /// after NEWLEADER), and which of them were applied before broadcast began.
    after_newleader: Vec<i64>,
    applied_after: BTreeSet<i64>,
    /// Adopted at NEWLEADER, to be ACKed once serving.
    adopted: Vec<i64>,
    /// A TRUNC carried out by the runtime, not reported yet.
    truncating: Option<i64>,
    config_node_written: bool,
    mode: SyncMode,
    last_read: i64,
    /// The configuration in force here, the ones reconfig proposals carry (by zxid), and
    /// the leader's, as NEWLEADER announced it when newer.
    view: Arc<QuorumMaj>,
    reconfigs: BTreeMap<i64, Arc<QuorumMaj>>,
    newleader_view: Option<Arc<QuorumMaj>>,
}

impl Learner {
    /// An epoch begins on a new connection to the leader: FOLLOWERINFO (or OBSERVERINFO)
    /// goes out. `last_zxid` is the last txn of this member's database.
    pub fn start(
        settings: LearnerSettings,
        current_epoch: i64,
        accepted_epoch: i64,
        last_zxid: i64,
        now: i64,
    ) -> (Learner, Vec<LearnerAction>) {
        let disc = LearnerDiscovery { myid: settings.myid, accepted_epoch, current_epoch, last_logged_zxid: last_zxid };
        let hello = disc.hello_as(settings.observer, settings.config_version, settings.protocol_version);
        let view = settings.view.clone();
        let learner = Learner {
            settings,
            stage: Stage::Discovery,
            disc,
            sync: None,
            bcast: None,
            collected: BTreeMap::new(),
            server_started: false,
            after_newleader: Vec::new(),
            applied_after: BTreeSet::new(),
            adopted: Vec::new(),
            truncating: None,
            config_node_written: false,
            mode: SyncMode::Diff,
            last_read: now,
            view,
            reconfigs: BTreeMap::new(),
            newleader_view: None,
        };
        (learner, vec![LearnerAction::Send(hello)])
    }

    /// ACKs for what the server's log makes durable, usable from another thread.
    pub fn acker(&self) -> Acker {
        Acker { observer: self.settings.observer }
    }

    /// How long the leader may stay silent now: initLimit until broadcast, syncLimit in it.
    pub fn read_timeout_ms(&self) -> i64 {
        match self.stage {
            Stage::Broadcast => self.settings.sync_ms,
            _ => self.settings.init_ms,
        }
    }

    /// In broadcast (after UPTODATE).
    pub fn in_broadcast(&self) -> bool {
        self.stage == Stage::Broadcast
    }

    /// The epoch LEADERINFO announced, once known.
    pub fn leader_epoch(&self) -> Option<i64> {
        (self.stage != Stage::Discovery).then_some(self.disc.accepted_epoch)
    }

    pub fn sync_mode(&self) -> SyncMode {
        self.mode
    }

    /// The last zxid received from the leader (or this member's own, before any): what the
    /// disk must hold once NEWLEADER is acknowledged.
    pub fn last_received(&self) -> i64 {
        match (&self.bcast, &self.sync) {
            (Some(b), _) => b.last_zxid(),
            (None, Some(s)) => s.last_zxid(),
            (None, None) => self.disc.last_logged_zxid,
        }
    }

    /// The last proposal taken in broadcast, if broadcast has begun.
    pub fn last_proposed(&self) -> Option<i64> {
        self.bcast.as_ref().map(|b| b.last_zxid())
    }

    /// The clock: the epoch ends when the leader has been silent for too long.
    pub fn on_tick(&self, now: i64) -> Result<(), LearnerError> {
        let timeout = self.read_timeout_ms();
        if now - self.last_read > timeout {
            return Err(LearnerError::Timeout(timeout));
        }
        Ok(())
    }

    /// A packet from the leader. For SNAP the runtime reads the snapshot stream when it
    /// carries out [`LearnerAction::LoadSnapshot`].
    pub fn on_packet(&mut self, p: QuorumPacket, now: i64) -> Result<Vec<LearnerAction>, LearnerError> {
        self.last_read = now;
        if let Some(z) = self.truncating {
            return Err(LearnerError::TruncationPending(z));
        }
        self.note_config(&p);
        match self.stage {
            Stage::Discovery => self.on_leader_info(&p),
            Stage::Sync => self.on_sync_packet(&p),
            Stage::Broadcast => self.on_broadcast_packet(p),
        }
    }

    /// The configuration in force here.
    pub fn config(&self) -> &Arc<QuorumMaj> {
        &self.view
    }

    /// Remembers the configuration a reconfig proposal (or INFORMANDACTIVATE) carries, and
    /// the leader's from NEWLEADER when it is newer than this member's.
    fn note_config(&mut self, p: &QuorumPacket) {
        let data = p.data.as_deref().unwrap_or(&[]);
        match p.packet_type {
            packet::PROPOSAL | packet::INFORM => {
                if let Some(Ok(v)) = config_of_txn(data) {
                    self.reconfigs.insert(p.zxid, Arc::new(v));
                }
            }
            packet::INFORMANDACTIVATE => {
                if let Some(Ok(v)) = config_of_txn(data.get(8..).unwrap_or(&[])) {
                    self.reconfigs.insert(p.zxid, Arc::new(v));
                }
            }
            packet::NEWLEADER => {
                let leader_view = std::str::from_utf8(data).ok().and_then(|t| parse_config(t).ok());
                if let Some(v) = leader_view.filter(|v| v.version > self.view.version) {
                    self.newleader_view = Some(Arc::new(v));
                }
            }
            _ => {}
        }
    }

    /// A configuration activates (`processReconfig`): the reconfig txn `zxid`'s, or
    /// `view` when given.
    fn activation(
        &mut self,
        zxid: i64,
        designated: Option<u64>,
        view: Option<Arc<QuorumMaj>>,
    ) -> Option<LearnerAction> {
        if !self.settings.reconfig_enabled {
            return None;
        }
        let view = view.or_else(|| self.reconfigs.remove(&zxid))?;
        self.reconfigs.retain(|z, _| *z > zxid);
        if view.version <= self.view.version {
            return None;
        }
        let leave = major_change(self.settings.myid, &self.view, &view, self.settings.leader, designated);
        self.view = view.clone();
        Some(LearnerAction::Activate { zxid, view, designated, leave })
    }

    /// The runtime carried out [`LearnerAction::Truncate`]; the database now ends at
    /// `now_at`.
    pub fn truncated(&mut self, now_at: i64) -> Result<Vec<LearnerAction>, LearnerError> {
        let Some(target) = self.truncating.take() else { return Ok(Vec::new()) };
        if now_at != target {
            return Err(LearnerError::TruncationShort { target, now_at });
        }
        let mut out = Vec::new();
        self.after_first_sync_packet(&mut out);
        Ok(out)
    }

    fn on_leader_info(&mut self, p: &QuorumPacket) -> Result<Vec<LearnerAction>, LearnerError> {
        let (persist, ack) = self.disc.on_leader_info(p)?;
        let mut out = Vec::with_capacity(2);
        out.extend(persist.map(LearnerAction::PersistAcceptedEpoch));
        out.push(LearnerAction::Send(ack));
        let new_epoch = zxid::epoch(p.zxid);
        self.sync = Some(
            LearnerSync::new(self.disc.last_logged_zxid, new_epoch).allow_counter_skip(self.settings.counter_skip),
        );
        self.stage = Stage::Sync;
        Ok(out)
    }

    /// After the first sync packet (DIFF, TRUNC or SNAP; `Learner.syncWithLeader`): the
    /// member's own configuration goes into the database.
    fn after_first_sync_packet(&mut self, out: &mut Vec<LearnerAction>) {
        if !self.config_node_written {
            self.config_node_written = true;
            out.push(LearnerAction::InitConfigNode);
        }
    }

    fn on_sync_packet(&mut self, p: &QuorumPacket) -> Result<Vec<LearnerAction>, LearnerError> {
        let Some(sync) = self.sync.as_mut() else { return Ok(Vec::new()) };
        // A reconfig's commit during synchronisation: a COMMIT (an INFORM for an observer,
        // with the txn after the designated leader), then the activation.
        let activates = matches!(p.packet_type, packet::COMMITANDACTIVATE | packet::INFORMANDACTIVATE).then(|| {
            let d = p.data.as_deref().and_then(|d| d.get(..8)).and_then(|b| <[u8; 8]>::try_from(b).ok());
            (p.zxid, d.map(u64::from_be_bytes))
        });
        let commit;
        let p = match (activates, p.packet_type) {
            (Some(_), packet::INFORMANDACTIVATE) => {
                let txn = p.data.as_deref().and_then(|d| d.get(8..)).map(<[u8]>::to_vec);
                commit = QuorumPacket::new(packet::INFORM, p.zxid, txn);
                &commit
            }
            (Some(_), _) => {
                commit = QuorumPacket::new(packet::COMMIT, p.zxid, None);
                &commit
            }
            (None, _) => p,
        };
        #[allow(unused_mut)] // changed only by a planted bug
        let mut actions = sync.on_packet(p)?;
        #[cfg(feature = "broken-engine")]
        plant_newleader_ack_bugs(p, &mut actions);
        let mut out = Vec::with_capacity(actions.len());
        // Txns handed to the server's log here are ACKed by its sync thread once durable;
        // the state machine's own ACK of them is dropped.
        let mut acked_by_log = BTreeSet::new();
        let mut serving_at = None;
        for a in actions {
            match a {
                SyncAction::Truncate(z) => {
                    self.mode = SyncMode::Trunc;
                    self.truncating = Some(z);
                    out.push(LearnerAction::Truncate(z));
                    // Nothing else comes with a TRUNC; the rest waits for `truncated`.
                    return Ok(out);
                }
                SyncAction::LoadSnapshot(z) => {
                    self.mode = SyncMode::Snap;
                    out.push(LearnerAction::LoadSnapshot(z));
                }
                SyncAction::TakeSnapshot => out.push(LearnerAction::TakeSnapshot),
                SyncAction::LogAndSync(txns) if !self.server_started => {
                    self.collected.extend(txns.iter().cloned());
                    out.push(LearnerAction::LogDirect(txns));
                }
                SyncAction::LogAndSync(txns) => {
                    for (zxid, data) in txns {
                        self.after_newleader.push(zxid);
                        acked_by_log.insert(zxid);
                        out.push(LearnerAction::Log { zxid, data });
                    }
                }
                SyncAction::Apply(z) if !self.server_started => {
                    let data = self.collected.remove(&z).ok_or(LearnerError::NotHeld(z))?;
                    out.push(LearnerAction::ApplyDirect { zxid: z, data });
                }
                SyncAction::Apply(z) => {
                    self.applied_after.insert(z);
                    out.push(LearnerAction::CommitUpTo(z));
                }
                SyncAction::PersistCurrentEpoch(e) => {
                    out.push(LearnerAction::PersistCurrentEpoch(e));
                    // Proposals logged above whose COMMIT is still to come.
                    let adopted: Vec<(i64, Vec<u8>)> = std::mem::take(&mut self.collected).into_iter().collect();
                    self.after_newleader.extend(adopted.iter().map(|(z, _)| *z));
                    self.adopted.extend(adopted.iter().map(|(z, _)| *z));
                    self.server_started = true;
                    out.push(LearnerAction::StartServer { adopted });
                }
                SyncAction::Send(p) => {
                    if !(p.packet_type == packet::ACK && acked_by_log.contains(&p.zxid)) {
                        out.push(LearnerAction::Send(p));
                    }
                }
                SyncAction::StartServing => {
                    serving_at = Some(out.len());
                    out.push(LearnerAction::StartServing);
                    // Durable here since NEWLEADER: ACKed now, as ZooKeeper's sync processor
                    // does after UPTODATE; the quorum may need these ACKs.
                    if !self.settings.observer {
                        for z in self.adopted.drain(..) {
                            out.push(LearnerAction::Send(QuorumPacket::new(packet::ACK, z, None)));
                        }
                    }
                }
            }
        }
        let (done, last) = (sync.done(), sync.last_zxid());
        if let Some((zxid, designated)) = activates {
            out.extend(self.activation(zxid, designated, None));
        }
        // The leader's configuration, when newer, is in force before serving.
        if let Some(at) = serving_at {
            if let Some(v) = self.newleader_view.take() {
                if let Some(a) = self.activation(v.version, None, Some(v)) {
                    out.insert(at, a);
                }
            }
        }
        self.after_first_sync_packet(&mut out);
        if done {
            let applied = &self.applied_after;
            let pending = self.after_newleader.iter().copied().filter(|z| !applied.contains(z)).collect();
            self.bcast = Some(FollowerBroadcast::with_pending(last, self.settings.observer, pending));
            self.stage = Stage::Broadcast;
        }
        Ok(out)
    }

    fn on_broadcast_packet(&mut self, p: QuorumPacket) -> Result<Vec<LearnerAction>, LearnerError> {
        match p.packet_type {
            packet::PING => return Ok(vec![LearnerAction::AnswerPing(p)]),
            packet::SYNC => return Ok(vec![LearnerAction::SyncDone]),
            packet::HANDOVER => {
                let to = p.data.as_deref().and_then(|d| <[u8; 8]>::try_from(d).ok()).map(u64::from_be_bytes);
                return Ok(to.map(|to| vec![LearnerAction::HandedOver { to }]).unwrap_or_default());
            }
            packet::REVALIDATE => {
                // An answer too short to read is ignored (the client's wait times out).
                let data = p.data.unwrap_or_default();
                return Ok(match RevalidateReply::from_bytes(&data, data.len()) {
                    Ok(r) => vec![LearnerAction::Revalidated { session_id: r.session_id, valid: r.valid }],
                    Err(_) => Vec::new(),
                });
            }
            _ => {}
        }
        let Some(bcast) = self.bcast.as_mut() else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for a in bcast.on_packet(&p)? {
            match a {
                FollowerAction::Log { zxid, data } => out.push(LearnerAction::Log { zxid, data }),
                FollowerAction::Apply(z) => out.push(LearnerAction::CommitUpTo(z)),
                FollowerAction::Send(p) => out.push(LearnerAction::Send(p)),
                FollowerAction::Activate { zxid, designated } => {
                    out.extend(self.activation(zxid, Some(designated), None))
                }
            }
        }
        #[cfg(feature = "broken-engine")]
        if crate::mutant::active(crate::mutant::Mutant::FollowerAcksProposalBeforeFsync) && !self.settings.observer {
            let early: Vec<i64> = out
                .iter()
                .filter_map(|a| if let LearnerAction::Log { zxid, .. } = a { Some(*zxid) } else { None })
                .collect();
            out.extend(early.into_iter().map(|z| LearnerAction::Send(QuorumPacket::new(packet::ACK, z, None))));
        }
        Ok(out)
    }
}

/// The ACK of NEWLEADER moved earlier, when a [`crate::mutant::Mutant`] says so.
#[cfg(feature = "broken-engine")]
fn plant_newleader_ack_bugs(p: &QuorumPacket, actions: &mut Vec<SyncAction>) {
    use crate::mutant::{active, Mutant};
    if p.packet_type != packet::NEWLEADER {
        return;
    }
    let Some(ack) = actions.iter().position(|a| matches!(a, SyncAction::Send(q) if q.packet_type == packet::ACK))
    else {
        return;
    };
    let to = if active(Mutant::LearnerAcksNewLeaderBeforeLogging) {
        0
    } else if active(Mutant::LearnerAcksNewLeaderBeforeEpoch) {
        actions.iter().position(|a| matches!(a, SyncAction::PersistCurrentEpoch(_))).unwrap_or(ack)
    } else {
        return;
    };
    let a = actions.remove(ack);
    actions.insert(to.min(actions.len()), a);
}

#[cfg(test)]
mod tests;
