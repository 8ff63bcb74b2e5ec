//! A member partitioned away, with real network isolation: each zab-node process runs in its
//! own network namespace, wired to a bridge in a switch namespace by a veth pair; the test
//! reaches them through one more veth. Cutting a member's link isolates it completely (the
//! election port's dial-backs included). Needs root and `ip` (iproute2), as CI has.
//!
//! A partitioned follower, then a partitioned leader: it cannot commit and its clients lose
//! the connection; the majority goes on (electing a new leader when the old one is cut
//! off); after healing the member rejoins and catches up.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zookeeper_client as zk;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Namespaces, links and processes of one test; removed on drop.
struct Net {
    tag: String,
    subnet: String,
    members: Vec<Option<Child>>,
    root: tempfile::TempDir,
}

impl Net {
    fn ns(&self, i: usize) -> String {
        format!("zm{i}{}", self.tag)
    }
    fn sw(&self) -> String {
        format!("zsw{}", self.tag)
    }
    fn addr(&self, i: usize) -> String {
        format!("{}.{i}", self.subnet)
    }

    fn new(n: usize) -> Net {
        let pid = std::process::id();
        let tag = format!("{}", pid % 100_000);
        let subnet = format!("10.77.{}", pid % 250 + 1);
        let net = Net { tag, subnet, members: Vec::new(), root: tempfile::tempdir().expect("temp dir") };
        let sw = net.sw();
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for i in 1..=n {
            let ns = net.ns(i);
            let (a, b) = (format!("za{i}{}", net.tag), format!("zb{i}{}", net.tag));
            ip(&["netns", "add", &ns]);
            ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
            ip(&["link", "set", &a, "netns", &ns]);
            ip(&["link", "set", &b, "netns", &sw]);
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", net.addr(i)), "dev", &a]);
            ip(&["-n", &ns, "link", "set", &a, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &sw, "link", "set", &b, "master", "br0"]);
            ip(&["-n", &sw, "link", "set", &b, "up"]);
        }
        let (h, hb) = (format!("zh{}", net.tag), format!("zhb{}", net.tag));
        ip(&["link", "add", &h, "type", "veth", "peer", "name", &hb]);
        ip(&["link", "set", &hb, "netns", &sw]);
        ip(&["-n", &sw, "link", "set", &hb, "master", "br0"]);
        ip(&["-n", &sw, "link", "set", &hb, "up"]);
        ip(&["addr", "add", &format!("{}/24", net.addr(254)), "dev", &h]);
        ip(&["link", "set", &h, "up"]);
        net
    }

    /// Cuts member `i` off (its switch port down) or reconnects it.
    fn link(&self, i: usize, up: bool) {
        ip(&["-n", &self.sw(), "link", "set", &format!("zb{i}{}", self.tag), if up { "up" } else { "down" }]);
    }

    fn start(&mut self, n: usize) {
        let servers: String = (1..=n).map(|i| format!("server.{i}={}:2888:3888\n", self.addr(i))).collect();
        for i in 1..=n {
            let dir = self.root.path().join(format!("m{i}"));
            std::fs::create_dir_all(&dir).expect("data dir");
            std::fs::write(dir.join("myid"), format!("{i}\n")).expect("myid");
            std::fs::write(
                dir.join("zoo.cfg"),
                format!(
                    "tickTime=200\ninitLimit=20\nsyncLimit=5\ndataDir={}\nclientPort=2181\n\
                     admin.enableServer=false\n4lw.commands.whitelist=*\npreAllocSize=4096\n{servers}",
                    dir.display()
                ),
            )
            .expect("zoo.cfg");
            let log = std::fs::File::create(dir.join("zab.log")).expect("log");
            // `ip netns exec` execs zab-node, so the child's pid is zab-node's.
            let child = Command::new("ip")
                .args(["netns", "exec", &self.ns(i), env!("CARGO_BIN_EXE_zab-node")])
                .arg(dir.join("zoo.cfg"))
                .env("ZAB_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start zab-node in its namespace");
            self.members.push(Some(child));
        }
    }

    fn four(&self, i: usize, cmd: &str) -> Option<String> {
        use std::io::{Read, Write};
        let addr: std::net::SocketAddr = format!("{}:2181", self.addr(i)).parse().ok()?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(cmd.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    fn mode(&self, i: usize) -> Option<String> {
        self.four(i, "srvr")?.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_owned)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in self.members.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for i in 1..=self.members.len() {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(i)]).status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.sw()]).status();
        let _ = Command::new("ip").args(["link", "del", &format!("zh{}", self.tag)]).status();
    }
}

fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_partitioned_member_cannot_commit_and_catches_up_after() {
    let mut net = Net::new(3);
    net.start(3);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let acl = || zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for victim_is_leader in [false, true] {
        let leader = wait_for(Duration::from_secs(30), "one leader and a serving quorum", || {
            let modes: Vec<Option<String>> = (1..=3).map(|i| net.mode(i)).collect();
            let leaders: Vec<usize> = (1..=3).filter(|i| modes[i - 1].as_deref() == Some("leader")).collect();
            (leaders.len() == 1 && modes.iter().flatten().count() == 3).then(|| leaders[0])
        });
        let victim = if victim_is_leader { leader } else { leader % 3 + 1 };
        let witness = (1..=3).find(|i| *i != victim && *i != leader).unwrap_or(leader);
        let tag = if victim_is_leader { "leader" } else { "follower" };
        let (va, wa) = (format!("{}:2181", net.addr(victim)), format!("{}:2181", net.addr(witness)));
        let during = rt.block_on(async {
            let connect = |a: String| async move {
                zk::Client::connector()
                    .with_session_timeout(Duration::from_secs(20))
                    .connect(&a)
                    .await
                    .expect("connect")
            };
            let (cv, cw) = (connect(va.clone()).await, connect(wa.clone()).await);
            cv.create(&format!("/before-{tag}"), b"", &acl()).await.expect("a write before the partition");
            net.link(victim, false);
            let w =
                tokio::time::timeout(Duration::from_secs(10), cv.create(&format!("/during-{tag}"), b"", &acl())).await;
            assert!(!matches!(w, Ok(Ok(_))), "a write through the partitioned {tag} must not succeed: {w:?}");
            // The majority commits (once it has a leader again).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                match cw.create(&format!("/majority-{tag}"), b"m", &acl()).await {
                    Ok(_) | Err(zk::Error::NodeExists) => break,
                    Err(e) => {
                        assert!(tokio::time::Instant::now() < deadline, "the majority cannot commit: {e:?}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            w
        });
        println!("partitioned {tag}: its client's write ended with {during:?}");
        net.link(victim, true);
        // Healed: the member serves again and has the majority's write; digests agree.
        wait_for(Duration::from_secs(60), "equal digests after healing", || {
            let ds: Vec<Option<String>> = (1..=3).map(|i| net.four(i, "hash")).collect();
            let first = ds.first().cloned().flatten()?;
            ds.iter().all(|d| d.as_ref() == Some(&first)).then_some(())
        });
        let seen = rt.block_on(async {
            let c = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&va)
                .await
                .expect("connect");
            c.check_stat(&format!("/majority-{tag}")).await.expect("read on the healed member")
        });
        assert!(seen.is_some(), "the healed {tag} caught up with the majority's write");
        assert!(
            !rt.block_on(async {
                let c = zk::Client::connector()
                    .with_session_timeout(Duration::from_secs(10))
                    .connect(&wa)
                    .await
                    .expect("connect");
                c.check_stat(&format!("/during-{tag}")).await.expect("read").is_some()
            }),
            "the write through the partitioned {tag} must not exist anywhere"
        );
    }
}
