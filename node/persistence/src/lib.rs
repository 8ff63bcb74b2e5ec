//! Durability in ZooKeeper's own file formats, so a ZooKeeper data directory opens in zab
//! and a zab data directory opens in ZooKeeper.
//!
//! # Layout
//! - [`names`]: `log.<hex zxid>`, `snapshot.<hex zxid>`, the `version-2` directories.
//! - [`txnlog`]: FileTxnLog — appending with group commit, reading from a zxid, torn-tail
//!   repair, truncation. The byte grammar is in its module doc.
//! - [`snapshot`]: FileSnap — writing (fuzzy, in steps) and reading snapshots, with their
//!   Adler32 seals.
//! - [`epoch`]: `currentEpoch` / `acceptedEpoch`, written atomically.
//! - [`snaplog`]: FileTxnSnapLog — restore = newest valid snapshot + replay of the log.
//! - [`error`]: [`PersistenceError`], every variant naming the file and offset.
//!
//! # Durability contract
//! [`txnlog::TxnLogWriter::commit`] returns only after every txn appended before it is on
//! stable storage (fdatasync), unless `forceSync=no` was asked for. Txns are written in zxid
//! order with no holes. A reader never returns a txn whose checksum fails; a torn tail (a
//! partial or zero-filled last record) ends the log and is cut off on repair; a checksum
//! failure followed by valid records is corruption and stops recovery.

pub mod epoch;
pub mod error;
pub mod names;
pub mod snaplog;
pub mod snapshot;
pub mod txnlog;

pub use error::PersistenceError;
