//! QuorumCnxManager: the election port (3888), wire-compatible with ZooKeeper 3.8's
//! `QuorumCnxManager`. It keeps one TCP connection per pair of members and moves opaque
//! election messages over them; FastLeaderElection (`super::election`) gives it bytes to send
//! and reads what arrives from one channel. It never looks inside a message.
//!
//! - **Handshake** (`startConnection` / `handleConnection`): whoever dials writes the initial
//!   message: long protocol version (-65536, or -65535 with `multiAddress.enabled`), long sid,
//!   int length and the `host:port` election address (`|`-separated under V2). A non-negative
//!   first long is a pre-3.5 bare sid. Nothing is answered.
//! - **Tie rule:** only a connection dialled by the larger sid survives. A dialler with the
//!   smaller sid writes its initial message and hangs up; the larger one, on reading an initial
//!   message from a smaller sid, closes it and dials back (to the address it was told, else the
//!   view's). A sid outside the view is accepted like any other (FastLeaderElection answers it
//!   as a non-voter); the legacy observer sid `Long.MAX_VALUE` gets a negative id from a
//!   counter, as in ZooKeeper.
//! - **Messages:** int length (1..=[`PACKETMAXSIZE`]) then the bytes. Each peer has a send
//!   queue of one message ([`SEND_CAPACITY`]; a newer message replaces an unsent one) and the
//!   last message sent is sent again on a new connection when nothing newer waits
//!   (`SendWorker.run`). Everything received goes to one channel as `(sid, bytes)`; a message
//!   to myself goes straight there.
//! - `send` to a peer without a connection dials it (`toSend` -> `connectOne`), at most one
//!   dial per peer at a time, each bounded by `cnxTimeout` (5 s).
//!
//! Layout: this file holds the manager and its connection table; [`handshake`] reads and
//! writes the initial message, [`listener`] binds and accepts, [`worker`] runs the send and
//! receive side of each connection.
//!
//! Bad input (an unknown protocol version, a length out of bounds, a malformed address, a
//! stalled handshake) closes that one connection with a log line; nothing read from the
//! network can panic. Sids are ZooKeeper's longs; the API carries them as `u64` bit patterns,
//! so the negative ids of legacy observers appear as values above `i64::MAX`.

mod handshake;
mod listener;
mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, info, warn};
use zab_jute::quorum::{InitialMessage, INITIAL_MESSAGE_V1, INITIAL_MESSAGE_V2};
use zab_quorum::verifier::QuorumMaj;

use crate::config::QuorumSettings;

/// Messages waiting per peer (`QuorumCnxManager.SEND_CAPACITY`): only the newest is kept, so
/// a peer that reconnects is not sent stale notifications.
pub const SEND_CAPACITY: usize = 1;
/// The receive channel (`RECV_CAPACITY`).
pub const RECV_CAPACITY: usize = 100;
/// Largest election message accepted (`PACKETMAXSIZE`, 512 KiB).
pub const PACKETMAXSIZE: usize = 512 * 1024;
/// The sid pre-3.5 observers sent (`QuorumPeer.OBSERVER_ID`).
pub const OBSERVER_ID: i64 = i64::MAX;

/// What the connection manager needs besides the view.
#[derive(Debug, Clone)]
pub struct QcmSettings {
    /// Bound on dialling a peer (`zookeeper.cnxTimeout`, 5000 ms).
    pub cnx_timeout: Duration,
    /// Bound on the handshake (`quorumCnxnTimeoutMs`, else tickTime x syncLimit).
    pub socket_timeout: Duration,
    /// Listen on the wildcard address rather than the server line's host.
    pub listen_on_all_ips: bool,
    /// Bind attempts on the election port, one second apart; 0 tries forever.
    pub election_port_bind_retry: u32,
    /// Send protocol version V2 (`multiAddress.enabled`); ZooKeeper 3.8 sends V1 by default.
    pub multi_address_enabled: bool,
}

impl Default for QcmSettings {
    fn default() -> Self {
        QcmSettings {
            cnx_timeout: Duration::from_millis(5000),
            socket_timeout: Duration::from_millis(5 * 2000),
            listen_on_all_ips: false,
            election_port_bind_retry: 3,
            multi_address_enabled: false,
        }
    }
}

impl QcmSettings {
    /// The settings of a quorum peer from zoo.cfg (`QuorumPeer.createCnxnManager`).
    pub fn from_quorum(q: &QuorumSettings, tick_time: u32) -> QcmSettings {
        QcmSettings {
            socket_timeout: Duration::from_millis(u64::from(tick_time) * u64::from(q.sync_limit.max(1))),
            listen_on_all_ips: q.listen_on_all_ips,
            election_port_bind_retry: q.election_port_bind_retry,
            ..QcmSettings::default()
        }
    }
}

