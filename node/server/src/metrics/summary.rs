//! ZooKeeper's summaries (`AvgMinMaxCounter`, `AvgMinMaxPercentileCounter`) and its
//! `BufferStats`, kept with relaxed atomics: recording a value is a few atomic operations,
//! with no lock and no allocation (a summary's histogram is allocated once, at its first
//! value).
//!
//! ZooKeeper estimates percentiles from a uniform reservoir of 4,096 samples; zab keeps a
//! histogram of every value instead: exact below 64, and 16 buckets per power of two above
//! (a bucket's value is its midpoint, within 3% of the true value), so a quantile is
//! computed with ZooKeeper's interpolation (`UniformSnapshot.getValue`) over the buckets.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;

use super::value::MetricValue;

/// Values below this have a bucket each.
const EXACT: u64 = 64;
/// Buckets per power of two above `EXACT`.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for every non-negative i64.
const BUCKETS: usize = EXACT as usize + (63 - 6) * SUB as usize;

/// The bucket of a (non-negative) value.
fn bucket(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let top = 63 - v.leading_zeros(); // >= 6
    let sub = (v >> (top - SUB_BITS)) & (SUB - 1);
    EXACT as usize + (top as usize - 6) * SUB as usize + sub as usize
}

/// The value a bucket stands for: itself below `EXACT`, else the middle of its range.
fn bucket_value(i: usize) -> i64 {
    if i < EXACT as usize {
        return i as i64;
    }
    let j = i - EXACT as usize;
    let top = (j / SUB as usize) as u32 + 6;
    let sub = (j % SUB as usize) as u64;
    let width = 1u64 << (top - SUB_BITS);
    let low = (SUB + sub) << (top - SUB_BITS);
    (low + width / 2).min(i64::MAX as u64) as i64
}

/// `AvgMinMaxCounter`, and with `percentiles` `AvgMinMaxPercentileCounter`.
#[derive(Debug)]
pub struct Summary {
    count: AtomicU64,
    total: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
    percentiles: bool,
    /// Counts per bucket, for percentiles (ZooKeeper's ADVANCED summaries) and for the
    /// median Prometheus shows for every summary.
    hist: OnceLock<Box<[AtomicU64]>>,
}

/// What a summary holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummarySnapshot {
    pub avg: f64,
    pub min: i64,
    pub max: i64,
    pub count: u64,
    pub sum: i64,
}

impl Summary {
    /// A BASIC summary: avg, min, max, cnt, sum.
    pub fn basic() -> Summary {
        Summary::new(false)
    }

    /// An ADVANCED summary: also p50, p95, p99, p999.
    pub fn percentile() -> Summary {
        Summary::new(true)
    }

    fn new(percentiles: bool) -> Summary {
        Summary {
            count: AtomicU64::new(0),
            total: AtomicI64::new(0),
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(i64::MIN),
            percentiles,
            hist: OnceLock::new(),
        }
    }

    pub fn has_percentiles(&self) -> bool {
        self.percentiles
    }

