//! Wall-clock time as ZooKeeper records it (`Time.currentWallTime`): txn headers, Stat
//! times, connection and learner timestamps, latencies measured from a txn's creation.
//!
//! A leaf: it imports nothing from the crate, so the metrics, the four-letter words and the
//! server state can all read it. Never use it to measure a duration on one machine (that is
//! `Instant`'s job: the wall clock can go back).

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds, as txn headers and Stat times carry them (0 before 1970).
pub fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
