//! `processConnectRequest`: the ConnectRequest of a new connection becomes a new session
//! (a createSession txn, answered once durable) or a reconnect (the session revalidated
//! here, or by the leader on a learner); the framed ConnectResponse is built here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::mpsc;
use tracing::info;
use zab_datatree::java::session_password;
use zab_datatree::prep::WriteRequest;
use zab_jute::data::Id;
use zab_jute::proto::{ConnectRequest, ConnectResponse};
use zab_jute::record::Record;

use super::state::{Close, ConnectionState};
use crate::clock::wall_ms;
use crate::stats::CnxnStats;
use crate::zk_server::{CnxnHandle, ZooKeeperServer};

/// `processConnectRequest`: a new session or a reconnect. Returns the connection state,
/// the framed ConnectResponse and, for a new session, the pending createSession txn; or
/// `None` when the connection must close at once.
pub(super) fn handshake(
    server: &Arc<ZooKeeperServer>,
    req: ConnectRequest,
    remote: SocketAddr,
    revalidated: Option<bool>,
) -> Option<(ConnectionState, Vec<u8>, Option<tokio::sync::oneshot::Receiver<crate::write_result::WriteResult>>)> {
    let last = server.last_processed_zxid();
    if req.last_zxid_seen > last {
        info!(
            %remote,
            client_zxid = format_args!("0x{:x}", req.last_zxid_seen),
            our_zxid = format_args!("0x{last:x}"),
            "refusing session: client has seen a newer zxid; it must try another server"
        );
        return None;
    }
    let cfg = &server.config;
    server.metrics.connection_request_count.inc();
    let timeout = req.time_out.clamp(cfg.min_session_timeout, cfg.max_session_timeout);
    let (tx, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(CnxnStats::default());
    stats.timeout.store(timeout as i64, Ordering::Relaxed);
    stats.established_ms.store(wall_ms(), Ordering::Relaxed);
    let handle = Arc::new(CnxnHandle {
        id: server.new_cnxn_id(),
        remote,
        session_id: AtomicI64::new(0),
        auth: Arc::new(RwLock::new(crate::auth_info::AuthInfo::new(Id {
            scheme: "ip".into(),
            id: remote.ip().to_string(),
        }))),
        tx,
        stats,
        moved: AtomicBool::new(false),
    });
    server.register_cnxn(handle.clone());
    let mut pending_create = None;
    let (session_id, valid) = if req.session_id == 0 {
        let sid = server.new_session_id();
        handle.session_id.store(sid, Ordering::Relaxed);
        server.claim_session(sid, handle.id);
        let done = server.submit_write(sid, 0, &[], &WriteRequest::CreateSession { timeout }, &[]);
        pending_create = Some(done);
        info!(%remote, session = format_args!("0x{sid:x}"), timeout, "established new session");
        (sid, true)
    } else {
        let sid = req.session_id;
        server.metrics.connection_revalidate_count.inc();
        handle.session_id.store(sid, Ordering::Relaxed);
        server.claim_session(sid, handle.id);
        let ok = match revalidated {
            Some(ok) => ok,
            None => req.passwd.as_slice() == session_password(sid) && server.revalidate(sid, timeout),
        };
        if ok {
            info!(%remote, session = format_args!("0x{sid:x}"), timeout, "session renewed");
        } else {
            info!(%remote, session = format_args!("0x{sid:x}"), "invalid session, probably expired");
        }
        (sid, ok)
    };
    let rsp = ConnectResponse {
        protocol_version: 0,
        time_out: if valid { timeout } else { 0 },
        session_id: if valid { session_id } else { 0 },
        passwd: if valid { session_password(session_id).to_vec() } else { vec![0; 16] },
        read_only: req.read_only.map(|_| false),
    };
    let body = rsp.to_bytes();
    let mut framed = Vec::with_capacity(body.len() + 4);
    framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
    framed.extend_from_slice(&body);
    if !valid {
        // The client reads the zero session as "expired"; ZooKeeper then closes.
        let id = handle.id;
        server.unregister_cnxn(id);
        let cnxn = ConnectionState {
            server: server.clone(),
            handle,
            session_id: 0,
            rx,
            out: Vec::new(),
            close: Some(Close::Server("invalid session")),
            touched_until: 0,
            live: false,
            pending: Default::default(),
        };
        return Some((cnxn, framed, None));
    }
    let cnxn = ConnectionState {
        server: server.clone(),
        handle,
        session_id,
        rx,
        out: Vec::new(),
        close: None,
        touched_until: 0,
        live: true,
        pending: Default::default(),
    };
    Some((cnxn, framed, pending_create))
}
