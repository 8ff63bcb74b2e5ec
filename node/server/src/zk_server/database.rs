//! The tree, sessions and recent txns a server starts from (`ZKDatabase`): restored from
//! the data directory at start ([`Database::load`]), and handed from one epoch's server
//! to the next (`ZooKeeperServer::take_database`), as ZooKeeper keeps its ZKDatabase
//! across elections.

use std::collections::HashMap;
use std::sync::Arc;

use zab_datatree::{DataTree, TreeConfig};
use zab_persistence::snaplog::SnapLog;

use super::error::StartError;
use crate::config::ServerConfig;

/// The tree, sessions and recent txns a server starts from (`ZKDatabase`).
pub struct Database {
    pub tree: DataTree,
    pub sessions: HashMap<i64, i32>,
    /// The last `commitLogCount` txns, oldest first (the leader's DIFF window).
    pub committed_log: std::collections::VecDeque<(i64, Arc<Vec<u8>>)>,
    /// Where restore started: the snapshot file, if one was found, and its zxid.
    pub snapshot: Option<(std::path::PathBuf, i64)>,
}

impl Database {
    /// Restores from the data directory (`FileTxnSnapLog.restore`).
    pub fn load(config: &ServerConfig) -> Result<Database, StartError> {
        let tree_config = TreeConfig { extended_types: config.extended_types, digest_enabled: config.digest_enabled };
        let snap_log = SnapLog::new(&config.data_dir, &config.data_log_dir);
        let loading = std::time::Instant::now();
        let restored = snap_log
            .restore(tree_config, config.commit_log_count)
            .map_err(|source| StartError::Restore { dir: config.data_dir.clone(), source })?;
        crate::metrics::record::record_restore(&config.metrics, loading.elapsed(), &restored);
        let mut db = Database {
            tree: restored.tree,
            sessions: restored.sessions,
            committed_log: restored.committed_log.into_iter().map(|e| (e.hdr.zxid, Arc::new(e.payload))).collect(),
            snapshot: restored.snapshot.map(|p| (p, restored.snapshot_zxid)),
        };
        if db.snapshot.is_none() {
            // A quorum member's config, written before the data directory is read, stays
            // when no snapshot replaces the tree, and goes into the first one.
            crate::peer_state::init_config_node(config, &mut db.tree);
            // ZooKeeper snapshots a data directory it finds without one (ZOOKEEPER-2325),
            // before any txn is logged: a log without a snapshot below it cannot be restored.
            let started = std::time::Instant::now();
            let path = crate::snapshot::write_snapshot(config, &db.tree, &db.sessions).map_err(StartError::Snapshot)?;
            config.metrics.record_snapshot(started.elapsed());
            db.snapshot = Some((path, db.last_zxid()));
        }
        Ok(db)
    }

    pub fn last_zxid(&self) -> i64 {
        self.tree.last_processed_zxid()
    }
}
