//! A follower or observer (`Learner`, `Follower`, `Observer`): connects to the leader's
//! quorum port, runs discovery and synchronisation with the pure state machines of
//! `zab-quorum`, then broadcast; forwards its clients' writes as REQUEST, answers PING with
//! the sessions its clients touched, asks the leader to REVALIDATE moved sessions.
//!
//! Until NEWLEADER the database is changed directly (truncate, snapshot, log, apply); at
//! NEWLEADER the learner's [`ZooKeeperServer`] starts on it, and from then on txns go
//! through its log (the sync thread, or this reader for a lone proposal), which ACKs each
//! one after its fsync; each is applied on its COMMIT.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tracing::{info, warn};
use zab_datatree::{DataTree, TreeConfig};
use zab_jute::data::Id;
use zab_jute::learner_bodies::{ForwardedRequest, RevalidateRequest, SessionTouch};
use zab_jute::quorum::{packet, QuorumPacket};
use zab_jute::record::Record;
use zab_jute::txn::Txn;
use zab_jute::InputArchive;
use zab_quorum::learner::{Acker, Learner, LearnerAction, LearnerSettings};
use zab_quorum::zxid;

use super::error::PeerError;
use super::stop::StopSignal;
use super::wire::{Out, Outbox, PacketReader, QUORUM_PACKET_SLACK};
use crate::config::ServerConfig;
use crate::zk_server::{Database, LeaderLink, Upstream, ZooKeeperServer};

/// The learner's side of the write path.
pub struct LearnerLink {
    tx: Arc<Outbox>,
    acks: Acker,
    /// Sessions waiting for the leader's REVALIDATE answer; `None` once the epoch is over
    /// (a reconnecting client then fails at once instead of waiting for a dead leader).
    revalidations: Mutex<Option<HashMap<i64, oneshot::Sender<bool>>>>,
}

impl LearnerLink {
    fn send(&self, p: QuorumPacket) {
        self.tx.send(Out::Packet(p));
    }
}

impl LeaderLink for LearnerLink {
    fn logged(&self, zxids: &[i64]) {
        for ack in self.acks.acks(zxids) {
            self.send(ack);
        }
    }

    fn forward(&self, session_id: i64, cxid: i32, op_type: i32, body: &[u8], auth: &[Id]) {
        let data = ForwardedRequest { session_id, cxid, op_type }.encode(body);
        let mut p = QuorumPacket::new(packet::REQUEST, -1, Some(data));
        p.authinfo = auth.to_vec();
        self.send(p);
    }

    fn revalidate(&self, session_id: i64, timeout: i32) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        match self.revalidations.lock().as_mut() {
            Some(waiting) => waiting.insert(session_id, tx),
            None => return rx, // the epoch is over: `tx` is dropped, the session is refused
        };
        let data = RevalidateRequest { session_id, timeout }.to_bytes();
        self.send(QuorumPacket::new(packet::REVALIDATE, -1, Some(data)));
        rx
    }
}

/// `Learner.connectToLeader`: retried until initLimit has passed. ZooKeeper waits
/// `leaderConnectDelayDuringRetryMs` (100 ms) between tries; a new leader usually binds its
/// quorum port within milliseconds of the election, so zab retries every 10 ms for the first
/// 200 ms and every 100 ms after that.
fn connect(addr: &str, init_ms: u64, stop: &StopSignal) -> Result<TcpStream, PeerError> {
    let deadline = Instant::now() + Duration::from_millis(init_ms.max(1000));
    let mut last = String::new();
    let mut tries = 0;
    while !stop.is_stopped() && Instant::now() < deadline {
        tries += 1;
        let target = addr.to_socket_addrs().ok().and_then(|mut a| a.next());
        match target.map(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1))) {
            Some(Ok(s)) => return Ok(s),
            Some(Err(e)) => last = e.to_string(),
            None => last = format!("cannot resolve {addr}"),
        }
        let pause = if tries < 20 { 10 } else { 100 };
        std::thread::sleep(Duration::from_millis(pause));
    }
    if stop.is_stopped() {
        return Err(PeerError::Stopped);
    }
    Err(PeerError::Connect { addr: addr.to_string(), tries, last })
}

