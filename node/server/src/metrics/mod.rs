//! ZooKeeper's `ServerMetrics`: every counter, summary and summary set ZooKeeper 3.8
//! registers, under its names, in the order its DefaultMetricsProvider dumps them
//! (counters, BASIC summaries, ADVANCED summaries, BASIC summary sets, ADVANCED summary
//! sets; within each kind the order of ZooKeeper's hash maps, as a 3.8.0 server prints it).
//!
//! One table ([`ServerMetrics::dump`]) feeds `/commands/monitor` (JSON), the `mntr`
//! four-letter word (`zk_` text) and `/metrics` (Prometheus text, see
//! [`crate::admin::metrics`]); [`crate::monitor`] adds the values ZooKeeper computes when
//! asked (`dumpMonitorValues` and the gauges). [`record`] holds the one-line recording
//! helpers, [`histograms`] zab's own Prometheus histograms.
//!
//! A leaf: nothing here imports the server, the peer runtime or the configuration (only
//! [`crate::clock`]), so every layer can record into it without an import cycle.
//!
//! As in ZooKeeper the registry is process-wide: one per member, shared by the servers of
//! all its epochs (it lives in [`crate::ServerConfig::metrics`]), reset by `srst`. Recording is
//! an atomic add (summaries: a few), never a lock or an allocation on the request path.
//!
//! Some metrics name mechanisms zab does not have (a response cache, a request throttler,
//! Netty, the JVM, CommitProcessor's queues...): they are registered so the key set is
//! ZooKeeper's, and stay 0. e2e/admin/README.md lists them.

pub mod histograms;
pub mod record;
pub mod set;
pub mod summary;
pub mod value;

use std::sync::atomic::{AtomicU64, Ordering};

pub use set::SummarySet;
pub use summary::{BufferStats, Summary};
pub use value::{java_double, MetricValue};

/// A ZooKeeper `Counter` (`SimpleCounter`).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// The kinds of ZooKeeper's metrics, as `/metrics` types them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    /// BASIC: avg/min/max/cnt/sum; Prometheus: the median, `_count`, `_sum`.
    Summary,
    /// ADVANCED: also p50/p95/p99/p999; Prometheus: quantiles 0.5, 0.9, 0.99.
    PercentileSummary,
}

/// Keys a namespace set holds (top-level znodes).
const NAMESPACES: usize = 1024;
/// Keys a per-server set holds (server ids).
const SERVERS: usize = 256;

