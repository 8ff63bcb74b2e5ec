//! FileTxnSnapLog: the data directory as a whole (`persistence/FileTxnSnapLog.java`).
//!
//! Restore = the newest snapshot that reads back whole (up to 100 candidates, newest
//! first, each fully checked) + every logged txn after its zxid, replayed in order; txns
//! are idempotent, so the fuzzy snapshot plus replay gives the exact state. The last
//! `commitLogCount` txns are kept for DIFF synchronisation. A torn log tail is cut first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};
use zab_datatree::{DataTree, TreeConfig};
use zab_jute::txn::Txn;

use crate::error::{io, PersistenceError};
use crate::names::{sorted_files, version_dir, LOG_PREFIX, SNAP_PREFIX};
use crate::snapshot::{looks_valid, read_snapshot};
use crate::txnlog::{repair_torn_tail, replay_from, LogEntry};

/// The two directories of a data dir.
#[derive(Debug, Clone)]
pub struct SnapLog {
    /// dataDir/version-2: snapshots (and, one level up, the epoch files).
    pub snap_dir: PathBuf,
    /// dataLogDir/version-2: transaction logs.
    pub log_dir: PathBuf,
    /// dataDir itself.
    pub data_dir: PathBuf,
}

/// What restore found.
pub struct Restored {
    pub tree: DataTree,
    pub sessions: HashMap<i64, i32>,
    pub last_zxid: i64,
    pub snapshot_zxid: i64,
    pub snapshot: Option<PathBuf>,
    pub txns_replayed: usize,
    /// The last `commitLogCount` txns, oldest first.
    pub committed_log: VecDeque<LogEntry>,
    pub digest_mismatches: usize,
}

impl SnapLog {
    pub fn new(data_dir: &Path, data_log_dir: &Path) -> SnapLog {
        SnapLog { snap_dir: version_dir(data_dir), log_dir: version_dir(data_log_dir), data_dir: data_dir.to_owned() }
    }

    pub fn create_dirs(&self) -> Result<(), PersistenceError> {
        std::fs::create_dir_all(&self.snap_dir).map_err(io("creating", &self.snap_dir))?;
        std::fs::create_dir_all(&self.log_dir).map_err(io("creating", &self.log_dir))
    }

    /// Snapshot files, newest first.
    pub fn snapshots(&self) -> Result<Vec<(i64, PathBuf)>, PersistenceError> {
        let mut v = sorted_files(&self.snap_dir, SNAP_PREFIX).map_err(io("listing", &self.snap_dir))?;
        v.retain(|(_, p)| !p.to_string_lossy().ends_with(".tmp"));
        v.reverse();
        Ok(v)
    }

