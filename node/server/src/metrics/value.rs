//! One metric's value as ZooKeeper's dump hands it out ([`MetricValue`]), and how each
//! output prints it: JSON for `/commands/monitor`, Java's `Double.toString` for `mntr`
//! ([`java_double`]), a float for Prometheus.
//!
//! The bottom of [`crate::metrics`]: it imports nothing, so the summaries and summary sets
//! can use it without importing the registry that holds them.

/// A value as ZooKeeper's dump hands it out: a Long/Integer, a Double, or a String.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl MetricValue {
    /// As Jackson writes it in `/commands/monitor`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            MetricValue::Int(v) => serde_json::Value::from(*v),
            MetricValue::Float(v) => serde_json::Value::from(*v),
            MetricValue::Text(s) => serde_json::Value::from(s.as_str()),
        }
    }

    /// As the `mntr` four-letter word prints it (`MonitorCommand.print`): integers as they
    /// are, other numbers as Java's `Double.toString`, strings as they are.
    pub fn to_text(&self) -> String {
        match self {
            MetricValue::Int(v) => v.to_string(),
            MetricValue::Float(v) => java_double(*v),
            MetricValue::Text(s) => s.clone(),
        }
    }

    /// The number Prometheus shows (0 for a string).
    pub fn as_f64(&self) -> f64 {
        match self {
            MetricValue::Int(v) => *v as f64,
            MetricValue::Float(v) => *v,
            MetricValue::Text(_) => 0.0,
        }
    }
}

/// Java's `Double.toString`: plain decimal with at least one fractional digit between 1e-3
/// and 1e7, computerised scientific notation (`1.0E-4`, `1.2345E7`) outside.
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v:?}");
        return if s.contains('.') || s.contains('e') { s } else { format!("{s}.0") };
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => format!("{m}E{e}"),
        Some((m, e)) => format!("{m}.0E{e}"),
        None => s,
    }
}
