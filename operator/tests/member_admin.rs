//! The hand-over call against a local HTTP server on 127.0.0.1, answering as zab-node's
//! `POST /commands/handover` does: 200 with from/to, 409 with the refusal in `error`, 404
//! from a zab-node without the command, and no answer in time. The test server stops with
//! the test (its task is aborted).

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use zab_operator::member_admin::{AdminError, HandOver, MemberAdmin, NodeAdmin};

async fn serve(app: Router) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, task)
}

#[derive(serde::Deserialize)]
struct To {
    to: Option<u64>,
}

async fn handover(Query(q): Query<To>) -> (StatusCode, String) {
    match q.to {
        Some(1) => (StatusCode::OK, r#"{"command":"handover","error":null,"from":3,"to":1}"#.into()),
        Some(t) => (
            StatusCode::CONFLICT,
            format!(r#"{{"command":"handover","error":"server {t} is not a synced follower","from":3,"to":null}}"#),
        ),
        None => (StatusCode::BAD_REQUEST, r#"{"command":"handover","error":"to is required here"}"#.into()),
    }
}

#[tokio::test]
async fn a_hand_over_is_asked_of_the_leader_and_its_answer_read() {
    let (port, task) = serve(Router::new().route("/commands/handover", post(handover))).await;
    let admin = NodeAdmin::new(port, 1, Duration::from_secs(5));
    assert_eq!(admin.handover("127.0.0.1", Some(1)).await.unwrap(), HandOver { from: 3, to: 1 });
    match admin.handover("127.0.0.1", Some(2)).await.unwrap_err() {
        AdminError::Refused { status: 409, reason, .. } => {
            assert_eq!(reason, "HTTP 409: server 2 is not a synced follower")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(admin.handover("127.0.0.1", None).await.unwrap_err(), AdminError::Refused { status: 400, .. }));
    task.abort();
}

#[tokio::test]
async fn an_older_zab_node_without_the_command_is_unsupported() {
    let (port, task) = serve(Router::new()).await;
    let admin = NodeAdmin::new(port, 1, Duration::from_secs(5));
    assert_eq!(
        admin.handover("127.0.0.1", Some(1)).await.unwrap_err(),
        AdminError::Unsupported { what: "POST /commands/handover" }
    );
    task.abort();
}

#[tokio::test]
async fn no_answer_in_time_is_a_failure() {
    let app = Router::new().route(
        "/commands/handover",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            ""
        }),
    );
    let (port, task) = serve(app).await;
    let admin = NodeAdmin::new(port, 1, Duration::from_millis(300));
    match admin.handover("127.0.0.1", Some(1)).await.unwrap_err() {
        AdminError::Failed { reason, .. } => assert!(reason.contains("no answer within"), "{reason}"),
        other => panic!("{other:?}"),
    }
    task.abort();
}
