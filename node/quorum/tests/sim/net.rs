//! The network.
//!
//! - Election port (QuorumCnxManager): per pair of members, notifications stay in order;
//!   while the other member is down or cut off, only the newest waits in the send queue
//!   (capacity one) and goes out once a connection is up again (a restart, a heal). A
//!   connection that breaks loses what was in flight and re-sends the last message when it
//!   comes back (so: a delay, sometimes a duplicate); a few notifications are simply lost.
//!   A notification queued for a member in the same millisecond as the one before it
//!   replaces it (the send queue holds one): a burst of answers goes out as the last one,
//!   so two members answering each other (a looking voter and a non-voter that has
//!   decided do, as in ZooKeeper) do not multiply their exchanges with every duplicate.
//! - Quorum port: one TCP connection per learner epoch. Within it packets arrive in order,
//!   whole, once. A partition stalls it (TCP retransmits): what was sent arrives after the
//!   heal, unless a read timeout closed the connection first. Closing one side delivers a
//!   random prefix of what that side had sent, then end-of-stream, to the other; what was
//!   on its way to the closed side is dropped.
//!
//! Across connections (and between the ports) there is no order: each packet has its own
//! seeded delay.

use std::collections::{BTreeMap, VecDeque};

use zab_jute::quorum::QuorumPacket;

use super::disk::Tree;
use super::rng::Rng;
use super::Sid;

pub type ConnId = u64;

/// What travels on a quorum connection.
#[derive(Debug, Clone)]
pub enum Wire {
    Pkt(QuorumPacket),
    /// SNAP and the snapshot stream after it (the applied tree).
    Snap(QuorumPacket, Tree),
    /// End of stream: the other side closed or the connection broke.
    Closed,
}

#[derive(Debug, Default)]
pub struct Pipe {
    pub q: VecDeque<(i64, Wire)>,
    /// Bumped when the queue is dropped, so a delivery already scheduled is ignored.
    pub gen: u64,
    pub scheduled: bool,
    pub last_at: i64,
}

impl Pipe {
    /// Schedules the delivery of the front packet unless one is scheduled: (at, gen).
    pub fn arm(&mut self, now: i64) -> Option<(i64, u64)> {
        if self.scheduled {
            return None;
        }
        let at = self.q.front()?.0.max(now);
        self.scheduled = true;
        Some((at, self.gen))
    }
}

#[derive(Debug)]
pub struct Conn {
    pub learner: Sid,
    pub leader: Sid,
    pub learner_open: bool,
    pub leader_open: bool,
    pub to_leader: Pipe,
    pub to_learner: Pipe,
    /// For the checker: how much of the committed history the leader had acknowledged to
    /// clients when it planned this learner's sync.
    pub needed: usize,
}

impl Conn {
    pub fn pipe(&mut self, to_leader: bool) -> &mut Pipe {
        if to_leader {
            &mut self.to_leader
        } else {
            &mut self.to_learner
        }
    }

    pub fn open(&self, leader_side: bool) -> bool {
        if leader_side {
            self.leader_open
        } else {
            self.learner_open
        }
    }
}

#[derive(Debug, Default)]
pub struct Net {
    pub conns: BTreeMap<ConnId, Conn>,
    pub next_conn: ConnId,
    /// Pairs (low sid, high sid) cut by partitions, with how many partitions cut them.
    pub cut: BTreeMap<(Sid, Sid), u32>,
    /// Last delivery time of an election notification per (from, to): FIFO per pair.
    pub elec_last: BTreeMap<(Sid, Sid), i64>,
    /// QuorumCnxManager's send queue (capacity one) per (from, to) while `to` is down or
    /// cut off: the newest notification, sent once a connection is up again.
    pub elec_pending: BTreeMap<(Sid, Sid), zab_jute::quorum::Notification>,
    /// The send queue (capacity one) while the link is up: per (from, to), the virtual
    /// millisecond the last notification was queued at and its token. A member that
    /// queues another for the same member in the same millisecond replaces it (QCM's
    /// `send`, ZooKeeper's `addToSendQueue`): the sender had not written the first one yet.
    pub elec_queued: BTreeMap<(Sid, Sid), (i64, u64)>,
    /// The notification that replaced a queued one, by token, taken when it is delivered.
    pub elec_newer: BTreeMap<u64, zab_jute::quorum::Notification>,
    pub elec_tokens: u64,
}

fn pair(a: Sid, b: Sid) -> (Sid, Sid) {
    (a.min(b), a.max(b))
}

impl Net {
    pub fn is_cut(&self, a: Sid, b: Sid) -> bool {
        a != b && self.cut.get(&pair(a, b)).is_some_and(|n| *n > 0)
    }

    pub fn cut_pair(&mut self, a: Sid, b: Sid) {
        *self.cut.entry(pair(a, b)).or_insert(0) += 1;
    }

