//! Dynamic reconfiguration of a running ensemble on real zab-node processes, under a
//! pipelined write load (ZooKeeper 3.8's `zookeeperReconfig.md`: a server joins by starting
//! with the ensemble's servers plus itself, connects as a non-voting follower, and is then
//! added with `reconfig -add`): 3 -> 5 -> 3 members, the replacement of a member, the removal
//! of the leader (its designated successor leads without an election,
//! `Leader.getDesignatedLeader`), and an observer added, promoted to participant and a
//! participant demoted to observer.
//!
//! Each test runs one [`Writer`]: a session that keeps 16 setData requests in flight and
//! records each acknowledged one. At the end every remaining member holds every
//! acknowledged write, their digests are equal, and the writer never saw SessionExpired.
//! The longest pause between acknowledged writes around each membership change is
//! printed (no assertion on timing).

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::member::{version_of, Member, AUTH};
use common::wait_for;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use zookeeper_client as zk;

/// The tests here start up to five processes each: one at a time, so that on a small
/// machine one test's load does not stretch another's timings.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Znodes the writer spreads its setData over.
const KEYS: usize = 16;
/// setData requests in flight at once.
const WINDOW: usize = 16;
/// The writer stops after this many writes even if the test has not stopped it.
const MAX_WRITES: u64 = 200_000;

/// An acknowledged write: when, which znode, the version it gave the znode.
#[derive(Clone)]
struct Ack {
    at: Instant,
    key: usize,
    version: i32,
}

