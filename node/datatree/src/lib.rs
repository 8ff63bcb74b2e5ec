//! ZooKeeper's data model as a pure state machine.
//!
//! No sockets, files or clocks: time comes in as arguments, and every write comes in as a
//! txn. The server crate drives it; tests drive it directly.
//!
//! # Layout
//! - [`tree`]: [`DataTree`] — znodes, indexes, digest, watch managers; the read side.
//! - `apply`: [`DataTree::process_txn`] — applying txns, firing watches.
//! - [`prep`]: PrepRequestProcessor — requests to txns, with ZooKeeper's check order.
//! - [`store`]: the compact node store (records, path index, sibling lists) over `arena`,
//!   a slab of byte strings; [`node`]: a node's view and its byte layout.
//! - [`watch`], [`acl`], [`session`], [`path`], [`ephemeral`], [`digest`].
//! - [`java`]: the Java behaviours that show on the wire (HashSet order, java.util.Random).
//! - [`error`]: the [`KeeperError`] enum.

pub mod acl;
mod apply;
mod arena;
pub mod codec;
pub mod digest;
pub mod ephemeral;
pub mod error;
pub mod java;
pub mod node;
pub mod path;
pub mod prep;
pub mod quota;
pub mod session;
pub mod store;
pub mod tree;
pub mod watch;

pub use apply::ProcessTxnResult;
pub use error::KeeperError;
pub use tree::{DataTree, TreeConfig, WatchEvent};
