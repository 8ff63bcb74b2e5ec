//! The write path's second half: txns wait in zxid order for their commit
//! ([`AwaitingCommit`]); the log thread reports them durable ([`LogTarget`]); once
//! committed they are applied in order (`CommitProcessor`, `FinalRequestProcessor`'s
//! apply): the tree, the session tracker, watch delivery, the replies' outcomes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::debug;
use zab_datatree::acl::check_acl;
use zab_datatree::{DataTree, WatchEvent};
use zab_jute::codes::{op, perms, state};
use zab_jute::proto::WatcherEvent;
use zab_jute::txn::Txn;

use super::awaiting::LogItem;
use super::{wall_ms, CnxnMsg, Upstream, ZooKeeperServer};
use crate::config::ServerConfig;
use crate::log_thread::LogTarget;
use crate::snapshot::SnapshotSource;
use crate::write_result::{WriteError, WriteOutcome, WriteResult};

impl crate::defer::Flush for ZooKeeperServer {
    /// The deferred commits of a burst, applied together.
    fn flush(&self) {
        self.commit_up_to(self.commit_target.load(Ordering::Acquire));
    }
}

/// What a snapshot reads of the server (see [`SnapshotSource`]); each call is the inherent
/// method or field of the same meaning.
impl SnapshotSource for ZooKeeperServer {
    fn config(&self) -> &ServerConfig {
        &self.config
    }
    fn metrics(&self) -> &crate::metrics::ServerMetrics {
        &self.metrics
    }
    fn histograms(&self) -> &crate::metrics::histograms::Histograms {
        &self.metrics_registry
    }
    fn snap_dir(&self) -> &std::path::Path {
        &self.snap_log.snap_dir
    }
    fn sessions(&self) -> Vec<(i64, i32)> {
        ZooKeeperServer::sessions(self)
    }
    fn with_tree<R>(&self, f: impl FnOnce(&DataTree) -> R) -> R {
        f(&self.tree.read())
    }
    fn snapshot_written(&self, zxid: i64) {
        *self.last_snapshot.lock() = (zxid, crate::clock::wall_ms() / 1000);
    }
}

/// The log thread's view of the server (see [`LogTarget`]); each call is the inherent
/// method or field of the same meaning.
impl LogTarget for ZooKeeperServer {
    fn disk_failure(&self) -> Option<String> {
        ZooKeeperServer::disk_failure(self)
    }
    fn set_disk_failure(&self, reason: String) {
        ZooKeeperServer::set_disk_failure(self, reason)
    }
    fn log_failed(&self, zxids: &[i64], reason: &str) {
        ZooKeeperServer::log_failed(self, zxids, reason)
    }
    fn logged(&self, zxids: &[i64]) {
        ZooKeeperServer::logged(self, zxids)
    }
    fn set_last_logged(&self, zxid: i64) {
        self.last_logged_zxid.store(zxid, Ordering::Relaxed);
    }
}

impl ZooKeeperServer {
    /// Applies a committed batch: the tree, the session tracker, watch delivery, replies.
    pub(crate) fn apply_batch(&self, batch: &mut Vec<LogItem>) {
        let learner = self.upstream.leader_link().is_some();
        let mut results = Vec::with_capacity(batch.len());
        let now = wall_ms();
        {
            let mut tree = self.tree.write();
            let mut events = Vec::new();
            for item in batch.iter() {
                crate::metrics::record::record_applied(&self.metrics, &item.hdr, now);
                let rc = tree.process_txn(&item.hdr, &item.txn, &mut events);
                if let Some(d) = item.digest {
                    if d != tree.digest() as i64 {
                        self.metrics.digest_mismatches_count.inc();
                        if self.metrics.digest_mismatches_count.get() == 1 {
                            tracing::error!(
                                zxid = format_args!("0x{:x}", item.hdr.zxid),
                                "tree digest after the txn differs from the one precomputed for the log"
                            );
                        }
                    }
                }
                if rc.err == 0 {
                    crate::metrics::record::record_txn_writes(&self.metrics, &item.txn);
                }
                results.push((item.hdr.txn_type, rc, tree.last_processed_zxid()));
            }
            self.applied.store(tree.last_processed_zxid(), Ordering::Release);
            self.deliver(events);
        }
        let last = results.last().map(|r| r.2).unwrap_or(0);
        let mut closed = Vec::new();
        {
            let mut core = self.core.lock();
            let now = self.now_ms();
            for item in batch.iter() {
                match &item.txn {
                    Txn::CloseSession(_) => {
                        core.sessions.remove(item.hdr.client_id);
                        core.member_of_session.remove(&item.hdr.client_id);
                        // FinalRequestProcessor's `connClosedByClient`: a closeSession no
                        // connection here waits to answer (closed through another member,
                        // expired by the leader, or its client gone) closes the session's
                        // connection on this member, so its client learns it on reconnect.
                        if item.done.as_ref().is_none_or(|d| d.is_closed()) {
                            closed.push(item.hdr.client_id);
                        }
                    }
                    // A learner hears of sessions created through other members here.
                    Txn::CreateSession(t) if learner && core.sessions.get(item.hdr.client_id).is_none() => {
                        core.sessions.add(item.hdr.client_id, t.time_out, now);
                    }
                    _ => {}
                }
            }
            let before = core.outstanding.records();
            core.outstanding.applied_up_to(last);
            self.metrics.outstanding_changes_removed.add((before - core.outstanding.records()) as u64);
        }
        for session in closed {
            self.close_session_cnxn(session, "session closed by another connection or expired");
        }
        // The committed-log window, which the next epoch's leader syncs learners from.
        if self.upstream.in_ensemble() {
            let mut recent = self.recent.lock();
            for item in batch.iter_mut() {
                recent.push_back((item.hdr.zxid, item.payload.clone()));
            }
            while recent.len() > self.config.commit_log_count {
                recent.pop_front();
            }
        }
        for (item, (txn_type, rc, zxid)) in batch.drain(..).zip(results) {
            debug!(
                session = format_args!("0x{:x}", item.hdr.client_id),
                zxid = format_args!("0x{zxid:x}"),
                op = op::name(txn_type),
                err = rc.err,
                "applied"
            );
            self.stats.writes.fetch_add(1, Ordering::Relaxed);
            if let Some(done) = item.done {
                let _ = done.send(Ok(WriteOutcome { txn_type, rc, zxid }));
            }
        }
    }

