//! Four-letter words on the client port (`server/command/*Command.java`): the first four
//! bytes of a connection, read as the frame length, may spell a command; the server then
//! answers in text and closes. Commands outside `4lw.commands.whitelist` are refused with
//! ZooKeeper's message.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::zk_server::ZooKeeperServer;

/// The version zab reports where ZooKeeper reports its own: clients parse the leading
/// `3.8.x` (kazoo's `server_version()` reads it from `envi`).
pub const ZK_VERSION: &str = concat!("3.8.0-zab-", env!("CARGO_PKG_VERSION"), ", built on 2026-11-21 00:00 UTC");

pub const COMMANDS: &[&str] = &[
    "ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp", "dump", "dirs", "isro", "crst",
    "srst", "gtmk", "stmk", "hash",
];

/// The command spelled by the first four bytes, if any.
pub fn command_of(head: [u8; 4]) -> Option<&'static str> {
    COMMANDS.iter().copied().find(|c| c.as_bytes() == head)
}

/// The text answer to `cmd`.
pub fn answer(server: &ZooKeeperServer, cmd: &str) -> String {
    if let Some(allowed) = &server.config.four_letter_whitelist {
        if !allowed.contains(cmd) {
            return format!("{cmd} is not executed because it is not in the whitelist.\n");
        }
    }
    let mut s = String::new();
    match cmd {
        "ruok" => s.push_str("imok"),
        // zab has no read-only mode yet: it is always read-write.
        "isro" => s.push_str("rw"),
        "srvr" | "stat" => {
            let _ = writeln!(s, "Zookeeper version: {ZK_VERSION}");
            if cmd == "stat" {
                s.push_str("Clients:\n");
                for c in server.cnxns() {
                    let _ = writeln!(
                        s,
                        " {}[1](queued={},recved={},sent={})",
                        c.remote,
                        c.stats.outstanding.load(Ordering::Relaxed),
                        c.stats.packets_received.load(Ordering::Relaxed),
                        c.stats.packets_sent.load(Ordering::Relaxed)
                    );
                }
                s.push('\n');
            }
            s.push_str(&server_stats(server));
            let _ = writeln!(s, "Node count: {}", server.tree().node_count());
            if server.role == crate::zk_server::Role::Leader {
                let (last, min, max) = server.stats.proposal_sizes.get();
                let _ = writeln!(s, "Proposal sizes last/min/max: {last}/{min}/{max}");
            }
        }
        "srst" => {
            server.stats.reset();
            server.metrics.reset();
            s.push_str("Server stats reset.\n");
        }
        "crst" => {
            for c in server.cnxns() {
                c.stats.reset();
            }
            s.push_str("Connection stats reset.\n");
        }
        "cons" => {
            for c in server.cnxns() {
                let st = &c.stats;
                let sid = c.session_id.load(Ordering::Relaxed);
                let _ = write!(
                    s,
                    " {}[1](queued={},recved={},sent={}",
                    c.remote,
                    st.outstanding.load(Ordering::Relaxed),
                    st.packets_received.load(Ordering::Relaxed),
                    st.packets_sent.load(Ordering::Relaxed)
                );
                if sid != 0 {
                    let _ = write!(
                        s,
                        ",sid=0x{:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x},lresp=0,llat=0,minlat=0,avglat=0.0,maxlat=0",
                        sid,
                        st.last_op.lock(),
                        st.established_ms.load(Ordering::Relaxed),
                        st.timeout.load(Ordering::Relaxed),
                        st.last_cxid.load(Ordering::Relaxed),
                        st.last_zxid.load(Ordering::Relaxed)
                    );
                }
                s.push_str(")\n\n");
            }
            s.push('\n');
        }
        "conf" => {
            let c = &server.config;
            let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()).join("version-2");
            let _ = writeln!(s, "clientPort={}", c.client_port);
            let _ = writeln!(s, "secureClientPort=-1");
            let _ = writeln!(s, "dataDir={}", abs(&c.data_dir).display());
            let _ = writeln!(s, "dataDirSize=0");
            let _ = writeln!(s, "dataLogDir={}", abs(&c.data_log_dir).display());
            let _ = writeln!(s, "dataLogSize=0");
            let _ = writeln!(s, "tickTime={}", c.tick_time);
            let _ = writeln!(s, "maxClientCnxns={}", c.max_client_cnxns);
            let _ = writeln!(s, "minSessionTimeout={}", c.min_session_timeout);
            let _ = writeln!(s, "maxSessionTimeout={}", c.max_session_timeout);
            let _ = writeln!(s, "clientPortListenBacklog=-1");
            let _ = writeln!(s, "serverId={}", if c.servers.is_empty() { 0 } else { c.server_id });
        }
        "envi" => {
            s.push_str("Environment:\n");
            let _ = writeln!(s, "zookeeper.version={ZK_VERSION}");
            let _ = writeln!(s, "host.name={}", hostname());
            let _ = writeln!(s, "zab.version={}", env!("CARGO_PKG_VERSION"));
            let _ = writeln!(s, "os.name={}", std::env::consts::OS);
            let _ = writeln!(s, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(
                s,
                "user.dir={}",
                std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
        "mntr" => crate::metrics::monitor(server, &mut |k, v| {
            let _ = writeln!(s, "zk_{k}\t{}", v.to_text());
        }),
        "wchs" => {
            let tree = server.tree();
            let (cnxns, paths, total) =
                tree.with_watches(|w| (w.data.watcher_count(), w.data.path_count(), w.data.watch_count()));
            let _ = write!(s, "{cnxns} connections watching {paths} paths\nTotal watches:{total}\n");
        }
        "wchc" => {
            let tree = server.tree();
            tree.with_watches(|w| {
                let sessions: std::collections::HashMap<u64, i64> =
                    server.cnxns().iter().map(|c| (c.id, c.session_id.load(Ordering::Relaxed))).collect();
                for (watcher, paths) in w.data.by_watcher() {
                    let _ = writeln!(s, "0x{:x}", sessions.get(&watcher).copied().unwrap_or(0));
                    for p in paths {
                        let _ = writeln!(s, "\t{p}");
                    }
                }
            });
            s.push('\n');
        }
        "wchp" => {
            let tree = server.tree();
            let sessions: std::collections::HashMap<u64, i64> =
                server.cnxns().iter().map(|c| (c.id, c.session_id.load(Ordering::Relaxed))).collect();
            tree.with_watches(|w| {
                for (path, watchers) in w.data.by_path() {
                    let _ = writeln!(s, "{path}");
                    for wid in watchers {
                        let _ = writeln!(s, "\t0x{:x}", sessions.get(wid).copied().unwrap_or(0));
                    }
                }
            });
            s.push('\n');
        }
        "dump" => {
            s.push_str("SessionTracker dump:\nSession Sets (");
            let sessions = server.sessions();
            let _ = writeln!(s, "{})/({}):", sessions.len(), sessions.len());
            for (id, _) in &sessions {
                let _ = writeln!(s, "\t0x{id:x}");
            }
            let tree = server.tree();
            let eph: Vec<(i64, Vec<String>)> = tree.all_ephemerals().collect();
            let _ = writeln!(s, "ephemeral nodes dump:\nSessions with Ephemerals ({}):", eph.len());
            for (sid, paths) in eph {
                let _ = writeln!(s, "0x{sid:x}:");
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
            s.push_str("Connections dump:\n");
        }
        "dirs" => {
            s.push_str("datadir_size: 0\nlogdir_size: 0\n");
        }
        "gtmk" => s.push_str("0\n"),
        "stmk" => s.push_str("0\n"),
        "hash" => {
            let tree = server.tree();
            let _ = writeln!(s, "0x{:x}: {}", tree.last_processed_zxid(), tree.digest() as i64);
        }
        _ => {}
    }
    s
}

fn server_stats(server: &ZooKeeperServer) -> String {
    let (min, avg, max) = server.stats.latency();
    format!(
        "Latency min/avg/max: {min}/{avg}/{max}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\n",
        server.stats.packets_received.load(Ordering::Relaxed),
        server.stats.packets_sent.load(Ordering::Relaxed),
        server.cnxns().len(),
        server.stats.outstanding.load(Ordering::Relaxed).max(0),
        server.last_processed_zxid(),
        server.role.name()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}
