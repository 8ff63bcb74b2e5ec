//! A configuration comes into force on this member (`QuorumPeer.processReconfig`'s disk
//! and tree side): the drivers of both engines and the member loop call it. And a learner
//! logging a reconfig proposal remembers its configuration (`setLastSeenQuorumVerifier`),
//! which the member's next epoch as leader completes if it never activated.

use std::sync::Arc;

use tracing::error;

use crate::config::ServerConfig;
use crate::peer_state::PeerInfo;
use crate::zk_server::ZooKeeperServer;

/// A configuration activates on this member (`QuorumPeer.processReconfig`): its dynamic
/// configuration files (`zoo.cfg.dynamic.<version>`, zoo.cfg rewritten), `/zookeeper/config`
/// in the epoch's server when there is one, the configuration later epochs run with, and the
/// one the election answers with from now on (the member loop's listener).
pub fn activate_config(
    config: &ServerConfig,
    info: &PeerInfo,
    server: Option<&ZooKeeperServer>,
    view: &Arc<zab_quorum::verifier::QuorumMaj>,
    designated_next: Option<u64>,
) {
    let current =
        info.config_in_force().map_or_else(|| config.quorum.as_ref().map_or(0, |q| q.view.version), |v| v.version);
    if let Err(e) = crate::config::dynamic::activate(config, info.myid, view, current, view.version) {
        error!(error = %e, version = format_args!("0x{:x}", view.version), "cannot write the dynamic configuration; it is in force in memory only");
    }
    if let Some(s) = server {
        s.set_config_node(view);
    }
    info.set_config_in_force(view.clone(), designated_next);
    if let Some(listener) = info.on_activation() {
        listener(view);
    }
}

/// NEWLEADER's configuration, when newer than the last seen: the last seen from now on
/// (`Learner.syncWithLeader`'s `setLastSeenQuorumVerifier(qv, true)` at NEWLEADER), so a
/// member synchronised by SNAP or DIFF whose epoch ends before UPTODATE activates it, and
/// completes it if it leads next.
pub fn saw_newleader_config(config: &ServerConfig, info: &PeerInfo, data: &[u8]) {
    if !config.reconfig_enabled {
        return;
    }
    let Some(view) = std::str::from_utf8(data).ok().and_then(|t| zab_quorum::reconfig::parse_config(t).ok()) else {
        return;
    };
    let in_force = info.config_in_force().map(|v| v.version);
    let known = info.last_seen().map(|v| v.version).max(in_force).unwrap_or(0);
    if view.version <= known.max(config.quorum.as_ref().map_or(0, |q| q.view.version)) {
        return;
    }
    if let Err(e) = crate::config::dynamic::write_last_seen(config, &view) {
        error!(error = %e, version = format_args!("0x{:x}", view.version), "cannot write the last seen configuration");
    }
    info.saw_config(Arc::new(view));
}

/// A txn this learner logs: when it is a reconfig, its configuration is the last seen
/// (`Follower.processPacket`'s `setLastSeenQuorumVerifier(qv, true)`): `<cfg>.dynamic.next`
/// on disk, and what this member's next epoch as leader completes (ZOOKEEPER-1324).
pub fn saw_reconfig(config: &ServerConfig, info: &PeerInfo, txn: &[u8]) {
    if !config.reconfig_enabled {
        return;
    }
    let Some(Ok(view)) = zab_quorum::reconfig::config_of_txn(txn) else { return };
    if let Err(e) = crate::config::dynamic::write_last_seen(config, &view) {
        error!(error = %e, version = format_args!("0x{:x}", view.version), "cannot write the last seen configuration");
    }
    info.saw_config(Arc::new(view));
}
