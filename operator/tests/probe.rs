//! The /status prober against a local HTTP server on 127.0.0.1: a report is parsed, a
//! non-200 answer, bad JSON, an oversized body and a server that never answers are errors
//! naming the URL. The test server stops with the test (its task is aborted).

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use zab_operator::probe::{HttpProber, ProbeError, StatusSource, MAX_BODY};
use zab_status::{MemberStatus, Phase, Quorum, Role, Zxid};

fn report() -> MemberStatus {
    MemberStatus {
        schema_version: 1,
        myid: 2,
        role: Role::Following,
        phase: Phase::Broadcast,
        leader_sid: Some(3),
        current_epoch: 4,
        accepted_epoch: 4,
        last_logged_zxid: Zxid::new(0x400000007),
        last_processed_zxid: Zxid::new(0x400000007),
        digest: None,
        synced: true,
        quorum: Quorum { config_version: Zxid::new(0), members: vec![] },
        reconfig_in_flight: false,
        client_connections: 0,
        outstanding_requests: 0,
        uptime_ms: 1000,
        version: "0.1.0".into(),
        zookeeper_version: "3.8.4".into(),
        learners: vec![],
    }
}

async fn serve(app: Router) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, task)
}

#[tokio::test]
async fn a_report_is_parsed() {
    let body = serde_json::to_string(&report()).unwrap();
    let (port, task) = serve(Router::new().route("/status", get(move || async move { body }))).await;
    let got = HttpProber::new(port, Duration::from_secs(5)).status("127.0.0.1").await.unwrap();
    assert_eq!(got, report());
    task.abort();
}

#[tokio::test]
async fn errors_name_the_url_and_the_cause() {
    let big = "x".repeat(MAX_BODY + 1);
    let app = Router::new()
        .route("/status", get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "starting") }))
        .route("/never", get(|| async { "" }));
    let (port, task) = serve(app).await;
    let p = HttpProber::new(port, Duration::from_secs(5));
    match p.status("127.0.0.1").await {
        Err(ProbeError::Status { status: 503, url }) => assert_eq!(url, format!("http://127.0.0.1:{port}/status")),
        other => panic!("{other:?}"),
    }
    task.abort();

    let (port, task) = serve(Router::new().route("/status", get(|| async { "{\"myid\": 1}" }))).await;
    let e = HttpProber::new(port, Duration::from_secs(5)).status("127.0.0.1").await.unwrap_err();
    assert!(matches!(e, ProbeError::Parse { .. }), "{e}");
    task.abort();

    let (port, task) = serve(Router::new().route("/status", get(move || async move { big }))).await;
    let e = HttpProber::new(port, Duration::from_secs(5)).status("127.0.0.1").await.unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
    task.abort();
}

#[tokio::test]
async fn a_member_that_never_answers_times_out() {
    // Accepts connections, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let e = HttpProber::new(port, Duration::from_millis(300)).status("127.0.0.1").await.unwrap_err();
    assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
    task.abort();
}

#[tokio::test]
async fn nobody_listening_is_an_http_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let e = HttpProber::new(port, Duration::from_secs(2)).status("127.0.0.1").await.unwrap_err();
    assert!(matches!(e, ProbeError::Http { .. }), "{e}");
}

#[tokio::test]
async fn healthcheck_passes_on_200_and_fails_otherwise() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use zab_operator::health::{check, router, Health};
    use zab_operator::metrics::Metrics;
    let h = Arc::new(Health { metrics: Arc::new(Metrics::new()), ready: AtomicBool::new(false) });
    let (port, task) = serve(router(h)).await;
    check(&format!("http://127.0.0.1:{port}/healthz"), Duration::from_secs(3)).await.unwrap();
    let e = check(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(3)).await.unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
    let m = check(&format!("http://127.0.0.1:{port}/metrics"), Duration::from_secs(3)).await;
    assert!(m.is_ok());
    task.abort();
}
