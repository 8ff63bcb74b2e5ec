//! Per-worker tallies, their merge, and the two outputs: a human summary and
//! one machine-readable JSON line (first character `{`).
//!
//! Latencies are recorded in microseconds, 1 us .. 60 s, three significant
//! digits; values above the top are clamped (saturating_record).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::args::{Plan, Stop};

const MAX_MICROS: u64 = 60_000_000;

/// What one worker saw.
#[derive(Debug)]
pub struct Tally {
    pub latency: Histogram<u64>,
    /// Successful requests inside the measured window.
    pub ok: u64,
    /// Failed or timed-out requests inside the measured window, by kind.
    pub errors: BTreeMap<String, u64>,
    /// Requests completed during the warm-up (not measured).
    pub warmup: u64,
}

impl Tally {
    pub fn new() -> Tally {
        // Bounds are constants that hdrhistogram accepts; failure is impossible.
        let latency = match Histogram::new_with_bounds(1, MAX_MICROS, 3) {
            Ok(h) => h,
            Err(e) => unreachable!("histogram bounds: {e}"),
        };
        Tally { latency, ok: 0, errors: BTreeMap::new(), warmup: 0 }
    }

    pub fn record_ok(&mut self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(MAX_MICROS).clamp(1, MAX_MICROS);
        self.latency.saturating_record(us);
        self.ok += 1;
    }

    pub fn record_error(&mut self, kind: String) {
        *self.errors.entry(kind).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Tally) {
        // Same bounds on both sides, so add cannot fail.
        if let Err(e) = self.latency.add(&other.latency) {
            unreachable!("histogram merge: {e}");
        }
        self.ok += other.ok;
        self.warmup += other.warmup;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The figures of a finished run.
#[derive(Debug)]
pub struct Summary {
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn new(t: &Tally, measured: Duration) -> Summary {
        let seconds = measured.as_secs_f64();
        let ms = |q: f64| t.latency.value_at_quantile(q) as f64 / 1000.0;
        let empty = t.latency.is_empty();
        Summary {
            ops: t.ok,
            errors: t.error_count(),
            seconds,
            throughput: if seconds > 0.0 { t.ok as f64 / seconds } else { 0.0 },
            p50_ms: if empty { 0.0 } else { ms(0.5) },
            p99_ms: if empty { 0.0 } else { ms(0.99) },
            p999_ms: if empty { 0.0 } else { ms(0.999) },
            max_ms: if empty { 0.0 } else { t.latency.max() as f64 / 1000.0 },
            mean_ms: if empty { 0.0 } else { t.latency.mean() / 1000.0 },
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The human-readable block.
pub fn text(plan: &Plan, t: &Tally, s: &Summary) -> String {
    let mut out = String::new();
    let stop = match plan.stop {
        Stop::Duration { warmup, measure } => {
            format!("duration {:.1}s (+{:.1}s warm-up)", measure.as_secs_f64(), warmup.as_secs_f64())
        }
        Stop::Ops(n) => format!("ops {n}"),
    };
    let _ = writeln!(
        out,
        "zab-load {} on {}: {} sessions x {} outstanding, {} B, {} znodes, {}",
        plan.op.name(),
        plan.connect,
        plan.sessions,
        plan.outstanding,
        plan.size,
        if plan.znodes == u64::MAX { "unbounded".to_string() } else { plan.znodes.to_string() },
        stop
    );
    let _ = writeln!(out, "  {} ok, {} errors in {:.2} s: {:.0} ops/s", s.ops, s.errors, s.seconds, s.throughput);
    let _ = writeln!(
        out,
        "  latency ms: p50 {:.3}  p99 {:.3}  p999 {:.3}  max {:.3}  mean {:.3}",
        s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms, s.mean_ms
    );
    for (kind, n) in &t.errors {
        let _ = writeln!(out, "  error {kind}: {n}");
    }
    out
}

/// The JSON line.
pub fn json(plan: &Plan, t: &Tally, s: &Summary) -> String {
    let mut errors = String::from("{");
    for (i, (k, v)) in t.errors.iter().enumerate() {
        let _ = write!(errors, "{}{}:{}", if i > 0 { "," } else { "" }, json_str(k), v);
    }
    errors.push('}');
    let znodes = if plan.znodes == u64::MAX { "null".to_string() } else { plan.znodes.to_string() };
    format!(
        concat!(
            "{{\"tool\":\"zab-load\",\"label\":{},\"connect\":{},\"op\":\"{}\",\"sessions\":{},",
            "\"outstanding\":{},\"size\":{},\"znodes\":{},\"ops\":{},\"errors\":{},",
            "\"error_kinds\":{},\"seconds\":{:.3},\"throughput\":{:.1},\"p50_ms\":{:.3},",
            "\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},\"mean_ms\":{:.3}}}"
        ),
        json_str(&plan.label),
        json_str(&plan.connect),
        plan.op.name(),
        plan.sessions,
        plan.outstanding,
        plan.size,
        znodes,
        s.ops,
        s.errors,
        errors,
        s.seconds,
        s.throughput,
        s.p50_ms,
        s.p99_ms,
        s.p999_ms,
        s.max_ms,
        s.mean_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_percentiles() {
        let mut a = Tally::new();
        let mut b = Tally::new();
        for us in 1..=1000u64 {
            a.record_ok(Duration::from_micros(us));
        }
        b.record_ok(Duration::from_secs(3600)); // clamped to 60 s
        b.record_error("Timeout".into());
        a.merge(&b);
        let s = Summary::new(&a, Duration::from_secs(2));
        assert_eq!(s.ops, 1001);
        assert_eq!(s.errors, 1);
        assert!((s.p50_ms - 0.5).abs() < 0.01, "{}", s.p50_ms);
        assert!(s.max_ms >= 59_000.0);
        assert!((s.throughput - 500.5).abs() < 1e-9);
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
