//! The DataTree part of a snapshot (`DataTree.serialize` / `deserialize`,
//! `ReferenceCountedACLCache.serialize`): the ACL cache, then every node in pre-order
//! (`ustring path` — "" for the root — then `DataNode{buffer data, long acl,
//! StatPersisted}`), closed by the path "/".
//!
//! Writing is fuzzy, as in ZooKeeper: [`NodeCursor`] walks the tree a bounded number of
//! nodes per step, so the caller can release the tree lock between steps while writes go
//! on; replaying the log from the snapshot's zxid makes the result exact. A node created
//! during the walk with an ACL list the snapshot's ACL section lacks would be unreadable,
//! so the cursor reports it and the caller starts over.
//!
//! Reading goes through [`SnapshotLoader`], which takes the bytes in pieces of any size.

use std::collections::HashSet;

use zab_jute::data::{Acl, StatPersisted};
use zab_jute::record::Record;
use zab_jute::{InputArchive, JuteError, OutputArchive};

use crate::acl::OPEN_UNSAFE_ACL_ID;
use crate::quota::{LIMIT_NODE, QUOTA_ROOT};
use crate::store::{NodeId, StoreError};
use crate::tree::{DataTree, TreeConfig};

impl crate::acl::AclCache {
    /// Every (index, ACL list), for the snapshot's ACL section.
    pub fn entries(&self) -> Vec<(i64, Vec<Acl>)> {
        let mut v = self.entries_unsorted();
        v.sort_by_key(|(i, _)| *i);
        v
    }
}

/// Walks the tree in snapshot order, a bounded number of nodes per step.
pub struct NodeCursor {
    stack: Vec<String>,
    known_acls: HashSet<i64>,
    /// A node referenced an ACL index missing from the ACL section written.
    pub acl_missing: bool,
    pub nodes_written: u64,
}

impl NodeCursor {
    /// Starts a walk; `acl_section` is the ACL cache as written before the nodes.
    pub fn new(acl_section: &[(i64, Vec<Acl>)]) -> NodeCursor {
        NodeCursor {
            stack: vec![String::new()],
            known_acls: acl_section.iter().map(|(i, _)| *i).collect(),
            acl_missing: false,
            nodes_written: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.stack.is_empty()
    }
}

/// Rebuilds a tree from the tree part of a snapshot (ACL section, nodes, closing "/")
/// given in pieces, so that a reader need not hold the whole file: a snapshot of 1M znodes
/// of 100 bytes is 190 MB, more than the tree it holds.
pub struct SnapshotLoader {
    tree: DataTree,
    acls_read: bool,
    done: bool,
    /// The parent of the last node read (nodes come in pre-order, siblings in a row).
    last_parent: Option<(String, NodeId)>,
}

impl SnapshotLoader {
    /// `expected_nodes` sizes the tree up front (a guess is fine).
    pub fn new(config: TreeConfig, expected_nodes: usize) -> SnapshotLoader {
        let mut tree = DataTree::empty(config);
        tree.nodes.reserve(expected_nodes);
        SnapshotLoader { tree, acls_read: false, done: false, last_parent: None }
    }

    /// Reads the whole records at the start of `bytes` and returns how many bytes they
    /// took. A record cut by the end of `bytes` is left for the next call, which must start
    /// with it (and bring more bytes); nothing is read past the closing "/".
    pub fn feed(&mut self, bytes: &[u8]) -> Result<usize, JuteError> {
        let mut inp = InputArchive::new(bytes, usize::MAX);
        if !self.acls_read {
            match read_acl_section(&mut inp) {
                Ok(entries) => self.tree.acls.load(entries),
                Err(JuteError::Truncated { .. }) => return Ok(0),
                Err(e) => return Err(e),
            }
            self.acls_read = true;
        }
        let mut whole = inp.position();
        while !self.done {
            match read_node(&mut inp) {
                Ok(None) => self.done = true,
                Ok(Some((path, data, acl, stat))) => {
                    self.tree.load_node(&path, data.as_deref(), acl, &stat, &mut self.last_parent)?
                }
                Err(JuteError::Truncated { .. }) => break,
                Err(e) => return Err(e),
            }
            whole = inp.position();
        }
        Ok(whole)
    }

