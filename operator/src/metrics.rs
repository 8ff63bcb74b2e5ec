//! Prometheus metrics of the operator (prometheus-client): reconciles and their results,
//! errors by kind, the duration of each reconcile step, member restarts, leadership.
//! Served as text at /metrics by `health.rs`.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms .. ~33 s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The operator's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    steps: HistogramFamily,
    restarts: Family<Labels, Counter>,
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("zab_operator");
        let reconciles = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let steps: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let restarts = Family::<Labels, Counter>::default();
        let leader = Gauge::default();
        registry.register("reconciles", "Reconciles of ZabEnsembles by result (ok, error)", reconciles.clone());
        registry.register("reconcile_errors", "Failed reconciles by kind of error", errors.clone());
        registry.register(
            "step_duration_seconds",
            "Duration of each reconcile step (dereference, validate, build, apply, probe, plan, execute, status) and of the whole reconcile",
            steps.clone(),
        );
        registry.register(
            "member_restarts",
            "Member pods deleted by the operator, by reason (rollout, repair)",
            restarts.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without leader election)",
            leader.clone(),
        );
        Metrics { registry, reconciles, errors, steps, restarts, leader }
    }

    pub fn reconciled(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&vec![("result".into(), result.into())]).inc();
    }

    pub fn error(&self, kind: &str) {
        self.errors.get_or_create(&vec![("kind".into(), kind.into())]).inc();
    }

    pub fn step(&self, step: &str, took: Duration) {
        self.steps.get_or_create(&vec![("step".into(), step.into())]).observe(took.as_secs_f64());
    }

    pub fn restart(&self, reason: &str) {
        self.restarts.get_or_create(&vec![("reason".into(), reason.into())]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_steps_show_in_the_text_format() {
        let m = Metrics::new();
        m.reconciled(true);
        m.reconciled(false);
        m.error("conflict");
        m.step("apply", Duration::from_millis(3));
        m.restart("rollout");
        m.leader.set(1);
        let t = m.render();
        for want in [
            "zab_operator_reconciles_total{result=\"ok\"} 1",
            "zab_operator_reconciles_total{result=\"error\"} 1",
            "zab_operator_reconcile_errors_total{kind=\"conflict\"} 1",
            "zab_operator_step_duration_seconds_count{step=\"apply\"} 1",
            "zab_operator_member_restarts_total{reason=\"rollout\"} 1",
            "zab_operator_leader 1",
        ] {
            assert!(t.contains(want), "missing {want} in\n{t}");
        }
    }
}
