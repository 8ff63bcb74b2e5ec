//! A follower or observer (`Learner`, `Follower`, `Observer`): connects to the leader's
//! quorum port, runs discovery and synchronisation with the pure state machines of
//! `zab-quorum`, then broadcast; forwards its clients' writes as REQUEST, answers PING with
//! the sessions its clients touched, asks the leader to REVALIDATE moved sessions.
//!
//! Until NEWLEADER the database is changed directly (truncate, snapshot, log, apply); at
//! NEWLEADER the learner's [`ZooKeeperServer`] starts on it, and from then on txns go
//! through its log (the sync thread, or this reader for a lone proposal), which ACKs each
//! one after its fsync; each is applied on its COMMIT.

use std::collections::{HashMap, HashSet};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tracing::{info, warn};
use zab_datatree::{DataTree, TreeConfig};
use zab_jute::data::Id;
use zab_jute::learner_bodies::{ForwardedRequest, RevalidateReply, RevalidateRequest, SessionTouch};
use zab_jute::quorum::{packet, QuorumPacket};
use zab_jute::record::Record;
use zab_jute::txn::Txn;
use zab_jute::InputArchive;
use zab_quorum::discovery::LearnerDiscovery;
use zab_quorum::follower::{FollowerAction, FollowerBroadcast};
use zab_quorum::learner_sync::{LearnerSync, SyncAction};
use zab_quorum::zxid;

use super::error::{MemberMemory, PeerError};
use super::wire::{Out, Outbox, PacketReader, QUORUM_PACKET_SLACK};
use crate::config::ServerConfig;
use crate::zk_server::{Database, ProposeError, Replicator, Role, ZooKeeperServer};

/// The learner's side of the write path.
pub struct LearnerLink {
    tx: Arc<Outbox>,
    observer: bool,
    /// Sessions waiting for the leader's REVALIDATE answer; `None` once the term is over
    /// (a reconnecting client then fails at once instead of waiting for a dead leader).
    revalidations: Mutex<Option<HashMap<i64, oneshot::Sender<bool>>>>,
}

impl LearnerLink {
    fn send(&self, p: QuorumPacket) {
        self.tx.send(Out::Packet(p));
    }
}

impl Replicator for LearnerLink {
    fn propose(&self, _: i64, _: &Arc<Vec<u8>>) -> Result<(), ProposeError> {
        Err(ProposeError::NotLeader)
    }

