//! The leader (`Leader.lead` and `LearnerHandler`): discovery, synchronisation of each
//! learner, and broadcast, on the quorum port.
//!
//! One thread per learner reads its packets and drives the pure state machines of
//! `zab-quorum` under one lock; packets to a learner go out through its `Outbox` (`wire.rs`). The write path reaches the
//! leader through [`Replicator`]: `propose` sends PROPOSAL (under the prep lock, so in
//! zxid order), `logged` is the leader's own ACK after its fsync; commits are applied by
//! [`ZooKeeperServer::commit_up_to`] outside the lock.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};
use zab_datatree::prep::WriteRequest;
use zab_jute::codes::op;
use zab_jute::data::Id;
use zab_jute::learner_bodies::{ForwardedRequest, RevalidateReply, RevalidateRequest, SessionTouch};
use zab_jute::quorum::{packet, LearnerInfo, QuorumPacket};
use zab_jute::record::Record;
use zab_quorum::broadcast::{BroadcastAction, LeaderBroadcast, LearnerKind};
use zab_quorum::discovery::{LeaderAction, LeaderDiscovery};
use zab_quorum::newleader::{NewLeaderAction, NewLeaderPhase};
use zab_quorum::sync::{plan_with, LeaderLog, PlanOptions, SyncPacket};
use zab_quorum::verifier::QuorumMaj;
use zab_quorum::zxid;

use super::error::PeerError;
use super::wire::{Out, Outbox, PacketReader, QUORUM_PACKET_SLACK, SNAP_SIGNATURE};
use crate::config::ServerConfig;
pub use crate::peer_state::LearnerView;
use crate::zk_server::{Database, ProposeError, Replicator, Role, SkipError, ZooKeeperServer};

static NEXT_CONN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

struct Learner {
    conn: u64,
    tx: Arc<Outbox>,
    stream: TcpStream,
    view: LearnerView,
    last_heard: i64,
}

struct State {
    discovery: LeaderDiscovery,
    epoch: Option<i64>,
    newleader: Option<NewLeaderPhase>,
    bcast: Option<LeaderBroadcast>,
    serving: bool,
    /// Proposed, not yet committed.
    proposed: BTreeMap<i64, Arc<Vec<u8>>>,
    /// The last `commitLogCount` committed txns (the DIFF window), oldest first.
    committed_log: VecDeque<(i64, Arc<Vec<u8>>)>,
    learners: BTreeMap<u64, Learner>,
    /// Learners' `sync` requests: answered once this zxid is committed.
    syncs: VecDeque<(i64, u64)>,
    failure: Option<String>,
}

/// The leader's shared state.
pub struct Leader {
    myid: u64,
    view: QuorumMaj,
    config: ServerConfig,
    started: Instant,
    init_ms: i64,
    sync_ms: i64,
    state: Mutex<State>,
    cond: Condvar,
    server: OnceLock<std::sync::Weak<ZooKeeperServer>>,
    stopping: AtomicBool,
    /// Every learner connection accepted in this term, shut down when the term ends, so no
    /// handler outlives it (one still in discovery is not in `State::learners`).
    accepted: Mutex<Vec<TcpStream>>,
}

fn send(st: &State, to: u64, p: QuorumPacket) {
    if let Some(l) = st.learners.get(&to) {
        l.tx.send(Out::Packet(p));
    }
}

