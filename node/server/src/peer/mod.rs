//! Running as a quorum peer (`QuorumPeer.run`): elect, then lead or learn for one epoch,
//! and elect again when the epoch ends; the client port stays open throughout and hands
//! clients to the server of the current epoch.
//!
//! Every protocol decision is made by the engines of `zab-quorum` (FastLeaderElection,
//! [`zab_quorum::leader::Leader`], [`zab_quorum::learner::Learner`],
//! [`zab_quorum::peer::QuorumPeer`]); this module only carries their actions out, and the
//! cluster simulator (`node/quorum/tests/sim`) runs the same engines over a seeded world.
//!
//! Who owns which thread:
//! - a tokio task per member runs [`run_member`]: the database between epochs, the election
//!   (an async driver of FastLeaderElection over [`qcm`]), then one blocking thread per epoch;
//! - a leader's epoch: the epoch thread (epoch file, the server's start and stop, a tick
//!   every half tick), an acceptor thread, a handler thread per learner connection (reads
//!   packets into the engine), a writer thread per connection (`wire::Outbox`); the
//!   engine sits under one lock, and what its actions ask of the server (applying, a
//!   forwarded request, a session check, a learner's sync) runs after the lock is released;
//! - a learner's epoch: the epoch thread reads the leader's packets into the engine and
//!   carries out its actions in order (the data directory before NEWLEADER, the server
//!   after), a writer thread sends; the server's log thread ACKs what it made durable
//!   ([`zab_quorum::learner::Acker`]);
//! - [`stop::StopSignal`] ends them all: what blocks registers how to be woken.
//!
//! A write on the leader: a client's connection task prepares it under the prep lock
//! (zxid, txn), the engine's `propose` queues PROPOSAL on every follower's outbox, the log
//! thread appends and fsyncs and reports `logged` (the leader's own ACK); each follower's
//! handler thread feeds its ACK to the engine; once a quorum has it the engine emits COMMIT
//! to the followers, INFORM to the observers and `CommitUpTo`, and the server applies and
//! answers the client. On a follower the PROPOSAL is handed to the log thread, which ACKs
//! after its fsync, and the COMMIT applies it.
//!
//! - [`qcm`]: QuorumCnxManager, the election port.
//! - [`election`]: FastLeaderElection over it.
//! - [`leader`]: the leader engine's driver on the quorum port.
//! - [`learner`]: the learner engine's driver (`Follower` / `Observer`).
//! - [`wire`]: QuorumPacket and SNAP stream framing.
//! - [`activate`]: a configuration coming into force on this member.
//! - [`stop`]: the one stop signal every part of a member wakes on.
//! - [`error`]: why an epoch ended.

pub mod activate;
pub mod election;
pub mod error;
pub mod leader;
pub mod learner;
pub mod qcm;
pub mod stop;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{error, info};
use zab_quorum::election::PeerState;
use zab_quorum::peer::NextRole;

use crate::config::ServerConfig;
pub use crate::peer_state::{init_config_node, PeerInfo, PeerView};
use crate::zk_server::{Database, Role, ZooKeeperServer};
use crate::ServerSlot;
pub use stop::StopSignal;

/// What an election ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// The role for the next epoch and its leader's sid.
    Role(PeerState, u64),
    /// A newer configuration to adopt before electing again (reconfigEnabled).
    NewerConfig(zab_quorum::verifier::QuorumMaj),
}

/// The outcome of an election, once known.
pub type Decision<'a> = Pin<Box<dyn Future<Output = Option<Decided>> + Send + 'a>>;

/// How a member learns its role for the next epoch: the election, or (in tests that
/// exercise replication alone) a fixed assignment.
pub trait Decide: Send + Sync {
    /// The role for a member whose last logged zxid and currentEpoch are given; `None`
    /// ends the member.
    fn decide(&self, last_zxid: i64, current_epoch: i64) -> Decision<'_>;

    /// The member serves in epoch `epoch`, its currentEpoch (`updateElectionVote`).
    fn serving(&self, _epoch: i64) {}

    /// A configuration activated: elect with it from now on.
    fn set_view(&self, _view: &zab_quorum::verifier::QuorumMaj) {}

    /// The next epoch takes a designated role without an election: answer others with it.
    fn designated(&self, _state: PeerState, _leader: u64, _zxid: i64) {}
}

use election::Election;

impl Decide for Election {
    fn decide(&self, last_zxid: i64, current_epoch: i64) -> Decision<'_> {
        Box::pin(async move {
            self.look_for_leader(last_zxid, current_epoch).await.map(|e| match e {
                election::Elected::Role(state, vote) => Decided::Role(state, vote.leader),
                election::Elected::NewerConfig(view) => Decided::NewerConfig(view),
            })
        })
    }

    fn serving(&self, epoch: i64) {
        self.update_election_vote(epoch);
    }

    fn set_view(&self, view: &zab_quorum::verifier::QuorumMaj) {
        Election::set_view(self, view);
    }

    fn designated(&self, state: PeerState, leader: u64, zxid: i64) {
        Election::designated(self, state, leader, zxid);
    }
}

