//! What a client's write waits on: the [`WriteOutcome`] of its txn once it is durable and
//! applied, or the [`WriteError`] saying why it never will be.
//!
//! Both travel from the write path (`zk_server`) and the log thread to the client's
//! connection over a oneshot channel. A refusal the client must hear as a ZooKeeper error
//! code (a failed version check, SESSIONMOVED, ...) is not a [`WriteError`]: it is an
//! outcome, an error txn with its code, logged and applied like any other. A
//! [`WriteError`] means the write was not done at all; its connection closes unanswered,
//! as ZooKeeper's does, and the client retries elsewhere.
//!
//! This module sits below the server state and the log thread, and imports neither.

use zab_datatree::ProcessTxnResult;

/// The outcome of one write, or why it was not done.
pub type WriteResult = Result<WriteOutcome, WriteError>;

/// The outcome of one write.
#[derive(Debug)]
pub struct WriteOutcome {
    /// The txn type (`op::ERROR` when the request failed in prep).
    pub txn_type: i32,
    pub rc: ProcessTxnResult,
    /// lastProcessedZxid after the write: the reply's zxid.
    pub zxid: i64,
}

/// Why a write was not done (nothing of it is applied; its connection closes).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The transaction log failed (this write's batch, or an earlier one): every write is
    /// refused from then on.
    #[error("the transaction log failed: {0}")]
    DiskFailed(String),
    /// Learner: the member stopped serving (its epoch ended) before the request could go
    /// to the leader, or while it waited there.
    #[error("this member is not serving; reconnect to another")]
    NotServing,
    /// Leader: its broadcast refused to propose the txn.
    #[error(transparent)]
    NotProposed(#[from] ProposeError),
    /// The log thread stopped (the server is shutting down) before the txn reached it.
    #[error("server is shutting down")]
    ShuttingDown,
}

/// Why the leader's broadcast refused a write (`Broadcast::propose`); the write fails
/// with [`WriteError::NotProposed`] and the client retries.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("the leader is not established yet; retry once it serves")]
    NotEstablished,
    /// The broadcast refused the txn: the leader steps down (ZOOKEEPER-1277).
    #[error("{0}")]
    SteppingDown(String),
    /// A reconfig while another is in flight (prep refuses it first: not expected).
    #[error("a reconfiguration to version 0x{0:x} is in flight")]
    ReconfigInProgress(i64),
    /// The leadership is being handed over: the client retries on the next leader.
    #[error("the leadership is being handed over to {0}; reconnect and retry")]
    HandingOver(u64),
}
