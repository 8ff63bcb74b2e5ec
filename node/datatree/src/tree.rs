//! DataTree: every znode, the ephemeral/container/TTL indexes, the ACL cache, the tree
//! digest and the watch managers (`server/DataTree.java`).
//!
//! Writes come only as txns through [`DataTree::process_txn`] (see `apply.rs`), which
//! returns what happened and appends the watch events to deliver, in order. Reads take
//! `&self`, so any number run at once under a read lock; the only shared mutation on the
//! read path is watch registration, behind its own short mutex.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;
use zab_jute::data::{Acl, Stat, StatPersisted};

use crate::acl::{AclCache, OPEN_UNSAFE_ACL_ID};
use crate::digest::node_digest;
use crate::error::KeeperError;
use crate::node::{ChildSet, DataNode};
use crate::store::{NodeId, NodeStore, StoreError};
use crate::watch::{WatcherId, WatcherMode, Watches};

/// Settings that change how the tree behaves.
#[derive(Debug, Clone, Copy)]
pub struct TreeConfig {
    /// `zookeeper.extendedTypesEnabled`: TTL nodes.
    pub extended_types: bool,
    /// `zookeeper.digest.enabled`.
    pub digest_enabled: bool,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig { extended_types: false, digest_enabled: true }
    }
}

/// A watch notification to deliver to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub watcher: WatcherId,
    pub event_type: i32,
    pub path: String,
    /// The ACL the watcher must have READ on (ZooKeeper 3.8.4+ filters events so);
    /// `None` for events that are not filtered (setWatches on reconnect).
    pub acl: Option<Vec<Acl>>,
}

pub struct DataTree {
    pub(crate) nodes: NodeStore,
    pub(crate) acls: AclCache,
    pub(crate) ephemerals: HashMap<i64, ChildSet>,
    pub(crate) containers: HashSet<String>,
    pub(crate) ttls: HashSet<String>,
    /// Paths with a quota (`zookeeper_limits` exists for them).
    pub(crate) quota_paths: HashSet<String>,
    pub(crate) last_processed_zxid: i64,
    pub(crate) digest: u64,
    pub(crate) seq: u64,
    pub(crate) data_size: i64,
    pub(crate) watches: Mutex<Watches>,
    pub(crate) config: TreeConfig,
}

impl DataTree {
    /// A tree holding "/", "/zookeeper", "/zookeeper/quota" and "/zookeeper/config",
    /// as a fresh ZooKeeper has.
    pub fn new(config: TreeConfig) -> DataTree {
        let mut t = DataTree::empty(config);
        // An empty store has room for four nodes: this cannot fail.
        let _ = t.add_system_nodes();
        t
    }

    fn add_system_nodes(&mut self) -> Result<(), StoreError> {
        let stat = StatPersisted::default();
        let empty: Option<&[u8]> = Some(&[]);
        let root = self.add_root(&stat, OPEN_UNSAFE_ACL_ID, empty)?;
        let zk = self.add_child_of(root, "/zookeeper", &stat, OPEN_UNSAFE_ACL_ID, empty)?;
        self.add_child_of(zk, "/zookeeper/quota", &stat, OPEN_UNSAFE_ACL_ID, empty)?;
        let read_only = self.acls.intern(&Acl::read_unsafe());
        let config_stat = StatPersisted { aversion: -1, ..Default::default() };
        self.add_child_of(zk, "/zookeeper/config", &config_stat, read_only, empty)?;
        Ok(())
    }

    /// Writes a quorum member's configuration into `/zookeeper/config`
    /// (`ZKDatabase.initConfigInZKDatabase`): `setData` of `text` (`QuorumMaj.toString`)
    /// with version -1, mzxid the configuration's `version` and mtime `time`, creating the
    /// node first if a snapshot lacked it (`addConfigNode`). No txn: each member writes its
    /// own, at startup and after synchronising with a leader, while it serves no client, so
    /// the watch events this would fire have no one to go to. Nodes under `/zookeeper/` are
    /// not digested: the tree digest stays as it was.
    pub fn init_config(&mut self, text: &[u8], version: i64, time: i64) {
        const CONFIG: &str = "/zookeeper/config";
        if self.nodes.lookup(CONFIG).is_none() {
            let Some(zk) = self.nodes.lookup("/zookeeper") else {
                return;
            };
            let read_only = self.acls.intern(&Acl::read_unsafe());
            let config_stat = StatPersisted { aversion: -1, ..Default::default() };
            if self.add_child_of(zk, CONFIG, &config_stat, read_only, Some(&[])).is_err() {
                return;
            }
        }
        let mut unheard = Vec::new();
        let _ = self.set_data(CONFIG, Some(text), -1, version, time, &mut unheard);
    }

