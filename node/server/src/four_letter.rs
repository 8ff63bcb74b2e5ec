//! Four-letter words on the client port (`server/command/*Command.java`): the first four
//! bytes of a connection, read as the frame length, may spell a command; the server then
//! answers in text and closes. Commands outside `4lw.commands.whitelist` are refused with
//! ZooKeeper's message.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

pub use crate::environment::{environment, ZK_VERSION};
use crate::metrics::java_double;
use crate::zk_server::{CnxnHandle, ZooKeeperServer};

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
    answer_to(server, cmd, None)
}

/// The text answer to `cmd` asked over the connection from `me` (which `cons`, `stat` and
/// `dump` list, as ZooKeeper lists the connection a four-letter word came on).
pub fn answer_to(server: &ZooKeeperServer, cmd: &str, me: Option<SocketAddr>) -> String {
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
                if let Some(me) = me {
                    let _ = writeln!(s, "{}", own_connection(&me));
                }
                for c in server.cnxns() {
                    connection_line(&mut s, &c, true);
                    s.push('\n');
                }
                s.push('\n');
            }
            s.push_str(&server_stats(server, usize::from(me.is_some())));
            let _ = writeln!(s, "Node count: {}", server.tree().node_count());
            if server.role() == crate::zk_server::Role::Leader {
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
            if let Some(me) = me {
                let _ = writeln!(s, "{}", own_connection(&me));
            }
            for c in server.cnxns() {
                connection_line(&mut s, &c, false);
                s.push('\n');
            }
            s.push('\n');
        }
        "conf" => {
            let c = &server.config;
            let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()).join("version-2");
            let _ = writeln!(s, "clientPort={}", c.client_port);
            let _ = writeln!(s, "secureClientPort=-1");
            let _ = writeln!(s, "dataDir={}", abs(&c.data_dir).display());
            let (data_size, log_size) = sizes(server);
            let _ = writeln!(s, "dataDirSize={data_size}");
            let _ = writeln!(s, "dataLogDir={}", abs(&c.data_log_dir).display());
            let _ = writeln!(s, "dataLogSize={log_size}");
            let _ = writeln!(s, "tickTime={}", c.tick_time);
            let _ = writeln!(s, "maxClientCnxns={}", c.max_client_cnxns);
            let _ = writeln!(s, "minSessionTimeout={}", c.min_session_timeout);
            let _ = writeln!(s, "maxSessionTimeout={}", c.max_session_timeout);
            let _ = writeln!(s, "clientPortListenBacklog=-1");
            let _ = writeln!(s, "serverId={}", if c.servers.is_empty() { 0 } else { c.server_id });
            // QuorumZooKeeperServer.dumpConf.
            if let Some(q) = c.quorum.as_ref().filter(|_| server.role() != crate::zk_server::Role::Standalone) {
                let me = q.view.servers.get(&q.myid);
                let _ = writeln!(s, "initLimit={}", q.init_limit);
                let _ = writeln!(s, "syncLimit={}", q.sync_limit);
                let _ = writeln!(s, "electionAlg=3");
                let _ = writeln!(s, "electionPort={}", me.map_or(0, |m| m.election_port));
                let _ = writeln!(s, "quorumPort={}", me.map_or(0, |m| m.quorum_port));
                let _ = writeln!(s, "peerType={}", u8::from(q.observer));
                s.push_str("membership: \n");
                s.push_str(&q.view.to_text());
            }
        }
        "envi" => {
            s.push_str("Environment:\n");
            for (k, v) in environment() {
                let _ = writeln!(s, "{k}={v}");
            }
        }
        "mntr" => crate::monitor::monitor(server, &mut |k, v| {
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
        "dump" => dump(server, me, &mut s),
        "dirs" => {
            let (data, log) = sizes(server);
            let _ = write!(s, "datadir_size: {data}\nlogdir_size: {log}\n");
        }
        "gtmk" | "stmk" => {
            let _ = writeln!(s, "{}", server.trace_mask.load(Ordering::Relaxed));
        }
        "hash" => {
            // `DigestCommand`: zxid in hex without 0x, then the digest.
            let tree = server.tree();
            let _ = writeln!(s, "{:x}: {}", tree.last_processed_zxid(), tree.digest() as i64);
        }
        _ => {}
    }
    s
}

fn server_stats(server: &ZooKeeperServer, extra_cnxns: usize) -> String {
    let (min, avg, max) = server.stats.latency();
    format!(
        "Latency min/avg/max: {min}/{}/{max}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\n",
        java_double(avg),
        server.stats.packets_received.load(Ordering::Relaxed),
        server.stats.packets_sent.load(Ordering::Relaxed),
        server.cnxns().len() + extra_cnxns,
        server.stats.outstanding.load(Ordering::Relaxed).max(0),
        server.last_processed_zxid(),
        server.role().name()
    )
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
        })
        .unwrap_or(0)
}

/// (dataDir, dataLogDir) bytes, as `dirs` (and `/commands/dirs`, `conf`) report them.
pub fn sizes(server: &ZooKeeperServer) -> (u64, u64) {
    (dir_size(&server.snap_log.snap_dir), dir_size(&server.snap_log.log_dir))
}

/// `InetSocketAddress.toString` of an address without a host name: `/ip:port`.
pub fn java_address(a: &SocketAddr) -> String {
    format!("/{a}")
}

