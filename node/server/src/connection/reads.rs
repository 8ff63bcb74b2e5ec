//! The read requests of an established connection (FinalRequestProcessor for reads):
//! each runs under the tree's read lock, alongside every other connection's reads, and
//! its reply is built after the lock is released. Reads never go through the log.

use tracing::debug;
use zab_datatree::acl::{check_acl, client_infos};
use zab_datatree::watch::WatcherMode;
use zab_datatree::{DataTree, KeeperError};
use zab_jute::codes::{add_watch_mode, op, perms, xid};
use zab_jute::data::{Acl, Id, Stat};
use zab_jute::proto::*;

use super::state::{body_of, ConnectionState};
use crate::metrics::ServerMetrics;

impl ConnectionState {
    pub(super) fn handle_read(&mut self, xid: i32, t: i32, body: &[u8]) {
        let server = self.server.clone();
        let tree = server.tree();
        let zxid = tree.last_processed_zxid();
        if !self.live {
            drop(tree);
            self.drain_events();
            return self.reply_err(xid, zxid, KeeperError::SessionExpired);
        }
        let me = self.handle.id;
        let auth_guard = self.handle.auth.read();
        let auth: &[Id] = &auth_guard;
        let max = server.config.max_buffer;
        let check = |acl: &[Acl], perm: i32| check_acl(&server.acl_config, acl, perm, auth);
        // Executed under the read lock; the reply is built after the lock is released.
        let result: Result<Reply, KeeperError> = (|| {
            Ok(match t {
                op::PING => Reply::Ping,
                op::EXISTS => {
                    let r: PathWatchRequest = body_of(body, max)?;
                    if r.path.contains('\0') {
                        return Err(KeeperError::BadArguments);
                    }
                    let stat = tree.stat_node(&r.path, r.watch.then_some(me))?;
                    server.metrics.record_read(&r.path, 0);
                    Reply::Stat(stat)
                }
                op::GET_DATA => {
                    let r: PathWatchRequest = body_of(body, max)?;
                    let (data, stat) = get_data(&tree, &r, me, &check, &server.metrics)?;
                    Reply::Data(GetDataResponse { data, stat })
                }
                op::GET_ACL => {
                    let r: PathRequest = body_of(body, max)?;
                    let node = tree.node(&r.path).ok_or(KeeperError::NoNode)?;
                    let acl = tree.acl_of(&node);
                    check(&acl, perms::READ | perms::ADMIN)?;
                    let stat = tree.client_stat(&node);
                    let acl = if check(&acl, perms::ADMIN).is_ok() {
                        acl
                    } else {
                        acl.into_iter().map(mask_digest).collect()
                    };
                    Reply::Acl(GetAclResponse { acl, stat })
                }
                op::GET_CHILDREN | op::GET_CHILDREN2 => {
                    let r: PathWatchRequest = body_of(body, max)?;
                    let (children, stat) = get_children(&tree, &r, me, &check, &server.metrics)?;
                    if t == op::GET_CHILDREN {
                        Reply::Children(GetChildrenResponse { children })
                    } else {
                        Reply::Children2(GetChildren2Response { children, stat })
                    }
                }
                op::GET_ALL_CHILDREN_NUMBER => {
                    let r: PathRequest = body_of(body, max)?;
                    let node = tree.node(&r.path).ok_or(KeeperError::NoNode)?;
                    tree.acl_cache().with(node.acl, |acl| check(acl, perms::READ))?;
                    Reply::Number(tree.all_children_number(&r.path))
                }
                op::SYNC => Reply::Sync(body_of::<PathRequest>(body, max)?),
                op::SET_WATCHES | op::SET_WATCHES2 => {
                    // setWatches is setWatches2 without the persistent lists.
                    let r: SetWatches2 = if t == op::SET_WATCHES {
                        let r: SetWatches = body_of(body, max)?;
                        SetWatches2 {
                            relative_zxid: r.relative_zxid,
                            data_watches: r.data_watches,
                            exist_watches: r.exist_watches,
                            child_watches: r.child_watches,
                            ..Default::default()
                        }
                    } else {
                        body_of(body, max)?
                    };
                    Reply::SetWatches(tree.set_watches(
                        r.relative_zxid,
                        &r.data_watches,
                        &r.exist_watches,
                        &r.child_watches,
                        &r.persistent_watches,
                        &r.persistent_recursive_watches,
                        me,
                    ))
                }
                op::ADD_WATCH => {
                    let r: AddWatchRequest = body_of(body, max)?;
                    let mode = if r.mode == add_watch_mode::PERSISTENT_RECURSIVE {
                        WatcherMode::PersistentRecursive
                    } else {
                        WatcherMode::Persistent
                    };
                    tree.add_watch(&r.path, me, mode);
                    Reply::ErrorBody(0)
                }
                op::CHECK_WATCHES | op::REMOVE_WATCHES => {
                    let r: WatchesRequest = body_of(body, max)?;
                    if !DataTree::valid_watcher_type(r.watcher_type) {
                        return Err(KeeperError::MarshallingError);
                    }
                    let found = if t == op::CHECK_WATCHES {
                        tree.contains_watcher(&r.path, r.watcher_type, me)
                    } else {
                        tree.remove_watch(&r.path, r.watcher_type, me)
                    };
                    if !found {
                        return Err(KeeperError::NoWatcher);
                    }
                    Reply::Empty
                }
                op::WHO_AM_I => Reply::WhoAmI(WhoAmIResponse {
                    client_info: client_infos(auth)
                        .into_iter()
                        .map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
                        .collect(),
                }),
                op::GET_EPHEMERALS => {
                    let r: GetEphemeralsRequest = body_of(body, max)?;
                    let all = tree.ephemerals_of(self.session_id);
                    let prefix = r.prefix_path.unwrap_or_default();
                    let p = prefix.trim();
                    let ephemerals = if p.is_empty() || p == "/" {
                        all
                    } else {
                        all.into_iter().filter(|e| e.starts_with(prefix.as_str())).collect()
                    };
                    Reply::Ephemerals(GetEphemeralsResponse { ephemerals })
                }
                op::MULTI_READ => {
                    let m: MultiRequest = body_of(body, max)?;
                    let mut results = Vec::with_capacity(m.ops.len());
                    for o in &m.ops {
                        let r = match o {
                            MultiOp::GetChildren(r) => get_children(&tree, r, me, &check, &server.metrics)
                                .map(|(children, _)| MultiResult::GetChildren { children }),
                            MultiOp::GetData(r) => get_data(&tree, r, me, &check, &server.metrics)
                                .map(|(data, stat)| MultiResult::GetData { data, stat }),
                            _ => return Err(KeeperError::MarshallingError),
                        };
                        results.push(r.unwrap_or_else(|e| MultiResult::Error { err: e.code().code() }));
                    }
                    Reply::Multi(MultiResponse { results })
                }
                _ => return Err(KeeperError::Unimplemented),
            })
        })();
        drop(tree);
        drop(auth_guard);
        self.drain_events();
        match result {
            Err(e) => {
                debug!(session = format_args!("0x{:x}", self.session_id), op = op::name(t), err = ?e, "read failed");
                self.reply_err(xid, zxid, e)
            }
            Ok(Reply::Ping) => self.reply(xid::PING, zxid, 0, None),
            Ok(Reply::Stat(stat)) => self.reply_rec(xid, zxid, &StatResponse { stat }),
            Ok(Reply::Data(r)) => self.reply_rec(xid, zxid, &r),
            Ok(Reply::Acl(r)) => self.reply_rec(xid, zxid, &r),
            Ok(Reply::Children(r)) => self.reply_rec(xid, zxid, &r),
            Ok(Reply::Children2(r)) => self.reply_rec(xid, zxid, &r),
            Ok(Reply::Number(n)) => self.reply_rec(xid, zxid, &GetAllChildrenNumberResponse { total_number: n }),
            Ok(Reply::Sync(r)) => self.reply_rec(xid, zxid, &r),
            Ok(Reply::SetWatches(events)) => {
                for e in events {
                    self.notify(&WatcherEvent {
                        event_type: e.event_type,
                        state: zab_jute::codes::state::SYNC_CONNECTED,
                        path: e.path,
                    });
                }
                self.reply(xid, zxid, 0, None)
            }
            Ok(Reply::ErrorBody(code)) => self.reply_rec(xid, zxid, &ErrorResponse { err: code }),
            Ok(Reply::Empty) => self.reply(xid, zxid, 0, None),
            Ok(Reply::WhoAmI(r)) => self.reply_rec(xid, zxid, &r),
            Ok(Reply::Ephemerals(r)) => self.reply_rec(xid, zxid, &r),
            Ok(Reply::Multi(r)) => self.reply_rec(xid, zxid, &r),
        }
    }
}

