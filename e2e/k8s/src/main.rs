//! `zab-k8s-e2e`: runs zab's numbered Kubernetes scenarios against the cluster `KUBECONFIG`
//! names. `zab-k8s-e2e t00` runs the scenarios whose names start so, `--all` runs every one,
//! `--list` names them. Each scenario runs in its own namespace, deleted afterwards; a failure
//! prints what was expected and seen, then the namespace's events, pod logs and every member's
//! `/status`. The last line is `k8s: N passed, M failed`; the exit code is non-zero on any
//! failure (or when nothing was selected).
//! Never: count a scenario that did not run as passed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use zab_k8s_e2e::cluster::{self, Ctx};
use zab_k8s_e2e::diag::dump_diagnostics;
use zab_k8s_e2e::scenarios::{self, Scenario, ALL};

const NAMESPACE_DELETE_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Parser)]
#[command(about = "zab's Kubernetes scenarios (KUBECONFIG-driven)")]
struct Args {
    /// Scenario names or prefixes (t00, t00_statefulset_smoke).
    names: Vec<String>,
    /// Run every scenario.
    #[arg(long)]
    all: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// zab-node's image.
    #[arg(long, env = "ZAB_E2E_NODE_IMAGE", default_value = "localhost/zab-node:e2e")]
    node_image: String,
    /// zab-operator's image.
    #[arg(long, env = "ZAB_E2E_OPERATOR_IMAGE", default_value = "localhost/zab-operator:e2e")]
    operator_image: String,
    /// Keep a failed scenario's namespace for inspection.
    #[arg(long)]
    keep_failed: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if args.list {
        for s in ALL {
            println!("{}  {}", s.name, s.about);
        }
        return ExitCode::SUCCESS;
    }
    let selected = if args.all { ALL.iter().collect() } else { scenarios::select(&args.names).unwrap_or_default() };
    if selected.is_empty() {
        eprintln!("zab-k8s-e2e: no scenario selected (name one, e.g. t00, or pass --all; --list names them)");
        if let Err(e) = scenarios::select(&args.names) {
            eprintln!("zab-k8s-e2e: {e}");
        }
        println!("k8s: 0 passed, 0 failed");
        return ExitCode::FAILURE;
    }
    let client = match cluster::connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zab-k8s-e2e: {e:#}");
            println!("k8s: 0 passed, {} failed", selected.len());
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for s in selected {
        match run_one(&client, s, &args).await {
            Ok(()) => passed += 1,
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e:#}", s.name);
            }
        }
    }
    println!("k8s: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One scenario in a fresh namespace: run within its deadline, diagnostics on failure, then
/// the namespace is deleted (a namespace that will not go away fails the scenario too).
async fn run_one(client: &kube::Client, s: &Scenario, args: &Args) -> Result<()> {
    let started = Instant::now();
    let ns = cluster::create_namespace(client, s.name).await?;
    tracing::info!("{}: namespace {ns}", s.name);
    let ctx = Ctx {
        client: client.clone(),
        ns: ns.clone(),
        node_image: args.node_image.clone(),
        operator_image: args.operator_image.clone(),
    };
    let outcome = match tokio::time::timeout(s.timeout, (s.run)(ctx)).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("did not finish within {}s", s.timeout.as_secs())),
    };
    if let Err(e) = &outcome {
        eprintln!("{} failed: {e:#}", s.name);
        dump_diagnostics(client, &ns).await;
        if args.keep_failed {
            eprintln!("{}: keeping namespace {ns} (--keep-failed)", s.name);
            return outcome;
        }
    }
    let cleanup = cluster::delete_namespace(client, &ns, NAMESPACE_DELETE_TIMEOUT).await;
    let secs = started.elapsed().as_secs_f64();
    match (&outcome, cleanup) {
        (Ok(()), Ok(())) => {
            println!("ok   {} ({secs:.1}s)", s.name);
            Ok(())
        }
        (Ok(()), Err(e)) => Err(e.context(format!("passed, but its namespace {ns} was not deleted"))),
        (Err(_), Err(e)) => {
            eprintln!("{}: namespace {ns} not deleted either: {e:#}", s.name);
            outcome
        }
        (Err(_), Ok(())) => outcome,
    }
}
