//! What `mntr` and `/commands/monitor` print: `dumpMonitorValues` (version, server_state,
//! peer_state, observer_master_id), the gauges ZooKeeper registers for the server's role,
//! then [`ServerMetrics::dump`](crate::metrics::ServerMetrics::dump).
//!
//! It reads the server ([`ZooKeeperServer`]), so it sits above it, beside the four-letter
//! words and the AdminServer that print it; [`crate::metrics`] (the registry and its
//! recording helpers) stays a leaf that reads nothing of the server. It must never change
//! the server's state: a scrape only reads.

use std::sync::atomic::Ordering;

use crate::environment::ZK_VERSION;
use crate::metrics::MetricValue;
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
            let role = match server.role() {
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
    sink("server_state".into(), MetricValue::Text(server.role().name().into()));
    if server.role() != Role::Standalone {
        sink("peer_state".into(), MetricValue::Text(detailed_peer_state(server)));
    }
    if server.role() == Role::Observer {
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
    if server.role() != Role::Standalone {
        gauges.push(("quorum_size", Int(server.quorum_size() as i64)));
    }
    if server.role() == Role::Leader {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_order_has_no_duplicates() {
        let set: std::collections::HashSet<&&str> = GAUGE_ORDER.iter().collect();
        assert_eq!(set.len(), GAUGE_ORDER.len());
    }
}
