//! Persistence failures. Each names the file (and offset where it applies) and says what
//! to do.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PersistenceError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{path} at offset {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error(
        "{path} at offset {offset}: checksum mismatch in the middle of the transaction log \
         (valid records follow); refusing to start rather than lose data. Restore the file \
         from a replica or backup, or move it away if its txns exist elsewhere"
    )]
    ChecksumInMiddle { path: PathBuf, offset: u64 },
    #[error("{path}: unsupported format version {version} (this zab-node reads version 2)")]
    UnsupportedVersion { path: PathBuf, version: i32 },
    #[error("no valid snapshot in {dir} among {tried} candidates: {last_error}")]
    NoValidSnapshot { dir: PathBuf, tried: usize, last_error: String },
    #[error("{dir}: there are transaction logs but no snapshot: something is broken (ZooKeeper refuses the same)")]
    LogsWithoutSnapshot { dir: PathBuf },
    #[error("epoch file {path}: {reason}")]
    Epoch { path: PathBuf, reason: String },
    #[error("the disk failed earlier ({0}); writes are refused until restart")]
    Failed(String),
}

/// Wraps an io::Error with the operation and path.
pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PersistenceError {
    let path = path.into();
    move |source| PersistenceError::Io { op, path, source }
}
