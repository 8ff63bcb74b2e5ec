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
//! Bad input (an unknown protocol version, a length out of bounds, a malformed address, a
//! stalled handshake) closes that one connection with a log line; nothing read from the
//! network can panic. Sids are ZooKeeper's longs; the API carries them as `u64` bit patterns,
//! so the negative ids of legacy observers appear as values above `i64::MAX`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, error, info, warn};
use zab_jute::quorum::{InitialMessage, INITIAL_MESSAGE_V1, INITIAL_MESSAGE_V2, MAX_INITIAL_ADDRESS};
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
    view: QuorumMaj,
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
        let listener = bind_with_retry(myid, bind_addr, settings.election_port_bind_retry).await?;
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
            Some(a) => format_inet_addr(a),
            None => format!("{host}:{port}"),
        };
        let local_addr = listener.local_addr().ok();
        let (recv_tx, recv_rx) = mpsc::channel(RECV_CAPACITY);
        let inner = Arc::new(Inner {
            myid: myid as i64,
            view,
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

    pub fn view(&self) -> &QuorumMaj {
        &self.inner.view
    }

    /// The address the election port listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    /// Queues `msg` for `to` (replacing an unsent older one) and dials `to` if there is no
    /// connection (`toSend`). A message to myself goes straight to the receive channel.
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

    /// The accept loop (`Listener.ListenerHandler.acceptConnections`). Accept errors are
    /// retried a second apart; `electionPortBindRetry` of them in a row end the listener.
    async fn listen(self: Arc<Self>, listener: TcpListener) {
        let limit = self.settings.election_port_bind_retry;
        let mut errors = 0u32;
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    errors = 0;
                    info!(myid = self.myid, %remote, "received an election connection request");
                    self.spawn(self.clone().receive_connection(stream, remote));
                }
                Err(e) => {
                    errors += 1;
                    error!(myid = self.myid, addr = ?self.local_addr, error = %e, "accepting on the election port failed");
                    if limit != 0 && errors >= limit {
                        error!(
                            myid = self.myid,
                            "leaving the election listener after {errors} errors: this member can no longer take \
                             part in leader elections; restart it, or raise electionPortBindRetry"
                        );
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// `handleConnection`: reads the initial message and applies the tie rule.
    async fn receive_connection(self: Arc<Self>, mut stream: TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let read = tokio::time::timeout(self.settings.socket_timeout, read_initial_message(&mut stream)).await;
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
        match u64::try_from(sid).ok().and_then(|s| self.view.servers.get(&s)) {
            Some(server) => self.connect_to(sid, vec![(server.host.clone(), server.election_port)]),
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

    /// `SendWorker`: the last message again if nothing newer waits, then the queue.
    async fn send_worker(
        self: Arc<Self>,
        sid: i64,
        id: u64,
        mut wr: OwnedWriteHalf,
        token: Arc<Token>,
        wake: Arc<Notify>,
    ) {
        let body = async {
            let last = {
                let peers = self.peers.lock();
                peers.get(&sid).and_then(|s| if s.queued.is_none() { s.last_sent.clone() } else { None })
            };
            if let Some(m) = last {
                debug!(myid = self.myid, sid, "sending the last message again");
                write_frame(&mut wr, &m).await?;
            }
            loop {
                let next = {
                    let mut peers = self.peers.lock();
                    let slot = peers.entry(sid).or_default();
                    let m = slot.queued.take();
                    if m.is_some() {
                        slot.last_sent = m.clone();
                    }
                    m
                };
                match next {
                    Some(m) => write_frame(&mut wr, &m).await?,
                    None => wake.notified().await,
                }
            }
        };
        let result: io::Result<()> = tokio::select! {
            biased;
            _ = token.cancelled() => Ok(()),
            r = body => r,
        };
        if let Err(e) = result {
            warn!(myid = self.myid, sid, error = %e, "election connection failed while sending");
        }
        self.finish(sid, id, &token);
    }

    /// `RecvWorker`: frames into the receive channel.
    async fn recv_worker(self: Arc<Self>, sid: i64, id: u64, mut rd: OwnedReadHalf, token: Arc<Token>) {
        let body = async {
            loop {
                let len = rd.read_i32().await?;
                let Some(len) = usize::try_from(len).ok().filter(|l| (1..=PACKETMAXSIZE).contains(l)) else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("received a packet of invalid length {len} (1..={PACKETMAXSIZE})"),
                    ));
                };
                let mut buf = vec![0u8; len];
                rd.read_exact(&mut buf).await?;
                if self.recv_tx.send((sid as u64, buf)).await.is_err() {
                    return Ok(());
                }
            }
        };
        let result: io::Result<()> = tokio::select! {
            biased;
            _ = token.cancelled() => Ok(()),
            r = body => r,
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                info!(myid = self.myid, sid, "election connection closed by the peer")
            }
            Err(e) => warn!(myid = self.myid, sid, error = %e, "election connection broken; closing it"),
            Ok(()) => {}
        }
        self.finish(sid, id, &token);
    }
}

async fn write_frame(wr: &mut OwnedWriteHalf, msg: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(4 + msg.len());
    frame.extend_from_slice(&(msg.len() as i32).to_be_bytes());
    frame.extend_from_slice(msg);
    wr.write_all(&frame).await?;
    wr.flush().await
}

/// Reads an initial message (`handleConnection` + `InitialMessage.parse`): the sid and the
/// advertised election addresses (wildcards left out). The error says what was wrong.
async fn read_initial_message(s: &mut TcpStream) -> Result<(i64, Vec<(String, u16)>), String> {
    let io = |what: &str, e: io::Error| format!("reading the {what} of the initial message: {e}");
    let first = s.read_i64().await.map_err(|e| io("protocol version", e))?;
    if first >= 0 {
        return Ok((first, Vec::new()));
    }
    if first != INITIAL_MESSAGE_V1 && first != INITIAL_MESSAGE_V2 {
        return Err(format!("unrecognized protocol version {first}"));
    }
    let sid = s.read_i64().await.map_err(|e| io("sid", e))?;
    let len = s.read_i32().await.map_err(|e| io("address length", e))?;
    let Some(len) = usize::try_from(len).ok().filter(|l| (1..=MAX_INITIAL_ADDRESS).contains(l)) else {
        return Err(format!("unreasonable address length {len} from sid {sid} (1..={MAX_INITIAL_ADDRESS})"));
    };
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.map_err(|e| io("address", e))?;
    let text = String::from_utf8_lossy(&buf);
    let mut addrs = Vec::new();
    for addr in text.split('|') {
        let parts = host_and_port(addr).ok_or_else(|| format!("badly formed address {addr:?} from sid {sid}"))?;
        let [host, port] = parts.as_slice() else {
            return Err(format!("badly formed address {addr:?} from sid {sid}"));
        };
        let port: u16 = port.parse().map_err(|_| format!("bad port number {port:?} from sid {sid}"))?;
        if !host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
            addrs.push((host.clone(), port));
        }
    }
    Ok((sid, addrs))
}