/// Runs one epoch as a follower (or observer) of `leader_sid`; returns why it ended, and the
/// database for the next epoch when it still matches the disk (otherwise the next epoch
/// loads it again). `protocol_version` is what this member announces
/// ([`zab_quorum::peer::QuorumPeer::protocol_version`]).
#[allow(clippy::too_many_arguments)] // one epoch's configuration, state and hooks, all used
pub fn follow(
    config: &ServerConfig,
    protocol_version: i32,
    db: Database,
    leader_sid: u64,
    stop: StopSignal,
    info: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> (PeerError, Option<Database>) {
    let mut db = Some(db);
    let reason = follow_epoch(config, protocol_version, &mut db, leader_sid, stop, info, on_serving);
    (reason, db)
}

fn follow_epoch(
    config: &ServerConfig,
    protocol_version: i32,
    db: &mut Option<Database>,
    leader_sid: u64,
    stop: StopSignal,
    info: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> PeerError {
    let Some(q) = config.quorum.clone() else {
        return PeerError::NotAMember;
    };
    let Some(leader) = q.view.servers.get(&leader_sid) else {
        return PeerError::UnknownLeader(leader_sid);
    };
    let addr = format!("{}:{}", leader.host, leader.quorum_port);
    let tick = config.tick_time as u64;
    let init_ms = tick * q.init_limit as u64;
    let stream = match connect(&addr, init_ms, &stop) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(init_ms.max(1))));
    let tx = match stream.try_clone().and_then(|w| Outbox::start(w, "learner-writer")) {
        Ok(t) => t,
        Err(e) => return PeerError::io("starting the quorum connection's writer", e),
    };
    let link =
        Arc::new(LearnerLink { tx, acks: Acker::new(q.observer), revalidations: Mutex::new(Some(HashMap::new())) });
    // `stop` ends the epoch: it shuts the connection down, which ends the blocking read.
    let _wake = stream.try_clone().ok().map(|s| {
        stop.on_stop(move || {
            let _ = s.shutdown(Shutdown::Both);
        })
    });
    let mut server = None;
    let reason = match stream.try_clone() {
        Ok(r) => {
            let mut reader = PacketReader::new(r, config.max_buffer + QUORUM_PACKET_SLACK);
            let outcome = run_epoch(
                config,
                protocol_version,
                leader_sid,
                db,
                &mut reader,
                &stream,
                &link,
                &mut server,
                info,
                on_serving,
            );
            let e = match outcome {
                Ok(never) => match never {},
                Err(e) => e,
            };
            // The stop signal closed the connection: the read failed because of it.
            if stop.is_stopped() {
                PeerError::Stopped
            } else {
                e
            }
        }
        Err(e) => PeerError::io("cloning the quorum connection", e),
    };
    let closing = Instant::now();
    let _ = stream.shutdown(Shutdown::Both);
    config.metrics.socket_closing_time.add_ms(closing.elapsed());
    // Sessions still waiting for a REVALIDATE answer are refused now (their clients move on).
    link.revalidations.lock().take();
    on_serving(None);
    if let Some(s) = server {
        s.stop_serving();
        *db = Some(s.take_database());
    }
    // The writer thread ends now; client connections still closing may hold the server,
    // which holds the link, but nothing can be sent through it any more.
    link.tx.close();
    reason
}

fn snap_dir(config: &ServerConfig) -> std::path::PathBuf {
    zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir).snap_dir
}

fn log_dir(config: &ServerConfig) -> std::path::PathBuf {
    zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir).log_dir
}

