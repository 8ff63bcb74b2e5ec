//! NodeStore: every znode of the DataTree, kept compact (ZooKeeper's `NodeHashMap`).
//!
//! ZooKeeper maps each full path to a `DataNode` object holding a `HashSet` of child
//! names (over 400 bytes a znode in a Rust map of the same shape). Here a znode costs
//! about 34 bytes beside its name, data and encoded Stat:
//!
//! - a fixed 24-byte record in one `Vec`, named by a `u32` [`NodeId`]: parent, previous and
//!   next sibling, its path hash, and the handle and length of its blob in the arena
//!   (`arena.rs`): name, flags, Stat, ACL index, child list if any, and data (see
//!   `node.rs`); freed records are chained and reused;
//! - one `u32` in the path index, a hash table of ids keyed by a keyed 32-bit hash of the
//!   full path, which the record keeps (so growing the table reads no blob). No path string
//!   is stored: a candidate is checked by matching the path against the names on its way up
//!   to the root, so a lookup costs one probe however deep the path;
//! - children as a doubly linked sibling list in insertion order, with the list's length
//!   and the largest length it reached: exactly what [`crate::java::hash_set_order`] needs
//!   to return them in the order of ZooKeeper's `HashSet<String>` (bucket, then insertion).
//!   A node's list, once made, stays until the node goes, as ZooKeeper's set does.
//!
//! A blob stays under 4 GiB: names and data come from jute records, whose lengths are i32
//! and which fit in `jute.maxbuffer`.
//!
//! The store knows nothing of digests, ACL counts or indexes: the DataTree keeps those.
//! Reads take `&self`; ids are internal (they are reused after a delete, so nothing
//! outside the tree holds one across a write).

use hashbrown::HashTable;
use zab_jute::data::StatPersisted;

use crate::arena::BlobArena;
use crate::java;
use crate::node::{self, Base, DataNode, Head, JAVA_SET_INITIAL_TABLE};

/// A znode's place in the store.
pub type NodeId = u32;

const NONE: u32 = u32::MAX;

/// At most this many znodes (so that no handle of the arena can run out first).
pub const MAX_NODES: usize = (1 << 31) - (1 << 16);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The parent already has a child of that name (or there already is a root).
    Exists,
    /// [`MAX_NODES`] reached.
    Full,
    /// The path has no '/'.
    NoParent,
}

#[derive(Debug, Clone, Copy)]
struct Rec {
    parent: u32,
    prev: u32,
    /// The next sibling; for a free record, the next free record.
    next: u32,
    blob: u32,
    /// Blob length; 0 for a free record (a blob is never empty).
    len: u32,
    /// Hash of the node's full path (see [`NodeStore::path_hash`]).
    hash: u32,
}

#[derive(Debug, Clone, Copy)]
struct ChildList {
    first: u32,
    last: u32,
    len: u32,
    max_len: u32,
}

#[derive(Default)]
pub struct NodeStore {
    recs: Vec<Rec>,
    free_rec: Option<NodeId>,
    count: usize,
    root: Option<NodeId>,
    /// Node ids by hash of their full path; the root is not in it.
    index: HashTable<NodeId>,
    hasher: ahash::RandomState,
    lists: Vec<ChildList>,
    free_lists: Vec<u32>,
    blobs: BlobArena,
    /// What czxid and ctime are stored relative to: those of the first node created.
    base: Option<Base>,
    /// Reused buffer for building blobs (given back after a large one).
    scratch: Vec<u8>,
}

impl std::fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStore").field("count", &self.count).finish_non_exhaustive()
    }
}

