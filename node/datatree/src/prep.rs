//! PrepRequestProcessor: turns a write request into a txn, checking it against the tree
//! (plus the not-yet-applied changes of the same multi) in ZooKeeper's exact order, so that
//! the same request fails with the same error code as on ZooKeeper.
//!
//! Every write consumes a zxid, failed ones included: a failure becomes an `error` txn
//! carrying the code (a failed multi stays a multi whose sub-txns carry the codes), and
//! that txn is logged, replicated and applied like any other.

use std::collections::HashMap;

use zab_jute::codes::{op, perms, CreateMode};
use zab_jute::data::{Acl, Id, StatPersisted};
use zab_jute::proto::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, MultiOp, MultiRequest, ReconfigRequest,
    SetAclRequest, SetDataRequest,
};
use zab_jute::txn::*;

use crate::acl::{check_acl, fixup_acl, AclConfig};
use crate::ephemeral::{self, EphemeralType, CONTAINER_EPHEMERAL_OWNER};
use crate::error::KeeperError;
use crate::path::{parent_key, validate_path};
use crate::session::SessionTracker;
use crate::tree::DataTree;

/// A write, as the server decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRequest {
    /// create (1), create2 (15) or createContainer (19)
    Create {
        op_type: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    SetAcl(SetAclRequest),
    Check(CheckVersionRequest),
    Multi(MultiRequest),
    /// Issued by the ContainerManager for an empty container or an expired TTL node.
    DeleteContainer(String),
    CreateSession {
        timeout: i32,
    },
    CloseSession,
    /// A reconfig as the client sent it. Only a leader can check it against its
    /// configuration (the server does, and passes on [`WriteRequest::NewConfig`]); prepared
    /// as it is, it is refused as Unimplemented, as ZooKeeper refuses it in standalone mode.
    Reconfig(ReconfigRequest),
    /// A reconfig the leader checked (enabled, none in flight, the version, the new members,
    /// a synced quorum): `data` is the new configuration's text, its version the txn's zxid.
    /// Prep checks the caller's WRITE permission on `/zookeeper/config` and makes the txn:
    /// type reconfig, a SetDataTxn of that node with version -1.
    NewConfig {
        data: Vec<u8>,
    },
    /// A write whose body could not be decoded: ZooKeeper logs a marshalling error txn.
    Malformed {
        op_type: i32,
    },
    /// A write refused before any check (reconfig when disabled or in standalone mode):
    /// still an error txn with a zxid.
    Refused {
        op_type: i32,
        err: KeeperError,
    },
}

impl WriteRequest {
    pub fn op_type(&self) -> i32 {
        match self {
            WriteRequest::Create { op_type, .. }
            | WriteRequest::Malformed { op_type }
            | WriteRequest::Refused { op_type, .. } => *op_type,
            WriteRequest::CreateTtl(_) => op::CREATE_TTL,
            WriteRequest::Delete(_) => op::DELETE,
            WriteRequest::SetData(_) => op::SET_DATA,
            WriteRequest::SetAcl(_) => op::SET_ACL,
            WriteRequest::Check(_) => op::CHECK,
            WriteRequest::Multi(_) => op::MULTI,
            WriteRequest::DeleteContainer(_) => op::DELETE_CONTAINER,
            WriteRequest::CreateSession { .. } => op::CREATE_SESSION,
            WriteRequest::CloseSession => op::CLOSE_SESSION,
            WriteRequest::Reconfig(_) | WriteRequest::NewConfig { .. } => op::RECONFIG,
        }
    }
}

/// Who sends the request and what the prep step may consult.
pub struct PrepContext<'a> {
    pub tree: &'a DataTree,
    pub sessions: &'a SessionTracker,
    pub acl_config: &'a AclConfig,
    pub session_id: i64,
    pub cxid: i32,
    pub auth: &'a [Id],
    pub zxid: i64,
    pub time: i64,
    /// The tree digest after the last txn prepared (applied or not).
    pub digest: u64,
}