/// A one-shot cancellation signal.
#[derive(Default)]
struct Token {
    cancelled: AtomicBool,
    notify: Notify,
}

impl Token {
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// One live connection to a peer (its SendWorker/RecvWorker pair).
struct Conn {
    id: u64,
    token: Arc<Token>,
}

/// Per-peer state: `queueSendMap`, `lastMessageSent`, `senderWorkerMap`, `inprogressConnections`.
#[derive(Default)]
struct Slot {
    queued: Option<Arc<Vec<u8>>>,
    wake: Arc<Notify>,
    last_sent: Option<Arc<Vec<u8>>>,
    conn: Option<Conn>,
    connecting: bool,
}

struct Inner {
    myid: i64,
    /// Where members are dialled; a reconfiguration replaces it ([`QuorumCnxManager::set_view`]).
    view: parking_lot::RwLock<QuorumMaj>,
    settings: QcmSettings,
    /// The election address sent in the initial message (`formatInetAddr`).
    my_address: String,
    local_addr: Option<SocketAddr>,
    peers: Mutex<HashMap<i64, Slot>>,
    recv_tx: mpsc::Sender<(u64, Vec<u8>)>,
    observer_counter: AtomicI64,
    next_conn: AtomicU64,
    shutdown: Token,
    live_tasks: AtomicUsize,
    idle: Notify,
}

/// The election connection manager. Dropping the last handle stops it, as [`shutdown`] does.
///
/// [`shutdown`]: QuorumCnxManager::shutdown
pub struct QuorumCnxManager {
    inner: Arc<Inner>,
}

type Received = mpsc::Receiver<(u64, Vec<u8>)>;

impl QuorumCnxManager {
    /// Listens on `myid`'s election address from `view` (or the wildcard address with
    /// `listen_on_all_ips`), retrying the bind as `electionPortBindRetry` says.
    pub async fn start(myid: u64, view: QuorumMaj, settings: QcmSettings) -> io::Result<(Arc<Self>, Received)> {
        let (host, port) = own_server(myid, &view)?;
        let resolved = resolve_first(&host, port).await;
        let bind_addr = match (settings.listen_on_all_ips, resolved) {
            (true, Some(a)) if a.is_ipv6() => SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            (true, _) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            (false, Some(a)) => a,
            (false, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("cannot resolve {host}, the host of server.{myid}; fix the server line or DNS"),
                ))
            }
        };
        let listener = listener::bind_with_retry(myid, bind_addr, settings.election_port_bind_retry).await?;
        Self::start_on(myid, view, settings, listener).await
    }

    /// Like [`start`](Self::start) on a listener the caller bound (tests bind 127.0.0.1:0).
    pub async fn start_on(
        myid: u64,
        view: QuorumMaj,
        settings: QcmSettings,
        listener: TcpListener,
    ) -> io::Result<(Arc<Self>, Received)> {
        let (host, port) = own_server(myid, &view)?;
        let my_address = match resolve_first(&host, port).await {
            Some(a) => handshake::format_inet_addr(a),
            None => format!("{host}:{port}"),
        };
        let local_addr = listener.local_addr().ok();
        let (recv_tx, recv_rx) = mpsc::channel(RECV_CAPACITY);
        let inner = Arc::new(Inner {
            myid: myid as i64,
            view: parking_lot::RwLock::new(view),
            settings,
            my_address,
            local_addr,
            peers: Mutex::new(HashMap::new()),
            recv_tx,
            observer_counter: AtomicI64::new(-1),
            next_conn: AtomicU64::new(1),
            shutdown: Token::default(),
            live_tasks: AtomicUsize::new(0),
            idle: Notify::new(),
        });
        info!(myid, addr = ?local_addr, advertised = %inner.my_address, "accepting election connections");
        inner.spawn(inner.clone().listen(listener));
        Ok((Arc::new(QuorumCnxManager { inner }), recv_rx))
    }

    pub fn myid(&self) -> u64 {
        self.inner.myid as u64
    }

    /// The configuration members are dialled by.
    pub fn view(&self) -> QuorumMaj {
        self.inner.view.read().clone()
    }

    /// A reconfiguration activated: members are dialled by `view` from now on.
    pub fn set_view(&self, view: QuorumMaj) {
        *self.inner.view.write() = view;
    }

    /// The address the election port listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    /// Queues `msg` for `to` (replacing an unsent older one) and dials `to` if there is no
    /// connection (`toSend`). A message to myself goes straight to the receive channel.
    /// Never blocks; call it inside the tokio runtime (dialling spawns a task).
    pub fn send(&self, to: u64, msg: Vec<u8>) {
        let inner = &self.inner;
        let sid = to as i64;
        if sid == inner.myid {
            if inner.recv_tx.try_send((to, msg)).is_err() {
                warn!(sid, "receive queue full or closed; dropping a message to myself");
            }
            return;
        }
        {
            let mut peers = inner.peers.lock();
            let slot = peers.entry(sid).or_default();
            if slot.queued.replace(Arc::new(msg)).is_some() {
                debug!(sid, "replaced an unsent election message (send capacity {SEND_CAPACITY})");
            }
            slot.wake.notify_one();
        }
        inner.connect_one(sid);
    }

    /// Dials every peer that has a queue but no connection (`connectAll`).
    pub fn connect_all(&self) {
        let sids: Vec<i64> = self.inner.peers.lock().keys().copied().collect();
        for sid in sids {
            self.inner.connect_one(sid);
        }
    }

    /// The peers with a live connection, in order.
    pub fn connected_peers(&self) -> Vec<u64> {
        let mut v: Vec<u64> =
            self.inner.peers.lock().iter().filter(|(_, s)| s.conn.is_some()).map(|(sid, _)| *sid as u64).collect();
        v.sort_unstable();
        v
    }

    /// Closes the listener and every connection and waits for all tasks to end (`halt`).
    pub async fn shutdown(&self) {
        self.inner.halt();
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.live_tasks.load(Ordering::SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        info!(myid = self.inner.myid, "election connections closed");
    }
}