/// The connection a four-letter word came on, as `cons` shows it: no session, its one
/// packet received.
fn own_connection(me: &SocketAddr) -> String {
    format!(" {}[0](queued=0,recved=1,sent=0)", java_address(me))
}

/// `ServerCnxn.dumpConnectionInfo` (no newline).
fn connection_line(s: &mut String, c: &CnxnHandle, brief: bool) {
    let st = &c.stats;
    let _ = write!(
        s,
        " {}[1](queued={},recved={},sent={}",
        java_address(&c.remote),
        st.outstanding.load(Ordering::Relaxed),
        st.packets_received.load(Ordering::Relaxed),
        st.packets_sent.load(Ordering::Relaxed)
    );
    let sid = c.session_id.load(Ordering::Relaxed);
    if !brief && sid != 0 {
        let (min, avg, max) = st.latency();
        let _ = write!(
            s,
            ",sid=0x{:x},lop={},est={},to={}",
            sid,
            st.last_op.lock(),
            st.established_ms.load(Ordering::Relaxed),
            st.timeout.load(Ordering::Relaxed)
        );
        let cxid = st.last_cxid.load(Ordering::Relaxed);
        if cxid >= 0 {
            let _ = write!(s, ",lcxid=0x{cxid:x}");
        }
        let _ = write!(
            s,
            ",lzxid=0x{:x},lresp={},llat={},minlat={min},avglat={avg},maxlat={max}",
            st.last_zxid.load(Ordering::Relaxed),
            st.last_response_ms.load(Ordering::Relaxed),
            st.last_latency.load(Ordering::Relaxed)
        );
    }
    s.push(')');
}

/// `ExpiryQueue.dump`: "Sets (n)/(m):", then per expiry time (monotonic ms, printed as the
/// date it falls on) its elements.
fn expiry_dump(s: &mut String, server: &ZooKeeperServer, sets: &[(i64, Vec<String>)]) {
    let elems: usize = sets.iter().map(|(_, e)| e.len()).sum();
    let _ = writeln!(s, "Sets ({})/({elems}):", sets.len());
    let (now, wall) = (server.now_ms(), crate::clock::wall_ms());
    for (t, e) in sets {
        let _ = writeln!(s, "{} expire at {}:", e.len(), java_date(wall + (t - now)));
        for x in e {
            let _ = writeln!(s, "\t{x}");
        }
    }
}

/// `dump`: the session tracker, the ephemerals, the connections.
fn dump(server: &ZooKeeperServer, me: Option<SocketAddr>, s: &mut String) {
    s.push_str("SessionTracker dump:\n");
    if server.role().is_learner() {
        // `LearnerSessionTracker.dumpSessions`: the global sessions and their timeouts.
        let mut sessions = server.sessions();
        sessions.sort_unstable();
        let _ = writeln!(s, "Global Sessions({}):", sessions.len());
        for (id, to) in sessions {
            let _ = writeln!(s, "0x{id:x}\t{to}ms");
        }
    } else {
        s.push_str("Session ");
        let sets: Vec<(i64, Vec<String>)> = server
            .session_expiry_buckets()
            .into_iter()
            .map(|(t, ids)| (t, ids.into_iter().map(|id| format!("0x{id:x}")).collect()))
            .collect();
        expiry_dump(s, server, &sets);
    }
    let tree = server.tree();
    let eph: Vec<(i64, Vec<String>)> = tree.all_ephemerals().collect();
    drop(tree);
    let _ = writeln!(s, "ephemeral nodes dump:\nSessions with Ephemerals ({}):", eph.len());
    for (sid, paths) in eph {
        let _ = writeln!(s, "0x{sid:x}:");
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    // NIOServerCnxnFactory's connection expiry: a connection with a session expires with its
    // session's bucket; one without (this four-letter word's) after the sessionless timeout.
    s.push_str("Connections dump:\nConnections ");
    let buckets = server.session_expiry_buckets();
    let mut sets: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    if let Some(me) = me {
        let t = server.now_ms() + SESSIONLESS_CNXN_TIMEOUT_MS;
        sets.entry(t).or_default().push(format!("ip: {} sessionId: 0x0", java_address(&me)));
    }
    for c in server.cnxns() {
        let sid = c.session_id.load(Ordering::Relaxed);
        let t = buckets
            .iter()
            .find(|(_, ids)| ids.contains(&sid))
            .map_or(server.now_ms() + c.stats.timeout.load(Ordering::Relaxed), |(t, _)| *t);
        sets.entry(t).or_default().push(format!("ip: {} sessionId: 0x{sid:x}", java_address(&c.remote)));
    }
    expiry_dump(s, server, &sets.into_iter().collect::<Vec<_>>());
}

/// `zookeeper.nio.sessionlessCnxnTimeout`'s default.
const SESSIONLESS_CNXN_TIMEOUT_MS: i64 = 10_000;

/// `java.util.Date.toString` in UTC: "Sun Nov 22 05:11:48 UTC 2026".
pub fn java_date(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn java_dates() {
        assert_eq!(super::java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(super::java_date(1_795_324_308_000), "Sun Nov 22 05:11:48 UTC 2026");
        assert_eq!(super::java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }
}
