//! The transaction log's thread (ZooKeeper's SyncRequestProcessor): group commit, fsync,
//! and the snapshot schedule.
//!
//! Prepared txns arrive in zxid order. The thread takes every txn waiting (group commit),
//! writes them to the transaction log, fsyncs once, and only then reports them durable
//! ([`LogTarget::logged`]): standalone, that commits and applies them (the DataTree,
//! watch events, replies); in an ensemble it is this member's ACK, and the txns are applied
//! once a quorum has made them durable. No write is acknowledged — or visible to any
//! reader — before a quorum has it on disk.
//!
//! After a random number of txns in [snapCount/2+1, snapCount] (or snapSizeLimitInKb of
//! log) it rolls the log and starts a fuzzy snapshot ([`crate::snapshot`]) on another
//! thread. If the disk fails (ENOSPC, an fsync error) the txns of that batch are not
//! applied, their clients are told nothing (their connections close), and every later
//! write is refused: nothing unacknowledged is half-present, and nothing on disk is
//! overwritten.
//!
//! It sees the server it logs for only through [`LogTarget`] (which `ZooKeeperServer`
//! implements), so this module never imports the server state. The calls are generic (no
//! dynamic dispatch on the write path).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zab_persistence::txnlog::TxnLogWriter;

use crate::config::ServerConfig;
use crate::snapshot::{take_snapshot, SnapshotSource};

/// What the log thread reports to the server it logs for (`ZooKeeperServer` implements
/// it), beside what a snapshot reads of it. Calls must not block on the log thread itself.
pub trait LogTarget: SnapshotSource {
    /// Why the disk failed, once it has: every later write is refused.
    fn disk_failure(&self) -> Option<String>;
    fn set_disk_failure(&self, reason: String);
    /// These txns could not be logged: they are not applied, their requests fail.
    fn log_failed(&self, zxids: &[i64], reason: &str);
    /// These txns are durable here, in order (standalone: commit; ensemble: ACK).
    fn logged(&self, zxids: &[i64]);
    /// The last zxid made durable (`srvr`, /status).
    fn set_last_logged(&self, zxid: i64);
}

/// A txn on its way to the log.
pub struct LogRecord {
    pub zxid: i64,
    pub payload: Arc<Vec<u8>>,
}

/// The log thread's queue. Txns are queued in zxid order (under the caller's lock); the
/// wake-up of a sleeping log thread is deferred to the end of the caller's
/// [`crate::defer`] scope, after its network sends.
pub struct LogQueue {
    state: Mutex<LogQueueState>,
    cond: Condvar,
}

#[derive(Default)]
struct LogQueueState {
    items: Vec<LogRecord>,
    /// The log thread sleeps (or is about to): a push must wake it.
    sleeping: bool,
    closed: bool,
}

impl crate::defer::Flush for LogQueue {
    fn flush(&self) {
        self.cond.notify_one();
    }
}

impl LogQueue {
    pub fn new() -> Arc<LogQueue> {
        Arc::new(LogQueue { state: Mutex::new(LogQueueState::default()), cond: Condvar::new() })
    }

    /// Queues a txn for the log; gives it back once the queue is closed.
    pub fn push(self: &Arc<Self>, r: LogRecord) -> Result<(), LogRecord> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(r);
        }
        st.items.push(r);
        let wake = std::mem::take(&mut st.sleeping);
        drop(st);
        if wake {
            let me: Arc<dyn crate::defer::Flush> = self.clone();
            if !crate::defer::later(crate::defer::Phase::Wake, &me) {
                self.cond.notify_one();
            }
        }
        Ok(())
    }

    /// Nothing queued and the log thread asleep waiting for work: everything pushed so far
    /// has been logged (or is being logged by whoever holds the [`LogState`]).
    pub fn is_idle(&self) -> bool {
        let st = self.state.lock();
        st.items.is_empty() && st.sleeping && !st.closed
    }

    /// No more pushes; the log thread logs what is queued and stops.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.cond.notify_one();
    }

    /// Waits for txns and moves them all into `into`; false once closed and drained.
    fn take(&self, into: &mut Vec<LogRecord>) -> bool {
        let mut st = self.state.lock();
        while st.items.is_empty() {
            if st.closed {
                return false;
            }
            st.sleeping = true;
            self.cond.wait_for(&mut st, Duration::from_secs(1));
        }
        st.sleeping = false;
        std::mem::swap(into, &mut st.items);
        true
    }
}

