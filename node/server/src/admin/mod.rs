//! The HTTP endpoint the operator steers by, on `admin.serverAddress:admin.serverPort`
//! (default 0.0.0.0:8080, as ZooKeeper's AdminServer):
//!
//! - `GET /status` — [`zab_status::MemberStatus`] as JSON (schema: node/status/status.schema.json).
//! - `GET /healthz` — 200 while the process and its event loop answer.
//! - `GET /readyz` — 200 while serving clients (standalone, or in broadcast with a leader),
//!   503 otherwise, with the status as the body.
//! - `GET /metrics` — Prometheus text format.
//! - `GET /commands/<name>` — ZooKeeper AdminServer commands, same names and JSON keys.
//! - `POST /commands/handover[?to=<sid>]` — zab's own, on this port only (no four-letter
//!   word): the leader hands its role over to a synced follower ([`handover`]).
//!
//! Handlers read snapshots of state (atomics, short read locks); they never wait on the
//! request pipeline.

pub mod commands;
pub mod handover;
pub mod metrics;
pub mod quorum;
pub mod status;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tracing::info;

use crate::config::ServerConfig;
use crate::peer_state::PeerInfo;
use crate::zk_server::ZooKeeperServer;
use crate::ServerSlot;

/// What the endpoint reports on: the server clients are handed to (always the same one
/// standalone; in an ensemble the current epoch's, or none while electing), and in an
/// ensemble the member's [`PeerInfo`].
#[derive(Clone)]
pub struct AdminState {
    slot: ServerSlot,
    peer: Option<Arc<PeerInfo>>,
    config: Arc<ServerConfig>,
}

impl AdminState {
    pub fn standalone(server: Arc<ZooKeeperServer>) -> AdminState {
        let config = Arc::new(server.config.clone());
        AdminState { slot: Arc::new(parking_lot::RwLock::new(Some(server))), peer: None, config }
    }

    pub fn ensemble(slot: ServerSlot, peer: Arc<PeerInfo>, config: ServerConfig) -> AdminState {
        AdminState { slot, peer: Some(peer), config: Arc::new(config) }
    }

    /// The current epoch's server, if one is serving.
    fn server(&self) -> Option<Arc<ZooKeeperServer>> {
        self.slot.read().clone().filter(|s| s.is_serving())
    }

    fn status(&self) -> zab_status::MemberStatus {
        status::member_status(self.server().as_deref(), self.peer.as_deref(), &self.config)
    }
}

type Shared = AdminState;

/// ZooKeeper's answer while no database is being served.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The routes, with the AdminServer commands under `command_url` (`admin.commandURL`).
pub fn router(server: Shared, command_url: &str) -> Router {
    let base = format!("/{}", command_url.trim_matches('/'));
    Router::new()
        .route("/status", get(status_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .route("/metrics", get(metrics_handler))
        .route(&format!("{base}/handover"), post(handover_handler).get(handover::not_get))
        .route(&format!("{base}/{{name}}"), get(command_handler))
        .route(&base, get(command_list))
        .route(&format!("{base}/"), get(command_list))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "no such endpoint; see /commands, /status, /healthz, /readyz, /metrics"}))) })
        .with_state(server)
}

async fn status_handler(State(s): State<Shared>) -> Json<zab_status::MemberStatus> {
    Json(s.status())
}

async fn ready_handler(State(s): State<Shared>) -> Response {
    let st = s.status();
    let code = if st.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(st)).into_response()
}

async fn metrics_handler(State(s): State<Shared>) -> Response {
    let Some(s) = s.server() else {
        let body = format!("# {NOT_SERVING}: electing or synchronising\n");
        return ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response();
    };
    let body = tokio::task::spawn_blocking(move || metrics::render(&s)).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// ZooKeeper answers every command, even an unknown one, with 200 and a JSON body whose
/// `error` says what went wrong.
async fn command_handler(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    match s.server() {
        Some(server) => Json(commands::run(&server, &name, &query)).into_response(),
        None => Json(serde_json::json!({"command": name, "error": NOT_SERVING})).into_response(),
    }
}

async fn handover_handler(
    State(s): State<Shared>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    handover::run(s.server(), s.config.clone(), query).await
}

async fn command_list() -> Response {
    commands::link_list().into_response()
}

/// Serves the endpoint on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, server: Shared) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "admin endpoint (status, healthz, readyz, metrics, commands)");
    }
    let url = server.config.admin_command_url.clone();
    let app = router(server, &url);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "admin endpoint stopped");
    }
}
