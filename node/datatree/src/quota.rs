//! Quotas as ZooKeeper 3.8 keeps them (`Quotas`, `StatsTrack`, `DataTree.updateQuotaStat`):
//! `/zookeeper/quota/<path>/zookeeper_limits` marks a quota'd subtree, and the tree keeps
//! `/zookeeper/quota/<path>/zookeeper_stats` up to date (count of nodes, bytes of data) on
//! every create, delete and setData below it. The stats node changes in place, without a
//! txn or a version bump, exactly as ZooKeeper does. Enforcement (`enforceQuota`) is not
//! implemented; ZooKeeper leaves it off by default.

use std::collections::BTreeMap;

use crate::tree::DataTree;

pub const QUOTA_ROOT: &str = "/zookeeper/quota";
pub const LIMIT_NODE: &str = "zookeeper_limits";
pub const STAT_NODE: &str = "zookeeper_stats";

/// `StatsTrack`: `count=N,bytes=M`, then any other keys after `=` as `;key=value`, sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

impl StatsTrack {
    pub fn parse(text: &str) -> StatsTrack {
        let mut stats = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=').filter(|p| !p.is_empty());
            let Some(k) = kv.next() else { continue };
            let v = kv.next().and_then(|v| v.parse().ok()).unwrap_or(-1);
            stats.insert(k.to_owned(), v);
        }
        StatsTrack { stats }
    }

    fn get(&self, k: &str) -> i64 {
        self.stats.get(k).copied().unwrap_or(-1)
    }

    pub fn count(&self) -> i64 {
        self.get("count")
    }

    pub fn bytes(&self) -> i64 {
        self.get("bytes")
    }

    pub fn set_count(&mut self, v: i64) {
        self.stats.insert("count".into(), v);
    }

    pub fn set_bytes(&mut self, v: i64) {
        self.stats.insert("bytes".into(), v);
    }

    pub fn render(&self) -> String {
        let mut s = format!("count={},bytes={}", self.count(), self.bytes());
        let rest: Vec<_> = self.stats.iter().filter(|(k, _)| *k != "count" && *k != "bytes").collect();
        if !rest.is_empty() {
            s.push('=');
            for (k, v) in rest {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s
    }
}

fn stat_path(prefix: &str) -> String {
    format!("{QUOTA_ROOT}{prefix}/{STAT_NODE}")
}

impl DataTree {
    /// The deepest quota'd ancestor-or-self of `path` (`getMaxPrefixWithQuota`).
    pub(crate) fn max_quota_prefix(&self, path: &str) -> Option<String> {
        if self.quota_paths.is_empty() {
            return None;
        }
        let mut best = None;
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            if self.quota_paths.contains(&prefix) {
                best = Some(prefix.clone());
            }
        }
        best
    }

    /// Rewrites the data of a quota's stats node in place: no Stat change, no txn (as
    /// ZooKeeper does; nodes under /zookeeper/ are not in the digest).
    fn write_stats(&mut self, prefix: &str, f: impl FnOnce(&mut StatsTrack)) {
        let Some(id) = self.nodes.lookup(&stat_path(prefix)) else {
            return;
        };
        let n = self.nodes.get(id);
        let mut st = StatsTrack::parse(&String::from_utf8_lossy(n.data.unwrap_or_default()));
        let (stat, acl) = (n.stat.clone(), n.acl);
        f(&mut st);
        self.nodes.set_data(id, &stat, acl, Some(st.render().as_bytes()));
    }

    /// Adds to the counters of the quota at `prefix` (`updateQuotaStat`).
    pub(crate) fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        self.write_stats(prefix, |st| {
            st.set_count(st.count() + count_diff);
            st.set_bytes(st.bytes() + bytes_diff);
        });
    }

    /// Recounts the subtree at `path` into its stats node (`updateQuotaForPath`).
    pub(crate) fn update_quota_for_path(&mut self, path: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack: Vec<_> = self.nodes.lookup(path).into_iter().collect();
        while let Some(id) = stack.pop() {
            count += 1;
            bytes += self.nodes.get(id).data_len() as i64;
            stack.extend(self.nodes.children(id));
        }
        self.write_stats(path, |st| {
            *st = StatsTrack::default();
            st.set_bytes(bytes);
            st.set_count(count);
        });
    }

    /// Quota bookkeeping after a node was created.
    pub(crate) fn quota_on_create(&mut self, parent: &str, name: &str, path: &str, bytes: i64) {
        if let Some(real) = parent.strip_prefix(QUOTA_ROOT) {
            if !real.is_empty() {
                if name == LIMIT_NODE {
                    self.quota_paths.insert(real.to_owned());
                }
                if name == STAT_NODE {
                    self.update_quota_for_path(real);
                }
            }
        }
        if let Some(prefix) = self.max_quota_prefix(path) {
            self.update_quota_stat(&prefix, bytes, 1);
        }
    }

    /// Quota bookkeeping after a node was deleted.
    pub(crate) fn quota_on_delete(&mut self, parent: &str, name: &str, path: &str, bytes: i64) {
        if name == LIMIT_NODE {
            if let Some(real) = parent.strip_prefix(QUOTA_ROOT) {
                self.quota_paths.remove(real);
            }
        }
        if let Some(prefix) = self.max_quota_prefix(path) {
            self.update_quota_stat(&prefix, -bytes, -1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_track_text() {
        let st = StatsTrack::parse("count=3,bytes=19");
        assert_eq!((st.count(), st.bytes()), (3, 19));
        assert_eq!(st.render(), "count=3,bytes=19");
        let st = StatsTrack::parse("count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2");
        assert_eq!(st.render(), "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2");
    }
}
