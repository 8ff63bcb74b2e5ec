//! zab-load: a load generator for ZooKeeper-compatible servers (Apache
//! ZooKeeper, zab-node), used by e2e/bench/compare.sh.
//!
//! `zab-load --connect HOST:PORT --sessions S --outstanding O
//!  --op {read,write,create,mixed} (--duration SECS | --ops N) --size BYTES
//!  [--znodes K] [--path-prefix /bench]`
//!
//! Opens S sessions, runs O pipelined requests in flight on each, records
//! every latency in an hdrhistogram, and prints throughput and p50/p99/p999/max
//! followed by one JSON line. It stops by itself (--duration, --ops, and the
//! hard --max-wall bound) and only talks to the server it is given.
//!
//! Layout:
//! * `args`     command line and the validated run plan
//! * `workload` znode paths, payload, choice of the next request (pure)
//! * `runner`   sessions, setup, the pipelined workers (through zookeeper-client)
//! * `wire`     the measured run on the wire protocol itself (the default client)
//! * `report`   tallies, percentiles, text and JSON output

mod args;
mod report;
mod runner;
mod wire;
mod workload;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Parser;

use crate::args::Args;
use crate::report::Summary;
use crate::workload::Workload;

fn main() -> Result<()> {
    let args = Args::parse();
    let plan = args.plan()?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder.enable_all().build().context("tokio runtime")?;
    runtime.block_on(async move {
        // Connecting, setup and teardown get their own bounded allowance on
        // top of the run's --max-wall.
        let bound = plan.max_wall + plan.session_timeout * 2 + Duration::from_secs(600);
        tokio::time::timeout(bound, run(plan))
            .await
            .map_err(|_| anyhow!("zab-load: gave up after {} s", bound.as_secs()))?
    })
}

async fn run(plan: args::Plan) -> Result<()> {
    let clients = runner::connect_all(&plan).await?;
    let wl = Arc::new(Workload::new(&plan));
    runner::setup(&plan, &wl, &clients).await.context("setup")?;
    let (tally, window) = runner::run(&plan, &wl, &clients).await?;
    runner::close_all(clients).await;
    let summary = Summary::new(&tally, window);
    print!("{}", report::text(&plan, &tally, &summary));
    println!("{}", report::json(&plan, &tally, &summary));
    Ok(())
}
