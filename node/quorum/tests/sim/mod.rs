//! A deterministic whole-cluster simulator for ZAB: several members, each running the
//! engines the runtime runs (`zab_quorum::election::FastLeaderElection`,
//! `zab_quorum::leader::Leader`, `zab_quorum::learner::Learner`), their actions carried
//! out the way `node/server/src/peer/{mod,leader,learner}.rs` and `zk_server/` carry them
//! out, over a seeded network and seeded disks, on a virtual clock. Used by `cluster_sim.rs` (thousands of
//! random seeds), `cluster_scenarios.rs` (scripted faults, named after ZOOKEEPER-NNNN) and
//! `cluster_sim_findings.rs` (the bugs the random runs found).
//!
//! # Layout
//! - [`rng`]: splitmix64, the only source of randomness; the running hash of a history.
//! - [`disk`]: what survives a crash — log files, snapshots, `acceptedEpoch`,
//!   `currentEpoch` — with `FileTxnSnapLog.restore`, `truncate_after` and the epoch checks.
//! - [`server`]: the parts of `ZooKeeperServer` replication relies on: the sync thread
//!   (group commit, fsync delay), the awaiting-commit queue, `commit_up_to`, background
//!   snapshots, `take_database`.
//! - [`net`]: the election port (lossy, duplicating, FIFO per pair) and quorum-port TCP
//!   connections (FIFO, reliable until they break, stalled by partitions).
//! - [`leader`]: `Leader.lead`: drives the leader engine (discovery, one `LearnerHandler`
//!   per accepted connection, NEWLEADER quorum, broadcast, PING loop) over the server.
//! - [`learner`]: `Follower`: connects, then drives the learner engine (discovery,
//!   `syncWithLeader`, broadcast) over the server.
//! - [`peer`]: one member's life: election, epochs, pauses, crash and restart.
//! - [`check`]: the invariants, checked after every step.
//! - [`world`]: the event loop: events, effects, the network's plumbing, crashes.
//! - [`control`]: what tests do and ask: partitions, broken connections, clients'
//!   writes, random chaos, convergence, reports.
//! - [`script`]: helpers for scripted scenarios.
//!
//! Nothing here reads a wall clock or iterates a `HashMap`: a seed replays exactly.

#![allow(dead_code)]

pub mod check;
pub mod control;
pub mod disk;
pub mod leader;
pub mod learner;
pub mod net;
pub mod peer;
pub mod rng;
pub mod script;
pub mod server;
pub mod world;

use std::sync::Arc;

use zab_quorum::election::ElectionConfig;
use zab_quorum::leader::Payload;
use zab_quorum::verifier::{QuorumMaj, QuorumServer};

/// A member's id (`myid`).
pub type Sid = u64;
/// A client's write: the content of a txn, unique per write.
pub type TxnId = u64;

/// Timing and fault settings of one run. Times are virtual milliseconds.
#[derive(Debug, Clone)]
pub struct Config {
    pub members: u64,
    /// `tickTime`.
    pub tick_ms: i64,
    pub init_limit: i64,
    pub sync_limit: i64,
    /// `zookeeper.commitLogCount`: the DIFF window.
    pub commit_log_count: usize,
    /// `snapCount`: a background snapshot every [snapCount/2+1, snapCount] logged txns.
    pub snap_count: u64,
    pub election: ElectionConfig,
    /// One-way delay of a packet, inclusive range.
    pub net_delay: (i64, i64),
    /// Election notifications lost / sent twice, per mille.
    pub elec_drop_permille: u64,
    pub elec_dup_permille: u64,
    /// Time the sync thread takes to write and fsync a batch.
    pub fsync_delay: (i64, i64),
    /// Chance, per mille, that a member crashes at any one labelled point of the protocol
    /// (between two actions of a state machine, before or after a durable write).
    pub crash_point_permille: u64,
    /// `crossEpochTruncDiff` (zab's, off by default as in ZooKeeper 3.5+).
    pub cross_epoch_trunc: bool,
    /// `reconfigEnabled`: configurations activate (ZOOKEEPER-1783's first version, reconfig
    /// txns) and travel in notifications and NEWLEADER.
    pub reconfig: bool,
    /// With `reconfig`: the random reconfigs pick any set of voters (a majority of the
    /// members at least), so the old and the new configuration may have quorums that share
    /// no member ({1,2,3} to {3,4,5}); a reconfig is refused, as ZooKeeper refuses it
    /// (NewConfigNoQuorum), unless a quorum of the new voters is synchronised with the leader.
    pub wide_reconfigs: bool,
    /// Now and then the serving leader is asked to hand its role over (`Leader::hand_over`,
    /// to the most up-to-date follower or to a member at random), under the same faults;
    /// the hand-over's own crash points strike one time in ten when crash points are on.
    pub handovers: bool,
    /// Which known bugs of the runtime's member loop the model works around (ZooKeeper's
    /// behaviour instead), so a run can go on past them. [`Fixes::none`] does what the
    /// runtime does.
    pub fixes: Fixes,
}

