//! zab's own latency histograms (Prometheus, prometheus-client): request latency by
//! opcode, txn log fsync, snapshot writes. Recorded on the request path (one atomic add per
//! bucket), exported by `/metrics` ([`crate::admin::metrics`]) under `zab_` names.
//!
//! A leaf, as the rest of [`crate::metrics`]: it reads nothing of the server.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub op: &'static str,
}

/// The histograms updated on the request path.
pub struct Histograms {
    pub request: Family<OpLabels, Histogram>,
    pub fsync: Histogram,
    pub snapshot: Histogram,
}

impl Histograms {
    pub fn new() -> Histograms {
        Histograms {
            request: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00002, 2.0, 18))),
            fsync: Histogram::new(exponential_buckets(0.00005, 2.0, 16)),
            snapshot: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
        }
    }
}

impl Default for Histograms {
    fn default() -> Self {
        Histograms::new()
    }
}
