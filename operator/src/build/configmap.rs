//! The ConfigMap holding the seed zoo.cfg (mounted read-only at /etc/zab in every member):
//! the typed settings, the free-form `additional` keys (validated beforehand),
//! `reconfigEnabled=true`, and one `server.N` line per member with its stable DNS name,
//! participants first, then observers, then the members a scale is adding (as observers:
//! they join without a vote and a reconfig promotes them).
//!
//! A member never runs this file in place: `zab-node --seed-config` copies it to the data
//! volume (`/data/conf/zoo.cfg`), where a reconfig can write `zoo.cfg.dynamic.<version>`
//! and rewrite zoo.cfg; a member that already has a newer dynamic configuration keeps it
//! and takes only the other settings from here. So the server list here is what a NEW
//! member (or one whose volume was lost) starts from; the running configuration changes only
//! by reconfig.
//!
//! myid comes from the pod ordinal (`--myid-from-hostname`), so one file serves all pods.
//! Returns the hash of the settings (the server lines left out: a scale must not restart
//! members): it goes on the pod template, so a changed setting is a changed template and
//! the planner restarts members one at a time.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::ConfigMap;
use sha2::{Digest, Sha256};

use super::{owned_meta, BuildError, Membership, Names, ADMIN_PORT, CLIENT_PORT, ELECTION_PORT, QUORUM_PORT};
use crate::crd::ZabEnsemble;

/// Key of zoo.cfg in the ConfigMap.
pub const ZOO_CFG: &str = "zoo.cfg";
/// Where the pod mounts it.
pub const CONFIG_DIR: &str = "/etc/zab";
/// Where the member's own zoo.cfg lives (made from the seed at each start), with the
/// dynamic configuration files a reconfig writes next to it.
pub const RUN_CONFIG: &str = "/data/conf/zoo.cfg";
/// dataDir (the PVC's mount point).
pub const DATA_DIR: &str = "/data";

/// The ConfigMap and the hash of its settings. `joining`: the members a scale adds beyond
/// `membership` (listed as observers).
pub fn build(
    ens: &ZabEnsemble,
    names: &Names,
    membership: Membership,
    joining: u32,
) -> Result<(ConfigMap, String), BuildError> {
    let settings = settings(ens, membership);
    let hash = config_hash(&settings);
    let cfg = format!("{settings}{}", servers(names, membership, joining));
    let cm = ConfigMap {
        metadata: owned_meta(ens, names, names.configmap())?,
        data: Some(BTreeMap::from([(ZOO_CFG.to_owned(), cfg)])),
        ..ConfigMap::default()
    };
    Ok((cm, hash))
}

/// The first 16 hex digits of the SHA-256 of `cfg`.
pub fn config_hash(cfg: &str) -> String {
    let d = Sha256::digest(cfg.as_bytes());
    d.iter().take(8).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The zoo.cfg text.
pub fn zoo_cfg(ens: &ZabEnsemble, names: &Names, membership: Membership) -> String {
    format!("{}{}", settings(ens, membership), servers(names, membership, 0))
}

/// The `server.N` lines: participants, observers, then `joining` more observers.
pub fn servers(names: &Names, membership: Membership, joining: u32) -> String {
    let mut out = String::new();
    for ordinal in 0..membership.total() + joining {
        let kind = if ordinal < membership.members { "participant" } else { "observer" };
        let _ = writeln!(out, "server.{}={}", ordinal + 1, server_address(names, ordinal, kind));
    }
    out
}

/// A member's `host:quorumPort:electionPort:type` (a server.N value, also in reconfigs).
pub fn server_address(names: &Names, ordinal: u32, kind: &str) -> String {
    format!("{}:{QUORUM_PORT}:{ELECTION_PORT}:{kind}", names.member_host(ordinal))
}

/// Every line but the servers.
fn settings(ens: &ZabEnsemble, membership: Membership) -> String {
    let c = &ens.spec.config;
    let mut out = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k}={v}");
    };
    line("tickTime", &c.tick_time);
    line("initLimit", &c.init_limit);
    line("syncLimit", &c.sync_limit);
    line("dataDir", &DATA_DIR);
    line("clientPort", &CLIENT_PORT);
    line("maxClientCnxns", &c.max_client_cnxns);
    if let Some(t) = c.min_session_timeout {
        line("minSessionTimeout", &t);
    }
    if let Some(t) = c.max_session_timeout {
        line("maxSessionTimeout", &t);
    }
    line("snapCount", &c.snap_count);
    line("autopurge.snapRetainCount", &c.autopurge.snap_retain_count);
    line("autopurge.purgeInterval", &c.autopurge.purge_interval);
    line("4lw.commands.whitelist", &c.four_letter_words.join(","));
    line("admin.enableServer", &"true");
    line("admin.serverPort", &ADMIN_PORT);
    line("quorumListenOnAllIPs", &"true");
    // Scaling is by reconfig; the super user's digest comes from the pod's environment.
    line("reconfigEnabled", &"true");
    if membership.members == 1 && membership.observers > 0 {
        // One voter with observers is still an ensemble, not a standalone server.
        line("standaloneEnabled", &"false");
    }
    for (k, v) in &c.additional {
        line(k, v);
    }
    out
}
