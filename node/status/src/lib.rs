//! The member status report served at `GET /status`: what the Kubernetes operator decides
//! by (whom to restart, when to reconfigure, whether an ensemble is healthy). One type,
//! shared by zab-node (which serves it) and the operator (which reads it).
//!
//! The schema is versioned: [`SCHEMA_VERSION`] goes up when a field changes meaning or
//! disappears; adding a field does not bump it, and readers must ignore fields they do not
//! know. `status.schema.json` beside this crate is generated from these types; a test fails
//! when they drift apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the report's schema.
pub const SCHEMA_VERSION: u32 = 1;

/// What this member is doing in its ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A single server outside any ensemble.
    Standalone,
    Looking,
    Following,
    Leading,
    Observing,
}

/// The ZAB phase (Zab paper: election, discovery, synchronization, broadcast). `none` for a
/// standalone server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    None,
    Election,
    Discovery,
    Synchronization,
    Broadcast,
}

/// A zxid as both a hex string (as ZooKeeper prints them) and a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Zxid {
    /// `0x` followed by lowercase hex.
    pub hex: String,
    pub value: i64,
}

impl Zxid {
    pub fn new(value: i64) -> Zxid {
        Zxid { hex: format!("0x{:x}", value as u64), value }
    }
}

/// The tree digest and the zxid it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TreeDigest {
    pub zxid: Zxid,
    pub digest: i64,
}

/// One voting or observing member of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    pub sid: u64,
    /// `participant` or `observer`.
    pub member_type: String,
    /// `host:quorumPort:electionPort[;clientAddr:clientPort]` as in zoo.cfg.
    pub address: String,
}

/// The quorum configuration this member uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Quorum {
    /// The configuration's version (the zxid of the reconfig that made it); 0 when none.
    pub config_version: Zxid,
    pub members: Vec<Member>,
}

/// How a learner was synchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

/// What the leader knows of one learner (empty on other roles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LearnerStatus {
    pub sid: u64,
    /// `follower` or `observer`.
    pub learner_type: String,
    pub sync_mode: Option<SyncMode>,
    pub last_acked_zxid: Zxid,
    /// Transactions the leader has proposed that this learner has not acknowledged.
    pub lag: i64,
    /// Unix milliseconds.
    pub connected_since_ms: i64,
}

/// `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MemberStatus {
    pub schema_version: u32,
    pub myid: u64,
    pub role: Role,
    pub phase: Phase,
    pub leader_sid: Option<u64>,
    pub current_epoch: i64,
    pub accepted_epoch: i64,
    /// The last txn written to this member's transaction log.
    pub last_logged_zxid: Zxid,
    /// The last txn applied to this member's tree (what clients can read).
    pub last_processed_zxid: Zxid,
    pub digest: Option<TreeDigest>,
    /// True only after UPTODATE in the current epoch and while in broadcast (always true for
    /// a standalone server, which is in sync with itself).
    pub synced: bool,
    pub quorum: Quorum,
    /// The leader has proposed a reconfiguration that has not committed yet (always false
    /// on other roles). Absent in reports of older versions: false.
    #[serde(default)]
    pub reconfig_in_flight: bool,
    pub client_connections: u64,
    pub outstanding_requests: u64,
    pub uptime_ms: u64,
    /// zab-node's version, and the ZooKeeper version it speaks.
    pub version: String,
    pub zookeeper_version: String,
    pub learners: Vec<LearnerStatus>,
}

impl MemberStatus {
    /// `/readyz`: serving clients — standalone, or in broadcast with a known leader.
    pub fn ready(&self) -> bool {
        match self.role {
            Role::Standalone => true,
            Role::Looking => false,
            _ => self.phase == Phase::Broadcast && self.leader_sid.is_some() && self.synced,
        }
    }
}

/// The JSON Schema of [`MemberStatus`], as checked in at `status.schema.json`.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(MemberStatus);
    let mut s = serde_json_pretty(&schema);
    s.push('\n');
    s
}

fn serde_json_pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_schema_matches_the_types() {
        let want = schema_json();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/status.schema.json");
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if std::env::var("ZAB_BLESS").is_ok() {
            std::fs::write(path, &want).expect("write schema");
            return;
        }
        assert_eq!(got, want, "status.schema.json drifted from the types: run ZAB_BLESS=1 cargo test -p zab-status");
    }

    #[test]
    fn zxids_are_hex_and_number() {
        let z = Zxid::new(0x100000005);
        let j = serde_json::to_string(&z).unwrap();
        assert_eq!(j, r#"{"hex":"0x100000005","value":4294967301}"#);
        let back: Zxid = serde_json::from_str(&j).unwrap();
        assert_eq!(back, z);
    }
}
