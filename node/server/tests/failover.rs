//! Real zab-node processes on loopback: a 3-member (and a 5-member) ensemble elects a leader, serves a
//! pipelined write load through every member, survives `kill -9` of its leader again and
//! again (a new leader is elected and serving, the killed member restarts and catches up),
//! loses no acknowledged write, and ends with equal digests on every member. The same under
//! a graceful stop (SIGTERM) of the leader, and under hand-overs of the leadership
//! (`POST /commands/handover`), each printing how long writes paused.
//!
//! `ZAB_FAILOVER_ROUNDS` sets the number of kills (default 3), `ZAB_HANDOVER_ROUNDS` the
//! hand-overs and graceful stops (default 3 and 2).

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{free_port, spawn_zab_node, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use zookeeper_client as zk;

/// The tests here start several processes each: one at a time, so that on a small machine
/// one test's load does not stretch another's timings.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Node {
    id: u64,
    dir: PathBuf,
    client: u16,
    admin: u16,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
        self.child = Some(spawn_zab_node(&self.dir));
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn four(&self, cmd: &str) -> Option<String> {
        common::four_letter(self.client, cmd)
    }

    /// `GET /status` of the admin endpoint.
    fn status(&self) -> Option<serde_json::Value> {
        self.http("GET", "/status", Duration::from_secs(2)).map(|(_, body)| body)
    }

    /// One request to the admin endpoint: the status code and the JSON body.
    fn http(&self, method: &str, path: &str, timeout: Duration) -> Option<(u16, serde_json::Value)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.admin)).ok()?;
        s.set_read_timeout(Some(timeout)).ok()?;
        s.write_all(format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, serde_json::from_str(body).ok()?))
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn mode(&self) -> Option<String> {
        let srvr = self.four("srvr")?;
        srvr.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_owned)
    }

    /// (zxid, digest) from the `hash` four-letter word.
    fn digest(&self) -> Option<String> {
        self.four("hash")?.lines().last().map(str::to_owned)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn ensemble(root: &Path, n: u64) -> Vec<Node> {
    ensemble_with(root, n, "tickTime=200\ninitLimit=20\nsyncLimit=5")
}

fn ensemble_with(root: &Path, n: u64, timing: &str) -> Vec<Node> {
    let ports: Vec<(u16, u16, u16)> = (0..n).map(|_| (free_port(), free_port(), free_port())).collect();
    let servers: String =
        ports.iter().enumerate().map(|(i, (_, q, e))| format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1)).collect();
    let per_member = vec![servers; n as usize];
    ensemble_from(root, n, timing, &ports, &per_member)
}

/// Members whose server.N lines may differ per member (`servers[id - 1]`): a member's own
/// line holds its real ports, the others' may point at a proxy.
fn ensemble_from(root: &Path, n: u64, timing: &str, ports: &[(u16, u16, u16)], servers: &[String]) -> Vec<Node> {
    (1..=n)
        .map(|id| {
            let servers = &servers[id as usize - 1];
            let dir = root.join(format!("m{id}"));
            std::fs::create_dir_all(&dir).expect("data dir");
            std::fs::write(dir.join("myid"), format!("{id}\n")).expect("myid");
            let client = ports[id as usize - 1].0;
            let admin = free_port();
            std::fs::write(
                dir.join("zoo.cfg"),
                format!(
                    "{timing}\ndataDir={}\nclientPort={client}\n\
                     clientPortAddress=127.0.0.1\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n\
                     4lw.commands.whitelist=*\npreAllocSize=4096\n{servers}",
                    dir.display()
                ),
            )
            .expect("zoo.cfg");
            Node { id, dir, client, admin, child: None }
        })
        .collect()
}

fn leader_of(nodes: &[Node]) -> Option<usize> {
    let leaders: Vec<usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.child.is_some() && n.mode().as_deref() == Some("leader"))
        .map(|(i, _)| i)
        .collect();
    let serving = nodes.iter().filter(|n| n.child.is_some() && n.mode().is_some()).count();
    (leaders.len() == 1 && serving * 2 > nodes.len()).then(|| leaders[0])
}