macro_rules! server_metrics {
    (
        counters { $($c:ident),* $(,)? }
        summaries { $($s:ident),* $(,)? }
        percentile_summaries { $($p:ident),* $(,)? }
        summary_sets { $($bs:ident: $bcap:expr),* $(,)? }
        percentile_summary_sets { $($ps:ident: $pcap:expr),* $(,)? }
    ) => {
        /// ZooKeeper 3.8's `ServerMetrics`, field for field (the field is the metric's name).
        #[derive(Debug)]
        pub struct ServerMetrics {
            $(pub $c: Counter,)*
            $(pub $s: Summary,)*
            $(pub $p: Summary,)*
            $(pub $bs: SummarySet,)*
            $(pub $ps: SummarySet,)*
            /// fsyncs over `fsync.warningthresholdms` (ZooKeeper's ServerStats
            /// `fsync_threshold_exceed_count`, shown by srvr).
            pub fsync_threshold_exceed_count: Counter,
        }

        impl ServerMetrics {
            pub fn new() -> ServerMetrics {
                ServerMetrics {
                    $($c: Counter::default(),)*
                    $($s: Summary::basic(),)*
                    $($p: Summary::percentile(),)*
                    $($bs: SummarySet::basic($bcap),)*
                    $($ps: SummarySet::percentile($pcap),)*
                    fsync_threshold_exceed_count: Counter::default(),
                }
            }

            /// The counters, in ZooKeeper's dump order.
            pub fn counters(&self) -> [(&'static str, &Counter); [$(stringify!($c)),*].len()] {
                [$((stringify!($c), &self.$c)),*]
            }

            /// The summaries (BASIC, then ADVANCED), in ZooKeeper's dump order.
            pub fn summaries(&self) -> [(&'static str, &Summary); [$(stringify!($s)),* $(, stringify!($p))*].len()] {
                [$((stringify!($s), &self.$s),)* $((stringify!($p), &self.$p)),*]
            }

            /// The summary sets (BASIC, then ADVANCED), in ZooKeeper's dump order.
            pub fn summary_sets(&self) -> [(&'static str, &SummarySet); [$(stringify!($bs)),* $(, stringify!($ps))*].len()] {
                [$((stringify!($bs), &self.$bs),)* $((stringify!($ps), &self.$ps)),*]
            }
        }
    };
}

server_metrics! {
    counters {
        proposal_count, watch_bytes, outstanding_changes_removed, throttled_ops, stale_requests_dropped,
        large_requests_rejected, insecure_admin_count, connection_rejected, cnxn_closed_without_zk_server_running,
        sessionless_connections_expired, looking_count, dead_watchers_queued, stale_requests, connection_drop_count,
        learner_proposal_received_count, digest_mismatches_count, dead_watchers_cleared, response_packet_cache_hits,
        bytes_received_count, add_dead_watcher_stall_time, request_throttle_wait_count,
        requests_not_forwarded_to_commit_processor, response_packet_cache_misses, ensemble_auth_success,
        prep_processor_request_queued, learner_commit_received_count, stale_replies, connection_request_count,
        response_bytes, ensemble_auth_fail, diff_count, response_packet_get_children_cache_misses,
        connection_revalidate_count, quit_leading_due_to_disloyal_voter, snap_count, unrecoverable_error_count,
        unsuccessful_handshake, commit_count, stale_sessions_expired, response_packet_get_children_cache_hits,
        sync_processor_request_queued, outstanding_changes_queued, request_commit_queued, ensemble_auth_skip,
        skip_learner_request_to_next_processor_count, tls_handshake_exceeded, revalidate_count,
    }
    summaries {
        socket_closing_time, proposal_process_time, leader_unavailable_time, node_created_watch_count,
        session_queues_drained, write_commit_proc_req_queued, connection_token_deficit, read_commit_proc_req_queued,
        node_deleted_watch_count, startup_txns_load_time, sync_processor_queue_size, follower_sync_time,
        prep_processor_queue_size, fsynctime, inflight_snap_count, reads_issued_from_session_queue,
        learner_request_processor_queue_size, snapshottime, unavailable_time, startup_txns_loaded,
        reads_after_write_in_session_queue, requests_in_session_queue, write_commit_proc_issued, prep_process_time,
        pending_session_queue_size, time_waiting_empty_pool_in_commit_processor_read_ms, commit_process_time,
        dbinittime, inflight_diff_count, netty_queued_buffer_capacity, election_time, commit_commit_proc_req_queued,
        sync_processor_batch_size, node_children_watch_count, write_batch_time_in_commit_processor,
        read_commit_proc_issued, concurrent_request_processing_in_commit_processor, observer_sync_time,
        node_changed_watch_count, sync_process_time, startup_snap_load_time,
    }
    percentile_summaries {
        prep_processor_queue_time_ms, jvm_pause_time_ms, close_session_prep_time, read_commitproc_time_ms,
        updatelatency, local_write_committed_time_ms, request_throttle_queue_time_ms, readlatency,
        quorum_ack_latency, om_commit_process_time_ms, read_final_proc_time_ms, commit_propagation_latency,
        dead_watchers_cleaner_latency, write_final_proc_time_ms, proposal_ack_creation_latency, proposal_latency,
        om_proposal_process_time_ms, sync_processor_queue_and_flush_time_ms, propagation_latency,
        server_write_committed_time_ms, sync_processor_queue_time_ms, sync_processor_queue_flush_time_ms,
        write_commitproc_time_ms,
    }
    summary_sets {
        learner_handler_qp_size: SERVERS, read_per_namespace: NAMESPACES, write_per_namespace: NAMESPACES,
    }
    percentile_summary_sets {
        learner_handler_qp_time_ms: SERVERS, ack_latency: SERVERS,
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        ServerMetrics::new()
    }
}

/// `Leader.ackLoggingFrequency` (`zookeeper.leader.ackLoggingFrequency`, default 1000): the
/// leader records an ACK's latency for one zxid in that many.
pub const ACK_LOGGING_FREQUENCY: i64 = 1000;

/// `DataTree.STAT_OVERHEAD_BYTES`: what a read adds to a path's and data's bytes in
/// `read_per_namespace`.
pub const STAT_OVERHEAD_BYTES: i64 = 6 * 8 + 5 * 4;

/// `PathUtils.getTopNamespace`: the first component of an absolute path, if it has one.
pub fn top_namespace(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let ns = rest.split('/').next()?;
    (!ns.is_empty()).then_some(ns)
}

impl ServerMetrics {
    /// `resetAll` (`srst`, `stat_reset`).
    pub fn reset(&self) {
        for (_, c) in self.counters() {
            c.reset();
        }
        for (_, s) in self.summaries() {
            s.reset();
        }
        for (_, s) in self.summary_sets() {
            s.reset();
        }
    }

    /// Every counter, summary and summary set under ZooKeeper's keys
    /// (`DefaultMetricsProvider.dump`, less the gauges: see [`crate::monitor`]).
    pub fn dump(&self, sink: &mut dyn FnMut(String, MetricValue)) {
        for (name, c) in self.counters() {
            sink(name.to_string(), MetricValue::Int(c.get() as i64));
        }
        for (name, s) in self.summaries() {
            s.values(name, sink);
        }
        for (name, s) in self.summary_sets() {
            s.values(name, sink);
        }
    }

    /// A transaction-log fsync (`FileTxnLog.commit`): `fsynctime` in ms.
    pub fn record_fsync(&self, d: std::time::Duration) {
        self.fsynctime.add_ms(d);
    }

    /// A snapshot written (`ZooKeeperServer.takeSnapshot`): `snapshottime` in ms.
    pub fn record_snapshot(&self, d: std::time::Duration) {
        self.snapshottime.add_ms(d);
    }

    /// A read of `bytes` of data at `path` (`DataTree.updateReadStat`).
    pub fn record_read(&self, path: &str, bytes: usize) {
        if let Some(ns) = top_namespace(path) {
            self.read_per_namespace.add(ns, (path.len() + bytes) as i64 + STAT_OVERHEAD_BYTES);
        }
    }

    /// A write of `bytes` of data at `path` (`DataTree.updateWriteStat`).
    pub fn record_write(&self, path: &str, bytes: usize) {
        if let Some(ns) = top_namespace(path) {
            self.write_per_namespace.add(ns, (path.len() + bytes) as i64);
        }
    }

    /// A packet a learner received from its leader in broadcast (`Follower.processPacket`,
    /// `Observer.processPacket`): PROPOSALs also give `proposal_latency`, from the txn's
    /// creation on the leader (wall clock) to its arrival here.
    pub fn learner_packet(&self, p: &zab_jute::quorum::QuorumPacket, observer: bool) {
        use zab_jute::quorum::packet;
        match p.packet_type {
            packet::PROPOSAL => {
                self.learner_proposal_received_count.inc();
                let time = p.data.as_deref().and_then(|d| d.get(20..28)).and_then(|b| b.try_into().ok());
                if let Some(latency) = time.map(|t| crate::clock::wall_ms() - i64::from_be_bytes(t)) {
                    if latency >= 0 {
                        self.proposal_latency.add(latency);
                    }
                }
            }
            packet::COMMIT => self.learner_commit_received_count.inc(),
            packet::INFORM if observer => self.learner_commit_received_count.inc(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_zookeepers_metrics() {
        let m = ServerMetrics::new();
        assert_eq!(m.counters().len(), 47);
        assert_eq!(m.summaries().len(), 41 + 23);
        assert_eq!(m.summaries().iter().filter(|(_, s)| s.has_percentiles()).count(), 23);
        assert_eq!(m.summary_sets().len(), 5);
        let mut keys = Vec::new();
        m.dump(&mut |k, _| keys.push(k));
        // 47 counters, 41 * 5 + 23 * 9 summary keys, empty sets.
        assert_eq!(keys.len(), 47 + 41 * 5 + 23 * 9);
        assert_eq!(keys[0], "proposal_count");
        assert_eq!(keys[47], "avg_socket_closing_time");
        let unique: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }

    #[test]
    fn reset_clears_everything() {
        let m = ServerMetrics::new();
        m.proposal_count.add(3);
        m.fsynctime.add(7);
        m.record_read("/admin/a", 4);
        m.record_write("/zookeeper/config", 0);
        m.record_write("/", 10);
        m.learner_handler_qp_size.add_id(2, 1);
        let mut v = std::collections::HashMap::new();
        m.dump(&mut |k, x| {
            v.insert(k, x);
        });
        assert_eq!(v["proposal_count"], MetricValue::Int(3));
        assert_eq!(v["sum_fsynctime"], MetricValue::Int(7));
        assert_eq!(v["sum_admin_read_per_namespace"], MetricValue::Int(8 + 4 + STAT_OVERHEAD_BYTES));
        assert_eq!(v["cnt_zookeeper_write_per_namespace"], MetricValue::Int(1));
        assert_eq!(v["cnt_2_learner_handler_qp_size"], MetricValue::Int(1));
        assert!(!v.keys().any(|k| k.ends_with("__write_per_namespace")), "the root has no namespace");
        m.reset();
        let mut after = std::collections::HashMap::new();
        m.dump(&mut |k, x| {
            after.insert(k, x);
        });
        assert_eq!(after["proposal_count"], MetricValue::Int(0));
        assert_eq!(after["cnt_fsynctime"], MetricValue::Int(0));
        // As ZooKeeper's sets, a reset keeps the keys seen.
        assert_eq!(after["cnt_admin_read_per_namespace"], MetricValue::Int(0));
    }

    #[test]
    fn learner_packets() {
        use zab_jute::quorum::{packet, QuorumPacket};
        let m = ServerMetrics::new();
        let mut data = vec![0u8; 40];
        data[20..28].copy_from_slice(&(crate::clock::wall_ms() - 3).to_be_bytes());
        m.learner_packet(&QuorumPacket::new(packet::PROPOSAL, 1, Some(data)), false);
        m.learner_packet(&QuorumPacket::new(packet::PROPOSAL, 2, None), false);
        m.learner_packet(&QuorumPacket::new(packet::COMMIT, 1, None), false);
        m.learner_packet(&QuorumPacket::new(packet::INFORM, 2, None), false);
        assert_eq!(m.learner_proposal_received_count.get(), 2);
        assert_eq!(m.learner_commit_received_count.get(), 1, "INFORM counts on observers only");
        m.learner_packet(&QuorumPacket::new(packet::INFORM, 2, None), true);
        assert_eq!(m.learner_commit_received_count.get(), 2);
        assert_eq!(m.proposal_latency.snapshot().count, 1);
        assert!(m.proposal_latency.snapshot().min >= 3);
    }

    #[test]
    fn java_double_strings() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.3258), "1.3258");
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1e-4), "1.0E-4");
        assert_eq!(java_double(12345678.0), "1.2345678E7");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(MetricValue::Int(-1).to_text(), "-1");
        assert_eq!(MetricValue::Text("leader".into()).to_text(), "leader");
    }

    #[test]
    fn namespaces() {
        assert_eq!(top_namespace("/admin/a/b"), Some("admin"));
        assert_eq!(top_namespace("/zookeeper"), Some("zookeeper"));
        assert_eq!(top_namespace("/"), None);
        assert_eq!(top_namespace("relative"), None);
    }
}
