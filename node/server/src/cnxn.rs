//! One client connection (`NIOServerCnxn`): four-letter words or the session handshake,
//! then a loop that reads frames, handles them in order and writes the replies in
//! batches. Many requests may be in flight per session (pipelining): everything that
//! arrived in one read is handled before one write flushes all the replies.
//!
//! A bad frame (length beyond jute.maxbuffer, a header that does not decode, an unknown
//! opcode) ends this connection only; the server and every other session go on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use parking_lot::RwLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zab_datatree::java::session_password;
use zab_datatree::prep::WriteRequest;
use zab_jute::data::Id;
use zab_jute::frame::parse_frame;
use zab_jute::proto::{ConnectRequest, ConnectResponse};
use zab_jute::record::Record;

use crate::clock::wall_ms;
use crate::final_proc::{Close, Cnxn, Pending};
use crate::four_letter;
use crate::stats::CnxnStats;
use crate::zk_server::CnxnMsg;
use crate::zk_server::{CnxnHandle, ZooKeeperServer};

/// Serves one accepted socket until it closes.
pub async fn serve(server: Arc<ZooKeeperServer>, mut stream: TcpStream, remote: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    // `sessionlessCnxnTimeout`: the four-letter word or the ConnectRequest must come in time.
    let deadline =
        tokio::time::Instant::now() + std::time::Duration::from_millis(server.config.sessionless_cnxn_timeout);
    // The first four bytes: a four-letter word, or the length of the ConnectRequest.
    while inbuf.len() < 4 {
        if !read_before(&server, &mut stream, &mut inbuf, deadline, remote).await {
            return;
        }
    }
    let head = [inbuf[0], inbuf[1], inbuf[2], inbuf[3]];
    if let Some(cmd) = four_letter::command_of(head) {
        debug!(%remote, cmd, "four-letter word");
        server.metrics.bytes_received_count.add(4);
        let text = four_letter::answer_to(&server, cmd, Some(remote));
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    let max = server.config.max_buffer;
    let frame = loop {
        match parse_frame(&inbuf, max) {
            Err(e) => {
                warn!(%remote, error = %e, "closing connection: bad length before the handshake");
                return;
            }
            Ok(Some((used, payload))) => {
                let f = payload.to_vec();
                inbuf.advance(used);
                server.metrics.bytes_received_count.add(used as u64);
                break f;
            }
            Ok(None) => {
                if !read_before(&server, &mut stream, &mut inbuf, deadline, remote).await {
                    return;
                }
            }
        }
    };
    let Ok(req) = ConnectRequest::from_bytes(&frame, max) else {
        warn!(%remote, "closing connection: ConnectRequest does not decode");
        return;
    };
    // A learner asks the leader whether a session may move here (REVALIDATE); the
    // answer is known before the handshake goes on.
    let remote_ok = if server.role.is_learner() && req.session_id != 0 {
        let timeout = req.time_out.clamp(server.config.min_session_timeout, server.config.max_session_timeout);
        if req.passwd.as_slice() != session_password(req.session_id) {
            Some(false)
        } else {
            match server.revalidate_remote(req.session_id, timeout).await {
                Some(valid) => Some(valid),
                None => {
                    // No answer (this member's term ended): the session is not known to be
                    // invalid, so the client must not be told it expired; it reconnects
                    // elsewhere.
                    debug!(%remote, "closing connection: the session could not be revalidated now");
                    return;
                }
            }
        }
    } else {
        None
    };
    let Some((cnxn, first_reply, created)) = handshake(&server, req, remote, remote_ok) else {
        return;
    };
    if let Some(created) = created {
        // The ConnectResponse goes out once the createSession txn is durable.
        if !matches!(created.await, Ok(Ok(_))) {
            warn!(%remote, "could not create the session (disk failure or shutdown); closing");
            server.unregister_cnxn(cnxn.handle.id);
            return;
        }
    }
    if stream.write_all(&first_reply).await.is_err() {
        server.unregister_cnxn(cnxn.handle.id);
        return;
    }
    let id = cnxn.handle.id;
    run(cnxn, stream, inbuf).await;
    server.unregister_cnxn(id);
}

/// Reads more of what comes before the session (false: closed, failed, or the deadline passed).
async fn read_before(
    server: &ZooKeeperServer,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    deadline: tokio::time::Instant,
    remote: SocketAddr,
) -> bool {
    match tokio::time::timeout_at(deadline, stream.read_buf(inbuf)).await {
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
        Err(_) => {
            debug!(%remote, "closing connection: no ConnectRequest within zookeeper.nio.sessionlessCnxnTimeout");
            server.metrics.sessionless_connections_expired.inc();
            false
        }
    }
}

/// `processConnectRequest`: a new session or a reconnect. Returns the connection state,
/// the framed ConnectResponse and, for a new session, the pending createSession txn; or
/// `None` when the connection must close at once.
fn handshake(
    server: &Arc<ZooKeeperServer>,
    req: ConnectRequest,
    remote: SocketAddr,
    revalidated: Option<bool>,
) -> Option<(Cnxn, Vec<u8>, Option<tokio::sync::oneshot::Receiver<crate::sync_proc::WriteResult>>)> {
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
        let cnxn = Cnxn {
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
    let cnxn = Cnxn {
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

/// How long a connection with a single write in flight polls for its completion.
const LONE_WRITE_SPIN: std::time::Duration = std::time::Duration::from_micros(400);

/// Requests queued behind writes before the connection stops reading (backpressure).
const MAX_PENDING: usize = 1000;

async fn run(mut cnxn: Cnxn, stream: TcpStream, mut inbuf: BytesMut) {
    let (mut rd, mut wr) = stream.into_split();
    let max = cnxn.server.config.max_buffer;
    let session = cnxn.session_id;
    loop {
        {
            // The writes of one read's requests reach the leader (or the log) together. No
            // await in this block: the scope belongs to this thread.
            let _defer = crate::defer::defer();
            while cnxn.close.is_none() && cnxn.pending.len() < MAX_PENDING {
                match parse_frame(&inbuf, max) {
                    Ok(Some((used, payload))) => {
                        cnxn.handle_frame(payload);
                        inbuf.advance(used);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        warn!(session = format_args!("0x{session:x}"), error = %e, "closing connection");
                        cnxn.close = Some(Close::BadRequest("bad frame length"));
                    }
                }
            }
        }
        cnxn.drain_events();
        if !cnxn.out.is_empty() {
            if wr.write_all(&cnxn.out).await.is_err() {
                break;
            }
            cnxn.out.clear();
            if cnxn.out.capacity() > 1 << 20 {
                cnxn.out.shrink_to(64 * 1024);
            }
        }
        if let Some(why) = cnxn.close {
            debug!(session = format_args!("0x{session:x}"), reason = ?why, "closing connection");
            break;
        }
        // A lone write (no pipelining, as a client with one request in flight does): poll
        // for its completion for a moment instead of parking, since a fsync is short and a
        // park/unpark of the worker costs a good part of one.
        // Standalone only: in an ensemble a write takes several network round trips, and
        // on a small machine the polling takes the core the replication threads need.
        if cnxn.pending.len() == 1 && cnxn.server.role == crate::zk_server::Role::Standalone {
            if let Some(Pending::Write { rx, .. }) = cnxn.pending.front_mut() {
                let deadline = std::time::Instant::now() + LONE_WRITE_SPIN;
                let mut done = None;
                while std::time::Instant::now() < deadline {
                    match rx.try_recv() {
                        Ok(r) => {
                            done = Some(Ok(r));
                            break;
                        }
                        Err(tokio::sync::oneshot::error::TryRecvError::Empty) => tokio::task::yield_now().await,
                        Err(tokio::sync::oneshot::error::TryRecvError::Closed) => break,
                    }
                }
                if let Some(r) = done {
                    cnxn.write_done(r);
                    cnxn.complete_ready();
                    continue;
                }
            }
        }
        let reading = cnxn.pending.len() < MAX_PENDING;
        let Cnxn { rx, pending, .. } = &mut cnxn;
        let front_write = async {
            match pending.front_mut() {
                Some(Pending::Write { rx, .. }) => rx.await,
                _ => std::future::pending().await,
            }
        };
        enum Woke {
            Read(std::io::Result<usize>),
            Msg(Option<CnxnMsg>),
            Write(Result<crate::sync_proc::WriteResult, tokio::sync::oneshot::error::RecvError>),
        }
        let woke = tokio::select! {
            r = rd.read_buf(&mut inbuf), if reading => Woke::Read(r),
            m = rx.recv() => Woke::Msg(m),
            w = front_write => Woke::Write(w),
        };
        match woke {
            Woke::Read(Ok(0)) => {
                debug!(session = format_args!("0x{session:x}"), "client closed the connection");
                break;
            }
            Woke::Read(Ok(_)) => {}
            Woke::Read(Err(e)) => {
                debug!(session = format_args!("0x{session:x}"), error = %e, "read failed");
                break;
            }
            Woke::Msg(Some(m)) => cnxn.on_msg(m),
            Woke::Msg(None) => break,
            Woke::Write(w) => {
                cnxn.write_done(w);
                cnxn.complete_ready();
            }
        }
    }
    let _ = wr.shutdown().await;
}