/// Deviations from the runtime's member loop (`peer.rs`: its startup, and what it
/// remembers across epochs), each for a bug the simulator found (see the scenario tests
/// named after them, and invariant 7 for the last seen configuration). Each one counts in
/// `History::known` when it changes what happens (`newleader_config_seen`: in the stats). The engines themselves have none: the
/// simulator runs them, and the bugs it found there are fixed in them
/// (`cluster_sim_findings.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Fixes {
    /// A member whose currentEpoch is older than its last zxid's epoch (a crash between
    /// logging or snapshotting a newer epoch's txns and writing currentEpoch) starts with
    /// currentEpoch = that epoch, as 3.4's updatingEpoch did, instead of refusing to start
    /// (ZOOKEEPER-1653; ZooKeeper 3.5+ refuses too).
    pub epoch_from_zxid: bool,
    /// The first load of an empty data directory writes `snapshot.0`, as ZooKeeper's
    /// `FileTxnSnapLog.restore` does (ZOOKEEPER-2325); the runtime writes its first
    /// snapshot only when a server starts, so a fresh learner that crashes after logging
    /// its first sync's txns and before NEWLEADER's server starts has a log and no
    /// snapshot, and never starts again (`LogsWithoutSnapshot`).
    pub snapshot_on_first_load: bool,
    /// A learner remembers the configuration NEWLEADER carries, when newer than its own, as
    /// the last seen (and writes `.dynamic.next`), as ZooKeeper's `syncWithLeader` does at
    /// NEWLEADER, and the runtime's learner now too (`peer/activate.rs`
    /// `saw_newleader_config`). Without it a member synchronised by SNAP (the reconfig in
    /// the snapshot, not in a logged proposal) whose epoch ends before UPTODATE, and that
    /// leads next, forgets it (seeds 2412, 2974, 5864, 3504 with 3 members; 2297, 6577, 9349
    /// with 5).
    pub newleader_config_seen: bool,
    /// A restarted member takes `.dynamic.next` as its last seen configuration only when its
    /// history (log or snapshot) reaches that reconfig txn, as the runtime's `run_member`
    /// now does. The file is written when the PROPOSAL is seen, before the txn is fsynced
    /// (as ZooKeeper does, which reads it back unconditionally): without the check a member
    /// that crashed in between completes, as the next leader, a reconfig that is not in its
    /// history and was never committed, a configuration in force that the committed history
    /// does not hold (invariant 7; `ZAB_SIM_RECONFIG=wide` seeds 1426 and 3605, 5 members for
    /// the latter).
    pub last_seen_only_if_logged: bool,
}

impl Fixes {
    pub fn all() -> Fixes {
        Fixes {
            epoch_from_zxid: true,
            snapshot_on_first_load: true,
            newleader_config_seen: true,
            last_seen_only_if_logged: true,
        }
    }

    /// Turns one fix off by its field's name (unknown names are refused loudly).
    pub fn unset(&mut self, name: &str) {
        match name {
            "epoch_from_zxid" => self.epoch_from_zxid = false,
            "snapshot_on_first_load" => self.snapshot_on_first_load = false,
            "newleader_config_seen" => self.newleader_config_seen = false,
            "last_seen_only_if_logged" => self.last_seen_only_if_logged = false,
            other => panic!("no fix named {other:?}"),
        }
    }