impl Drop for QuorumCnxManager {
    fn drop(&mut self) {
        self.inner.halt();
    }
}

/// Decrements the live-task count when a task ends, however it ends.
struct LiveGuard(Arc<Inner>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.live_tasks.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Inner {
    /// Runs `fut` until it ends or the manager shuts down.
    fn spawn(self: &Arc<Self>, fut: impl Future<Output = ()> + Send + 'static) {
        self.live_tasks.fetch_add(1, Ordering::SeqCst);
        let guard = LiveGuard(self.clone());
        tokio::spawn(async move {
            let inner = guard.0.clone();
            tokio::select! {
                biased;
                _ = inner.shutdown.cancelled() => {}
                _ = fut => {}
            }
            drop(guard);
        });
    }

    fn halt(&self) {
        if self.shutdown.is_cancelled() {
            return;
        }
        debug!(myid = self.myid, "halting the election connection manager");
        self.shutdown.cancel();
        for slot in self.peers.lock().values_mut() {
            if let Some(c) = slot.conn.take() {
                c.token.cancel();
            }
        }
    }

    /// `handleConnection`: reads the initial message and applies the tie rule.
    async fn receive_connection(self: Arc<Self>, mut stream: TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let read =
            tokio::time::timeout(self.settings.socket_timeout, handshake::read_initial_message(&mut stream)).await;
        let (mut sid, addrs) = match read {
            Ok(Ok(x)) => x,
            Ok(Err(reason)) => {
                warn!(myid = self.myid, %remote, "closing an election connection: {reason}");
                return;
            }
            Err(_) => {
                warn!(myid = self.myid, %remote, "closing an election connection: no initial message within {:?}",
                    self.settings.socket_timeout);
                return;
            }
        };
        if sid == OBSERVER_ID {
            sid = self.observer_counter.fetch_sub(1, Ordering::SeqCst);
            info!(myid = self.myid, %remote, sid, "setting an arbitrary identifier for a legacy observer");
        }
        if sid < self.myid {
            // We win the challenge: drop theirs and dial back, so that the connection is ours.
            debug!(myid = self.myid, sid, "smaller sid connected; closing and connecting back");
            self.finish_peer(sid);
            drop(stream);
            if addrs.is_empty() {
                self.connect_one(sid);
            } else {
                self.connect_to(sid, addrs);
            }
        } else if sid == self.myid {
            warn!(myid = self.myid, %remote, "an election connection claims my own id: a configuration error \
                (two members with one myid?) or a bug (ZOOKEEPER-2164); closing it");
        } else {
            self.establish(sid, stream);
        }
    }

    /// `connectOne(sid)`: dials a member of the view unless connected or already dialling.
    fn connect_one(self: &Arc<Self>, sid: i64) {
        if self.shutdown.is_cancelled() {
            return;
        }
        if self.peers.lock().get(&sid).is_some_and(|s| s.conn.is_some() || s.connecting) {
            return;
        }
        let address = u64::try_from(sid)
            .ok()
            .and_then(|s| self.view.read().servers.get(&s).map(|server| (server.host.clone(), server.election_port)));
        match address {
            Some(address) => self.connect_to(sid, vec![address]),
            None => warn!(myid = self.myid, sid, "invalid server id: not in the view, no address to connect to"),
        }
    }

    /// `connectOne(sid, electionAddr)` / `initiateConnectionAsync`.
    fn connect_to(self: &Arc<Self>, sid: i64, addrs: Vec<(String, u16)>) {
        if self.shutdown.is_cancelled() {
            return;
        }
        {
            let mut peers = self.peers.lock();
            let slot = peers.entry(sid).or_default();
            if slot.conn.is_some() || slot.connecting {
                return;
            }
            slot.connecting = true;
        }
        let inner = self.clone();
        self.spawn(async move {
            if let Err(e) = inner.initiate_connection(sid, &addrs).await {
                warn!(myid = inner.myid, sid, addrs = ?addrs, error = %e, "cannot open an election channel");
            }
            if let Some(slot) = inner.peers.lock().get_mut(&sid) {
                slot.connecting = false;
            }
        });
    }

    /// `initiateConnection` + `startConnection`.
    async fn initiate_connection(self: &Arc<Self>, sid: i64, addrs: &[(String, u16)]) -> io::Result<()> {
        let mut stream = self.dial(addrs).await?;
        let _ = stream.set_nodelay(true);
        let version = if self.settings.multi_address_enabled { INITIAL_MESSAGE_V2 } else { INITIAL_MESSAGE_V1 };
        let init =
            InitialMessage { protocol_version: version, sid: self.myid, addresses: vec![self.my_address.clone()] };
        tokio::time::timeout(self.settings.socket_timeout, async {
            stream.write_all(&init.encode()).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "writing the initial message timed out"))??;
        if sid > self.myid {
            // We lose the challenge: they will connect to us.
            debug!(myid = self.myid, sid, "have the smaller server id, so dropping the connection");
            return Ok(());
        }
        debug!(myid = self.myid, sid, "have the larger server id, so keeping the connection");
        self.establish(sid, stream);
        Ok(())
    }

    async fn dial(&self, addrs: &[(String, u16)]) -> io::Result<TcpStream> {
        let timeout = self.settings.cnx_timeout;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for (host, port) in addrs {
            let resolved = match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), *port))).await {
                Ok(Ok(it)) => it.collect::<Vec<_>>(),
                Ok(Err(e)) => {
                    last = io::Error::new(e.kind(), format!("cannot resolve {host}: {e}"));
                    continue;
                }
                Err(_) => {
                    last = io::Error::new(io::ErrorKind::TimedOut, format!("resolving {host} timed out"));
                    continue;
                }
            };
            for addr in resolved {
                match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(s)) => return Ok(s),
                    Ok(Err(e)) => last = io::Error::new(e.kind(), format!("{addr}: {e}")),
                    Err(_) => {
                        last = io::Error::new(io::ErrorKind::TimedOut, format!("{addr}: no answer in {timeout:?}"))
                    }
                }
            }
        }
        Err(last)
    }

    /// Installs a connection for `sid`, replacing (and closing) any older one, and starts its
    /// send and receive workers.
    fn establish(self: &Arc<Self>, sid: i64, stream: TcpStream) {
        if self.shutdown.is_cancelled() {
            return;
        }
        let (rd, wr) = stream.into_split();
        let token = Arc::new(Token::default());
        let id = self.next_conn.fetch_add(1, Ordering::SeqCst);
        let wake = {
            let mut peers = self.peers.lock();
            let slot = peers.entry(sid).or_default();
            if let Some(old) = slot.conn.replace(Conn { id, token: token.clone() }) {
                old.token.cancel();
            }
            slot.wake.clone()
        };
        info!(myid = self.myid, sid, "election connection established");
        self.spawn(self.clone().send_worker(sid, id, wr, token.clone(), wake));
        self.spawn(self.clone().recv_worker(sid, id, rd, token));
    }

    /// Closes the connection `id` of `sid` if it is still the current one.
    fn finish(&self, sid: i64, id: u64, token: &Token) {
        token.cancel();
        let mut peers = self.peers.lock();
        if let Some(slot) = peers.get_mut(&sid) {
            if slot.conn.as_ref().is_some_and(|c| c.id == id) {
                slot.conn = None;
            }
        }
    }

    fn finish_peer(&self, sid: i64) {
        if let Some(c) = self.peers.lock().get_mut(&sid).and_then(|s| s.conn.take()) {
            c.token.cancel();
        }
    }
}

fn own_server(myid: u64, view: &QuorumMaj) -> io::Result<(String, u16)> {
    view.servers.get(&myid).map(|s| (s.host.clone(), s.election_port)).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("myid {myid} has no server.{myid} line, so it has no election address; add one"),
        )
    })
}

async fn resolve_first(host: &str, port: u16) -> Option<SocketAddr> {
    tokio::net::lookup_host((host, port)).await.ok()?.next()
}
