//! SyncRequestProcessor + FinalRequestProcessor's apply step, on one dedicated thread.
//!
//! Prepared txns arrive in zxid order. The thread takes every txn waiting (group commit),
//! writes them to the transaction log, fsyncs once, and only then applies them to the
//! DataTree, delivers their watch events and completes their requests: no write is
//! acknowledged — or visible to any reader — before it is on disk.
//!
//! After a random number of txns in [snapCount/2+1, snapCount] (or snapSizeLimitInKb of
//! log) it rolls the log and starts a fuzzy snapshot on another thread. If the disk fails
//! (ENOSPC, an fsync error) the txns of that batch are not applied, their clients are told
//! nothing (their connections close), and every later write is refused: nothing
//! unacknowledged is half-present, and nothing on disk is overwritten.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{error, info, warn};
use zab_datatree::codec::NodeCursor;
use zab_datatree::ProcessTxnResult;
use zab_jute::txn::{Txn, TxnHeader};
use zab_persistence::snapshot::SnapWriter;
use zab_persistence::txnlog::TxnLogWriter;

use crate::zk_server::ZooKeeperServer;

/// How long the sync thread polls for the next txn before it blocks.
const SPIN: Duration = Duration::from_micros(200);

/// The outcome of one write, or why it was not done.
pub type WriteResult = Result<WriteOutcome, String>;

/// The outcome of one write.
#[derive(Debug)]
pub struct WriteOutcome {
    /// The txn type (`op::ERROR` when the request failed in prep).
    pub txn_type: i32,
    pub rc: ProcessTxnResult,
    /// lastProcessedZxid after the write: the reply's zxid.
    pub zxid: i64,
}

/// A prepared txn on its way to the log.
pub struct LogItem {
    pub hdr: TxnHeader,
    pub txn: Txn,
    pub payload: Vec<u8>,
    /// The tree digest logged with the txn, checked after it is applied.
    pub digest: Option<i64>,
    pub done: Option<oneshot::Sender<WriteResult>>,
}

