//! The members' StatefulSet. `updateStrategy: OnDelete`: the StatefulSet controller never
//! restarts a member on its own; the operator's planner deletes one pod at a time in a
//! quorum-safe order. `podManagementPolicy: Parallel`: all members start together (they
//! elect a leader only once a majority is up). Pods run zab-node as uid 65532 with a
//! read-only root filesystem, without service-link variables, with the zoo.cfg hash on the
//! template so a config change is a template change. User overrides from `spec.pod` are
//! laid over the defaults; the selector labels always stay the operator's.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
    VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::configmap::{CONFIG_DIR, DATA_DIR, RUN_CONFIG, ZOO_CFG};
use super::secret::DIGEST_KEY;
use super::{
    labels, owned_meta, selector_labels, BuildError, Membership, Names, ADMIN_PORT, CLIENT_PORT,
    CONFIG_HASH_ANNOTATION, ELECTION_PORT, MEMBERS_ANNOTATION, OBSERVERS_ANNOTATION, QUORUM_PORT,
};
use crate::crd::ZabEnsemble;

/// The non-root uid/gid of the zab-node image (CONTRACTS.md).
pub const RUN_AS: i64 = 65532;
/// Name of the container, the data volume (claim template) and the config volume.
pub const CONTAINER: &str = "zab-node";
pub const DATA_VOLUME: &str = "data";
pub const CONFIG_VOLUME: &str = "config";
/// The environment variable carrying the super user's digest.
pub const SUPER_DIGEST_ENV: &str = "ZAB_SUPER_DIGEST";

pub fn build(
    ens: &ZabEnsemble,
    names: &Names,
    membership: Membership,
    config_hash: &str,
) -> Result<StatefulSet, BuildError> {
    let mut metadata = owned_meta(ens, names, names.statefulset())?;
    metadata.annotations = Some(BTreeMap::from([
        (MEMBERS_ANNOTATION.to_owned(), membership.members.to_string()),
        (OBSERVERS_ANNOTATION.to_owned(), membership.observers.to_string()),
    ]));
    let storage = &ens.spec.storage;
    Ok(StatefulSet {
        metadata,
        spec: StatefulSetSpec {
            replicas: Some(membership.total() as i32),
            service_name: Some(names.headless()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(&names.ensemble)),
                ..LabelSelector::default()
            },
            pod_management_policy: Some("Parallel".to_owned()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".to_owned()),
                rolling_update: None,
            }),
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(storage.retention_policy.when_deleted.as_str().to_owned()),
                when_scaled: Some(storage.retention_policy.when_scaled.as_str().to_owned()),
            }),
            template: pod_template(ens, names, config_hash),
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(DATA_VOLUME.to_owned()),
                    labels: Some(selector_labels(&names.ensemble)),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
                    storage_class_name: storage.storage_class_name.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(storage.size.clone()))])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            }]),
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    })
}

fn pod_template(ens: &ZabEnsemble, names: &Names, config_hash: &str) -> PodTemplateSpec {
    let o = &ens.spec.pod;
    let mut pod_labels = o.labels.clone();
    pod_labels.extend(labels(&names.ensemble));
    let mut annotations = o.annotations.clone();
    annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), config_hash.to_owned());
    let non_empty = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            enable_service_links: Some(false),
            security_context: Some(o.security_context.clone().unwrap_or_else(default_pod_security)),
            affinity: Some(o.affinity.clone().unwrap_or_else(|| default_affinity(&names.ensemble))),
            tolerations: (!o.tolerations.is_empty()).then(|| o.tolerations.clone()),
            node_selector: non_empty(&o.node_selector),
            topology_spread_constraints: (!o.topology_spread_constraints.is_empty())
                .then(|| o.topology_spread_constraints.clone()),
            priority_class_name: o.priority_class_name.clone(),
            containers: vec![container(ens, names)],
            volumes: Some(vec![Volume {
                name: CONFIG_VOLUME.to_owned(),
                config_map: Some(ConfigMapVolumeSource { name: names.configmap(), ..ConfigMapVolumeSource::default() }),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }),
    }
}

fn container(ens: &ZabEnsemble, names: &Names) -> Container {
    let port = |name: &str, n: i32| ContainerPort {
        name: Some(name.to_owned()),
        container_port: n,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    };
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("admin".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    Container {
        name: CONTAINER.to_owned(),
        image: Some(ens.spec.image.clone()),
        image_pull_policy: Some(ens.spec.image_pull_policy.as_str().to_owned()),
        command: Some(vec!["/usr/local/bin/zab-node".to_owned()]),
        // The member's own zoo.cfg on its volume, made from the ConfigMap's at each start
        // (a reconfig rewrites it); the super user's digest from the ensemble's Secret.
        args: Some(vec![
            "--config".to_owned(),
            RUN_CONFIG.to_owned(),
            "--seed-config".to_owned(),
            format!("{CONFIG_DIR}/{ZOO_CFG}"),
            "--myid-from-hostname".to_owned(),
            format!("-Dzookeeper.DigestAuthenticationProvider.superDigest=$({SUPER_DIGEST_ENV})"),
        ]),
        env: Some(vec![EnvVar {
            name: SUPER_DIGEST_ENV.to_owned(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: names.super_secret(),
                    key: DIGEST_KEY.to_owned(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        ports: Some(vec![
            port("client", CLIENT_PORT),
            port("quorum", QUORUM_PORT),
            port("election", ELECTION_PORT),
            port("admin", ADMIN_PORT),
        ]),
        liveness_probe: Some(probe("/healthz", 10, 6)),
        readiness_probe: Some(probe("/readyz", 2, 1)),
        resources: ens.spec.resources.clone(),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), add: None }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount { name: DATA_VOLUME.to_owned(), mount_path: DATA_DIR.to_owned(), ..VolumeMount::default() },
            VolumeMount {
                name: CONFIG_VOLUME.to_owned(),
                mount_path: CONFIG_DIR.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    }
}

fn default_pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), localhost_profile: None }),
        ..PodSecurityContext::default()
    }
}

/// Prefer (not require) members on different nodes: a one-node cluster still runs them.
fn default_affinity(ensemble: &str) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(selector_labels(ensemble)),
                        ..LabelSelector::default()
                    }),
                    topology_key: "kubernetes.io/hostname".to_owned(),
                    ..PodAffinityTerm::default()
                },
            }]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}
