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

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    h: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(h)).with_graceful_shutdown(shutdown).await
}