    /// Whether the closing "/" has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The tree, once every node is in (`DataTree.deserialize` then `setupQuota`).
    pub fn finish(mut self) -> DataTree {
        self.tree.acls.purge_unused();
        self.tree.setup_quota();
        self.tree
    }
}

fn read_acl_section(inp: &mut InputArchive<'_>) -> Result<Vec<(i64, Vec<Acl>)>, JuteError> {
    let count = inp.read_i32()?;
    if count < 0 {
        return Err(JuteError::Invalid(format!("negative ACL cache size {count}")));
    }
    let mut entries = Vec::new();
    for _ in 0..count {
        let index = inp.read_i64()?;
        let acls = Vec::<Acl>::read(inp)?;
        entries.push((index, acls));
    }
    Ok(entries)
}

type NodeRecord = (String, Option<Vec<u8>>, i64, StatPersisted);

/// One node of the tree part; `None` for the closing "/".
fn read_node(inp: &mut InputArchive<'_>) -> Result<Option<NodeRecord>, JuteError> {
    let path = inp.read_string()?;
    if path == "/" {
        return Ok(None);
    }
    let data = inp.read_buffer()?;
    let acl = inp.read_i64()?;
    let stat = StatPersisted::read(inp)?;
    Ok(Some((path, data, acl, stat)))
}

impl DataTree {
    /// Writes the ACL section and returns what it wrote.
    pub fn write_acl_section(&self, out: &mut OutputArchive) -> Vec<(i64, Vec<Acl>)> {
        let entries = self.acls.entries();
        out.write_i32(entries.len() as i32);
        for (i, acls) in &entries {
            out.write_i64(*i);
            acls.write(out);
        }
        entries
    }

    /// Writes up to `budget` nodes; returns true when the walk is complete (the closing
    /// "/" is then written too).
    pub fn write_nodes_step(&self, cur: &mut NodeCursor, out: &mut OutputArchive, budget: usize) -> bool {
        let mut n = 0;
        while n < budget {
            let Some(path) = cur.stack.pop() else {
                out.write_string("/");
                return true;
            };
            let Some(id) = self.nodes.lookup(&path) else {
                continue; // deleted since it was queued: the log replay handles it
            };
            let node = self.nodes.get(id);
            out.write_string(&path);
            out.write_buffer(node.data);
            out.write_i64(node.acl);
            node.stat.write(out);
            if node.acl != OPEN_UNSAFE_ACL_ID && !cur.known_acls.contains(&node.acl) {
                cur.acl_missing = true;
            }
            let names = self.nodes.children_java_order(id);
            for name in names.iter().rev() {
                cur.stack.push(format!("{path}/{name}"));
            }
            n += 1;
            cur.nodes_written += 1;
        }
        if cur.stack.is_empty() {
            out.write_string("/");
            return true;
        }
        false
    }

    /// Adds one node of a snapshot. Nodes come in pre-order, so the parent is there already
    /// and is usually the previous node's (`last_parent` remembers it).
    fn load_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: i64,
        stat: &StatPersisted,
        last_parent: &mut Option<(String, NodeId)>,
    ) -> Result<(), JuteError> {
        if path.is_empty() {
            self.add_root(stat, acl, data).map_err(|_| JuteError::Invalid("two roots in the snapshot".into()))?;
        } else {
            let Some(i) = path.rfind('/') else {
                return Err(JuteError::Invalid(format!("snapshot path {path:?} has no '/'")));
            };
            let parent = if i == 0 { "/" } else { &path[..i] };
            let pid = match last_parent {
                Some((p, id)) if p == parent => *id,
                _ => {
                    let Some(id) = self.nodes.lookup(parent) else {
                        return Err(JuteError::Invalid(format!("invalid DataTree: no parent {parent} for {path}")));
                    };
                    *last_parent = Some((parent.to_owned(), id));
                    id
                }
            };
            self.add_child_of(pid, path, stat, acl, data).map_err(|e| match e {
                StoreError::Exists => JuteError::Invalid(format!("snapshot has {path} twice")),
                StoreError::Full => JuteError::Invalid("snapshot has too many nodes".into()),
                StoreError::NoParent => JuteError::Invalid(format!("snapshot path {path:?} has no '/'")),
            })?;
            self.index_owner(path, stat.ephemeral_owner);
        }
        self.acls.add_usage(acl);
        Ok(())
    }

