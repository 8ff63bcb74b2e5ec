//! Synchronisation of a learner (`LearnerHandler.syncFollower`, `startForwarding`): the
//! plan, the log on disk a DIFF may use, the outstanding proposals, NEWLEADER.

use super::*;

impl Leader {
    /// The epoch's server runs: synchronisation begins, for every learner waiting.
    pub fn server_started(&mut self, now: i64) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        let Some(epoch) = self.discovery.epoch() else { return out };
        let start = zxid::make(epoch, 0);
        let (myid, mut view) = (self.settings.myid, self.settings.view.clone());
        // ZOOKEEPER-1783: an initial configuration (version 0, none given) takes the
        // NEWLEADER zxid as its version once established, so it outranks the partial views
        // of joining members. NEWLEADER carries it; it activates with NEWLEADER's quorum.
        if view.version == 0 && self.pending.is_none() {
            view.version = start;
            if self.settings.reconfig_enabled {
                self.bumped = Some(Arc::new(view.clone()));
            }
        }
        let in_force = if self.settings.reconfig_enabled { view.clone() } else { self.settings.view.clone() };
        self.bcast = Some(LeaderBroadcast::new(myid, in_force, start));
        let phase = NewLeaderPhase::new(myid, view, epoch, now, self.settings.init_ms);
        self.newleader = Some(match &self.pending {
            Some(next) => phase.with_next(next.as_ref().clone()),
            None => phase,
        });
        self.phase = LeaderPhase::Sync;
        let waiting: Vec<ConnId> = self
            .handlers
            .iter()
            .filter(|(_, h)| matches!(h.stage, Stage::WaitServer { .. }))
            .map(|(c, _)| *c)
            .collect();
        for conn in waiting {
            self.prepare_sync(conn, &mut out);
        }
        out
    }

    pub(super) fn prepare_sync(&mut self, conn: ConnId, out: &mut Vec<LeaderAction>) {
        let Some(h) = self.handlers.get_mut(&conn) else { return };
        h.stage = Stage::Preparing;
        let peer_last = h.peer_last;
        // getProposalsFromTxnLog: only for a learner older than the window.
        let read_log_from = self
            .committed_log
            .front()
            .map(|(z, _)| *z)
            .filter(|start| peer_last < *start && peer_last > 0)
            .map(|_| peer_last);
        out.push(LeaderAction::PrepareSync { conn, read_log_from });
    }

    /// The txns of the log on disk a DIFF may use: only past the newest snapshot, where
    /// the log is known to hold this member's history (before it, txns it got by SNAP are
    /// missing and txns it lost to a TRUNC or SNAP may linger: ZOOKEEPER-2846); not when
    /// they outweigh a third of the tree; and only when the learner's own zxid is there.
    fn usable_log(&self, peer_last: i64, log: LogExtract) -> Option<BTreeMap<i64, Payload>> {
        let window_start = self.committed_log.front().map(|(z, _)| *z)?;
        if peer_last < log.newest_snapshot {
            return None;
        }
        let limit = log.tree_size / 3;
        let mut size = 0u64;
        let mut txns = BTreeMap::new();
        for (z, data) in log.txns {
            if z > window_start {
                break;
            }
            size += data.len() as u64;
            if size > limit {
                return None;
            }
            txns.insert(z, data);
        }
        txns.contains_key(&peer_last).then_some(txns)
    }

    /// `LearnerHandler.syncFollower`, then `startForwarding` and NEWLEADER, in one step:
    /// `applied` is the server's last applied zxid as the snapshot (if any) will show it,
    /// `log` what [`LeaderAction::PrepareSync`] asked for.
    pub fn sync_learner(&mut self, conn: ConnId, applied: i64, log: Option<LogExtract>) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        let Some(h) = self.handlers.get(&conn).filter(|h| h.stage == Stage::Preparing) else { return out };
        let (peer_last, cross_epoch, observer) = (h.peer_last, h.cross_epoch, h.observer);
        let Some(sid) = h.sid else { return out };
        // Packets go through the learner's current connection.
        let Some(to) = self.learners.get(&sid).map(|e| e.conn) else {
            self.end_handler(conn, &mut out);
            return out;
        };
        let disk = log.and_then(|l| self.usable_log(peer_last, l));
        let zxids: Vec<i64> = self.committed_log.iter().map(|(z, _)| *z).collect();
        let last_committed = zxids.last().copied().unwrap_or(applied).max(applied);
        let disk_zxids: Option<Vec<i64>> = disk.as_ref().map(|d| d.keys().copied().collect());
        let leader_log =
            LeaderLog { last_processed_zxid: last_committed, committed: &zxids, on_disk: disk_zxids.as_deref() };
        let plan = plan_with(peer_last, &leader_log, PlanOptions { cross_epoch_trunc: cross_epoch });
        let send =
            |packet: QuorumPacket, out: &mut Vec<LeaderAction>| out.push(LeaderAction::Send { conn: to, packet });
        let mode = if plan.snap {
            SyncMode::Snap
        } else if matches!(plan.packets.first(), Some(SyncPacket::Trunc(_))) {
            SyncMode::Trunc
        } else {
            SyncMode::Diff
        };
        let from_disk = !plan.snap
            && plan.packets.iter().any(|p| matches!(p, SyncPacket::Proposal(z) if zxids.first().is_none_or(|m| z < m)));
        if plan.snap {
            send(QuorumPacket::new(packet::SNAP, applied, None), &mut out);
            out.push(LeaderAction::SendSnapshot { conn: to });
            // Committed but not applied yet: as proposals and commits after the snapshot.
            for (z, d) in self.committed_log.iter().filter(|(z, _)| *z > applied) {
                send(QuorumPacket::new(packet::PROPOSAL, *z, Some(d.to_vec())), &mut out);
                send(QuorumPacket::new(packet::COMMIT, *z, None), &mut out);
            }
        } else {
            for p in &plan.packets {
                let packet = match *p {
                    SyncPacket::Diff(z) => QuorumPacket::new(packet::DIFF, z, None),
                    SyncPacket::Trunc(z) => QuorumPacket::new(packet::TRUNC, z, None),
                    SyncPacket::Commit(z) => QuorumPacket::new(packet::COMMIT, z, None),
                    SyncPacket::Proposal(z) => {
                        let data = match self.committed_log.binary_search_by_key(&z, |(k, _)| *k) {
                            Ok(i) => self.committed_log.get(i).map(|(_, d)| d.clone()),
                            Err(_) => disk.as_ref().and_then(|d| d.get(&z).cloned()),
                        };
                        let Some(data) = data else {
                            // Cannot happen: the plan only names txns of the window or the log.
                            self.end_handler(conn, &mut out);
                            return out;
                        };
                        QuorumPacket::new(packet::PROPOSAL, z, Some(data.to_vec()))
                    }
                };
                send(packet, &mut out);
            }
        }
        // startForwarding: the outstanding proposals follow, then the learner is in the set.
        if !observer {
            for (z, d) in &self.proposed {
                send(QuorumPacket::new(packet::PROPOSAL, *z, Some(d.to_vec())), &mut out);
            }
        }
        let kind = if observer { LearnerKind::Observer } else { LearnerKind::Follower };
        if let Some(b) = self.bcast.as_mut() {
            b.add_learner(sid, kind);
        }
        if let Some(NewLeaderAction::Send { mut packet, .. }) = self.newleader.as_ref().map(|n| n.newleader_for(sid)) {
            // A learner synchronised once the epoch serves gets the configuration in force
            // now (`getQuorumVerifierBytes` at its sync), not the one the epoch started
            // with: after a reconfig it would otherwise keep the older one, and, led to by
            // a hand-over (no election to tell it), count its quorums (cluster_sim
            // `ZAB_SIM_RECONFIG=wide` seed 1839, 5 members).
            if self.settings.reconfig_enabled && self.phase == LeaderPhase::Broadcast {
                packet.data = Some(self.config().to_text().into_bytes());
            }
            send(packet, &mut out);
        }
        if let Some(e) = self.learners.get_mut(&sid) {
            e.sync_mode = Some(mode);
        }
        if let Some(h) = self.handlers.get_mut(&conn) {
            h.stage = Stage::Broadcast;
        }
        let with_proposals = !plan.snap && plan.packets.iter().any(|p| matches!(p, SyncPacket::Proposal(_)));
        out.push(LeaderAction::Synchronising {
            sid,
            mode,
            from_disk,
            with_proposals,
            outstanding: if observer { 0 } else { self.proposed.len() },
        });
        out
    }
}
