//! What the leader reports of its learners (`/status`, the admin commands, mntr) and
//! whether a quorum of a configuration is synced with it (`Leader.isQuorumSynced`, which a
//! reconfig is checked against).

use std::collections::BTreeSet;

use super::{ConnId, Leader};
use crate::learner::SyncMode;
use crate::verifier::QuorumMaj;

/// A learner as `/status` and the admin commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerStatus {
    pub sid: u64,
    pub conn: ConnId,
    pub observer: bool,
    pub sync_mode: Option<SyncMode>,
    pub last_acked: i64,
    pub in_broadcast: bool,
}

impl Leader {
    /// Whether a quorum of `view`'s voters are connected and synchronised with this
    /// leader, itself included when it votes there (`isQuorumSynced`): a reconfig to a
    /// configuration without one is refused (NEWCONFIGNOQUORUM).
    pub fn is_quorum_synced(&self, view: &QuorumMaj) -> bool {
        let mut ids: BTreeSet<u64> =
            self.learners.iter().filter(|(sid, e)| e.in_broadcast && view.is_voter(**sid)).map(|(s, _)| *s).collect();
        if view.is_voter(self.settings.myid) {
            ids.insert(self.settings.myid);
        }
        view.contains_quorum(&ids)
    }

    /// Every learner the epoch knows, by sid.
    pub fn learners(&self) -> Vec<LearnerStatus> {
        self.learners
            .iter()
            .map(|(sid, e)| LearnerStatus {
                sid: *sid,
                conn: e.conn,
                observer: e.observer,
                sync_mode: e.sync_mode,
                last_acked: e.last_acked,
                in_broadcast: e.in_broadcast,
            })
            .collect()
    }

    /// The connections of learners that are not synchronised yet.
    pub fn syncing(&self) -> usize {
        self.learners.values().filter(|e| !e.in_broadcast).count()
    }
}
