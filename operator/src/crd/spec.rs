//! `ZabEnsembleSpec`: the desired ensemble. Defaults live here (serde defaults, which the
//! generated schema repeats), server-side validation too (OpenAPI bounds and CEL rules).
//! Checks the API server cannot express (free-form zoo.cfg keys, quantity limits, limits
//! that depend on each other) are in `validate.rs`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, PodSecurityContext, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ZabEnsembleStatus;

/// A ZooKeeper-compatible ensemble of zab-node members: voting participants plus optional
/// observers, each with its own persistent volume, restarted by the operator one at a time
/// in an order that never loses a quorum (the leader last).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "zab.io",
    version = "v1alpha1",
    kind = "ZabEnsemble",
    plural = "zabensembles",
    singular = "zabensemble",
    shortname = "zab",
    doc = "A ZooKeeper-compatible ensemble of zab-node members, run by zab-operator: a StatefulSet of voting participants and observers with stable DNS names and one volume each, restarted one at a time in a quorum-safe order (the leader last).",
    namespaced,
    status = "ZabEnsembleStatus",
    scale(
        spec_replicas_path = ".spec.members",
        status_replicas_path = ".status.readyMembers",
        label_selector_path = ".status.selector"
    ),
    printcolumn = r#"{"name": "Members", "type": "integer", "jsonPath": ".spec.members", "description": "Voting participants asked for"}"#,
    printcolumn = r#"{"name": "Ready", "type": "integer", "jsonPath": ".status.readyMembers", "description": "Members serving clients"}"#,
    printcolumn = r#"{"name": "Leader", "type": "string", "jsonPath": ".status.leader", "description": "Pod of the current leader"}"#,
    printcolumn = r#"{"name": "Zxid", "type": "string", "jsonPath": ".status.zxid", "description": "Last zxid the leader logged"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ZabEnsembleSpec {
    /// Number of voting participants (an odd number, 1 or more). A majority of them must be
    /// up for the ensemble to accept writes: 3 survive one failure, 5 survive two.
    #[serde(default = "default_members")]
    #[schemars(range(min = 1, max = 99))]
    #[x_kube(validation = Rule::new("self % 2 == 1").message("members must be odd (1, 3, 5, ...): an even count adds no failure tolerance"))]
    pub members: i32,

    /// Number of observers: members that follow the leader and serve reads but do not vote.
    #[serde(default)]
    #[schemars(range(min = 0, max = 99))]
    pub observers: i32,

    /// Container image of zab-node, e.g. `localhost/zab-node:e2e`.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,

    /// When the kubelet pulls the image.
    #[serde(default)]
    pub image_pull_policy: PullPolicy,

    /// CPU and memory requests and limits of the zab-node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// The persistent volume of each member (dataDir, mounted at /data).
    #[serde(default)]
    pub storage: StorageSpec,

    /// zoo.cfg settings.
    #[serde(default)]
    pub config: ZooCfgSpec,

    /// Overrides for the members' pods.
    #[serde(default)]
    pub pod: PodOverrides,

    /// The Service clients connect to (port 2181).
    #[serde(default)]
    pub client_service: ClientServiceSpec,

    /// The PodDisruptionBudget that keeps voluntary evictions from breaking a quorum.
    #[serde(default)]
    pub pod_disruption_budget: PdbSpec,

    /// Prometheus scraping of the members' /metrics.
    #[serde(default)]
    pub metrics: MetricsSpec,

    /// When true the operator changes nothing (no apply, no restart, no scaling); it still
    /// reports status.
    #[serde(default)]
    pub paused: bool,
}

fn default_members() -> i32 {
    3
}

/// Image pull policy, as on a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Each member's PersistentVolumeClaim.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Size of each member's volume, a Kubernetes quantity such as `1Gi` or `500Mi`.
    #[serde(default = "default_storage_size")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))").message("storage.size must be a positive quantity such as 1Gi or 500Mi"))]
    pub size: String,

    /// StorageClass of the claims; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,

    /// What happens to the claims when the ensemble is deleted or scaled down (the
    /// StatefulSet's persistentVolumeClaimRetentionPolicy).
    #[serde(default)]
    pub retention_policy: RetentionPolicy,
}

fn default_storage_size() -> String {
    "1Gi".to_owned()
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            size: default_storage_size(),
            storage_class_name: None,
            retention_policy: RetentionPolicy::default(),
        }
    }
}

/// PVC retention, as in a StatefulSet's persistentVolumeClaimRetentionPolicy.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// Retain or Delete the claims when the ZabEnsemble (and so its StatefulSet) is deleted.
    #[serde(default)]
    pub when_deleted: Retention,
    /// Retain or Delete the claims of members removed by a scale-down.
    #[serde(default)]
    pub when_scaled: Retention,
}

/// Keep or delete a claim.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Retention {
    #[default]
    Retain,
    Delete,
}

impl Retention {
    pub fn as_str(self) -> &'static str {
        match self {
            Retention::Retain => "Retain",
            Retention::Delete => "Delete",
        }
    }
}

