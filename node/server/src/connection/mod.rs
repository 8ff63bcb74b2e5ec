//! One client connection (`NIOServerCnxn`): four-letter words or the session handshake,
//! then a loop that reads frames, handles them in order and writes the replies in
//! batches. Many requests may be in flight per session (pipelining): everything that
//! arrived in one read is handled before one write flushes all the replies.
//!
//! A bad frame (length beyond jute.maxbuffer, a header that does not decode, an unknown
//! opcode) ends this connection only; the server and every other session go on.
//!
//! # Layout
//! - this file: [`serve`], the connection's task: the socket, the handshake's reads, and
//!   the loop that reads frames, waits for writes and flushes replies.
//! - `handshake`: `processConnectRequest`, a new session or a reconnect.
//! - [`state`]: [`ConnectionState`], what an established connection holds, and its
//!   request handling: request order, write replies, auth, touches.
//! - `reads`: the read requests (FinalRequestProcessor for reads).
//! - [`expiry`]: idle connections closed by the sweep (`ConnectionExpirerThread`).

pub mod expiry;
mod handshake;
mod reads;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, warn};
use zab_datatree::java::session_password;
use zab_jute::frame::parse_frame;
use zab_jute::proto::ConnectRequest;
use zab_jute::record::Record;

use crate::four_letter;
use crate::write_result::WriteResult;
use crate::zk_server::{CnxnMsg, Role, ZooKeeperServer};
use handshake::handshake;
pub use state::{Close, ConnectionState, Pending};

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
    let remote_ok = if server.role().is_learner() && req.session_id != 0 {
        let timeout = req.time_out.clamp(server.config.min_session_timeout, server.config.max_session_timeout);
        if req.passwd.as_slice() != session_password(req.session_id) {
            Some(false)
        } else {
            match server.revalidate_remote(req.session_id, timeout).await {
                Some(valid) => Some(valid),
                None => {
                    // No answer (this member's epoch ended): the session is not known to be
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

/// How long a connection with a single write in flight polls for its completion.
const LONE_WRITE_SPIN: std::time::Duration = std::time::Duration::from_micros(400);

/// Requests queued behind writes before the connection stops reading (backpressure).
const MAX_PENDING: usize = 1000;

async fn run(mut cnxn: ConnectionState, stream: TcpStream, mut inbuf: BytesMut) {
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
        if cnxn.pending.len() == 1 && cnxn.server.role() == Role::Standalone {
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
        let ConnectionState { rx, pending, .. } = &mut cnxn;
        let front_write = async {
            match pending.front_mut() {
                Some(Pending::Write { rx, .. }) => rx.await,
                _ => std::future::pending().await,
            }
        };
        enum Woke {
            Read(std::io::Result<usize>),
            Msg(Option<CnxnMsg>),
            Write(Result<WriteResult, tokio::sync::oneshot::error::RecvError>),
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
            Woke::Msg(Some(m)) => {
                // The writes already finished are answered first: a member leaving its epoch
                // (a reconfig gave it another leader) applies what was committed, the
                // reconfig itself included, and only then closes its connections.
                if matches!(m, crate::zk_server::CnxnMsg::Close(_)) {
                    cnxn.complete_ready();
                }
                cnxn.on_msg(m)
            }
            Woke::Msg(None) => break,
            Woke::Write(w) => {
                cnxn.write_done(w);
                cnxn.complete_ready();
            }
        }
    }
    let _ = wr.shutdown().await;
}
