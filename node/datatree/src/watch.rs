//! WatchManager: who watches which path, in which mode (`server/watch/WatchManager.java`,
//! `WatcherModeManager.java`). The DataTree keeps two: data watches (getData/exists) and
//! child watches (getChildren); addWatch registers in both.
//!
//! Semantics kept from ZooKeeper 3.8:
//! - a watcher is a connection, not a session; closing the connection drops its watches;
//! - one mode per (watcher, path): registering a standard watch where a persistent one
//!   exists turns it back into a standard (one-shot) watch, as 3.8 does;
//! - a trigger notifies each watcher at most once; standard watches are removed by it;
//! - recursive watches fire for the whole subtree but never for NodeChildrenChanged;
//! - `contains` answers true at the leaf if anyone watches the path (checkWatches quirk).

use std::collections::{HashMap, HashSet};

use zab_jute::codes::event;

use crate::path::path_and_parents;

/// A watcher: the id of one client connection.
pub type WatcherId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherMode {
    Standard,
    Persistent,
    PersistentRecursive,
}

impl WatcherMode {
    fn is_persistent(self) -> bool {
        self != WatcherMode::Standard
    }
    fn is_recursive(self) -> bool {
        self == WatcherMode::PersistentRecursive
    }
}

#[derive(Debug, Default)]
pub struct WatchManager {
    table: HashMap<String, Vec<WatcherId>>,
    by_watcher: HashMap<WatcherId, HashSet<String>>,
    modes: HashMap<(WatcherId, String), WatcherMode>,
    recursive: usize,
}

impl WatchManager {
    fn set_mode(&mut self, w: WatcherId, path: &str, mode: WatcherMode) {
        let old = if mode == WatcherMode::Standard {
            self.modes.remove(&(w, path.to_owned()))
        } else {
            self.modes.insert((w, path.to_owned()), mode)
        };
        let was_rec = old.is_some_and(|m| m.is_recursive());
        match (was_rec, mode.is_recursive()) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
    }

    fn mode(&self, w: WatcherId, path: &str) -> WatcherMode {
        // Avoid allocating for the common case of no persistent watches at all.
        if self.modes.is_empty() {
            return WatcherMode::Standard;
        }
        self.modes.get(&(w, path.to_owned())).copied().unwrap_or(WatcherMode::Standard)
    }

    /// Registers `w` on `path` in `mode`.
    pub fn add(&mut self, path: &str, w: WatcherId, mode: WatcherMode) {
        let list = self.table.entry(path.to_owned()).or_default();
        if !list.contains(&w) {
            list.push(w);
        }
        self.by_watcher.entry(w).or_default().insert(path.to_owned());
        self.set_mode(w, path, mode);
    }