/// zoo.cfg settings. The typed fields cover what is usually tuned; `additional` carries any
/// other key zab-node knows (an unknown key is refused, so a typo does not pass silently).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ZooCfgSpec {
    /// Length of a tick in milliseconds; the unit of initLimit, syncLimit and session timeouts.
    #[serde(default = "default_tick_time")]
    #[schemars(range(min = 1, max = 60000))]
    pub tick_time: i32,
    /// Ticks a follower may take to connect and sync to the leader.
    #[serde(default = "default_init_limit")]
    #[schemars(range(min = 1, max = 1000))]
    pub init_limit: i32,
    /// Ticks a follower may fall behind the leader before it is dropped.
    #[serde(default = "default_sync_limit")]
    #[schemars(range(min = 1, max = 1000))]
    pub sync_limit: i32,
    /// Transactions logged between snapshots.
    #[serde(default = "default_snap_count")]
    #[schemars(range(min = 2))]
    pub snap_count: i64,
    /// Concurrent connections one client IP may hold on one member; 0 means no limit.
    #[serde(default = "default_max_client_cnxns")]
    #[schemars(range(min = 0))]
    pub max_client_cnxns: i32,
    /// Smallest session timeout a client may negotiate, in ms (default 2 x tickTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_session_timeout: Option<i32>,
    /// Largest session timeout a client may negotiate, in ms (default 20 x tickTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_session_timeout: Option<i32>,
    /// Purging of old snapshots and transaction logs.
    #[serde(default)]
    pub autopurge: AutopurgeSpec,
    /// Four-letter words the members answer (4lw.commands.whitelist); `*` for all.
    #[serde(default = "default_four_letter_words")]
    pub four_letter_words: Vec<String>,
    /// Further zoo.cfg keys and values, written as given. Only keys zab-node knows are
    /// accepted; keys the operator manages (dataDir, clientPort, server.N, ...) are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional: BTreeMap<String, String>,
}

fn default_tick_time() -> i32 {
    2000
}
fn default_init_limit() -> i32 {
    10
}
fn default_sync_limit() -> i32 {
    5
}
fn default_snap_count() -> i64 {
    100_000
}
fn default_max_client_cnxns() -> i32 {
    60
}
fn default_four_letter_words() -> Vec<String> {
    vec!["*".to_owned()]
}

impl Default for ZooCfgSpec {
    fn default() -> Self {
        ZooCfgSpec {
            tick_time: default_tick_time(),
            init_limit: default_init_limit(),
            sync_limit: default_sync_limit(),
            snap_count: default_snap_count(),
            max_client_cnxns: default_max_client_cnxns(),
            min_session_timeout: None,
            max_session_timeout: None,
            autopurge: AutopurgeSpec::default(),
            four_letter_words: default_four_letter_words(),
            additional: BTreeMap::new(),
        }
    }
}

/// autopurge.* settings.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutopurgeSpec {
    /// Snapshots (and their logs) to keep, 3 or more.
    #[serde(default = "default_snap_retain")]
    #[schemars(range(min = 3))]
    pub snap_retain_count: i32,
    /// Hours between purges; 0 disables purging.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub purge_interval: i32,
}

fn default_snap_retain() -> i32 {
    3
}

impl Default for AutopurgeSpec {
    fn default() -> Self {
        AutopurgeSpec { snap_retain_count: default_snap_retain(), purge_interval: 0 }
    }
}

/// What the user may add to or replace in the members' pods.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Extra labels on the pods (the operator's own labels win on a clash).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Scheduling affinity. When unset, the operator prefers to put members on different
    /// nodes (a preferred pod anti-affinity on kubernetes.io/hostname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node labels the pods must be scheduled on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// How pods spread across topology domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Pod security context. When unset: runAsUser/runAsGroup/fsGroup 65532, runAsNonRoot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
}

/// Kind of the client Service.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// The client Service.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientServiceSpec {
    /// ClusterIP, NodePort or LoadBalancer.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    /// Annotations on the Service (e.g. for a cloud load balancer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The PodDisruptionBudget.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PdbSpec {
    /// Create the PodDisruptionBudget.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Members that may be evicted at once; must leave a majority of participants.
    #[serde(default = "default_max_unavailable")]
    #[schemars(range(min = 0))]
    pub max_unavailable: i32,
}

fn default_true() -> bool {
    true
}
fn default_max_unavailable() -> i32 {
    1
}

impl Default for PdbSpec {
    fn default() -> Self {
        PdbSpec { enabled: true, max_unavailable: 1 }
    }
}

/// Metrics scraping.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// A Prometheus Operator ServiceMonitor for the members' /metrics on port 8080.
    #[serde(default)]
    pub service_monitor: ServiceMonitorSpec,
}

/// The ServiceMonitor (created only when the monitoring.coreos.com CRD exists).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Create a ServiceMonitor when the cluster has the ServiceMonitor CRD.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Scrape interval, e.g. `30s`.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Extra labels on the ServiceMonitor (so a Prometheus selects it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn default_interval() -> String {
    "30s".to_owned()
}

impl Default for ServiceMonitorSpec {
    fn default() -> Self {
        ServiceMonitorSpec { enabled: true, interval: default_interval(), labels: BTreeMap::new() }
    }
}