/// Runs this process as a quorum member until `shutdown`: the election port, the client
/// port (handing clients to the current epoch's server) and the epochs.
pub async fn run_quorum(
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    slot: ServerSlot,
    info: Arc<PeerInfo>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let q = config.quorum.clone().ok_or_else(|| std::io::Error::other("no server.N lines: not a quorum member"))?;
    let settings = qcm::QcmSettings::from_quorum(&q, config.tick_time);
    let (qcm, received) = qcm::QuorumCnxManager::start(q.myid, q.view.clone(), settings).await?;
    let election_config =
        zab_quorum::election::ElectionConfig { reconfig_enabled: config.reconfig_enabled, ..Default::default() };
    let election = Arc::new(election::Election::start(qcm, received, -1, 0, election_config));
    let stop = StopSignal::new();
    let accept = {
        let (slot, config, stop) = (slot.clone(), config.clone(), stop.clone());
        tokio::spawn(
            async move { crate::accept_loop(listener, slot, config, async move { stop.stopped().await }).await },
        )
    };
    let patience = config.hand_over_limit() + Duration::from_secs(1);
    let member = tokio::spawn(run_member(config, election.clone(), slot.clone(), info, stop.clone()));
    shutdown.await;
    hand_over_before_stopping(&slot, patience).await;
    info!("shutting down");
    stop.stop();
    let current = slot.read().clone();
    if let Some(s) = current {
        for c in s.cnxns() {
            let _ = c.tx.send(crate::zk_server::CnxnMsg::Close("server shutting down"));
        }
    }
    election.shutdown().await;
    let _ = accept.await;
    // An epoch blocked on the network ends within syncLimit; the process need not wait.
    let _ = tokio::time::timeout(Duration::from_secs(3), member).await;
    Ok(())
}

/// A leader asked to stop (SIGTERM: a pod deleted, a rolling restart) hands its role over
/// to its most up-to-date synced follower first, so the ensemble goes on without an
/// election; without one that can take over it stops at once, as ZooKeeper does.
async fn hand_over_before_stopping(slot: &ServerSlot, patience: Duration) {
    let Some(server) = slot.read().clone().filter(|s| s.role() == Role::Leader && s.is_serving()) else {
        return;
    };
    match server.hand_over(None) {
        Ok(wait) => {
            info!("stopping: handing the leadership over first");
            match tokio::task::spawn_blocking(move || wait.recv_timeout(patience)).await {
                Ok(Ok(Ok(to))) => info!(to, "handed the leadership over; stopping"),
                Ok(Ok(Err(reason))) => info!(%reason, "the hand-over failed; stopping anyway"),
                _ => info!("no outcome of the hand-over in time; stopping anyway"),
            }
        }
        Err(reason) => info!(%reason, "stopping without a hand-over"),
    }
}