/// How the leader goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaderChange {
    /// `kill -9`, then a restart.
    Kill,
    /// SIGTERM (a graceful stop), then a restart.
    Stop,
    /// `POST /commands/handover`: the process keeps running, as a follower.
    HandOver,
}

fn rounds_from(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn kill_the_leader_under_load_and_lose_nothing() {
    change_leaders(3, rounds_from("ZAB_FAILOVER_ROUNDS", 3), LeaderChange::Kill);
}

/// The same with five members (a quorum of three): `ZAB_FAILOVER_ROUNDS_5` kills (default 2).
#[test]
fn five_members_kill_the_leader_under_load_and_lose_nothing() {
    change_leaders(5, rounds_from("ZAB_FAILOVER_ROUNDS_5", 2), LeaderChange::Kill);
}

/// Hand-overs of the leadership: the follower the leader names leads next, nothing is lost.
#[test]
fn hand_the_leadership_over_under_load_and_lose_nothing() {
    change_leaders(3, rounds_from("ZAB_HANDOVER_ROUNDS", 3), LeaderChange::HandOver);
}

/// The leader stopped gracefully (SIGTERM): it hands its role over before it exits.
#[test]
fn stop_the_leader_under_load_and_lose_nothing() {
    change_leaders(3, rounds_from("ZAB_HANDOVER_ROUNDS", 2).min(2), LeaderChange::Stop);
}

/// A hand-over is refused by name where it cannot be done: on a follower, to itself, to
/// a member that is not there, with a bad `to`, and by GET.
#[test]
fn a_hand_over_is_refused_where_it_cannot_be_done() {
    let _one = one_at_a_time();
    let root = tempfile::tempdir().expect("temp dir");
    let mut nodes = ensemble(root.path(), 3);
    for n in nodes.iter_mut() {
        n.start();
    }
    let leader = wait_for(Duration::from_secs(30), "a leader and a serving quorum", || leader_of(&nodes));
    let follower = (leader + 1) % 3;
    wait_for(Duration::from_secs(30), "the follower serving", || nodes[follower].mode());
    let t = Duration::from_secs(10);
    let refusal = |node: usize, method: &str, path: &str| {
        let (code, body) = nodes[node].http(method, path, t).expect("an answer");
        (code, body["error"].as_str().unwrap_or("").to_owned())
    };
    let (code, why) = refusal(follower, "POST", "/commands/handover");
    assert_eq!(code, 409);
    assert!(why.contains("not the leader"), "{why}");
    let (code, why) = refusal(leader, "POST", &format!("/commands/handover?to={}", leader + 1));
    assert!(code == 409 && why.contains("it is this leader"), "{code} {why}");
    let (code, why) = refusal(leader, "POST", "/commands/handover?to=9");
    assert!(code == 409 && why.contains("not a voting participant"), "{code} {why}");
    let (code, why) = refusal(leader, "POST", "/commands/handover?to=one");
    assert!(code == 400 && why.contains("not a server id"), "{code} {why}");
    let (code, _) = refusal(leader, "GET", "/commands/handover");
    assert_eq!(code, 405);
    assert_eq!(leader_of(&nodes), Some(leader), "still the leader");
}

/// `rounds` times: the leader of `members` processes goes (`how`) under 8 writers; wait for
/// a new leader and a write issued after it went to be acknowledged, restart it if it
/// stopped. Then every member has every acknowledged write, and all digests are equal.
fn change_leaders(members: u64, rounds: usize, how: LeaderChange) {
    let _one = one_at_a_time();
    let root = tempfile::tempdir().expect("temp dir");
    // ZAB_KEEP_DIR=1 keeps the members' data and logs for a look after a failure.
    let root_path = if std::env::var_os("ZAB_KEEP_DIR").is_some() { root.keep() } else { root.path().to_owned() };
    eprintln!("members' data and logs under {}", root_path.display());
    let mut nodes = ensemble(&root_path, members);
    for n in nodes.iter_mut() {
        n.start();
    }
    wait_for(Duration::from_secs(30), "a leader and a serving quorum", || leader_of(&nodes));
    let connect: String = nodes.iter().map(|n| format!("127.0.0.1:{}", n.client)).collect::<Vec<_>>().join(",");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    // The issue time of the newest-issued write acknowledged so far, and when it was.
    let last_ack: Arc<Mutex<(u64, u64)>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let load = {
        let (acked, stop, last_ack, connect) = (acked.clone(), stop.clone(), last_ack.clone(), connect.clone());
        rt.spawn(async move {
            let client = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(20))
                .connect(&connect)
                .await
                .expect("connect to the ensemble");
            let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            let _ = client.create("/k", b"", &acl).await;
            // 8 writers, each with one request in flight, every write a new znode.
            let mut writers = Vec::new();
            for w in 0..8 {
                let (client, acked, stop, last_ack) = (client.clone(), acked.clone(), stop.clone(), last_ack.clone());
                writers.push(tokio::spawn(async move {
                    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                    let mut i = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        let path = format!("/k/w{w}-{i}");
                        i += 1;
                        let issued = started.elapsed().as_millis() as u64;
                        match tokio::time::timeout(Duration::from_secs(5), client.create(&path, b"v", &acl)).await {
                            Ok(Ok(_)) => {
                                acked.lock().push(path);
                                let now = started.elapsed().as_millis() as u64;
                                let mut l = last_ack.lock();
                                if issued > l.0 {
                                    *l = (issued, now);
                                }
                            }
                            _ => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                }));
            }
            for w in writers {
                let _ = w.await;
            }
        })
    };

    let mut failovers = Vec::new();
    for round in 0..rounds {
        wait_for(Duration::from_secs(30), "writes acknowledged", || {
            (acked.lock().len() > (round + 1) * 200).then_some(())
        });
        let leader = wait_for(Duration::from_secs(30), "one leader", || leader_of(&nodes));
        // Every member synced with it, so a hand-over has a follower to go to.
        wait_for(Duration::from_secs(30), "every member synced", || {
            nodes.iter().all(|n| n.status().is_some_and(|s| s["synced"] == true)).then_some(())
        });
        let killed_at = started.elapsed().as_millis() as u64;
        let mut named = None;
        match how {
            LeaderChange::Kill => nodes[leader].kill9(),
            LeaderChange::Stop => {
                let pid = nodes[leader].pid().expect("the leader runs");
                signal(pid, "TERM");
                if let Some(mut c) = nodes[leader].child.take() {
                    let _ = c.wait();
                }
                // A stopping leader hands its role over first (each start begins a new log).
                let log = std::fs::read_to_string(nodes[leader].dir.join("zab.log")).unwrap_or_default();
                assert!(
                    log.contains("handed the leadership over; stopping"),
                    "member {} stopped without handing its role over",
                    nodes[leader].id
                );
            }
            LeaderChange::HandOver => {
                let (code, body) = nodes[leader]
                    .http("POST", "/commands/handover", Duration::from_secs(30))
                    .expect("an answer to the hand-over");
                assert_eq!(code, 200, "hand-over refused: {body}");
                assert_eq!(body["from"].as_u64(), Some(nodes[leader].id));
                named = body["to"].as_u64();
            }
        }
        let new_leader = wait_for(Duration::from_secs(30), "a new leader", || leader_of(&nodes));
        assert_ne!(new_leader, leader);
        if let Some(to) = named {
            assert_eq!(nodes[new_leader].id, to, "the member the hand-over named leads");
        }
        // The first write issued after the kill and acknowledged: the new leader serves.
        let first_ack = wait_for(Duration::from_secs(30), "a write issued after the kill acknowledged", || {
            let (issued, acked) = *last_ack.lock();
            (issued > killed_at).then_some(acked)
        });
        failovers.push(first_ack - killed_at);
        if how != LeaderChange::HandOver {
            nodes[leader].start();
        }
        wait_for(Duration::from_secs(30), "the old leader serving again", || nodes[leader].mode());
    }
    stop.store(true, Ordering::Release);
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), load).await }).ok();

    // Every member converges on one state, and every acknowledged write is in it.
    let digest = wait_for(Duration::from_secs(30), "equal digests on every member", || {
        let ds: Vec<Option<String>> = nodes.iter().map(|n| n.digest()).collect();
        let first = ds.first().cloned().flatten()?;
        ds.iter().all(|d| d.as_ref() == Some(&first)).then_some(first)
    });
    let acked = acked.lock().clone();
    for n in &nodes {
        let children = rt.block_on(async {
            let c = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&format!("127.0.0.1:{}", n.client))
                .await
                .expect("connect to one member");
            c.list_children("/k").await.expect("list /k")
        });
        let present: std::collections::HashSet<String> = children.into_iter().map(|c| format!("/k/{c}")).collect();
        let missing: Vec<&String> = acked.iter().filter(|p| !present.contains(*p)).collect();
        assert!(
            missing.is_empty(),
            "member {} lost acknowledged writes: {:?}",
            n.id,
            &missing[..missing.len().min(10)]
        );
    }
    for n in &nodes {
        let log = std::fs::read_to_string(n.dir.join("zab.log")).unwrap_or_default();
        assert!(
            !log.contains("differs from the one precomputed"),
            "member {} applied a txn onto a different tree than its leader prepared it on",
            n.id
        );
    }
    let mut sorted = failovers.clone();
    sorted.sort_unstable();
    let what = match how {
        LeaderChange::Kill => "leader kills",
        LeaderChange::Stop => "graceful leader stops",
        LeaderChange::HandOver => "leader hand-overs",
    };
    println!(
        "failover: {members} members, {rounds} {what}, {} acknowledged writes, none lost; digest {digest}; \
         leader gone to first acknowledged write (ms): {failovers:?}, median {}, longest {}",
        acked.len(),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

fn field<'a>(st: &'a serde_json::Value, key: &str) -> &'a str {
    st.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// `/status` in an ensemble (issue #5): roles and phases, the leader's view of each learner
