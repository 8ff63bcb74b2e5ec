//! Counters behind `srvr`, `stat`, `mntr` and `cons`: kept with relaxed atomics so the
//! request path never waits on them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Server-wide counters (`ServerStats`).
#[derive(Debug, Default)]
pub struct ServerStats {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub writes: AtomicU64,
    pub outstanding: AtomicI64,
    pub last_response_size: AtomicI64,
    latency: Latency,
}

#[derive(Debug)]
struct Latency {
    min: AtomicI64,
    max: AtomicI64,
    total: AtomicI64,
    count: AtomicI64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(0),
            total: AtomicI64::new(0),
            count: AtomicI64::new(0),
        }
    }
}

impl ServerStats {
    /// Records one request's latency in ms.
    pub fn record_latency(&self, ms: i64) {
        let l = &self.latency;
        l.min.fetch_min(ms, Ordering::Relaxed);
        l.max.fetch_max(ms, Ordering::Relaxed);
        l.total.fetch_add(ms, Ordering::Relaxed);
        l.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (min, avg, max) latency in ms, as `srvr` prints them.
    pub fn latency(&self) -> (i64, f64, i64) {
        let l = &self.latency;
        let count = l.count.load(Ordering::Relaxed);
        let min = l.min.load(Ordering::Relaxed);
        let avg = if count == 0 { 0.0 } else { l.total.load(Ordering::Relaxed) as f64 / count as f64 };
        (if min == i64::MAX { 0 } else { min }, avg, l.max.load(Ordering::Relaxed))
    }

    /// `srst`: reset the statistics.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        let l = &self.latency;
        l.min.store(i64::MAX, Ordering::Relaxed);
        l.max.store(0, Ordering::Relaxed);
        l.total.store(0, Ordering::Relaxed);
        l.count.store(0, Ordering::Relaxed);
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

/// Counters of the transaction log and snapshots.
#[derive(Debug, Default)]
pub struct PersistenceMetrics {
    pub fsync_count: AtomicU64,
    pub fsync_micros: AtomicU64,
    pub fsync_slow: AtomicU64,
    pub snapshot_count: AtomicU64,
    pub snapshot_millis: AtomicU64,
    /// Txns whose applied tree digest differed from the logged one (`digest_mismatches_count`).
    pub digest_mismatches: AtomicU64,
}

impl PersistenceMetrics {
    pub fn record_fsync(&self, d: std::time::Duration) {
        self.fsync_count.fetch_add(1, Ordering::Relaxed);
        self.fsync_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn record_snapshot(&self, d: std::time::Duration) {
        self.snapshot_count.fetch_add(1, Ordering::Relaxed);
        self.snapshot_millis.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
    }
}