    fn logged(&self, zxids: &[i64]) {
        if self.observer {
            return;
        }
        for z in zxids {
            self.send(QuorumPacket::new(packet::ACK, *z, None));
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
            None => return rx, // the term is over: `tx` is dropped, the session is refused
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
fn connect(addr: &str, init_ms: u64, stop: &AtomicBool) -> Result<TcpStream, PeerError> {
    let deadline = Instant::now() + Duration::from_millis(init_ms.max(1000));
    let mut last = String::new();
    let mut tries = 0;
    while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
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
    if stop.load(Ordering::Acquire) {
        return Err(PeerError::Stopped);
    }
    Err(PeerError::Connect { addr: addr.to_string(), tries, last })
}

/// Runs one term as a follower (or observer) of `leader_sid`; returns why it ended, and the
/// database for the next term when it still matches the disk (otherwise the next term
/// loads it again). `memory` is what this member remembers across its terms.
#[allow(clippy::too_many_arguments)] // one term's configuration, state and hooks, all used
pub fn follow(
    config: &ServerConfig,
    memory: &MemberMemory,
    db: Database,
    leader_sid: u64,
    stop: Arc<AtomicBool>,
    info: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> (PeerError, Option<Database>) {
    let mut db = Some(db);
    let reason = follow_term(config, memory, &mut db, leader_sid, stop, info, on_serving);
    (reason, db)
}

fn follow_term(
    config: &ServerConfig,
    memory: &MemberMemory,
    db: &mut Option<Database>,
    leader_sid: u64,
    stop: Arc<AtomicBool>,
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
    let link = Arc::new(LearnerLink { tx, observer: q.observer, revalidations: Mutex::new(Some(HashMap::new())) });
    // `stop` ends the term: a watcher closes the connection, which ends the blocking read.
    let ended = Arc::new(AtomicBool::new(false));
    if let Ok(s) = stream.try_clone() {
        let (stop, ended) = (stop.clone(), ended.clone());
        let _ = std::thread::Builder::new().name("learner-stop".into()).spawn(move || {
            while !ended.load(Ordering::Acquire) {
                if stop.load(Ordering::Acquire) {
                    let _ = s.shutdown(Shutdown::Both);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
    let mut server = None;
    let reason = match stream.try_clone() {
        Ok(r) => {
            let mut reader = PacketReader::new(r, config.max_buffer + QUORUM_PACKET_SLACK);
            let outcome = term(config, memory, db, &mut reader, &stream, &link, &mut server, info, on_serving);
            let e = match outcome {
                Ok(never) => match never {},
                Err(e) => e,
            };
            // The watcher closed the connection: the read failed because of `stop`.
            if stop.load(Ordering::Acquire) {
                PeerError::Stopped
            } else {
                e
            }
        }
        Err(e) => PeerError::io("cloning the quorum connection", e),
    };
    ended.store(true, Ordering::Release);
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

/// Discovery, synchronisation and broadcast with the leader; only ends with an error (the
/// read fails once `stop` closes the connection).
#[allow(clippy::too_many_arguments)] // one term's connection, state and hooks, all used
fn term(
    config: &ServerConfig,
    memory: &MemberMemory,
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
    // Discovery.
    let mut disc = LearnerDiscovery {
        myid: q.myid,
        accepted_epoch: accepted,
        current_epoch: current,
        last_logged_zxid: last_zxid,
    };
    // A zab learner says it can be truncated across an epoch, unless a truncation here has
    // failed (no snapshot old enough), in which case it asks for ZooKeeper's treatment.
    let version = memory.announced_protocol_version();
    link.send(disc.hello_as(q.observer, q.view.version, version));
    let read = |r: &mut PacketReader<TcpStream>| r.read().map_err(|e| PeerError::io("reading from the leader", e));
    let leader_info = read(reader)?;
    let (persist, ack) = disc.on_leader_info(&leader_info)?;
    if let Some(e) = persist {
        zab_persistence::epoch::write_epoch(&snap_dir, "acceptedEpoch", e)
            .map_err(|e| PeerError::disk("writing acceptedEpoch", e))?;
    }
    link.send(ack);
    let new_epoch = zxid::epoch(leader_info.zxid);
    peer.update(|v| v.accepted_epoch = v.accepted_epoch.max(new_epoch));
    peer.phase(zab_status::Phase::Synchronization);
    info!(leader_epoch = new_epoch, last_zxid = format_args!("0x{last_zxid:x}"), "following; synchronising");
    // Synchronisation.
    let mut sync = LearnerSync::new(last_zxid, new_epoch).allow_counter_skip(q.testing_initial_zxid);
    let mut collected: HashMap<i64, Vec<u8>> = HashMap::new();
    let mut snapped: Option<Database> = None;
    let mut adopted: Vec<i64> = Vec::new();
    let mut after_newleader: Vec<i64> = Vec::new();
    let mut applied_after: HashSet<i64> = HashSet::new();
    let mut mode = "DIFF";
    let mut config_written = false;
    while !sync.done() {
        let p = read(reader)?;
        let actions = sync.on_packet(&p)?;
        let mut skip_ack = HashSet::new();
        for a in actions {
            match a {
                SyncAction::Truncate(z) => {
                    mode = "TRUNC";
                    truncate(config, z)?;
                    *db = None;
                    *db =
                        Some(Database::load(config).map_err(|e| PeerError::disk("loading the truncated database", e))?);
                    let now_at = db.as_ref().map_or(-1, |d| d.last_zxid());
                    if now_at != z {
                        memory.truncation_failed();
                        return Err(PeerError::TruncationShort { target: z, now_at });
                    }
                }
                SyncAction::LoadSnapshot(z) => {
                    mode = "SNAP";
                    let bytes = reader.read_snapshot_stream().map_err(|e| PeerError::io("reading the snapshot", e))?;
                    let tree_config =
                        TreeConfig { extended_types: config.extended_types, digest_enabled: config.digest_enabled };
                    let (mut tree, sessions) = decode_snapshot(&bytes, tree_config)?;
                    tree.set_last_processed_zxid(z);
                    // Not on disk until TakeSnapshot: if the term ends before, the next one
                    // loads the database from disk again.
                    *db = None;
                    snapped = Some(Database { tree, sessions, committed_log: Default::default(), snapshot: None });
                }
                SyncAction::TakeSnapshot => {
                    if let Some(fresh) = snapped.take() {
                        *db = Some(fresh);
                    }
                    let d = db.as_mut().ok_or(PeerError::protocol("SNAPSHOT with no database to snapshot"))?;
                    let path = crate::sync_proc::write_snapshot(config, &d.tree, &d.sessions)
                        .map_err(|e| PeerError::disk("writing the synchronised snapshot", e))?;
                    // Recorded, so the server started at NEWLEADER does not write it again.
                    d.snapshot = Some((path, d.last_zxid()));
                }
                SyncAction::LogAndSync(txns) => match server_slot.as_ref() {
                    None => {
                        let mut w = zab_persistence::txnlog::TxnLogWriter::open(
                            &log_dir(config),
                            config.pre_alloc_kb * 1024,
                            config.force_sync,
                        )
                        .map_err(|e| PeerError::disk("opening the transaction log", e))?;
                        for (z, d) in txns {
                            w.append(z, &d);
                            collected.insert(z, d);
                        }
                        w.commit().map_err(|e| PeerError::disk("writing the transaction log", e))?;
                    }
                    Some(s) => {
                        for (z, d) in txns {
                            s.log_txn(d, false)?;
                            after_newleader.push(z);
                            skip_ack.insert(z);
                        }
                    }
                },
                SyncAction::Apply(z) => match server_slot.as_ref() {
                    None => {
                        let d = db
                            .as_mut()
                            .ok_or(PeerError::protocol("a COMMIT during synchronisation with no database"))?;
                        let payload = collected.remove(&z).ok_or_else(|| {
                            PeerError::Protocol(format!("COMMIT of 0x{z:x}, a txn this learner does not hold"))
                        })?;
                        apply_direct(d, &payload, config.commit_log_count)?;
                    }
                    Some(s) => {
                        s.commit_up_to(z);
                        applied_after.insert(z);
                    }
                },
                SyncAction::PersistCurrentEpoch(e) => {
                    zab_persistence::epoch::write_epoch(&snap_dir, "currentEpoch", e)
                        .map_err(|e| PeerError::disk("writing currentEpoch", e))?;
                    peer.update(|v| v.current_epoch = e);
                    let d = db.take().ok_or(PeerError::protocol("NEWLEADER with no database"))?;
                    let role = if q.observer { Role::Observer } else { Role::Follower };
                    let s = ZooKeeperServer::from_db(config.clone(), d, role, None).map_err(PeerError::Start)?;
                    s.set_replicator(link.clone());
                    // Proposals logged above whose COMMIT is still to come.
                    let mut rest: Vec<(i64, Vec<u8>)> = collected.drain().collect();
                    rest.sort_unstable_by_key(|(z, _)| *z);
                    after_newleader.extend(rest.iter().map(|(z, _)| *z));
                    adopted.extend(rest.iter().map(|(z, _)| *z));
                    s.adopt_logged(rest.into_iter().map(|(_, d)| d).collect())?;
                    *server_slot = Some(s);
                }
                SyncAction::Send(p) => {
                    if !(p.packet_type == packet::ACK && skip_ack.contains(&p.zxid)) {
                        link.send(p);
                    }
                }
                SyncAction::StartServing => {
                    let s = server_slot.as_ref().ok_or(PeerError::protocol("UPTODATE before NEWLEADER"))?;
                    s.serving.store(true, Ordering::Release);
                    peer.phase(zab_status::Phase::Broadcast);
                    on_serving(Some(s.clone()));
                    // Proposals logged before NEWLEADER whose COMMIT is still to come: durable
                    // here, so ACK them now (ZooKeeper logs them through its sync processor after
                    // UPTODATE, which ACKs them); the quorum may need these ACKs.
                    if !q.observer {
                        for z in adopted.drain(..) {
                            link.send(QuorumPacket::new(packet::ACK, z, None));
                        }
                    }
                    info!(mode, "synchronised with the leader; serving clients");
                }
            }
        }
        if !config_written {
            // After the first packet, DIFF, TRUNC or SNAP (`Learner.syncWithLeader`; the
            // state machine refuses any other): the member's own config, whatever the
            // leader's snapshot held.
            if let Some(d) = snapped.as_mut().or(db.as_mut()) {
                crate::peer_state::init_config_node(config, &mut d.tree);
            }
            config_written = true;
        }
    }
    let server = server_slot.clone().ok_or(PeerError::protocol("synchronisation ended without a server"))?;
    let _ =
        stream.set_read_timeout(Some(Duration::from_millis((config.tick_time as u64 * q.sync_limit as u64).max(1))));
    // Broadcast.
    let pending: Vec<i64> = after_newleader.into_iter().filter(|z| !applied_after.contains(z)).collect();
    let mut fb = FollowerBroadcast::with_pending(server.prepared_zxid(), q.observer, pending);
    // The COMMITs read in one go are applied together, and the sync thread is woken once
    // for the PROPOSALs (at `FlushBeforeRead`).
    let _defer = crate::defer::defer();
    loop {
        let p = read(reader)?;
        match p.packet_type {
            packet::PING => {
                let touched = server.take_touched().into_iter();
                let data =
                    SessionTouch::encode_all(touched.map(|(session_id, timeout)| SessionTouch { session_id, timeout }));
                link.send(QuorumPacket {
                    packet_type: packet::PING,
                    zxid: p.zxid,
                    data: Some(data),
                    authinfo: p.authinfo,
                });
            }
            packet::SYNC => server.sync_done(),
            packet::REVALIDATE => {
                // A reply too short to read is ignored (the client's wait times out).
                let data = p.data.unwrap_or_default();
                if let Ok(r) = RevalidateReply::from_bytes(&data, data.len()) {
                    if let Some(tx) = link.revalidations.lock().as_mut().and_then(|w| w.remove(&r.session_id)) {
                        let _ = tx.send(r.valid);
                    }
                }
            }
            _ => {
                if p.packet_type == packet::PROPOSAL && p.zxid != fb.last_zxid() + 1 && zxid::counter(p.zxid) != 1 {
                    warn!(
                        zxid = format_args!("0x{:x}", p.zxid),
                        expected = format_args!("0x{:x}", fb.last_zxid() + 1),
                        "the leader skipped zxids"
                    );
                }
                config.metrics.learner_packet(&p, q.observer);
                for a in fb.on_packet(&p)? {
                    match a {
                        FollowerAction::Log { data, .. } => {
                            server.log_txn(data, !reader.has_buffered())?;
                        }
                        FollowerAction::Apply(z) => server.commit_up_to_deferred(z),
                        FollowerAction::Send(p) => link.send(p),
                    }
                }
            }
        }
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
    // Into the committed window too (`addCommittedProposal`): a later term's leader DIFFs
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