    /// Drops every watch of a closed connection.
    pub fn remove_watcher(&mut self, w: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&w) else {
            return;
        };
        for p in paths {
            if let Some(list) = self.table.get_mut(&p) {
                list.retain(|x| *x != w);
                if list.is_empty() {
                    self.table.remove(&p);
                }
            }
            self.set_mode(w, &p, WatcherMode::Standard);
        }
    }

    /// Fires `event_type` for `path`; returns the watchers to notify, each once, minus
    /// `suppress`.
    pub fn trigger(&mut self, path: &str, event_type: i32, suppress: &[WatcherId]) -> Vec<WatcherId> {
        let mut out: Vec<WatcherId> = Vec::new();
        let check_parents = self.recursive > 0;
        for (depth, p) in path_and_parents(path).enumerate() {
            let at_parent = depth > 0;
            if at_parent && !check_parents {
                break;
            }
            let Some(list) = self.table.get(p) else {
                continue;
            };
            let mut fired_standard: Vec<WatcherId> = Vec::new();
            for &w in list {
                let mode = self.mode(w, p);
                if mode.is_recursive() {
                    if event_type != event::NODE_CHILDREN_CHANGED && !out.contains(&w) {
                        out.push(w);
                    }
                } else if !at_parent {
                    if !out.contains(&w) {
                        out.push(w);
                    }
                    if !mode.is_persistent() {
                        fired_standard.push(w);
                    }
                }
            }
            if !fired_standard.is_empty() {
                let owned = p.to_owned();
                if let Some(list) = self.table.get_mut(&owned) {
                    list.retain(|w| !fired_standard.contains(w));
                    if list.is_empty() {
                        self.table.remove(&owned);
                    }
                }
                for w in fired_standard {
                    if let Some(paths) = self.by_watcher.get_mut(&w) {
                        paths.remove(&owned);
                        if paths.is_empty() {
                            self.by_watcher.remove(&w);
                        }
                    }
                }
            }
        }
        out.retain(|w| !suppress.contains(w));
        out
    }

    /// `WatchManager.containsWatcher`.
    pub fn contains(&self, path: &str, w: WatcherId) -> bool {
        let mode = self.mode(w, path);
        for (depth, p) in path_and_parents(path).enumerate() {
            if depth == 0 && self.table.contains_key(p) {
                return true;
            }
            if mode.is_recursive() {
                return true;
            }
        }
        false
    }

    /// `WatchManager.removeWatcher(path, watcher)`.
    pub fn remove(&mut self, path: &str, w: WatcherId) -> bool {
        let Some(paths) = self.by_watcher.get_mut(&w) else {
            return false;
        };
        if !paths.remove(path) {
            return false;
        }
        if paths.is_empty() {
            self.by_watcher.remove(&w);
        }
        let Some(list) = self.table.get_mut(path) else {
            return false;
        };
        let before = list.len();
        list.retain(|x| *x != w);
        if list.len() == before {
            return false;
        }
        if list.is_empty() {
            self.table.remove(path);
        }
        self.set_mode(w, path, WatcherMode::Standard);
        true
    }

    /// Total watches: the sum over watchers of the paths each watches.
    pub fn watch_count(&self) -> usize {
        self.by_watcher.values().map(|p| p.len()).sum()
    }

    pub fn path_count(&self) -> usize {
        self.table.len()
    }

    pub fn watcher_count(&self) -> usize {
        self.by_watcher.len()
    }

    /// watcher -> paths, for `wchc`.
    pub fn by_watcher(&self) -> impl Iterator<Item = (WatcherId, &HashSet<String>)> {
        self.by_watcher.iter().map(|(w, p)| (*w, p))
    }

    /// path -> watchers, for `wchp`.
    pub fn by_path(&self) -> impl Iterator<Item = (&str, &[WatcherId])> {
        self.table.iter().map(|(p, w)| (p.as_str(), w.as_slice()))
    }
}

/// The DataTree's two managers.
#[derive(Debug, Default)]
pub struct Watches {
    pub data: WatchManager,
    pub child: WatchManager,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_watch_fires_once() {
        let mut m = WatchManager::default();
        m.add("/a", 1, WatcherMode::Standard);
        assert_eq!(m.trigger("/a", event::NODE_DATA_CHANGED, &[]), vec![1]);
        assert!(m.trigger("/a", event::NODE_DATA_CHANGED, &[]).is_empty());
        assert_eq!(m.watch_count(), 0);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut m = WatchManager::default();
        m.add("/a", 1, WatcherMode::Persistent);
        m.add("/a", 2, WatcherMode::PersistentRecursive);
        assert_eq!(m.trigger("/a/b", event::NODE_CREATED, &[]), vec![2]);
        assert_eq!(m.trigger("/a", event::NODE_CHILDREN_CHANGED, &[]), vec![1]);
        assert_eq!(m.trigger("/a", event::NODE_DATA_CHANGED, &[]), vec![1, 2]);
        assert_eq!(m.watch_count(), 2);
        // 3.8 quirk: a standard watch on the same path downgrades the persistent one.
        m.add("/a", 1, WatcherMode::Standard);
        assert_eq!(m.trigger("/a", event::NODE_DATA_CHANGED, &[]), vec![1, 2]);
        assert_eq!(m.trigger("/a", event::NODE_DATA_CHANGED, &[]), vec![2]);
        assert!(m.remove("/a", 2));
        assert!(!m.remove("/a", 2));
        assert!(m.trigger("/a/b", event::NODE_DELETED, &[]).is_empty());
    }

    #[test]
    fn closing_a_connection_drops_its_watches() {
        let mut m = WatchManager::default();
        m.add("/a", 1, WatcherMode::PersistentRecursive);
        m.add("/b", 1, WatcherMode::Standard);
        m.remove_watcher(1);
        assert_eq!(m.watch_count(), 0);
        assert_eq!(m.path_count(), 0);
        assert!(m.trigger("/a/x", event::NODE_CREATED, &[]).is_empty());
    }
}
