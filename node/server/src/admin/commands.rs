//! `GET /commands/<name>`: ZooKeeper 3.8's AdminServer commands (`server/admin/Commands.java`),
//! same names, aliases and JSON keys. Every answer carries `command` (the primary name) and
//! `error` (null when the command ran).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use super::quorum;
use crate::environment::ZK_VERSION;
use crate::zk_server::{Role, ZooKeeperServer};

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
    let (data, log) = crate::four_letter::sizes(server);
    json!({
        "packets_sent": s.packets_sent.load(Ordering::Relaxed),
        "packets_received": s.packets_received.load(Ordering::Relaxed),
        "fsync_threshold_exceed_count": server.metrics.fsync_threshold_exceed_count.get(),
        "client_response_stats": response_stats(server),
        "data_dir_size": data,
        "log_dir_size": log,
        "provider_null": false,
        "server_state": server.role().name(),
        "last_processed_zxid": server.last_processed_zxid(),
        "outstanding_requests": server.outstanding_changes(),
        "avg_latency": avg,
        "max_latency": max,
        "min_latency": min,
        "num_alive_client_connections": server.cnxns().len(),
        "uptime": server.started.elapsed().as_millis() as u64,
        "auth_failed_count": 0,
        "non_mtlsremote_conn_count": 0,
        "non_mtlslocal_conn_count": 0,
    })
}

fn response_stats(server: &ZooKeeperServer) -> Value {
    buffer_stats(&server.stats.client_response)
}

/// `BufferStats` as Jackson shows it.
fn buffer_stats(b: &crate::metrics::BufferStats) -> Value {
    let (last, min, max) = b.get();
    json!({"last_buffer_size": last, "min_buffer_size": min, "max_buffer_size": max})
}

/// Per-connection details; `brief` keeps only what `stat` shows.
fn connection_info(server: &ZooKeeperServer, brief: bool) -> Vec<Value> {
    server
        .cnxns()
        .iter()
        .map(|c| {
            let st = &c.stats;
            let mut v = json!({
                "remote_socket_address": c.remote.to_string(),
                "interest_ops": 1,
                "outstanding_requests": st.outstanding.load(Ordering::Relaxed),
                "packets_received": st.packets_received.load(Ordering::Relaxed),
                "packets_sent": st.packets_sent.load(Ordering::Relaxed),
            });
            if !brief {
                if let Value::Object(m) = &mut v {
                    m.insert("session_id".into(), json!(c.session_id.load(Ordering::Relaxed)));
                    m.insert("last_operation".into(), json!(*st.last_op.lock()));
                    m.insert("established".into(), json!(st.established_ms.load(Ordering::Relaxed)));
                    m.insert("session_timeout".into(), json!(st.timeout.load(Ordering::Relaxed)));
                    m.insert("last_cxid".into(), json!(st.last_cxid.load(Ordering::Relaxed)));
                    m.insert("last_zxid".into(), json!(st.last_zxid.load(Ordering::Relaxed)));
                    let (min, avg, max) = st.latency();
                    m.insert("last_response_time".into(), json!(st.last_response_ms.load(Ordering::Relaxed)));
                    m.insert("last_latency".into(), json!(st.last_latency.load(Ordering::Relaxed)));
                    m.insert("min_latency".into(), json!(min));
                    m.insert("avg_latency".into(), json!(avg));
                    m.insert("max_latency".into(), json!(max));
                }
            }
            v
        })
        .collect()
}

/// What ZooKeeper returns when a command is known but not available in this mode.
fn error_only(primary: &str, error: &str) -> Value {
    json!({"error": error, "command": primary})
}

