//! `GET /commands/<name>`: ZooKeeper 3.8's AdminServer commands (`server/admin/Commands.java`),
//! same names, aliases and JSON keys. Every answer carries `command` (the primary name) and
//! `error` (null when the command ran).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use crate::four_letter::ZK_VERSION;
use crate::zk_server::ZooKeeperServer;

/// (primary name, aliases).
pub const COMMANDS: &[(&str, &[&str])] = &[
    ("connection_stat_reset", &["crst"]),
    ("configuration", &["conf", "config"]),
    ("connections", &["cons"]),
    ("dirs", &[]),
    ("dump", &[]),
    ("environment", &["env", "envi"]),
    ("get_trace_mask", &["gtmk"]),
    ("hash", &[]),
    ("initial_configuration", &["icfg"]),
    ("is_read_only", &["isro"]),
    ("last_snapshot", &["lsnp"]),
    ("leader", &["lead"]),
    ("monitor", &["mntr"]),
    ("observer_connection_stat_reset", &["orst"]),
    ("ruok", &[]),
    ("set_trace_mask", &["stmk"]),
    ("server_stats", &["srvr"]),
    ("stats", &["stat"]),
    ("stat_reset", &["srst"]),
    ("observers", &["obsr"]),
    ("system_properties", &["sysp"]),
    ("voting_view", &[]),
    ("watches", &["wchc"]),
    ("watches_by_path", &["wchp"]),
    ("watch_summary", &["wchs"]),
    ("zabstate", &[]),
];

/// The primary name for a command or alias.
pub fn primary(name: &str) -> Option<&'static str> {
    COMMANDS.iter().find(|(p, a)| *p == name || a.contains(&name)).map(|(p, _)| *p)
}

fn sessions_by_cnxn(server: &ZooKeeperServer) -> std::collections::HashMap<u64, i64> {
    server.cnxns().iter().map(|c| (c.id, c.session_id.load(Ordering::Relaxed))).collect()
}

fn server_stats(server: &ZooKeeperServer) -> Value {
    let s = &server.stats;
    let (min, avg, max) = s.latency();
    json!({
        "packets_sent": s.packets_sent.load(Ordering::Relaxed),
        "packets_received": s.packets_received.load(Ordering::Relaxed),
        "fsync_threshold_exceed_count": server.metrics.fsync_slow.load(Ordering::Relaxed),
        "client_response_stats": {"last_buffer_size": s.last_response_size.load(Ordering::Relaxed), "min_buffer_size": -1, "max_buffer_size": -1},
        "data_dir_size": 0,
        "log_dir_size": 0,
        "last_processed_zxid": server.last_processed_zxid(),
        "outstanding_requests": server.outstanding_changes(),
        "server_state": "standalone",
        "avg_latency": avg,
        "max_latency": max,
        "min_latency": min,
        "num_alive_client_connections": server.cnxns().len(),
        "provider_null": false,
        "auth_failed_count": 0,
        "non_mtlsremote_conn_count": 0,
        "non_mtlslocal_conn_count": 0,
        "uptime": server.started.elapsed().as_millis() as u64,
    })
}

fn connection_info(server: &ZooKeeperServer) -> Vec<Value> {
    server
        .cnxns()
        .iter()
        .map(|c| {
            let st = &c.stats;
            json!({
                "remote_socket_address": c.remote.to_string(),
                "interest_ops": 1,
                "outstanding_requests": st.outstanding.load(Ordering::Relaxed),
                "packets_received": st.packets_received.load(Ordering::Relaxed),
                "packets_sent": st.packets_sent.load(Ordering::Relaxed),
                "session_id": format!("{:x}", c.session_id.load(Ordering::Relaxed)),
                "last_operation": *st.last_op.lock(),
                "session_timeout": st.timeout.load(Ordering::Relaxed),
                "last_cxid": format!("0x{:x}", st.last_cxid.load(Ordering::Relaxed)),
                "last_zxid": format!("0x{:x}", st.last_zxid.load(Ordering::Relaxed)),
                "established": st.established_ms.load(Ordering::Relaxed),
            })
        })
        .collect()
}