    /// A tree with no nodes at all, to be filled from a snapshot.
    pub(crate) fn empty(config: TreeConfig) -> DataTree {
        DataTree {
            nodes: NodeStore::default(),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: HashSet::new(),
            ttls: HashSet::new(),
            quota_paths: HashSet::new(),
            last_processed_zxid: 0,
            digest: 0,
            seq: 0,
            data_size: 0,
            watches: Mutex::new(Watches::default()),
            config,
        }
    }

    /// Adds the root, counting it in the digest and the data size ("/" is its path there).
    pub(crate) fn add_root(
        &mut self,
        stat: &StatPersisted,
        acl: i64,
        data: Option<&[u8]>,
    ) -> Result<NodeId, StoreError> {
        let id = self.nodes.insert_root(stat, acl, data)?;
        self.digest = self.digest.wrapping_add(self.digest_of("/", data, stat));
        self.data_size += (1 + data.map_or(0, |d| d.len())) as i64;
        Ok(id)
    }

    /// Adds the node at `path`, a child of the node `pid`, counting it in the digest and the
    /// data size. Only the store changes: the caller keeps the ACL counts,
    /// the indexes and the parent's Stat.
    pub(crate) fn add_child_of(
        &mut self,
        pid: NodeId,
        path: &str,
        stat: &StatPersisted,
        acl: i64,
        data: Option<&[u8]>,
    ) -> Result<NodeId, StoreError> {
        let id = self.nodes.insert(pid, path, stat, acl, data)?;
        self.digest = self.digest.wrapping_add(self.digest_of(path, data, stat));
        self.data_size += (path.len() + data.map_or(0, |d| d.len())) as i64;
        Ok(id)
    }

    pub(crate) fn digest_of(&self, path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> u64 {
        if !self.config.digest_enabled {
            return 0;
        }
        node_digest(path, data, stat)
    }

    /// Changes a node's Stat and ACL index in place, keeping the tree digest right (the
    /// path and data are hashed once for both digests).
    pub(crate) fn update_meta(&mut self, id: NodeId, path: &str, f: impl FnOnce(&mut StatPersisted, &mut i64)) {
        let n = self.nodes.get(id);
        let (mut stat, mut acl) = (n.stat.clone(), n.acl);
        f(&mut stat, &mut acl);
        if self.config.digest_enabled {
            let pd = crate::digest::path_data_hasher(path, n.data);
            let (before, after) = (crate::digest::finish(&pd, &n.stat), crate::digest::finish(&pd, &stat));
            self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        }
        self.nodes.set_meta(id, &stat, acl);
    }

    /// Changes the Stat of the node at `path` in place, keeping the tree digest right.
    /// False if absent.
    pub(crate) fn update_node(&mut self, path: &str, f: impl FnOnce(&mut StatPersisted)) -> bool {
        let Some(id) = self.nodes.lookup(path) else {
            return false;
        };
        self.update_meta(id, path, |s, _| f(s));
        true
    }

    pub fn config(&self) -> TreeConfig {
        self.config
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed_zxid
    }

    pub fn set_last_processed_zxid(&mut self, zxid: i64) {
        self.last_processed_zxid = zxid;
    }

    /// The tree digest (wrapping sum of node digests).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The node at `path`; "" is the root's alias, as in ZooKeeper's node map.
    pub fn node(&self, path: &str) -> Option<DataNode<'_>> {
        self.nodes.lookup(path).map(|id| self.nodes.get(id))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// `approximateDataSize`: the sum of path and data lengths.
    pub fn approximate_data_size(&self) -> i64 {
        self.data_size
    }

    pub fn acl_cache(&self) -> &AclCache {
        &self.acls
    }

    /// The ACL of a node (OPEN_ACL_UNSAFE for the system nodes).
    pub fn acl_of(&self, node: &DataNode<'_>) -> Vec<Acl> {
        self.acls.get(node.acl)
    }

    pub fn client_stat(&self, node: &DataNode<'_>) -> Stat {
        node.client_stat(self.config.extended_types)
    }

    /// getData: data and Stat, registering a data watch if asked.
    pub fn get_data(&self, path: &str, watcher: Option<WatcherId>) -> Result<(Option<Vec<u8>>, Stat), KeeperError> {
        self.get_data_checked(path, watcher, |_| Ok(()))
    }

    /// getData as the FinalRequestProcessor does it: the node must exist, then `may_read`
    /// must accept its ACL, then the watch is registered (one lookup, no ACL copy).
    pub fn get_data_checked(
        &self,
        path: &str,
        watcher: Option<WatcherId>,
        may_read: impl FnOnce(&[Acl]) -> Result<(), KeeperError>,
    ) -> Result<(Option<Vec<u8>>, Stat), KeeperError> {
        let node = self.node(path).ok_or(KeeperError::NoNode)?;
        self.acls.with(node.acl, may_read)?;
        if let Some(w) = watcher {
            self.watches.lock().data.add(path, w, WatcherMode::Standard);
        }
        Ok((node.data.map(<[u8]>::to_vec), self.client_stat(&node)))
    }

    /// exists: the Stat; the watch is registered even when the node is missing.
    pub fn stat_node(&self, path: &str, watcher: Option<WatcherId>) -> Result<Stat, KeeperError> {
        if let Some(w) = watcher {
            self.watches.lock().data.add(path, w, WatcherMode::Standard);
        }
        let node = self.node(path).ok_or(KeeperError::NoNode)?;
        Ok(self.client_stat(&node))
    }

    /// getChildren(2): names in ZooKeeper's order and the parent's Stat.
    pub fn get_children(&self, path: &str, watcher: Option<WatcherId>) -> Result<(Vec<String>, Stat), KeeperError> {
        self.get_children_checked(path, watcher, |_| Ok(()))
    }

    /// getChildren(2) as the FinalRequestProcessor does it: existence, then `may_read` on
    /// the ACL, then the watch.
    pub fn get_children_checked(
        &self,
        path: &str,
        watcher: Option<WatcherId>,
        may_read: impl FnOnce(&[Acl]) -> Result<(), KeeperError>,
    ) -> Result<(Vec<String>, Stat), KeeperError> {
        let id = self.nodes.lookup(path).ok_or(KeeperError::NoNode)?;
        let node = self.nodes.get(id);
        self.acls.with(node.acl, may_read)?;
        let children = self.nodes.children_java_order(id);
        if let Some(w) = watcher {
            self.watches.lock().child.add(path, w, WatcherMode::Standard);
        }
        Ok((children, self.client_stat(&node)))
    }

    /// getAllChildrenNumber: every descendant (for "/", every node but the root).
    pub fn all_children_number(&self, path: &str) -> i32 {
        if path == "/" {
            return self.nodes.len() as i32 - 1;
        }
        if path.is_empty() {
            // Every key but the "" alias starts with "/" in ZooKeeper's map.
            return self.nodes.len() as i32;
        }
        // ZooKeeper counts the keys that start with `path + "/"`: the descendants.
        let Some(id) = self.nodes.lookup(path) else {
            return 0;
        };
        let (mut count, mut stack) = (0i32, vec![id]);
        while let Some(n) = stack.pop() {
            for c in self.nodes.children(n) {
                count = count.wrapping_add(1);
                stack.push(c);
            }
        }
        count
    }

    /// The ephemerals of a session, in ZooKeeper's order.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals.get(&session).map(|s| s.java_order()).unwrap_or_default()
    }

