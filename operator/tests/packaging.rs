//! The packaging stays in step with the code (issue 13): the Helm chart's RBAC rules are
//! exactly the operator's one table of API calls (`zab-operator rbac`), nothing more or less;
//! the chart's CRD is the generated one; every object of the `kubectl apply -f` bundle parses
//! into its k8s-openapi type and runs the operator as the chart promises (non-root, read-only
//! root filesystem, probes on the health port); the examples parse as ZabEnsembles and pass
//! the operator's own validation. Reads checked-in files only (no helm, no cluster):
//! e2e/k8s/packaging.sh renders the chart with helm and checks the bundle against it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use zab_operator::crd::ZabEnsemble;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn documents(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).expect("valid YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind(v: &serde_yaml::Value) -> &str {
    v.get("kind").and_then(|k| k.as_str()).unwrap_or("")
}

#[test]
fn chart_rbac_rules_are_the_operators_table() {
    let chart: Vec<PolicyRule> = serde_yaml::from_str(&read("charts/zab-operator/files/rbac-rules.yaml")).unwrap();
    assert_eq!(
        chart,
        zab_operator::rbac::policy_rules(),
        "charts/zab-operator/files/rbac-rules.yaml differs from the code's table: \
         run `zab-operator rbac > charts/zab-operator/files/rbac-rules.yaml`"
    );
}

#[test]
fn chart_crd_is_the_generated_crd() {
    let generated = zab_operator::crd::crd_yaml().unwrap();
    assert_eq!(
        read("charts/zab-operator/crds/zabensembles.zab.io.yaml"),
        generated,
        "the chart's CRD differs: run `zab-operator crd > charts/zab-operator/crds/zabensembles.zab.io.yaml`"
    );
}

/// Every rule the bundle grants, over all its Roles and ClusterRoles, and no other.
#[test]
fn bundle_parses_and_grants_exactly_the_table() {
    let docs = documents(&read("operator/deploy/zab-operator.yaml"));
    let mut granted: Vec<PolicyRule> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    let mut deployment = None;
    for d in &docs {
        kinds.push(kind(d).to_owned());
        let v = d.clone();
        match kind(d) {
            "Namespace" => drop(serde_yaml::from_value::<Namespace>(v).unwrap()),
            "CustomResourceDefinition" => {
                let crd: CustomResourceDefinition = serde_yaml::from_value(v).unwrap();
                assert_eq!(crd.metadata.name.as_deref(), Some("zabensembles.zab.io"));
            }
            "ServiceAccount" => drop(serde_yaml::from_value::<ServiceAccount>(v).unwrap()),
            "ClusterRole" => {
                granted.extend(serde_yaml::from_value::<ClusterRole>(v).unwrap().rules.unwrap_or_default())
            }
            "Role" => granted.extend(serde_yaml::from_value::<Role>(v).unwrap().rules.unwrap_or_default()),
            "ClusterRoleBinding" => drop(serde_yaml::from_value::<ClusterRoleBinding>(v).unwrap()),
            "RoleBinding" => drop(serde_yaml::from_value::<RoleBinding>(v).unwrap()),
            "Service" => drop(serde_yaml::from_value::<Service>(v).unwrap()),
            "Deployment" => deployment = Some(serde_yaml::from_value::<Deployment>(v).unwrap()),
            other => panic!("unexpected kind {other:?} in the bundle"),
        }
    }
    for k in ["Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "Deployment"] {
        assert!(kinds.iter().any(|x| x == k), "the bundle has no {k}: {kinds:?}");
    }
    let key = |r: &PolicyRule| format!("{r:?}");
    let mut want = zab_operator::rbac::policy_rules();
    granted.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(granted, want, "the bundle's RBAC is not exactly the code's table");

    let deployment = deployment.expect("a Deployment");
    let pod = deployment.spec.template.spec.expect("a pod spec");
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().expect("a container securityContext");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(pod.security_context.as_ref().and_then(|s| s.run_as_non_root), Some(true));
    assert_eq!(pod.enable_service_links, Some(false));
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone())
    };
    assert_eq!(probe_path(&c.liveness_probe).as_deref(), Some("/healthz"));
    assert_eq!(probe_path(&c.readiness_probe).as_deref(), Some("/readyz"));
    assert!(c.args.as_ref().is_some_and(|a| a.first().map(String::as_str) == Some("run")));
    assert!(c.resources.as_ref().and_then(|r| r.requests.as_ref()).is_some(), "resource requests set");
}

#[test]
fn examples_are_valid_ensembles() {
    for (file, members, observers) in [("minimal.yaml", 3, 0), ("production.yaml", 5, 2)] {
        let docs = documents(&read(&format!("operator/examples/{file}")));
        let ens: Vec<ZabEnsemble> = docs
            .into_iter()
            .filter(|d| kind(d) == "ZabEnsemble")
            .map(|d| serde_yaml::from_value(d).unwrap_or_else(|e| panic!("{file}: {e}")))
            .collect();
        assert_eq!(ens.len(), 1, "{file}: one ZabEnsemble");
        let e = &ens[0];
        assert!(e.metadata.namespace.is_some(), "{file}: the namespace is set");
        assert_eq!((e.spec.members, e.spec.observers), (members, observers), "{file}");
        let invalid = zab_operator::validate::validate(&e.spec);
        assert!(invalid.is_empty(), "{file} is refused by the operator: {invalid:?}");
    }
}
