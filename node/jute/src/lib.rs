//! Jute: Apache ZooKeeper's record encoding, and every record zab speaks.
//!
//! Pure code: no sockets, files or clocks. Everything here turns bytes into records and
//! records into bytes exactly as ZooKeeper 3.8's `BinaryInputArchive` / `BinaryOutputArchive`
//! do (big-endian ints and longs, length-prefixed buffers and strings, -1 for null).
//! Decoding never panics and never allocates more than the input can justify: every length
//! prefix is checked against the bytes actually present and against `jute.maxbuffer`.
//!
//! # Layout
//! - [`archive`]: the primitive reader/writer and [`JuteError`].
//! - [`record`]: the [`Record`] trait and the `jute_record!` macro that declares records.
//! - [`codes`]: opcodes, error codes, event types, keeper states, create modes, perms.
//! - [`opcode`]: [`OpCode`](opcode::OpCode), with `is_write` and `is_valid_request`.
//! - [`data`]: Id, ACL, Stat, StatPersisted.
//! - [`proto`]: client protocol records, one file per op family.
//! - [`txn`]: transaction records (TxnHeader, CreateTxn, ..., MultiTxn, TxnDigest).
//! - [`quorum`]: QuorumPacket, LearnerInfo, election notifications and handshakes.
//! - [`learner_bodies`]: the REQUEST, REVALIDATE and PING bodies between learner and leader.
//! - [`frame`]: the int32 length framing of the client port, with "need more" kept apart
//!   from "bad bytes".

#[macro_use]
pub mod record;
pub mod archive;
pub mod codes;
pub mod data;
pub mod frame;
pub mod learner_bodies;
pub mod opcode;
pub mod proto;
pub mod quorum;
pub mod txn;

pub use archive::{InputArchive, JuteError, OutputArchive};
pub use record::Record;

/// ZooKeeper's default `jute.maxbuffer`: 0xfffff bytes.
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;
