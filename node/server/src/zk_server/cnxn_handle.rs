//! What the server knows of a live client connection ([`CnxnHandle`]) and what it sends
//! that connection's task ([`CnxnMsg`]). Data only: the registry that holds them is in
//! `sessions`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::mpsc;
use zab_jute::proto::WatcherEvent;

/// Messages from the server to one connection's task.
#[derive(Debug)]
pub enum CnxnMsg {
    /// A watch notification to write.
    Event(WatcherEvent),
    /// Close the connection (session expired, moved to another connection, server stop).
    Close(&'static str),
}

/// What the server knows of a live connection.
pub struct CnxnHandle {
    pub id: u64,
    pub remote: SocketAddr,
    pub session_id: AtomicI64,
    pub auth: Arc<RwLock<crate::auth_info::AuthInfo>>,
    pub tx: mpsc::UnboundedSender<CnxnMsg>,
    pub stats: Arc<crate::stats::CnxnStats>,
    /// Leader: the session moved to a learner while this connection was open; its next
    /// request closes it. Set before the REVALIDATE answer leaves, so no request the client
    /// sends after its reattachment can find it unset.
    pub moved: AtomicBool,
}