/// Runs a command; an unknown name gets ZooKeeper's JSON error (still HTTP 200).
pub fn run(server: &ZooKeeperServer, name: &str, query: &std::collections::HashMap<String, String>) -> Value {
    let Some(primary) = primary(name) else {
        return json!({"command": name, "error": format!("Unknown command: {name}")});
    };
    let mut m = Map::new();
    match primary {
        "ruok" | "observer_connection_stat_reset" => {}
        "is_read_only" => {
            m.insert("read_only".into(), json!(false));
        }
        "server_stats" | "stats" => {
            m.insert("version".into(), json!(ZK_VERSION));
            m.insert("read_only".into(), json!(false));
            m.insert("server_stats".into(), server_stats(server));
            m.insert("client_response".into(), response_stats(server));
            if server.role() == Role::Leader {
                m.insert("proposal_stats".into(), buffer_stats(&server.stats.proposal_sizes));
            }
            m.insert("node_count".into(), json!(server.tree().node_count()));
            if primary == "stats" {
                m.insert("connections".into(), json!(connection_info(server, true)));
                m.insert("secure_connections".into(), json!([]));
            }
        }
        "connections" => {
            m.insert("connections".into(), json!(connection_info(server, false)));
            m.insert("secure_connections".into(), json!([]));
        }
        "connection_stat_reset" => {
            for c in server.cnxns() {
                c.stats.reset();
            }
        }
        "stat_reset" => {
            // `ServerStats.reset`, which resets ZooKeeper's ServerMetrics too.
            server.stats.reset();
            server.metrics.reset();
        }
        "configuration" => {
            let c = &server.config;
            m.insert("client_port".into(), json!(c.client_port));
            m.insert("data_dir".into(), json!(server.snap_log.snap_dir.display().to_string()));
            m.insert("data_log_dir".into(), json!(server.snap_log.log_dir.display().to_string()));
            m.insert("tick_time".into(), json!(c.tick_time));
            m.insert("max_client_cnxns".into(), json!(c.max_client_cnxns));
            m.insert("min_session_timeout".into(), json!(c.min_session_timeout));
            m.insert("max_session_timeout".into(), json!(c.max_session_timeout));
            m.insert("server_id".into(), json!(if c.servers.is_empty() { 0 } else { c.server_id }));
            m.insert("client_port_listen_backlog".into(), json!(-1));
        }
        "dirs" => {
            let (data, log) = crate::four_letter::sizes(server);
            m.insert("datadir_size".into(), json!(data));
            m.insert("logdir_size".into(), json!(log));
        }
        "dump" => {
            // A learner expires no sessions (the leader does): `LearnerSessionTracker`'s
            // expiry map is empty.
            let expiry: BTreeMap<String, Vec<i64>> = if server.role().is_learner() {
                BTreeMap::new()
            } else {
                server.session_expiry_buckets().into_iter().map(|(t, ids)| (t.to_string(), ids)).collect()
            };
            let tree = server.tree();
            let eph: BTreeMap<String, Vec<String>> = tree.all_ephemerals().map(|(s, p)| (s.to_string(), p)).collect();
            m.insert("expiry_time_to_session_ids".into(), json!(expiry));
            m.insert("session_id_to_ephemeral_paths".into(), json!(eph));
        }
        "environment" => {
            for (k, v) in crate::environment::environment() {
                m.insert(k.into(), json!(v));
            }
        }
        "get_trace_mask" => {
            m.insert("tracemask".into(), json!(server.trace_mask.load(Ordering::Relaxed)));
        }
        "set_trace_mask" => match query.get("traceMask") {
            None => return error_only(primary, "setTraceMask requires long traceMask argument"),
            Some(v) => match v.parse::<i64>() {
                Ok(mask) => {
                    server.trace_mask.store(mask, Ordering::Relaxed);
                    m.insert("tracemask".into(), json!(mask));
                }
                Err(_) => {
                    return error_only(primary, &format!("setTraceMask requires long traceMask argument, got {v}"))
                }
            },
        },
        "hash" => {
            let tree = server.tree();
            m.insert(
                "digests".into(),
                json!([{"zxid": tree.last_processed_zxid(), "digest": tree.digest() as i64, "digest_version": 2}]),
            );
        }
        "initial_configuration" => {
            // `QuorumPeer.getInitialConfig`: the zoo.cfg text standalone; a quorum peer
            // started from a static configuration keeps none (null).
            let text = match server.role() {
                Role::Standalone => {
                    json!(server
                        .config
                        .source
                        .as_ref()
                        .and_then(|p| std::fs::read_to_string(p).ok())
                        .unwrap_or_default())
                }
                _ => Value::Null,
            };
            m.insert("initial_configuration".into(), text);
        }
        "last_snapshot" => {
            let (zxid, secs) = *server.last_snapshot.lock();
            m.insert("zxid".into(), json!(format!("{:x}", zxid)));
            m.insert("timestamp".into(), json!(secs));
        }
        "leader" => match quorum::leader(server) {
            Some(v) => {
                for (k, v) in v {
                    m.insert(k, v);
                }
            }
            None => return error_only(primary, "server is not initialized"),
        },
        "monitor" => crate::monitor::monitor(server, &mut |k, v| {
            m.insert(k, v.to_json());
        }),
        "observers" => {
            let observers = quorum::observers(server);
            m.insert("synced_observers".into(), json!(observers.len()));
            m.insert("observers".into(), json!(observers));
        }
        "system_properties" => {
            // zab has no JVM; these are the ZooKeeper settings it runs with, under the names
            // ZooKeeper copies them to.
            let c = &server.config;
            let props: BTreeMap<String, String> = [
                ("zookeeper.jute.maxbuffer", c.max_buffer.to_string()),
                ("zookeeper.extendedTypesEnabled", c.extended_types.to_string()),
                ("zookeeper.snapCount", c.snap_count.to_string()),
                ("zookeeper.commitLogCount", c.commit_log_count.to_string()),
                ("zookeeper.forceSync", if c.force_sync { "yes".into() } else { "no".into() }),
                ("zookeeper.preAllocSize", c.pre_alloc_kb.to_string()),
                ("zookeeper.admin.enableServer", c.admin_enabled.to_string()),
                ("zookeeper.admin.serverPort", c.admin_port.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            for (k, v) in props {
                m.insert(k, json!(v));
            }
        }
        "voting_view" => {
            m.insert("current_config".into(), quorum::voting_view(server));
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
        "zabstate" => match quorum::zabstate(server) {
            Some(v) => {
                for (k, v) in v {
                    m.insert(k, v);
                }
            }
            None => {
                m.insert("voting".into(), json!(false));
                m.insert("zabstate".into(), json!(""));
            }
        },
        _ => {}
    }
    m.insert("command".into(), json!(primary));
    m.insert("error".into(), Value::Null);
    Value::Object(m)
}

/// `GET /commands`: the HTML list of links ZooKeeper's CommandListServlet prints.
pub fn link_list() -> String {
    let mut names: Vec<&str> = COMMANDS.iter().map(|(p, _)| *p).collect();
    names.sort_unstable();
    names.iter().map(|n| format!("<a href=\"/commands/{n}\">{n}</a>\n<br/>\n")).collect()
}
