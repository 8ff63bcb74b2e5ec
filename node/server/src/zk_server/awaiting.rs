//! Txns waiting for their commit, in zxid order ([`AwaitingCommit`]), each a [`LogItem`]
//! with the client request it completes. Data only: the `impl ZooKeeperServer` that fills
//! and drains it is in `write`, `learner` and `commit`.

use std::sync::Arc;
use tokio::sync::oneshot;
use zab_jute::txn::{Txn, TxnHeader};

use crate::write_result::WriteResult;

/// A prepared (or received) txn waiting to be committed and applied.
pub(crate) struct LogItem {
    pub hdr: TxnHeader,
    pub txn: Txn,
    /// The serialised txn, as logged (shared with the log's queue and the committed window).
    pub payload: Arc<Vec<u8>>,
    /// The tree digest logged with the txn, checked after it is applied.
    pub digest: Option<i64>,
    pub done: Option<oneshot::Sender<WriteResult>>,
}

/// Txns prepared (leader) or received (learner), in zxid order, until they are committed
/// and applied; the commit mark; and how far the log has made them durable here.
#[derive(Default)]
pub(super) struct AwaitingCommit {
    pub(super) items: std::collections::VecDeque<LogItem>,
    pub(super) committed: i64,
    /// The last zxid the log thread reported durable.
    pub(super) logged: i64,
    /// Learner: `sync` replies held until everything committed before the leader's SYNC
    /// is applied here: (that commit mark, path, reply).
    pub(super) syncs: Vec<(i64, String, oneshot::Sender<WriteResult>)>,
}
