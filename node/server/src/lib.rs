//! zab-node: a ZooKeeper 3.8 compatible server.
//!
//! This crate is the only place with tokio, sockets, files and clocks; the protocol core
//! lives in `zab-jute` (records) and `zab-datatree` (the data model).
//!
//! # Layout
//! A client's write flows down this list and back: [`connection`] reads it,
//! [`zk_server`] runs it through its role's pipeline (standalone: prepares it; leader:
//! prepares it and proposes it through [`peer`]; learner: forwards it to the leader through
//! [`peer`]), [`log_thread`] makes it durable, [`zk_server`] applies it once committed and
//! hands the [`write_result`] back to the connection, which answers.
//!
//! - [`connection`]: one client connection (`NIOServerCnxn`): the socket task and the
//!   handshake; [`connection::ConnectionState`], what an established connection holds,
//!   with its request handling (request order, write replies, auth) and its reads
//!   (FinalRequestProcessor); the idle-connection sweep ([`connection::expiry`]).
//! - [`request`]: decoding request bodies; [`auth_info`]: a connection's ids.
//! - [`zk_server`]: [`ZooKeeperServer`], the state every connection shares, and one
//!   request pipeline per role (standalone, leader, learner), each reaching the peer
//!   runtime through its own trait ([`zk_server::Broadcast`], [`zk_server::LeaderLink`]);
//!   split by concern: the database, sessions, the write path (prep), commit and apply.
//! - [`write_result`]: what a client's write waits on ([`write_result::WriteOutcome`] or
//!   [`write_result::WriteError`]).
//! - [`log_thread`]: the transaction log's thread (SyncRequestProcessor: group commit,
//!   fsync, the snapshot schedule), over [`log_thread::LogTarget`].
//! - [`snapshot`]: fuzzy and whole snapshots of the tree, over [`snapshot::SnapshotSource`].
//! - `defer`: deferred sends and wake-ups for threads that handle bursts.
//! - [`peer_state`]: what a quorum member is and does, as the server and /status read it.
//! - [`peer`]: the quorum peer runtime: election, leader, learner.
//! - [`config`]: zoo.cfg and the system-property settings; [`config::dynamic`], the
//!   dynamic configuration files (`dynamicConfigFile`, `zoo.cfg.dynamic.<version>`).
//! - [`stats`]: counters for srvr/stat/mntr/cons.
//! - [`metrics`]: ZooKeeper's ServerMetrics, for mntr, /commands/monitor and /metrics.
//! - [`monitor`]: what mntr and /commands/monitor print (reads the server).
//! - [`four_letter`]: four-letter words; [`admin`]: the HTTP admin and status server.
//! - [`clock`]: wall-clock milliseconds.
//! - [`environment`]: the version zab reports and `Environment.list()`.
//! - [`startup`], [`healthcheck`], [`tools`], [`client`]: what the `zab-node` binary does
//!   besides serving (member id from the hostname, the image's health check, logdump/
//!   snapdump/verify/purge, and `reconfig` over a minimal client).
//! - [`run`], [`accept_loop`]: the accept loop and the background tasks (session expiry,
//!   containers, autopurge).
//!
//! # Layers
//! No two modules import each other, directly or in a loop (`tests/module_layers.rs` checks
//! it from the sources). From the bottom: the leaves [`clock`], [`environment`], [`metrics`]
//! (imports only `clock`) and [`config`] (only `metrics`); the write path's types
//! ([`write_result`]) and the disk ([`snapshot`], then [`log_thread`]), which see the
//! server only through their traits; the server state ([`stats`], [`peer_state`],
//! [`zk_server`]) and the request path ([`connection`]), which see the peer runtime only
//! through [`peer_state`] and the `Broadcast` and `LeaderLink` traits; the peer runtime
//! ([`peer`]); and the views that read the server ([`monitor`], [`four_letter`],
//! [`admin`]).

pub mod admin;
pub mod auth_info;
pub mod client;
pub mod clock;
pub mod config;
pub mod connection;
pub(crate) mod defer;
pub mod environment;
pub mod four_letter;
pub mod healthcheck;
pub mod log_thread;
pub mod metrics;
pub mod monitor;
pub mod peer;
pub mod peer_state;
pub mod request;
pub mod snapshot;
pub mod startup;
pub mod stats;
pub mod tools;
pub mod write_result;
pub mod zk_server;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tracing::{info, warn};
use zab_datatree::prep::WriteRequest;

pub use config::ServerConfig;
pub use zk_server::ZooKeeperServer;

/// The server clients are handed to: standalone, always the same; in an ensemble, the
/// member's server of the current epoch, or none while it is electing or synchronising.
pub type ServerSlot = Arc<parking_lot::RwLock<Option<Arc<ZooKeeperServer>>>>;

/// Serves clients on `listener` until `shutdown` resolves (standalone).
pub async fn run(listener: TcpListener, server: Arc<ZooKeeperServer>, shutdown: impl std::future::Future<Output = ()>) {
    let tasks = spawn_background(&server);
    let slot: ServerSlot = Arc::new(parking_lot::RwLock::new(Some(server.clone())));
    accept_loop(listener, slot, server.config.clone(), shutdown).await;
    for t in tasks {
        t.abort();
    }
    for c in server.cnxns() {
        let _ = c.tx.send(zk_server::CnxnMsg::Close("server shutting down"));
    }
    let s = server.clone();
    let _ = tokio::task::spawn_blocking(move || s.shutdown()).await;
    info!("stopped serving clients");
}