/// Carries out the learner engine's actions for one epoch (discovery, synchronisation and
/// broadcast); only ends with an error (the read fails once `stop` closes the connection).
/// Every protocol decision is the engine's ([`Learner`]); this loop reads packets, touches
/// the data directory and the epoch's server, and sends.
#[allow(clippy::too_many_arguments)] // one epoch's connection, state and hooks, all used
fn run_epoch(
    config: &ServerConfig,
    protocol_version: i32,
    leader_sid: u64,
    db: &mut Option<Database>,
    reader: &mut PacketReader<TcpStream>,
    stream: &TcpStream,
    link: &Arc<LearnerLink>,
    server_slot: &mut Option<Arc<ZooKeeperServer>>,
    peer: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> Result<std::convert::Infallible, PeerError> {
    let q = config.quorum.clone().ok_or(PeerError::NotAMember)?;
    let snap_dir = snap_dir(config);
    let last_zxid = db.as_ref().map_or(-1, |d| d.last_zxid());
    let (current, accepted) = zab_persistence::epoch::load_epochs(&snap_dir, last_zxid)
        .map_err(|e| PeerError::disk("reading the epoch files", e))?;
    let tick = config.tick_time as i64;
    let settings = LearnerSettings {
        myid: q.myid,
        observer: q.observer,
        config_version: q.view.version,
        protocol_version,
        init_ms: tick * q.init_limit as i64,
        sync_ms: tick * q.sync_limit as i64,
        counter_skip: q.testing_initial_zxid,
        leader: leader_sid,
        view: Arc::new(q.view.clone()),
        reconfig_enabled: config.reconfig_enabled,
    };
    let started = Instant::now();
    let now = || started.elapsed().as_millis() as i64;
    let (mut learner, hello) = Learner::start(settings, current, accepted, last_zxid, now());
    let mut run =
        LearnerEpoch { config, db, snapped: None, server: server_slot, link, peer, on_serving, observer: q.observer };
    run.carry_out(hello, reader, &mut learner)?;
    let mut timeout = learner.read_timeout_ms();
    // In broadcast, the COMMITs read in one go are applied together, and the sync thread is
    // woken once for the PROPOSALs (at `FlushBeforeRead`).
    let mut _burst: Option<crate::defer::Scope> = None;
    loop {
        let p = reader.read().map_err(|e| PeerError::io("reading from the leader", e))?;
        if learner.in_broadcast() {
            if p.packet_type == packet::PROPOSAL {
                if let Some(last) = learner.last_proposed().filter(|l| p.zxid != l + 1 && zxid::counter(p.zxid) != 1) {
                    warn!(
                        zxid = format_args!("0x{:x}", p.zxid),
                        expected = format_args!("0x{:x}", last + 1),
                        "the leader skipped zxids"
                    );
                }
            }
            config.metrics.learner_packet(&p, q.observer);
        }
        let was_syncing = !learner.in_broadcast();
        let was_discovering = learner.leader_epoch().is_none();
        if p.packet_type == packet::NEWLEADER {
            super::activate::saw_newleader_config(config, run.peer, p.data.as_deref().unwrap_or(&[]));
        }
        let actions = match learner.on_packet(p, now()) {
            Ok(a) => a,
            Err(e) => return Err(PeerError::Learner(e)),
        };
        run.carry_out(actions, reader, &mut learner)?;
        if let Some(epoch) = learner.leader_epoch().filter(|_| was_discovering) {
            peer.update(|v| v.accepted_epoch = v.accepted_epoch.max(epoch));
            peer.phase(zab_status::Phase::Synchronization);
            info!(leader_epoch = epoch, last_zxid = format_args!("0x{last_zxid:x}"), "following; synchronising");
        }
        if was_syncing && learner.in_broadcast() {
            info!(mode = learner.sync_mode().as_str(), "synchronised with the leader; serving clients");
            _burst = Some(crate::defer::defer());
        }
        if learner.read_timeout_ms() != timeout {
            timeout = learner.read_timeout_ms();
            let _ = stream.set_read_timeout(Some(Duration::from_millis(timeout.max(1) as u64)));
        }
    }
}

/// What one learner epoch's actions are carried out on.
struct LearnerEpoch<'a> {
    config: &'a ServerConfig,
    /// The database until the server starts on it (None after a SNAP until TakeSnapshot:
    /// if the epoch ends before, the next one loads it from disk again).
    db: &'a mut Option<Database>,
    /// The streamed database of a SNAP, until TakeSnapshot.
    snapped: Option<Database>,
    server: &'a mut Option<Arc<ZooKeeperServer>>,
    link: &'a Arc<LearnerLink>,
    peer: &'a crate::peer_state::PeerInfo,
    on_serving: &'a dyn Fn(Option<Arc<ZooKeeperServer>>),
    observer: bool,
}

