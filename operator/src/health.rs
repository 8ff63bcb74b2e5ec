//! The operator's own HTTP endpoints on --health-addr (axum): /healthz (the process
//! runs), /readyz (its watches are set up: it is leading and reconciling, or standing by
//! for the Lease), /metrics (Prometheus text). Takes a bound listener and a shutdown
//! future, so tests bind 127.0.0.1:0.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Shared with the controller.
pub struct Health {
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
}

pub fn router(h: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(h)
}

async fn readyz(State(h): State<Arc<Health>>) -> impl IntoResponse {
    if h.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics(State(h): State<Arc<Health>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], h.metrics.render())
}

/// `zab-operator healthcheck`: GET `url` (bounded in time), Ok only on 200.
pub async fn check(url: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: axum::http::Uri = url.parse().map_err(|e| anyhow::anyhow!("--url {url:?}: {e}"))?;
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let resp = tokio::time::timeout(timeout, client.get(uri))
        .await
        .map_err(|_| anyhow::anyhow!("GET {url}: no answer within {timeout:?}"))?
        .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
    anyhow::ensure!(resp.status() == StatusCode::OK, "GET {url}: HTTP {}", resp.status());
    Ok(())
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    h: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(h)).with_graceful_shutdown(shutdown).await
}
