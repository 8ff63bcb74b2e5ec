//! A zab ensemble made by hand, without the operator: zoo.cfg in a ConfigMap, a headless
//! Service (publishNotReadyAddresses, so members find each other by DNS before they are
//! ready), a client Service, and a StatefulSet of the real zab-node image with a PVC per member,
//! laid out as CONTRACTS.md says (myid from the pod ordinal, dataDir /data, admin on 8080,
//! nonroot 65532, read-only root filesystem). Also: the member pods of such an ensemble and
//! their `/status`.
//! Never: rely on anything the operator would add; this is the baseline the operator's
//! scenarios are compared with.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::member::{self, Named, ADMIN_PORT};
use crate::zk::CLIENT_PORT;

pub const QUORUM_PORT: u16 = 2888;
pub const ELECTION_PORT: u16 = 3888;
/// uid and gid of the images' `nonroot` user.
pub const NONROOT: i64 = 65532;

/// A StatefulSet ensemble's names: `NAME` (StatefulSet), `NAME-headless`, `NAME-client`,
/// `NAME-config`, pods `NAME-0..`.
#[derive(Clone, Debug)]
pub struct Plain {
    pub name: String,
    pub ns: String,
    pub replicas: u32,
    pub image: String,
}

impl Plain {
    pub fn headless(&self) -> String {
        format!("{}-headless", self.name)
    }
    pub fn client_service(&self) -> String {
        format!("{}-client", self.name)
    }
    pub fn configmap(&self) -> String {
        format!("{}-config", self.name)
    }
    pub fn pod(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.name)
    }
    /// A member's stable DNS name.
    pub fn host(&self, ordinal: u32) -> String {
        format!("{}.{}.{}.svc.cluster.local", self.pod(ordinal), self.headless(), self.ns)
    }
    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_owned(), "zab".to_owned()),
            ("zab.io/ensemble".to_owned(), self.name.clone()),
        ])
    }
    pub fn selector(&self) -> String {
        self.labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }

    /// zoo.cfg: every member by its DNS name.
    pub fn zoo_cfg(&self) -> String {
        let mut cfg = String::from(
            "tickTime=1000\ninitLimit=20\nsyncLimit=5\ndataDir=/data\n\
             clientPort=2181\nadmin.enableServer=true\nadmin.serverPort=8080\n\
             quorumListenOnAllIPs=true\n4lw.commands.whitelist=*\n",
        );
        for i in 0..self.replicas {
            cfg.push_str(&format!("server.{}={}:{QUORUM_PORT}:{ELECTION_PORT}:participant\n", i + 1, self.host(i)));
        }
        cfg
    }

    pub fn configmap_object(&self) -> Result<ConfigMap> {
        Ok(serde_json::from_value(json!({
            "metadata": {"name": self.configmap(), "labels": self.labels()},
            "data": {"zoo.cfg": self.zoo_cfg()}
        }))?)
    }

    pub fn headless_object(&self) -> Result<Service> {
        Ok(serde_json::from_value(json!({
            "metadata": {"name": self.headless(), "labels": self.labels()},
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": true,
                "selector": self.labels(),
                "ports": [
                    {"name": "client", "port": CLIENT_PORT},
                    {"name": "quorum", "port": QUORUM_PORT},
                    {"name": "election", "port": ELECTION_PORT},
                    {"name": "admin", "port": ADMIN_PORT}
                ]
            }
        }))?)
    }

    pub fn client_object(&self) -> Result<Service> {
        Ok(serde_json::from_value(json!({
            "metadata": {"name": self.client_service(), "labels": self.labels()},
            "spec": {
                "type": "ClusterIP",
                "selector": self.labels(),
                "ports": [{"name": "client", "port": CLIENT_PORT, "targetPort": "client"}]
            }
        }))?)
    }

    pub fn statefulset_object(&self) -> Result<StatefulSet> {
        Ok(serde_json::from_value(json!({
            "metadata": {"name": self.name, "labels": self.labels()},
            "spec": {
                "replicas": self.replicas,
                "serviceName": self.headless(),
                // all members at once: a quorum needs them, and readiness needs a quorum
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": self.labels()},
                "template": {
                    "metadata": {"labels": self.labels()},
                    "spec": {
                        "enableServiceLinks": false,
                        "automountServiceAccountToken": false,
                        "terminationGracePeriodSeconds": 10,
                        "securityContext": {
                            "runAsNonRoot": true, "runAsUser": NONROOT, "runAsGroup": NONROOT,
                            "fsGroup": NONROOT
                        },
                        "containers": [{
                            "name": "zab-node",
                            "image": self.image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--config", "/etc/zab/zoo.cfg", "--myid-from-hostname"],
                            "env": [{"name": "RUST_LOG", "value": "info"}],
                            "ports": [
                                {"name": "client", "containerPort": CLIENT_PORT},
                                {"name": "quorum", "containerPort": QUORUM_PORT},
                                {"name": "election", "containerPort": ELECTION_PORT},
                                {"name": "admin", "containerPort": ADMIN_PORT}
                            ],
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": "admin"},
                                "periodSeconds": 2, "failureThreshold": 2
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "admin"},
                                "periodSeconds": 10, "failureThreshold": 6
                            },
                            "securityContext": {
                                "readOnlyRootFilesystem": true,
                                "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"]}
                            },
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/zab", "readOnly": true},
                                {"name": "data", "mountPath": "/data"}
                            ]
                        }],
                        "volumes": [{"name": "config", "configMap": {"name": self.configmap()}}]
                    }
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "256Mi"}}
                    }
                }]
            }
        }))?)
    }

    /// Creates the ConfigMap, both Services and the StatefulSet.
    pub async fn create(&self, client: &Client) -> Result<()> {
        let pp = PostParams::default();
        Api::<ConfigMap>::namespaced(client.clone(), &self.ns)
            .create(&pp, &self.configmap_object()?)
            .await
            .context("create configmap")?;
        let services = Api::<Service>::namespaced(client.clone(), &self.ns);
        services.create(&pp, &self.headless_object()?).await.context("create headless service")?;
        services.create(&pp, &self.client_object()?).await.context("create client service")?;
        Api::<StatefulSet>::namespaced(client.clone(), &self.ns)
            .create(&pp, &self.statefulset_object()?)
            .await
            .context("create statefulset")?;
        Ok(())
    }

    /// The member pods that exist now, by ordinal.
    pub async fn pods(&self, client: &Client) -> Result<Vec<Pod>> {
        let mut pods = Api::<Pod>::namespaced(client.clone(), &self.ns)
            .list(&ListParams::default().labels(&self.selector()))
            .await
            .context("list member pods")?
            .items;
        pods.sort_by_key(|p| p.metadata.name.clone());
        Ok(pods)
    }

    /// `/status` of every member pod; an error names the first member that did not answer.
    pub async fn statuses(&self, client: &Client) -> Result<Vec<Named>> {
        let mut out = Vec::new();
        for pod in self.pods(client).await? {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let ip = pod_ip(&pod).with_context(|| format!("pod {name}"))?;
            let status = member::status(&ip).await.with_context(|| format!("member {name}"))?;
            out.push((name, status));
        }
        Ok(out)
    }
}

/// A pod's IP, or an error when it has none yet.
pub fn pod_ip(pod: &Pod) -> Result<String> {
    pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()).context("no pod IP yet")
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
