//! `parse-manifests < rendered.yaml`: parses every object of a multi-document YAML stream (a
//! `helm template` rendering, the kubectl bundle, an example) into its k8s-openapi type, or
//! into the operator's own `ZabEnsemble` type, so a chart value that renders a field of the
//! wrong shape fails here even before an API server sees it (e2e/k8s/packaging.sh runs it on
//! the chart rendered with default and non-default values). An object of a kind it does not
//! know is an error: the chart must not render anything nobody checked. Prints one line per
//! object and `parsed N objects` last; exits 1 on the first object that does not parse.

use std::io::Read;

use anyhow::{bail, Context};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use zab_operator::crd::ZabEnsemble;

fn parse<T: DeserializeOwned>(doc: serde_yaml::Value) -> anyhow::Result<()> {
    serde_yaml::from_value::<T>(doc).map(drop).map_err(anyhow::Error::from)
}

/// The Prometheus Operator's ServiceMonitor: no Rust type ships with k8s-openapi, so the
/// fields the chart and the operator set are checked by shape here.
fn service_monitor(doc: &serde_yaml::Value) -> anyhow::Result<()> {
    if doc.get("apiVersion").and_then(|v| v.as_str()) != Some("monitoring.coreos.com/v1") {
        bail!("apiVersion is not monitoring.coreos.com/v1");
    }
    let spec = doc.get("spec").context("no spec")?;
    spec.get("selector")
        .and_then(|s| s.get("matchLabels"))
        .and_then(|m| m.as_mapping())
        .context("no spec.selector.matchLabels")?;
    let endpoints = spec.get("endpoints").and_then(|e| e.as_sequence()).context("no spec.endpoints")?;
    for e in endpoints {
        e.get("port").and_then(|p| p.as_str()).context("an endpoint without a port name")?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
    let mut n = 0;
    for d in serde_yaml::Deserializer::from_str(&text) {
        let doc = serde_yaml::Value::deserialize(d).context("not YAML")?;
        if doc.is_null() {
            continue;
        }
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_owned();
        let name = doc.get("metadata").and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap_or("").to_owned();
        let result = match kind.as_str() {
            "Namespace" => parse::<Namespace>(doc),
            "CustomResourceDefinition" => parse::<CustomResourceDefinition>(doc),
            "ServiceAccount" => parse::<ServiceAccount>(doc),
            "ClusterRole" => parse::<ClusterRole>(doc),
            "ClusterRoleBinding" => parse::<ClusterRoleBinding>(doc),
            "Role" => parse::<Role>(doc),
            "RoleBinding" => parse::<RoleBinding>(doc),
            "Service" => parse::<Service>(doc),
            "Deployment" => parse::<Deployment>(doc),
            "ZabEnsemble" => parse::<ZabEnsemble>(doc),
            "ServiceMonitor" => service_monitor(&doc),
            other => Err(anyhow::anyhow!("a kind this check does not know: {other:?}")),
        };
        result.with_context(|| format!("{kind} {name:?} does not parse"))?;
        println!("ok {kind} {name}");
        n += 1;
    }
    println!("parsed {n} objects");
    Ok(())
}
