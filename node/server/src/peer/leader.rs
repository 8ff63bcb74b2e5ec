//! The leader's runtime: it carries out the actions of the leader engine
//! ([`zab_quorum::leader::Leader`], which makes every protocol decision) over the quorum
//! port, the data directory and the epoch's [`ZooKeeperServer`].
//!
//! Threads: the epoch's own thread (`lead`) owns the database until the server starts on
//! it, writes currentEpoch, starts and stops the server and ticks the engine every half
//! tick; an acceptor thread takes learner connections; one handler thread per connection
//! reads its packets and feeds them to the engine; packets leave through each connection's
//! `Outbox` writer thread. The engine sits under one lock; what an action asks of the
//! server (applying commits, a learner's request, a session check, a sync) is done after
//! the lock is released. The write path reaches the engine through [`Broadcast`]:
//! `propose` (under the prep lock, so in zxid order) and `logged`, the leader's own ACK
//! after its fsync.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use tracing::{debug, info, warn};
use zab_datatree::prep::WriteRequest;
use zab_datatree::DataTree;
use zab_jute::codes::op;
use zab_jute::learner_bodies::{ForwardedRequest, RevalidateReply, SessionTouch};
use zab_jute::quorum::{packet, QuorumPacket};
use zab_jute::record::Record;
use zab_quorum::broadcast::BroadcastError;
use zab_quorum::leader::{ConnId, Leader, LeaderAction, LeaderError, LeaderSettings, LogExtract};
use zab_quorum::verifier::QuorumMaj;
use zab_quorum::zxid;

use super::error::PeerError;
use super::stop::StopSignal;
use super::wire::{Out, Outbox, PacketReader, QUORUM_PACKET_SLACK, SNAP_SIGNATURE};
use crate::config::ServerConfig;
pub use crate::peer_state::LearnerView;

use crate::zk_server::{
    Broadcast, Database, HandOverWait, ProposeError, QuorumConfigs, SkipError, Upstream, ZooKeeperServer,
};

/// The learners' connections: acceptor, handler threads, SNAP stream.
mod handler;
use handler::{accept_loop, learner_request, snapshot_stream};
/// What the epoch's thread must do, sent by whichever thread carried out the action.
enum EpochEvent {
    Stopped,
    PersistCurrentEpoch(i64),
    StartServer(i64),
    StartServing,
    Failed(PeerError),
}

/// One learner connection's I/O.
struct Conn {
    tx: Arc<Outbox>,
    stream: TcpStream,
    connected_ms: i64,
}

/// Work an action leaves for after the engine's lock.
enum Later {
    Activate(Arc<zab_quorum::verifier::QuorumMaj>, u64),
    CommitUpTo(i64),
    PrepareSync { conn: ConnId, read_log_from: Option<i64> },
    Touch(Vec<u8>),
    Forwarded { sid: u64, packet: QuorumPacket },
    Revalidate { conn: ConnId, sid: u64, session_id: i64, timeout: i32 },
}

/// The epoch's shared state: the engine and the connections' I/O.
pub struct LeaderRuntime {
    config: ServerConfig,
    info: Arc<crate::peer_state::PeerInfo>,
    started: Instant,
    engine: Mutex<Leader>,
    conns: Mutex<BTreeMap<ConnId, Conn>>,
    server: OnceLock<std::sync::Weak<ZooKeeperServer>>,
    events: Mutex<mpsc::Sender<EpochEvent>>,
    stopping: AtomicBool,
    next_conn: AtomicU64,
    /// Who waits for the hand-over under way (the admin command).
    hand_over_waiters: Mutex<Vec<mpsc::Sender<Result<u64, String>>>>,
}

