//! Applying txns to the DataTree (`DataTree.processTxn`, `createNode`, `deleteNode`,
//! `setData`, `setACL`, `killSession`). Every change keeps the digest, the ephemeral,
//! container and TTL indexes and the ACL reference counts right, and appends the watch
//! events it triggers, in ZooKeeper's order.
//!
//! Applying must be idempotent for replay after a fuzzy snapshot: a create that finds its
//! node already there still moves the parent's cversion/pzxid forward, as ZooKeeper does.

use zab_jute::codes::{event, op};
use zab_jute::data::{Acl, Stat, StatPersisted};
use zab_jute::txn::{Txn, TxnHeader};

use crate::ephemeral::{self, EphemeralType, CONTAINER_EPHEMERAL_OWNER};
use crate::error::KeeperError;
use crate::node::DataNode;
use crate::path::{parent_key, split_parent};
use crate::store::{NodeId, MAX_NODES};
use crate::tree::{DataTree, WatchEvent};
use crate::watch::WatcherId;

/// What applying a txn did (`DataTree.ProcessTxnResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessTxnResult {
    pub client_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    pub txn_type: i32,
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi: Vec<ProcessTxnResult>,
}

#[derive(Clone, Copy)]
enum Mgr {
    Data,
    Child,
}

impl DataTree {
    /// Applies one txn. Errors are reported in `err` (as ZooKeeper does), never panics.
    pub fn process_txn(&mut self, hdr: &TxnHeader, txn: &Txn, events: &mut Vec<WatchEvent>) -> ProcessTxnResult {
        self.process(hdr, txn, false, events)
    }