/// Runs epochs until `stop` or the decider gives up.
pub async fn run_member(
    config: ServerConfig,
    decide: Arc<dyn Decide>,
    slot: ServerSlot,
    info: Arc<PeerInfo>,
    stop: StopSignal,
) {
    let rt = tokio::runtime::Handle::current();
    let mut carried: Option<Database> = None;
    // This member's own memory across its epochs: several members may run in one process.
    let mut member = zab_quorum::peer::QuorumPeer::new();
    let born = Instant::now();
    let now_ms = move || born.elapsed().as_millis() as i64;
    info.set_metrics(config.metrics.clone());
    // A configuration activated during an epoch is the election's at once, not only after
    // the epoch: a member that missed the reconfig learns it from the votes it is answered.
    let elector = decide.clone();
    info.set_on_activation(Arc::new(move |view| elector.set_view(view)));
    // `<cfg>.dynamic.next` from before a restart: a reconfig logged here, maybe not activated;
    // taken once the database shows the history reaches it (below).
    let mut last_seen_at_start = config.quorum.as_ref().and_then(|q| q.last_seen.clone());
    while !stop.is_stopped() {
        // The configuration in force: the one a reconfiguration activated, if one did.
        let mut config = config.clone();
        if let (Some(view), Some(q)) = (info.config_in_force(), config.quorum.as_mut()) {
            q.observer = view
                .servers
                .get(&q.myid)
                .is_some_and(|s| s.learner_type == zab_quorum::verifier::LearnerType::Observer);
            q.view = (*view).clone();
        }
        let cfg = config.clone();
        // The last epoch's database when it has one (ZooKeeper keeps its ZKDatabase across
        // elections), else the data directory's.
        let loaded = match carried.take() {
            Some(db) => Ok(Ok(db)),
            None => tokio::task::spawn_blocking(move || Database::load(&cfg)).await,
        };
        let db = match loaded {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => {
                error!(error = %e, "cannot load the database; retrying in a second");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.stopped() => {}
                }
                continue;
            }
            Err(e) => {
                error!(error = %e, "database loading task failed");
                return;
            }
        };
        // The file is written when the PROPOSAL is seen, before its fsync: a member that
        // crashed in between must not complete, as the next leader, a reconfig its history
        // does not hold and no quorum may have logged (found by the simulator; ZooKeeper
        // reads the file back unconditionally).
        if let Some(view) = last_seen_at_start.take() {
            if view.version <= db.last_zxid() {
                info.saw_config(Arc::new(view));
            } else {
                info!(
                    version = format_args!("0x{:x}", view.version),
                    last_zxid = format_args!("0x{:x}", db.last_zxid()),
                    "the last seen configuration (.dynamic.next) is beyond this member's history: not taken"
                );
            }
        }
        let snap_dir = zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir).snap_dir;
        let current_epoch = match zab_persistence::epoch::load_epochs(&snap_dir, db.last_zxid()) {
            Ok((c, _)) => c,
            Err(e) => {
                error!(error = %e, "cannot read the epoch files; this member cannot take part");
                return;
            }
        };
        let accepted_epoch = zab_persistence::epoch::load_epochs(&snap_dir, db.last_zxid()).map_or(-1, |e| e.1);
        info.update(|v| {
            *v = PeerView {
                role: zab_status::Role::Looking,
                phase: zab_status::Phase::Election,
                leader: None,
                current_epoch,
                accepted_epoch,
                last_zxid: db.last_zxid(),
                synced: false,
            }
        });
        info.looking();
        let electing = Instant::now();
        let myid = config.quorum.as_ref().map_or(0, |q| q.myid);
        let designated = match member.take_designated() {
            // A reconfiguration or a hand-over designated the leader: no election
            // (`updateServerState`); the vote answered to others names it (`updateVote`).
            Some(NextRole::Lead) => Some((PeerState::Leading, myid)),
            Some(NextRole::Follow(l)) => Some((PeerState::Following, l)),
            Some(NextRole::Observe(l)) => Some((PeerState::Observing, l)),
            None => None,
        };
        if let Some((state, leader)) = designated {
            decide.designated(state, leader, db.last_zxid());
        }
        let (state, leader) = match designated {
            Some(role) => role,
            None => match decide.decide(db.last_zxid(), current_epoch).await {
                None => return,
                Some(Decided::Role(state, leader)) => (state, leader),
                Some(Decided::NewerConfig(view)) => {
                    let view = Arc::new(view);
                    activate::activate_config(&config, &info, None, &view, None);
                    decide.set_view(&view);
                    carried = Some(db);
                    continue;
                }
            },
        };
        // `ELECTION_TIME`, as Leader.lead and Follower.followLeader record it.
        if matches!(state, PeerState::Leading | PeerState::Following) {
            config.metrics.election_time.add_ms(electing.elapsed());
        }
        info.update(|v| {
            v.role = match state {
                PeerState::Leading => zab_status::Role::Leading,
                PeerState::Following => zab_status::Role::Following,
                PeerState::Observing => zab_status::Role::Observing,
                PeerState::Looking => zab_status::Role::Looking,
            };
            v.leader = Some(leader);
            v.phase = zab_status::Phase::Discovery;
        });
        let cfg = config.clone();
        let slot2 = slot.clone();
        let stop2 = stop.clone();
        let rt2 = rt.clone();
        let info2 = info.clone();
        let decide2 = decide.clone();
        let protocol_version = member.protocol_version();
        member.epoch_started(now_ms());
        let thread = tokio::task::spawn_blocking(move || {
            let tasks: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());
            let on_serving = |s: Option<Arc<ZooKeeperServer>>| {
                for t in tasks.lock().drain(..) {
                    t.abort();
                }
                if let Some(s) = &s {
                    s.set_peer(info2.clone());
                    decide2.serving(s.epochs.0);
                    if s.role() == Role::Leader {
                        let _guard = rt2.enter();
                        tasks.lock().extend(crate::spawn_background(s));
                    }
                }
                *slot2.write() = s;
            };
            match state {
                PeerState::Leading => leader::lead(&cfg, db, stop2, &info2, &on_serving),
                PeerState::Following | PeerState::Observing => {
                    learner::follow(&cfg, protocol_version, db, leader, stop2, &info2, &on_serving)
                }
                PeerState::Looking => (error::PeerError::StillLooking, Some(db)),
            }
        });
        let (reason, next_db) = thread.await.unwrap_or_else(|e| (error::PeerError::Thread(e.to_string()), None));
        carried = next_db;
        // A configuration activated during the epoch: the election uses it from now on, and
        // when it changed this member's leader the next epoch follows the designated one.
        if let Some(view) = info.config_in_force() {
            decide.set_view(&view);
            if let Some(d) = info.take_designated_next() {
                member.reconfigured(myid, view, Some(d));
            }
        }
        if let error::PeerError::HandedOver { to } = reason {
            member.handed_over(myid, to, matches!(state, PeerState::Observing));
        }
        let truncation_short = matches!(&reason, error::PeerError::Learner(e) if e.makes_truncation_unsafe());
        let pause = member.epoch_ended(now_ms(), truncation_short);
        match reason {
            error::PeerError::Stopped => info!(?state, "epoch ended: this member is stopping"),
            reason => info!(%reason, ?state, "epoch ended; looking for a leader"),
        }
        if pause > 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(pause as u64)) => {}
                _ = stop.stopped() => {}
            }
        }
    }
}
