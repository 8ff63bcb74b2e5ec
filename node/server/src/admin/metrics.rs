//! `GET /metrics`: Prometheus text format. ZooKeeper's metrics under the names its
//! PrometheusMetricsProvider (simpleclient 0.9) gives them — each gauge and counter by its
//! name, each summary as `name{quantile="0.5",}` (ADVANCED ones also 0.9 and 0.99),
//! `name_count` and `name_sum`, summary sets with a `key` label — from the same registry as
//! `mntr`; then zab's own, prefixed `zab_`: request, fsync and snapshot histograms and a
//! few gauges ZooKeeper does not export.
//!
//! Hot-path recording (request latency, fsync, snapshot) is a few atomic adds; the gauges
//! are read from the server when scraped, from snapshots of state (never a lock the request
//! path holds for long).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::{java_double, Summary};
use crate::zk_server::ZooKeeperServer;

fn gauge(registry: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    registry.register(name, help, g);
}

/// One sample line: `name{labels,} value` (simpleclient 0.9 ends each label with a comma).
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (k, v) in labels {
            let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            let _ = write!(out, "{k}=\"{v}\",");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", java_double(value));
}

fn header(out: &mut String, name: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {name}\n# TYPE {name} {kind}");
}

/// A summary's samples: its quantiles, `_count` and `_sum`.
fn summary_samples(out: &mut String, name: &str, key: Option<&str>, s: &Summary) {
    let quantiles: &[(&str, f64)] =
        if s.has_percentiles() { &[("0.5", 0.5), ("0.9", 0.9), ("0.99", 0.99)] } else { &[("0.5", 0.5)] };
    let snap = s.snapshot();
    let mut labels: Vec<(&str, &str)> = key.map(|k| vec![("key", k)]).unwrap_or_default();
    for (label, q) in quantiles {
        labels.push(("quantile", label));
        let v = if snap.count == 0 { f64::NAN } else { s.quantile(*q) as f64 };
        sample(out, name, &labels, v);
        labels.pop();
    }
    sample(out, &format!("{name}_count"), &labels, snap.count as f64);
    sample(out, &format!("{name}_sum"), &labels, snap.sum as f64);
}

/// ZooKeeper's metrics as its Prometheus provider exports them.
pub fn render_zookeeper(server: &ZooKeeperServer, out: &mut String) {
    for (name, v) in crate::monitor::gauges(server) {
        header(out, name, "gauge");
        sample(out, name, &[], v.as_f64());
    }
    let m = &server.metrics;
    for (name, c) in m.counters() {
        header(out, name, "counter");
        sample(out, name, &[], c.get() as f64);
    }
    for (name, s) in m.summaries() {
        header(out, name, "summary");
        summary_samples(out, name, None, s);
    }
    for (name, set) in m.summary_sets() {
        header(out, name, "summary");
        for (key, s) in set.entries() {
            summary_samples(out, name, Some(key), s);
        }
    }
}

/// Renders every metric: ZooKeeper's, then zab's own (OpenMetrics text from
/// prometheus-client, ending with `# EOF`).
pub fn render(server: &ZooKeeperServer) -> String {
    let mut out = String::new();
    render_zookeeper(server, &mut out);
    let mut r = Registry::default();
    gauge(&mut r, "zab_last_processed_zxid", "Last zxid applied to the tree", server.last_processed_zxid());
    gauge(&mut r, "zab_write_count", "Txns applied", server.stats.writes.load(Ordering::Relaxed) as i64);
    gauge(
        &mut r,
        "zab_fsync_threshold_exceed_count",
        "fsyncs slower than fsync.warningthresholdms",
        server.metrics.fsync_threshold_exceed_count.get() as i64,
    );
    let reg = &server.metrics_registry;
    r.register(
        "zab_request_latency_seconds",
        "Request latency by opcode, from the request's arrival to its reply",
        reg.request.clone(),
    );
    r.register("zab_fsync_seconds", "Transaction log fsync latency", reg.fsync.clone());
    r.register("zab_snapshot_seconds", "Time to write a snapshot", reg.snapshot.clone());
    if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_samples_follow_simpleclient() {
        let s = Summary::basic();
        let mut out = String::new();
        summary_samples(&mut out, "fsynctime", None, &s);
        assert_eq!(out, "fsynctime{quantile=\"0.5\",} NaN\nfsynctime_count 0.0\nfsynctime_sum 0.0\n");
        s.add(4);
        s.add(6);
        let p = Summary::percentile();
        p.add(2);
        out.clear();
        summary_samples(&mut out, "fsynctime", None, &s);
        summary_samples(&mut out, "ack_latency", Some("2"), &p);
        assert_eq!(
            out,
            "fsynctime{quantile=\"0.5\",} 5.0\nfsynctime_count 2.0\nfsynctime_sum 10.0\n\
             ack_latency{key=\"2\",quantile=\"0.5\",} 2.0\nack_latency{key=\"2\",quantile=\"0.9\",} 2.0\n\
             ack_latency{key=\"2\",quantile=\"0.99\",} 2.0\nack_latency_count{key=\"2\",} 1.0\n\
             ack_latency_sum{key=\"2\",} 2.0\n"
        );
    }
}