/// The pipelined writer and what it saw.
struct Writer {
    rt: tokio::runtime::Runtime,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    errors: Arc<Mutex<BTreeMap<String, usize>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Writer {
    /// Connects to `connect` (a connect string), creates `/rw/k<N>` and starts writing.
    fn start(connect: String) -> Writer {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let stop = Arc::new(AtomicBool::new(false));
        let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
        let errors: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let client = rt.block_on(async {
            let c = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(30))
                .connect(&connect)
                .await
                .expect("connect to the ensemble");
            let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            c.create("/rw", b"", &acl).await.expect("create /rw");
            for k in 0..KEYS {
                c.create(&format!("/rw/k{k}"), b"", &acl).await.expect("create a key");
            }
            c
        });
        let task = {
            let (stop, acks, errors) = (stop.clone(), acks.clone(), errors.clone());
            rt.spawn(async move {
                type Pending = tokio::task::JoinHandle<Result<zk::Stat, zk::Error>>;
                let mut inflight: std::collections::VecDeque<(usize, Pending)> = Default::default();
                let mut issued = 0u64;
                loop {
                    let writing = !stop.load(Ordering::Acquire) && issued < MAX_WRITES;
                    while writing && inflight.len() < WINDOW {
                        let key = (issued % KEYS as u64) as usize;
                        // Sent now, in order (the future only waits for the answer).
                        let reply = client.set_data(&format!("/rw/k{key}"), issued.to_string().as_bytes(), None);
                        inflight.push_back((key, tokio::spawn(reply)));
                        issued += 1;
                    }
                    let Some((key, reply)) = inflight.pop_front() else { break };
                    let failure = match tokio::time::timeout(Duration::from_secs(20), reply).await {
                        Ok(Ok(Ok(stat))) => {
                            acks.lock().push(Ack { at: Instant::now(), key, version: stat.version });
                            None
                        }
                        Ok(Ok(Err(e))) => Some(format!("{e:?}")),
                        Ok(Err(e)) => Some(format!("task: {e}")),
                        Err(_) => Some("no answer in 20 s".to_owned()),
                    };
                    if let Some(f) = failure {
                        *errors.lock().entry(f).or_default() += 1;
                        // Pacing while the client reconnects, not a wait for a result.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        };
        Writer { rt, stop, acks, errors, task: Some(task) }
    }

    fn acked(&self) -> usize {
        self.acks.lock().len()
    }

    /// Waits until `n` more writes than now are acknowledged.
    fn wait_for_more(&self, n: usize, what: &str) {
        let from = self.acked();
        wait_for(Duration::from_secs(60), what, || (self.acked() >= from + n).then_some(()));
    }

    /// The longest pause between consecutive acknowledged writes over `from..to` (the
    /// pause that spans either end counts).
    fn longest_pause(&self, from: Instant, to: Instant) -> Duration {
        let acks = self.acks.lock();
        acks.windows(2)
            .filter(|w| w[1].at >= from && w[0].at <= to)
            .map(|w| w[1].at.duration_since(w[0].at))
            .max()
            .unwrap_or_default()
    }

    /// Stops writing, waits for the writes in flight; the highest acknowledged version of
    /// each key.
    fn finish(&mut self) -> Vec<i32> {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.task.take() {
            self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), t).await }).ok();
        }
        let mut highest = vec![0; KEYS];
        for a in self.acks.lock().iter() {
            highest[a.key] = highest[a.key].max(a.version);
        }
        highest
    }

    fn errors(&self) -> BTreeMap<String, usize> {
        self.errors.lock().clone()
    }
}

/// A temporary directory for the members' data and logs; `ZAB_KEEP_DIR=1` keeps it for a
/// look after a failure.
fn root() -> (Option<tempfile::TempDir>, std::path::PathBuf) {
    let root = tempfile::tempdir().expect("temp dir");
    eprintln!("members' data and logs under {}", root.path().display());
    if std::env::var_os("ZAB_KEEP_DIR").is_some() {
        return (None, root.keep());
    }
    let path = root.path().to_owned();
    (Some(root), path)
}

/// The members with these ids, started on a configuration of exactly them.
fn ensemble(root: &Path, n: u64) -> Vec<Member> {
    let mut nodes: Vec<Member> = (1..=n).map(|id| Member::new(root, id)).collect();
    let servers: Vec<String> = nodes.iter().map(|m| m.line("participant")).collect();
    for m in nodes.iter_mut() {
        m.write_config(&servers);
        m.start();
    }
    nodes
}

/// The one leader among `members` (by index) once every one of them serves.
fn leader_of(members: &[&Member]) -> Option<usize> {
    let modes: Vec<String> = members.iter().filter_map(|m| m.mode()).collect();
    if modes.len() != members.len() || modes.iter().filter(|m| *m == "leader").count() != 1 {
        return None;
    }
    modes.iter().position(|m| m == "leader")
}

fn refs(members: &[Member]) -> Vec<&Member> {
    members.iter().collect()
}

fn connect_string(members: &[&Member]) -> String {
    members.iter().map(|m| m.addr()).collect::<Vec<_>>().join(",")
}

/// Starts a joining member: its zoo.cfg lists the configuration in force (`current`, as a
/// member serves it) plus itself as `kind`.
fn join(m: &mut Member, current: &str, kind: &str) {
    let mut servers: Vec<String> = current.lines().filter(|l| l.starts_with("server.")).map(str::to_owned).collect();
    servers.push(m.line(kind));
    m.write_config(&servers);
    m.start();
}

/// Runs `zab-node reconfig` through `via` with `args` and the super user; the new
/// configuration's text.
fn reconfig(via: &Member, args: &[&str]) -> String {
    let out = via.reconfig(&[&AUTH[..], args].concat());
    assert!(out.status.success(), "reconfig {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let config = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    assert!(
        config.contains("version="),
        "reconfig {args:?} answered {config:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    config
}

/// Waits until each of `members` serves the configuration `config` (its version or newer).
fn serving_config(members: &[&Member], config: &str) {
    let version = version_of(config);
    for m in members {
        let served = wait_for(Duration::from_secs(30), &format!("member {} serving 0x{version:x}", m.id), || {
            let c = m.config()?;
            assert!(c.contains("version="), "member {} serves a configuration with no version: {c:?}", m.id);
            (version_of(&c) >= version).then_some(c)
        });
        assert_eq!(served, config, "member {}", m.id);
        // /status reports the configuration in force too (the operator scales by it).
        let sids = wait_for(Duration::from_secs(30), &format!("member {} /status at 0x{version:x}", m.id), || {
            let st = m.status()?;
            let q = &st["quorum"];
            (q["config_version"]["value"].as_i64()? == version).then(|| {
                let mut sids: Vec<u64> =
                    q["members"].as_array().into_iter().flatten().filter_map(|x| x["sid"].as_u64()).collect();
                sids.sort_unstable();
                sids
            })
        });
        let mut want: Vec<u64> =
            config.lines().filter_map(|l| l.strip_prefix("server.")?.split_once('=')?.0.parse().ok()).collect();
        want.sort_unstable();
        assert_eq!(sids, want, "member {}: /status lists the members of 0x{version:x}", m.id);
    }
}

/// One membership change under the writer: `change` runs the reconfig, then every member
/// of `after` serves its configuration and 200 more writes are acknowledged. Prints and
/// returns the longest pause between acknowledged writes around it.
fn change(writer: &Writer, label: &str, after: &[&Member], change: impl FnOnce() -> String) -> (String, Duration) {
    writer.wait_for_more(200, &format!("writes acknowledged before {label}"));
    let t0 = Instant::now();
    let config = change();
    serving_config(after, &config);
    writer.wait_for_more(200, &format!("writes acknowledged after {label}"));
    let pause = writer.longest_pause(t0, Instant::now());
    println!("{label}: longest pause between acknowledged writes {} ms", pause.as_millis());
    (config, pause)
}

/// The end of a test: the writer stops; every member of `kept` has the same digest and
/// every acknowledged write; the writer saw no SessionExpired.
fn check_nothing_lost(mut writer: Writer, kept: &[&Member]) -> usize {
    let highest = writer.finish();
    let errors = writer.errors();
    assert!(!errors.keys().any(|e| e.contains("SessionExpired")), "the writer's session expired: {errors:?}");
    let digest = wait_for(Duration::from_secs(30), "equal digests on every remaining member", || {
        let ds: Vec<Option<String>> = kept.iter().map(|m| m.digest()).collect();
        let first = ds.first().cloned().flatten()?;
        ds.iter().all(|d| d.as_ref() == Some(&first)).then_some(first)
    });
    for m in kept {
        let versions: Vec<i32> = writer.rt.block_on(async {
            let c = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&m.addr())
                .await
                .expect("connect to one member");
            let mut v = Vec::new();
            for k in 0..KEYS {
                v.push(c.get_data(&format!("/rw/k{k}")).await.expect("read a key").1.version);
            }
            v
        });
        for (k, (have, acked)) in versions.iter().zip(&highest).enumerate() {
            assert!(have >= acked, "member {}: /rw/k{k} at version {have}, a write acknowledged version {acked}", m.id);
        }
    }
    let acked = writer.acked();
    println!("{acked} writes acknowledged, none lost; digest {digest} on members {:?}; errors {errors:?}", {
        kept.iter().map(|m| m.id).collect::<Vec<_>>()
    });
    acked
}

#[test]
fn three_to_five_to_three_under_pipelined_writes() {
    let Running { _one, _dir, root, mut nodes, writer, .. } = three_under_writes();
    let (mut m4, mut m5) = (Member::new(&root, 4), Member::new(&root, 5));

    // 4 and 5 start on the configuration in force plus themselves: non-voting followers.
    let current = nodes[0].config().expect("the configuration in force");
    join(&mut m4, &current, "participant");
    join(&mut m5, &current, "participant");
    for m in [&m4, &m5] {
        let mode = wait_for(Duration::from_secs(30), "a joiner serving", || m.mode());
        println!("member {} joined as a non-voting {mode}", m.id);
    }
    let (five, add_pause) =
        change(&writer, "3 -> 5 (add 4 and 5)", &[&nodes[0], &nodes[1], &nodes[2], &m4, &m5], || {
            reconfig(&nodes[0], &["--add", &m4.line("participant"), "--add", &m5.line("participant")])
        });
    assert_eq!(five.lines().filter(|l| l.contains(":participant;")).count(), 5, "{five}");
    let all = [&nodes[0], &nodes[1], &nodes[2], &m4, &m5];
    let leader = wait_for(Duration::from_secs(30), "one leader among the five", || leader_of(&all));
    assert!(leader < 3, "the leader stays");

    // 4 and 5 vote: with two of the first three stopped, the leader, 4 and 5 still commit.
    let stopped: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for i in &stopped {
        nodes[*i].stop();
    }
    writer.wait_for_more(200, "writes acknowledged by the leader, 4 and 5");
    for i in &stopped {
        nodes[*i].start();
    }
    for i in &stopped {
        wait_for(Duration::from_secs(30), "a stopped member back", || nodes[*i].mode());
    }

    let (three, remove_pause) = change(&writer, "5 -> 3 (remove 4 and 5)", &refs(&nodes), || {
        reconfig(&nodes[1], &["--remove", "4", "--remove", "5"])
    });
    assert_eq!(three.lines().filter(|l| l.starts_with("server.")).count(), 3, "{three}");
    wait_for(Duration::from_secs(30), "one leader among the three", || leader_of(&refs(&nodes)));
    m4.stop();
    m5.stop();
    let acked = check_nothing_lost(writer, &refs(&nodes));
    println!(
        "3 -> 5 -> 3: {acked} writes acknowledged; longest pause: add {} ms, remove {} ms",
        add_pause.as_millis(),
        remove_pause.as_millis()
    );
}

/// How many elections this member has started (its log's "new election" lines).
fn elections(m: &Member) -> usize {
    m.log().matches("new election").count()
}

/// Three members serving with a leader, and the writer on them.
struct Running {
    _one: std::sync::MutexGuard<'static, ()>,
    _dir: Option<tempfile::TempDir>,
    root: std::path::PathBuf,
    nodes: Vec<Member>,
    leader: usize,
    writer: Writer,
}

fn three_under_writes() -> Running {
    let _one = one_at_a_time();
    let (_dir, root) = root();
    let nodes = ensemble(&root, 3);
    let leader = wait_for(Duration::from_secs(30), "a leader and two followers", || leader_of(&refs(&nodes)));
    let writer = Writer::start(connect_string(&refs(&nodes)));
    Running { _one, _dir, root, nodes, leader, writer }
}

#[test]
fn replace_a_member() {
    let Running { _one, _dir, root, mut nodes, leader, writer } = three_under_writes();
    let mut m4 = Member::new(&root, 4);
    // The member replaced is a follower (the leader's removal is `remove_the_leader`).
    let (gone, kept) = ((leader + 1) % 3, (leader + 2) % 3);
    let gone_id = nodes[gone].id.to_string();

    // 4 joins on the configuration in force plus itself, then replaces `gone` in one
    // reconfig (a quorum of the old and of the new configuration commits it) while the
    // other follower is down.
    join(&mut m4, &nodes[leader].config().expect("the configuration in force"), "participant");
    wait_for(Duration::from_secs(30), "4 serving as a non-voting follower", || m4.mode());
    nodes[kept].stop();
    let (config, pause) = change(&writer, &format!("replace {gone_id} by 4"), &[&nodes[leader], &m4], || {
        reconfig(&nodes[leader], &["--remove", &gone_id, "--add", &m4.line("participant")])
    });
    assert!(!config.contains(&format!("server.{gone_id}=")) && config.contains("server.4="), "{config}");

    // 4 votes: with `gone` stopped too, the leader and 4 commit.
    nodes[gone].stop();
    writer.wait_for_more(200, "writes acknowledged by the leader and 4");

    // The follower that missed the reconfig comes back into the new configuration (its
    // dynamic file), and votes in it: with 4 stopped, the leader and it commit.
    nodes[kept].start();
    serving_config(&[&nodes[kept]], &config);
    let dynamic = nodes[kept].dir.join(format!("zoo.cfg.dynamic.{:x}", version_of(&config)));
    wait_for(Duration::from_secs(30), "the new dynamic file on the returning follower", || {
        std::fs::metadata(&dynamic).ok()
    });
    m4.stop();
    writer.wait_for_more(200, "writes acknowledged by the leader and the returning follower");
    m4.start();
    wait_for(Duration::from_secs(30), "4 back", || m4.mode());
    let acked = check_nothing_lost(writer, &[&nodes[leader], &nodes[kept], &m4]);
    println!("replace {gone_id} by 4: {acked} writes acknowledged; longest pause {} ms", pause.as_millis());
}

#[test]
fn remove_the_leader() {
    let Running { _one, _dir, mut nodes, leader, writer, .. } = three_under_writes();
    let rest: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let leader_id = nodes[leader].id.to_string();
    let before: Vec<usize> = nodes.iter().map(elections).collect();

    let (config, pause) =
        change(&writer, &format!("remove the leader {leader_id}"), &[&nodes[rest[0]], &nodes[rest[1]]], || {
            reconfig(&nodes[rest[0]], &["--remove", &leader_id])
        });
    assert!(!config.contains(&format!("server.{leader_id}=")), "{config}");
    let new = wait_for(Duration::from_secs(30), "a leader among the other two", || {
        leader_of(&[&nodes[rest[0]], &nodes[rest[1]]]).map(|i| rest[i])
    });
    // The designated leader took over without an election (`updateServerState`), and the
    // removed leader follows it as a non-voting participant.
    let after: Vec<usize> = nodes.iter().map(elections).collect();
    assert_eq!(after, before, "elections started by members 1..3 around the reconfig");
    let mode = wait_for(Duration::from_secs(30), "the removed leader serving", || nodes[leader].mode());
    assert_eq!(mode, "follower", "the removed leader follows the new one");

    // It no longer votes: with the other voter stopped, the new leader has no quorum (the
    // removed leader's ACKs and votes do not count) and steps down.
    let other = rest.iter().copied().find(|i| *i != new).unwrap();
    nodes[other].stop();
    wait_for(Duration::from_secs(30), "the new leader stepping down without its quorum", || {
        (nodes[new].mode().as_deref() != Some("leader")).then_some(())
    });
    nodes[other].start();
    wait_for(Duration::from_secs(30), "a leader among the two voters again", || {
        leader_of(&[&nodes[rest[0]], &nodes[rest[1]]])
    });
    writer.wait_for_more(200, "writes acknowledged again");
    let acked = check_nothing_lost(writer, &[&nodes[rest[0]], &nodes[rest[1]], &nodes[leader]]);
    println!("remove the leader {leader_id}: {acked} writes acknowledged; longest pause {} ms", pause.as_millis());
}

#[test]
fn add_an_observer_promote_it_and_demote_a_participant() {
    let Running { _one, _dir, root, mut nodes, leader, writer } = three_under_writes();
    let mut m4 = Member::new(&root, 4);
    join(&mut m4, &nodes[leader].config().expect("the configuration in force"), "observer");
    wait_for(Duration::from_secs(30), "4 serving", || m4.mode());

    let (config, add) = change(&writer, "add 4 as an observer", &[&nodes[0], &nodes[1], &nodes[2], &m4], || {
        reconfig(&nodes[leader], &["--add", &m4.line("observer")])
    });
    assert!(config.contains(&m4.line("observer")), "{config}");
    wait_for(Duration::from_secs(30), "4 observing", || (m4.mode().as_deref() == Some("observer")).then_some(()));

    let (config, promote) =
        change(&writer, "promote 4 to participant", &[&nodes[0], &nodes[1], &nodes[2], &m4], || {
            reconfig(&nodes[leader], &["--add", &m4.line("participant")])
        });
    assert!(config.contains(&m4.line("participant")), "{config}");
    wait_for(Duration::from_secs(30), "4 following", || (m4.mode().as_deref() == Some("follower")).then_some(()));

    // A follower demoted to observer.
    let demoted = (leader + 1) % 3;
    let (config, demote) =
        change(&writer, "demote a follower to observer", &[&nodes[0], &nodes[1], &nodes[2], &m4], || {
            reconfig(&nodes[leader], &["--add", &nodes[demoted].line("observer")])
        });
    assert!(config.contains(&nodes[demoted].line("observer")), "{config}");
    wait_for(Duration::from_secs(30), "the demoted member observing", || {
        (nodes[demoted].mode().as_deref() == Some("observer")).then_some(())
    });

    // The voters now: the leader, the other follower and 4. With the other follower
    // stopped, the leader and 4 commit.
    let other = (leader + 2) % 3;
    nodes[other].stop();
    writer.wait_for_more(200, "writes acknowledged by the leader and 4");
    nodes[other].start();
    wait_for(Duration::from_secs(30), "the stopped follower back", || nodes[other].mode());
    let acked = check_nothing_lost(writer, &[&nodes[0], &nodes[1], &nodes[2], &m4]);
    println!(
        "observer: {acked} writes acknowledged; longest pause: add {} ms, promote {} ms, demote {} ms",
        add.as_millis(),
        promote.as_millis(),
        demote.as_millis()
    );
}

/// ZOOKEEPER-1324: a reconfig a quorum logged but did not commit when its leader died is
/// completed by the next leader, whose NEWLEADER needs a quorum of the old and of the new
/// configuration and then puts the new one in force (`Leader.startZkServer`).
#[test]
fn a_reconfig_in_flight_survives_the_leaders_death() {
    reconfig_in_flight_and_the_leader_dies(false);
}

/// The same, with the two members that logged the reconfig restarted before they elect:
/// the configuration to complete comes from their `zoo.cfg.dynamic.next`.
#[test]
fn a_reconfig_in_flight_survives_the_leaders_death_and_restarts() {
    reconfig_in_flight_and_the_leader_dies(true);
}

fn reconfig_in_flight_and_the_leader_dies(restart: bool) {
    let Running { _one, _dir, root, mut nodes, leader, writer } = three_under_writes();
    let (mut m4, mut m5) = (Member::new(&root, 4), Member::new(&root, 5));
    let current = nodes[leader].config().expect("the configuration in force");
    join(&mut m4, &current, "participant");
    join(&mut m5, &current, "participant");
    for m in [&m4, &m5] {
        wait_for(Duration::from_secs(30), "a joiner serving", || m.mode());
    }
    let (kept, gone) = ((leader + 1) % 3, (leader + 2) % 3);
    let gone_id = nodes[gone].id.to_string();
    writer.wait_for_more(200, "writes acknowledged before the reconfig");

    // 4 and 5 stopped: the new configuration (the leader, `kept`, 4, 5) has no quorum, so
    // the reconfig is logged by the old one and cannot commit.
    m4.signal("STOP");
    m5.signal("STOP");
    let args: Vec<String> =
        [&AUTH[..], &["--remove", &gone_id, "--add", &m4.line("participant"), "--add", &m5.line("participant")]]
            .concat()
            .into_iter()
            .map(str::to_owned)
            .chain(["--timeout-ms".to_owned(), "3000".to_owned()])
            .collect();
    let mut client = std::process::Command::new(env!("CARGO_BIN_EXE_zab-node"))
        .args(["reconfig", "--server", &nodes[leader].addr()])
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("zab-node reconfig");
    wait_for(Duration::from_secs(10), "the reconfig in flight on the leader", || {
        (nodes[leader].status()?["reconfig_in_flight"] == true).then_some(())
    });
    nodes[leader].stop();
    let _ = client.wait();
    if restart {
        for i in [kept, gone] {
            let next = nodes[i].dir.join("zoo.cfg.dynamic.next");
            wait_for(Duration::from_secs(10), "the last seen configuration on disk", || std::fs::metadata(&next).ok());
            nodes[i].stop();
            nodes[i].start();
        }
    }
    m4.signal("CONT");
    m5.signal("CONT");

    // The next leader completes it: every member of the new configuration runs with it.
    let alive = [&nodes[kept], &m4, &m5];
    let config = wait_for(Duration::from_secs(30), "the reconfig's configuration served", || {
        nodes[kept].config().filter(|c| c.contains("server.5=") && !c.contains(&format!("server.{gone_id}=")))
    });
    serving_config(&alive, &config);
    for m in alive {
        let dynamic = m.dir.join(format!("zoo.cfg.dynamic.{:x}", version_of(&config)));
        wait_for(Duration::from_secs(30), &format!("member {} running with the new configuration", m.id), || {
            std::fs::metadata(&dynamic).ok()
        });
    }
    // `gone` no longer votes, 4 and 5 do: without it and without the dead leader, `kept`, 4
    // and 5 commit.
    nodes[gone].stop();
    writer.wait_for_more(200, "writes acknowledged by the new configuration");
    let acked = check_nothing_lost(writer, &[&nodes[kept], &m4, &m5]);
    println!("a reconfig in flight completed by the next leader (restarts: {restart}): {acked} writes acknowledged");
}
