//! zab-node processes for the dynamic reconfiguration tests: a member with its own ports and
//! data directory, started on a zoo.cfg that lists the servers it knows (the ensemble's,
//! plus itself for a joining member), stopped by its pid; its four-letter words, the
//! configuration it serves, and `zab-node reconfig` run against it.

use super::{free_port, spawn_zab_node};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use zab_node::client::Client;

/// `super:secret`, as `DigestAuthenticationProvider.generateDigest` makes it.
pub const SUPER_DIGEST: &str = "super:lK75jTNcA+U9vtVEw5vB51mj/w4=";
/// `zab-node reconfig`'s authentication as that super user.
pub const AUTH: [&str; 2] = ["--auth", "digest:super:secret"];

pub struct Member {
    pub id: u64,
    pub dir: PathBuf,
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
    /// The admin server's port (`/status`).
    pub admin: u16,
    pub child: Option<Child>,
}

impl Member {
    /// A member with fresh ports and its data directory `root/m<id>` (nothing written yet).
    pub fn new(root: &Path, id: u64) -> Member {
        let dir = root.join(format!("m{id}"));
        let (client, quorum, election, admin) = (free_port(), free_port(), free_port(), free_port());
        Member { id, dir, client, quorum, election, admin, child: None }
    }

    /// Its line in a dynamic configuration: `server.N=127.0.0.1:q:e:<kind>;127.0.0.1:c`.
    pub fn line(&self, kind: &str) -> String {
        format!("server.{}=127.0.0.1:{}:{}:{kind};127.0.0.1:{}", self.id, self.quorum, self.election, self.client)
    }

    /// Writes myid and zoo.cfg (reconfigEnabled, the super user, short ticks) with `servers`.
    pub fn write_config(&self, servers: &[String]) {
        std::fs::create_dir_all(&self.dir).expect("data dir");
        std::fs::write(self.dir.join("myid"), format!("{}\n", self.id)).expect("myid");
        std::fs::write(
            self.dir.join("zoo.cfg"),
            format!(
                "tickTime=200\ninitLimit=20\nsyncLimit=5\ndataDir={}\nadmin.serverAddress=127.0.0.1\n\
                 admin.serverPort={}\n4lw.commands.whitelist=*\npreAllocSize=4096\nreconfigEnabled=true\n\
                 zookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}\n{}\n",
                self.dir.display(),
                self.admin,
                servers.join("\n")
            ),
        )
        .expect("zoo.cfg");
    }

    pub fn start(&mut self) {
        self.child = Some(spawn_zab_node(&self.dir));
    }

    /// Stops the process (SIGKILL, by its pid).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client)
    }

    pub fn four(&self, cmd: &str) -> Option<String> {
        super::four_letter(self.client, cmd)
    }

    /// `GET /status` of the admin server.
    pub fn status(&self) -> Option<serde_json::Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.admin)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        serde_json::from_str(out.split_once("\r\n\r\n")?.1).ok()
    }

    /// Sends a signal to the process (`STOP`, `CONT`).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("a running member").id();
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {pid}");
    }

    /// `Mode:` of `srvr` (leader, follower, observer), once it serves.
    pub fn mode(&self) -> Option<String> {
        let srvr = self.four("srvr")?;
        srvr.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_owned)
    }

    /// `<zxid>: <digest>` from the `hash` four-letter word.
    pub fn digest(&self) -> Option<String> {
        self.four("hash")?.lines().last().map(str::to_owned)
    }

    /// `/zookeeper/config` as this member serves it.
    pub fn config(&self) -> Option<String> {
        let mut c = Client::connect(&self.addr(), Duration::from_secs(5)).ok()?;
        let (data, _) = c.get_data("/zookeeper/config").ok()?;
        c.close();
        String::from_utf8(data).ok()
    }

    /// `zab-node reconfig --server <this member> ARGS`.
    pub fn reconfig(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_zab-node"))
            .args(["reconfig", "--server", &self.addr()])
            .args(args)
            .output()
            .expect("run zab-node reconfig")
    }

    /// This member's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("zab.log")).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The version of a configuration text (its `version=<hex>` line).
pub fn version_of(config: &str) -> i64 {
    let v = config.rsplit_once("version=").expect("a version line").1.trim();
    i64::from_str_radix(v, 16).expect("a hexadecimal version")
}
