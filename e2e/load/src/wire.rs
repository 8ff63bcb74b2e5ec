//! The measured run on the client wire protocol itself (`--client wire`, the default).
//!
//! Each session is one TCP connection with its own handshake (ConnectRequest, the
//! ConnectResponse's session id), driven by one task that keeps `outstanding` requests in
//! flight: it reads whatever replies have arrived, records each one's latency, and writes
//! the requests that replace them in one `write`. A ZooKeeper server answers a session's
//! requests in order, so each reply belongs to the oldest request in flight; a reply with
//! another xid is a protocol error and ends the session.
//!
//! Why not the `zookeeper-client` crate here: it takes about four system calls and several
//! task wake-ups per request. On a two-core machine shared with the servers under test that
//! costs the servers a quarter of the CPU, and the faster server loses most. Setup and
//! teardown still use the crate; `--client zookeeper-client` measures through it too.
//!
//! Everything is bounded: each read by --request-timeout, the run by --duration or --ops,
//! each frame by jute.maxbuffer's default. Bad bytes end that session with an error.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use zab_jute::codes::op;
use zab_jute::data::Acl;
use zab_jute::proto::connect::{ConnectRequest, ConnectResponse};
use zab_jute::proto::header::{ReplyHeader, RequestHeader};
use zab_jute::proto::node::{CreateRequest, PathWatchRequest, SetDataRequest};
use zab_jute::{InputArchive, OutputArchive, Record};

use crate::args::Plan;
use crate::report::Tally;
use crate::runner::Shared;
use crate::workload::{Request, Rng, Workload};

/// jute.maxbuffer's default: no reply of this tool comes near it.
const MAX_FRAME: usize = 0xfffff;

/// Appends one length-prefixed frame: header and body.
fn frame(out: &mut Vec<u8>, xid: i32, op_type: i32, body: &impl Record) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut a = OutputArchive::from_vec(std::mem::take(out));
    RequestHeader { xid, op_type }.write(&mut a);
    body.write(&mut a);
    *out = a.into_inner();
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn encode(out: &mut Vec<u8>, xid: i32, wl: &Workload, req: Request) {
    match req {
        Request::Get(i) => frame(out, xid, op::GET_DATA, &PathWatchRequest { path: wl.path(i), watch: false }),
        Request::Set(i) => frame(
            out,
            xid,
            op::SET_DATA,
            &SetDataRequest { path: wl.path(i), data: Some(wl.payload.clone()), version: -1 },
        ),
        Request::Create(i) => frame(
            out,
            xid,
            op::CREATE,
            &CreateRequest { path: wl.path(i), data: Some(wl.payload.clone()), acl: Acl::open_unsafe(), flags: 0 },
        ),
    }
}

/// The error name of a reply's code, as the report lists it.
fn error_name(err: i32) -> String {
    zab_jute::codes::ErrorCode::from_code(err).map_or_else(|| format!("Error{err}"), |e| format!("{e:?}"))
}

