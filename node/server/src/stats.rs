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
}

impl CnxnStats {
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
    }
}
