//! `GET /metrics`: Prometheus text format. Names follow ZooKeeper's Prometheus provider
//! where ZooKeeper has the same metric (znode_count, watch_count, ...), so existing
//! dashboards keep working; zab's own histograms are prefixed `zab_`.
//!
//! Hot-path recording (request latency, fsync, snapshot) is a few atomic adds; the gauges
//! are read from the server when scraped, from snapshots of state (never a lock the request
//! path holds for long).

use std::sync::atomic::Ordering;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::zk_server::ZooKeeperServer;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub op: &'static str,
}

/// The histograms updated on the request path.
pub struct Metrics {
    pub request: Family<OpLabels, Histogram>,
    pub fsync: Histogram,
    pub snapshot: Histogram,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            request: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00002, 2.0, 18))),
            fsync: Histogram::new(exponential_buckets(0.00005, 2.0, 16)),
            snapshot: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    registry.register(name, help, g);
}

/// Renders every metric.
pub fn render(server: &ZooKeeperServer) -> String {
    let mut r = Registry::default();
    {
        let tree = server.tree();
        let watches = tree.with_watches(|w| w.data.watch_count() + w.child.watch_count());
        gauge(&mut r, "znode_count", "Number of znodes", tree.node_count() as i64);
        gauge(&mut r, "watch_count", "Number of watches", watches as i64);
        gauge(&mut r, "ephemerals_count", "Number of ephemeral znodes", tree.ephemerals_count() as i64);
        gauge(
            &mut r,
            "approximate_data_size",
            "Approximate size of znode paths and data in bytes",
            tree.approximate_data_size(),
        );
        gauge(&mut r, "last_processed_zxid", "Last zxid applied to the tree", tree.last_processed_zxid());
    }
    let s = &server.stats;
    gauge(&mut r, "outstanding_requests", "Requests waiting in the pipeline", server.outstanding_changes() as i64);
    gauge(&mut r, "num_alive_connections", "Client connections", server.cnxns().len() as i64);
    gauge(&mut r, "global_sessions", "Sessions", server.session_count() as i64);
    gauge(&mut r, "packets_received", "Packets received", s.packets_received.load(Ordering::Relaxed) as i64);
    gauge(&mut r, "packets_sent", "Packets sent", s.packets_sent.load(Ordering::Relaxed) as i64);
    let (learners, synced, synced_observers, pending) = server.learner_counts();
    gauge(&mut r, "quorum_size", "Voting members (1 when standalone)", server.quorum_size() as i64);
    gauge(&mut r, "learners", "Learners connected to this leader", learners as i64);
    gauge(&mut r, "synced_followers", "Followers in sync with this leader", synced as i64);
    gauge(&mut r, "synced_observers", "Observers in sync with this leader", synced_observers as i64);
    gauge(&mut r, "pending_syncs", "Learners being synchronised", pending as i64);
    gauge(&mut r, "last_client_response_size", "Size of the last reply", s.last_response_size.load(Ordering::Relaxed));
    let m = &server.metrics;
    gauge(&mut r, "fsynctime_count", "Transaction log fsyncs", m.fsync_count.load(Ordering::Relaxed) as i64);
    gauge(
        &mut r,
        "fsynctime_sum",
        "Milliseconds spent in transaction log fsyncs",
        (m.fsync_micros.load(Ordering::Relaxed) / 1000) as i64,
    );
    gauge(
        &mut r,
        "fsync_threshold_exceed_count",
        "fsyncs slower than fsync.warningthresholdms",
        m.fsync_slow.load(Ordering::Relaxed) as i64,
    );
    gauge(&mut r, "snapshottime_count", "Snapshots written", m.snapshot_count.load(Ordering::Relaxed) as i64);
    gauge(
        &mut r,
        "snapshottime_sum",
        "Milliseconds spent writing snapshots",
        m.snapshot_millis.load(Ordering::Relaxed) as i64,
    );
    gauge(
        &mut r,
        "digest_mismatches_count",
        "Txns whose applied tree digest differed from the logged one",
        m.digest_mismatches.load(Ordering::Relaxed) as i64,
    );
    gauge(&mut r, "write_count", "Txns applied", s.writes.load(Ordering::Relaxed) as i64);
    let reg = &server.metrics_registry;
    r.register(
        "zab_request_latency_seconds",
        "Request latency by opcode, from the request's arrival to its reply",
        reg.request.clone(),
    );
    r.register("zab_fsync_seconds", "Transaction log fsync latency", reg.fsync.clone());
    r.register("zab_snapshot_seconds", "Time to write a snapshot", reg.snapshot.clone());
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
        out.clear();
    }
    out
}
