//! Leader hand-over, zab's own addition for rolling restarts: the leader stops proposing,
//! waits until a chosen synced follower has acknowledged everything proposed (so it holds
//! every committed txn, and no proposal is outstanding), then sends HANDOVER to every
//! learner in broadcast (closing the connections still in discovery or synchronisation,
//! which could not read it) and ends its epoch once they have left. Each zab learner that
//! reads HANDOVER leaves its epoch for one that follows the named member without an
//! election (the chosen one leads), as a designated leader after a reconfiguration does; that member still runs
//! discovery and synchronisation, so the new epoch is established by a quorum as always.
//! ZooKeeper's learners ignore HANDOVER, see the leader go, and elect.
//!
//! Only a follower that announced zab's protocol version can be chosen: it must understand
//! HANDOVER. The wait is bounded by syncLimit; past it the hand-over fails and proposing
//! resumes.

use super::*;

/// A hand-over under way.
#[derive(Debug, Clone)]
pub(super) struct HandOver {
    pub(super) to: u64,
    /// The deadline: of the wait for the follower, then of the wait for the learners to go.
    until: i64,
    /// HANDOVER went out.
    pub(super) sent: bool,
}

/// Why a hand-over cannot start.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HandOverError {
    #[error("this leader is not serving yet (or its epoch is over): nothing to hand over")]
    NotServing,
    #[error("a reconfiguration (version 0x{0:x}) is in flight; retry once it has committed")]
    ReconfigInFlight(i64),
    #[error("a hand-over to {0} is already under way")]
    AlreadyHandingOver(u64),
    #[error("member {sid} cannot take over: {why}")]
    NotEligible { sid: u64, why: String },
    #[error("no follower can take over: {0}")]
    NoCandidate(String),
}

impl Leader {
    /// The member a hand-over is under way to, if one is.
    pub fn handing_over(&self) -> Option<u64> {
        self.hand_over.as_ref().map(|h| h.to)
    }

    /// Why `sid` cannot take over now; None when it can.
    fn ineligible(&self, sid: u64) -> Option<String> {
        if sid == self.settings.myid {
            return Some("it is this leader".into());
        }
        if !self.config().is_voter(sid) {
            return Some("it is not a voting participant of the configuration in force".into());
        }
        let Some(e) = self.learners.get(&sid) else {
            return Some("it is not connected to this leader".into());
        };
        if e.observer {
            return Some("it is connected as an observer".into());
        }
        if !e.in_broadcast {
            return Some("it is not synchronised yet".into());
        }
        if e.protocol_version < ZAB_PROTOCOL_VERSION {
            return Some(format!(
                "it announced protocol version 0x{:x}, not zab's 0x{ZAB_PROTOCOL_VERSION:x}: it would not \
                 understand HANDOVER",
                e.protocol_version
            ));
        }
        None
    }

    /// Starts handing the leadership over to `to`, or (None) to the eligible follower that
    /// acknowledged the most, the lowest sid among equals. From now on no proposal is taken;
    /// the outcome comes as [`LeaderAction::HandOverSent`] then
    /// [`LeaderAction::HandOverComplete`], or [`LeaderAction::HandOverFailed`].
    pub fn hand_over(&mut self, to: Option<u64>, now: i64) -> Result<(u64, Vec<LeaderAction>), HandOverError> {
        self.clock = self.clock.max(now);
        if !self.is_serving() {
            return Err(HandOverError::NotServing);
        }
        if let Some(h) = &self.hand_over {
            return Err(HandOverError::AlreadyHandingOver(h.to));
        }
        if let Some(next) = self.next_config() {
            return Err(HandOverError::ReconfigInFlight(next.version));
        }
        let to = match to {
            Some(sid) => match self.ineligible(sid) {
                Some(why) => return Err(HandOverError::NotEligible { sid, why }),
                None => sid,
            },
            None => {
                let best = self
                    .learners
                    .iter()
                    .filter(|(sid, _)| self.ineligible(**sid).is_none())
                    .max_by_key(|(sid, e)| (e.last_acked, std::cmp::Reverse(**sid)))
                    .map(|(sid, _)| *sid);
                match best {
                    Some(sid) => sid,
                    None => {
                        let why = self
                            .learners
                            .keys()
                            .filter_map(|sid| self.ineligible(*sid).map(|w| format!("{sid}: {w}")))
                            .collect::<Vec<_>>();
                        let why = if why.is_empty() { "no follower is connected".to_owned() } else { why.join("; ") };
                        return Err(HandOverError::NoCandidate(why));
                    }
                }
            }
        };
        self.hand_over = Some(HandOver { to, until: now + self.settings.sync_ms, sent: false });
        let mut out = Vec::new();
        self.advance_hand_over(now, &mut out);
        Ok((to, out))
    }