impl LearnerEpoch<'_> {
    fn server(&self) -> Result<&Arc<ZooKeeperServer>, PeerError> {
        self.server.as_ref().ok_or(PeerError::protocol("a txn for the server before NEWLEADER started it"))
    }

    fn carry_out(
        &mut self,
        actions: Vec<LearnerAction>,
        reader: &mut PacketReader<TcpStream>,
        learner: &mut Learner,
    ) -> Result<(), PeerError> {
        let config = self.config;
        let mut queue: std::collections::VecDeque<LearnerAction> = actions.into();
        while let Some(a) = queue.pop_front() {
            match a {
                LearnerAction::Send(p) => self.link.send(p),
                LearnerAction::PersistAcceptedEpoch(e) => {
                    zab_persistence::epoch::write_epoch(&snap_dir(config), "acceptedEpoch", e)
                        .map_err(|e| PeerError::disk("writing acceptedEpoch", e))?;
                    self.peer.update(|v| v.accepted_epoch = v.accepted_epoch.max(e));
                }
                LearnerAction::Truncate(z) => {
                    truncate(config, z)?;
                    self.peer.forget_configs_after(z);
                    *self.db = None;
                    let loaded =
                        Database::load(config).map_err(|e| PeerError::disk("loading the truncated database", e))?;
                    let now_at = loaded.last_zxid();
                    *self.db = Some(loaded);
                    queue.extend(learner.truncated(now_at)?);
                }
                LearnerAction::LoadSnapshot(z) => {
                    self.peer.forget_configs_after(z);
                    let bytes = reader.read_snapshot_stream().map_err(|e| PeerError::io("reading the snapshot", e))?;
                    let tree_config =
                        TreeConfig { extended_types: config.extended_types, digest_enabled: config.digest_enabled };
                    let (mut tree, sessions) = decode_snapshot(&bytes, tree_config)?;
                    tree.set_last_processed_zxid(z);
                    *self.db = None;
                    self.snapped = Some(Database { tree, sessions, committed_log: Default::default(), snapshot: None });
                }
                LearnerAction::InitConfigNode => {
                    if let Some(d) = self.snapped.as_mut().or(self.db.as_mut()) {
                        crate::peer_state::init_config_node(config, &mut d.tree);
                    }
                }
                LearnerAction::TakeSnapshot => {
                    if let Some(fresh) = self.snapped.take() {
                        *self.db = Some(fresh);
                    }
                    let d = self.db.as_mut().ok_or(PeerError::protocol("SNAPSHOT with no database to snapshot"))?;
                    let path = crate::snapshot::write_snapshot(config, &d.tree, &d.sessions)
                        .map_err(|e| PeerError::disk("writing the synchronised snapshot", e))?;
                    // Recorded, so the server started at NEWLEADER does not write it again.
                    d.snapshot = Some((path, d.last_zxid()));
                }
                LearnerAction::LogDirect(txns) => {
                    let mut w = zab_persistence::txnlog::TxnLogWriter::open(
                        &log_dir(config),
                        config.pre_alloc_kb * 1024,
                        config.force_sync,
                    )
                    .map_err(|e| PeerError::disk("opening the transaction log", e))?;
                    for (z, d) in &txns {
                        w.append(*z, d);
                    }
                    w.commit().map_err(|e| PeerError::disk("writing the transaction log", e))?;
                    for (_, d) in &txns {
                        super::activate::saw_reconfig(config, self.peer, d);
                    }
                }
                LearnerAction::ApplyDirect { data, .. } => {
                    let d = self
                        .db
                        .as_mut()
                        .ok_or(PeerError::protocol("a COMMIT during synchronisation with no database"))?;
                    apply_direct(d, &data, config.commit_log_count)?;
                }
                LearnerAction::PersistCurrentEpoch(e) => {
                    zab_persistence::epoch::write_epoch(&snap_dir(config), "currentEpoch", e)
                        .map_err(|e| PeerError::disk("writing currentEpoch", e))?;
                    self.peer.update(|v| v.current_epoch = e);
                }
                LearnerAction::StartServer { adopted } => {
                    let d = self.db.take().ok_or(PeerError::protocol("NEWLEADER with no database"))?;
                    let link = self.link.clone();
                    let upstream = if self.observer { Upstream::Observer(link) } else { Upstream::Follower(link) };
                    let s = ZooKeeperServer::from_db(config.clone(), d, upstream, None).map_err(PeerError::Start)?;
                    s.adopt_logged(adopted.into_iter().map(|(_, d)| d).collect())?;
                    *self.server = Some(s);
                }
                LearnerAction::Log { data, .. } => {
                    // In broadcast, a lone proposal is written at once; a burst waits for
                    // the reader to drain the socket (`FlushBeforeRead`).
                    let lone = learner.in_broadcast() && !reader.has_buffered();
                    super::activate::saw_reconfig(config, self.peer, &data);
                    self.server()?.log_txn(data, lone)?;
                }
                LearnerAction::CommitUpTo(z) if learner.in_broadcast() => self.server()?.commit_up_to_deferred(z),
                LearnerAction::CommitUpTo(z) => self.server()?.commit_up_to(z),
                LearnerAction::StartServing => {
                    let s = self.server()?.clone();
                    s.serving.store(true, Ordering::Release);
                    self.peer.phase(zab_status::Phase::Broadcast);
                    (self.on_serving)(Some(s));
                }
                LearnerAction::AnswerPing(p) => {
                    let touched = self.server()?.take_touched().into_iter();
                    let data = SessionTouch::encode_all(
                        touched.map(|(session_id, timeout)| SessionTouch { session_id, timeout }),
                    );
                    self.link.send(QuorumPacket {
                        packet_type: packet::PING,
                        zxid: p.zxid,
                        data: Some(data),
                        authinfo: p.authinfo,
                    });
                }
                LearnerAction::SyncDone => self.server()?.sync_done(),
                LearnerAction::Activate { zxid, view, designated, leave } => {
                    info!(
                        version = format_args!("0x{zxid:x}"),
                        members = view.servers.len(),
                        ?designated,
                        leave,
                        "a configuration is in force"
                    );
                    let next = designated.filter(|_| leave);
                    super::activate::activate_config(config, self.peer, self.server.as_deref(), &view, next);
                    if leave {
                        return Err(PeerError::Reconfigured { designated });
                    }
                }
                LearnerAction::HandedOver { to } => {
                    info!(to, "the leader handed its role over; following it without an election");
                    return Err(PeerError::HandedOver { to });
                }
                LearnerAction::Revalidated { session_id, valid } => {
                    if let Some(tx) = self.link.revalidations.lock().as_mut().and_then(|w| w.remove(&session_id)) {
                        let _ = tx.send(valid);
                    }
                }
            }
        }
        Ok(())
    }
}

