//! What waits: txns waiting for their commit, in zxid order ([`AwaitingCommit`]), each a
//! [`LogItem`] with the client request it completes; and on a learner, what waits on the
//! leader ([`LearnerWaiting`]). Data only: the `impl ZooKeeperServer` that fills and drains
//! them is in `write`, `learner` and `commit`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
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
    pub(super) items: VecDeque<LogItem>,
    pub(super) committed: i64,
    /// The last zxid the log thread reported durable.
    pub(super) logged: i64,
    /// Learner: `sync` replies held until everything committed before the leader's SYNC
    /// is applied here: (that commit mark, path, reply).
    pub(super) syncs: Vec<(i64, String, oneshot::Sender<WriteResult>)>,
}

/// Learner: what waits on the leader (empty on a leader or standalone).
#[derive(Default)]
pub(super) struct LearnerWaiting {
    /// Requests forwarded to the leader, by (session, cxid), completed when their txn is
    /// applied here.
    pub(super) forwarded: Mutex<HashMap<(i64, i32), oneshot::Sender<WriteResult>>>,
    /// `sync` requests waiting for the leader's SYNC, oldest first.
    pub(super) pending_syncs: Mutex<VecDeque<(String, oneshot::Sender<WriteResult>)>>,
    /// Sessions touched since the last PING, with their timeouts.
    pub(super) touched: Mutex<HashMap<i64, i32>>,
}
