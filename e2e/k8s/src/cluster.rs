//! The cluster a scenario runs in: the API client from `KUBECONFIG` (or the in-cluster
//! config), and each scenario's own namespace — created with a unique name and labels before
//! the scenario, deleted (and waited for) afterwards, so scenarios never see each other's
//! objects and a run leaves nothing behind.
//! Never: delete a namespace this module did not create.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use crate::wait::{wait_for, Check};

/// Label on every namespace this suite creates.
pub const SUITE_LABEL: &str = "app.kubernetes.io/part-of";
pub const SUITE: &str = "zab-k8s-e2e";

/// What a scenario gets: the client, its namespace and the images under test.
#[derive(Clone)]
pub struct Ctx {
    pub client: Client,
    pub ns: String,
    /// zab-node's image (default `localhost/zab-node:e2e`).
    pub node_image: String,
    /// zab-operator's image (default `localhost/zab-operator:e2e`).
    pub operator_image: String,
}

/// The client `KUBECONFIG` (or `~/.kube/config`, or the in-cluster config) describes.
pub async fn connect() -> Result<Client> {
    Client::try_default()
        .await
        .context("cannot build a Kubernetes client: set KUBECONFIG (source the env file e2e/cluster/up.sh printed)")
}

/// Creates the scenario's namespace: `<prefix>-<6 hex digits>`, e.g. `t00-3fa2c1`.
pub async fn create_namespace(client: &Client, scenario: &str) -> Result<String> {
    let prefix = scenario.split('_').next().unwrap_or("zab").to_ascii_lowercase();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = format!("{prefix}-{:06x}", (nanos ^ std::process::id()) & 0xff_ffff);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([
                (SUITE_LABEL.to_owned(), SUITE.to_owned()),
                ("zab.io/e2e-scenario".to_owned(), scenario.to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("create namespace {name}"))?;
    Ok(name)
}

/// Deletes the namespace and waits until it is gone (its PVCs' volumes are released with it).
pub async fn delete_namespace(client: &Client, name: &str, timeout: Duration) -> Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    let own = api.get_opt(name).await?.is_some_and(|ns| {
        ns.metadata.labels.as_ref().and_then(|l| l.get(SUITE_LABEL)).map(String::as_str) == Some(SUITE)
    });
    if !own {
        return Ok(());
    }
    api.delete(name, &DeleteParams::foreground()).await.with_context(|| format!("delete namespace {name}"))?;
    wait_for(&format!("namespace {name} deleted"), timeout, || async {
        Ok(match api.get_opt(name).await? {
            None => Check::Done(()),
            Some(ns) => Check::NotYet(format!("phase {}", ns.status.and_then(|s| s.phase).unwrap_or_default())),
        })
    })
    .await
}
