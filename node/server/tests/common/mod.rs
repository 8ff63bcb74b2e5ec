//! Test harness: a zab-node served in-process on 127.0.0.1:0, a raw-protocol client for
//! byte-level tests, and polling with a deadline (tests never sleep to wait).

#![allow(dead_code)]

pub mod ensemble;
pub mod member;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use zab_jute::proto::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader};
use zab_jute::record::Record;
use zab_node::config::ServerConfig;
use zab_node::ZooKeeperServer;

pub struct TestServer {
    pub addr: SocketAddr,
    pub data: Option<tempfile::TempDir>,
    pub server: std::sync::Arc<ZooKeeperServer>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The configuration tests start from: short ticks so that expiry tests are quick.
pub fn test_config() -> ServerConfig {
    ServerConfig {
        tick_time: 100,
        min_session_timeout: 200,
        max_session_timeout: 20_000,
        four_letter_whitelist: None,
        extended_types: true,
        container_check_interval_ms: 50,
        super_digest: Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=".into()),
        ..ServerConfig::default()
    }
}

/// Starts a server on a fresh temporary data directory.
pub async fn start(mut config: ServerConfig) -> TestServer {
    let data = tempfile::tempdir().expect("temp dir");
    config.data_dir = data.path().to_owned();
    config.data_log_dir = data.path().to_owned();
    let mut s = start_in(config).await;
    s.data = Some(data);
    s
}

/// Starts a server on the data directory named in `config`.
pub async fn start_in(config: ServerConfig) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let server = ZooKeeperServer::start(config).expect("start zab-node");
    let (stop, stopped) = oneshot::channel::<()>();
    let s = server.clone();
    let task = tokio::spawn(async move {
        zab_node::run(listener, s, async {
            let _ = stopped.await;
        })
        .await
    });
    TestServer { addr, data: None, server, stop: Some(stop), task: Some(task) }
}

impl TestServer {
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    pub async fn client(&self) -> zookeeper_client::Client {
        zookeeper_client::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&self.connect_string())
            .await
            .expect("connect to zab-node")
    }

    /// Stops serving and returns the data directory (if the harness made it).
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        // Every txn logged carried the digest precomputed at prep; applying it must agree.
        let mismatches = self.server.metrics.digest_mismatches_count.get();
        assert_eq!(mismatches, 0, "applied tree digests differed from the precomputed ones");
        self.data.take()
    }
}

/// Polls `f` until it returns true, failing after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if f().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A client speaking raw frames.
pub struct Raw {
    pub stream: TcpStream,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout: i32,
}

pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

impl Raw {
    /// Connects and completes the handshake (current 45-byte form).
    pub async fn connect(addr: SocketAddr) -> Raw {
        Self::connect_with(
            addr,
            ConnectRequest { time_out: 10_000, passwd: vec![0; 16], read_only: Some(false), ..Default::default() },
        )
        .await
        .expect("handshake")
    }

    pub async fn connect_with(addr: SocketAddr, req: ConnectRequest) -> Option<Raw> {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(&frame(&req.to_bytes())).await.ok()?;
        let payload = read_frame(&mut stream).await?;
        let rsp = ConnectResponse::from_bytes(&payload, 1 << 20).ok()?;
        Some(Raw { stream, session_id: rsp.session_id, passwd: rsp.passwd, timeout: rsp.time_out })
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Sends a request and returns the next reply that is not a notification.
    pub async fn call(&mut self, xid: i32, op: i32, body: &[u8]) -> Option<(ReplyHeader, Vec<u8>)> {
        let mut p = RequestHeader { xid, op_type: op }.to_bytes();
        p.extend_from_slice(body);
        self.stream.write_all(&frame(&p)).await.ok()?;
        loop {
            let (h, b) = self.read_reply().await?;
            if h.xid != -1 {
                return Some((h, b));
            }
        }
    }

    pub async fn read_reply(&mut self) -> Option<(ReplyHeader, Vec<u8>)> {
        let payload = read_frame(&mut self.stream).await?;
        let mut inp = zab_jute::InputArchive::new(&payload, 1 << 20);
        let h = ReplyHeader::read(&mut inp).ok()?;
        Some((h, inp.rest().to_vec()))
    }

    /// True when the server has closed the connection (reads EOF within 5 s).
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

pub async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut len)).await.ok()?.ok()?;
    let n = i32::from_be_bytes(len);
    if !(0..=1 << 24).contains(&n) {
        return None;
    }
    let mut buf = vec![0u8; n as usize];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut buf)).await.ok()?.ok()?;
    Some(buf)
}

/// A port free now, below the kernel's ephemeral range (32768 and up), so no outgoing
/// connection of a test running alongside (a client, a member dialling a peer) can take it
/// before the server binds it, and never handed out twice by this process.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let offset = (std::process::id() % 64) * 150;
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (20_000 + (offset + n) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000")
}

/// Starts the zab-node binary on `dir/zoo.cfg`, its log in `dir/zab.log` (the process
/// tests stop it by its pid).
pub fn spawn_zab_node(dir: &std::path::Path) -> std::process::Child {
    let log = std::fs::File::create(dir.join("zab.log")).expect("log file");
    std::process::Command::new(env!("CARGO_BIN_EXE_zab-node"))
        .arg(dir.join("zoo.cfg"))
        .env("ZAB_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start zab-node")
}

/// A four-letter word to a process on `127.0.0.1:port`: its whole answer, or None when it
/// does not answer within 2 s.
pub fn four_letter(port: u16, cmd: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Polls `f` until it gives a value, failing after `limit` (for blocking tests).
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
