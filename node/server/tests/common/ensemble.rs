//! The in-process ensemble harness: members on loopback with the leader fixed (no election),
//! real quorum connections, polling with a deadline. Used by the ensemble and session tests;
//! it never sleeps to wait for a result, and a dropped member stops its epoch.

use super::free_port;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use zab_node::config::{ConfigBuilder, ServerConfig};
use zab_node::peer::{run_member, Decide, Decided, StopSignal};
use zab_node::{ServerSlot, ZooKeeperServer};
use zab_quorum::election::PeerState;
use zookeeper_client as zk;

/// Polls `f` until it gives a value, failing after `limit`.
pub async fn until<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every member follows `leader`; the leader leads.
pub struct Fixed {
    pub myid: u64,
    pub leader: u64,
    pub observer: bool,
}

impl Decide for Fixed {
    fn decide(&self, _: i64, _: i64) -> zab_node::peer::Decision<'_> {
        let state = match (self.myid == self.leader, self.observer) {
            (true, _) => PeerState::Leading,
            (false, true) => PeerState::Observing,
            (false, false) => PeerState::Following,
        };
        Box::pin(async move { Some(Decided::Role(state, self.leader)) })
    }
}

pub struct Ports {
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
    pub observer: bool,
    /// zab's crossEpochTruncDiff on this member.
    pub cross_epoch: bool,
    /// ZooKeeper's zookeeper.testingonly.initialZxid on this member.
    pub initial_zxid: Option<u32>,
    /// ZooKeeper's zookeeper.nio.sessionlessCnxnTimeout (ms) on this member.
    pub sessionless_ms: Option<u64>,
}

pub struct Member {
    pub id: u64,
    pub client: u16,
    pub slot: ServerSlot,
    pub stop: StopSignal,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Member {
    /// A failing test must not leave epochs running (the runtime would wait for them).
    fn drop(&mut self) {
        self.stop.stop();
    }
}

pub fn config(id: u64, dir: &std::path::Path, ports: &[Ports]) -> ServerConfig {
    std::fs::create_dir_all(dir).expect("data dir");
    std::fs::write(dir.join("myid"), format!("{id}\n")).expect("myid");
    let mut b = ConfigBuilder::default();
    let me = &ports[id as usize - 1];
    for (k, v) in [
        ("tickTime", "100".to_string()),
        ("initLimit", "50".into()),
        ("syncLimit", "50".into()),
        ("dataDir", dir.display().to_string()),
        ("clientPort", me.client.to_string()),
        ("clientPortAddress", "127.0.0.1".into()),
        ("4lw.commands.whitelist", "*".into()),
        ("admin.enableServer", "false".into()),
        ("preAllocSize", "1024".into()),
        ("crossEpochTruncDiff", me.cross_epoch.to_string()),
    ] {
        b.set(k, &v, "test");
    }
    if let Some(ms) = me.sessionless_ms {
        b.set("zookeeper.nio.sessionlessCnxnTimeout", &ms.to_string(), "test");
    }
    if let Some(z) = me.initial_zxid {
        b.set("zookeeper.testingonly.initialZxid", &z.to_string(), "test");
    }
    for (i, p) in ports.iter().enumerate() {
        let kind = if p.observer { ":observer" } else { "" };
        b.set(&format!("server.{}", i + 1), &format!("127.0.0.1:{}:{}{kind}", p.quorum, p.election), "test");
    }
    b.build(ServerConfig::default()).expect("ensemble config")
}

pub async fn start_member(id: u64, leader: u64, dir: &std::path::Path, ports: &[Ports]) -> Member {
    let cfg = config(id, dir, ports);
    let client = cfg.client_port;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", client)).await.expect("client port");
    let slot: ServerSlot = Default::default();
    let stop = StopSignal::new();
    let accept = {
        let (slot, cfg, stop) = (slot.clone(), cfg.clone(), stop.clone());
        tokio::spawn(
            async move { zab_node::accept_loop(listener, slot, cfg, async move { stop.stopped().await }).await },
        )
    };
    let observer = ports[id as usize - 1].observer;
    let info = Arc::new(zab_node::peer::PeerInfo::new(id, cfg.quorum.clone().expect("quorum settings").view));
    let peer =
        tokio::spawn(run_member(cfg, Arc::new(Fixed { myid: id, leader, observer }), slot.clone(), info, stop.clone()));
    Member { id, client, slot, stop, tasks: vec![accept, peer] }
}

/// Starts a member for every entry of `ports` (ids from 1, data in `root/m{id}`), all with
/// `leader` as their leader, and waits until each serves.
pub async fn start_serving(root: &std::path::Path, leader: u64, ports: &[Ports]) -> Vec<Member> {
    let mut members = Vec::new();
    for id in 1..=ports.len() as u64 {
        members.push(start_member(id, leader, &root.join(format!("m{id}")), ports).await);
    }
    for m in &members {
        until(Duration::from_secs(20), "member serving", || async { m.server().map(|_| ()) }).await;
    }
    members
}

impl Member {
    pub fn server(&self) -> Option<Arc<ZooKeeperServer>> {
        self.slot.read().clone().filter(|s| s.is_serving())
    }

    pub async fn stop(mut self) {
        self.stop.stop();
        for t in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }

    pub async fn client(&self) -> zk::Client {
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&format!("127.0.0.1:{}", self.client))
            .await
            .expect("connect to a member")
    }
}

/// (last applied zxid, tree digest) of a serving member.
pub fn state_of(m: &Member) -> Option<(i64, u64)> {
    m.server().map(|s| {
        let t = s.tree();
        (t.last_processed_zxid(), t.digest())
    })
}

pub async fn converged(members: &[&Member]) -> (i64, u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let states: Vec<Option<(i64, u64)>> = members.iter().map(|m| state_of(m)).collect();
        if let Some(Some(first)) = states.first() {
            if states.iter().all(|s| s.as_ref() == Some(first)) {
                return *first;
            }
        }
        let roles: Vec<Option<&'static str>> =
            members.iter().map(|m| m.slot.read().clone().map(|s| s.role().name())).collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for all members at the same zxid and digest: (zxid, digest) {:x?}, roles {roles:?}",
            states
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn ports(n: usize) -> Vec<Ports> {
    (0..n)
        .map(|_| Ports {
            client: free_port(),
            quorum: free_port(),
            election: free_port(),
            observer: false,
            cross_epoch: false,
            initial_zxid: None,
            sessionless_ms: None,
        })
        .collect()
}
