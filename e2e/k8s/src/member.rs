//! A member's admin endpoint, read straight from its pod IP (the host reaches the pod network):
//! `GET /status` as `zab_status::MemberStatus`, `POST` for admin commands (the hand-over), and
//! the ensemble check every scenario uses — exactly one leader, every other voter following it,
//! all in broadcast and synced.
//! Never: trust the answer's size (bodies are bounded) or wait on a member without a timeout.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use zab_status::{MemberStatus, Phase, Role};

/// zab-node's admin port (CONTRACTS.md).
pub const ADMIN_PORT: u16 = 8080;
const MAX_BODY: usize = 1 << 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET http://ip:8080{path}`: the status code and the body as text.
pub async fn get(ip: &str, path: &str) -> Result<(u16, String)> {
    call(hyper::Method::GET, ip, path, REQUEST_TIMEOUT).await
}

/// `POST http://ip:8080{path}` with an empty body: the status code and the body as text. A
/// hand-over answers once the target has every proposal: it may take longer than a GET.
pub async fn post(ip: &str, path: &str) -> Result<(u16, String)> {
    call(hyper::Method::POST, ip, path, REQUEST_TIMEOUT * 6).await
}

async fn call(method: hyper::Method, ip: &str, path: &str, timeout: Duration) -> Result<(u16, String)> {
    let url = format!("http://{ip}:{ADMIN_PORT}{path}");
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = hyper::Request::builder()
        .method(method.clone())
        .uri(&url)
        .body(Empty::<Bytes>::new())
        .with_context(|| format!("bad URL {url}"))?;
    let answer = async {
        let res = client.request(req).await.with_context(|| format!("{method} {url}"))?;
        let code = res.status().as_u16();
        let body = Limited::new(res.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| anyhow!("{method} {url}: reading the body: {e}"))?
            .to_bytes();
        Ok::<_, anyhow::Error>((code, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, answer)
        .await
        .map_err(|_| anyhow!("{method} {url}: no answer within {}s", timeout.as_secs()))?
}

/// A member's `/status`.
pub async fn status(ip: &str) -> Result<MemberStatus> {
    let (code, body) = get(ip, "/status").await?;
    if code != 200 {
        bail!("GET http://{ip}:{ADMIN_PORT}/status answered {code}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("/status of {ip} is not a MemberStatus: {body}"))
}

/// One member: pod name and its status.
pub type Named = (String, MemberStatus);

/// Checks that the members form one healthy ensemble: exactly one leader, every other member
/// following (or observing) that leader, everyone in broadcast and synced. Returns the
/// leader's pod name, or a description of what is not yet so.
pub fn healthy_ensemble(members: &[Named]) -> std::result::Result<String, String> {
    let leaders: Vec<&Named> = members.iter().filter(|(_, s)| s.role == Role::Leading).collect();
    let [(leader_pod, leader)] = leaders.as_slice() else {
        return Err(format!("{} leaders: {}", leaders.len(), summary(members)));
    };
    for (pod, s) in members {
        let role_ok = matches!(s.role, Role::Leading | Role::Following | Role::Observing);
        if !role_ok || s.phase != Phase::Broadcast || !s.synced || s.leader_sid != Some(leader.myid) {
            return Err(format!("{pod} not following {leader_pod} in sync: {}", summary(members)));
        }
    }
    Ok(leader_pod.clone())
}

/// `pod=role/phase/synced/leader` for each member, for messages.
pub fn summary(members: &[Named]) -> String {
    members
        .iter()
        .map(|(pod, s)| {
            format!(
                "{pod}=myid {} {:?}/{:?} synced={} leader={:?} zxid={}",
                s.myid, s.role, s.phase, s.synced, s.leader_sid, s.last_processed_zxid.hex
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
