//! The two calls the operator makes on members to change the ensemble, behind one trait so
//! reconcile scenarios run them against a fake:
//! - `POST /commands/handover[?to=<sid>]` on the leader's admin port: the leader hands its
//!   leadership to a synced follower (200 with `{"from":..,"to":..}`; 409 when it is not the
//!   leader, the target is not a synced follower or a reconfig is in flight; 400 for a bad
//!   `to`; 404 from a zab-node that has no such command).
//! - the `reconfig` client op on a member's client port, as the super user (`addauth digest
//!   super:<password>`), incremental (joining / leaving) and only from the configuration
//!   version the operator saw (`fromConfig`), so a configuration that changed meanwhile is
//!   refused (BadVersion) instead of overwritten.
//!
//! Every call is bounded by a timeout; nothing retries by itself (the next reconcile plans
//! again). The password is never logged or put in an error.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::build::secret::SUPER_USER;

/// Largest answer body read.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// The member refused (HTTP 409 or 400 with its reason).
    #[error("{what} refused: {reason}")]
    Refused { what: &'static str, status: u16, reason: String },
    /// The member has no such command (an older zab-node).
    #[error("{what}: the member has no such command (HTTP 404)")]
    Unsupported { what: &'static str },
    /// No answer, a broken connection or an unreadable answer.
    #[error("{what}: {reason}")]
    Failed { what: &'static str, reason: String },
}

/// A successful hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HandOver {
    pub from: u64,
    pub to: u64,
}

/// One incremental reconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconfig {
    /// `server.N=host:quorumPort:electionPort:type` lines.
    pub joining: Vec<String>,
    /// Server ids.
    pub leaving: Vec<u64>,
    /// The configuration version the change is made from.
    pub from_version: i64,
}

/// The calls, to a member by pod IP.
pub trait MemberAdmin: Send + Sync {
    fn handover(&self, pod_ip: &str, to: Option<u64>) -> BoxFuture<'static, Result<HandOver, AdminError>>;
    /// Returns the new configuration's text (`/zookeeper/config`).
    fn reconfig(
        &self,
        pod_ip: &str,
        password: &str,
        change: Reconfig,
    ) -> BoxFuture<'static, Result<String, AdminError>>;
}

/// HTTP for the hand-over, zab-node's blocking client (on a blocking thread) for reconfig.
#[derive(Clone)]
pub struct NodeAdmin {
    http: Client<HttpConnector, Empty<Bytes>>,
    admin_port: u16,
    client_port: u16,
    timeout: Duration,
}

impl NodeAdmin {
    pub fn new(admin_port: u16, client_port: u16, timeout: Duration) -> NodeAdmin {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        let http = Client::builder(TokioExecutor::new()).build(connector);
        NodeAdmin { http, admin_port, client_port, timeout }
    }
}

fn host(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    to: Option<u64>,
}

impl MemberAdmin for NodeAdmin {
    fn handover(&self, pod_ip: &str, to: Option<u64>) -> BoxFuture<'static, Result<HandOver, AdminError>> {
        const WHAT: &str = "POST /commands/handover";
        let q = to.map(|t| format!("?to={t}")).unwrap_or_default();
        let url = format!("http://{}:{}/commands/handover{q}", host(pod_ip), self.admin_port);
        let (client, timeout) = (self.http.clone(), self.timeout);
        Box::pin(async move {
            let failed = |reason: String| AdminError::Failed { what: WHAT, reason };
            let req = http::Request::post(&url).body(Empty::<Bytes>::new()).map_err(|e| failed(e.to_string()))?;
            // The answer comes once the target has every proposal and the old term ended.
            let resp = tokio::time::timeout(timeout, client.request(req))
                .await
                .map_err(|_| failed(format!("{url}: no answer within {timeout:?}")))?
                .map_err(|e| failed(format!("{url}: {e}")))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| failed(format!("{url}: reading the answer: {e}")))?
                .to_bytes();
            let answer: Option<Answer> = serde_json::from_slice(&body).ok();
            match status {
                200 => match answer {
                    Some(Answer { error: None, from: Some(from), to: Some(to) }) => Ok(HandOver { from, to }),
                    _ => Err(failed(format!("{url}: unexpected answer {}", String::from_utf8_lossy(&body)))),
                },
                404 => Err(AdminError::Unsupported { what: WHAT }),
                _ => Err(AdminError::Refused {
                    what: WHAT,
                    status,
                    reason: format!(
                        "HTTP {status}: {}",
                        answer
                            .and_then(|a| a.error)
                            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect())
                    ),
                }),
            }
        })
    }

    fn reconfig(
        &self,
        pod_ip: &str,
        password: &str,
        change: Reconfig,
    ) -> BoxFuture<'static, Result<String, AdminError>> {
        const WHAT: &str = "reconfig";
        let addr = format!("{}:{}", host(pod_ip), self.client_port);
        let auth = format!("{SUPER_USER}:{password}");
        let timeout = self.timeout;
        Box::pin(async move {
            let failed = |reason: String| AdminError::Failed { what: WHAT, reason };
            let run = move || -> Result<String, AdminError> {
                let mut c = zab_node::client::Client::connect(&addr, timeout)
                    .map_err(|e| AdminError::Failed { what: WHAT, reason: e.to_string() })?;
                c.add_auth("digest", auth.as_bytes())
                    .map_err(|e| AdminError::Failed { what: WHAT, reason: format!("addauth digest: {e}") })?;
                let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join(","));
                let req = zab_jute::proto::ReconfigRequest {
                    joining_servers: join(change.joining),
                    leaving_servers: join(change.leaving.iter().map(u64::to_string).collect()),
                    new_members: None,
                    cur_config_id: change.from_version,
                };
                let r = c.reconfig(&req);
                c.close();
                match r {
                    Ok((data, _)) => Ok(String::from_utf8_lossy(&data).into_owned()),
                    Err(e) => Err(AdminError::Refused { what: WHAT, status: 0, reason: e.to_string() }),
                }
            };
            tokio::task::spawn_blocking(run).await.map_err(|e| failed(format!("the reconfig task failed: {e}")))?
        })
    }
}
