//! `POST /commands/handover[?to=<sid>]`: zab's own command for rolling restarts (the
//! operator restarts the leader last, after handing its role over). The leader stops
//! proposing, waits until the chosen follower (or, without `to`, the most up-to-date
//! synced one that speaks zab's protocol) has acknowledged everything proposed, sends it
//! and every other learner HANDOVER, and ends its epoch; the follower then leads the next
//! epoch without an election. Writes that arrive meanwhile are refused and their
//! connections closed, as when a leader steps down: clients reconnect and retry.
//!
//! Answers:
//! - 200 `{"command":"handover","error":null,"from":<old>,"to":<new>}` once the old
//!   leader's epoch has ended (poll `/status` for the new leader serving);
//! - 409 with `error` when this member is not a serving leader, a reconfiguration is in
//!   flight, the follower cannot take over, or it did not catch up within syncLimit (the
//!   leader then goes on leading);
//! - 400 for a `to` that is not a server id; 405 for GET.
//!
//! Not a four-letter word and not reachable from the client port: only who can reach the
//! admin port can ask.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::config::ServerConfig;
use crate::zk_server::ZooKeeperServer;

fn refused(code: StatusCode, error: String) -> Response {
    (code, Json(json!({"command": "handover", "error": error}))).into_response()
}

/// The command on `server` (the current epoch's, if one serves).
pub async fn run(
    server: Option<Arc<ZooKeeperServer>>,
    config: Arc<ServerConfig>,
    query: HashMap<String, String>,
) -> Response {
    let to = match query.get("to").map(|t| t.parse::<u64>()) {
        None => None,
        Some(Ok(sid)) => Some(sid),
        Some(Err(_)) => {
            return refused(StatusCode::BAD_REQUEST, format!("to={:?} is not a server id", query.get("to")));
        }
    };
    let Some(server) = server else {
        return refused(StatusCode::CONFLICT, "this member is not serving: no leader to hand over from".into());
    };
    let from = config.server_id.max(0) as u64;
    let wait = match server.hand_over(to) {
        Ok(w) => w,
        Err(e) => return refused(StatusCode::CONFLICT, e),
    };
    let patience = config.hand_over_limit() + Duration::from_secs(5);
    let outcome = tokio::task::spawn_blocking(move || wait.recv_timeout(patience)).await;
    match outcome {
        Ok(Ok(Ok(to))) => Json(json!({"command": "handover", "error": null, "from": from, "to": to})).into_response(),
        Ok(Ok(Err(e))) => refused(StatusCode::CONFLICT, e),
        Ok(Err(_)) | Err(_) => refused(
            StatusCode::CONFLICT,
            "no outcome of the hand-over within 2 x syncLimit; check /status of the members".into(),
        ),
    }
}

pub async fn not_get() -> Response {
    refused(StatusCode::METHOD_NOT_ALLOWED, "handover changes the leader: use POST".into())
}