    /// The log thread made these txns durable here, in order. Standalone that commits
    /// them; in an ensemble it is this member's ACK (the leader counts its own, a learner
    /// sends it to the leader).
    pub(crate) fn logged(&self, zxids: &[i64]) {
        let Some(&last) = zxids.last() else { return };
        {
            let mut a = self.awaiting.lock();
            a.logged = a.logged.max(last);
        }
        match &self.upstream {
            Upstream::Standalone => self.commit_up_to(last),
            Upstream::Leader(broadcast) => broadcast.logged(zxids),
            Upstream::Follower(link) | Upstream::Observer(link) => link.logged(zxids),
        }
    }

    /// The log thread could not log these txns (a disk failure): they are not applied
    /// here, and their requests fail.
    pub(crate) fn log_failed(&self, zxids: &[i64], reason: &str) {
        let failed: Vec<LogItem> = {
            let mut a = self.awaiting.lock();
            let mut failed = Vec::new();
            let mut kept = std::collections::VecDeque::with_capacity(a.items.len());
            for i in std::mem::take(&mut a.items) {
                if zxids.contains(&i.hdr.zxid) {
                    failed.push(i);
                } else {
                    kept.push_back(i);
                }
            }
            a.items = kept;
            failed
        };
        for item in failed {
            if let Some(done) = item.done {
                let _ = done.send(Err(WriteError::DiskFailed(reason.to_owned())));
            }
        }
    }

    /// [`commit_up_to`](Self::commit_up_to), or inside a [`crate::defer`] scope at its
    /// flush, once for all the commits of the burst.
    pub fn commit_up_to_deferred(self: &Arc<Self>, zxid: i64) {
        self.commit_target.fetch_max(zxid, Ordering::AcqRel);
        let me: Arc<dyn crate::defer::Flush> = self.clone();
        if !crate::defer::later(crate::defer::Phase::Apply, &me) {
            self.commit_up_to(self.commit_target.load(Ordering::Acquire));
        }
    }

    /// The quorum committed everything up to `zxid`: apply it, in order
    /// (`CommitProcessor`). A committed txn is on a quorum's disks, so it is applied even
    /// before this member's own fsync of it ends, as ZooKeeper's learners do. Idempotent
    /// and monotonic, so callers need no ordering.
    pub fn commit_up_to(&self, zxid: i64) {
        let _apply = self.apply_lock.lock();
        let mut batch = Vec::new();
        {
            let mut a = self.awaiting.lock();
            a.committed = a.committed.max(zxid);
            while a.items.front().is_some_and(|i| i.hdr.zxid <= a.committed) {
                if let Some(i) = a.items.pop_front() {
                    batch.push(i);
                }
            }
        }
        if !batch.is_empty() {
            if self.upstream.in_ensemble() {
                self.metrics.request_commit_queued.add(batch.len() as u64);
            }
            self.apply_batch(&mut batch);
        }
        let ready = {
            let mut a = self.awaiting.lock();
            if a.syncs.is_empty() {
                return;
            }
            let applied = self.applied.load(Ordering::Acquire);
            let (ready, waiting): (Vec<_>, Vec<_>) = a.syncs.drain(..).partition(|(t, _, _)| *t <= applied);
            a.syncs = waiting;
            (ready, applied)
        };
        for (_, path, done) in ready.0 {
            Self::reply_sync(path, done, ready.1);
        }
    }

    pub(super) fn reply_sync(path: String, done: oneshot::Sender<WriteResult>, zxid: i64) {
        let rc = zab_datatree::ProcessTxnResult { path, txn_type: op::SYNC, zxid, ..Default::default() };
        let _ = done.send(Ok(WriteOutcome { txn_type: op::SYNC, rc, zxid }));
    }

    /// Hands watch events to their connections, dropping those whose connection may not
    /// READ the node (ZooKeeper 3.8.4+ / CVE-2024-23944).
    /// The caller holds the tree's write lock, so no reader can see the change before its
    /// events are queued.
    pub(super) fn deliver(&self, events: Vec<WatchEvent>) {
        if events.is_empty() {
            return;
        }
        crate::metrics::record::record_watch_events(&self.metrics, &events);
        let cnxns = self.cnxns.read();
        for e in events {
            let Some(h) = cnxns.get(&e.watcher) else {
                continue;
            };
            if let Some(acl) = &e.acl {
                if check_acl(&self.acl_config, acl, perms::READ, &h.auth.read()).is_err() {
                    continue;
                }
            }
            let _ = h.tx.send(CnxnMsg::Event(WatcherEvent {
                event_type: e.event_type,
                state: state::SYNC_CONNECTED,
                path: e.path,
            }));
        }
    }
}