impl LeaderRuntime {
    fn now(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    fn server(&self) -> Option<Arc<ZooKeeperServer>> {
        self.server.get().and_then(|w| w.upgrade())
    }

    fn event(&self, e: EpochEvent) {
        let _ = self.events.lock().send(e);
    }

    fn close_conn(&self, conn: ConnId) {
        if let Some(c) = self.conns.lock().remove(&conn) {
            c.tx.close();
            let closing = Instant::now();
            let _ = c.stream.shutdown(Shutdown::Both);
            self.config.metrics.socket_closing_time.add_ms(closing.elapsed());
        }
    }

    fn send(&self, conn: ConnId, out: Out) {
        if let Some(c) = self.conns.lock().get(&conn) {
            c.tx.send(out);
        }
    }

    /// Carries out `actions` under the engine's lock (sends, closes, the epoch file,
    /// events for the epoch's thread, metrics), then releases it and does the rest.
    fn run(&self, mut st: MutexGuard<'_, Leader>, actions: Vec<LeaderAction>) {
        let later = self.carry_out(&mut st, actions, None);
        drop(st);
        self.finish(later);
    }

    fn carry_out(
        &self,
        st: &mut Leader,
        actions: Vec<LeaderAction>,
        snapshot: Option<(&DataTree, &[(i64, i32)])>,
    ) -> Vec<Later> {
        let mut later = Vec::new();
        for a in actions {
            match a {
                LeaderAction::Send { conn, packet } => self.send(conn, Out::Packet(packet)),
                LeaderAction::SendSnapshot { conn } => match snapshot {
                    Some((tree, sessions)) => self.send(conn, Out::Raw(snapshot_stream(tree, sessions))),
                    None => {
                        warn!(conn, "a snapshot to send outside a learner's sync; closing the connection");
                        self.close_conn(conn);
                    }
                },
                LeaderAction::Close { conn } => self.close_conn(conn),
                LeaderAction::PersistAcceptedEpoch(e) => {
                    let snap_dir = snap_dir(&self.config);
                    if let Err(err) = zab_persistence::epoch::write_epoch(&snap_dir, "acceptedEpoch", e) {
                        // Nothing after it may go out (LEADERINFO follows): the epoch ends.
                        self.event(EpochEvent::Failed(PeerError::disk("writing acceptedEpoch", err)));
                        break;
                    }
                }
                LeaderAction::PersistCurrentEpoch(e) => self.event(EpochEvent::PersistCurrentEpoch(e)),
                LeaderAction::StartServer { start_zxid } => self.event(EpochEvent::StartServer(start_zxid)),
                LeaderAction::PrepareSync { conn, read_log_from } => {
                    later.push(Later::PrepareSync { conn, read_log_from })
                }
                LeaderAction::Synchronising { sid, mode, from_disk, .. } => {
                    if from_disk {
                        info!(sid, "synchronising from the transaction log on disk (older than the committed window)");
                    }
                    crate::metrics::record::learner_sync(&self.config.metrics, mode.as_str(), st.syncing());
                    info!(sid, mode = mode.as_str(), "synchronising learner");
                }
                LeaderAction::StartServing => self.event(EpochEvent::StartServing),
                LeaderAction::Committed { payload, .. } => {
                    crate::metrics::record::leader_commit(&self.config.metrics, payload.as_ref())
                }
                LeaderAction::CommitUpTo(z) => later.push(Later::CommitUpTo(z)),
                LeaderAction::Activated { zxid, view, designated } => {
                    info!(
                        version = format_args!("0x{zxid:x}"),
                        members = view.servers.len(),
                        designated,
                        "a configuration is in force"
                    );
                    later.push(Later::Activate(view, designated));
                }
                LeaderAction::TouchSessions { data, .. } => later.push(Later::Touch(data)),
                LeaderAction::Forwarded { sid, packet } => later.push(Later::Forwarded { sid, packet }),
                LeaderAction::Revalidate { conn, sid, session_id, timeout } => {
                    later.push(Later::Revalidate { conn, sid, session_id, timeout })
                }
                LeaderAction::HandOverFailed { to, reason } => {
                    warn!(to, %reason, "the hand-over failed; proposing resumes");
                    self.answer_hand_over(Err(format!("member {to} cannot take over: {reason}")));
                }
                LeaderAction::HandOverSent { to, zxid } => {
                    info!(to, zxid = format_args!("0x{zxid:x}"), "HANDOVER sent: the learners leave for {to}");
                }
                LeaderAction::HandOverComplete { to } => {
                    info!(to, "handed the leadership over; this epoch ends");
                    self.answer_hand_over(Ok(to));
                    self.event(EpochEvent::Failed(PeerError::HandedOver { to }));
                }
            }
        }
        later
    }

    fn finish(&self, later: Vec<Later>) {
        for l in later {
            match l {
                Later::Activate(view, designated) => {
                    let server = self.server();
                    let next = (designated != self.info.myid).then_some(designated);
                    super::activate::activate_config(&self.config, &self.info, server.as_deref(), &view, next);
                }
                Later::PrepareSync { conn, read_log_from } => self.prepare_sync(conn, read_log_from),
                Later::CommitUpTo(z) => {
                    if let Some(s) = self.server() {
                        s.commit_up_to_deferred(z);
                    }
                }
                Later::Touch(data) => {
                    if let Some(s) = self.server() {
                        for t in SessionTouch::decode_all(&data) {
                            s.touch_remote(t.session_id, t.timeout);
                        }
                    }
                }
                Later::Forwarded { sid, packet } => {
                    if let Some(s) = self.server() {
                        learner_request(&s, sid, &packet);
                    }
                }
                Later::Revalidate { conn, sid, session_id, timeout } => {
                    let Some(s) = self.server() else { continue };
                    self.config.metrics.revalidate_count.inc();
                    let valid = s.revalidate_for_learner(session_id, timeout, sid);
                    debug!(
                        sid,
                        session = format_args!("0x{session_id:x}"),
                        valid,
                        "revalidated a session for a learner"
                    );
                    let out = RevalidateReply { session_id, valid }.to_bytes();
                    self.send(conn, Out::Packet(QuorumPacket::new(packet::REVALIDATE, -1, Some(out))));
                }
            }
        }
    }

    fn answer_hand_over(&self, outcome: Result<u64, String>) {
        for w in self.hand_over_waiters.lock().drain(..) {
            let _ = w.send(outcome.clone());
        }
    }

    /// What the engine's `sync_learner` needs, read outside its lock (the prep path holds
    /// the session tracker's lock while it proposes, which takes the engine's lock), then
    /// the sync itself with the tree held, so a SNAP shows exactly the applied zxid.
    fn prepare_sync(&self, conn: ConnId, read_log_from: Option<i64>) {
        let Some(server) = self.server() else {
            let mut st = self.engine.lock();
            let actions = st.on_closed(conn);
            return self.run(st, actions);
        };
        let sessions = server.sessions();
        let log = read_log_from.and_then(|from| self.read_log(&server, from));
        let mut st = self.engine.lock();
        let tree = server.tree();
        let applied = tree.last_processed_zxid();
        let actions = st.sync_learner(conn, applied, log);
        let later = self.carry_out(&mut st, actions, Some((&tree, &sessions)));
        drop(tree);
        drop(st);
        self.finish(later);
    }

    /// `getProposalsFromTxnLog`'s reading: the log from `from` up to the window's start,
    /// no more than the engine could use (a third of the tree's size).
    fn read_log(&self, server: &ZooKeeperServer, from: i64) -> Option<LogExtract> {
        let window_start = self.engine.lock().committed_log().front().map(|(z, _)| *z)?;
        let newest_snapshot = server.snap_log.snapshots().ok()?.first().map(|(z, _)| *z)?;
        let tree_size = server.tree().approximate_data_size().max(0) as u64;
        let entries = zab_persistence::txnlog::read_from(&server.snap_log.log_dir, from).ok()?;
        let mut txns = Vec::new();
        let mut size = 0u64;
        for e in entries {
            if e.hdr.zxid > window_start || size > tree_size / 3 {
                break;
            }
            size += e.payload.len() as u64;
            txns.push((e.hdr.zxid, Arc::new(e.payload)));
        }
        Some(LogExtract { newest_snapshot, tree_size, txns })
    }
}

impl Broadcast for LeaderRuntime {
    fn propose(&self, zxid: i64, payload: &Arc<Vec<u8>>) -> Result<(), ProposeError> {
        let mut st = self.engine.lock();
        match st.propose(zxid, payload.clone()) {
            Ok(actions) => {
                self.run(st, actions);
                Ok(())
            }
            Err(LeaderError::NotEstablished) => Err(ProposeError::NotEstablished),
            Err(LeaderError::HandingOver(to)) => Err(ProposeError::HandingOver(to)),
            Err(e) => {
                warn!(reason = %e, "leader giving up");
                Err(ProposeError::SteppingDown(e.to_string()))
            }
        }
    }

