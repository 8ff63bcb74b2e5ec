//! The ConfigMap holding zoo.cfg (mounted read-only at /etc/zab in every member): the
//! typed settings, the free-form `additional` keys (validated beforehand), and one
//! `server.N` line per member with its stable DNS name, participants first, then observers.
//! myid comes from the pod ordinal (`--myid-from-hostname`), so one file serves all pods.
//! Returns the file's hash too: it goes on the pod template, so a changed zoo.cfg is a
//! changed template and the planner restarts members one at a time.

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
/// dataDir (the PVC's mount point).
pub const DATA_DIR: &str = "/data";

/// The ConfigMap and the hash of its zoo.cfg.
pub fn build(ens: &ZabEnsemble, names: &Names, membership: Membership) -> Result<(ConfigMap, String), BuildError> {
    let cfg = zoo_cfg(ens, names, membership);
    let hash = config_hash(&cfg);
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
    if membership.members == 1 && membership.observers > 0 {
        // One voter with observers is still an ensemble, not a standalone server.
        line("standaloneEnabled", &"false");
    }
    for (k, v) in &c.additional {
        line(k, v);
    }
    for ordinal in 0..membership.total() {
        let kind = if ordinal < membership.members { "participant" } else { "observer" };
        let host = names.member_host(ordinal);
        line(&format!("server.{}", ordinal + 1), &format!("{host}:{QUORUM_PORT}:{ELECTION_PORT}:{kind}"));
    }
    out
}