    /// Moves a hand-over on: HANDOVER once the follower holds everything and nothing is
    /// outstanding; the end of the epoch once the learners have gone; a failure when the
    /// follower can no longer take over or the wait ran out.
    pub(super) fn advance_hand_over(&mut self, now: i64, out: &mut Vec<LeaderAction>) {
        let Some(h) = self.hand_over.clone() else { return };
        if h.sent {
            // A learner that connected since reads no HANDOVER: it elects (and finds `to`).
            self.close_unsynced(out);
            if self.learners.is_empty() || now >= h.until {
                out.push(LeaderAction::HandOverComplete { to: h.to });
                self.ended = true;
            }
            return;
        }
        let failed = match self.ineligible(h.to) {
            Some(why) => Some(why),
            None if now >= h.until => {
                Some(format!("it did not acknowledge every proposal within syncLimit ({} ms)", self.settings.sync_ms))
            }
            None => None,
        };
        if let Some(reason) = failed {
            self.hand_over = None;
            out.push(LeaderAction::HandOverFailed { to: h.to, reason });
            return;
        }
        let last = self.last_committed().unwrap_or(0);
        #[allow(unused_mut)] // changed only by a planted bug
        let mut holds_all = self.learners.get(&h.to).is_some_and(|e| e.last_acked >= last);
        #[allow(unused_mut)]
        let mut outstanding = !self.proposed.is_empty();
        #[cfg(feature = "broken-engine")]
        {
            use crate::mutant::{active, Mutant};
            holds_all |= active(Mutant::HandOverBeforeTheFollowerHoldsAll) && self.learners.contains_key(&h.to);
            outstanding &= !active(Mutant::HandOverWithProposalsOutstanding);
        }
        if outstanding || !holds_all {
            return;
        }
        // Every COMMIT / INFORM went out before this on each connection: the learners
        // apply everything, then leave. Only learners in broadcast read HANDOVER; one still
        // synchronising would take it for a protocol error (its first sync packet must be
        // DIFF, TRUNC or SNAP), so its connection is closed instead: it elects, and the
        // election leads it to `to`.
        self.close_unsynced(out);
        let data = h.to.to_be_bytes().to_vec();
        for e in self.learners.values() {
            out.push(LeaderAction::Send {
                conn: e.conn,
                packet: QuorumPacket::new(packet::HANDOVER, last, Some(data.clone())),
            });
        }
        out.push(LeaderAction::HandOverSent { to: h.to, zxid: last });
        self.hand_over = Some(HandOver { to: h.to, until: now + self.settings.sync_ms, sent: true });
        if self.learners.is_empty() {
            self.advance_hand_over(now, out);
        }
    }

    /// Closes every connection that is not a learner in broadcast (still in discovery or
    /// synchronisation) once HANDOVER goes out.
    fn close_unsynced(&mut self, out: &mut Vec<LeaderAction>) {
        let in_broadcast: BTreeSet<ConnId> =
            self.learners.values().filter(|e| e.in_broadcast).map(|e| e.conn).collect();
        let others: Vec<ConnId> = self.handlers.keys().filter(|c| !in_broadcast.contains(c)).copied().collect();
        for conn in others {
            self.end_handler(conn, out);
        }
    }
}