    /// Restores the database (`FileTxnSnapLog.restore`).
    pub fn restore(&self, config: TreeConfig, commit_log_count: usize) -> Result<Restored, PersistenceError> {
        self.create_dirs()?;
        let repaired = repair_torn_tail(&self.log_dir)?;
        if !repaired.is_empty() {
            warn!(files = ?repaired, "cut torn transaction log tails");
        }
        let started = Instant::now();
        let candidates: Vec<(i64, PathBuf)> =
            self.snapshots()?.into_iter().filter(|(_, p)| looks_valid(p)).take(100).collect();
        let mut loaded = None;
        let mut last_error = String::new();
        for (zxid, path) in &candidates {
            match read_snapshot(path, *zxid, config) {
                Ok(s) => {
                    loaded = Some(s);
                    break;
                }
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "snapshot unreadable; trying an older one");
                    last_error = e.to_string();
                }
            }
        }
        let (mut tree, mut sessions, snap_zxid, snap_path, snap_digest) = match loaded {
            Some(s) => {
                let mut tree = s.tree;
                tree.set_last_processed_zxid(s.zxid);
                info!(file = %s.path.display(), nodes = tree.node_count(), ms = started.elapsed().as_millis() as u64, "snapshot loaded");
                (tree, s.sessions.into_iter().collect::<HashMap<_, _>>(), s.zxid, Some(s.path), s.digest)
            }
            None if !candidates.is_empty() => {
                return Err(PersistenceError::NoValidSnapshot {
                    dir: self.snap_dir.clone(),
                    tried: candidates.len(),
                    last_error,
                });
            }
            None => {
                if crate::txnlog::last_logged_zxid(&self.log_dir)? != -1 {
                    return Err(PersistenceError::LogsWithoutSnapshot { dir: self.log_dir.clone() });
                }
                (DataTree::new(config), HashMap::new(), 0, None, None)
            }
        };
        let mut committed_log = VecDeque::new();
        let mut digest_mismatches = 0;
        let mut events = Vec::new();
        let mut replayed = 0;
        let mut highest = snap_zxid;
        let log_dir = self.log_dir.clone();
        replay_from(&self.log_dir, snap_zxid + 1, |e| {
            // Within an epoch zxids are contiguous; a jump means a log lost txns (a file
            // cut in the middle, a file deleted): replaying past it would build a state
            // that never existed.
            let z = e.hdr.zxid;
            if z > highest + 1 && (z >> 32) == (highest >> 32) {
                return Err(PersistenceError::Corrupt {
                    path: log_dir.clone(),
                    offset: 0,
                    reason: format!(
                        "the transaction logs miss txns 0x{:x} to 0x{:x}; restore the missing log file or the data directory from a backup",
                        highest + 1,
                        z - 1
                    ),
                });
            }
            match &e.txn {
                Txn::CreateSession(t) => {
                    sessions.insert(e.hdr.client_id, t.time_out);
                }
                Txn::CloseSession(_) => {
                    sessions.remove(&e.hdr.client_id);
                }
                _ => {}
            }
            tree.process_txn(&e.hdr, &e.txn, &mut events);
            events.clear();
            // A fuzzy snapshot holds some changes of txns after its zxid, so until the replay
            // reaches the zxid its digest was taken at (the end of the dump) the tree is in
            // between and its digest proves nothing (ZooKeeper's `compareDigest` skips this
            // "fuzzy state" too); there the snapshot's own digest is checked, after it each
            // txn's.
            let fuzzy = snap_digest.is_some_and(|(dz, _, _)| e.hdr.zxid < dz);
            let mismatch = match (snap_digest, &e.digest) {
                _ if !config.digest_enabled || fuzzy => false,
                (Some((dz, _, d)), _) if e.hdr.zxid == dz => d != tree.digest() as i64,
                (_, Some(d)) => d.tree_digest != tree.digest() as i64,
                (_, None) => false,
            };
            if mismatch {
                if digest_mismatches == 0 {
                    warn!(
                        zxid = format_args!("0x{:x}", e.hdr.zxid),
                        "tree digest differs from the one logged with the txn (or the snapshot's)"
                    );
                }
                digest_mismatches += 1;
            }
            highest = highest.max(e.hdr.zxid);
            replayed += 1;
            committed_log.push_back(e);
            if committed_log.len() > commit_log_count {
                committed_log.pop_front();
            }
            Ok(())
        })?;
        if let Some((z, _, d)) = snap_digest {
            if z == highest && d != tree.digest() as i64 {
                warn!("tree digest differs from the snapshot's");
                digest_mismatches += 1;
            }
        }
        let live: HashSet<i64> = sessions.keys().copied().collect();
        let dead = tree.kill_dead_sessions(&live, highest);
        if !dead.is_empty() {
            info!(count = dead.len(), "removed ephemerals of sessions that no longer exist");
        }
        tree.set_last_processed_zxid(highest);
        info!(
            zxid = format_args!("0x{highest:x}"),
            txns = replayed,
            sessions = sessions.len(),
            ms = started.elapsed().as_millis() as u64,
            "database restored"
        );
        Ok(Restored {
            tree,
            sessions,
            last_zxid: highest,
            snapshot_zxid: snap_zxid,
            snapshot: snap_path,
            txns_replayed: replayed,
            committed_log,
            digest_mismatches,
        })
    }

    /// `PurgeTxnLog.purgeOlderSnapshots`: keeps the `retain` newest snapshots and the logs
    /// they need (including the newest log starting at or below the oldest kept snapshot).
    pub fn purge(&self, retain: usize) -> Result<Vec<PathBuf>, PersistenceError> {
        let snaps = self.snapshots()?;
        if snaps.len() <= retain.max(1) {
            return Ok(Vec::new());
        }
        let oldest_kept = snaps[retain.max(1) - 1].0;
        let mut removed = Vec::new();
        for (z, p) in &snaps[retain.max(1)..] {
            if *z < oldest_kept {
                std::fs::remove_file(p).map_err(io("removing", p))?;
                removed.push(p.clone());
            }
        }
        let logs = sorted_files(&self.log_dir, LOG_PREFIX).map_err(io("listing", &self.log_dir))?;
        // The newest log starting at or before the oldest kept snapshot may hold its txns.
        let keep_from = logs.iter().rposition(|(z, _)| *z <= oldest_kept).map(|i| logs[i].0).unwrap_or(i64::MIN);
        for (z, p) in &logs {
            if *z < keep_from {
                std::fs::remove_file(p).map_err(io("removing", p))?;
                removed.push(p.clone());
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_keeps_the_newest_snapshots_and_the_logs_they_need() {
        let d = tempfile::tempdir().unwrap();
        let v = d.path().join("version-2");
        std::fs::create_dir_all(&v).unwrap();
        for n in ["snapshot.10", "snapshot.20", "snapshot.30", "snapshot.40", "log.1", "log.15", "log.25", "log.35"] {
            std::fs::write(v.join(n), b"x").unwrap();
        }
        let removed = SnapLog::new(d.path(), d.path()).purge(3).unwrap();
        let mut names: Vec<String> =
            removed.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        names.sort();
        // oldest kept snapshot is 20; log.15 may hold its txns and stays, log.1 goes
        assert_eq!(names, vec!["log.1", "snapshot.10"]);
        assert!(v.join("log.15").exists() && v.join("snapshot.20").exists());
    }
}
