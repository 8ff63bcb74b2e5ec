//! What `mntr` and `/commands/monitor` print: `dumpMonitorValues` (version, server_state,
//! peer_state, observer_master_id), the gauges ZooKeeper registers for the server's role,
//! then [`ServerMetrics::dump`].
//!
//! Also the few recording helpers whose call sites should stay one line.

use std::sync::atomic::Ordering;

use zab_jute::txn::Txn;

use super::{MetricValue, ServerMetrics};
use crate::four_letter::ZK_VERSION;
use crate::zk_server::{Role, ZooKeeperServer};

/// The gauges in the order ZooKeeper 3.8.0 dumps them (its gauge map's order, as a leader
/// prints them; a standalone server or a follower prints a subset in the same order).
const GAUGE_ORDER: &[&str] = &[
    "ephemerals_count",
    "num_alive_connections",
    "avg_latency",
    "min_proposal_size",
    "outstanding_requests",
    "znode_count",
    "global_sessions",
    "non_mtls_remote_conn_count",
    "last_client_response_size",
    "packets_sent",
    "packets_received",
    "max_proposal_size",
    "max_client_response_size",
    "synced_followers",
    "connection_drop_probability",
    "watch_count",
    "synced_non_voting_followers",
    "synced_observers",
    "auth_failed_count",
    "min_latency",
    "max_file_descriptor_count",
    "approximate_data_size",
    "open_file_descriptor_count",
    "last_proposal_size",
    "pending_syncs",
    "leader_uptime",
    "local_sessions",
    "uptime",
    "max_latency",
    "outstanding_tls_handshake",
    "learners",
    "min_client_response_size",
    "non_mtls_local_conn_count",
    "quorum_size",
];

/// `QuorumPeer.getDetailedPeerState`: "leading - broadcast".
pub fn detailed_peer_state(server: &ZooKeeperServer) -> String {
    let (role, phase) = match server.peer().map(|p| p.get()) {
        Some(v) => (v.role, v.phase),
        None => {
            let role = match server.role {
                Role::Leader => zab_status::Role::Leading,
                Role::Follower => zab_status::Role::Following,
                Role::Observer => zab_status::Role::Observing,
                Role::Standalone => zab_status::Role::Standalone,
            };
            (role, zab_status::Phase::Broadcast)
        }
    };
    let state = match role {
        zab_status::Role::Leading => "leading",
        zab_status::Role::Following => "following",
        zab_status::Role::Observing => "observing",
        _ => "looking",
    };
    format!("{state} - {}", phase_name(phase))
}

/// `QuorumPeer.ZabState`, lower case.
pub fn phase_name(phase: zab_status::Phase) -> &'static str {
    match phase {
        zab_status::Phase::Discovery => "discovery",
        zab_status::Phase::Synchronization => "synchronization",
        zab_status::Phase::Broadcast => "broadcast",
        _ => "election",
    }
}

fn open_file_descriptors() -> i64 {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(-1)
}

/// The soft limit on open files (`UnixOperatingSystemMXBean.getMaxFileDescriptorCount`).
fn max_file_descriptors() -> i64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/limits") else { return -1 };
    text.lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// Every key of `mntr` for `server`, in ZooKeeper's order.
pub fn monitor(server: &ZooKeeperServer, sink: &mut dyn FnMut(String, MetricValue)) {
    sink("version".into(), MetricValue::Text(ZK_VERSION.into()));
    sink("server_state".into(), MetricValue::Text(server.role.name().into()));
    if server.role != Role::Standalone {
        sink("peer_state".into(), MetricValue::Text(detailed_peer_state(server)));
    }
    if server.role == Role::Observer {
        let leader = server.peer().and_then(|p| p.get().leader).map_or(-1, |l| l as i64);
        sink("observer_master_id".into(), MetricValue::Int(leader));
    }
    for (name, v) in gauges(server) {
        sink(name.to_string(), v);
    }
    server.metrics.dump(sink);
}

