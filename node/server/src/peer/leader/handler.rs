//! The connections of learners (`LearnerHandler`): the acceptor, one thread per connection
//! reading packets into the engine, a forwarded request handed to the server, and the SNAP
//! stream a learner is sent.

use super::*;

/// The SNAP stream: the sessions, the tree (ACLs, nodes) and the signature.
pub(super) fn snapshot_stream(tree: &DataTree, sessions: &[(i64, i32)]) -> Vec<u8> {
    let mut a = zab_jute::OutputArchive::new();
    a.write_i32(sessions.len() as i32);
    for (id, to) in sessions {
        a.write_i64(*id);
        a.write_i32(*to);
    }
    let acls = tree.write_acl_section(&mut a);
    let mut cur = zab_datatree::codec::NodeCursor::new(&acls);
    while !tree.write_nodes_step(&mut cur, &mut a, usize::MAX) {}
    a.write_string(SNAP_SIGNATURE);
    a.into_inner()
}

pub(super) fn accept_loop(rt: Arc<LeaderRuntime>, listener: TcpListener) {
    for stream in listener.incoming() {
        if rt.stopping.load(Ordering::Acquire) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let conn = rt.next_conn.fetch_add(1, Ordering::Relaxed);
        let rt2 = rt.clone();
        let _ = std::thread::Builder::new().name("learner-handler".into()).spawn(move || {
            let remote = stream.peer_addr().ok();
            if let Err(e) = handle_learner(&rt2, conn, stream) {
                if !rt2.stopping.load(Ordering::Acquire) {
                    info!(?remote, error = %e, "learner connection ended");
                }
            }
        });
    }
}

/// `LearnerHandler.run`: this connection's packets go to the engine until it fails or
/// the engine closes it.
fn handle_learner(rt: &Arc<LeaderRuntime>, conn: ConnId, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut timeout = rt.engine.lock().read_timeout_ms(conn);
    stream.set_read_timeout(Some(Duration::from_millis(timeout.max(1) as u64)))?;
    let max = rt.config.max_buffer + QUORUM_PACKET_SLACK;
    let mut reader = PacketReader::new(stream.try_clone()?, max);
    let tx = Outbox::start(stream.try_clone()?, "learner-writer")?;
    let io = Conn { tx: tx.clone(), stream: stream.try_clone()?, connected_ms: crate::clock::wall_ms() };
    rt.conns.lock().insert(conn, io);
    {
        let mut st = rt.engine.lock();
        let actions = st.on_accept(conn, rt.now());
        rt.run(st, actions);
    }
    // What the packets read in one go cause (COMMITs, PROPOSALs) goes out together before
    // the reader next waits on the socket (`FlushBeforeRead`).
    let _defer = crate::defer::defer();
    let mut tracked = false;
    let result = loop {
        if !rt.conns.lock().contains_key(&conn) {
            break Ok(()); // closed by the engine
        }
        let p = match reader.read() {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
        let mut st = rt.engine.lock();
        if p.packet_type == packet::ACK && zxid::counter(p.zxid) != 0 {
            if let Some(sid) = st.sid_of(conn) {
                crate::metrics::record::leader_ack(&rt.config.metrics, sid, p.zxid, st.proposal(p.zxid));
            }
        }
        let actions = st.on_packet(conn, p, rt.now());
        let now_timeout = st.read_timeout_ms(conn);
        let sid = st.sid_of(conn);
        rt.run(st, actions);
        if !tracked {
            if let Some(sid) = sid {
                tx.track_queue(sid, rt.config.metrics.clone());
                tracked = true;
            }
        }
        if now_timeout != timeout {
            timeout = now_timeout;
            let _ = stream.set_read_timeout(Some(Duration::from_millis(timeout.max(1) as u64)));
        }
    };
    let mut st = rt.engine.lock();
    let actions = st.on_closed(conn);
    rt.run(st, actions);
    rt.close_conn(conn);
    result
}

/// A learner forwarded a client's write (`LearnerHandler` REQUEST); the engine answers a
/// `sync` itself.
pub(super) fn learner_request(server: &Arc<ZooKeeperServer>, sid: u64, p: &QuorumPacket) {
    let data = p.data.as_deref().unwrap_or(&[]);
    let Ok((ForwardedRequest { session_id: session, cxid, op_type }, body)) = ForwardedRequest::decode(data) else {
        warn!(sid, "REQUEST shorter than its header; ignored");
        return;
    };
    let req = match op_type {
        op::CREATE_SESSION => match body.get(0..4) {
            Some(t) => WriteRequest::CreateSession { timeout: i32::from_be_bytes([t[0], t[1], t[2], t[3]]) },
            None => WriteRequest::Malformed { op_type },
        },
        op::CLOSE_SESSION => WriteRequest::CloseSession,
        t => crate::request::decode_write(t, body, server.config.max_buffer, server.config.reconfig_enabled)
            .unwrap_or(WriteRequest::Malformed { op_type: t }),
    };
    // The reply reaches the client through the learner, when it applies the txn.
    drop(server.submit_write_from(sid, session, cxid, &p.authinfo, &req, body));
}