/// The background work of a server that owns the sessions (standalone or leader): session
/// expiry, the ContainerManager, autopurge.
pub fn spawn_background(server: &Arc<ZooKeeperServer>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(expire_sessions(server.clone())),
        tokio::spawn(container_manager(server.clone())),
        tokio::spawn(autopurge(server.clone())),
    ]
}

/// Accepts clients until `shutdown`: each goes to the serving server in `slot`; while
/// there is none, four-letter words get ZooKeeper's "not currently serving" answer and
/// everything else is closed.
pub async fn accept_loop(
    listener: TcpListener,
    slot: ServerSlot,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    // NIOServerCnxnFactory's ConnectionExpirerThread: idle connections are swept at the
    // sessionlessCnxnTimeout interval (see connection::expiry).
    let mut sweeps = connection::expiry::Sweeps::default();
    let mut sweep = tokio::time::interval(Duration::from_millis(config.sessionless_cnxn_timeout.max(1)));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving clients");
    }
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = sweep.tick() => {
                let server = slot.read().clone();
                if let Some(server) = server {
                    sweeps.sweep(&server, server.now_ms());
                }
            }
            r = listener.accept() => {
                let (stream, remote) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let server = slot.read().clone().filter(|s| s.is_serving());
                let Some(server) = server else {
                    config.metrics.cnxn_closed_without_zk_server_running.inc();
                    tokio::spawn(answer_not_serving(stream, config.four_letter_whitelist.clone(), false));
                    continue;
                };
                let max = config.max_client_cnxns;
                {
                    let mut m = per_ip.lock();
                    let n = m.entry(remote.ip()).or_insert(0);
                    if max > 0 && *n >= max {
                        warn!(%remote, max, "too many connections from this address; closing the new one");
                        config.metrics.connection_rejected.inc();
                        continue;
                    }
                    *n += 1;
                }
                let per_ip = per_ip.clone();
                tokio::spawn(async move {
                    connection::serve(server, stream, remote).await;
                    let mut m = per_ip.lock();
                    if let Some(n) = m.get_mut(&remote.ip()) {
                        *n -= 1;
                        if *n == 0 {
                            m.remove(&remote.ip());
                        }
                    }
                });
            }
        }
    }
}

/// The SessionTracker's thread: expires sessions bucket by bucket.
async fn expire_sessions(server: Arc<ZooKeeperServer>) {
    let tick = server.config.tick_time as i64;
    loop {
        let next = server.expire_sessions().await;
        let now = server.now_ms();
        let wait = next.map(|n| (n - now).clamp(1, tick)).unwrap_or(tick);
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

/// The ContainerManager: deletes empty containers and expired TTL nodes through the
/// normal write path, at most `znode.container.maxPerMinute` a minute.
async fn container_manager(server: Arc<ZooKeeperServer>) {
    let interval = Duration::from_millis(server.config.container_check_interval_ms.max(1));
    let per_minute = server.config.container_max_per_minute.max(1) as u64;
    let min_gap = Duration::from_millis(60_000 / per_minute);
    loop {
        tokio::time::sleep(interval).await;
        for path in server.container_candidates() {
            let started = tokio::time::Instant::now();
            let _ = server.submit_write(0, 0, &[], &WriteRequest::DeleteContainer(path), &[]).await;
            let spent = started.elapsed();
            if spent < min_gap {
                tokio::time::sleep(min_gap - spent).await;
            }
        }
    }
}

/// DatadirCleanupManager: every `autopurge.purgeInterval` hours, keeps the
/// `autopurge.snapRetainCount` newest snapshots and the logs they need.
async fn autopurge(server: Arc<ZooKeeperServer>) {
    let hours = server.config.autopurge_interval_h;
    if hours == 0 {
        return;
    }
    let every = Duration::from_secs(hours * 3600);
    loop {
        tokio::time::sleep(every).await;
        let snap_log = server.snap_log.clone();
        let retain = server.config.autopurge_retain;
        match tokio::task::spawn_blocking(move || snap_log.purge(retain)).await {
            Ok(Ok(removed)) => info!(files = removed.len(), "autopurge done"),
            Ok(Err(e)) => warn!(error = %e, "autopurge failed"),
            Err(e) => warn!(error = %e, "autopurge task failed"),
        }
    }
}

/// Accepts connections while the database is still loading: four-letter words get an answer
/// (`ruok` → `imok`, others ZooKeeper's "not currently serving"), everything else is closed.
/// Returns the listener once `loaded` fires.
pub async fn serve_while_loading(
    listener: TcpListener,
    whitelist: Option<std::collections::HashSet<String>>,
    loaded: tokio::sync::oneshot::Receiver<()>,
) -> TcpListener {
    tokio::pin!(loaded);
    loop {
        tokio::select! {
            _ = &mut loaded => return listener,
            r = listener.accept() => {
                let Ok((stream, _)) = r else { continue };
                tokio::spawn(answer_not_serving(stream, whitelist.clone(), true));
            }
        }
    }
}

/// A connection that arrived while no database is being served: a four-letter word gets
/// ZooKeeper's answer (`ruok` is `imok` while loading, as the JVM is up), anything else
/// is closed.
async fn answer_not_serving(
    mut stream: tokio::net::TcpStream,
    whitelist: Option<std::collections::HashSet<String>>,
    loading: bool,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head)).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    if let Some(cmd) = four_letter::command_of(head) {
        let allowed = whitelist.as_ref().is_none_or(|w| w.contains(cmd));
        let text = if !allowed {
            format!("{cmd} is not executed because it is not in the whitelist.\n")
        } else if cmd == "ruok" && loading {
            "imok".to_string()
        } else {
            "This ZooKeeper instance is not currently serving requests\n".to_string()
        };
        let _ = stream.write_all(text.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}
