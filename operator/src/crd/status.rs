//! `ZabEnsembleStatus`: what the operator observed and decided, written to the status
//! subresource. Nothing here changes on a pass where nothing changed (no "last seen"
//! timestamps), so writing status does not wake the controller again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a ZabEnsemble.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ZabEnsembleStatus {
    /// The metadata.generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Available (a quorum serves clients), Progressing (a change is being rolled out) and
    /// Degraded (something needs attention), each with a reason and a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Members that report ready (in broadcast with a leader, synced).
    #[serde(default)]
    pub ready_members: i32,
    /// Label selector of the members' pods (for the scale subresource).
    #[serde(default)]
    pub selector: String,
    /// Pod of the current leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// The last zxid the leader logged, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zxid: Option<String>,
    /// Version of the quorum configuration the leader uses (hex zxid of the reconfig that
    /// made it; 0x0 for the static configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_version: Option<String>,
    /// Voting participants and observers the running configuration holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_members: Option<i32>,
    /// Observers the running configuration holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_observers: Option<i32>,
    /// Image the StatefulSet's pod template runs now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_image: Option<String>,
    /// Image the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_image: Option<String>,
    /// Hash of the zoo.cfg and pod template that every member runs (unset while members
    /// differ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_config_hash: Option<String>,
    /// Hash of the zoo.cfg and pod template the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_config_hash: Option<String>,
    /// One entry per member pod, in ordinal order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberState>,
    /// The restart the operator started and waits for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartInProgress>,
    /// Members restarted once because they were stuck out of the ensemble (not restarted
    /// again; reported Degraded if they stay out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
}

/// What one member reports at GET /status, plus what its pod shows.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MemberState {
    /// Pod name.
    pub pod: String,
    /// Server id (StatefulSet ordinal + 1).
    pub myid: i64,
    /// standalone, looking, following, leading or observing; unknown when unreachable.
    pub role: String,
    /// Zab phase: election, discovery, synchronization, broadcast (none when standalone,
    /// unknown when unreachable).
    pub phase: String,
    /// The epoch the member accepted as current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// The last zxid in the member's transaction log, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_zxid: Option<String>,
    /// Synced with the leader of the current epoch.
    pub synced: bool,
    /// Transactions the leader proposed that this member has not acknowledged (as the
    /// leader reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// The member's tree digest and the zxid it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Serving clients.
    pub ready: bool,
    /// The pod runs an older template or zoo.cfg and waits for its turn to restart.
    pub restart_pending: bool,
}

/// A member restart the operator started.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestartInProgress {
    /// Pod that was deleted.
    pub pod: String,
    /// Why: rollout (template or config changed) or repair (stuck out of the ensemble).
    pub reason: String,
    /// When the pod was deleted; the member must be back, synced, within the operator's
    /// restart deadline.
    pub since: Time,
    /// The uid of the deleted pod (its replacement has another).
    pub old_uid: String,
    /// The metadata.generation of the ensemble when the restart began: a roll stopped by a
    /// member that did not return resumes once the spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}