/// TRUNC: cut the log after `z`, and drop snapshots newer than `z`, which would otherwise
/// bring the discarded txns back on restart.
fn truncate(config: &ServerConfig, z: i64) -> Result<(), PeerError> {
    let snap_log = zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir);
    zab_persistence::txnlog::truncate_after(&snap_log.log_dir, z)
        .map_err(|e| PeerError::disk("truncating the log", e))?;
    for (sz, path) in snap_log.snapshots().map_err(|e| PeerError::disk("listing the snapshots", e))? {
        if sz > z {
            warn!(file = %path.display(), "removing a snapshot newer than the truncation point");
            std::fs::remove_file(&path).map_err(|e| PeerError::disk(format!("removing {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Decodes the SNAP stream's sessions and tree.
fn decode_snapshot(bytes: &[u8], config: TreeConfig) -> Result<(DataTree, HashMap<i64, i32>), PeerError> {
    let mut inp = InputArchive::new(bytes, usize::MAX);
    let n = inp.read_i32().map_err(|e| PeerError::Protocol(format!("SNAP stream, the session count: {e}")))?;
    let mut sessions = HashMap::new();
    for _ in 0..n.max(0) {
        let id = inp.read_i64().map_err(|e| PeerError::Protocol(format!("SNAP stream, a session: {e}")))?;
        let to = inp.read_i32().map_err(|e| PeerError::Protocol(format!("SNAP stream, a session: {e}")))?;
        sessions.insert(id, to);
    }
    let mut loader = zab_datatree::codec::SnapshotLoader::new(config, 1024);
    loader.feed(inp.rest()).map_err(|e| PeerError::Protocol(format!("SNAP stream, the tree: {e}")))?;
    if !loader.is_done() {
        return Err(PeerError::protocol("the SNAP stream's tree ends early"));
    }
    let tree = loader.finish();
    Ok((tree, sessions))
}

/// Applies a durable txn to a database that no server runs yet.
fn apply_direct(db: &mut Database, payload: &[u8], window: usize) -> Result<(), PeerError> {
    let e = zab_persistence::txnlog::unmarshal(payload).map_err(PeerError::Protocol)?;
    // Into the committed window too (`addCommittedProposal`): a later epoch's leader DIFFs
    // from it, and a hole there would skip these txns (ZOOKEEPER-4925).
    db.committed_log.push_back((e.hdr.zxid, Arc::new(payload.to_vec())));
    while db.committed_log.len() > window {
        db.committed_log.pop_front();
    }
    let mut events = Vec::new();
    db.tree.process_txn(&e.hdr, &e.txn, &mut events);
    match &e.txn {
        Txn::CreateSession(t) => {
            db.sessions.insert(e.hdr.client_id, t.time_out);
        }
        Txn::CloseSession(_) => {
            db.sessions.remove(&e.hdr.client_id);
        }
        _ => {}
    }
    Ok(())
}