enum Reply {
    Ping,
    Stat(Stat),
    Data(GetDataResponse),
    Acl(GetAclResponse),
    Children(GetChildrenResponse),
    Children2(GetChildren2Response),
    Number(i32),
    Sync(PathRequest),
    SetWatches(Vec<zab_datatree::WatchEvent>),
    ErrorBody(i32),
    Empty,
    WhoAmI(WhoAmIResponse),
    Ephemerals(GetEphemeralsResponse),
    Multi(MultiResponse),
}

type Check<'a> = dyn Fn(&[Acl], i32) -> Result<(), KeeperError> + 'a;

fn get_data(
    tree: &DataTree,
    r: &PathWatchRequest,
    me: u64,
    check: &Check<'_>,
    metrics: &ServerMetrics,
) -> Result<(Option<Vec<u8>>, Stat), KeeperError> {
    let out = tree.get_data_checked(&r.path, r.watch.then_some(me), |acl| check(acl, perms::READ))?;
    metrics.record_read(&r.path, out.0.as_ref().map_or(0, |d| d.len()));
    Ok(out)
}

fn get_children(
    tree: &DataTree,
    r: &PathWatchRequest,
    me: u64,
    check: &Check<'_>,
    metrics: &ServerMetrics,
) -> Result<(Vec<String>, Stat), KeeperError> {
    let out = tree.get_children_checked(&r.path, r.watch.then_some(me), |acl| check(acl, perms::READ))?;
    metrics.record_read(&r.path, out.0.iter().map(|c| c.len()).sum());
    Ok(out)
}

/// getACL without ADMIN shows digest ids as `user:x` (ZOOKEEPER-1392).
fn mask_digest(a: Acl) -> Acl {
    if a.id.scheme == "digest" {
        let user = a.id.id.split(':').next().unwrap_or("").to_owned();
        Acl { perms: a.perms, id: Id { scheme: a.id.scheme, id: format!("{user}:x") } }
    } else {
        a
    }
}
