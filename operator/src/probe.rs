//! Reads a member's GET /status (zab-node's admin port) into `zab_status::MemberStatus`:
//! plain HTTP/1.1 to the pod IP, a timeout on the whole exchange, the body bounded (a
//! member cannot make the operator allocate without limit), a non-200 answer or bad JSON
//! is an error naming the pod. Never retries by itself: the next reconcile asks again.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zab_status::MemberStatus;

/// Largest /status body accepted (a report lists every member and learner: small).
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("GET {url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("GET {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("GET {url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: body is not a member status report: {reason}")]
    Parse { url: String, reason: String },
}

/// Where member reports come from: HTTP in the operator, a table in tests.
pub trait StatusSource: Send + Sync {
    /// The report of the member at `pod_ip`.
    fn status(&self, pod_ip: &str) -> BoxFuture<'static, Result<MemberStatus, ProbeError>>;
}

/// GET http://<podIP>:<port>/status.
#[derive(Clone)]
pub struct HttpProber {
    client: Client<HttpConnector, Empty<Bytes>>,
    port: u16,
    timeout: Duration,
}

impl HttpProber {
    pub fn new(port: u16, timeout: Duration) -> HttpProber {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build(connector);
        HttpProber { client, port, timeout }
    }

    fn url(&self, ip: &str) -> String {
        if ip.contains(':') {
            format!("http://[{ip}]:{}/status", self.port)
        } else {
            format!("http://{ip}:{}/status", self.port)
        }
    }
}

impl StatusSource for HttpProber {
    fn status(&self, pod_ip: &str) -> BoxFuture<'static, Result<MemberStatus, ProbeError>> {
        let url = self.url(pod_ip);
        let (client, timeout) = (self.client.clone(), self.timeout);
        Box::pin(async move {
            match tokio::time::timeout(timeout, fetch(client, &url)).await {
                Ok(r) => r,
                Err(_) => Err(ProbeError::Timeout { url, timeout }),
            }
        })
    }
}

async fn fetch(client: Client<HttpConnector, Empty<Bytes>>, url: &str) -> Result<MemberStatus, ProbeError> {
    let http_err = |reason: String| ProbeError::Http { url: url.to_owned(), reason };
    let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| http_err(e.to_string()))?;
    let resp = client.get(uri).await.map_err(|e| http_err(e.to_string()))?;
    let status = resp.status();
    if status != http::StatusCode::OK {
        return Err(ProbeError::Status { url: url.to_owned(), status: status.as_u16() });
    }
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| http_err(format!("reading the body (limit {MAX_BODY} bytes): {e}")))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| ProbeError::Parse { url: url.to_owned(), reason: e.to_string() })
}