/// (sync mode, lag growing while a follower is stopped and shrinking after it resumes),
/// `synced` false during a forced SNAP sync and true after, and a survivor's report moving
/// through the phases after the leader is killed.
#[test]
fn status_follows_roles_phases_lag_and_sync() {
    let _one = one_at_a_time();
    let root = tempfile::tempdir().expect("temp dir");
    let root_path = if std::env::var_os("ZAB_KEEP_DIR").is_some() { root.keep() } else { root.path().to_owned() };
    eprintln!("members' data and logs under {}", root_path.display());
    let mut nodes = ensemble_with(&root_path, 3, "tickTime=250\ninitLimit=40\nsyncLimit=8");
    for n in nodes.iter_mut() {
        n.start();
    }
    let leader = wait_for(Duration::from_secs(30), "a leader and a serving quorum", || leader_of(&nodes));
    let statuses = wait_for(Duration::from_secs(30), "every member in broadcast", || {
        let all: Vec<serde_json::Value> = nodes.iter().filter_map(|n| n.status()).collect();
        (all.len() == 3 && all.iter().all(|s| field(s, "phase") == "broadcast" && s["synced"] == true)).then_some(all)
    });
    assert_eq!(field(&statuses[leader], "role"), "leading");
    let mntr = nodes[leader].four("mntr").unwrap_or_default();
    for line in ["zk_server_state\tleader", "zk_learners\t2", "zk_synced_followers\t2", "zk_pending_syncs\t0"] {
        assert!(mntr.contains(line), "the leader's mntr lacks {line:?}:\n{mntr}");
    }
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(s["leader_sid"], nodes[leader].id, "member {i} names the leader");
        assert_eq!(s["quorum"]["members"].as_array().map(Vec::len), Some(3));
        if i != leader {
            assert_eq!(field(s, "role"), "following");
        }
    }
    let follower = (leader + 1) % 3;
    let fsid = nodes[follower].id;
    let learner = |st: &serde_json::Value| -> Option<serde_json::Value> {
        st["learners"].as_array()?.iter().find(|l| l["sid"] == fsid).cloned()
    };

    // Load: a writer through the other follower, bounded by `stop`.
    let other = 3 - leader - follower;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let connect = format!("127.0.0.1:{}", nodes[other].client);
    let load = {
        let stop = stop.clone();
        rt.spawn(async move {
            let c = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(30))
                .connect(&connect)
                .await
                .expect("connect");
            let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            let _ = c.create("/load", b"", &acl).await;
            let payload = vec![7u8; 1024];
            while !stop.load(Ordering::Acquire) {
                // setData: the log grows, the tree does not, so a learner away for long is
                // cheaper to send a snapshot than the log (a forced SNAP).
                let _ = c.set_data("/load", &payload, None).await;
            }
        })
    };
    // Lag grows while the follower is stopped (within syncLimit), and shrinks after.
    let pid = nodes[follower].pid().expect("follower pid");
    signal(pid, "STOP");
    let lag_at = |n: &Node| n.status().and_then(|s| learner(&s)).and_then(|l| l["lag"].as_i64());
    let first = wait_for(Duration::from_secs(5), "a lag while stopped", || lag_at(&nodes[leader]).filter(|l| *l > 0));
    let grown =
        wait_for(Duration::from_secs(5), "the lag growing", || lag_at(&nodes[leader]).filter(|l| *l > first + 20));
    signal(pid, "CONT");
    let shrunk = wait_for(Duration::from_secs(10), "the lag shrinking after SIGCONT", || {
        lag_at(&nodes[leader]).filter(|l| *l < grown / 2 + 5)
    });
    println!("lag of follower {fsid}: {first} -> {grown} while stopped, {shrunk} after SIGCONT");

    // Stopped past syncLimit (2 s) while more than the committed window (500 txns) is
    // written: the leader drops it, and on return it is synchronised by SNAP.
    signal(pid, "STOP");
    let dropped_at = wait_for(Duration::from_secs(30), "the leader dropping the stopped follower", || {
        let st = nodes[leader].status()?;
        learner(&st).is_none().then(|| st["last_processed_zxid"]["value"].as_i64().unwrap_or(0))
    });
    wait_for(Duration::from_secs(30), "600 more txns", || {
        let z = nodes[leader].status()?["last_processed_zxid"]["value"].as_i64()?;
        (z > dropped_at + 600).then_some(())
    });
    signal(pid, "CONT");
    let mut seen = Vec::new();
    let synced = wait_for(Duration::from_secs(60), "the follower back in broadcast", || {
        let st = nodes[follower].status()?;
        let key = (field(&st, "role").to_owned(), field(&st, "phase").to_owned(), st["synced"] == true);
        if seen.last() != Some(&key) {
            seen.push(key.clone());
        }
        (key.1 == "broadcast" && key.2 && seen.len() > 1).then_some(st)
    });
    assert!(
        seen.iter().all(|(_, phase, synced)| phase == "broadcast" || !synced),
        "synced only in broadcast: {seen:?}"
    );
    let mode = wait_for(Duration::from_secs(10), "the leader's record of the sync", || {
        let st = nodes[leader].status()?;
        learner(&st).and_then(|l| l["sync_mode"].as_str().map(str::to_owned))
    });
    assert_eq!(mode, "SNAP", "{seen:?} leader: {:?}", nodes[leader].status());
    println!("returning follower's /status: {seen:?}; synced {}", synced["synced"]);
    stop.store(true, Ordering::Release);
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), load).await }).ok();

    // Kill the leader: a survivor goes looking (election), then through discovery and
    // synchronisation to broadcast.
    let survivor = follower;
    nodes[leader].kill9();
    let mut phases: Vec<String> = Vec::new();
    wait_for(Duration::from_secs(30), "the survivor in broadcast again", || {
        let st = nodes[survivor].status()?;
        let p = format!("{}/{}", field(&st, "role"), field(&st, "phase"));
        if phases.last() != Some(&p) {
            phases.push(p.clone());
        }
        (phases.len() > 1 && p.ends_with("/broadcast") && st["synced"] == true).then_some(())
    });
    assert!(phases.iter().any(|p| p == "looking/election"), "{phases:?}");
    let order = ["election", "discovery", "synchronization", "broadcast"];
    let idx: Vec<usize> =
        phases.iter().filter_map(|p| order.iter().position(|o| p.ends_with(&format!("/{o}")))).collect();
    assert!(idx.windows(2).all(|w| w[0] <= w[1] || w[1] == 0), "phases out of order: {phases:?}");
    println!("survivor's /status after the leader's kill: {phases:?}");
}

