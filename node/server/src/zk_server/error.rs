//! Why the server could not start ([`StartError`]), take a txn from the leader into its
//! log ([`TxnError`]), or move its zxid counter ([`SkipError`]). Why a client's write was
//! not done is [`crate::write_result::WriteError`].

/// Why a learner's server could not take a txn from the leader into its log.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The txn's bytes do not decode: the leader sent something this server cannot log.
    #[error("a txn from the leader cannot be read: {0}")]
    Malformed(String),
    /// The server stopped while the txn was being handed to its log.
    #[error("server is shutting down")]
    ShuttingDown,
}

/// Why the zxid counter could not be moved (`zookeeper.testingonly.initialZxid`).
#[derive(Debug, thiserror::Error)]
pub enum SkipError {
    #[error("zxid 0x{zxid:x} is not ahead of 0x{current:x}; choose a larger initialZxid counter")]
    NotAhead { zxid: i64, current: i64 },
    #[error("the leader's broadcast has not started; the counter can only move once it has")]
    NotEstablished,
    #[error("the leader's broadcast refused to move its counter: {0}")]
    Broadcast(#[from] zab_quorum::broadcast::BroadcastError),
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("restoring the database from {dir}: {source}")]
    Restore { dir: std::path::PathBuf, source: zab_persistence::PersistenceError },
    #[error("{0}")]
    Epoch(#[source] zab_persistence::PersistenceError),
    #[error("starting the sync thread: {0}")]
    Thread(std::io::Error),
    #[error("writing the initial snapshot: {0}")]
    Snapshot(#[source] crate::snapshot::SnapshotError),
}
