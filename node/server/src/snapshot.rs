//! Snapshots of the data tree (`ZooKeeperServer.takeSnapshot`, `FileSnap`): the fuzzy
//! snapshot of a live server, which the log thread starts on a thread of its own when one
//! is due, and the whole snapshot of a tree no server runs on (a learner's after TRUNC or
//! SNAP, or a data directory found without one).
//!
//! It reads the live server only through [`SnapshotSource`], so it never imports the
//! server state; it never holds the tree's lock for more than [`SNAPSHOT_NODES_PER_STEP`]
//! nodes at a time.

use std::time::Instant;

use tracing::{info, warn};
use zab_datatree::codec::NodeCursor;
use zab_persistence::snapshot::SnapWriter;

use crate::config::ServerConfig;
use crate::metrics::histograms::Histograms;
use crate::metrics::ServerMetrics;

/// Znodes a snapshot writes per step: a fuzzy snapshot holds the tree's read lock for one
/// step at a time, so writers wait at most that long.
pub const SNAPSHOT_NODES_PER_STEP: usize = 10_000;

/// What a fuzzy snapshot reads of the live server (`ZooKeeperServer` implements it):
/// where snapshots go, the sessions, the tree (read-locked for the length of `f`), and
/// where it reports the snapshot just written (its zxid).
pub trait SnapshotSource: Send + Sync + 'static {
    fn config(&self) -> &ServerConfig;
    fn metrics(&self) -> &ServerMetrics;
    fn histograms(&self) -> &Histograms;
    fn snap_dir(&self) -> &std::path::Path;
    fn sessions(&self) -> Vec<(i64, i32)>;
    fn with_tree<R>(&self, f: impl FnOnce(&zab_datatree::DataTree) -> R) -> R;
    fn snapshot_written(&self, zxid: i64);
}

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot file could not be created or written.
    #[error(transparent)]
    Disk(#[from] zab_persistence::PersistenceError),
    /// Every attempt met an ACL created while it ran (the fuzzy snapshot needs the ACL
    /// section to hold every ACL its nodes use).
    #[error("ACLs kept changing during three snapshot attempts; the next snapshot tries again")]
    AclsKeptChanging,
}

/// Writes a fuzzy snapshot of the live tree (`ZooKeeperServer.takeSnapshot`): the tree lock
/// is held only for [`SNAPSHOT_NODES_PER_STEP`] nodes at a time.
pub fn take_snapshot<S: SnapshotSource>(server: &S) -> Result<std::path::PathBuf, SnapshotError> {
    let started = Instant::now();
    let cfg = server.config();
    for attempt in 0..3 {
        let zxid = server.with_tree(|t| t.last_processed_zxid());
        let sessions = server.sessions();
        let mut w = SnapWriter::create(server.snap_dir(), zxid, cfg.force_sync)?;
        w.write_sessions(&sessions);
        let acls = server.with_tree(|t| t.write_acl_section(w.out()));
        let mut cur = NodeCursor::new(&acls);
        loop {
            let done = server.with_tree(|t| t.write_nodes_step(&mut cur, w.out(), SNAPSHOT_NODES_PER_STEP));
            w.flush_chunk()?;
            if done {
                break;
            }
        }
        if cur.acl_missing {
            warn!(attempt, "an ACL was created during the snapshot; starting it again");
            w.abandon();
            continue;
        }
        w.seal()?;
        let digest = server.with_tree(|t| {
            cfg.digest_enabled
                .then(|| (t.last_processed_zxid(), zab_datatree::digest::DIGEST_VERSION, t.digest() as i64))
        });
        let path = w.finish(digest)?;
        server.metrics().record_snapshot(started.elapsed());
        server.histograms().snapshot.observe(started.elapsed().as_secs_f64());
        server.snapshot_written(zxid);
        info!(file = %path.display(), nodes = cur.nodes_written, ms = started.elapsed().as_millis() as u64, "snapshot written");
        return Ok(path);
    }
    Err(SnapshotError::AclsKeptChanging)
}

/// Writes a whole snapshot of a tree no server is running on (a learner's snapshot after
/// TRUNC or SNAP, before it serves).
pub fn write_snapshot(
    config: &ServerConfig,
    tree: &zab_datatree::DataTree,
    sessions: &std::collections::HashMap<i64, i32>,
) -> Result<std::path::PathBuf, SnapshotError> {
    let snap_dir = zab_persistence::snaplog::SnapLog::new(&config.data_dir, &config.data_log_dir).snap_dir;
    let zxid = tree.last_processed_zxid();
    let mut w = SnapWriter::create(&snap_dir, zxid, config.force_sync)?;
    let mut list: Vec<(i64, i32)> = sessions.iter().map(|(k, v)| (*k, *v)).collect();
    list.sort_unstable();
    w.write_sessions(&list);
    let acls = tree.write_acl_section(w.out());
    let mut cur = NodeCursor::new(&acls);
    loop {
        let done = tree.write_nodes_step(&mut cur, w.out(), SNAPSHOT_NODES_PER_STEP);
        w.flush_chunk()?;
        if done {
            break;
        }
    }
    w.seal()?;
    let digest = config.digest_enabled.then(|| (zxid, zab_datatree::digest::DIGEST_VERSION, tree.digest() as i64));
    let path = w.finish(digest)?;
    info!(file = %path.display(), "snapshot written");
    Ok(path)
}
