//! What a quorum member is and what it is doing, as the rest of the server reads it: its
//! identity and live [`PeerView`] ([`PeerInfo`], `QuorumPeer`'s getters), what the leader
//! knows of each learner ([`LearnerView`]), and `QuorumPeer.initConfigInZKDatabase`
//! ([`init_config_node`]).
//!
//! The peer runtime ([`crate::peer`]) writes these; the server state, `/status`, `mntr` and
//! the AdminServer read them. It imports nothing of the runtime or of the server, so the
//! server state never depends on the peer runtime. It must never block: every lock here is
//! held for a copy or one assignment.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::ServerConfig;
use crate::metrics::ServerMetrics;

/// What the member is doing, for `/status` while no server of an epoch is serving (and to
/// overlay on the serving one's report).
#[derive(Debug, Clone)]
pub struct PeerView {
    pub role: zab_status::Role,
    pub phase: zab_status::Phase,
    pub leader: Option<u64>,
    pub current_epoch: i64,
    pub accepted_epoch: i64,
    /// The last logged zxid when the epoch started.
    pub last_zxid: i64,
    /// True from UPTODATE (learner) or a quorum's NEWLEADER ACKs (leader) until the epoch ends.
    pub synced: bool,
}

/// What a member does when a configuration comes into force during an epoch: its election
/// elects with it at once (`processReconfig`'s `restartLeaderElection`), so the votes it
/// answers carry the new configuration to members that missed the reconfig.
pub type ActivationListener = Arc<dyn Fn(&zab_quorum::verifier::QuorumMaj) + Send + Sync>;

/// The member's identity and live [`PeerView`].
pub struct PeerInfo {
    pub myid: u64,
    pub quorum: zab_quorum::verifier::QuorumMaj,
    pub started: Instant,
    view: Mutex<PeerView>,
    /// The member's metrics, once it runs (election and sync timings go there).
    metrics: std::sync::OnceLock<Arc<ServerMetrics>>,
    /// Since when the member has not served (`QuorumPeer.unavailableStartTime`), and when
    /// its current synchronisation started.
    unavailable_since: Mutex<Option<Instant>>,
    sync_started: Mutex<Option<Instant>>,
    /// The configuration a reconfiguration (or ZOOKEEPER-1783's first version) put in
    /// force while the member runs; None: the one it started with.
    config_in_force: Mutex<Option<Arc<zab_quorum::verifier::QuorumMaj>>>,
    /// The leader an activation designated when it changed this member's leader: the next
    /// epoch follows (or is) it without an election.
    designated_next: Mutex<Option<u64>>,
    /// Set by the member loop; called by [`crate::peer::activate::activate_config`].
    on_activation: Mutex<Option<ActivationListener>>,
    /// The newest configuration a reconfig proposal logged here carried
    /// (`lastSeenQuorumVerifier`), activated or not.
    last_seen: Mutex<Option<Arc<zab_quorum::verifier::QuorumMaj>>>,
}

impl PeerInfo {
    pub fn new(myid: u64, quorum: zab_quorum::verifier::QuorumMaj) -> PeerInfo {
        PeerInfo {
            myid,
            quorum,
            started: Instant::now(),
            view: Mutex::new(PeerView {
                role: zab_status::Role::Looking,
                phase: zab_status::Phase::Election,
                leader: None,
                current_epoch: -1,
                accepted_epoch: -1,
                last_zxid: -1,
                synced: false,
            }),
            metrics: std::sync::OnceLock::new(),
            unavailable_since: Mutex::new(None),
            sync_started: Mutex::new(None),
            config_in_force: Mutex::new(None),
            designated_next: Mutex::new(None),
            on_activation: Mutex::new(None),
            last_seen: Mutex::new(None),
        }
    }