    /// Every session that owns ephemerals, with their paths.
    pub fn all_ephemerals(&self) -> impl Iterator<Item = (i64, Vec<String>)> + '_ {
        self.ephemerals.iter().map(|(s, set)| (*s, set.java_order()))
    }

    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn containers(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(|s| s.as_str())
    }

    pub fn ttls(&self) -> impl Iterator<Item = &str> {
        self.ttls.iter().map(|s| s.as_str())
    }

    /// addWatch: registers in both managers.
    pub fn add_watch(&self, path: &str, w: WatcherId, mode: WatcherMode) {
        let mut ws = self.watches.lock();
        ws.data.add(path, w, mode);
        ws.child.add(path, w, mode);
    }

    #[allow(clippy::too_many_arguments)]
    /// setWatches(2) after a reconnect (`DataTree.setWatches`): fires at once what changed
    /// since `relative_zxid`, registers the rest.
    pub fn set_watches(
        &self,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        recursive: &[String],
        w: WatcherId,
    ) -> Vec<WatchEvent> {
        use zab_jute::codes::event::*;
        let mut out = Vec::new();
        let ev = |t: i32, p: &str| WatchEvent { watcher: w, event_type: t, path: p.to_owned(), acl: None };
        let mut ws = self.watches.lock();
        for p in data {
            match self.node(p) {
                None => out.push(ev(NODE_DELETED, p)),
                Some(n) if n.stat.mzxid > relative_zxid => out.push(ev(NODE_DATA_CHANGED, p)),
                Some(_) => ws.data.add(p, w, WatcherMode::Standard),
            }
        }
        for p in exist {
            if self.nodes.lookup(p).is_some() {
                out.push(ev(NODE_CREATED, p));
            } else {
                ws.data.add(p, w, WatcherMode::Standard);
            }
        }
        for p in child {
            match self.node(p) {
                None => out.push(ev(NODE_DELETED, p)),
                Some(n) if n.stat.pzxid > relative_zxid => out.push(ev(NODE_CHILDREN_CHANGED, p)),
                Some(_) => ws.child.add(p, w, WatcherMode::Standard),
            }
        }
        for p in persistent {
            ws.child.add(p, w, WatcherMode::Persistent);
            ws.data.add(p, w, WatcherMode::Persistent);
        }
        for p in recursive {
            ws.child.add(p, w, WatcherMode::PersistentRecursive);
            ws.data.add(p, w, WatcherMode::PersistentRecursive);
        }
        out
    }

    /// checkWatches: is there such a watch (`DataTree.containsWatcher`)?
    /// Whether ZooKeeper 3.8 knows the watcher type (Children 1, Data 2, Any 3); others fail
    /// to decode there (a marshalling error).
    pub fn valid_watcher_type(watcher_type: i32) -> bool {
        (1..=3).contains(&watcher_type)
    }

    pub fn contains_watcher(&self, path: &str, watcher_type: i32, w: WatcherId) -> bool {
        use zab_jute::codes::watcher_type::*;
        let ws = self.watches.lock();
        match watcher_type {
            CHILDREN => ws.child.contains(path, w),
            DATA => ws.data.contains(path, w),
            ANY => ws.child.contains(path, w) | ws.data.contains(path, w),
            _ => false,
        }
    }

    /// removeWatches (`DataTree.removeWatch`).
    pub fn remove_watch(&self, path: &str, watcher_type: i32, w: WatcherId) -> bool {
        use zab_jute::codes::watcher_type::*;
        let mut ws = self.watches.lock();
        match watcher_type {
            CHILDREN => ws.child.remove(path, w),
            DATA => ws.data.remove(path, w),
            ANY => {
                let a = ws.child.remove(path, w);
                let b = ws.data.remove(path, w);
                a | b
            }
            _ => false,
        }
    }

    /// Drops every watch of a closed connection.
    pub fn remove_watcher(&self, w: WatcherId) {
        let mut ws = self.watches.lock();
        ws.data.remove_watcher(w);
        ws.child.remove_watcher(w);
    }

    /// Runs `f` with the watch managers locked (for reports).
    pub fn with_watches<R>(&self, f: impl FnOnce(&Watches) -> R) -> R {
        f(&self.watches.lock())
    }

    /// Every node path, in no particular order (for dumps).
    pub fn paths(&self) -> impl Iterator<Item = String> + '_ {
        self.nodes.ids().map(|id| self.nodes.path(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_config_sets_the_config_node_outside_the_digest() {
        let mut t = DataTree::new(TreeConfig::default());
        let (digest, size) = (t.digest(), t.approximate_data_size());
        let text = b"server.1=127.0.0.1:2888:3888:participant\nversion=0";
        t.init_config(text, 0, 1_700_000_000_000);
        let (data, stat) = t.get_data("/zookeeper/config", None).unwrap();
        assert_eq!(data.as_deref(), Some(&text[..]));
        assert_eq!((stat.version, stat.mzxid, stat.mtime), (-1, 0, 1_700_000_000_000));
        assert_eq!((stat.czxid, stat.ctime, stat.aversion, stat.data_length), (0, 0, -1, text.len() as i32));
        assert_eq!(t.digest(), digest, "nodes under /zookeeper/ are not digested");
        assert_eq!(t.approximate_data_size(), size + text.len() as i64);
        t.init_config(b"version=100000000", 0x1_0000_0000, 5);
        let (data, stat) = t.get_data("/zookeeper/config", None).unwrap();
        assert_eq!((data.as_deref(), stat.mzxid, stat.mtime), (Some(&b"version=100000000"[..]), 0x1_0000_0000, 5));
        assert_eq!(t.approximate_data_size(), size + 17);
    }

    #[test]
    fn init_config_recreates_a_missing_config_node() {
        let mut t = DataTree::empty(TreeConfig::default());
        let stat = StatPersisted::default();
        let root = t.add_root(&stat, OPEN_UNSAFE_ACL_ID, Some(&[])).unwrap();
        t.add_child_of(root, "/zookeeper", &stat, OPEN_UNSAFE_ACL_ID, Some(&[])).unwrap();
        t.init_config(b"version=0", 0, 7);
        let node = t.node("/zookeeper/config").unwrap();
        assert_eq!(t.acl_of(&node), Acl::read_unsafe());
        assert_eq!((node.stat.version, node.stat.aversion, node.data), (-1, -1, Some(&b"version=0"[..])));
        let (children, _) = t.get_children("/zookeeper", None).unwrap();
        assert_eq!(children, ["config"]);
    }
}