/// Three voters and an observer, as processes: the observer follows, serves reads, forwards
/// its clients' writes, and follows the next leader after a kill -9 of the first; in the end
/// its digest equals the voters'.
#[test]
fn an_observer_process_follows_forwards_and_survives_a_failover() {
    let _one = one_at_a_time();
    let root = tempfile::tempdir().expect("temp dir");
    let ports: Vec<(u16, u16, u16)> = (0..4).map(|_| (free_port(), free_port(), free_port())).collect();
    let servers: String = ports
        .iter()
        .enumerate()
        .map(|(i, (_, q, e))| {
            let kind = if i == 3 { ":observer" } else { "" };
            format!("server.{}=127.0.0.1:{q}:{e}{kind}\n", i + 1)
        })
        .collect();
    let mut nodes = ensemble_from(root.path(), 4, "tickTime=200\ninitLimit=20\nsyncLimit=5", &ports, &vec![servers; 4]);
    let cfg = nodes[3].dir.join("zoo.cfg");
    let text = std::fs::read_to_string(&cfg).expect("zoo.cfg");
    std::fs::write(&cfg, format!("{text}peerType=observer\n")).expect("zoo.cfg");
    for n in nodes.iter_mut() {
        n.start();
    }
    let leader = wait_for(Duration::from_secs(30), "a leader and a serving quorum", || leader_of(&nodes));
    wait_for(Duration::from_secs(30), "the observer observing", || {
        (nodes[3].mode().as_deref() == Some("observer")).then_some(())
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let connect = |n: &Node| {
        let addr = format!("127.0.0.1:{}", n.client);
        rt.block_on(async move {
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&addr)
                .await
                .expect("a session")
        })
    };
    let on_observer = connect(&nodes[3]);
    let voter = (leader + 1) % 3;
    let on_voter = connect(&nodes[voter]);
    rt.block_on(async {
        // a write through the observer is forwarded, committed by the voters, seen everywhere
        on_observer.create("/from-observer", b"o", &acl).await.expect("a write through the observer");
        on_voter.sync("/").await.expect("sync");
        assert!(on_voter.check_stat("/from-observer").await.expect("exists").is_some());
        // a write through a voter reaches the observer (INFORM)
        on_voter.create("/from-voter", b"v", &acl).await.expect("a write through a voter");
        on_observer.sync("/").await.expect("sync through the observer");
        assert_eq!(on_observer.get_data("/from-voter").await.expect("read on the observer").0, b"v");
    });
    drop((on_observer, on_voter));
    nodes[leader].kill9();
    wait_for(Duration::from_secs(30), "a new leader", || leader_of(&nodes).filter(|l| *l != leader));
    wait_for(Duration::from_secs(30), "the observer observing the new leader", || {
        (nodes[3].mode().as_deref() == Some("observer")).then_some(())
    });
    let on_observer = connect(&nodes[3]);
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match on_observer.create("/after-failover", b"a", &acl).await {
                Ok(_) | Err(zk::Error::NodeExists) => break,
                Err(e) => {
                    assert!(tokio::time::Instant::now() < deadline, "no write through the observer: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    });
    drop(on_observer);
    nodes[leader].start();
    let digest = wait_for(Duration::from_secs(30), "equal digests on all four", || {
        let ds: Vec<Option<String>> = nodes.iter().map(|n| n.digest()).collect();
        let first = ds.first().cloned().flatten()?;
        ds.iter().all(|d| d.as_ref() == Some(&first)).then_some(first)
    });
    println!("observer: followed two leaders, forwarded writes, digest {digest} on all four members");
}
