//! ZooKeeper's summary sets (`AvgMinMaxCounterSet`, `AvgMinMaxPercentileCounterSet`): one
//! summary per key (a namespace, a learner's server id), named `<key>_<set name>`.
//!
//! The keys live in a fixed table of slots filled once each (open addressing over a hash
//! of the key): recording a value looks its key up without a lock and allocates only the
//! first time a key is seen. When every slot is taken, values for new keys are dropped
//! (ZooKeeper's sets are unbounded; zab's hold `capacity` keys).

use std::sync::OnceLock;

use super::summary::Summary;
use super::value::MetricValue;

/// A key and its summary, filled once.
type Slot = OnceLock<(Box<str>, Summary)>;

#[derive(Debug)]
pub struct SummarySet {
    percentiles: bool,
    slots: Box<[Slot]>,
}

/// FNV-1a.
fn hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

impl SummarySet {
    pub fn basic(capacity: usize) -> SummarySet {
        SummarySet::new(false, capacity)
    }

    pub fn percentile(capacity: usize) -> SummarySet {
        SummarySet::new(true, capacity)
    }

    fn new(percentiles: bool, capacity: usize) -> SummarySet {
        SummarySet { percentiles, slots: (0..capacity.max(1)).map(|_| OnceLock::new()).collect() }
    }

    pub fn has_percentiles(&self) -> bool {
        self.percentiles
    }

    /// The summary of `key`, created on first use; `None` when the table is full.
    pub fn get(&self, key: &str) -> Option<&Summary> {
        let n = self.slots.len();
        let start = (hash(key.as_bytes()) % n as u64) as usize;
        for i in 0..n {
            let slot = &self.slots[(start + i) % n];
            let (k, s) = match slot.get() {
                Some(entry) => entry,
                None => slot.get_or_init(|| {
                    let s = if self.percentiles { Summary::percentile() } else { Summary::basic() };
                    (key.into(), s)
                }),
            };
            if &**k == key {
                return Some(s);
            }
        }
        None
    }

    pub fn add(&self, key: &str, value: i64) {
        if let Some(s) = self.get(key) {
            s.add(value);
        }
    }

    /// `add(Long.toString(id), value)` without allocating.
    pub fn add_id(&self, id: u64, value: i64) {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        let mut n = id;
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if let Ok(key) = std::str::from_utf8(&buf[at..]) {
            self.add(key, value);
        }
    }

    pub fn reset(&self) {
        for slot in self.slots.iter() {
            if let Some((_, s)) = slot.get() {
                s.reset();
            }
        }
    }

    /// The keys seen so far, with their summaries.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Summary)> {
        self.slots.iter().filter_map(|s| s.get()).map(|(k, s)| (&**k, s))
    }

    /// Every key's summary values, named `<key>_<name>`.
    pub fn values(&self, name: &str, sink: &mut dyn FnMut(String, MetricValue)) {
        for (k, s) in self.entries() {
            s.values(&format!("{k}_{name}"), sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_get_their_own_summaries() {
        let set = SummarySet::basic(8);
        set.add("admin", 10);
        set.add("admin", 20);
        set.add("zookeeper", 5);
        set.add_id(12, 3);
        let mut out = Vec::new();
        set.values("write_per_namespace", &mut |k, v| out.push((k, v)));
        let get = |k: &str| out.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("avg_admin_write_per_namespace"), Some(MetricValue::Float(15.0)));
        assert_eq!(get("sum_admin_write_per_namespace"), Some(MetricValue::Int(30)));
        assert_eq!(get("cnt_zookeeper_write_per_namespace"), Some(MetricValue::Int(1)));
        assert_eq!(get("max_12_write_per_namespace"), Some(MetricValue::Int(3)));
        assert_eq!(out.len(), 15);
    }

    #[test]
    fn a_full_table_drops_new_keys() {
        let set = SummarySet::percentile(2);
        set.add("a", 1);
        set.add("b", 2);
        set.add("c", 3);
        assert_eq!(set.entries().count(), 2);
        assert!(set.get("c").is_none());
        assert_eq!(set.get("a").map(|s| s.snapshot().sum), Some(1));
        let mut n = 0;
        set.values("ack_latency", &mut |_, _| n += 1);
        assert_eq!(n, 18, "nine keys per ADVANCED summary");
        set.reset();
        assert_eq!(set.get("b").map(|s| s.snapshot().count), Some(0));
    }
}