impl Leader {
    fn now(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    fn fail(&self, st: &mut State, why: String) {
        if st.failure.is_none() {
            warn!(reason = %why, "leader giving up");
            st.failure = Some(why);
        }
        self.cond.notify_all();
    }

    /// Carries out broadcast actions under the lock; returns the newest commit.
    fn exec(&self, st: &mut State, actions: Vec<BroadcastAction>) -> Option<i64> {
        let mut committed = None;
        for a in actions {
            match a {
                BroadcastAction::Send { to, packet } => send(st, to, packet),
                BroadcastAction::Commit(z) => {
                    crate::metrics::record::leader_commit(&self.config.metrics, st.proposed.get(&z));
                    committed = Some(z);
                    if let Some(data) = st.proposed.remove(&z) {
                        st.committed_log.push_back((z, data));
                        while st.committed_log.len() > self.config.commit_log_count {
                            st.committed_log.pop_front();
                        }
                    }
                    while st.syncs.front().is_some_and(|(w, _)| *w <= z) {
                        if let Some((_, sid)) = st.syncs.pop_front() {
                            send(st, sid, QuorumPacket::new(packet::SYNC, 0, None));
                        }
                    }
                }
            }
        }
        committed
    }

    /// Applies up to `z` on the leader: at once, or inside a [`crate::defer`] scope once
    /// for the burst, after its COMMITs are sent.
    fn commit(&self, z: Option<i64>) {
        if let (Some(z), Some(server)) = (z, self.server.get().and_then(|w| w.upgrade())) {
            server.commit_up_to_deferred(z);
        }
    }
}

impl Replicator for Leader {
    fn propose(&self, zxid: i64, payload: &Arc<Vec<u8>>) -> Result<(), ProposeError> {
        let mut st = self.state.lock();
        let Some(b) = st.bcast.as_mut() else {
            return Err(ProposeError::NotEstablished);
        };
        let actions = match b.propose(zxid, payload.to_vec()) {
            Ok(a) => a,
            Err(e) => {
                let why = e.to_string();
                self.fail(&mut st, why.clone());
                return Err(ProposeError::SteppingDown(why));
            }
        };
        st.proposed.insert(zxid, payload.clone());
        let c = self.exec(&mut st, actions);
        drop(st);
        self.commit(c);
        Ok(())
    }

    fn logged(&self, zxids: &[i64]) {
        let mut st = self.state.lock();
        let mut actions = Vec::new();
        if let Some(b) = st.bcast.as_mut() {
            for z in zxids {
                actions.extend(b.on_local_sync(*z));
            }
        }
        let c = self.exec(&mut st, actions);
        drop(st);
        self.commit(c);
    }

    fn forward(&self, _: i64, _: i32, _: i32, _: &[u8], _: &[Id]) {}

    fn revalidate(&self, _: i64, _: i32) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(false);
        rx
    }

    fn learners(&self) -> Vec<LearnerView> {
        self.state.lock().learners.values().map(|l| l.view.clone()).collect()
    }
}

