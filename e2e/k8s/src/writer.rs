//! A continuous writer for the operator scenarios: one session through the client Service
//! doing setData of an increasing counter on one znode, for a bounded time and count,
//! recording every acknowledged write, errors (SessionExpired apart), and the longest pause
//! between two acknowledged writes. At the end the znode is read back: a value below the last
//! acknowledged one is a lost write.
//! Never: run unbounded; count an unacknowledged write as acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::task::JoinHandle;

use crate::zk::{self, bounded, persistent, read_synced};

/// What the writer saw.
#[derive(Debug, Clone, Default)]
pub struct WriterReport {
    pub acknowledged: u64,
    pub errors: u64,
    pub session_expired: u64,
    pub longest_pause: Duration,
    /// Acknowledged writes missing from the final value (goal 0).
    pub lost: u64,
}

impl std::fmt::Display for WriterReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "writes acknowledged {}, lost {}, errors {}, SessionExpired {}, longest write pause {:.2}s",
            self.acknowledged,
            self.lost,
            self.errors,
            self.session_expired,
            self.longest_pause.as_secs_f64()
        )
    }
}

pub struct Writer {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<(u64, WriterReport)>>,
    addr: String,
    path: String,
}

/// Upper bounds of one writer.
const MAX_WRITES: u64 = 200_000;
const MAX_TIME: Duration = Duration::from_secs(900);

impl Writer {
    /// Creates `path` and starts writing through `addr`.
    pub async fn start(addr: &str, path: &str) -> Result<Writer> {
        let zk = zk::connect(addr).await?;
        bounded(&format!("create {path}"), zk.create(path, b"0", &persistent())).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let (s, p, a) = (stop.clone(), path.to_owned(), addr.to_owned());
        let task = tokio::spawn(async move { write_loop(zk, a, p, s).await });
        Ok(Writer { stop, task, addr: addr.to_owned(), path: path.to_owned() })
    }

    /// Stops, reads the znode back, and reports.
    pub async fn finish(self) -> Result<WriterReport> {
        self.stop.store(true, Ordering::Relaxed);
        let (last_acked, mut report) = self.task.await.context("writer task")??;
        let zk = zk::connect(&self.addr).await?;
        let data = read_synced(&zk, &self.path).await?;
        let value: u64 = String::from_utf8_lossy(&data).parse().unwrap_or(0);
        report.lost = last_acked.saturating_sub(value);
        Ok(report)
    }
}

async fn write_loop(
    mut zk: zookeeper_client::Client,
    addr: String,
    path: String,
    stop: Arc<AtomicBool>,
) -> Result<(u64, WriterReport)> {
    let started = Instant::now();
    let mut report = WriterReport::default();
    let mut last_ack = Instant::now();
    let mut next = 1u64;
    let mut last_acked = 0u64;
    while !stop.load(Ordering::Relaxed) && next <= MAX_WRITES && started.elapsed() < MAX_TIME {
        let value = next.to_string();
        match tokio::time::timeout(Duration::from_secs(15), zk.set_data(&path, value.as_bytes(), None)).await {
            Ok(Ok(_)) => {
                report.acknowledged += 1;
                last_acked = next;
                report.longest_pause = report.longest_pause.max(last_ack.elapsed());
                last_ack = Instant::now();
            }
            Ok(Err(e)) => {
                report.errors += 1;
                if e == zookeeper_client::Error::SessionExpired {
                    report.session_expired += 1;
                }
                use zookeeper_client::Error as E;
                if matches!(e, E::SessionExpired | E::ClientClosed | E::NoHosts | E::AuthFailed) {
                    // A new session; the znode keeps its value.
                    if let Ok(z) = zk::connect(&addr).await {
                        zk = z;
                    }
                }
                // Pace retries while the ensemble elects (bounded by MAX_TIME).
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => report.errors += 1,
        }
        next += 1;
    }
    Ok((last_acked, report))
}
