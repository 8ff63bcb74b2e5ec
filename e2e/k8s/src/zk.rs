//! A ZooKeeper client for scenarios: through a Service's ClusterIP (the host reaches ClusterIPs
//! through kube-proxy's rules) or straight to one member's pod IP, with bounded connect and
//! request times, and the few operations scenarios need.
//! Never: wait on the server without a timeout.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use k8s_openapi::api::core::v1::Service;
use kube::{Api, Client};
use zookeeper_client::{Acls, Client as ZkClient, CreateMode, CreateOptions};

/// zab-node's client port (CONTRACTS.md).
pub const CLIENT_PORT: u16 = 2181;
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `clusterIP:port` of a Service.
pub async fn service_address(client: &Client, ns: &str, service: &str, port: u16) -> Result<String> {
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .get(service)
        .await
        .with_context(|| format!("get service {ns}/{service}"))?;
    let ip = svc
        .spec
        .and_then(|s| s.cluster_ip)
        .filter(|ip| !ip.is_empty() && ip != "None")
        .ok_or_else(|| anyhow!("service {ns}/{service} has no ClusterIP"))?;
    Ok(format!("{ip}:{port}"))
}

/// Opens a session to `addr` (`host:port`, comma-separated for several).
pub async fn connect(addr: &str) -> Result<ZkClient> {
    let connecting = ZkClient::connector().with_session_timeout(SESSION_TIMEOUT).connect(addr);
    bounded(&format!("connect to {addr}"), connecting).await
}

/// A request (or any ZooKeeper future) that must answer within the call timeout.
pub async fn bounded<T, E>(what: &str, call: impl Future<Output = std::result::Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| anyhow!("{what}: no answer within {}s", CALL_TIMEOUT.as_secs()))?
        .with_context(|| what.to_owned())
}

/// Persistent, open ACL: what scenario znodes are created with.
pub fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// Reads `path` after a `sync` (so a follower answers with everything the leader committed).
pub async fn read_synced(zk: &ZkClient, path: &str) -> Result<Vec<u8>> {
    bounded(&format!("sync {path}"), zk.sync(path)).await?;
    let (data, _stat) = bounded(&format!("get {path}"), zk.get_data(path)).await?;
    Ok(data)
}