    /// `addDataPoint`.
    pub fn add(&self, value: i64) {
        self.total.fetch_add(value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.min.fetch_min(value, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
        let hist = self.hist.get_or_init(|| (0..BUCKETS).map(|_| AtomicU64::new(0)).collect());
        if let Some(b) = hist.get(bucket(value.max(0) as u64)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds a duration in milliseconds, as ZooKeeper's timing summaries hold them.
    pub fn add_ms(&self, d: std::time::Duration) {
        self.add(d.as_millis().min(i64::MAX as u128) as i64);
    }

    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.min.store(i64::MAX, Ordering::Relaxed);
        self.max.store(i64::MIN, Ordering::Relaxed);
        if let Some(h) = self.hist.get() {
            for b in h.iter() {
                b.store(0, Ordering::Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> SummarySnapshot {
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.total.load(Ordering::Relaxed);
        let min = self.min.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        // `getAvg`: rounded half-up to four decimals.
        let avg = if count > 0 { (sum as f64 / count as f64 * 10_000.0).round() / 10_000.0 } else { 0.0 };
        SummarySnapshot {
            avg,
            min: if min == i64::MAX { 0 } else { min },
            max: if max == i64::MIN { 0 } else { max },
            count,
            sum,
        }
    }

    /// The `q` quantile (0..=1), as `UniformSnapshot.getValue` computes it over the sorted
    /// values, rounded as ZooKeeper's `Math.round`; 0 when empty.
    pub fn quantile(&self, q: f64) -> i64 {
        let Some(hist) = self.hist.get() else { return 0 };
        let counts: Vec<u64> = hist.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return 0;
        }
        let snap = self.snapshot();
        // The value of the k-th smallest (0-based), clamped to the true min and max.
        let value_at = |k: u64| -> f64 {
            let mut seen = 0u64;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen > k {
                    return bucket_value(i).clamp(snap.min, snap.max) as f64;
                }
            }
            snap.max as f64
        };
        let pos = q * (n as f64 + 1.0);
        let index = pos as u64;
        let v = if index < 1 {
            value_at(0)
        } else if index >= n {
            value_at(n - 1)
        } else {
            let lower = value_at(index - 1);
            let upper = value_at(index);
            lower + (pos - pos.floor()) * (upper - lower)
        };
        v.round() as i64
    }

    /// ZooKeeper's keys for this summary under `name`, in its order: avg_, min_, max_, cnt_,
    /// sum_ and (ADVANCED) p50_, p95_, p99_, p999_.
    pub fn values(&self, name: &str, sink: &mut dyn FnMut(String, MetricValue)) {
        let s = self.snapshot();
        sink(format!("avg_{name}"), MetricValue::Float(s.avg));
        sink(format!("min_{name}"), MetricValue::Int(s.min));
        sink(format!("max_{name}"), MetricValue::Int(s.max));
        sink(format!("cnt_{name}"), MetricValue::Int(s.count as i64));
        sink(format!("sum_{name}"), MetricValue::Int(s.sum));
        if self.percentiles {
            for (p, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)] {
                sink(format!("{p}_{name}"), MetricValue::Int(self.quantile(q)));
            }
        }
    }
}

/// `BufferStats`: the last, smallest and largest size seen; -1 until the first.
#[derive(Debug)]
pub struct BufferStats {
    last: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
}

impl Default for BufferStats {
    fn default() -> Self {
        BufferStats { last: AtomicI64::new(-1), min: AtomicI64::new(-1), max: AtomicI64::new(-1) }
    }
}

impl BufferStats {
    /// `setLastBufferSize`.
    pub fn record(&self, size: i64) {
        self.last.store(size, Ordering::Relaxed);
        let _ = self.min.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| (m == -1 || size < m).then_some(size));
        self.max.fetch_max(size, Ordering::Relaxed);
    }

    /// (last, min, max).
    pub fn get(&self) -> (i64, i64, i64) {
        (self.last.load(Ordering::Relaxed), self.min.load(Ordering::Relaxed), self.max.load(Ordering::Relaxed))
    }

    pub fn reset(&self) {
        self.last.store(-1, Ordering::Relaxed);
        self.min.store(-1, Ordering::Relaxed);
        self.max.store(-1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &Summary, name: &str) -> Vec<(String, MetricValue)> {
        let mut out = Vec::new();
        s.values(name, &mut |k, v| out.push((k, v)));
        out
    }

    #[test]
    fn empty_summary_is_all_zero() {
        let s = Summary::basic();
        let v = collect(&s, "fsynctime");
        let keys: Vec<&str> = v.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["avg_fsynctime", "min_fsynctime", "max_fsynctime", "cnt_fsynctime", "sum_fsynctime"]);
        assert_eq!(v[0].1, MetricValue::Float(0.0));
        assert!(v[1..].iter().all(|(_, x)| *x == MetricValue::Int(0)));
        assert_eq!(s.quantile(0.5), 0);
    }

    #[test]
    fn avg_min_max_cnt_sum() {
        let s = Summary::basic();
        for v in [3, 1, 4, 1, 5] {
            s.add(v);
        }
        let snap = s.snapshot();
        assert_eq!(snap, SummarySnapshot { avg: 2.8, min: 1, max: 5, count: 5, sum: 14 });
        s.add(0);
        s.add(0);
        // 14 / 7 = 2.0; 2/3 rounds half-up at four decimals.
        assert_eq!(s.snapshot().avg, 2.0);
        let t = Summary::basic();
        t.add(1);
        t.add(1);
        t.add(0);
        assert_eq!(t.snapshot().avg, 0.6667);
        s.reset();
        assert_eq!(s.snapshot(), SummarySnapshot { avg: 0.0, min: 0, max: 0, count: 0, sum: 0 });
        assert_eq!(s.quantile(0.99), 0);
    }

    #[test]
    fn percentile_keys_and_values() {
        let s = Summary::percentile();
        for v in 1..=50 {
            s.add(v);
        }
        let keys: Vec<String> = collect(&s, "readlatency").into_iter().map(|(k, _)| k).collect();
        assert_eq!(&keys[5..], ["p50_readlatency", "p95_readlatency", "p99_readlatency", "p999_readlatency"]);
        // UniformSnapshot over 1..=50 (exact buckets): pos = q * 51, interpolated, rounded.
        assert_eq!(s.quantile(0.5), 26);
        assert_eq!(s.quantile(0.95), 48);
        assert_eq!(s.quantile(0.99), 50);
        assert_eq!(s.quantile(0.999), 50);
        // Large values land within a few percent.
        let big = Summary::percentile();
        for _ in 0..10 {
            big.add(10_000);
        }
        let q = big.quantile(0.5);
        assert!((9_700..=10_300).contains(&q), "{q}");
        assert_eq!(big.snapshot().max, 10_000);
    }

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 1 << 40, i64::MAX as u64] {
            let b = bucket(v);
            assert!(b < BUCKETS, "{v}");
            assert!(b >= last, "{v}");
            last = b;
            let mid = bucket_value(b) as u64;
            assert!(mid.abs_diff(v) <= v / 16 + 1, "{v} -> {mid}");
        }
    }

    #[test]
    fn buffer_stats() {
        let b = BufferStats::default();
        assert_eq!(b.get(), (-1, -1, -1));
        b.record(37);
        b.record(16);
        b.record(92);
        b.record(40);
        assert_eq!(b.get(), (40, 16, 92));
        b.reset();
        assert_eq!(b.get(), (-1, -1, -1));
    }
}
