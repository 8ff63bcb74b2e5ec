//! One learner connection's handler (`LearnerHandler`): FOLLOWERINFO, ACKEPOCH, and after
//! its sync the ACKs, PINGs, forwarded requests and REVALIDATEs it sends.

use super::*;

impl Leader {
    /// The acceptor took a new learner connection.
    pub fn on_accept(&mut self, conn: ConnId, now: i64) -> Vec<LeaderAction> {
        if self.ended {
            return vec![LeaderAction::Close { conn }];
        }
        let handler = Handler {
            sid: None,
            observer: false,
            stage: Stage::Hello,
            last_read: now,
            timeout: self.settings.init_ms,
            acked_newleader: false,
            peer_last: -1,
            cross_epoch: false,
        };
        self.handlers.insert(conn, handler);
        Vec::new()
    }

    /// A connection's handler ends (its stream failed, or the engine closed it): it
    /// leaves the learners and broadcast if the entry is still its own.
    pub fn on_closed(&mut self, conn: ConnId) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        self.end_handler(conn, &mut out);
        self.advance_hand_over(self.clock, &mut out);
        out
    }

    pub(super) fn end_handler(&mut self, conn: ConnId, out: &mut Vec<LeaderAction>) {
        let Some(h) = self.handlers.remove(&conn) else { return };
        out.push(LeaderAction::Close { conn });
        if let Some(sid) = h.sid {
            if self.learners.get(&sid).is_some_and(|e| e.conn == conn) {
                self.learners.remove(&sid);
                if let Some(b) = self.bcast.as_mut() {
                    b.remove_learner(sid);
                }
            }
        }
    }

    /// A packet from the learner on `conn`.
    pub fn on_packet(&mut self, conn: ConnId, p: QuorumPacket, now: i64) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        self.clock = self.clock.max(now);
        let Some(h) = self.handlers.get_mut(&conn) else { return out };
        h.last_read = now;
        match h.stage {
            Stage::Hello => self.on_hello(conn, p, now, &mut out),
            Stage::AckEpoch => self.on_ack_epoch(conn, p, now, &mut out),
            Stage::WaitServer { .. } | Stage::Preparing => {}
            Stage::Broadcast => self.on_learner_packet(conn, p, now, &mut out),
        }
        self.advance_hand_over(now, &mut out);
        out
    }

    /// FOLLOWERINFO / OBSERVERINFO; an older connection of the same learner is closed.
    fn on_hello(&mut self, conn: ConnId, p: QuorumPacket, now: i64, out: &mut Vec<LeaderAction>) {
        if p.packet_type != packet::FOLLOWERINFO && p.packet_type != packet::OBSERVERINFO {
            return self.end_handler(conn, out);
        }
        let Ok(info) = LearnerInfo::from_bytes(p.data.as_deref().unwrap_or(&[]), 1024) else {
            return self.end_handler(conn, out);
        };
        let sid = info.serverid as u64;
        if !self.settings.view.servers.contains_key(&sid) && !self.settings.reconfig_enabled {
            return self.end_handler(conn, out);
        }
        let observer = p.packet_type == packet::OBSERVERINFO;
        if let Some(old) = self.learners.remove(&sid) {
            if let Some(b) = self.bcast.as_mut() {
                b.remove_learner(sid);
            }
            self.handlers.remove(&old.conn);
            out.push(LeaderAction::Close { conn: old.conn });
        }
        let entry = Entry {
            conn,
            last_heard: now,
            in_broadcast: false,
            sync_mode: None,
            last_acked: -1,
            observer,
            protocol_version: info.protocol_version,
        };
        self.learners.insert(sid, entry);
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.sid = Some(sid);
            h.observer = observer;
            h.cross_epoch = self.settings.cross_epoch_trunc && info.protocol_version == ZAB_PROTOCOL_VERSION;
            h.stage = Stage::AckEpoch;
        }
        match self.discovery.on_learner_info(sid, &p) {
            Ok(actions) => self.discovery_actions(actions, out),
            Err(_) => self.end_handler(conn, out),
        }
    }

    /// ACKEPOCH; then the learner waits for the epoch's server, or is synchronised at once.
    fn on_ack_epoch(&mut self, conn: ConnId, p: QuorumPacket, now: i64, out: &mut Vec<LeaderAction>) {
        let Some(sid) = self.sid_of(conn) else { return };
        if p.packet_type != packet::ACKEPOCH {
            return self.end_handler(conn, out);
        }
        match self.discovery.on_ack_epoch(sid, &p) {
            Ok(actions) => self.discovery_actions(actions, out),
            Err(_) => return self.end_handler(conn, out),
        }
        let until = now + self.settings.init_ms;
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.peer_last = p.zxid;
            h.stage = Stage::WaitServer { until };
        }
        if self.bcast.is_some() {
            self.prepare_sync(conn, out);
        }
    }

    /// After the sync: ACKs (NEWLEADER's, UPTODATE's, proposals'), PINGs, requests.
    fn on_learner_packet(&mut self, conn: ConnId, p: QuorumPacket, now: i64, out: &mut Vec<LeaderAction>) {
        let Some(sid) = self.sid_of(conn) else { return };
        match p.packet_type {
            packet::ACK => {
                if let Some(e) = self.learners.get_mut(&sid) {
                    e.last_heard = now;
                    e.last_acked = e.last_acked.max(p.zxid);
                }
                if zxid::counter(p.zxid) == 0 {
                    self.on_newleader_ack(conn, sid, p.zxid, out);
                    return;
                }
                let actions = self.bcast.as_mut().map(|b| b.on_ack(sid, p.zxid)).unwrap_or_default();
                self.exec(actions, out);
            }
            packet::PING => {
                if let Some(e) = self.learners.get_mut(&sid) {
                    e.last_heard = now;
                }
                out.push(LeaderAction::TouchSessions { sid, data: p.data.unwrap_or_default() });
            }
            packet::REQUEST => self.on_request(sid, p, out),
            packet::REVALIDATE => {
                let data = p.data.unwrap_or_default();
                match RevalidateRequest::from_bytes(&data, data.len()) {
                    Ok(r) => {
                        out.push(LeaderAction::Revalidate { conn, sid, session_id: r.session_id, timeout: r.timeout })
                    }
                    Err(_) => self.end_handler(conn, out),
                }
            }
            _ => {}
        }
    }

    fn on_newleader_ack(&mut self, conn: ConnId, sid: u64, zxid: i64, out: &mut Vec<LeaderAction>) {
        let Some(h) = self.handlers.get_mut(&conn) else { return };
        if std::mem::replace(&mut h.acked_newleader, true) {
            return; // the ACK of UPTODATE
        }
        h.timeout = self.settings.sync_ms;
        let actions = match self.newleader.as_mut().map(|n| n.on_ack(sid, zxid)) {
            Some(Ok(a)) => a,
            Some(Err(_)) => return self.end_handler(conn, out),
            None => Vec::new(),
        };
        for a in actions {
            match a {
                // UPTODATE goes to the members whose current connection acknowledged
                // NEWLEADER: one that reconnected since its ACK is still in discovery or
                // synchronisation there, and gets UPTODATE once it acknowledges again (as
                // each LearnerHandler answers on its own socket). Found by the cluster
                // simulator (seed 3267, 5 members: "the first sync packet must be DIFF,
                // TRUNC or SNAP, got type 12").
                NewLeaderAction::Send { to, packet } => {
                    let acked_here = self.learners.get(&to).and_then(|e| self.handlers.get(&e.conn));
                    if acked_here.is_some_and(|h| h.acked_newleader) {
                        self.send_to_sid(to, packet, out);
                    }
                }
                NewLeaderAction::StartServing => {
                    self.phase = LeaderPhase::Broadcast;
                    if let (Some(view), Some(zxid)) = (self.bumped.take(), self.last_committed()) {
                        let designated = self.settings.myid;
                        out.push(LeaderAction::Activated { zxid, view, designated });
                    }
                    self.complete_pending_reconfig(out);
                    out.push(LeaderAction::StartServing);
                }
            }
        }
        if let Some(e) = self.learners.get_mut(&sid) {
            e.in_broadcast = true;
        }
    }

    /// NEWLEADER had a quorum of the configuration in force and of the one a reconfig left
    /// in flight: that one is in force from now on, led by its designated leader
    /// (`getDesignatedLeader` over NEWLEADER's ACKs); this leader commits nothing when that
    /// is another member.
    fn complete_pending_reconfig(&mut self, out: &mut Vec<LeaderAction>) {
        let Some(view) = self.pending.take() else { return };
        let acked = self.newleader.as_ref().map(|n| n.acks().clone()).unwrap_or_default();
        let designated = crate::reconfig::designated_leader(self.settings.myid, self.config(), &view, &acked, &[]);
        if let Some(b) = self.bcast.as_mut() {
            b.complete_reconfig(view.clone(), designated);
        }
        out.push(LeaderAction::Activated { zxid: view.version, view, designated });
    }

    /// A learner forwarded a client's request: `sync` is answered here once everything
    /// proposed before it is committed; every other request goes to the server.
    fn on_request(&mut self, sid: u64, p: QuorumPacket, out: &mut Vec<LeaderAction>) {
        let is_sync = ForwardedRequest::decode(p.data.as_deref().unwrap_or(&[]))
            .is_ok_and(|(header, _)| header.op_type == OP_SYNC);
        if !is_sync {
            out.push(LeaderAction::Forwarded { sid, packet: p });
            return;
        }
        match self.proposed.keys().next_back().copied() {
            Some(last) => self.syncs.push_back((last, sid)),
            None => self.send_to_sid(sid, QuorumPacket::new(packet::SYNC, 0, None), out),
        }
    }
}