    fn hand_over(&self, to: Option<u64>) -> Result<HandOverWait, String> {
        let mut st = self.engine.lock();
        let (chosen, actions) = st.hand_over(to, self.now()).map_err(|e| e.to_string())?;
        info!(to = chosen, "handing the leadership over: no proposal until the follower holds everything");
        let (tx, rx) = mpsc::channel();
        self.hand_over_waiters.lock().push(tx);
        self.run(st, actions);
        Ok(rx)
    }

    fn propose_reconfig(&self, zxid: i64, payload: &Arc<Vec<u8>>, view: QuorumMaj) -> Result<(), ProposeError> {
        let mut st = self.engine.lock();
        match st.propose_reconfig(zxid, payload.clone(), view) {
            Ok(actions) => {
                self.run(st, actions);
                // `Leader.propose`'s setLastSeenQuorumVerifier: should this epoch end with the
                // reconfig in flight, this member's next epoch as leader completes it.
                super::activate::saw_reconfig(&self.config, &self.info, payload);
                Ok(())
            }
            // Refused, the epoch goes on (prep refuses it first: not expected).
            Err(LeaderError::Broadcast(BroadcastError::ReconfigInProgress(v))) => {
                Err(ProposeError::ReconfigInProgress(v))
            }
            Err(LeaderError::NotEstablished) => Err(ProposeError::NotEstablished),
            Err(LeaderError::HandingOver(to)) => Err(ProposeError::HandingOver(to)),
            Err(e) => {
                warn!(reason = %e, "leader giving up");
                Err(ProposeError::SteppingDown(e.to_string()))
            }
        }
    }