/// The gauges ZooKeeper registers for the server's role (`registerMetrics` of
/// ZooKeeperServer, QuorumZooKeeperServer and LeaderZooKeeperServer), in its order.
pub fn gauges(server: &ZooKeeperServer) -> Vec<(&'static str, MetricValue)> {
    use MetricValue::{Float, Int};
    let mut gauges: Vec<(&'static str, MetricValue)> = Vec::with_capacity(GAUGE_ORDER.len());
    {
        let tree = server.tree();
        let watches = tree.with_watches(|w| w.data.watch_count() + w.child.watch_count());
        gauges.push(("znode_count", Int(tree.node_count() as i64)));
        gauges.push(("watch_count", Int(watches as i64)));
        gauges.push(("ephemerals_count", Int(tree.ephemerals_count() as i64)));
        gauges.push(("approximate_data_size", Int(tree.approximate_data_size())));
    }
    let st = &server.stats;
    let (min, avg, max) = st.latency();
    let (last_rsp, min_rsp, max_rsp) = st.client_response.get();
    gauges.extend([
        ("avg_latency", Float(avg)),
        ("max_latency", Int(max)),
        ("min_latency", Int(min)),
        ("packets_received", Int(st.packets_received.load(Ordering::Relaxed) as i64)),
        ("packets_sent", Int(st.packets_sent.load(Ordering::Relaxed) as i64)),
        ("num_alive_connections", Int(server.cnxns().len() as i64)),
        ("outstanding_requests", Int(st.outstanding.load(Ordering::Relaxed).max(0))),
        ("uptime", Int(server.started.elapsed().as_millis() as i64)),
        ("global_sessions", Int(server.session_count() as i64)),
        // zab has no local sessions (localSessionsEnabled).
        ("local_sessions", Int(0)),
        ("open_file_descriptor_count", Int(open_file_descriptors())),
        ("max_file_descriptor_count", Int(max_file_descriptors())),
        // No connection throttle (BlueThrottle): nothing is ever dropped.
        ("connection_drop_probability", Float(0.0)),
        ("last_client_response_size", Int(last_rsp)),
        ("max_client_response_size", Int(max_rsp)),
        ("min_client_response_size", Int(min_rsp)),
        // No TLS on the client port.
        ("outstanding_tls_handshake", Int(0)),
        ("auth_failed_count", Int(st.auth_failed.load(Ordering::Relaxed) as i64)),
        ("non_mtls_remote_conn_count", Int(0)),
        ("non_mtls_local_conn_count", Int(0)),
    ]);
    if server.role != Role::Standalone {
        gauges.push(("quorum_size", Int(server.quorum_size() as i64)));
    }
    if server.role == Role::Leader {
        let (learners, synced, observers, pending) = server.learner_counts();
        let (last, min, max) = st.proposal_sizes.get();
        gauges.extend([
            ("learners", Int(learners as i64)),
            ("synced_followers", Int(synced as i64)),
            // zab's followers all vote (no reconfig to non-voting members).
            ("synced_non_voting_followers", Int(0)),
            ("synced_observers", Int(observers as i64)),
            ("pending_syncs", Int(pending as i64)),
            ("leader_uptime", Int(server.started.elapsed().as_millis() as i64)),
            ("last_proposal_size", Int(last)),
            ("max_proposal_size", Int(max)),
            ("min_proposal_size", Int(min)),
        ]);
    }
    gauges.sort_by_key(|(name, _)| GAUGE_ORDER.iter().position(|g| g == name).unwrap_or(usize::MAX));
    gauges
}

/// The data a committed txn wrote, per namespace (`DataTree.updateWriteStat` in createNode,
/// setData and deleteNode).
pub fn record_txn_writes(m: &ServerMetrics, txn: &Txn) {
    let len = |d: &Option<Vec<u8>>| d.as_ref().map_or(0, |d| d.len());
    match txn {
        Txn::Create(t) => m.record_write(&t.path, len(&t.data)),
        Txn::CreateTtl(t) => m.record_write(&t.path, len(&t.data)),
        Txn::CreateContainer(t) => m.record_write(&t.path, len(&t.data)),
        Txn::SetData(t) => m.record_write(&t.path, len(&t.data)),
        Txn::Delete(t) => m.record_write(&t.path, 0),
        Txn::Multi(subs) => {
            for (_, t) in subs {
                record_txn_writes(m, t);
            }
        }
        _ => {}
    }
}

/// A database restored from disk (`ZKDatabase.loadDataBase`): `dbinittime` in ms,
/// `startup_txns_loaded`, and the digest mismatches seen while replaying. zab-persistence
/// restores in one pass, so the snapshot's and the log's shares
/// (`startup_snap_load_time`, `startup_txns_load_time`) are not told apart.
pub fn record_restore(m: &ServerMetrics, took: std::time::Duration, r: &zab_persistence::snaplog::Restored) {
    m.dbinittime.add_ms(took);
    m.startup_txns_loaded.add(r.txns_replayed as i64);
    m.digest_mismatches_count.add(r.digest_mismatches as u64);
}

/// A committed txn applied here (`FinalRequestProcessor`): `propagation_latency`, from its
/// creation on the leader (wall clock) to now, when the clocks allow.
pub fn record_applied(m: &ServerMetrics, hdr: &zab_jute::txn::TxnHeader, now_ms: i64) {
    let latency = now_ms - hdr.time;
    if latency >= 0 {
        m.propagation_latency.add(latency);
    }
}

/// Watch events about to be delivered (`WatchManager.triggerWatch`): one data point per
/// trigger (a path and an event type; its events are adjacent) with the number of watchers
/// it fired, in `node_{created,deleted,changed,children}_watch_count`.
pub fn record_watch_events(m: &ServerMetrics, events: &[zab_datatree::WatchEvent]) {
    use zab_jute::codes::event as event_type;
    let mut i = 0;
    while let Some(first) = events.get(i) {
        let n =
            events[i..].iter().take_while(|e| e.event_type == first.event_type && e.path == first.path).count().max(1);
        let summary = match first.event_type {
            event_type::NODE_CREATED => Some(&m.node_created_watch_count),
            event_type::NODE_DELETED => Some(&m.node_deleted_watch_count),
            event_type::NODE_DATA_CHANGED => Some(&m.node_changed_watch_count),
            event_type::NODE_CHILDREN_CHANGED => Some(&m.node_children_watch_count),
            _ => None,
        };
        if let Some(s) = summary {
            s.add(n as i64);
        }
        i += n;
    }
}

/// One group commit of the sync thread: `n` txns logged with one fsync.
pub fn record_sync_batch(m: &ServerMetrics, n: u64) {
    m.sync_processor_request_queued.add(n);
    m.sync_processor_batch_size.add(n as i64);
}

/// The wall-clock time in a proposal's TxnHeader (clientId, cxid, zxid, then time).
fn txn_time(payload: &[u8]) -> Option<i64> {
    let b: [u8; 8] = payload.get(20..28)?.try_into().ok()?;
    Some(i64::from_be_bytes(b))
}

/// `Request.logLatency`: the time since the txn was created (wall clock, as ZooKeeper;
/// dropped when the clock went back).
fn since_txn(payload: Option<&std::sync::Arc<Vec<u8>>>) -> Option<i64> {
    let latency = crate::zk_server::wall_ms() - txn_time(payload?)?;
    (latency >= 0).then_some(latency)
}

/// The leader commits a proposal (`Leader.tryToCommit`): `commit_count`, and
/// `quorum_ack_latency` from the txn's creation to its quorum of ACKs.
pub fn leader_commit(m: &ServerMetrics, proposal: Option<&std::sync::Arc<Vec<u8>>>) {
    m.commit_count.inc();
    if let Some(latency) = since_txn(proposal) {
        m.quorum_ack_latency.add(latency);
    }
}

/// A learner's ACK reached the leader (`Leader.processAck`): `ack_latency` for one zxid in
/// `ackLoggingFrequency`.
pub fn leader_ack(m: &ServerMetrics, sid: u64, zxid: i64, proposal: Option<&std::sync::Arc<Vec<u8>>>) {
    if zxid % super::ACK_LOGGING_FREQUENCY == 0 {
        if let Some(latency) = since_txn(proposal) {
            m.ack_latency.add_id(sid, latency);
        }
    }
}

/// The leader chose how to synchronise a learner (`LearnerHandler.syncFollower`): SNAP
/// counts as `snap_count`, DIFF and TRUNC as `diff_count`; `in_flight` syncs (this one
/// included) go to `inflight_snap_count` / `inflight_diff_count`.
pub fn learner_sync(m: &ServerMetrics, mode: &str, in_flight: usize) {
    if mode == "SNAP" {
        m.snap_count.inc();
        m.inflight_snap_count.add(in_flight as i64);
    } else {
        m.diff_count.inc();
        m.inflight_diff_count.add(in_flight as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_order_has_no_duplicates() {
        let set: std::collections::HashSet<&&str> = GAUGE_ORDER.iter().collect();
        assert_eq!(set.len(), GAUGE_ORDER.len());
    }

    #[test]
    fn txn_writes_by_namespace() {
        use zab_jute::txn::{CreateTxn, DeleteTxn, SetDataTxn};
        let m = ServerMetrics::new();
        let create = Txn::Create(CreateTxn {
            path: "/admin/a".into(),
            data: Some(b"root".to_vec()),
            acl: vec![],
            ephemeral: false,
            parent_c_version: 0,
        });
        record_txn_writes(&m, &create);
        record_txn_writes(
            &m,
            &Txn::Multi(vec![
                (5, Txn::SetData(SetDataTxn { path: "/admin".into(), data: None, version: 0 })),
                (2, Txn::Delete(DeleteTxn { path: "/other/x".into() })),
            ]),
        );
        let admin = m.write_per_namespace.get("admin").map(|s| s.snapshot());
        assert_eq!(admin.map(|s| (s.count, s.sum)), Some((2, 8 + 4 + 6)));
        assert_eq!(m.write_per_namespace.get("other").map(|s| s.snapshot().sum), Some(8));
        let mut bytes = vec![0u8; 36];
        bytes[20..28].copy_from_slice(&(crate::zk_server::wall_ms() - 5).to_be_bytes());
        let payload = std::sync::Arc::new(bytes);
        leader_commit(&m, Some(&payload));
        leader_commit(&m, None);
        assert_eq!(m.commit_count.get(), 2);
        assert_eq!(m.quorum_ack_latency.snapshot().count, 1);
        assert!(m.quorum_ack_latency.snapshot().min >= 5);
        leader_ack(&m, 2, 4_294_967_999, Some(&payload));
        assert_eq!(m.ack_latency.entries().count(), 0, "only one zxid in 1000");
        leader_ack(&m, 2, 4_294_968_000, Some(&payload));
        assert_eq!(m.ack_latency.get("2").map(|s| s.snapshot().count), Some(1));
        learner_sync(&m, "SNAP", 1);
        learner_sync(&m, "TRUNC", 2);
        learner_sync(&m, "DIFF", 1);
        assert_eq!((m.snap_count.get(), m.diff_count.get()), (1, 2));
        assert_eq!(m.inflight_diff_count.snapshot().max, 2);
        record_sync_batch(&m, 3);
        assert_eq!(m.sync_processor_request_queued.get(), 3);
        assert_eq!(m.sync_processor_batch_size.snapshot().max, 3);
    }
}