    pub fn heal_pair(&mut self, a: Sid, b: Sid) {
        if let Some(n) = self.cut.get_mut(&pair(a, b)) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.cut.remove(&pair(a, b));
            }
        }
    }

    pub fn open_conn(&mut self, learner: Sid, leader: Sid) -> ConnId {
        self.next_conn += 1;
        let id = self.next_conn;
        self.conns.insert(
            id,
            Conn {
                learner,
                leader,
                learner_open: true,
                leader_open: true,
                to_leader: Pipe::default(),
                to_learner: Pipe::default(),
                needed: 0,
            },
        );
        id
    }

    /// Queues `w` from one side; returns (at, gen) when a delivery must be scheduled.
    pub fn push(
        &mut self,
        conn: ConnId,
        from_leader: bool,
        w: Wire,
        now: i64,
        rng: &mut Rng,
        delay: (i64, i64),
    ) -> Option<(i64, u64)> {
        let cut = {
            let c = self.conns.get(&conn)?;
            if !c.open(from_leader) || !c.open(!from_leader) {
                return None;
            }
            self.is_cut(c.learner, c.leader)
        };
        let c = self.conns.get_mut(&conn)?;
        let p = c.pipe(!from_leader);
        let at = (now + rng.range(delay.0, delay.1)).max(p.last_at);
        p.last_at = at;
        p.q.push_back((at, w));
        if cut {
            return None;
        }
        p.arm(now)
    }

    /// Closes one side. The other side receives a prefix of what this side sent (all of it
    /// when `inflight` is `Some(true)`, none when `Some(false)`), then `Closed`. Returns the
    /// delivery to schedule, if any.
    pub fn close(
        &mut self,
        conn: ConnId,
        leader_side: bool,
        now: i64,
        rng: &mut Rng,
        inflight: Option<bool>,
        delay: (i64, i64),
    ) -> Option<(bool, i64, u64)> {
        let cut = {
            let c = self.conns.get(&conn)?;
            self.is_cut(c.learner, c.leader)
        };
        let c = self.conns.get_mut(&conn)?;
        if !c.open(leader_side) {
            return None;
        }
        if leader_side {
            c.leader_open = false;
        } else {
            c.learner_open = false;
        }
        let inbound = c.pipe(leader_side);
        inbound.q.clear();
        inbound.gen += 1;
        inbound.scheduled = false;
        if !c.open(!leader_side) {
            return None;
        }
        let out = c.pipe(!leader_side);
        let n = out.q.len();
        let keep = match inflight {
            Some(true) => n,
            Some(false) => 0,
            None => rng.below(n as u64 + 1) as usize,
        };
        if keep < n {
            out.q.truncate(keep);
            out.gen += 1;
            out.scheduled = false;
        }
        let at = (now + rng.range(delay.0, delay.1)).max(out.last_at);
        out.last_at = at;
        out.q.push_back((at, Wire::Closed));
        if cut {
            return None;
        }
        out.arm(now).map(|(at, gen)| (!leader_side, at, gen))
    }

    /// The connection breaks (a reset): both sides get end-of-stream after a delay; what
    /// was on its way is lost. Returns the deliveries to schedule.
    pub fn sever(&mut self, conn: ConnId, now: i64, rng: &mut Rng, delay: (i64, i64)) -> Vec<(bool, i64, u64)> {
        let cut = match self.conns.get(&conn) {
            Some(c) => self.is_cut(c.learner, c.leader),
            None => return Vec::new(),
        };
        let Some(c) = self.conns.get_mut(&conn) else { return Vec::new() };
        let mut out = Vec::new();
        for to_leader in [true, false] {
            if !c.open(to_leader) {
                continue;
            }
            let p = c.pipe(to_leader);
            p.q.clear();
            p.gen += 1;
            p.scheduled = false;
            let at = (now + rng.range(delay.0, delay.1)).max(p.last_at);
            p.last_at = at;
            p.q.push_back((at, Wire::Closed));
            if !cut {
                if let Some((at, gen)) = p.arm(now) {
                    out.push((to_leader, at, gen));
                }
            }
        }
        out
    }

    /// Connections of `sid` still open on its side: (conn, sid is the leader side).
    pub fn conns_of(&self, sid: Sid) -> Vec<(ConnId, bool)> {
        let mut v = Vec::new();
        for (id, c) in &self.conns {
            if c.leader == sid && c.leader_open {
                v.push((*id, true));
            }
            if c.learner == sid && c.learner_open {
                v.push((*id, false));
            }
        }
        v
    }

    /// Forgets connections closed on both sides.
    pub fn gc(&mut self) {
        self.conns.retain(|_, c| c.leader_open || c.learner_open);
    }
}