    /// `DataTree.setupQuota`: finds every `zookeeper_limits` under /zookeeper/quota.
    fn setup_quota(&mut self) {
        let Some(root) = self.nodes.lookup(QUOTA_ROOT) else {
            return;
        };
        let mut limits = Vec::new();
        let mut stack = vec![(root, QUOTA_ROOT.to_owned())];
        while let Some((id, path)) = stack.pop() {
            for c in self.nodes.children(id) {
                let name = self.nodes.name(c);
                let p = format!("{path}/{name}");
                if name == LIMIT_NODE {
                    limits.push(p.clone());
                }
                stack.push((c, p));
            }
        }
        for l in limits {
            let real = &l[QUOTA_ROOT.len()..l.len() - LIMIT_NODE.len() - 1];
            if !real.is_empty() {
                self.quota_paths.insert(real.to_owned());
                self.update_quota_for_path(real);
            }
        }
    }

    /// Removes the ephemerals of sessions that no longer exist (ZooKeeper does this on
    /// load, outside any txn: `ZooKeeperServer.loadData` "clean up dead sessions").
    pub fn kill_dead_sessions(&mut self, live: &HashSet<i64>, zxid: i64) -> Vec<i64> {
        let dead: Vec<i64> = self.ephemerals.keys().filter(|s| !live.contains(s)).copied().collect();
        let mut events = Vec::new();
        for s in &dead {
            self.kill_session(*s, zxid, None, &mut events);
        }
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_jute::codes::op;
    use zab_jute::txn::*;

    #[test]
    fn snapshot_tree_round_trip() {
        let mut t = DataTree::new(TreeConfig::default());
        let mut ev = Vec::new();
        let hdr = |z: i64, ty: i32| TxnHeader { client_id: 5, cxid: 0, zxid: z, time: 10 * z, txn_type: ty };
        let mk = |p: &str, eph: bool, acl: Vec<Acl>| {
            Txn::Create(CreateTxn {
                path: p.into(),
                data: Some(p.as_bytes().to_vec()),
                acl,
                ephemeral: eph,
                parent_c_version: -1,
            })
        };
        t.process_txn(&hdr(1, op::CREATE), &mk("/a", false, Acl::open_unsafe()), &mut ev);
        t.process_txn(&hdr(2, op::CREATE), &mk("/a/b", false, vec![Acl::new(1, "digest", "u:x")]), &mut ev);
        t.process_txn(&hdr(3, op::CREATE), &mk("/e", true, Acl::open_unsafe()), &mut ev);
        for i in 0..30 {
            t.process_txn(&hdr(4 + i, op::CREATE), &mk(&format!("/a/n{i}"), false, Acl::open_unsafe()), &mut ev);
        }
        let mut out = OutputArchive::new();
        let acls = t.write_acl_section(&mut out);
        let mut cur = NodeCursor::new(&acls);
        while !t.write_nodes_step(&mut cur, &mut out, 7) {}
        assert!(!cur.acl_missing);
        let bytes = out.into_inner();
        // Fed in pieces of every size, with records cut anywhere.
        for piece in [1, 7, 64, bytes.len()] {
            let mut l = SnapshotLoader::new(TreeConfig::default(), 0);
            let mut at = 0;
            let mut end = 0;
            while !l.is_done() {
                end = (end + piece).min(bytes.len());
                at += l.feed(&bytes[at..end]).unwrap();
                assert!(end < bytes.len() || l.is_done());
            }
            assert_eq!(at, bytes.len());
            assert_eq!(l.finish().digest(), t.digest());
        }
        let mut l = SnapshotLoader::new(TreeConfig::default(), 0);
        assert_eq!(l.feed(&bytes).unwrap(), bytes.len());
        let back = l.finish();
        assert_eq!(back.digest(), t.digest());
        assert_eq!(back.node_count(), t.node_count());
        assert_eq!(back.get_children("/a", None).unwrap(), t.get_children("/a", None).unwrap());
        assert_eq!(back.get_data("/a/b", None).unwrap(), t.get_data("/a/b", None).unwrap());
        assert_eq!(back.ephemerals_of(5), vec!["/e".to_string()]);
        assert_eq!(back.acl_of(&back.node("/a/b").unwrap()), vec![Acl::new(1, "digest", "u:x")]);
    }
}
