//! The zab-node binary as a Kubernetes pod starts it: with a service-link environment variable
//! (`ZAB_CLIENT_PORT=tcp://10.96.13.120:2181`, injected for a Service named `zab-client`) it
//! still starts and serves on zoo.cfg's clientPort; `--myid-from-hostname` writes dataDir/myid
//! from the hostname's ordinal and refuses a data directory of another member; `zab-node
//! healthcheck` exits 0 against a serving admin endpoint and 1 against none. Every process
//! started here is killed by its pid, also when an assertion fails.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Kills the child on drop (a failed assertion must not leave a server running).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_cfg(dir: &Path, client: u16, admin: u16) -> std::path::PathBuf {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={client}\nclientPortAddress=127.0.0.1\n\
             admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n4lw.commands.whitelist=*\n",
            dir.join("data").display()
        ),
    )
    .expect("write zoo.cfg");
    cfg
}

fn node(cfg: &Path, hostname: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zab-node"));
    c.args(["--config", cfg.to_str().expect("utf-8 path"), "--myid-from-hostname"])
        .env("HOSTNAME", hostname)
        .env("ZAB_CLIENT_PORT", "tcp://10.96.13.120:2181")
        .env("ZAB_CLIENT_PORT_2181_TCP_PORT", "2181")
        .env("ZAB_CLIENT_SERVICE_PORT", "2181");
    c
}

fn ruok(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"ruok").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn healthcheck(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zab-node"))
        .args(["healthcheck", "--url", url, "--timeout-ms", "1000"])
        .output()
        .expect("run zab-node healthcheck")
}

#[test]
fn starts_with_service_links_and_takes_myid_from_hostname() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, admin) = (common::free_port(), common::free_port());
    let cfg = write_cfg(dir.path(), client, admin);
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
    let server = Server(node(&cfg, "zab-0").stdout(Stdio::null()).stderr(log).spawn().expect("spawn zab-node"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if ruok(client).as_deref() == Some("imok") {
            break;
        }
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "zab-node did not serve on {client} within 20 s; its log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("data/myid")).expect("myid written"), "1\n");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(log.contains("service link"), "the ignored ZAB_CLIENT_PORT is logged: {log}");

    // The admin endpoint binds beside the client port, not before it: poll it too.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = healthcheck(&format!("http://127.0.0.1:{admin}/healthz"));
        if ok.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "healthcheck against a serving node within 20 s: {ok:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let missing = healthcheck(&format!("http://127.0.0.1:{admin}/no-such-endpoint"));
    assert_eq!(missing.status.code(), Some(1), "a 404 is unhealthy: {missing:?}");
    drop(server);
    let down = healthcheck(&format!("http://127.0.0.1:{admin}/healthz"));
    assert_eq!(down.status.code(), Some(1), "no server, unhealthy: {down:?}");

    // The same data directory in a pod with another ordinal: refused, file untouched.
    let other = node(&cfg, "zab-2").output().expect("run zab-node");
    assert!(!other.status.success(), "a data directory of another member must be refused");
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(err.contains("belongs to another member") && err.contains("myid 3"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.path().join("data/myid")).expect("myid kept"), "1\n");
}

#[test]
fn a_client_port_that_is_not_a_number_is_still_an_error() {
    // A zoo.cfg that fails later (at tickTime), so a wrongly accepted port cannot start a server.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(&cfg, format!("tickTime=abc\ndataDir={}\n", dir.path().display())).expect("write zoo.cfg");
    let cfg = cfg.to_str().expect("utf-8 path");
    let out = Command::new(env!("CARGO_BIN_EXE_zab-node"))
        .args(["--config", cfg, "--client-port", "tcp://10.96.13.120:2181"])
        .output()
        .expect("run zab-node");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--client-port"), "{out:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_zab-node"))
        .args(["--config", cfg])
        .env("ZAB_CLIENT_PORT", "not-a-port")
        .output()
        .expect("run zab-node");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ZAB_CLIENT_PORT=\"not-a-port\""), "{out:?}");
}
