//! Counters behind `srvr`, `stat`, `mntr` and `cons` (ZooKeeper's per-server `ServerStats`):
//! kept with relaxed atomics so the request path never waits on them. The process-wide
//! `ServerMetrics` are in [`crate::metrics`].

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::metrics::{BufferStats, Summary};

/// Server-wide counters (`ServerStats`).
#[derive(Debug)]
pub struct ServerStats {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub writes: AtomicU64,
    pub outstanding: AtomicI64,
    /// Sizes of replies (`clientResponseStats`).
    pub client_response: BufferStats,
    /// Leader: sizes of proposals (`Leader.proposalStats`).
    pub proposal_sizes: BufferStats,
    /// Failed authentications (`authFailedCount`).
    pub auth_failed: AtomicU64,
    latency: Summary,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
            client_response: BufferStats::default(),
            proposal_sizes: BufferStats::default(),
            auth_failed: AtomicU64::new(0),
            latency: Summary::basic(),
        }
    }
}

impl ServerStats {
    /// Records one request's latency in ms.
    pub fn record_latency(&self, ms: i64) {
        self.latency.add(ms);
    }

    /// (min, avg, max) latency in ms, as `srvr` prints them (avg rounded to four decimals).
    pub fn latency(&self) -> (i64, f64, i64) {
        let s = self.latency.snapshot();
        (s.min, s.avg, s.max)
    }

    /// `srst`: reset the statistics (`ServerStats.reset`, less the process-wide metrics).
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
        self.client_response.reset();
    }
}

/// Per-connection counters, for `cons`.
#[derive(Debug, Default)]
pub struct CnxnStats {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub outstanding: AtomicI64,
    pub last_zxid: AtomicI64,
    pub last_cxid: AtomicI64,
    pub last_op: parking_lot::Mutex<&'static str>,
    pub established_ms: AtomicI64,
    pub timeout: AtomicI64,
    /// Monotonic ms of the last reply (`lastResponseTime`).
    pub last_response_ms: AtomicI64,
    pub last_latency: AtomicI64,
    latency: CnxnLatency,
}

/// `ServerCnxn`'s min/total/max latency and count.
#[derive(Debug)]
struct CnxnLatency {
    min: AtomicI64,
    max: AtomicI64,
    total: AtomicI64,
    count: AtomicI64,
}

impl Default for CnxnLatency {
    fn default() -> Self {
        CnxnLatency {
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(0),
            total: AtomicI64::new(0),
            count: AtomicI64::new(0),
        }
    }
}

impl CnxnStats {
    /// `updateStatsForResponse`: a reply after `ms` milliseconds, at monotonic `now_ms`.
    pub fn record_response(&self, ms: i64, now_ms: i64) {
        self.last_response_ms.store(now_ms, Ordering::Relaxed);
        self.last_latency.store(ms, Ordering::Relaxed);
        let l = &self.latency;
        l.min.fetch_min(ms, Ordering::Relaxed);
        l.max.fetch_max(ms, Ordering::Relaxed);
        l.total.fetch_add(ms, Ordering::Relaxed);
        l.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (min, avg, max) latency in ms, as `cons` prints them (integers, 0 before any reply).
    pub fn latency(&self) -> (i64, i64, i64) {
        let l = &self.latency;
        let count = l.count.load(Ordering::Relaxed);
        let min = l.min.load(Ordering::Relaxed);
        let avg = if count == 0 { 0 } else { l.total.load(Ordering::Relaxed) / count };
        (if min == i64::MAX { 0 } else { min }, avg, l.max.load(Ordering::Relaxed))
    }

    /// `crst`: `ServerCnxn.resetStats`.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.last_response_ms.store(0, Ordering::Relaxed);
        self.last_latency.store(0, Ordering::Relaxed);
        let l = &self.latency;
        l.min.store(i64::MAX, Ordering::Relaxed);
        l.max.store(0, Ordering::Relaxed);
        l.total.store(0, Ordering::Relaxed);
        l.count.store(0, Ordering::Relaxed);
    }
}