/// Runs one term as leader: returns when the quorum is lost (or `stop` is set), after
/// shutting the server down, with why, and the database for the next term (the one given
/// if no server started on it). `on_serving` receives the server once a quorum has synced.
pub fn lead(
    config: &ServerConfig,
    db: Database,
    stop: Arc<AtomicBool>,
    info: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> (PeerError, Option<Database>) {
    let mut db = Some(db);
    let reason = lead_term(config, &mut db, stop, info, on_serving);
    (reason, db)
}

fn lead_term(
    config: &ServerConfig,
    db_slot: &mut Option<Database>,
    stop: Arc<AtomicBool>,
    info: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> PeerError {
    let Some(q) = config.quorum.clone() else {
        return PeerError::NotAMember;
    };
    let Some(db) = db_slot.as_ref() else {
        return PeerError::NoDatabase;
    };
    let snap_dir = zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir).snap_dir;
    let last_zxid = db.last_zxid();
    let (current, accepted) = match zab_persistence::epoch::load_epochs(&snap_dir, last_zxid) {
        Ok(e) => e,
        Err(e) => return PeerError::disk("reading the epoch files", e),
    };
    let Some(me) = q.view.servers.get(&q.myid) else {
        return PeerError::NotInConfiguration(q.myid);
    };
    let bind_host = if q.listen_on_all_ips { "0.0.0.0".to_string() } else { me.host.clone() };
    let listener = match TcpListener::bind((bind_host.as_str(), me.quorum_port)) {
        Ok(l) => l,
        Err(e) => return PeerError::io(format!("binding the quorum port {bind_host}:{}", me.quorum_port), e),
    };
    let tick = config.tick_time as i64;
    let started = Instant::now();
    let init_ms = tick * q.init_limit as i64;
    let (discovery, actions) = LeaderDiscovery::new(q.myid, q.view.clone(), accepted, current, last_zxid, 0, init_ms);
    let leader = Arc::new(Leader {
        myid: q.myid,
        view: q.view.clone(),
        config: config.clone(),
        started,
        init_ms,
        sync_ms: tick * q.sync_limit as i64,
        state: Mutex::new(State {
            discovery,
            epoch: None,
            newleader: None,
            bcast: None,
            serving: false,
            proposed: BTreeMap::new(),
            committed_log: db.committed_log.clone(),
            learners: BTreeMap::new(),
            syncs: VecDeque::new(),
            failure: None,
        }),
        cond: Condvar::new(),
        server: OnceLock::new(),
        stopping: AtomicBool::new(false),
        accepted: Mutex::new(Vec::new()),
    });
    info!(myid = q.myid, accepted, current, last_zxid = format_args!("0x{last_zxid:x}"), "leading");
    {
        let mut st = leader.state.lock();
        if let Err(e) = discovery_actions(&leader, &mut st, actions, &snap_dir) {
            return e;
        }
    }
    let acceptor = {
        let leader = leader.clone();
        let listener = match listener.try_clone() {
            Ok(l) => l,
            Err(e) => return PeerError::io("cloning the quorum listener", e),
        };
        std::thread::Builder::new().name("leader-accept".into()).spawn(move || accept_loop(leader, listener))
    };
    let reason = run_term(&leader, config, db_slot, &stop, &snap_dir, info, on_serving);
    // Stop: wake the acceptor, close every learner, shut the server down.
    leader.stopping.store(true, Ordering::Release);
    if let Ok(addr) = listener.local_addr() {
        let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
    }
    if let Ok(h) = acceptor {
        let _ = h.join();
    }
    {
        let mut st = leader.state.lock();
        for (_, l) in std::mem::take(&mut st.learners) {
            l.tx.close();
            let _ = l.stream.shutdown(Shutdown::Both);
        }
        for stream in std::mem::take(&mut *leader.accepted.lock()) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        leader.cond.notify_all();
    }
    on_serving(None);
    if let Some(server) = leader.server.get().and_then(|w| w.upgrade()) {
        server.stop_serving();
        *db_slot = Some(server.take_database());
    }
    reason
}

fn discovery_actions(
    leader: &Leader,
    st: &mut State,
    actions: Vec<LeaderAction>,
    snap_dir: &std::path::Path,
) -> Result<(), PeerError> {
    for a in actions {
        match a {
            LeaderAction::PersistAcceptedEpoch(e) => {
                zab_persistence::epoch::write_epoch(snap_dir, "acceptedEpoch", e)
                    .map_err(|e| PeerError::disk("writing acceptedEpoch", e))?;
                st.epoch = Some(e);
            }
            LeaderAction::Send { to, packet } => send(st, to, packet),
            LeaderAction::EpochAcknowledged(_) => {
                leader.cond.notify_all();
            }
        }
    }
    leader.cond.notify_all();
    Ok(())
}

fn run_term(
    leader: &Arc<Leader>,
    config: &ServerConfig,
    db: &mut Option<Database>,
    stop: &AtomicBool,
    snap_dir: &std::path::Path,
    info: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> PeerError {
    let tick = Duration::from_millis((config.tick_time as u64 / 2).max(10));
    // Discovery: a quorum agrees on the new epoch.
    let epoch = {
        let mut st = leader.state.lock();
        loop {
            if let Some(f) = &st.failure {
                return PeerError::LeaderGaveUp(f.clone());
            }
            if stop.load(Ordering::Acquire) {
                return PeerError::Stopped;
            }
            if st.discovery.is_acknowledged() {
                if let Some(e) = st.discovery.epoch() {
                    break e;
                }
            }
            if let Err(e) = st.discovery.on_tick(leader.now()) {
                return e.into();
            }
            leader.cond.wait_for(&mut st, Duration::from_millis(50));
        }
    };
    if let Err(e) = zab_persistence::epoch::write_epoch(snap_dir, "currentEpoch", epoch) {
        return PeerError::disk("writing currentEpoch", e);
    }
    info.update(|v| {
        v.current_epoch = epoch;
        v.accepted_epoch = epoch;
    });
    info.phase(zab_status::Phase::Synchronization);
    let start_zxid = zxid::make(epoch, 0);
    let Some(db) = db.take() else {
        return PeerError::NoDatabase;
    };
    let server = match ZooKeeperServer::from_db(config.clone(), db, Role::Leader, Some(start_zxid)) {
        Ok(s) => s,
        Err(e) => return PeerError::Start(e),
    };
    server.set_replicator(leader.clone());
    let _ = leader.server.set(Arc::downgrade(&server));
    info!(epoch, "new epoch acknowledged by a quorum; synchronising learners");
    {
        let mut st = leader.state.lock();
        st.bcast = Some(LeaderBroadcast::new(leader.myid, leader.view.clone(), start_zxid));
        st.newleader = Some(NewLeaderPhase::new(leader.myid, leader.view.clone(), epoch, leader.now(), leader.init_ms));
        leader.cond.notify_all();
        // Synchronisation: a quorum acknowledges NEWLEADER.
        loop {
            if st.serving {
                break;
            }
            if let Some(f) = &st.failure {
                return PeerError::LeaderGaveUp(f.clone());
            }
            if stop.load(Ordering::Acquire) {
                return PeerError::Stopped;
            }
            if let Some(Err(e)) = st.newleader.as_ref().map(|n| n.on_tick(leader.now())) {
                return e.into();
            }
            leader.cond.wait_for(&mut st, Duration::from_millis(50));
        }
    }
    if let Some(counter) = config.quorum.as_ref().and_then(|q| q.testing_initial_zxid) {
        let z = zxid::make(epoch, counter);
        let moved = server.skip_zxid_to(z, |z| match leader.state.lock().bcast.as_mut() {
            Some(b) => Ok(b.skip_to(z)?),
            None => Err(SkipError::NotEstablished),
        });
        match moved {
            Ok(()) => warn!(zxid = format_args!("0x{z:x}"), "zookeeper.testingonly.initialZxid: zxid counter moved"),
            Err(e) => warn!(error = %e, "zookeeper.testingonly.initialZxid not applied"),
        }
    }
    server.serving.store(true, Ordering::Release);
    info.phase(zab_status::Phase::Broadcast);
    on_serving(Some(server.clone()));
    info!(epoch, "a quorum is synchronised; serving clients");
    // Broadcast: ping learners, and step down once a quorum is no longer in touch.
    loop {
        std::thread::sleep(tick);
        if stop.load(Ordering::Acquire) {
            return PeerError::Stopped;
        }
        let mut st = leader.state.lock();
        if let Some(f) = &st.failure {
            return PeerError::LeaderGaveUp(f.clone());
        }
        let now = leader.now();
        let last = st.bcast.as_ref().map(|b| b.last_committed()).unwrap_or(start_zxid);
        let mut synced = std::collections::BTreeSet::new();
        synced.insert(leader.myid);
        for (sid, l) in &st.learners {
            // Only after its sync packets are queued: a learner's first packet after
            // ACKEPOCH must be DIFF, TRUNC or SNAP.
            if !l.view.sync_mode.is_empty() {
                l.tx.send(Out::Packet(QuorumPacket::new(packet::PING, last, None)));
            }
            if l.view.in_broadcast && now - l.last_heard <= leader.sync_ms {
                synced.insert(*sid);
            }
        }
        if !leader.view.contains_quorum(&synced) {
            let why = format!("not sufficient followers synced, only synced with sids: {synced:?}");
            leader.fail(&mut st, why.clone());
            return PeerError::LeaderGaveUp(why);
        }
    }
}

fn accept_loop(leader: Arc<Leader>, listener: TcpListener) {
    for stream in listener.incoming() {
        if leader.stopping.load(Ordering::Acquire) {
            break;
        }
        let Ok(stream) = stream else { continue };
        match stream.try_clone() {
            Ok(c) => leader.accepted.lock().push(c),
            Err(_) => continue,
        }
        if leader.stopping.load(Ordering::Acquire) {
            let _ = stream.shutdown(Shutdown::Both);
            break;
        }
        let l = leader.clone();
        let _ = std::thread::Builder::new().name("learner-handler".into()).spawn(move || {
            let remote = stream.peer_addr().ok();
            if let Err(e) = handle_learner(&l, stream) {
                if !l.stopping.load(Ordering::Acquire) {
                    info!(?remote, error = %e, "learner connection ended");
                }
            }
        });
    }
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// `LearnerHandler.run`.
fn handle_learner(leader: &Arc<Leader>, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(leader.init_ms.max(1) as u64)))?;
    let max = leader.config.max_buffer + QUORUM_PACKET_SLACK;
    let mut reader = PacketReader::new(stream.try_clone()?, max);
    let hello = reader.read()?;
    if hello.packet_type != packet::FOLLOWERINFO && hello.packet_type != packet::OBSERVERINFO {
        return Err(io_err(format!("first packet is type {}, not FOLLOWERINFO or OBSERVERINFO", hello.packet_type)));
    }
    let info = LearnerInfo::from_bytes(hello.data.as_deref().unwrap_or(&[]), 1024).map_err(io_err)?;
    let sid = info.serverid as u64;
    let observer = hello.packet_type == packet::OBSERVERINFO;
    if !leader.view.servers.contains_key(&sid) {
        return Err(io_err(format!("server {sid} is not in the configuration")));
    }
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let tx = Outbox::start(stream.try_clone()?, "learner-writer")?;
    tx.track_queue(sid, leader.config.metrics.clone());
    let snap_dir =
        zab_persistence::snaplog::SnapLog::new(&leader.config.data_dir, &leader.config.data_log_dir).snap_dir;
    {
        let mut st = leader.state.lock();
        if let Some(old) = st.learners.remove(&sid) {
            old.tx.close();
            let _ = old.stream.shutdown(Shutdown::Both);
        }
        let now = leader.now();
        let view = LearnerView {
            sid,
            observer,
            sync_mode: "",
            last_acked: -1,
            in_broadcast: false,
            connected_ms: crate::clock::wall_ms(),
        };
        st.learners.insert(sid, Learner { conn, tx: tx.clone(), stream: stream.try_clone()?, view, last_heard: now });
        let actions = st.discovery.on_learner_info(sid, &hello).map_err(io_err)?;
        discovery_actions(leader, &mut st, actions, &snap_dir).map_err(io_err)?;
    }
    let cross_epoch = leader.config.quorum.as_ref().is_some_and(|q| q.cross_epoch_trunc)
        && info.protocol_version == zab_jute::quorum::ZAB_PROTOCOL_VERSION;
    let result = serve_learner(leader, sid, observer, cross_epoch, &mut reader, &tx);
    tx.close();
    let mut st = leader.state.lock();
    if st.learners.get(&sid).is_some_and(|l| l.conn == conn) {
        st.learners.remove(&sid);
        if let Some(b) = st.bcast.as_mut() {
            b.remove_learner(sid);
        }
    }
    let closing = Instant::now();
    let _ = stream.shutdown(Shutdown::Both);
    leader.config.metrics.socket_closing_time.add_ms(closing.elapsed());
    result
}

fn serve_learner(
    leader: &Arc<Leader>,
    sid: u64,
    observer: bool,
    cross_epoch: bool,
    reader: &mut PacketReader<TcpStream>,
    tx: &Arc<Outbox>,
) -> std::io::Result<()> {
    let ack_epoch = reader.read()?;
    if ack_epoch.packet_type != packet::ACKEPOCH {
        return Err(io_err(format!("expected ACKEPOCH, got type {}", ack_epoch.packet_type)));
    }
    let snap_dir =
        zab_persistence::snaplog::SnapLog::new(&leader.config.data_dir, &leader.config.data_log_dir).snap_dir;
    let peer_last = ack_epoch.zxid;
    {
        let mut st = leader.state.lock();
        let actions = st.discovery.on_ack_epoch(sid, &ack_epoch).map_err(io_err)?;
        discovery_actions(leader, &mut st, actions, &snap_dir).map_err(io_err)?;
        // Wait for the new epoch's server (a quorum acknowledged the epoch).
        let deadline = Instant::now() + Duration::from_millis(leader.init_ms.max(1) as u64);
        while st.bcast.is_none() {
            if st.failure.is_some() || leader.stopping.load(Ordering::Acquire) {
                return Err(io_err("the leader is stopping"));
            }
            if Instant::now() >= deadline {
                return Err(io_err("timed out waiting for a quorum to acknowledge the epoch"));
            }
            leader.cond.wait_for(&mut st, Duration::from_millis(50));
        }
    }
    if leader.stopping.load(Ordering::Acquire) {
        return Err(io_err("the leader's term has ended"));
    }
    let server = leader.server.get().and_then(|w| w.upgrade()).ok_or_else(|| io_err("no server"))?;
    if !server.is_serving() && leader.state.lock().serving {
        return Err(io_err("the leader's server has stopped"));
    }
    sync_learner(leader, &server, sid, observer, cross_epoch, peer_last)?;
    // After NEWLEADER: the learner's ACK, then broadcast. What the packets read in one go
    // cause (COMMITs, PROPOSALs) goes out together before the reader next waits on the
    // socket (`FlushBeforeRead`).
    let mut acked_newleader = false;
    let _defer = crate::defer::defer();
    loop {
        let p = reader.read()?;
        let now = leader.now();
        match p.packet_type {
            packet::ACK => {
                let mut st = leader.state.lock();
                if let Some(l) = st.learners.get_mut(&sid) {
                    l.last_heard = now;
                    l.view.last_acked = l.view.last_acked.max(p.zxid);
                }
                if zxid::counter(p.zxid) == 0 {
                    if acked_newleader {
                        continue; // the ACK of UPTODATE
                    }
                    acked_newleader = true;
                    let actions = match st.newleader.as_mut().map(|n| n.on_ack(sid, p.zxid)) {
                        Some(Ok(a)) => a,
                        Some(Err(e)) => return Err(io_err(e)),
                        None => Vec::new(),
                    };
                    for a in actions {
                        match a {
                            NewLeaderAction::Send { to, packet } => send(&st, to, packet),
                            NewLeaderAction::StartServing => {
                                st.serving = true;
                                leader.cond.notify_all();
                            }
                        }
                    }
                    if let Some(l) = st.learners.get_mut(&sid) {
                        l.view.in_broadcast = true;
                        let _ = l.stream.set_read_timeout(Some(Duration::from_millis(leader.sync_ms.max(1) as u64)));
                    }
                    continue;
                }
                crate::metrics::record::leader_ack(&leader.config.metrics, sid, p.zxid, st.proposed.get(&p.zxid));
                let actions = st.bcast.as_mut().map(|b| b.on_ack(sid, p.zxid)).unwrap_or_default();
                let c = leader.exec(&mut st, actions);
                drop(st);
                leader.commit(c);
            }
            packet::PING => {
                if let Some(l) = leader.state.lock().learners.get_mut(&sid) {
                    l.last_heard = now;
                }
                for t in SessionTouch::decode_all(p.data.as_deref().unwrap_or(&[])) {
                    server.touch_remote(t.session_id, t.timeout);
                }
            }
            packet::REQUEST => learner_request(leader, &server, sid, &p),
            packet::REVALIDATE => {
                let data = p.data.unwrap_or_default();
                let Ok(RevalidateRequest { session_id: session, timeout }) =
                    RevalidateRequest::from_bytes(&data, data.len())
                else {
                    return Err(io_err("short REVALIDATE"));
                };
                leader.config.metrics.revalidate_count.inc();
                let valid = server.revalidate_for_learner(session, timeout, sid);
                debug!(sid, session = format_args!("0x{session:x}"), valid, "revalidated a session for a learner");
                let out = RevalidateReply { session_id: session, valid }.to_bytes();
                tx.send(Out::Packet(QuorumPacket::new(packet::REVALIDATE, -1, Some(out))));
            }
            t => warn!(sid, packet_type = t, "unexpected packet from a learner; ignored"),
        }
    }
}

/// A learner forwarded a client's request (`LearnerHandler` REQUEST).
fn learner_request(leader: &Leader, server: &Arc<ZooKeeperServer>, sid: u64, p: &QuorumPacket) {
    let data = p.data.as_deref().unwrap_or(&[]);
    let Ok((ForwardedRequest { session_id: session, cxid, op_type }, body)) = ForwardedRequest::decode(data) else {
        warn!(sid, "REQUEST shorter than its header; ignored");
        return;
    };
    if op_type == op::SYNC {
        let mut st = leader.state.lock();
        match st.proposed.keys().next_back().copied() {
            Some(last) => st.syncs.push_back((last, sid)),
            None => send(&st, sid, QuorumPacket::new(packet::SYNC, 0, None)),
        }
        return;
    }
    let req = match op_type {
        op::CREATE_SESSION => match body.get(0..4) {
            Some(t) => WriteRequest::CreateSession { timeout: i32::from_be_bytes([t[0], t[1], t[2], t[3]]) },
            None => WriteRequest::Malformed { op_type },
        },
        op::CLOSE_SESSION => WriteRequest::CloseSession,
        t => crate::request::decode_write(t, body, server.config.max_buffer, server.config.reconfig_enabled)
            .unwrap_or(WriteRequest::Malformed { op_type: t }),
    };
    // The reply reaches the client through the learner, when it applies the txn.
    drop(server.submit_write_from(sid, session, cxid, &p.authinfo, &req, body));
}

/// `getProposalsFromTxnLog`: for a learner older than the committed window, the committed
/// txns after its zxid from the log on disk — unless they would weigh more than a third of
/// the tree (`snapshotSizeFactor` 0.33), when a snapshot is cheaper. Read before the leader's
/// lock is taken; only what is committed (up to the window's start) is used.
fn on_disk_txns(leader: &Leader, server: &ZooKeeperServer, peer_last: i64) -> Option<BTreeMap<i64, Vec<u8>>> {
    let window_start = leader.state.lock().committed_log.front().map(|(z, _)| *z)?;
    if peer_last >= window_start || peer_last <= 0 {
        return None;
    }
    // Only the log past the newest snapshot is this leader's history for sure: before it,
    // the log may hold txns it logged and then lost to a TRUNC or SNAP of its own, and miss
    // the ones it received in a snapshot (ZOOKEEPER-2846).
    let newest_snapshot = server.snap_log.snapshots().ok()?.first().map(|(z, _)| *z)?;
    if peer_last < newest_snapshot {
        return None;
    }
    let limit = (server.tree().approximate_data_size().max(0) as u64) / 3;
    let entries = zab_persistence::txnlog::read_from(&server.snap_log.log_dir, peer_last).ok()?;
    let mut out = BTreeMap::new();
    let mut size = 0u64;
    for e in entries {
        if e.hdr.zxid > window_start {
            break;
        }
        size += e.payload.len() as u64;
        if size > limit {
            debug!(
                peer_last = format_args!("0x{peer_last:x}"),
                "the log since the learner's zxid outweighs a snapshot"
            );
            return None;
        }
        out.insert(e.hdr.zxid, e.payload);
    }
    // The learner's own zxid must be in the log for the walk to start from it.
    out.contains_key(&peer_last).then_some(out)
}

/// `LearnerHandler.syncFollower` and the SNAP stream, then NEWLEADER; the learner joins
/// broadcast under the same lock, so it misses no proposal.
fn sync_learner(
    leader: &Leader,
    server: &Arc<ZooKeeperServer>,
    sid: u64,
    observer: bool,
    cross_epoch: bool,
    peer_last: i64,
) -> std::io::Result<()> {
    // Taken before the leader's lock: the prep path holds the session tracker's lock while
    // it proposes (which takes the leader's lock), so the reverse order would deadlock.
    let sessions = server.sessions();
    let disk = on_disk_txns(leader, server, peer_last);
    let mut st = leader.state.lock();
    let tx = st.learners.get(&sid).map(|l| l.tx.clone()).ok_or_else(|| io_err("learner gone"))?;
    let out = |p: QuorumPacket| {
        tx.send(Out::Packet(p));
    };
    let zxids: Vec<i64> = st.committed_log.iter().map(|(z, _)| *z).collect();
    let tree = server.tree();
    let applied = tree.last_processed_zxid();
    let last_committed = zxids.last().copied().unwrap_or(applied).max(applied);
    let disk_zxids: Option<Vec<i64>> = disk.as_ref().map(|d| d.keys().copied().collect());
    let log = LeaderLog { last_processed_zxid: last_committed, committed: &zxids, on_disk: disk_zxids.as_deref() };
    let the_plan = plan_with(peer_last, &log, PlanOptions { cross_epoch_trunc: cross_epoch });
    let payload = |z: i64| -> Option<Arc<Vec<u8>>> {
        if let Ok(i) = st.committed_log.binary_search_by_key(&z, |(k, _)| *k) {
            return st.committed_log.get(i).map(|(_, d)| d.clone());
        }
        disk.as_ref().and_then(|d| d.get(&z)).map(|p| Arc::new(p.clone()))
    };
    let mode;
    let from_disk = !the_plan.snap
        && the_plan.packets.iter().any(|p| matches!(p, SyncPacket::Proposal(z) if zxids.first().is_none_or(|m| z < m)));
    if from_disk {
        info!(sid, "synchronising from the transaction log on disk (older than the committed window)");
    }
    if the_plan.snap {
        mode = "SNAP";
        let mut a = zab_jute::OutputArchive::new();
        a.write_i32(sessions.len() as i32);
        for (id, to) in &sessions {
            a.write_i64(*id);
            a.write_i32(*to);
        }
        let acls = tree.write_acl_section(&mut a);
        let mut cur = zab_datatree::codec::NodeCursor::new(&acls);
        while !tree.write_nodes_step(&mut cur, &mut a, usize::MAX) {}
        a.write_string(SNAP_SIGNATURE);
        drop(tree);
        out(QuorumPacket::new(packet::SNAP, applied, None));
        tx.send(Out::Raw(a.into_inner()));
        // Committed but not yet applied here: as proposals and commits after the snapshot.
        for (z, d) in st.committed_log.iter().filter(|(z, _)| *z > applied) {
            out(QuorumPacket::new(packet::PROPOSAL, *z, Some(d.to_vec())));
            out(QuorumPacket::new(packet::COMMIT, *z, None));
        }
    } else {
        drop(tree);
        mode = match the_plan.packets.first() {
            Some(SyncPacket::Trunc(_)) => "TRUNC",
            _ => "DIFF",
        };
        for p in &the_plan.packets {
            match *p {
                SyncPacket::Diff(z) => out(QuorumPacket::new(packet::DIFF, z, None)),
                SyncPacket::Trunc(z) => out(QuorumPacket::new(packet::TRUNC, z, None)),
                SyncPacket::Proposal(z) => match payload(z) {
                    Some(d) => out(QuorumPacket::new(packet::PROPOSAL, z, Some(d.to_vec()))),
                    None => return Err(io_err(format!("committed txn 0x{z:x} left the window during sync"))),
                },
                SyncPacket::Commit(z) => out(QuorumPacket::new(packet::COMMIT, z, None)),
            }
        }
    }
    // startForwarding: outstanding proposals follow, then the learner is in the set.
    if !observer {
        for (z, d) in &st.proposed {
            out(QuorumPacket::new(packet::PROPOSAL, *z, Some(d.to_vec())));
        }
    }
    let kind = if observer { LearnerKind::Observer } else { LearnerKind::Follower };
    if let Some(b) = st.bcast.as_mut() {
        b.add_learner(sid, kind);
    }
    if let Some(NewLeaderAction::Send { packet, .. }) = st.newleader.as_ref().map(|n| n.newleader_for(sid)) {
        out(packet);
    }
    if let Some(l) = st.learners.get_mut(&sid) {
        l.view.sync_mode = mode;
    }
    let syncing = st.learners.values().filter(|l| !l.view.in_broadcast).count();
    crate::metrics::record::learner_sync(&leader.config.metrics, mode, syncing);
    info!(sid, mode, peer_last = format_args!("0x{peer_last:x}"), "synchronising learner");
    Ok(())
}