    pub fn none() -> Fixes {
        Fixes {
            epoch_from_zxid: false,
            snapshot_on_first_load: false,
            newleader_config_seen: false,
            last_seen_only_if_logged: false,
        }
    }
}

impl Config {
    pub fn new(members: u64) -> Config {
        Config {
            members,
            tick_ms: 100,
            init_limit: 10,
            sync_limit: 5,
            commit_log_count: 500,
            snap_count: 100_000,
            election: ElectionConfig {
                finalize_wait_ms: 200,
                min_notification_interval_ms: 200,
                max_notification_interval_ms: 1_600,
                reconfig_enabled: false,
            },
            net_delay: (1, 8),
            elec_drop_permille: 0,
            elec_dup_permille: 0,
            fsync_delay: (1, 6),
            crash_point_permille: 0,
            cross_epoch_trunc: false,
            reconfig: false,
            wide_reconfigs: false,
            handovers: false,
            fixes: Fixes::all(),
        }
    }

    pub fn init_ms(&self) -> i64 {
        self.tick_ms * self.init_limit
    }

    pub fn sync_ms(&self) -> i64 {
        self.tick_ms * self.sync_limit
    }

    /// The ensemble: voters 1..=members.
    pub fn view(&self) -> QuorumMaj {
        QuorumMaj::new(
            (1..=self.members)
                .map(|i| QuorumServer::parse(i, &format!("10.0.0.{i}:2888:3888")).expect("a server line")),
            0,
        )
    }
}

thread_local! {
    /// The bytes of the txns that are more than an id (reconfig txns: a TxnHeader whose
    /// client id is the write's id, then the SetDataTxn of `/zookeeper/config`), so a txn
    /// read back from a log or a window travels as it was proposed.
    static PAYLOADS: std::cell::RefCell<std::collections::BTreeMap<TxnId, Payload>> = Default::default();
}

/// A txn's PROPOSAL bytes (the engines' `Payload`): the client's write id, or the reconfig
/// txn registered for it.
pub fn encode(t: TxnId) -> Payload {
    PAYLOADS.with(|p| p.borrow().get(&t).cloned()).unwrap_or_else(|| Arc::new(t.to_be_bytes().to_vec()))
}

/// Registers write `t` as a reconfig txn at `zxid` activating `view`; returns its bytes.
pub fn reconfig_txn(t: TxnId, zxid: i64, view: &QuorumMaj) -> Payload {
    use zab_jute::record::Record;
    let mut out = zab_jute::OutputArchive::new();
    zab_jute::txn::TxnHeader { client_id: t as i64, cxid: 0, zxid, time: 0, txn_type: zab_jute::codes::op::RECONFIG }
        .write(&mut out);
    zab_jute::txn::SetDataTxn {
        path: "/zookeeper/config".into(),
        data: Some(view.to_text().into_bytes()),
        version: -1,
    }
    .write(&mut out);
    let payload = Arc::new(out.into_inner());
    PAYLOADS.with(|p| p.borrow_mut().insert(t, payload.clone()));
    payload
}

/// The configuration write `t` activates, if it is a reconfig txn.
pub fn reconfig_view(t: TxnId) -> Option<QuorumMaj> {
    let payload = PAYLOADS.with(|p| p.borrow().get(&t).cloned())?;
    zab_quorum::reconfig::config_of_txn(&payload)?.ok()
}

/// Forgets the registered payloads (a new world).
pub fn reset_payloads() {
    PAYLOADS.with(|p| p.borrow_mut().clear());
}

pub fn decode(data: &[u8]) -> TxnId {
    let mut b = [0u8; 8];
    for (i, x) in data.iter().take(8).enumerate() {
        b[i] = *x;
    }
    TxnId::from_be_bytes(b)
}

pub fn hex(z: i64) -> String {
    format!("0x{:x}", z)
}
