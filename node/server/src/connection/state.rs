//! The state of one established client connection ([`ConnectionState`]) and its
//! request handling after the handshake: the order of a session's requests (writes
//! pipeline, anything behind a write waits), the replies to writes, auth, pings and
//! session touches — the work of ZooKeeper's FinalRequestProcessor apart from reads
//! (`reads`). Replies and notifications are appended to the connection's output buffer,
//! which the connection task ([`super`]) flushes in batches.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::collections::VecDeque;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};
use zab_datatree::acl::authenticate;
use zab_datatree::prep::WriteRequest;
use zab_datatree::KeeperError;
use zab_jute::codes::{op, xid, ErrorCode};
use zab_jute::data::Id;
use zab_jute::proto::*;
use zab_jute::record::Record;
use zab_jute::{InputArchive, OutputArchive};

use crate::request::{decode_write, is_valid_op};
use crate::write_result::{WriteOutcome, WriteResult};
use crate::zk_server::{CnxnHandle, CnxnMsg, ZooKeeperServer};

/// Why a connection must close after flushing what it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The client closed its session (closeSession).
    SessionClosed,
    /// A request the server refuses (bad header, unknown opcode, failed auth).
    BadRequest(&'static str),
    /// The server told us to (expiry, session moved, shutdown).
    Server(&'static str),
}

/// A request waiting its turn: a write until its txn is durable and applied, and every
/// frame that arrived after it (replies go out in request order).
pub enum Pending {
    Write { xid: i32, is_close: bool, rx: oneshot::Receiver<WriteResult>, started: std::time::Instant },
    Deferred(Vec<u8>),
}

/// State of one established connection.
pub struct ConnectionState {
    pub server: Arc<ZooKeeperServer>,
    pub handle: Arc<CnxnHandle>,
    pub session_id: i64,
    pub rx: mpsc::UnboundedReceiver<CnxnMsg>,
    pub out: Vec<u8>,
    pub close: Option<Close>,
    /// The expiry bucket of the last touch: a touch only happens when it would move.
    pub touched_until: i64,
    /// Whether the session was live at the last touch.
    pub live: bool,
    /// Requests waiting behind a write.
    pub pending: VecDeque<Pending>,
}

pub(super) fn body_of<R: Record>(body: &[u8], max: usize) -> Result<R, KeeperError> {
    R::read(&mut InputArchive::new(body, max)).map_err(|_| KeeperError::MarshallingError)
}

impl ConnectionState {
    /// Appends one framed reply: int32 length, ReplyHeader, optional body.
    pub fn reply(&mut self, xid: i32, zxid: i64, err: i32, body: Option<&dyn Fn(&mut OutputArchive)>) {
        let mut o = OutputArchive::from_vec(std::mem::take(&mut self.out));
        let at = o.len();
        o.write_i32(0);
        ReplyHeader { xid, zxid, err }.write(&mut o);
        if let Some(b) = body {
            b(&mut o);
        }
        let len = (o.len() - at - 4) as i32;
        o.patch_i32(at, len);
        self.server.stats.client_response.record(len as i64);
        let bytes = if xid == xid::NOTIFICATION {
            &self.server.metrics.watch_bytes
        } else {
            &self.server.metrics.response_bytes
        };
        bytes.add(len as u64 + 4);
        self.out = o.into_inner();
        self.handle.stats.packets_sent.fetch_add(1, Ordering::Relaxed);
        self.server.stats.packets_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn reply_rec<R: Record>(&mut self, xid: i32, zxid: i64, r: &R) {
        self.reply(xid, zxid, 0, Some(&|o: &mut OutputArchive| r.write(o)));
    }

    pub(super) fn reply_err(&mut self, xid: i32, zxid: i64, e: KeeperError) {
        self.reply(xid, zxid, e.code().code(), None);
    }

    /// Writes a notification (xid -1, zxid -1 as ZooKeeper 3.8 sends).
    pub(super) fn notify(&mut self, e: &WatcherEvent) {
        self.reply(xid::NOTIFICATION, -1, 0, Some(&|o: &mut OutputArchive| e.write(o)));
    }

    /// Moves queued notifications into the output, in order. Call before every reply.
    pub fn drain_events(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.on_msg(m);
        }
    }

    pub fn on_msg(&mut self, m: CnxnMsg) {
        match m {
            CnxnMsg::Event(e) => self.notify(&e),
            CnxnMsg::Close(why) => {
                if self.close.is_none() {
                    self.close = Some(Close::Server(why));
                }
            }
        }
    }

    fn auth(&self) -> Vec<Id> {
        self.handle.auth.read().to_vec()
    }

    /// Takes one request frame: handled now, or queued behind a pending write.
    pub fn handle_frame(&mut self, frame: &[u8]) {
        let has_deferred = self.pending.iter().any(|p| matches!(p, Pending::Deferred(_)));
        // Writes pipeline freely (their order is the zxid order); anything else waits until
        // every earlier write of this session is applied, as ZooKeeper orders a session.
        if has_deferred || (!frame_is_write(frame) && !self.pending.is_empty()) {
            self.pending.push_back(Pending::Deferred(frame.to_vec()));
        } else {
            self.process(frame);
        }
    }

    /// Completes, in order, every write at the front of the queue that has already
    /// finished, without waiting: one wake-up of the connection then answers all the writes
    /// a commit batch finished, in one `send`.
    pub fn complete_ready(&mut self) {
        while self.close.is_none() {
            let done = match self.pending.front_mut() {
                Some(Pending::Write { rx, .. }) => match rx.try_recv() {
                    Ok(r) => r,
                    // Not finished, or its sender gone: the connection's loop waits for it
                    // (and learns which).
                    Err(_) => break,
                },
                _ => break,
            };
            self.write_done(Ok(done));
        }
    }

    /// A write finished: reply, then release what waited behind it.
    pub fn write_done(&mut self, result: Result<WriteResult, oneshot::error::RecvError>) {
        let Some(Pending::Write { xid, is_close, started, .. }) = self.pending.pop_front() else {
            return;
        };
        match result {
            Ok(Ok(outcome)) if session_moved(&outcome) => {
                // ZooKeeper's FinalRequestProcessor: SESSIONMOVED is a connection-level error;
                // the connection closes unanswered so the client reconnects (ZOOKEEPER-710).
                info!(
                    session = format_args!("0x{:x}", self.session_id),
                    "session moved to another member; closing its old connection"
                );
                self.close = Some(Close::Server("session moved to another member"));
                return;
            }
            Ok(Ok(outcome)) => {
                let op_type = if outcome.txn_type == op::ERROR { op::ERROR } else { outcome.txn_type };
                self.reply_write(xid, is_close, outcome);
                self.record(op_type, started, op_type != op::SYNC);
            }
            Ok(Err(error)) => {
                warn!(session = format_args!("0x{:x}", self.session_id), %error, "write not done; closing the connection");
                self.close = Some(Close::Server("write could not be made durable"));
                return;
            }
            Err(_) => {
                self.close = Some(Close::Server("server shutting down"));
                return;
            }
        }
        // Every entry before the first deferred frame is a submitted write. A deferred write
        // can be submitted at once; a deferred read only once nothing is ahead of it.
        while self.close.is_none() {
            let Some(i) = self.pending.iter().position(|p| matches!(p, Pending::Deferred(_))) else {
                break;
            };
            let is_write = matches!(&self.pending[i], Pending::Deferred(f) if frame_is_write(f));
            if !is_write && i > 0 {
                break;
            }
            let Some(Pending::Deferred(f)) = self.pending.remove(i) else { break };
            let before = self.pending.len();
            self.process(&f);
            if self.pending.len() > before {
                // `process` queued the write at the back; it belongs where the frame was.
                if let Some(w) = self.pending.pop_back() {
                    self.pending.insert(i, w);
                }
            }
        }
    }

    /// Handles one request frame.
    fn process(&mut self, frame: &[u8]) {
        let max = self.server.config.max_buffer;
        let mut inp = InputArchive::new(frame, max);
        let Ok(h) = RequestHeader::read(&mut inp) else {
            warn!(session = format_args!("0x{:x}", self.session_id), "request too short for a header; closing");
            self.close = Some(Close::BadRequest("bad request header"));
            return;
        };
        let body = inp.rest();
        self.server.metrics.bytes_received_count.add(frame.len() as u64 + 4);
        self.server.stats.packets_received.fetch_add(1, Ordering::Relaxed);
        self.handle.stats.packets_received.fetch_add(1, Ordering::Relaxed);
        self.handle.stats.last_cxid.store(h.xid as i64, Ordering::Relaxed);
        *self.handle.stats.last_op.lock() = op_short(h.op_type);
        let started = std::time::Instant::now();
        match h.op_type {
            op::AUTH => return self.handle_auth(h.xid, body),
            t if !is_valid_op(t) || t == op::CREATE_SESSION => {
                warn!(session = format_args!("0x{:x}", self.session_id), op = t, "unknown request type; closing");
                self.drain_events();
                self.reply_err(h.xid, -1, KeeperError::Unimplemented);
                self.close = Some(Close::BadRequest("unimplemented request"));
                return;
            }
            _ => {}
        }
        self.touch();
        let write = decode_write(h.op_type, body, max, self.server.config.reconfig_enabled);
        if self.handle.moved.load(Ordering::Acquire) && write.is_none() && h.op_type != op::CLOSE_SESSION {
            // A leader's PrepRequestProcessor checks the owner of every request, reads and
            // pings too (`checkSession(id, owner)`): the session moved to a learner, so this
            // connection closes unanswered. (Writes are refused as error txns when prepared.)
            info!(
                session = format_args!("0x{:x}", self.session_id),
                "session moved to another member; closing its old connection"
            );
            self.close = Some(Close::Server("session moved to another member"));
            return;
        }
        if let Some(w) = write {
            self.handle_write(h.xid, w, body, started);
        } else if h.op_type == op::CLOSE_SESSION {
            self.handle_write(h.xid, WriteRequest::CloseSession, body, started);
        } else if h.op_type == op::SYNC && self.server.role().is_learner() {
            // A learner's sync goes through the leader (`FollowerRequestProcessor`).
            match body_of::<PathRequest>(body, max) {
                Ok(p) => {
                    let rx = self.server.submit_sync(p.path);
                    self.pending.push_back(Pending::Write { xid: h.xid, is_close: false, rx, started });
                }
                Err(e) => {
                    self.drain_events();
                    self.reply_err(h.xid, self.server.last_processed_zxid(), e);
                }
            }
        } else {
            if !self.server.role().is_learner() {
                // Every request passes ZooKeeper's PrepRequestProcessor on a leader or
                // standalone; zab prepares only writes, but counts reads as it would.
                self.server.metrics.prep_processor_request_queued.inc();
            }
            self.handle_read(h.xid, h.op_type, body);
            self.record(h.op_type, started, false);
        }
    }

    /// `ServerStats.updateLatency`: the request's latency, and ZooKeeper's `updatelatency`
    /// (requests with a txn) or `readlatency` (the others).
    fn record(&self, op_type: i32, started: std::time::Instant, txn: bool) {
        let e = started.elapsed();
        let ms = e.as_millis() as i64;
        self.server.stats.record_latency(ms);
        self.handle.stats.record_response(ms, self.server.now_ms());
        if txn {
            self.server.metrics.updatelatency.add(ms);
        } else {
            self.server.metrics.readlatency.add(ms);
        }
        self.server
            .metrics_registry
            .request
            .get_or_create(&crate::metrics::histograms::OpLabels { op: op::name(op_type) })
            .observe(e.as_secs_f64());
    }

    /// Keeps the session alive. The tracker is only asked when the expiry bucket the
    /// request would move the session to differs from the last one (ZooKeeper buckets
    /// expiry by tickTime), so most requests take no shared lock here.
    fn touch(&mut self) {
        let tick = self.server.config.tick_time as i64;
        let timeout = self.handle.stats.timeout.load(Ordering::Relaxed);
        let bucket = ((self.server.now_ms() + timeout) / tick + 1) * tick;
        if bucket != self.touched_until || !self.live {
            self.live = self.server.touch(self.session_id);
            self.touched_until = bucket;
        }
    }

    fn handle_auth(&mut self, xid: i32, body: &[u8]) {
        let remote_ip = self.handle.remote.ip().to_string();
        let result = body_of::<AuthPacket>(body, self.server.config.max_buffer).and_then(|p| {
            if p.scheme == "ip" {
                // IPAuthenticationProvider: the identity is the socket's address.
                return Ok((p.scheme, vec![Id { scheme: "ip".into(), id: remote_ip.clone() }]));
            }
            authenticate(&self.server.acl_config, &p.scheme, p.auth.as_deref().unwrap_or(&[]))
                .map(|ids| (p.scheme, ids))
        });
        self.drain_events();
        match result {
            Ok((scheme, ids)) => {
                info!(session = format_args!("0x{:x}", self.session_id), scheme = %scheme, "authentication succeeded");
                let mut auth = self.handle.auth.write();
                for id in ids {
                    auth.add(id);
                }
                drop(auth);
                self.reply(xid, 0, 0, None);
            }
            Err(_) => {
                warn!(session = format_args!("0x{:x}", self.session_id), "authentication failed; closing");
                self.server.stats.auth_failed.fetch_add(1, Ordering::Relaxed);
                self.reply_err(xid, 0, KeeperError::AuthFailed);
                self.close = Some(Close::BadRequest("authentication failed"));
            }
        }
    }

    fn handle_write(&mut self, xid: i32, w: WriteRequest, body: &[u8], started: std::time::Instant) {
        let auth = self.auth();
        let is_close = matches!(w, WriteRequest::CloseSession);
        let rx = self.server.submit_write(self.session_id, xid, &auth, &w, body);
        self.pending.push_back(Pending::Write { xid, is_close, rx, started });
    }

    fn reply_write(&mut self, xid: i32, is_close: bool, out: WriteOutcome) {
        self.handle.stats.last_zxid.store(out.zxid, Ordering::Relaxed);
        self.drain_events();
        let rc = out.rc;
        if out.txn_type == op::ERROR {
            return self.reply(xid, out.zxid, rc.err, None);
        }
        let stat = rc.stat.clone().unwrap_or_default();
        match out.txn_type {
            op::SYNC => self.reply_rec(xid, out.zxid, &PathRequest { path: rc.path }),
            op::CREATE if rc.err == 0 => self.reply_rec(xid, out.zxid, &CreateResponse { path: rc.path }),
            op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER if rc.err == 0 => {
                self.reply_rec(xid, out.zxid, &Create2Response { path: rc.path, stat })
            }
            op::SET_DATA | op::SET_ACL | op::CHECK if rc.err == 0 => {
                self.reply_rec(xid, out.zxid, &StatResponse { stat })
            }
            op::RECONFIG if rc.err == 0 => {
                // `FinalRequestProcessor` case reconfig: a GetDataResponse of the
                // configuration in force (what /zookeeper/config now holds) and the Stat.
                let data = self.server.tree().get_data(zab_datatree::prep::CONFIG_NODE, None).ok().and_then(|d| d.0);
                self.reply_rec(xid, out.zxid, &GetDataResponse { data, stat })
            }
            op::MULTI => {
                let results = rc.multi.iter().map(multi_result).collect();
                self.reply_rec(xid, out.zxid, &MultiResponse { results });
            }
            _ => self.reply(xid, out.zxid, rc.err, None),
        }
        if is_close {
            self.server.after_client_close(self.session_id);
            self.close = Some(Close::SessionClosed);
        }
    }
}

/// Whether a frame is a write (goes through the log) by its opcode ([`OpCode::is_write`](zab_jute::codes::OpCode::is_write)).
fn frame_is_write(frame: &[u8]) -> bool {
    let Some(t) = frame.get(4..8) else { return false };
    op::is_write(i32::from_be_bytes([t[0], t[1], t[2], t[3]]))
}

/// Whether a write was refused because its session moved to another member: the whole
/// request, or one op of a multi.
fn session_moved(out: &WriteOutcome) -> bool {
    let moved = ErrorCode::SessionMoved.code();
    let refused = |r: &zab_datatree::ProcessTxnResult| r.txn_type == op::ERROR && r.err == moved;
    (out.txn_type == op::ERROR && out.rc.err == moved)
        || (out.txn_type == op::MULTI && out.rc.multi.iter().any(refused))
}

fn multi_result(r: &zab_datatree::ProcessTxnResult) -> MultiResult {
    let stat = || r.stat.clone().unwrap_or_default();
    match r.txn_type {
        op::CHECK => MultiResult::Check,
        op::CREATE => MultiResult::Create { path: r.path.clone() },
        op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => {
            MultiResult::Create2 { path: r.path.clone(), stat: stat() }
        }
        op::DELETE | op::DELETE_CONTAINER => MultiResult::Delete,
        op::SET_DATA => MultiResult::SetData { stat: stat() },
        _ => MultiResult::Error {
            err: if r.txn_type == op::ERROR { r.err } else { ErrorCode::RuntimeInconsistency.code() },
        },
    }
}

/// The short op names `cons` prints as lastOp.
fn op_short(t: i32) -> &'static str {
    match t {
        op::PING => "PING",
        op::CREATE | op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => "CREA",
        op::DELETE => "DELE",
        op::SET_DATA => "SETD",
        op::RECONFIG => "RECO",
        op::GET_DATA => "GETD",
        op::EXISTS => "EXIS",
        op::GET_CHILDREN | op::GET_CHILDREN2 => "GETC",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::SYNC => "SYNC",
        op::SET_ACL => "SETA",
        op::GET_ACL => "GETA",
        op::CLOSE_SESSION => "CLOS",
        op::SET_WATCHES => "SETW",
        op::SET_WATCHES2 => "STW2",
        op::ADD_WATCH => "ADDW",
        _ => "NA",
    }
}
