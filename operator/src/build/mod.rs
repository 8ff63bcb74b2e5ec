//! Builders: pure functions from a `ZabEnsemble` (and the membership to build for) to the
//! Kubernetes objects the operator applies. One file per object. Nothing here talks to the
//! API server or reads a clock; the same input always gives the same objects, so the
//! server-side apply of an unchanged ensemble is a no-op.

pub mod client_service;
pub mod configmap;
pub mod headless_service;
pub mod pdb;
pub mod secret;
pub mod service_monitor;
pub mod statefulset;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::core::DynamicObject;
use kube::{Resource, ResourceExt};

use crate::crd::ZabEnsemble;

/// Ports of zab-node (CONTRACTS.md).
pub const CLIENT_PORT: i32 = 2181;
pub const QUORUM_PORT: i32 = 2888;
pub const ELECTION_PORT: i32 = 3888;
pub const ADMIN_PORT: i32 = 8080;

/// Annotation on the pod template: hash of the zoo.cfg the pods must run.
pub const CONFIG_HASH_ANNOTATION: &str = "zab.io/config-hash";
/// Annotations on the StatefulSet: the membership its pods and zoo.cfg were built for.
pub const MEMBERS_ANNOTATION: &str = "zab.io/members";
pub const OBSERVERS_ANNOTATION: &str = "zab.io/observers";
/// The label the StatefulSet controller puts on each pod: the template revision it runs.
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// Label telling the headless Service apart (the ServiceMonitor selects it).
pub const SERVICE_LABEL: &str = "zab.io/service";

/// The voting participants and observers a set of objects is built for. Usually the spec's;
/// while a scale cannot be carried out it stays what the running ensemble has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub members: u32,
    pub observers: u32,
}

impl Membership {
    pub fn total(&self) -> u32 {
        self.members + self.observers
    }
}

/// Why objects could not be built (the ensemble lacks what the API server always sets).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BuildError {
    #[error("ZabEnsemble has no {0}: it was not read from the API server")]
    MissingMetadata(&'static str),
}

/// Names of the objects of one ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    pub ensemble: String,
    pub namespace: String,
}

impl Names {
    pub fn of(ens: &ZabEnsemble) -> Result<Names, BuildError> {
        let namespace = ens.namespace().ok_or(BuildError::MissingMetadata("namespace"))?;
        Ok(Names { ensemble: ens.name_any(), namespace })
    }
    pub fn statefulset(&self) -> String {
        self.ensemble.clone()
    }
    pub fn headless(&self) -> String {
        format!("{}-headless", self.ensemble)
    }
    pub fn client(&self) -> String {
        self.ensemble.clone()
    }
    pub fn configmap(&self) -> String {
        format!("{}-config", self.ensemble)
    }
    pub fn pdb(&self) -> String {
        self.ensemble.clone()
    }
    /// The Secret with the super user's password and digest (reconfig credentials).
    pub fn super_secret(&self) -> String {
        format!("{}-super", self.ensemble)
    }
    pub fn pod(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.ensemble)
    }
    /// The member's stable DNS name through the headless Service (CONTRACTS.md).
    pub fn member_host(&self, ordinal: u32) -> String {
        format!("{}.{}.{}.svc.cluster.local", self.pod(ordinal), self.headless(), self.namespace)
    }
}

/// Labels that select an ensemble's pods (never change them: a StatefulSet's selector is
/// immutable).
pub fn selector_labels(ensemble: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "zab-node".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), ensemble.to_owned()),
    ])
}

/// The selector as a string (status.selector, for the scale subresource).
pub fn selector_string(ensemble: &str) -> String {
    selector_labels(ensemble).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Labels on every object the operator makes.
pub fn labels(ensemble: &str) -> BTreeMap<String, String> {
    let mut l = selector_labels(ensemble);
    l.insert("app.kubernetes.io/managed-by".to_owned(), "zab-operator".to_owned());
    l.insert("app.kubernetes.io/component".to_owned(), "ensemble".to_owned());
    l
}

/// Metadata of an owned object: name, namespace, labels, controller owner reference.
pub fn owned_meta(ens: &ZabEnsemble, names: &Names, name: String) -> Result<ObjectMeta, BuildError> {
    Ok(ObjectMeta {
        name: Some(name),
        namespace: Some(names.namespace.clone()),
        labels: Some(labels(&names.ensemble)),
        owner_references: Some(vec![owner_reference(ens)?]),
        ..ObjectMeta::default()
    })
}

fn owner_reference(ens: &ZabEnsemble) -> Result<OwnerReference, BuildError> {
    ens.meta().uid.as_ref().ok_or(BuildError::MissingMetadata("uid"))?;
    ens.controller_owner_ref(&()).ok_or(BuildError::MissingMetadata("name or uid"))
}

/// Everything one ensemble is made of.
#[derive(Debug, Clone)]
pub struct Built {
    pub configmap: ConfigMap,
    pub headless: Service,
    pub client: Service,
    pub statefulset: StatefulSet,
    pub pdb: Option<PodDisruptionBudget>,
    pub service_monitor: Option<DynamicObject>,
    /// Hash of the zoo.cfg (also on the pod template).
    pub config_hash: String,
}

/// What the objects are built for: the recorded membership, the StatefulSet's replicas
/// (during a scale they differ from the membership's total: only the planner's scale steps
/// change them) and the members a scale adds (listed in the seed zoo.cfg as observers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub membership: Membership,
    pub replicas: u32,
    pub joining: u32,
}

impl Layout {
    /// No scale in progress.
    pub fn steady(membership: Membership) -> Layout {
        Layout { membership, replicas: membership.total(), joining: 0 }
    }
}

/// Builds all objects for `membership`. `service_monitor_crd` says whether the cluster has
/// the ServiceMonitor CRD (the caller looked).
pub fn build_all(ens: &ZabEnsemble, membership: Membership, service_monitor_crd: bool) -> Result<Built, BuildError> {
    build_layout(ens, Layout::steady(membership), service_monitor_crd)
}

/// Builds all objects for a layout (see [`Layout`]).
pub fn build_layout(ens: &ZabEnsemble, layout: Layout, service_monitor_crd: bool) -> Result<Built, BuildError> {
    let names = Names::of(ens)?;
    let membership = layout.membership;
    let (configmap, config_hash) = configmap::build(ens, &names, membership, layout.joining)?;
    let mut statefulset = statefulset::build(ens, &names, membership, &config_hash)?;
    statefulset.spec.replicas = Some(layout.replicas as i32);
    Ok(Built {
        headless: headless_service::build(ens, &names)?,
        client: client_service::build(ens, &names)?,
        statefulset,
        pdb: pdb::build(ens, &names)?,
        service_monitor: if service_monitor_crd { service_monitor::build(ens, &names)? } else { None },
        configmap,
        config_hash,
    })
}