fn next_snap_target(snap_count: u64, salt: u64) -> u64 {
    // ZooKeeper randomises the point in [snapCount/2 + 1, snapCount] so that the members
    // of an ensemble do not all snapshot at once.
    let half = (snap_count / 2).max(1);
    let r = (salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % half;
    half + 1 + r
}

/// The transaction log and its snapshot schedule: owned by the log thread, lent to a
/// learner's reader for a lone proposal (`ZooKeeperServer::log_txn`).
pub struct LogState {
    log: TxnLogWriter,
    since_snap: u64,
    target: u64,
    snapshotting: Arc<AtomicBool>,
    zxids: Vec<i64>,
}

impl LogState {
    pub fn new(config: &ServerConfig, log: TxnLogWriter) -> LogState {
        LogState {
            log,
            since_snap: 0,
            target: next_snap_target(config.snap_count, std::process::id() as u64),
            snapshotting: Arc::new(AtomicBool::new(false)),
            zxids: Vec::with_capacity(1024),
        }
    }

    /// Logs `batch` (emptied), fsyncs once, reports the txns durable, and starts a snapshot
    /// when one is due.
    pub fn process<S: LogTarget>(&mut self, server: &Arc<S>, batch: &mut Vec<LogRecord>) {
        let cfg = server.config();
        self.zxids.clear();
        self.zxids.extend(batch.iter().map(|r| r.zxid));
        if let Some(reason) = server.disk_failure() {
            batch.clear();
            server.log_failed(&self.zxids, &reason);
            return;
        }
        let flushing = Instant::now();
        for r in batch.drain(..) {
            self.log.append(r.zxid, &r.payload);
        }
        match self.log.commit() {
            Ok(fsync) => {
                server.metrics().sync_processor_queue_flush_time_ms.add_ms(flushing.elapsed());
                server.metrics().record_fsync(fsync);
                server.histograms().fsync.observe(fsync.as_secs_f64());
                if let Some(last) = self.zxids.last() {
                    server.set_last_logged(*last);
                }
                if fsync.as_millis() as u64 > cfg.fsync_warning_ms {
                    warn!(
                        ms = fsync.as_millis() as u64,
                        "fsync of the transaction log took longer than fsync.warningthresholdms"
                    );
                    server.metrics().fsync_threshold_exceed_count.inc();
                }
            }
            Err(e) => {
                error!(error = %e, "cannot write the transaction log; refusing all writes from now on");
                server.set_disk_failure(e.to_string());
                server.log_failed(&self.zxids, &e.to_string());
                return;
            }
        }
        let n = self.zxids.len() as u64;
        crate::metrics::record::record_sync_batch(server.metrics(), n);
        {
            // One send per peer for the batch's ACKs (learner) or COMMITs (leader).
            let _defer = crate::defer::defer();
            server.logged(&self.zxids);
        }
        self.since_snap += n;
        let size_limit = cfg.snap_size_limit_kb.saturating_mul(1024);
        let too_big = size_limit > 0 && self.log.bytes_in_file > size_limit;
        if self.since_snap >= self.target || too_big {
            if self.snapshotting.swap(true, Ordering::AcqRel) {
                warn!("too busy to snapshot, skipping");
            } else {
                self.log.roll();
                self.since_snap = 0;
                self.target = next_snap_target(cfg.snap_count, self.target);
                let s = server.clone();
                let flag = self.snapshotting.clone();
                let spawned = std::thread::Builder::new().name("snapshot".into()).spawn(move || {
                    if let Err(e) = take_snapshot(&*s) {
                        error!(error = %e, "snapshot failed; the log still holds every txn");
                    }
                    flag.store(false, Ordering::Release);
                });
                if spawned.is_err() {
                    self.snapshotting.store(false, Ordering::Release);
                }
            }
        }
    }
}

/// The log thread (named "sync"): runs until the queue is closed and drained.
pub fn run<S: LogTarget>(server: Arc<S>, queue: Arc<LogQueue>, state: Arc<Mutex<LogState>>) {
    let mut batch: Vec<LogRecord> = Vec::with_capacity(1024);
    // No spinning for the next txn: on a small machine a spinning log thread takes the
    // core the thread about to hand it work needs (measured: 1,064 against 1,506 writes/s
    // at one outstanding request in a 3-member ensemble on 2 cores).
    while queue.take(&mut batch) {
        state.lock().process(&server, &mut batch);
    }
    info!("sync thread stopped");
}