    /// Where the member's timings go (its config's registry).
    pub fn set_metrics(&self, metrics: Arc<ServerMetrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// The member went LOOKING (`QuorumPeer.run`): `looking_count`, and unavailable from now
    /// until it serves again.
    pub(crate) fn looking(&self) {
        if let Some(m) = self.metrics.get() {
            m.looking_count.inc();
        }
        self.unavailable_since.lock().get_or_insert_with(Instant::now);
    }

    /// The configuration in force, when an activation changed it.
    pub fn config_in_force(&self) -> Option<Arc<zab_quorum::verifier::QuorumMaj>> {
        self.config_in_force.lock().clone()
    }

    /// A configuration activated on this member; `designated_next` when it changed the
    /// member's leader.
    pub fn set_config_in_force(&self, view: Arc<zab_quorum::verifier::QuorumMaj>, designated_next: Option<u64>) {
        *self.config_in_force.lock() = Some(view);
        if designated_next.is_some() {
            *self.designated_next.lock() = designated_next;
        }
    }

    /// A reconfig proposal logged here carried `view`.
    pub fn saw_config(&self, view: Arc<zab_quorum::verifier::QuorumMaj>) {
        let mut last = self.last_seen.lock();
        if last.as_ref().is_none_or(|v| v.version < view.version) {
            *last = Some(view);
        }
    }

    /// The log past `zxid` is gone (a TRUNC, a SNAP): so is a reconfig proposal there.
    pub fn forget_configs_after(&self, zxid: i64) {
        let mut last = self.last_seen.lock();
        if last.as_ref().is_some_and(|v| v.version > zxid) {
            *last = None;
        }
    }

    /// The newest configuration a reconfig proposal logged here carried.
    pub fn last_seen(&self) -> Option<Arc<zab_quorum::verifier::QuorumMaj>> {
        self.last_seen.lock().clone()
    }

    /// What to do when a configuration comes into force (the member loop sets it).
    pub fn set_on_activation(&self, listener: ActivationListener) {
        *self.on_activation.lock() = Some(listener);
    }

    pub fn on_activation(&self) -> Option<ActivationListener> {
        self.on_activation.lock().clone()
    }

    /// The designated leader of the last activation that changed this member's leader, once.
    pub fn take_designated_next(&self) -> Option<u64> {
        self.designated_next.lock().take()
    }

    pub fn get(&self) -> PeerView {
        self.view.lock().clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut PeerView)) {
        f(&mut self.view.lock());
    }

    /// The next ZAB phase of this epoch. Reaching broadcast records the synchronisation's
    /// duration (`follower_sync_time`, `observer_sync_time`) and how long the member did not
    /// serve (`unavailable_time`, `leader_unavailable_time`), as `QuorumPeer.setZabState`.
    pub fn phase(&self, phase: zab_status::Phase) {
        let mut role = zab_status::Role::Looking;
        self.update(|v| {
            v.phase = phase;
            v.synced = phase == zab_status::Phase::Broadcast;
            role = v.role;
        });
        match phase {
            zab_status::Phase::Synchronization => *self.sync_started.lock() = Some(Instant::now()),
            zab_status::Phase::Broadcast => {
                let Some(m) = self.metrics.get() else { return };
                if let Some(t) = self.sync_started.lock().take() {
                    match role {
                        zab_status::Role::Following => m.follower_sync_time.add_ms(t.elapsed()),
                        zab_status::Role::Observing => m.observer_sync_time.add_ms(t.elapsed()),
                        _ => {}
                    }
                }
                if let Some(t) = self.unavailable_since.lock().take() {
                    m.unavailable_time.add_ms(t.elapsed());
                    if role == zab_status::Role::Leading {
                        m.leader_unavailable_time.add_ms(t.elapsed());
                    }
                }
            }
            _ => {}
        }
    }
}

/// Writes a quorum member's configuration into `/zookeeper/config`
/// (`QuorumPeer.initConfigInZKDatabase`), as ZooKeeper does at startup (before the data
/// directory is read: a snapshot found there brings its own config node) and after a learner
/// synchronises with its leader. No-op standalone, where the node stays empty.
///
/// The node's data is `QuorumMaj.toString()` (the `server.N` lines in ZooKeeper's order,
/// then `version=<hex>`), set as `DataTree.setData(path, data, -1, version, now)`: its
/// mzxid is the configuration's version, its dataVersion stays -1. With a
/// `dynamicConfigFile` the version is the one in the file's name; from zoo.cfg's own
/// server lines it is 0 until the first established leader makes it the NEWLEADER zxid
/// (the reconfig work's [`init_config_node_with`]).
pub fn init_config_node(config: &ServerConfig, tree: &mut zab_datatree::DataTree) {
    let Some(q) = &config.quorum else { return };
    init_config_node_with(&q.view, config, tree);
}

/// `ZKDatabase.initConfigInZKDatabase(qv)` with a given configuration: for the reconfig
/// work to call when a configuration activates (`QuorumPeer.processReconfig`), after
/// [`crate::config::dynamic::activate`] wrote its files. ZooKeeper's `setData` here also
/// fires NodeDataChanged to the node's watchers; `DataTree::init_config` drops those events
/// (where ZooKeeper calls it, at start and in a learner's sync, no client is connected to
/// the member yet), so a caller that activates while serving must also apply the committed
/// reconfig's SetDataTxn to `/zookeeper/config` as a txn, which fires them.
pub fn init_config_node_with(
    view: &zab_quorum::verifier::QuorumMaj,
    config: &ServerConfig,
    tree: &mut zab_datatree::DataTree,
) {
    let text = view.to_text();
    tree.init_config(text.as_bytes(), view.version, crate::clock::wall_ms());
    // DataTree.setData counts the write per namespace (`zookeeper`).
    config.metrics.record_write("/zookeeper/config", text.len());
}

/// What the leader knows of one learner (also reported by /status).
#[derive(Debug, Clone)]
pub struct LearnerView {
    pub sid: u64,
    pub observer: bool,
    pub sync_mode: &'static str,
    pub last_acked: i64,
    pub in_broadcast: bool,
    /// Unix milliseconds.
    pub connected_ms: i64,
}
