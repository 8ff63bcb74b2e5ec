//! The admin endpoint of a standalone zab-node: /status, /healthz, /readyz, /metrics and
//! the AdminServer commands, over real HTTP.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client as zk;

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect to admin");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // chunked bodies: keep only the JSON/text payload lines
    let body = if text.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body.lines().collect::<Vec<_>>().chunks(2).filter_map(|c| c.get(1).copied()).collect::<Vec<_>>().join("\n")
    } else {
        body
    };
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_health_metrics_and_commands() {
    let s = start(test_config()).await;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let task = tokio::spawn(zab_node::admin::serve(admin, zab_node::admin::AdminState::standalone(s.server.clone())));
    let c = s.client().await;
    c.create("/a", b"x", &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())).await.unwrap();
    let _ = c.get_data("/a").await.unwrap();

    let (code, body) = get(admin_addr, "/status").await;
    assert_eq!(code, 200, "{body}");
    let st: zab_status::MemberStatus = serde_json::from_str(&body).expect("status parses as the shared type");
    assert_eq!(st.role, zab_status::Role::Standalone);
    assert!(st.synced && st.ready());
    assert_eq!(st.last_processed_zxid.value, s.server.last_processed_zxid());
    assert_eq!(st.last_processed_zxid.hex, format!("0x{:x}", st.last_processed_zxid.value));
    assert_eq!(st.last_logged_zxid.value, st.last_processed_zxid.value);
    assert_eq!(st.client_connections, 1);
    assert_eq!(st.digest.as_ref().map(|d| d.digest), Some(s.server.tree().digest() as i64));

    assert_eq!(get(admin_addr, "/healthz").await.0, 200);
    assert_eq!(get(admin_addr, "/readyz").await.0, 200);

    let (code, metrics) = get(admin_addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.lines().any(|l| l == "znode_count 5.0"), "{metrics}");
    assert!(metrics.contains("readlatency_count 1.0") || metrics.contains("readlatency_count 2.0"), "{metrics}");
    assert!(metrics.contains("fsynctime{quantile=\"0.5\",}"), "{metrics}");
    assert!(metrics.contains("zab_request_latency_seconds_count{op=\"getData\"} 1"), "{metrics}");
    assert!(metrics.contains("zab_fsync_seconds_count"), "{metrics}");

    let (code, ruok) = get(admin_addr, "/commands/ruok").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&ruok).unwrap();
    assert_eq!(v["command"], "ruok");
    assert!(v["error"].is_null());
    let (_, mntr) = get(admin_addr, "/commands/mntr").await;
    let v: serde_json::Value = serde_json::from_str(&mntr).unwrap();
    assert_eq!(v["command"], "monitor");
    assert_eq!(v["znode_count"], 5);
    // As ZooKeeper: 200, and the error in the body.
    let (code, body) = get(admin_addr, "/commands/nosuch").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "Unknown command: nosuch");
    let (_, lead) = get(admin_addr, "/commands/lead").await;
    let v: serde_json::Value = serde_json::from_str(&lead).unwrap();
    assert_eq!(v["error"], "server is not initialized");
    let (_, stmk) = get(admin_addr, "/commands/stmk?traceMask=7").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stmk).unwrap()["tracemask"], 7);
    let (_, gtmk) = get(admin_addr, "/commands/gtmk").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&gtmk).unwrap()["tracemask"], 7);
    task.abort();
    drop(c);
    let _ = s.stop().await;
}