    fn process(&mut self, hdr: &TxnHeader, txn: &Txn, is_sub: bool, events: &mut Vec<WatchEvent>) -> ProcessTxnResult {
        let mut rc = ProcessTxnResult {
            client_id: hdr.client_id,
            cxid: hdr.cxid,
            zxid: hdr.zxid,
            txn_type: hdr.txn_type,
            ..Default::default()
        };
        let result: Result<(), KeeperError> = match txn {
            // The three create txns differ only in the owner they give the node.
            Txn::Create(t) => {
                let owner = if t.ephemeral { hdr.client_id } else { 0 };
                self.apply_create(&mut rc, hdr, &t.path, t.data.as_deref(), &t.acl, t.parent_c_version, owner, events)
            }
            Txn::CreateTtl(t) => {
                let owner = ephemeral::ttl_owner(t.ttl).unwrap_or(0);
                self.apply_create(&mut rc, hdr, &t.path, t.data.as_deref(), &t.acl, t.parent_c_version, owner, events)
            }
            Txn::CreateContainer(t) => self.apply_create(
                &mut rc,
                hdr,
                &t.path,
                t.data.as_deref(),
                &t.acl,
                t.parent_c_version,
                CONTAINER_EPHEMERAL_OWNER,
                events,
            ),
            Txn::Delete(t) => {
                rc.path = t.path.clone();
                self.delete_node(&t.path, hdr.zxid, events)
            }
            Txn::SetData(t) => {
                rc.path = t.path.clone();
                self.set_data(&t.path, t.data.as_deref(), t.version, hdr.zxid, hdr.time, events)
                    .map(|s| rc.stat = Some(s))
            }
            Txn::SetAcl(t) => {
                rc.path = t.path.clone();
                self.set_acl(&t.path, &t.acl, t.version).map(|s| rc.stat = Some(s))
            }
            Txn::CloseSession(t) => {
                let listed = t.as_ref().map(|c| c.paths2_delete.as_slice());
                self.kill_session(hdr.client_id, hdr.zxid, listed, events);
                Ok(())
            }
            Txn::Error(e) => {
                rc.err = e.err;
                Ok(())
            }
            Txn::Check(t) => {
                rc.path = t.path.clone();
                // ZooKeeper answers a standalone check with a SetDataResponse; give it the
                // node's Stat.
                rc.stat = self.node(&t.path).map(|n| self.client_stat(&n));
                Ok(())
            }
            Txn::CreateSession(_) => Ok(()),
            Txn::Multi(subs) => {
                let failed = subs.iter().any(|(t, _)| *t == op::ERROR);
                let mut post_failed = false;
                for (sub_type, sub) in subs {
                    let mut t = *sub_type;
                    let mut body = sub.clone();
                    if t == op::ERROR {
                        post_failed = true;
                    }
                    if failed && t != op::ERROR {
                        let ec = if post_failed { -2 } else { 0 };
                        t = op::ERROR;
                        body = Txn::Error(zab_jute::txn::ErrorTxn { err: ec });
                    }
                    let sub_hdr = TxnHeader { txn_type: t, ..hdr.clone() };
                    let sub_rc = self.process(&sub_hdr, &body, true, events);
                    if sub_rc.err != 0 && rc.err == 0 {
                        rc.err = sub_rc.err;
                    }
                    rc.multi.push(sub_rc);
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            rc.err = e.code().code();
        }
        // Replay of a create after a fuzzy snapshot: the node exists, but the parent's
        // cversion/pzxid must still move forward (DataTree.processTxn).
        if rc.err == KeeperError::NodeExists.code().code() && matches!(hdr.txn_type, op::CREATE | op::CREATE2) {
            if let (Txn::Create(t), Some((parent, _))) = (txn, split_parent(&rc.path)) {
                let parent = parent_key(parent).to_owned();
                let (cv, zxid) = (t.parent_c_version, hdr.zxid);
                self.update_node(&parent, |n| {
                    let cv = if cv == -1 { n.cversion + 1 } else { cv };
                    if cv > n.cversion {
                        n.cversion = cv;
                        n.pzxid = zxid;
                    }
                });
            }
        }
        if !is_sub && rc.zxid > self.last_processed_zxid {
            self.last_processed_zxid = rc.zxid;
        }
        rc
    }

    /// A create of any kind; the reply carries the Stat except for plain create.
    #[allow(clippy::too_many_arguments)]
    fn apply_create(
        &mut self,
        rc: &mut ProcessTxnResult,
        hdr: &TxnHeader,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        parent_cversion: i32,
        owner: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(), KeeperError> {
        rc.path = path.to_owned();
        let stat = self.create_node(path, data, acl, owner, parent_cversion, hdr.zxid, hdr.time, events)?;
        if hdr.txn_type != op::CREATE {
            rc.stat = Some(stat);
        }
        Ok(())
    }

    fn fire(
        &mut self,
        mgr: Mgr,
        path: &str,
        t: i32,
        acl: &[Acl],
        suppress: &[WatcherId],
        events: &mut Vec<WatchEvent>,
    ) -> Vec<WatcherId> {
        let ws = self.watches.get_mut();
        let m = match mgr {
            Mgr::Data => &mut ws.data,
            Mgr::Child => &mut ws.child,
        };
        let fired = m.trigger(path, t, suppress);
        for &w in &fired {
            events.push(WatchEvent { watcher: w, event_type: t, path: path.to_owned(), acl: Some(acl.to_vec()) });
        }
        fired
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<Stat, KeeperError> {
        let (parent, name) = split_parent(path).ok_or(KeeperError::NoNode)?;
        let parent = parent_key(parent).to_owned();
        let pid = self.nodes.lookup(&parent).ok_or(KeeperError::NoNode)?;
        if self.nodes.lookup(path).is_some() {
            return Err(KeeperError::NodeExists);
        }
        if self.nodes.len() >= MAX_NODES {
            // Checked before anything changes; ZooKeeper would have run out of heap long before.
            return Err(KeeperError::Other(zab_jute::codes::ErrorCode::SystemError));
        }
        let acl_index = self.acls.intern(acl);
        self.update_meta(pid, &parent, |p, _| {
            let cv = if parent_cversion == -1 { p.cversion + 1 } else { parent_cversion };
            if cv > p.cversion {
                p.cversion = cv;
                p.pzxid = zxid;
            }
        });
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        let client_stat = self.client_stat(&DataNode { stat: stat.clone(), acl: acl_index, data, num_children: 0 });
        // Room and name were checked above.
        let _ = self.add_child_of(pid, path, &stat, acl_index, data);
        self.index_owner(path, owner);
        self.quota_on_create(&parent, name, path, data.map_or(0, |d| d.len() as i64));
        let parent_acl = self.node(&parent).map(|p| self.acls.get(p.acl)).unwrap_or_default();
        self.fire(Mgr::Data, path, event::NODE_CREATED, acl, &[], events);
        self.fire(Mgr::Child, &parent, event::NODE_CHILDREN_CHANGED, &parent_acl, &[], events);
        Ok(client_stat)
    }

    /// Adds a node to the container, TTL or session-ephemeral index its owner puts it in.
    pub(crate) fn index_owner(&mut self, path: &str, owner: i64) {
        match EphemeralType::of(owner, self.config.extended_types) {
            EphemeralType::Container => {
                self.containers.insert(path.to_owned());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(path.to_owned());
            }
            EphemeralType::Normal => {
                self.seq += 1;
                let seq = self.seq;
                self.ephemerals.entry(owner).or_default().insert(path, seq);
            }
            EphemeralType::Void => {}
        }
    }

    /// Takes a node out of the digest, the data size, the ACL counts and the owner indexes
    /// (the store still holds it). Returns its ACL and data length.
    fn unaccount(&mut self, id: NodeId, path: &str) -> (Vec<Acl>, i64) {
        let n = self.nodes.get(id);
        let (acl_index, len, owner) = (n.acl, n.data_len() as i64, n.stat.ephemeral_owner);
        let digest = self.digest_of(path, n.data, &n.stat);
        self.digest = self.digest.wrapping_sub(digest);
        self.data_size -= path.len() as i64 + len;
        let acl = self.acls.get(acl_index);
        self.acls.release(acl_index);
        match EphemeralType::of(owner, self.config.extended_types) {
            EphemeralType::Container => {
                self.containers.remove(path);
            }
            EphemeralType::Ttl => {
                self.ttls.remove(path);
            }
            EphemeralType::Normal => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                }
            }
            EphemeralType::Void => {}
        }
        (acl, len)
    }

    pub(crate) fn delete_node(
        &mut self,
        path: &str,
        zxid: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(), KeeperError> {
        let (parent, name) = split_parent(path).ok_or(KeeperError::NoNode)?;
        let parent = parent_key(parent).to_owned();
        let pid = self.nodes.lookup(&parent).ok_or(KeeperError::NoNode)?;
        // The parent's pzxid moves even if the child is gone already (ZooKeeper's deleteNode:
        // a fuzzy snapshot may lack it).
        self.update_meta(pid, &parent, |p, _| {
            if zxid > p.pzxid {
                p.pzxid = zxid;
            }
        });
        let id = self.nodes.lookup(path).ok_or(KeeperError::NoNode)?;
        // Children of a deleted node: ZooKeeper leaves them in its map as orphans that no
        // walk reaches; they cannot be kept without their parent here, so they go with it
        // (only a log replayed over a fuzzy snapshot can ask for this; prep refuses NotEmpty).
        let mut below = Vec::new();
        let mut stack = vec![(id, path.to_owned())];
        while let Some((n, p)) = stack.pop() {
            for c in self.nodes.children(n) {
                stack.push((c, format!("{p}/{}", self.nodes.name(c))));
            }
            if n != id {
                below.push((n, p));
            }
        }
        let mut gone = Vec::with_capacity(below.len());
        for (n, p) in below {
            let (_, len) = self.unaccount(n, &p);
            gone.push((p, len));
        }
        let (acl, len) = self.unaccount(id, path);
        self.nodes.remove(id);
        for (p, len) in gone {
            if let Some((pp, n)) = split_parent(&p) {
                self.quota_on_delete(parent_key(pp), n, &p, len);
            }
        }
        self.quota_on_delete(&parent, name, path, len);
        let parent_acl = self.node(&parent).map(|p| self.acls.get(p.acl)).unwrap_or_default();
        let processed = self.fire(Mgr::Data, path, event::NODE_DELETED, &acl, &[], events);
        self.fire(Mgr::Child, path, event::NODE_DELETED, &acl, &processed, events);
        self.fire(Mgr::Child, &parent, event::NODE_CHILDREN_CHANGED, &parent_acl, &[], events);
        Ok(())
    }

    pub(crate) fn set_data(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: i64,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<Stat, KeeperError> {
        let id = self.nodes.lookup(path).ok_or(KeeperError::NoNode)?;
        let n = self.nodes.get(id);
        let old_len = n.data_len() as i64;
        let mut stat = n.stat.clone();
        stat.mtime = time;
        stat.mzxid = zxid;
        stat.version = version;
        let acl_index = n.acl;
        let before = self.digest_of(path, n.data, &n.stat);
        let after = self.digest_of(path, data, &stat);
        self.nodes.set_data(id, &stat, acl_index, data);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        let stat = self.client_stat(&self.nodes.get(id));
        let acl = self.acls.get(acl_index);
        let new_len = data.map_or(0, |d| d.len() as i64);
        self.data_size += new_len - old_len;
        if let Some(prefix) = self.max_quota_prefix(path) {
            self.update_quota_stat(&prefix, new_len - old_len, 0);
        }
        self.fire(Mgr::Data, path, event::NODE_DATA_CHANGED, &acl, &[], events);
        Ok(stat)
    }

    pub(crate) fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, KeeperError> {
        let id = self.nodes.lookup(path).ok_or(KeeperError::NoNode)?;
        let old = self.nodes.get(id).acl;
        self.acls.release(old);
        let index = self.acls.intern(acl);
        self.update_meta(id, path, |s, a| {
            s.aversion = version;
            *a = index;
        });
        Ok(self.client_stat(&self.nodes.get(id)))
    }

    /// Removes a session's ephemerals: first those listed in the txn (in its order),
    /// then any the tree still knows of (`DataTree.killSession`).
    pub(crate) fn kill_session(
        &mut self,
        session: i64,
        zxid: i64,
        listed: Option<&[String]>,
        events: &mut Vec<WatchEvent>,
    ) {
        let local = self.ephemerals.remove(&session);
        let mut remaining: Vec<String> = local.map(|s| s.java_order()).unwrap_or_default();
        if let Some(paths) = listed {
            for p in paths {
                // A missing node is ignored, as ZooKeeper does for a dead session.
                let _ = self.delete_node(p, zxid, events);
            }
            remaining.retain(|p| !paths.contains(p));
        }
        for p in remaining {
            let _ = self.delete_node(&p, zxid, events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TreeConfig;
    use crate::watch::WatcherMode;
    use zab_jute::txn::*;

    fn hdr(zxid: i64, t: i32) -> TxnHeader {
        TxnHeader { client_id: 7, cxid: 1, zxid, time: 1000 + zxid, txn_type: t }
    }

    fn create(path: &str, cv: i32, eph: bool) -> Txn {
        Txn::Create(CreateTxn {
            path: path.into(),
            data: Some(b"x".to_vec()),
            acl: Acl::open_unsafe(),
            ephemeral: eph,
            parent_c_version: cv,
        })
    }

    #[test]
    fn create_delete_and_stats() {
        let mut t = DataTree::new(TreeConfig::default());
        let d0 = t.digest();
        let mut ev = Vec::new();
        let rc = t.process_txn(&hdr(1, op::CREATE2), &create("/a", 1, false), &mut ev);
        assert_eq!(rc.err, 0);
        assert_eq!(rc.stat.as_ref().unwrap().czxid, 1);
        let rc = t.process_txn(&hdr(2, op::CREATE), &create("/a/b", 1, true), &mut ev);
        assert_eq!(rc.err, 0);
        assert!(rc.stat.is_none());
        assert_eq!(t.ephemerals_of(7), vec!["/a/b".to_string()]);
        let s = t.stat_node("/a", None).unwrap();
        assert_eq!((s.cversion, s.num_children, s.pzxid), (1, 1, 2));
        let rc = t.process_txn(&hdr(3, op::DELETE), &Txn::Delete(DeleteTxn { path: "/a/b".into() }), &mut ev);
        assert_eq!(rc.err, 0);
        let s = t.stat_node("/a", None).unwrap();
        // one create and one delete: clients see cversion 2
        assert_eq!((s.cversion, s.num_children, s.pzxid), (2, 0, 3));
        assert!(t.ephemerals_of(7).is_empty());
        let rc = t.process_txn(&hdr(4, op::DELETE), &Txn::Delete(DeleteTxn { path: "/a".into() }), &mut ev);
        assert_eq!(rc.err, 0);
        assert_eq!(t.last_processed_zxid(), 4);
        // the root's pzxid and cversion moved, so the digest differs, but node count is back
        assert_eq!(t.node_count(), 4);
        assert_ne!(t.digest(), d0);
    }

    #[test]
    fn watch_events_in_order() {
        let mut t = DataTree::new(TreeConfig::default());
        t.stat_node("/a", Some(9)).unwrap_err();
        t.get_children("/", Some(9)).unwrap();
        let mut ev = Vec::new();
        t.process_txn(&hdr(1, op::CREATE), &create("/a", 1, false), &mut ev);
        let got: Vec<_> = ev.iter().map(|e| (e.event_type, e.path.as_str())).collect();
        assert_eq!(got, vec![(event::NODE_CREATED, "/a"), (event::NODE_CHILDREN_CHANGED, "/")]);
        t.add_watch("/", 9, WatcherMode::PersistentRecursive);
        ev.clear();
        t.process_txn(&hdr(2, op::CREATE), &create("/a/b", 1, false), &mut ev);
        let got: Vec<_> = ev.iter().map(|e| (e.event_type, e.path.as_str())).collect();
        assert_eq!(got, vec![(event::NODE_CREATED, "/a/b")]);
    }

    #[test]
    fn failed_multi_reports_zero_then_error_then_runtime_inconsistency() {
        let mut t = DataTree::new(TreeConfig::default());
        let mut ev = Vec::new();
        let m = Txn::Multi(vec![
            (op::CREATE, create("/x", 1, false)),
            (op::ERROR, Txn::Error(ErrorTxn { err: -101 })),
            (op::ERROR, Txn::Error(ErrorTxn { err: -2 })),
        ]);
        let rc = t.process_txn(&hdr(1, op::MULTI), &m, &mut ev);
        let errs: Vec<_> = rc.multi.iter().map(|r| (r.txn_type, r.err)).collect();
        assert_eq!(errs, vec![(op::ERROR, 0), (op::ERROR, -101), (op::ERROR, -2)]);
        assert!(t.node("/x").is_none());
        assert_eq!(t.last_processed_zxid(), 1);
    }

    /// The digest and data size summed afresh over every node.
    fn recount(t: &DataTree) -> (u64, i64) {
        let mut digest = 0u64;
        let mut size = 0i64;
        for p in t.paths() {
            let n = t.node(&p).unwrap();
            digest = digest.wrapping_add(crate::digest::node_digest(&p, n.data, &n.stat));
            size += (p.len() + n.data_len()) as i64;
        }
        (digest, size)
    }

    #[test]
    fn updates_keep_digest_and_data_size_exact() {
        let mut t = DataTree::new(TreeConfig::default());
        let mut ev = Vec::new();
        t.process_txn(&hdr(1, op::CREATE), &create("/a", -1, false), &mut ev);
        t.process_txn(&hdr(2, op::CREATE), &create("/a/b", -1, true), &mut ev);
        let set = Txn::SetData(SetDataTxn { path: "/a/b".into(), data: Some(vec![1; 300]), version: 1 });
        t.process_txn(&hdr(3, op::SET_DATA), &set, &mut ev);
        let acl = Txn::SetAcl(SetAclTxn { path: "/a".into(), acl: vec![Acl::new(1, "digest", "u:x")], version: 1 });
        t.process_txn(&hdr(4, op::SET_ACL), &acl, &mut ev);
        let set = Txn::SetData(SetDataTxn { path: "/a".into(), data: None, version: 1 });
        t.process_txn(&hdr(5, op::SET_DATA), &set, &mut ev);
        assert_eq!(recount(&t), (t.digest(), t.approximate_data_size()));
        assert_eq!(t.get_data("/a", None).unwrap().0, None);
        assert_eq!(t.get_data("/a/b", None).unwrap().0, Some(vec![1; 300]));
        assert_eq!(t.acl_of(&t.node("/a").unwrap()), vec![Acl::new(1, "digest", "u:x")]);
        t.process_txn(&hdr(6, op::DELETE), &Txn::Delete(DeleteTxn { path: "/a/b".into() }), &mut ev);
        assert_eq!(recount(&t), (t.digest(), t.approximate_data_size()));
    }

    #[test]
    fn delete_of_a_node_with_children_takes_them_along() {
        // Only a log replayed over a fuzzy snapshot can ask for this (prep answers NotEmpty).
        let mut t = DataTree::new(TreeConfig::default());
        let mut ev = Vec::new();
        t.process_txn(&hdr(1, op::CREATE), &create("/a", -1, false), &mut ev);
        t.process_txn(&hdr(2, op::CREATE), &create("/a/b", -1, false), &mut ev);
        t.process_txn(&hdr(3, op::CREATE), &create("/a/b/c", -1, true), &mut ev);
        t.process_txn(&hdr(4, op::CREATE), &create("/a/b/d", -1, false), &mut ev);
        let before = t.node_count();
        let rc = t.process_txn(&hdr(5, op::DELETE), &Txn::Delete(DeleteTxn { path: "/a/b".into() }), &mut ev);
        assert_eq!(rc.err, 0);
        assert_eq!(t.node_count(), before - 3);
        assert!(t.node("/a/b/c").is_none() && t.node("/a/b").is_none());
        assert!(t.ephemerals_of(7).is_empty());
        assert_eq!(recount(&t), (t.digest(), t.approximate_data_size()));
        // The names can be used again.
        t.process_txn(&hdr(6, op::CREATE), &create("/a/b", -1, false), &mut ev);
        let rc = t.process_txn(&hdr(7, op::CREATE), &create("/a/b/c", -1, false), &mut ev);
        assert_eq!(rc.err, 0);
        assert_eq!(t.get_children("/a/b", None).unwrap().0, vec!["c".to_string()]);
    }

    #[test]
    fn delete_of_a_missing_child_still_moves_the_parent_pzxid() {
        let mut t = DataTree::new(TreeConfig::default());
        let mut ev = Vec::new();
        t.process_txn(&hdr(1, op::CREATE), &create("/a", -1, false), &mut ev);
        let rc = t.process_txn(&hdr(9, op::DELETE), &Txn::Delete(DeleteTxn { path: "/a/x".into() }), &mut ev);
        assert_eq!(rc.err, KeeperError::NoNode.code().code());
        assert_eq!(t.node("/a").unwrap().stat.pzxid, 9);
        assert_eq!(recount(&t), (t.digest(), t.approximate_data_size()));
    }
}