/// Reads until one whole frame is buffered; returns its length with the prefix.
async fn read_frame(stream: &mut TcpStream, buf: &mut Vec<u8>, timeout: Duration) -> Result<usize> {
    loop {
        if let Some((used, _)) = zab_jute::frame::parse_frame(buf, MAX_FRAME).map_err(|e| anyhow!("{e}"))? {
            return Ok(used);
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(timeout, stream.read(&mut chunk))
            .await
            .map_err(|_| anyhow!("no reply within {} s", timeout.as_secs_f64()))??;
        if n == 0 {
            bail!("the server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Opens a session: TCP, ConnectRequest, ConnectResponse.
async fn connect(plan: &Plan) -> Result<(TcpStream, i64)> {
    let addr = plan.connect.split(',').next().unwrap_or(&plan.connect).to_string();
    let mut stream = tokio::time::timeout(plan.request_timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| anyhow!("connect to {addr} timed out"))?
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: plan.session_timeout.as_millis().min(i32::MAX as u128) as i32,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let body = req.to_bytes();
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    stream.write_all(&out).await?;
    let mut buf = Vec::new();
    let used = read_frame(&mut stream, &mut buf, plan.request_timeout).await?;
    let resp = ConnectResponse::from_bytes(&buf[4..used], MAX_FRAME).map_err(|e| anyhow!("ConnectResponse: {e}"))?;
    if resp.session_id == 0 || resp.time_out <= 0 {
        bail!("the server refused the session");
    }
    Ok((stream, resp.session_id))
}

/// Ends a session with closeSession; waits (bounded) for its reply.
async fn close(stream: &mut TcpStream, xid: i32, timeout: Duration) {
    struct Empty;
    impl Record for Empty {
        fn write(&self, _: &mut OutputArchive) {}
        fn read(_: &mut InputArchive<'_>) -> Result<Self, zab_jute::JuteError> {
            Ok(Empty)
        }
    }
    let mut out = Vec::new();
    frame(&mut out, xid, op::CLOSE_SESSION, &Empty);
    if stream.write_all(&out).await.is_ok() {
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(timeout, async {
            while let Ok(used) = read_frame(stream, &mut buf, timeout).await {
                let xid_seen = ReplyHeader::from_bytes(&buf[4..used], MAX_FRAME).map(|h| h.xid).unwrap_or(xid);
                buf.drain(..used);
                if xid_seen == xid {
                    break;
                }
            }
        })
        .await;
    }
}

/// One session: its tally and last reply, also when it ended early (then with an error
/// counted in the tally if the measured window had begun).
async fn session(plan: Arc<Plan>, wl: Arc<Workload>, shared: Arc<Shared>, seed: u64) -> (Tally, Option<Instant>) {
    let mut tally = Tally::new();
    let mut last = None;
    if let Err(e) = pipeline(&plan, &wl, &shared, seed, &mut tally, &mut last).await {
        eprintln!("zab-load: a session ended early: {e:#}");
        if Instant::now() >= shared.measure_from {
            tally.record_error("SessionError".to_string());
        }
    }
    (tally, last)
}

/// One session's pipelined loop.
async fn pipeline(
    plan: &Plan,
    wl: &Workload,
    shared: &Shared,
    seed: u64,
    tally: &mut Tally,
    last: &mut Option<Instant>,
) -> Result<()> {
    let (mut stream, _session) = connect(plan).await?;
    let mut rng = Rng::new(seed);
    let mut xid: i32 = 1;
    let mut in_flight: VecDeque<(i32, Instant)> = VecDeque::with_capacity(plan.outstanding);
    let mut out = Vec::with_capacity(plan.outstanding * (wl.payload.len() + 64));
    let mut inbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut stopping = false;
    loop {
        // Top up to `outstanding` in flight, in one write.
        while !stopping && in_flight.len() < plan.outstanding {
            if Instant::now() >= shared.end {
                stopping = true;
                break;
            }
            if let Some(limit) = shared.limit {
                if shared.issued.fetch_add(1, Ordering::Relaxed) >= limit {
                    stopping = true;
                    break;
                }
            }
            let req = wl.choose(rng.next_u64(), || shared.next_create.fetch_add(1, Ordering::Relaxed));
            if matches!(req, Request::Create(i) if i >= wl.znodes) {
                stopping = true;
                break;
            }
            encode(&mut out, xid, wl, req);
            in_flight.push_back((xid, Instant::now()));
            xid = xid.wrapping_add(1).max(1);
        }
        if !out.is_empty() {
            stream.write_all(&out).await.context("sending requests")?;
            out.clear();
        }
        if in_flight.is_empty() {
            break;
        }
        let n = match tokio::time::timeout(plan.request_timeout, stream.read(&mut chunk)).await {
            Ok(r) => r.context("reading replies")?,
            Err(_) => {
                if in_flight.front().is_some_and(|(_, t)| *t >= shared.measure_from) {
                    for _ in 0..in_flight.len() {
                        tally.record_error("RequestTimeout".to_string());
                    }
                }
                bail!("no reply within {} s", plan.request_timeout.as_secs_f64());
            }
        };
        if n == 0 {
            bail!("the server closed the connection");
        }
        inbuf.extend_from_slice(&chunk[..n]);
        let done = Instant::now();
        let mut at = 0;
        while let Some((used, payload)) =
            zab_jute::frame::parse_frame(&inbuf[at..], MAX_FRAME).map_err(|e| anyhow!("{e}"))?
        {
            let h = ReplyHeader::from_bytes(payload, MAX_FRAME).map_err(|e| anyhow!("reply header: {e}"))?;
            at += used;
            if h.xid < 0 {
                continue; // a ping reply or a watch event: not a request of ours
            }
            let Some((sent_xid, start)) = in_flight.pop_front() else {
                bail!("a reply (xid {}) with nothing in flight", h.xid);
            };
            if sent_xid != h.xid {
                bail!("reply xid {} while the oldest request in flight is {sent_xid}", h.xid);
            }
            *last = Some(done);
            let measured = start >= shared.measure_from;
            match (h.err, measured) {
                (0, true) => tally.record_ok(done - start),
                (0, false) => tally.warmup += 1,
                (e, true) => tally.record_error(error_name(e)),
                (_, false) => {}
            }
        }
        inbuf.drain(..at);
    }
    close(&mut stream, xid, Duration::from_secs(5)).await;
    Ok(())
}

/// The measured run over `plan.sessions` wire sessions.
pub async fn run(plan: &Plan, wl: &Arc<Workload>, shared: Arc<Shared>) -> Result<Vec<(Tally, Option<Instant>)>> {
    let plan = Arc::new(plan.clone());
    let mut set = JoinSet::new();
    for s in 0..plan.sessions {
        let seed = (s as u64) << 32;
        set.spawn(session(plan.clone(), wl.clone(), shared.clone(), seed));
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        out.push(joined.context("session task")?);
    }
    Ok(out)
}
