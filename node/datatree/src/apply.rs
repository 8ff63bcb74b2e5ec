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
                rc.stat = self.nodes.get(t.path.as_str()).map(|n| self.client_stat(n));
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
                    let cv = if cv == -1 { n.stat.cversion + 1 } else { cv };
                    if cv > n.stat.cversion {
                        n.stat.cversion = cv;
                        n.stat.pzxid = zxid;
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
        let parent_node = self.nodes.get(parent.as_str()).ok_or(KeeperError::NoNode)?;
        if parent_node.children.as_ref().is_some_and(|c| c.contains(name)) {
            return Err(KeeperError::NodeExists);
        }
        let acl_index = self.acls.intern(acl);
        self.seq += 1;
        let seq = self.seq;
        self.update_node(&parent, |p| {
            let cv = if parent_cversion == -1 { p.stat.cversion + 1 } else { parent_cversion };
            if cv > p.stat.cversion {
                p.stat.cversion = cv;
                p.stat.pzxid = zxid;
            }
            p.add_child(name, seq);
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
        let node = DataNode::new(data.map(|d| d.to_vec().into_boxed_slice()), acl_index, stat);
        let client_stat = self.client_stat(&node);
        self.data_size += (path.len() + node.data_len()) as i64;
        self.digest = self.digest.wrapping_add(self.digest_of(path, &node));
        self.nodes.insert(path.into(), node);
        self.index_owner(path, owner);
        self.quota_on_create(&parent, name, path, data.map_or(0, |d| d.len() as i64));
        let parent_acl = self.nodes.get(parent.as_str()).map(|p| self.acls.get(p.acl)).unwrap_or_default();
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

    pub(crate) fn delete_node(
        &mut self,
        path: &str,
        zxid: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(), KeeperError> {
        let (parent, name) = split_parent(path).ok_or(KeeperError::NoNode)?;
        let parent = parent_key(parent).to_owned();
        if !self.nodes.contains_key(parent.as_str()) {
            return Err(KeeperError::NoNode);
        }
        self.update_node(&parent, |p| {
            p.remove_child(name);
            if zxid > p.stat.pzxid {
                p.stat.pzxid = zxid;
            }
        });
        let node = self.nodes.remove(path).ok_or(KeeperError::NoNode)?;
        self.digest = self.digest.wrapping_sub(self.digest_of(path, &node));
        self.data_size -= (path.len() + node.data_len()) as i64;
        let acl = self.acls.get(node.acl);
        self.acls.release(node.acl);
        let owner = node.stat.ephemeral_owner;
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
        self.quota_on_delete(&parent, name, path, node.data_len() as i64);
        let parent_acl = self.nodes.get(parent.as_str()).map(|p| self.acls.get(p.acl)).unwrap_or_default();
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
        let old_len = self.nodes.get(path).ok_or(KeeperError::NoNode)?.data_len() as i64;
        self.update_node(path, |n| {
            n.data = data.map(|d| d.to_vec().into_boxed_slice());
            n.stat.mtime = time;
            n.stat.mzxid = zxid;
            n.stat.version = version;
        });
        let node = self.nodes.get(path).ok_or(KeeperError::NoNode)?;
        let stat = self.client_stat(node);
        let acl = self.acls.get(node.acl);
        let new_len = node.data_len() as i64;
        self.data_size += new_len - old_len;
        if let Some(prefix) = self.max_quota_prefix(path) {
            self.update_quota_stat(&prefix, new_len - old_len, 0);
        }
        self.fire(Mgr::Data, path, event::NODE_DATA_CHANGED, &acl, &[], events);
        Ok(stat)
    }

    pub(crate) fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, KeeperError> {
        let old = self.nodes.get(path).ok_or(KeeperError::NoNode)?.acl;
        self.acls.release(old);
        let index = self.acls.intern(acl);
        self.update_node(path, |n| {
            n.stat.aversion = version;
            n.acl = index;
        });
        let node = self.nodes.get(path).ok_or(KeeperError::NoNode)?;
        Ok(self.client_stat(node))
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
}