/// Runs a command; `None` when the name is unknown.
pub fn run(server: &ZooKeeperServer, name: &str) -> Option<Value> {
    let primary = primary(name)?;
    let mut m = Map::new();
    match primary {
        "ruok" => {}
        "is_read_only" => {
            m.insert("read_only".into(), json!(false));
        }
        "server_stats" | "stats" => {
            m.insert("version".into(), json!(ZK_VERSION));
            m.insert("read_only".into(), json!(false));
            m.insert("server_stats".into(), server_stats(server));
            m.insert(
                "client_response".into(),
                json!({"last_buffer_size": -1, "min_buffer_size": -1, "max_buffer_size": -1}),
            );
            m.insert("node_count".into(), json!(server.tree().node_count()));
            if primary == "stats" {
                m.insert("connections".into(), json!(connection_info(server)));
                m.insert("secure_connections".into(), json!([]));
            }
        }
        "connections" => {
            m.insert("connections".into(), json!(connection_info(server)));
            m.insert("secure_connections".into(), json!([]));
        }
        "connection_stat_reset" => {
            for c in server.cnxns() {
                c.stats.reset();
            }
        }
        "stat_reset" => server.stats.reset(),
        "configuration" => {
            let c = &server.config;
            let abs = |p: &std::path::Path| {
                std::path::absolute(p).unwrap_or_else(|_| p.to_owned()).join("version-2").display().to_string()
            };
            m.insert("client_port".into(), json!(c.client_port));
            m.insert("data_dir".into(), json!(abs(&c.data_dir)));
            m.insert("data_dir_size".into(), json!(0));
            m.insert("log_dir".into(), json!(abs(&c.data_log_dir)));
            m.insert("log_dir_size".into(), json!(0));
            m.insert("tick_time".into(), json!(c.tick_time));
            m.insert("max_client_cnxns".into(), json!(c.max_client_cnxns));
            m.insert("min_session_timeout".into(), json!(c.min_session_timeout));
            m.insert("max_session_timeout".into(), json!(c.max_session_timeout));
            m.insert("server_id".into(), json!(0));
            m.insert("client_port_listen_backlog".into(), json!(-1));
        }
        "dirs" => {
            m.insert("datadir_size".into(), json!(0));
            m.insert("logdir_size".into(), json!(0));
        }
        "dump" => {
            let tree = server.tree();
            let eph: BTreeMap<String, Vec<String>> = tree.all_ephemerals().map(|(s, p)| (format!("{s}"), p)).collect();
            m.insert("expiry_time_to_session_ids".into(), json!({}));
            m.insert("session_id_to_ephemeral_paths".into(), json!(eph));
        }
        "environment" => {
            m.insert("zookeeper.version".into(), json!(ZK_VERSION));
            m.insert("os.name".into(), json!(std::env::consts::OS));
            m.insert("os.arch".into(), json!(std::env::consts::ARCH));
            m.insert(
                "user.dir".into(),
                json!(std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()),
            );
        }
        "get_trace_mask" | "set_trace_mask" => {
            m.insert("tracemask".into(), json!(0));
        }
        "hash" => {
            let tree = server.tree();
            m.insert(
                "digests".into(),
                json!([{"zxid": tree.last_processed_zxid(), "digest_version": 2, "digest": tree.digest() as i64}]),
            );
        }
        "initial_configuration" => {
            m.insert("initial_configuration".into(), json!(""));
        }
        "last_snapshot" => {
            m.insert("zxid".into(), json!("-1"));
            m.insert("timestamp".into(), json!(-1));
        }
        "leader" => {
            m.insert("is_leader".into(), json!(false));
            m.insert("leader_id".into(), json!(-1));
            m.insert("leader_ip".into(), json!(""));
        }
        "monitor" => {
            let text = crate::four_letter::answer(server, "mntr");
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('\t') {
                    let k = k.strip_prefix("zk_").unwrap_or(k);
                    let v = v
                        .parse::<i64>()
                        .map(Value::from)
                        .or_else(|_| v.parse::<f64>().map(Value::from))
                        .unwrap_or_else(|_| json!(v));
                    m.insert(k.to_string(), v);
                }
            }
        }
        "observer_connection_stat_reset" => {}
        "observers" => {
            m.insert("synced_observers".into(), json!(0));
            m.insert("observers".into(), json!([]));
        }
        "system_properties" => {}
        "voting_view" => {
            m.insert("current_config".into(), json!({}));
        }
        "watches" => {
            let sessions = sessions_by_cnxn(server);
            let map: BTreeMap<String, Vec<String>> = server.tree().with_watches(|w| {
                w.data
                    .by_watcher()
                    .map(|(c, paths)| {
                        (sessions.get(&c).copied().unwrap_or(0).to_string(), paths.iter().cloned().collect())
                    })
                    .collect()
            });
            m.insert("session_id_to_watched_paths".into(), json!(map));
        }
        "watches_by_path" => {
            let sessions = sessions_by_cnxn(server);
            let map: BTreeMap<String, Vec<i64>> = server.tree().with_watches(|w| {
                w.data
                    .by_path()
                    .map(|(p, ws)| (p.to_string(), ws.iter().map(|c| sessions.get(c).copied().unwrap_or(0)).collect()))
                    .collect()
            });
            m.insert("path_to_session_ids".into(), json!(map));
        }
        "watch_summary" => {
            let (cnxns, paths, total) =
                server.tree().with_watches(|w| (w.data.watcher_count(), w.data.path_count(), w.data.watch_count()));
            m.insert("num_connections".into(), json!(cnxns));
            m.insert("num_paths".into(), json!(paths));
            m.insert("num_total_watches".into(), json!(total));
        }
        "zabstate" => {
            m.insert("voting".into(), json!(false));
            m.insert("zabstate".into(), json!(""));
        }
        _ => {}
    }
    m.insert("command".into(), json!(primary));
    m.insert("error".into(), Value::Null);
    Some(Value::Object(m))
}