/// `ConfigUtils.getHostAndPort`: `[v6]:port[:more]` or `host:port[:more]`, split on `:`
/// the way Java's `String.split` does (trailing empty parts dropped).
fn host_and_port(s: &str) -> Option<Vec<String>> {
    fn java_split(s: &str) -> Vec<String> {
        let mut v: Vec<String> = s.split(':').map(str::to_owned).collect();
        while v.len() > 1 && v.last().is_some_and(|p| p.is_empty()) {
            v.pop();
        }
        v
    }
    let Some(rest) = s.strip_prefix('[') else {
        return Some(java_split(s));
    };
    let close = rest.find(']')?;
    let host = rest.get(..close)?;
    // Java skips the character after ']' (the ':') without looking at it.
    let after = rest.get(close + 1..)?;
    let mut chars = after.chars();
    chars.next()?;
    let tail = chars.as_str();
    if tail.is_empty() {
        return None;
    }
    let mut v = vec![host.to_owned()];
    v.extend(java_split(tail));
    Some(v)
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

/// `NetUtils.formatInetAddr`: `ip:port`, or `[v6]:port` with Java's uncompressed IPv6 text.
fn format_inet_addr(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
        IpAddr::V6(ip) => {
            let segs: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("[{}]:{}", segs.join(":"), a.port())
        }
    }
}

/// Binds the election port with SO_REUSEADDR, `retries` attempts a second apart (0: forever),
/// as `ListenerHandler.acceptConnections` does.
async fn bind_with_retry(myid: u64, addr: SocketAddr, retries: u32) -> io::Result<TcpListener> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let bound = (|| {
            let socket = if addr.is_ipv6() { TcpSocket::new_v6()? } else { TcpSocket::new_v4()? };
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(1024)
        })();
        match bound {
            Ok(l) => return Ok(l),
            Err(e) => {
                error!(myid, %addr, attempt, error = %e, "cannot listen on the election address");
                if retries != 0 && attempt >= retries {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "cannot listen on election address {addr} after {attempt} attempts: {e}; stop whatever \
                             holds the port (another zab-node or ZooKeeper?), fix the election port of server.{myid}, \
                             or raise electionPortBindRetry (0 retries forever)"
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_follows_config_utils() {
        let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(host_and_port("10.0.0.1:3888"), s(&["10.0.0.1", "3888"]));
        assert_eq!(host_and_port("zk1:3888:"), s(&["zk1", "3888"]), "Java's split drops trailing empties");
        assert_eq!(host_and_port("[::1]:3888"), s(&["::1", "3888"]));
        assert_eq!(host_and_port("[::1]:"), None, "no port after the colon");
        assert_eq!(host_and_port("[::1"), None);
        assert_eq!(host_and_port("zk1"), s(&["zk1"]));
        assert_eq!(host_and_port("[é]é"), None, "no panic on multi-byte text");
    }

    #[test]
    fn addresses_are_formatted_as_java_does() {
        assert_eq!(format_inet_addr("127.0.0.1:3888".parse().unwrap()), "127.0.0.1:3888");
        assert_eq!(format_inet_addr("[::1]:3888".parse().unwrap()), "[0:0:0:0:0:0:0:1]:3888");
    }
}