/// A node as prep sees it: the tree's state or a change not yet applied.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub stat: StatPersisted,
    pub child_count: i32,
    pub acl: Vec<Acl>,
    /// CRC state over path and data, to precompute the node's digest (`precalculatedDigest`).
    pub pd: Option<crc32fast::Hasher>,
}

impl ChangeRecord {
    fn digest(&self) -> u64 {
        crate::digest::finish(&self.pd, &self.stat)
    }
}

/// Changes prepared but not yet applied to the tree (`ZooKeeperServer.outstandingChanges`):
/// a request prepared while earlier txns wait for their fsync must see their effects.
#[derive(Debug, Default)]
pub struct Outstanding {
    changes: HashMap<String, (i64, Option<ChangeRecord>)>,
    order: std::collections::VecDeque<(i64, String)>,
}

impl Outstanding {
    /// Forgets the changes of every txn up to `zxid`, now applied to the tree.
    pub fn applied_up_to(&mut self, zxid: i64) {
        while let Some((z, _)) = self.order.front() {
            if *z > zxid {
                break;
            }
            let Some((z, path)) = self.order.pop_front() else { break };
            if self.changes.get(&path).is_some_and(|(cz, _)| *cz == z) {
                self.changes.remove(&path);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Change records queued and not yet applied (`outstandingChanges`' length; a path
    /// changed twice counts twice).
    pub fn records(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn merge(&mut self, zxid: i64, local: HashMap<String, Option<ChangeRecord>>) {
        for (path, rec) in local {
            self.order.push_back((zxid, path.clone()));
            self.changes.insert(path, (zxid, rec));
        }
    }
}

struct Pending<'a> {
    tree: &'a DataTree,
    base: &'a Outstanding,
    changes: HashMap<String, Option<ChangeRecord>>,
    /// The tree digest after every change recorded so far.
    digest: u64,
    digest_enabled: bool,
}

impl<'a> Pending<'a> {
    fn get(&self, path: &str) -> Result<ChangeRecord, KeeperError> {
        let path = parent_key(path);
        if let Some(c) = self.changes.get(path) {
            return c.clone().ok_or(KeeperError::NoNode);
        }
        if let Some((_, c)) = self.base.changes.get(path) {
            return c.clone().ok_or(KeeperError::NoNode);
        }
        let n = self.tree.node(path).ok_or(KeeperError::NoNode)?;
        let pd = if self.digest_enabled { crate::digest::path_data_hasher(path, n.data) } else { None };
        Ok(ChangeRecord { stat: n.stat.clone(), child_count: n.num_children() as i32, acl: self.tree.acl_of(&n), pd })
    }

    fn put(&mut self, path: &str, rec: Option<ChangeRecord>) {
        if self.digest_enabled {
            let old = self.get(path).map(|r| r.digest()).unwrap_or(0);
            let new = rec.as_ref().map(|r| r.digest()).unwrap_or(0);
            self.digest = self.digest.wrapping_sub(old).wrapping_add(new);
        }
        self.changes.insert(parent_key(path).to_owned(), rec);
    }
}

/// `ZooDefs.CONFIG_NODE`.
pub const CONFIG_NODE: &str = "/zookeeper/config";

fn is_special(path: &str) -> bool {
    matches!(path, "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config")
}

fn check_version(current: i32, expected: i32) -> Result<i32, KeeperError> {
    if expected != -1 && expected != current {
        return Err(KeeperError::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

fn valid_path(path: &str) -> Result<(), KeeperError> {
    validate_path(path).map_err(|_| KeeperError::BadArguments)
}

/// `getParentPathAndValidate`: no full path check, only '/', NUL and the system nodes.
fn parent_for_delete(path: &str) -> Result<&str, KeeperError> {
    let i = path.rfind('/').ok_or(KeeperError::BadArguments)?;
    if path.contains('\0') || is_special(path) {
        return Err(KeeperError::BadArguments);
    }
    Ok(&path[..i])
}

/// Outcome of preparing one sub-op: its txn type and body.
type Prepared = (i32, Txn);

enum PrepFailure {
    /// A KeeperException: becomes an error txn (or a failed multi).
    Keeper(KeeperError),
    /// Anything else ZooKeeper catches as a generic exception: marshalling error.
    Marshalling,
}

impl From<KeeperError> for PrepFailure {
    fn from(e: KeeperError) -> Self {
        PrepFailure::Keeper(e)
    }
}

/// Prepares `req`. Always returns a header and a txn: failures become error txns. The
/// changes of a successful request are added to `outstanding` until applied.
pub fn prep_request(ctx: &PrepContext<'_>, outstanding: &mut Outstanding, req: &WriteRequest) -> (TxnHeader, Txn, u64) {
    let mut hdr = TxnHeader {
        client_id: ctx.session_id,
        cxid: ctx.cxid,
        zxid: ctx.zxid,
        time: ctx.time,
        txn_type: req.op_type(),
    };
    let digest_enabled = ctx.tree.config().digest_enabled;
    let mut pending =
        Pending { tree: ctx.tree, base: outstanding, changes: HashMap::new(), digest: ctx.digest, digest_enabled };
    let result: Result<Txn, PrepFailure> = match req {
        WriteRequest::Multi(m) => prep_multi(ctx, &mut pending, m),
        WriteRequest::Malformed { .. } => Err(PrepFailure::Marshalling),
        WriteRequest::Refused { err, .. } => Err(PrepFailure::Keeper(*err)),
        other => prep_one(ctx, &mut pending, other).map(|(_, t)| t),
    };
    let changes = std::mem::take(&mut pending.changes);
    let digest_after = pending.digest;
    match result {
        Ok(txn) => {
            outstanding.merge(ctx.zxid, changes);
            (hdr, txn, digest_after)
        }
        Err(PrepFailure::Keeper(e)) => {
            hdr.txn_type = op::ERROR;
            (hdr, Txn::Error(ErrorTxn { err: e.code().code() }), ctx.digest)
        }
        Err(PrepFailure::Marshalling) => {
            hdr.txn_type = op::ERROR;
            (hdr, Txn::Error(ErrorTxn { err: KeeperError::MarshallingError.code().code() }), ctx.digest)
        }
    }
}

fn prep_multi(ctx: &PrepContext<'_>, pending: &mut Pending<'_>, m: &MultiRequest) -> Result<Txn, PrepFailure> {
    let mut subs: Vec<(i32, Txn)> = Vec::with_capacity(m.ops.len());
    let mut failed = false;
    for o in &m.ops {
        if failed {
            subs.push((op::ERROR, Txn::Error(ErrorTxn { err: KeeperError::RuntimeInconsistency.code().code() })));
            continue;
        }
        let w = match o {
            MultiOp::Create { op_type, req } => WriteRequest::Create { op_type: *op_type, req: req.clone() },
            MultiOp::CreateTtl(r) => WriteRequest::CreateTtl(r.clone()),
            MultiOp::CreateTtlWithoutTtl(_) => return Err(PrepFailure::Marshalling),
            MultiOp::Delete(r) => WriteRequest::Delete(r.clone()),
            MultiOp::SetData(r) => WriteRequest::SetData(r.clone()),
            MultiOp::Check(r) => WriteRequest::Check(r.clone()),
            // Reads cannot be in a multi that reached here (the decoder refuses mixes);
            // a read-only "multi" is prepared like ZooKeeper: as a marshalling failure.
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => return Err(PrepFailure::Marshalling),
        };
        match prep_one(ctx, pending, &w) {
            Ok(sub) => subs.push(sub),
            Err(PrepFailure::Keeper(e)) => {
                failed = true;
                pending.changes.clear();
                pending.digest = ctx.digest;
                subs.push((op::ERROR, Txn::Error(ErrorTxn { err: e.code().code() })));
            }
            Err(PrepFailure::Marshalling) => return Err(PrepFailure::Marshalling),
        }
    }
    Ok(Txn::Multi(subs))
}

fn prep_one(ctx: &PrepContext<'_>, pending: &mut Pending<'_>, req: &WriteRequest) -> Result<Prepared, PrepFailure> {
    let acl_cfg = ctx.acl_config;
    match req {
        WriteRequest::Create { op_type, req } => {
            prep_create(ctx, pending, *op_type, &req.path, req.data.as_ref(), &req.acl, req.flags, -1)
        }
        WriteRequest::CreateTtl(r) => {
            prep_create(ctx, pending, op::CREATE_TTL, &r.path, r.data.as_ref(), &r.acl, r.flags, r.ttl)
        }
        WriteRequest::Delete(r) => {
            ctx.sessions.check(ctx.session_id)?;
            let parent = parent_for_delete(&r.path)?;
            let parent_rec = pending.get(parent)?;
            check_acl(acl_cfg, &parent_rec.acl, perms::DELETE, ctx.auth)?;
            let node = pending.get(&r.path)?;
            check_version(node.stat.version, r.version)?;
            if node.child_count > 0 {
                return Err(KeeperError::NotEmpty.into());
            }
            let mut p = parent_rec;
            p.child_count -= 1;
            p.stat.pzxid = ctx.zxid;
            pending.put(parent, Some(p));
            pending.put(&r.path, None);
            Ok((op::DELETE, Txn::Delete(DeleteTxn { path: r.path.clone() })))
        }
        WriteRequest::DeleteContainer(path) => {
            let parent = parent_for_delete(path)?;
            let node = pending.get(path)?;
            if node.child_count > 0 {
                return Err(KeeperError::NotEmpty.into());
            }
            if EphemeralType::of(node.stat.ephemeral_owner, ctx.tree.config().extended_types) == EphemeralType::Normal {
                return Err(KeeperError::BadVersion.into());
            }
            let mut p = pending.get(parent)?;
            p.child_count -= 1;
            p.stat.pzxid = ctx.zxid;
            pending.put(parent, Some(p));
            pending.put(path, None);
            Ok((op::DELETE_CONTAINER, Txn::Delete(DeleteTxn { path: path.clone() })))
        }
        WriteRequest::SetData(r) => {
            ctx.sessions.check(ctx.session_id)?;
            valid_path(&r.path)?;
            let mut node = pending.get(&r.path)?;
            check_acl(acl_cfg, &node.acl, perms::WRITE, ctx.auth)?;
            let version = check_version(node.stat.version, r.version)?;
            node.stat.version = version;
            node.stat.mtime = ctx.time;
            node.stat.mzxid = ctx.zxid;
            if node.pd.is_some() {
                node.pd = crate::digest::path_data_hasher(&r.path, r.data.as_deref());
            }
            pending.put(&r.path, Some(node));
            Ok((op::SET_DATA, Txn::SetData(SetDataTxn { path: r.path.clone(), data: r.data.clone(), version })))
        }
        WriteRequest::SetAcl(r) => {
            ctx.sessions.check(ctx.session_id)?;
            valid_path(&r.path)?;
            let acl = fixup_acl(ctx.auth, &r.acl)?;
            let mut node = pending.get(&r.path)?;
            check_acl(acl_cfg, &node.acl, perms::ADMIN, ctx.auth)?;
            let version = check_version(node.stat.aversion, r.version)?;
            node.stat.aversion = version;
            node.acl = acl.clone();
            pending.put(&r.path, Some(node));
            Ok((op::SET_ACL, Txn::SetAcl(SetAclTxn { path: r.path.clone(), acl, version })))
        }
        WriteRequest::Check(r) => {
            ctx.sessions.check(ctx.session_id)?;
            valid_path(&r.path)?;
            let node = pending.get(&r.path)?;
            check_acl(acl_cfg, &node.acl, perms::READ, ctx.auth)?;
            let version = check_version(node.stat.version, r.version)?;
            Ok((op::CHECK, Txn::Check(CheckVersionTxn { path: r.path.clone(), version })))
        }
        WriteRequest::CreateSession { timeout } => {
            Ok((op::CREATE_SESSION, Txn::CreateSession(CreateSessionTxn { time_out: *timeout })))
        }
        WriteRequest::CloseSession => {
            let mut paths = ctx.tree.ephemerals_of(ctx.session_id);
            for (path, (_, rec)) in &pending.base.changes {
                match rec {
                    None => paths.retain(|p| p != path),
                    Some(r) if r.stat.ephemeral_owner == ctx.session_id && !paths.contains(path) => {
                        paths.push(path.clone())
                    }
                    Some(_) => {}
                }
            }
            for p in &paths {
                // As ZooKeeper: the parent's pzxid moves, its child count is not adjusted.
                if let Some(i) = p.rfind('/') {
                    if let Ok(mut parent) = pending.get(&p[..i]) {
                        parent.stat.pzxid = ctx.zxid;
                        pending.put(&p[..i], Some(parent));
                    }
                }
                pending.put(p, None);
            }
            Ok((op::CLOSE_SESSION, Txn::CloseSession(Some(CloseSessionTxn { paths2_delete: paths }))))
        }
        WriteRequest::NewConfig { data } => {
            // `PrepRequestProcessor` case reconfig, after the leader's checks: WRITE on
            // /zookeeper/config by its ACL (world:anyone READ only, so a super user's or
            // skipACL's), then the node's new record (version -1, mtime, mzxid).
            let mut node = pending.get(CONFIG_NODE)?;
            check_acl(acl_cfg, &node.acl, perms::WRITE, ctx.auth)?;
            node.stat.version = -1;
            node.stat.mtime = ctx.time;
            node.stat.mzxid = ctx.zxid;
            // No digest change: nodes under /zookeeper/ are not digested (`DigestOpCode.NOOP`).
            pending.put(CONFIG_NODE, Some(node));
            let txn = SetDataTxn { path: CONFIG_NODE.to_owned(), data: Some(data.clone()), version: -1 };
            Ok((op::RECONFIG, Txn::SetData(txn)))
        }
        WriteRequest::Reconfig(_) => Err(KeeperError::Unimplemented.into()),
        WriteRequest::Multi(_) | WriteRequest::Malformed { .. } => Err(PrepFailure::Marshalling),
        WriteRequest::Refused { err, .. } => Err(PrepFailure::Keeper(*err)),
    }
}

#[allow(clippy::too_many_arguments)]
fn prep_create(
    ctx: &PrepContext<'_>,
    pending: &mut Pending<'_>,
    op_type: i32,
    path: &str,
    data: Option<&Vec<u8>>,
    acl: &[Acl],
    flags: i32,
    ttl: i64,
) -> Result<Prepared, PrepFailure> {
    let extended = ctx.tree.config().extended_types;
    let mode = CreateMode::from_flag(flags).ok_or(KeeperError::BadArguments)?;
    // validateCreateRequest
    if mode.is_ttl() && !extended {
        return Err(KeeperError::Unimplemented.into());
    }
    let ttl_ok = if mode.is_ttl() { ephemeral::ttl_owner(ttl).is_some() } else { ttl < 0 };
    if !ttl_ok {
        return Err(KeeperError::BadArguments.into());
    }
    ctx.sessions.check(ctx.session_id)?;
    // validatePathForCreate
    let slash = path.rfind('/').ok_or(KeeperError::BadArguments)?;
    if path.contains('\0') {
        return Err(KeeperError::BadArguments.into());
    }
    let parent_path = &path[..slash];
    let acl = fixup_acl(ctx.auth, acl)?;
    let mut parent = pending.get(parent_path)?;
    check_acl(ctx.acl_config, &parent.acl, perms::CREATE, ctx.auth)?;
    let path = if mode.is_sequential() { format!("{path}{:010}", parent.stat.cversion) } else { path.to_owned() };
    valid_path(&path)?;
    if pending.get(&path).is_ok() {
        return Err(KeeperError::NodeExists.into());
    }
    if EphemeralType::of(parent.stat.ephemeral_owner, extended) == EphemeralType::Normal {
        return Err(KeeperError::NoChildrenForEphemerals.into());
    }
    let new_cversion = parent.stat.cversion.wrapping_add(1);
    let owner = if mode.is_container() {
        CONTAINER_EPHEMERAL_OWNER
    } else if mode.is_ttl() {
        ephemeral::ttl_owner(ttl).unwrap_or(0)
    } else if mode.is_ephemeral() {
        ctx.session_id
    } else {
        0
    };
    parent.child_count += 1;
    parent.stat.cversion = new_cversion;
    parent.stat.pzxid = ctx.zxid;
    pending.put(parent_path, Some(parent));
    let stat = StatPersisted {
        czxid: ctx.zxid,
        mzxid: ctx.zxid,
        ctime: ctx.time,
        mtime: ctx.time,
        ephemeral_owner: owner,
        pzxid: ctx.zxid,
        ..Default::default()
    };
    let pd =
        if pending.digest_enabled { crate::digest::path_data_hasher(&path, data.map(|d| d.as_slice())) } else { None };
    pending.put(&path, Some(ChangeRecord { stat, child_count: 0, acl: acl.clone(), pd }));
    let data = data.cloned();
    let txn = match op_type {
        op::CREATE_CONTAINER => {
            Txn::CreateContainer(CreateContainerTxn { path: path.clone(), data, acl, parent_c_version: new_cversion })
        }
        op::CREATE_TTL => {
            Txn::CreateTtl(CreateTtlTxn { path: path.clone(), data, acl, parent_c_version: new_cversion, ttl })
        }
        _ => Txn::Create(CreateTxn {
            path: path.clone(),
            data,
            acl,
            ephemeral: mode.is_ephemeral(),
            parent_c_version: new_cversion,
        }),
    };
    Ok((op_type, txn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TreeConfig;

    fn prep(tree: &DataTree, acl_config: &AclConfig, auth: &[Id], req: &WriteRequest) -> (TxnHeader, Txn) {
        let mut sessions = SessionTracker::new(1, 2000, 0);
        sessions.add(7, 30_000, 0);
        let ctx = PrepContext {
            tree,
            sessions: &sessions,
            acl_config,
            session_id: 7,
            cxid: 3,
            auth,
            zxid: 0x1_0000_0005,
            time: 1234,
            digest: tree.digest(),
        };
        let (hdr, txn, digest) = prep_request(&ctx, &mut Outstanding::default(), req);
        assert_eq!(digest, tree.digest(), "reconfig leaves the digest alone");
        (hdr, txn)
    }

    /// `PrepRequestProcessor` case reconfig: WRITE on /zookeeper/config (READ_ACL_UNSAFE),
    /// so only a super user or skipACL; the txn is type reconfig, a SetDataTxn with -1.
    #[test]
    fn a_checked_reconfig_needs_write_on_the_config_node() {
        let tree = DataTree::new(TreeConfig::default());
        let req = WriteRequest::NewConfig { data: b"server.1=h:1:2:participant\nversion=100000005".to_vec() };
        let (hdr, txn) = prep(&tree, &AclConfig::default(), &[], &req);
        assert_eq!((hdr.txn_type, txn), (op::ERROR, Txn::Error(ErrorTxn { err: KeeperError::NoAuth.code().code() })));
        let digest_user = [Id { scheme: "digest".into(), id: "bob:x".into() }];
        assert_eq!(prep(&tree, &AclConfig::default(), &digest_user, &req).0.txn_type, op::ERROR);
        let want = Txn::SetData(SetDataTxn {
            path: CONFIG_NODE.into(),
            data: Some(b"server.1=h:1:2:participant\nversion=100000005".to_vec()),
            version: -1,
        });
        let super_user = [Id { scheme: "super".into(), id: "super".into() }];
        let (hdr, txn) = prep(&tree, &AclConfig::default(), &super_user, &req);
        assert_eq!((hdr.txn_type, hdr.zxid, hdr.client_id, hdr.cxid, &txn), (op::RECONFIG, 0x1_0000_0005, 7, 3, &want));
        let skip = AclConfig { skip_acl: true, ..AclConfig::default() };
        assert_eq!(prep(&tree, &skip, &[], &req).1, want);
        // Not checked by a leader (standalone): Unimplemented, as ZooKeeper.
        let raw = WriteRequest::Reconfig(ReconfigRequest::default());
        let (hdr, txn) = prep(&tree, &skip, &[], &raw);
        assert_eq!(
            (hdr.txn_type, txn),
            (op::ERROR, Txn::Error(ErrorTxn { err: KeeperError::Unimplemented.code().code() }))
        );
    }
}