fn next_snap_target(snap_count: u64, salt: u64) -> u64 {
    // ZooKeeper randomises the point in [snapCount/2 + 1, snapCount] so that the members
    // of an ensemble do not all snapshot at once.
    let half = (snap_count / 2).max(1);
    let r = (salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % half;
    half + 1 + r
}

/// Runs until the channel closes.
pub fn run(server: Arc<ZooKeeperServer>, rx: Receiver<LogItem>, mut log: TxnLogWriter) {
    let cfg = server.config.clone();
    let mut since_snap: u64 = 0;
    let mut target = next_snap_target(cfg.snap_count, std::process::id() as u64);
    let snapshotting = Arc::new(AtomicBool::new(false));
    let size_limit = cfg.snap_size_limit_kb.saturating_mul(1024);
    let mut batch: Vec<LogItem> = Vec::with_capacity(1024);
    loop {
        // Spin briefly before sleeping: with few clients the next write usually arrives
        // within a fraction of an fsync, and a futex wake-up costs as much again.
        let mut first = None;
        let spin_until = Instant::now() + SPIN;
        while first.is_none() && Instant::now() < spin_until {
            match rx.try_recv() {
                Ok(i) => first = Some(i),
                Err(std::sync::mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
            }
        }
        let first = match first {
            Some(i) => i,
            None => match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(i) => i,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        batch.push(first);
        while batch.len() < 1000 {
            match rx.try_recv() {
                Ok(i) => batch.push(i),
                Err(_) => break,
            }
        }
        if let Some(reason) = server.disk_failure() {
            fail(&mut batch, &reason);
            continue;
        }
        for item in &batch {
            log.append(item.hdr.zxid, &item.payload);
        }
        let started = Instant::now();
        match log.commit() {
            Ok(fsync) => {
                server.metrics.record_fsync(fsync);
                server.metrics_registry.fsync.observe(fsync.as_secs_f64());
                if let Some(last) = batch.last() {
                    server.last_logged_zxid.store(last.hdr.zxid, Ordering::Relaxed);
                }
                if fsync.as_millis() as u64 > cfg.fsync_warning_ms {
                    warn!(
                        ms = fsync.as_millis() as u64,
                        "fsync of the transaction log took longer than fsync.warningthresholdms"
                    );
                    server.metrics.fsync_slow.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                error!(error = %e, "cannot write the transaction log; refusing all writes from now on");
                server.set_disk_failure(e.to_string());
                fail(&mut batch, &e.to_string());
                continue;
            }
        }
        let _ = started;
        let n = batch.len() as u64;
        server.logged(std::mem::replace(&mut batch, Vec::with_capacity(1024)));
        since_snap += n;
        let too_big = size_limit > 0 && log.bytes_in_file > size_limit;
        if since_snap >= target || too_big {
            if snapshotting.swap(true, Ordering::AcqRel) {
                warn!("too busy to snapshot, skipping");
            } else {
                log.roll();
                since_snap = 0;
                target = next_snap_target(cfg.snap_count, target);
                let s = server.clone();
                let flag = snapshotting.clone();
                let spawned = std::thread::Builder::new().name("snapshot".into()).spawn(move || {
                    if let Err(e) = take_snapshot(&s) {
                        error!(error = %e, "snapshot failed; the log still holds every txn");
                    }
                    flag.store(false, Ordering::Release);
                });
                if spawned.is_err() {
                    snapshotting.store(false, Ordering::Release);
                }
            }
        }
    }
    info!("sync thread stopped");
}

fn fail(batch: &mut Vec<LogItem>, reason: &str) {
    for item in batch.drain(..) {
        if let Some(done) = item.done {
            let _ = done.send(Err(reason.to_owned()));
        }
    }
}

/// Writes a fuzzy snapshot of the live tree (`ZooKeeperServer.takeSnapshot`): the tree lock
/// is held only for 10,000 nodes at a time.
pub fn take_snapshot(server: &ZooKeeperServer) -> Result<std::path::PathBuf, String> {
    let started = Instant::now();
    for attempt in 0..3 {
        let zxid = server.last_processed_zxid();
        let sessions = server.sessions();
        let mut w =
            SnapWriter::create(&server.snap_log.snap_dir, zxid, server.config.force_sync).map_err(|e| e.to_string())?;
        w.write_sessions(&sessions);
        let acls = server.tree().write_acl_section(w.out());
        let mut cur = NodeCursor::new(&acls);
        loop {
            let done = server.tree().write_nodes_step(&mut cur, w.out(), 10_000);
            w.flush_chunk().map_err(|e| e.to_string())?;
            if done {
                break;
            }
        }
        if cur.acl_missing {
            warn!(attempt, "an ACL was created during the snapshot; starting it again");
            w.abandon();
            continue;
        }
        w.seal().map_err(|e| e.to_string())?;
        let digest = {
            let t = server.tree();
            server
                .config
                .digest_enabled
                .then(|| (t.last_processed_zxid(), zab_datatree::digest::DIGEST_VERSION, t.digest() as i64))
        };
        let path = w.finish(digest).map_err(|e| e.to_string())?;
        server.metrics.record_snapshot(started.elapsed());
        server.metrics_registry.snapshot.observe(started.elapsed().as_secs_f64());
        *server.last_snapshot.lock() = (zxid, crate::zk_server::wall_ms() / 1000);
        info!(file = %path.display(), nodes = cur.nodes_written, ms = started.elapsed().as_millis() as u64, "snapshot written");
        return Ok(path);
    }
    Err("ACLs kept changing during three snapshot attempts".into())
}

/// Writes a whole snapshot of a tree no server is running on (a learner's snapshot after
/// TRUNC or SNAP, before it serves).
pub fn write_snapshot(
    config: &crate::config::ServerConfig,
    tree: &zab_datatree::DataTree,
    sessions: &std::collections::HashMap<i64, i32>,
) -> Result<std::path::PathBuf, String> {
    let snap_dir = zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir).snap_dir;
    let zxid = tree.last_processed_zxid();
    let mut w = SnapWriter::create(&snap_dir, zxid, config.force_sync).map_err(|e| e.to_string())?;
    let mut list: Vec<(i64, i32)> = sessions.iter().map(|(k, v)| (*k, *v)).collect();
    list.sort_unstable();
    w.write_sessions(&list);
    let acls = tree.write_acl_section(w.out());
    let mut cur = NodeCursor::new(&acls);
    loop {
        let done = tree.write_nodes_step(&mut cur, w.out(), 10_000);
        w.flush_chunk().map_err(|e| e.to_string())?;
        if done {
            break;
        }
    }
    w.seal().map_err(|e| e.to_string())?;
    let digest = config.digest_enabled.then(|| (zxid, zab_datatree::digest::DIGEST_VERSION, tree.digest() as i64));
    let path = w.finish(digest).map_err(|e| e.to_string())?;
    info!(file = %path.display(), "snapshot written");
    Ok(path)
}