    fn configs(&self) -> QuorumConfigs {
        let st = self.engine.lock();
        let current = st.config().clone();
        let last_seen = st.next_config().cloned().unwrap_or_else(|| current.clone());
        QuorumConfigs { current, last_seen }
    }

    fn is_quorum_synced(&self, view: &QuorumMaj) -> bool {
        self.engine.lock().is_quorum_synced(view)
    }

    fn logged(&self, zxids: &[i64]) {
        let mut st = self.engine.lock();
        let actions = st.logged(zxids);
        self.run(st, actions);
    }

    fn learners(&self) -> Vec<LearnerView> {
        let learners = self.engine.lock().learners();
        let conns = self.conns.lock();
        learners
            .into_iter()
            .map(|l| LearnerView {
                sid: l.sid,
                observer: l.observer,
                sync_mode: l.sync_mode.map_or("", |m| m.as_str()),
                last_acked: l.last_acked,
                in_broadcast: l.in_broadcast,
                connected_ms: conns.get(&l.conn).map_or(0, |c| c.connected_ms),
            })
            .collect()
    }
}

fn snap_dir(config: &ServerConfig) -> std::path::PathBuf {
    zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir).snap_dir
}

/// Runs one epoch as leader: returns when the quorum is lost (or `stop` is set), after
/// shutting the server down, with why, and the database for the next epoch (the one given
/// if no server started on it). `on_serving` receives the server once a quorum has synced.
pub fn lead(
    config: &ServerConfig,
    db: Database,
    stop: StopSignal,
    info: &Arc<crate::peer_state::PeerInfo>,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> (PeerError, Option<Database>) {
    let mut db = Some(db);
    let reason = lead_epoch(config, &mut db, stop, info, on_serving);
    (reason, db)
}

fn lead_epoch(
    config: &ServerConfig,
    db_slot: &mut Option<Database>,
    stop: StopSignal,
    info: &Arc<crate::peer_state::PeerInfo>,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> PeerError {
    let Some(q) = config.quorum.clone() else {
        return PeerError::NotAMember;
    };
    let Some(db) = db_slot.as_ref() else {
        return PeerError::NoDatabase;
    };
    let last_zxid = db.last_zxid();
    let (current, accepted) = match zab_persistence::epoch::load_epochs(&snap_dir(config), last_zxid) {
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
    let settings = LeaderSettings {
        myid: q.myid,
        view: q.view.clone(),
        init_ms: tick * q.init_limit as i64,
        sync_ms: tick * q.sync_limit as i64,
        commit_log_count: config.commit_log_count,
        cross_epoch_trunc: q.cross_epoch_trunc,
        reconfig_enabled: config.reconfig_enabled,
    };
    let committed_log: VecDeque<(i64, Arc<Vec<u8>>)> = db.committed_log.clone();
    let (mut engine, actions) = Leader::start(settings, accepted, current, last_zxid, committed_log, 0);
    // A reconfig logged here but never activated: this epoch completes it (ZOOKEEPER-1324).
    if let Some(view) = info.last_seen() {
        engine.set_last_seen(view.as_ref().clone());
    }
    let (events_tx, events) = mpsc::channel();
    // `stop` wakes the epoch's thread at once.
    let _wake = {
        let tx = events_tx.clone();
        stop.on_stop(move || {
            let _ = tx.send(EpochEvent::Stopped);
        })
    };
    let rt = Arc::new(LeaderRuntime {
        config: config.clone(),
        info: info.clone(),
        started: Instant::now(),
        engine: Mutex::new(engine),
        conns: Mutex::new(BTreeMap::new()),
        server: OnceLock::new(),
        events: Mutex::new(events_tx),
        stopping: AtomicBool::new(false),
        next_conn: AtomicU64::new(1),
        hand_over_waiters: Mutex::new(Vec::new()),
    });
    info!(myid = q.myid, accepted, current, last_zxid = format_args!("0x{last_zxid:x}"), "leading");
    rt.run(rt.engine.lock(), actions);
    let acceptor = {
        let rt = rt.clone();
        let listener = match listener.try_clone() {
            Ok(l) => l,
            Err(e) => return PeerError::io("cloning the quorum listener", e),
        };
        std::thread::Builder::new().name("leader-accept".into()).spawn(move || accept_loop(rt, listener))
    };
    let reason = run_epoch(&rt, config, db_slot, &events, info, on_serving);
    rt.answer_hand_over(Err(format!("the leader's epoch ended first: {reason}")));
    // Stop: every learner connection closes, the acceptor wakes and ends, the server stops.
    rt.stopping.store(true, Ordering::Release);
    {
        let mut st = rt.engine.lock();
        let actions = st.end();
        rt.run(st, actions);
    }
    if let Ok(addr) = listener.local_addr() {
        let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
    }
    if let Ok(h) = acceptor {
        let _ = h.join();
    }
    let conns: Vec<ConnId> = rt.conns.lock().keys().copied().collect();
    for conn in conns {
        rt.close_conn(conn);
    }
    on_serving(None);
    if let Some(server) = rt.server() {
        server.stop_serving();
        *db_slot = Some(server.take_database());
    }
    reason
}

/// The epoch's thread: the events the engine's actions raise, and a tick every half tick.
fn run_epoch(
    rt: &Arc<LeaderRuntime>,
    config: &ServerConfig,
    db: &mut Option<Database>,
    events: &mpsc::Receiver<EpochEvent>,
    info: &crate::peer_state::PeerInfo,
    on_serving: &dyn Fn(Option<Arc<ZooKeeperServer>>),
) -> PeerError {
    let tick = Duration::from_millis((config.tick_time as u64 / 2).max(10));
    // The server once started: held here, so the engine's weak reference stays good.
    let mut server: Option<Arc<ZooKeeperServer>> = None;
    let mut next_tick = Instant::now() + tick;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match events.recv_timeout(wait) {
            Ok(EpochEvent::Stopped) => return PeerError::Stopped,
            Ok(EpochEvent::Failed(e)) => return e,
            Ok(EpochEvent::PersistCurrentEpoch(epoch)) => {
                if let Err(e) = zab_persistence::epoch::write_epoch(&snap_dir(config), "currentEpoch", epoch) {
                    return PeerError::disk("writing currentEpoch", e);
                }
                info.update(|v| {
                    v.current_epoch = epoch;
                    v.accepted_epoch = epoch;
                });
                info.phase(zab_status::Phase::Synchronization);
            }
            Ok(EpochEvent::StartServer(start_zxid)) => {
                let Some(d) = db.take() else {
                    return PeerError::NoDatabase;
                };
                let upstream = Upstream::Leader(rt.clone());
                let s = match ZooKeeperServer::from_db(config.clone(), d, upstream, Some(start_zxid)) {
                    Ok(s) => s,
                    Err(e) => return PeerError::Start(e),
                };
                let _ = rt.server.set(Arc::downgrade(&s));
                server = Some(s);
                info!(epoch = zxid::epoch(start_zxid), "new epoch acknowledged by a quorum; synchronising learners");
                let mut st = rt.engine.lock();
                let actions = st.server_started(rt.now());
                rt.run(st, actions);
            }
            Ok(EpochEvent::StartServing) => {
                let Some(s) = server.clone() else {
                    return PeerError::protocol("a quorum acknowledged NEWLEADER before the server started");
                };
                let epoch = rt.engine.lock().epoch().unwrap_or(-1);
                if let Some(counter) = q_initial_zxid(config) {
                    let z = zxid::make(epoch, counter);
                    let moved = s.skip_zxid_to(z, |z| match rt.engine.lock().skip_to(z) {
                        Ok(()) => Ok(()),
                        Err(LeaderError::Broadcast(e)) => Err(SkipError::Broadcast(e)),
                        Err(_) => Err(SkipError::NotEstablished),
                    });
                    match moved {
                        Ok(()) => {
                            warn!(
                                zxid = format_args!("0x{z:x}"),
                                "zookeeper.testingonly.initialZxid: zxid counter moved"
                            )
                        }
                        Err(e) => warn!(error = %e, "zookeeper.testingonly.initialZxid not applied"),
                    }
                }
                s.serving.store(true, Ordering::Release);
                info.phase(zab_status::Phase::Broadcast);
                on_serving(Some(s));
                info!(epoch, "a quorum is synchronised; serving clients");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return PeerError::protocol("the leader's event channel closed")
            }
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + tick;
            let mut st = rt.engine.lock();
            match st.on_tick(rt.now()) {
                Ok(actions) => rt.run(st, actions),
                Err(e) => {
                    drop(st);
                    warn!(reason = %e, "leader giving up");
                    return match e {
                        LeaderError::Discovery(e) => PeerError::Discovery(e),
                        LeaderError::NewLeader(e) => PeerError::NewLeader(e),
                        e => PeerError::LeaderGaveUp(e.to_string()),
                    };
                }
            }
        }
    }
}

fn q_initial_zxid(config: &ServerConfig) -> Option<i64> {
    config.quorum.as_ref().and_then(|q| q.testing_initial_zxid)
}