/// The table hash of a 32-bit path hash: the multiply spreads it over the bits hashbrown
/// uses (low bits for the bucket, top 7 for the tag).
fn table_hash(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl NodeStore {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Makes room for `n` more nodes (for loading a snapshot).
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(MAX_NODES);
        self.recs.reserve(n);
        let recs = &self.recs;
        self.index.reserve(n, |&id| table_hash(recs[id as usize].hash));
    }

    fn path_hash(&self, path: &str) -> u32 {
        self.hasher.hash_one(path.as_bytes()) as u32
    }

    fn blob(&self, id: NodeId) -> &[u8] {
        let r = &self.recs[id as usize];
        self.blobs.get(r.blob, r.len as usize)
    }

    pub fn root(&self) -> Option<NodeId> {
        self.root
    }

    /// The node at `path`; "/" and "" are the root (as in ZooKeeper's node map).
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        let root = self.root?;
        if path.is_empty() || path == "/" {
            return Some(root);
        }
        let h = table_hash(self.path_hash(path));
        self.index.find(h, |&id| self.is_at(id, path)).copied()
    }

    /// Whether `path` is the path of node `id`: its name, its parent's, ... up to the root.
    fn is_at(&self, id: NodeId, path: &str) -> bool {
        let mut rest = path.as_bytes();
        let mut cur = id;
        loop {
            let Some(before) = rest.strip_suffix(self.name_bytes(cur)).and_then(|r| r.strip_suffix(b"/")) else {
                return false;
            };
            rest = before;
            match self.parent(cur) {
                Some(p) if Some(p) == self.root => return rest.is_empty(),
                Some(p) => cur = p,
                None => return false,
            }
        }
    }

    fn name_bytes(&self, id: NodeId) -> &[u8] {
        node::split_name(self.blob(id)).1
    }

    /// The last component of a node's path ("" for the root).
    pub fn name(&self, id: NodeId) -> &str {
        // Names are only ever stored from a &str.
        std::str::from_utf8(self.name_bytes(id)).unwrap_or_default()
    }

    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        Some(self.recs[id as usize].parent).filter(|&p| p != NONE)
    }

    /// The full path of a node ("/" for the root).
    pub fn path(&self, id: NodeId) -> String {
        let mut names = Vec::new();
        let mut cur = id;
        while let Some(p) = self.parent(cur) {
            names.push(self.name(cur));
            cur = p;
        }
        if names.is_empty() {
            return "/".into();
        }
        let mut s = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        for n in names.iter().rev() {
            s.push('/');
            s.push_str(n);
        }
        s
    }

    /// The head of a node's blob, and where its data starts.
    fn head(&self, id: NodeId) -> (Head, usize) {
        let blob = self.blob(id);
        node::decode_head(blob, node::split_name(blob).0, self.base)
    }

    /// The node: Stat, ACL index, data and number of children.
    pub fn get(&self, id: NodeId) -> DataNode<'_> {
        let (h, data_start) = self.head(id);
        let num_children = h.list.and_then(|l| self.lists.get(l as usize)).map_or(0, |l| l.len);
        let data = node::data_of(self.blob(id), &h, data_start);
        DataNode { stat: h.stat, acl: h.acl, data, num_children }
    }

    fn list(&self, id: NodeId) -> Option<&ChildList> {
        self.head(id).0.list.and_then(|l| self.lists.get(l as usize))
    }

    pub fn num_children(&self, id: NodeId) -> usize {
        self.list(id).map_or(0, |l| l.len as usize)
    }

    /// The children of a node in insertion order.
    pub fn children(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut cur = self.list(id).map_or(NONE, |l| l.first);
        std::iter::from_fn(move || {
            let id = Some(cur).filter(|&c| c != NONE)?;
            cur = self.recs[id as usize].next;
            Some(id)
        })
    }

    /// Child names in the iteration order of ZooKeeper's `HashSet<String>`.
    pub fn children_java_order(&self, id: NodeId) -> Vec<String> {
        let Some(list) = self.list(id) else {
            return Vec::new();
        };
        let cap = java::hash_set_capacity(JAVA_SET_INITIAL_TABLE, list.max_len as usize);
        let mut v: Vec<(&str, u64)> = self.children(id).zip(0u64..).map(|(c, seq)| (self.name(c), seq)).collect();
        java::hash_set_order(&mut v, cap, |(n, s)| (n, *s));
        v.into_iter().map(|(n, _)| n.to_owned()).collect()
    }

    /// Bytes held by the store (records, index, child lists, blobs), rounding included.
    pub fn footprint(&self) -> usize {
        self.recs.capacity() * std::mem::size_of::<Rec>()
            + self.index.capacity() * (std::mem::size_of::<NodeId>() + 1)
            + self.lists.capacity() * std::mem::size_of::<ChildList>()
            + self.blobs.footprint()
    }

    /// Every node, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.recs.iter().zip(0u32..).filter(|(r, _)| r.len != 0).map(|(_, id)| id)
    }

    fn new_record(&mut self, parent: u32, blob: u32, len: u32, hash: u32) -> NodeId {
        let rec = Rec { parent, prev: NONE, next: NONE, blob, len, hash };
        self.count += 1;
        match self.free_rec {
            Some(id) => {
                let next = self.recs[id as usize].next;
                self.free_rec = Some(next).filter(|&n| n != NONE);
                self.recs[id as usize] = rec;
                id
            }
            None => {
                self.recs.push(rec);
                (self.recs.len() - 1) as NodeId
            }
        }
    }

    fn store_blob(&mut self, name: &[u8], stat: &StatPersisted, acl: i64, data: Option<&[u8]>) -> (u32, u32) {
        self.scratch.clear();
        let head = Head { stat: stat.clone(), acl, has_data: data.is_some(), list: None };
        node::encode(&mut self.scratch, name, &head, data, self.base);
        let stored = (self.blobs.alloc(&self.scratch), self.scratch.len() as u32);
        self.trim_scratch();
        stored
    }

    /// Makes the root; there must not be one.
    pub fn insert_root(&mut self, stat: &StatPersisted, acl: i64, data: Option<&[u8]>) -> Result<NodeId, StoreError> {
        if self.root.is_some() {
            return Err(StoreError::Exists);
        }
        let (blob, len) = self.store_blob(b"", stat, acl, data);
        let id = self.new_record(NONE, blob, len, 0);
        self.root = Some(id);
        Ok(id)
    }

    /// Adds the node at `path`, last in the sibling list of `parent`, which must be the node
    /// at the part of `path` before its last '/' ("/" for "/a").
    pub fn insert(
        &mut self,
        parent: NodeId,
        path: &str,
        stat: &StatPersisted,
        acl: i64,
        data: Option<&[u8]>,
    ) -> Result<NodeId, StoreError> {
        let (parent_path, name) = path.rsplit_once('/').ok_or(StoreError::NoParent)?;
        debug_assert_eq!(self.lookup(parent_path), Some(parent));
        if path == "/" || self.lookup(path).is_some() {
            return Err(StoreError::Exists);
        }
        if self.count >= MAX_NODES {
            return Err(StoreError::Full);
        }
        if self.base.is_none() && (stat.czxid, stat.ctime) != (0, 0) {
            self.base = Some(Base { zxid: stat.czxid, time: stat.ctime });
        }
        let (blob, len) = self.store_blob(name.as_bytes(), stat, acl, data);
        let hash = self.path_hash(path);
        let id = self.new_record(parent, blob, len, hash);
        let (mut head, _) = self.head(parent);
        let li = match head.list {
            Some(li) => li,
            None => {
                let l = ChildList { first: NONE, last: NONE, len: 0, max_len: 0 };
                let li = match self.free_lists.pop() {
                    Some(li) => {
                        self.lists[li as usize] = l;
                        li
                    }
                    None => {
                        self.lists.push(l);
                        (self.lists.len() - 1) as u32
                    }
                };
                head.list = Some(li);
                self.set_head(parent, &head);
                li
            }
        };
        let l = &mut self.lists[li as usize];
        let last = l.last;
        l.last = id;
        if last == NONE {
            l.first = id;
        }
        l.len += 1;
        l.max_len = l.max_len.max(l.len);
        if last != NONE {
            self.recs[last as usize].next = id;
        }
        self.recs[id as usize].prev = last;
        let recs = &self.recs;
        self.index.insert_unique(table_hash(hash), id, |&i| table_hash(recs[i as usize].hash));
        Ok(id)
    }

    /// Rewrites a node's Stat and ACL index (in place unless the encoding changed length).
    pub fn set_meta(&mut self, id: NodeId, stat: &StatPersisted, acl: i64) {
        let (head, _) = self.head(id);
        self.set_head(id, &Head { stat: stat.clone(), acl, ..head });
    }

    /// Rewrites the head of a node's blob.
    fn set_head(&mut self, id: NodeId, head: &Head) {
        let r = self.recs[id as usize];
        let blob = self.blobs.get(r.blob, r.len as usize);
        let (start, _) = node::split_name(blob);
        let (_, head_end) = node::decode_head(blob, start, self.base);
        self.scratch.clear();
        node::encode_head(&mut self.scratch, head, self.base);
        if self.scratch.len() == head_end - start {
            self.blobs.get_mut(r.blob, r.len as usize)[start..head_end].copy_from_slice(&self.scratch);
            return;
        }
        let blob = self.blobs.get(r.blob, r.len as usize);
        let mut b = Vec::with_capacity(r.len as usize + self.scratch.len());
        b.extend_from_slice(&blob[..start]);
        b.extend_from_slice(&self.scratch);
        b.extend_from_slice(&blob[head_end..]);
        self.replace_blob(id, &b);
    }

    /// Replaces a node's data, Stat and ACL index.
    pub fn set_data(&mut self, id: NodeId, stat: &StatPersisted, acl: i64, data: Option<&[u8]>) {
        let r = self.recs[id as usize];
        let (old, _) = self.head(id);
        let head = Head { stat: stat.clone(), acl, has_data: data.is_some(), list: old.list };
        let mut b = std::mem::take(&mut self.scratch);
        b.clear();
        node::encode(&mut b, self.name_bytes(id), &head, data, self.base);
        if b.len() == r.len as usize {
            self.blobs.get_mut(r.blob, r.len as usize).copy_from_slice(&b);
        } else {
            self.replace_blob(id, &b);
        }
        self.scratch = b;
        self.trim_scratch();
    }

    /// Lets go of the buffer after a large blob went through it.
    fn trim_scratch(&mut self) {
        if self.scratch.capacity() > 64 * 1024 {
            self.scratch = Vec::new();
        }
    }

    fn replace_blob(&mut self, id: NodeId, bytes: &[u8]) {
        let r = self.recs[id as usize];
        let h = self.blobs.alloc(bytes);
        self.blobs.free(r.blob, r.len as usize);
        let rec = &mut self.recs[id as usize];
        rec.blob = h;
        rec.len = bytes.len() as u32;
    }

    /// The last child of a node.
    fn last_child(&self, id: NodeId) -> Option<NodeId> {
        self.list(id).map(|l| l.last).filter(|&c| c != NONE)
    }

    /// Removes a node and (should it have any) its descendants.
    pub fn remove(&mut self, id: NodeId) {
        // Leaves first, without recursion: a path may be thousands of levels deep.
        loop {
            let mut cur = id;
            while let Some(c) = self.last_child(cur) {
                cur = c;
            }
            if cur == id {
                break;
            }
            self.remove_leaf(cur);
        }
        self.remove_leaf(id);
    }

    fn remove_leaf(&mut self, id: NodeId) {
        let r = self.recs[id as usize];
        match self.parent(id) {
            Some(parent) => {
                if let Ok(e) = self.index.find_entry(table_hash(r.hash), |&i| i == id) {
                    e.remove();
                }
                if r.prev != NONE {
                    self.recs[r.prev as usize].next = r.next;
                }
                if r.next != NONE {
                    self.recs[r.next as usize].prev = r.prev;
                }
                let li = self.head(parent).0.list;
                if let Some(l) = li.and_then(|li| self.lists.get_mut(li as usize)) {
                    if r.prev == NONE {
                        l.first = r.next;
                    }
                    if r.next == NONE {
                        l.last = r.prev;
                    }
                    l.len -= 1;
                }
            }
            None => self.root = None,
        }
        if let Some(li) = self.head(id).0.list {
            self.free_lists.push(li);
        }
        self.blobs.free(r.blob, r.len as usize);
        self.recs[id as usize] =
            Rec { parent: NONE, prev: NONE, next: self.free_rec.unwrap_or(NONE), blob: 0, len: 0, hash: 0 };
        self.free_rec = Some(id);
        self.count -= 1;
    }
}
