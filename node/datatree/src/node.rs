//! DataNode: one znode's data, ACL index, persisted Stat and child names.
//!
//! Children are kept with their insertion sequence so that [`ChildSet::java_order`] can
//! return them in the order ZooKeeper's `HashSet<String>` would (see [`crate::java`]).

use std::collections::HashMap;

use zab_jute::data::{Stat, StatPersisted};

use crate::ephemeral::EphemeralType;
use crate::java;

/// Initial table size of ZooKeeper's `new HashSet<String>(8)` / `new HashSet<>()`.
pub const JAVA_SET_INITIAL_TABLE: u32 = 16;

/// Child names of a node, remembering insertion order and the largest size reached.
#[derive(Debug, Clone, Default)]
pub struct ChildSet {
    names: HashMap<Box<str>, u64, ahash::RandomState>,
    max_len: usize,
}

impl ChildSet {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// Adds `name` with insertion sequence `seq`; false if present.
    pub fn insert(&mut self, name: &str, seq: u64) -> bool {
        if self.names.contains_key(name) {
            return false;
        }
        self.names.insert(name.into(), seq);
        self.max_len = self.max_len.max(self.names.len());
        true
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.names.remove(name).is_some()
    }

    /// Names in any order (cheap).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(|k| &**k)
    }

    /// Names in the iteration order of ZooKeeper's Java HashSet.
    pub fn java_order(&self) -> Vec<String> {
        let cap = java::hash_set_capacity(JAVA_SET_INITIAL_TABLE, self.max_len);
        let mut v: Vec<(&str, u64)> = self.names.iter().map(|(k, s)| (&**k, *s)).collect();
        java::hash_set_order(&mut v, cap, |(n, s)| (n, *s));
        v.into_iter().map(|(n, _)| n.to_owned()).collect()
    }
}

/// One znode.
#[derive(Debug, Clone, Default)]
pub struct DataNode {
    pub stat: StatPersisted,
    /// Index into the DataTree's [`crate::acl::AclCache`].
    pub acl: i64,
    /// `None` is a null buffer (as a Java client's `create(path, null, ...)` sends).
    pub data: Option<Box<[u8]>>,
    pub children: Option<Box<ChildSet>>,
}

impl DataNode {
    pub fn new(data: Option<Box<[u8]>>, acl: i64, stat: StatPersisted) -> DataNode {
        DataNode { stat, acl, data, children: None }
    }

    pub fn num_children(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }

    /// `DataNode.copyStat`: the Stat a client sees. The stored cversion counts creates;
    /// clients see creates + deletes (`2*cversion - numChildren`), and containers and TTL
    /// nodes report ephemeralOwner 0.
    pub fn client_stat(&self, ext: bool) -> Stat {
        let s = &self.stat;
        let n = self.num_children() as i32;
        let owner = match EphemeralType::of(s.ephemeral_owner, ext) {
            EphemeralType::Normal => s.ephemeral_owner,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: self.data_len() as i32,
            num_children: n,
            pzxid: s.pzxid,
        }
    }

    pub fn add_child(&mut self, name: &str, seq: u64) -> bool {
        self.children.get_or_insert_with(Default::default).insert(name, seq)
    }

    pub fn remove_child(&mut self, name: &str) -> bool {
        self.children.as_mut().is_some_and(|c| c.remove(name))
    }
}
