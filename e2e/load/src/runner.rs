//! Sessions, setup and the measured run.
//!
//! Each session is one `zookeeper_client::Client` (one TCP connection). The
//! client writes a request to its session task as soon as the call is made
//! and only the reply is awaited, so O worker tasks sharing one `Client`
//! (clones share the session) keep O requests in flight on that connection:
//! the requests are pipelined, the server answers them in order.
//!
//! Everything here is bounded: each request by --request-timeout, the run by
//! --duration or --ops, and the whole process by --max-wall. Network results
//! are matched, never unwrapped; a terminal session error ends that worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::task::JoinSet;
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError, SessionState};

use crate::args::{ClientKind, Plan, Stop};
use crate::report::Tally;
use crate::workload::{Request, Rng, Workload};

/// Opens `plan.sessions` sessions concurrently.
pub async fn connect_all(plan: &Plan) -> Result<Vec<Client>> {
    let mut set = JoinSet::new();
    for i in 0..plan.sessions {
        let connect = plan.connect.clone();
        let timeout = plan.session_timeout;
        set.spawn(async move {
            let connecting = Client::connector().with_session_timeout(timeout).connect(&connect);
            let client = tokio::time::timeout(timeout + Duration::from_secs(5), connecting)
                .await
                .map_err(|_| anyhow!("session {i}: connect to {connect} timed out"))?
                .with_context(|| format!("session {i}: connect to {connect}"))?;
            Ok::<_, anyhow::Error>((i, client))
        });
    }
    let mut clients: Vec<Option<Client>> = vec![None; plan.sessions];
    while let Some(joined) = set.join_next().await {
        let (i, client) = joined.context("connect task")??;
        clients[i] = Some(client);
    }
    Ok(clients.into_iter().flatten().collect())
}

/// Closes every session and waits (bounded) until each reports Closed.
pub async fn close_all(clients: Vec<Client>) {
    let mut watchers: Vec<_> = clients.iter().map(|c| c.state_watcher()).collect();
    drop(clients);
    let all_closed = async {
        for w in watchers.iter_mut() {
            while !w.peek_state().is_terminated() {
                w.changed().await;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), all_closed).await.is_err() {
        eprintln!("zab-load: some sessions did not confirm their close within 5 s");
    }
}

fn persistent() -> zookeeper_client::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// Creates `path`, its missing ancestors included; existing znodes are fine.
async fn ensure_path(client: &Client, path: &str) -> Result<()> {
    let mut at = 0;
    while at < path.len() {
        let end = path[at + 1..].find('/').map(|i| at + 1 + i).unwrap_or(path.len());
        match client.create(&path[..end], b"", &persistent()).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => bail!("create {}: {e}", &path[..end]),
        }
        at = end;
    }
    Ok(())
}

/// Work for the setup tasks.
#[derive(Clone)]
enum Setup {
    Parents(Arc<Vec<String>>),
    DataNodes,
}

async fn setup_task(client: Client, wl: Arc<Workload>, next: Arc<AtomicU64>, work: Setup, n: u64) -> Result<()> {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            return Ok(());
        }
        match &work {
            Setup::Parents(paths) => {
                let path = &paths[i as usize];
                match client.create(path, b"", &persistent()).await {
                    Ok(_) | Err(ZkError::NodeExists) => {}
                    Err(e) => bail!("create {path}: {e}"),
                }
            }
            Setup::DataNodes => {
                let path = wl.path(i);
                match client.create(&path, &wl.payload, &persistent()).await {
                    Ok(_) => {}
                    Err(ZkError::NodeExists) => {
                        client.set_data(&path, &wl.payload, None).await.with_context(|| format!("set {path}"))?;
                    }
                    Err(e) => bail!("create {path}: {e}"),
                }
            }
        }
    }
}

async fn pipelined(clients: &[Client], wl: &Arc<Workload>, work: Setup, n: u64, tasks: usize) -> Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for t in 0..tasks.max(1) {
        let client = clients[t % clients.len()].clone();
        set.spawn(setup_task(client, wl.clone(), next.clone(), work.clone(), n));
    }
    while let Some(joined) = set.join_next().await {
        joined.context("setup task")??;
    }
    Ok(())
}

/// Creates the prefix, the parents and (for read/write/mixed) the K data znodes.
pub async fn setup(plan: &Plan, wl: &Arc<Workload>, clients: &[Client]) -> Result<()> {
    let first = clients.first().ok_or_else(|| anyhow!("no session"))?;
    let parents = Arc::new(wl.parent_paths());
    if let Some(p) = parents.first() {
        let grand = &p[..p.rfind('/').unwrap_or(p.len())];
        ensure_path(first, grand).await?;
    }
    let tasks = (plan.sessions * plan.outstanding).min(256);
    let n = parents.len() as u64;
    pipelined(clients, wl, Setup::Parents(parents), n, tasks).await?;
    if plan.op != crate::args::OpKind::Create {
        pipelined(clients, wl, Setup::DataNodes, wl.znodes, tasks).await?;
    }
    Ok(())
}

/// Shared stop state of the measured run.
pub(crate) struct Shared {
    pub(crate) issued: AtomicU64,
    pub(crate) next_create: AtomicU64,
    pub(crate) limit: Option<u64>,
    pub(crate) measure_from: Instant,
    pub(crate) end: Instant,
    request_timeout: Duration,
}

fn error_kind(e: &ZkError) -> String {
    let debug = format!("{e:?}");
    debug.split(['(', ' ', '{']).next().unwrap_or("Error").to_string()
}

async fn issue(client: &Client, wl: &Workload, req: Request) -> Result<(), ZkError> {
    match req {
        Request::Get(i) => client.get_data(&wl.path(i)).await.map(|_| ()),
        Request::Set(i) => client.set_data(&wl.path(i), &wl.payload, None).await.map(|_| ()),
        Request::Create(i) => client.create(&wl.path(i), &wl.payload, &persistent()).await.map(|_| ()),
    }
}

/// One in-flight slot: issues a request, waits for its reply, repeats.
async fn worker(client: Client, wl: Arc<Workload>, shared: Arc<Shared>, seed: u64) -> (Tally, Option<Instant>) {
    let mut tally = Tally::new();
    let mut rng = Rng::new(seed);
    let mut last = None;
    loop {
        if Instant::now() >= shared.end {
            break;
        }
        if let Some(limit) = shared.limit {
            if shared.issued.fetch_add(1, Ordering::Relaxed) >= limit {
                break;
            }
        }
        let req = wl.choose(rng.next_u64(), || shared.next_create.fetch_add(1, Ordering::Relaxed));
        if matches!(req, Request::Create(i) if i >= wl.znodes) {
            break;
        }
        let start = Instant::now();
        let result = tokio::time::timeout(shared.request_timeout, issue(&client, &wl, req)).await;
        let done = Instant::now();
        last = Some(done);
        let measured = start >= shared.measure_from;
        match result {
            Ok(Ok(())) if measured => tally.record_ok(done - start),
            Ok(Ok(())) => tally.warmup += 1,
            Ok(Err(e)) => {
                let terminal = matches!(e, ZkError::SessionExpired | ZkError::AuthFailed | ZkError::ClientClosed);
                if measured {
                    tally.record_error(error_kind(&e));
                }
                if terminal || client.state() == SessionState::Expired {
                    break;
                }
            }
            Err(_) if measured => tally.record_error("RequestTimeout".to_string()),
            Err(_) => {}
        }
    }
    (tally, last)
}

/// The measured run: `sessions x outstanding` workers. Returns the merged
/// tally and the length of the measured window.
pub async fn run(plan: &Plan, wl: &Arc<Workload>, clients: &[Client]) -> Result<(Tally, Duration)> {
    let start = Instant::now();
    let (limit, measure_from, end) = match plan.stop {
        Stop::Duration { warmup, measure } => (None, start + warmup, start + warmup + measure),
        Stop::Ops(n) => (Some(n), start, start + plan.max_wall),
    };
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        next_create: AtomicU64::new(0),
        limit,
        measure_from,
        end,
        request_timeout: plan.request_timeout,
    });
    let results = match plan.client {
        ClientKind::Wire => crate::wire::run(plan, wl, shared).await?,
        ClientKind::ZookeeperClient => {
            let mut set = JoinSet::new();
            for (s, client) in clients.iter().enumerate() {
                for o in 0..plan.outstanding {
                    let seed = (s as u64) << 32 | o as u64;
                    set.spawn(worker(client.clone(), wl.clone(), shared.clone(), seed));
                }
            }
            let mut results = Vec::new();
            while let Some(joined) = set.join_next().await {
                results.push(joined.context("worker task")?);
            }
            results
        }
    };
    let mut total = Tally::new();
    let mut last_done = measure_from;
    for (tally, last) in results {
        total.merge(&tally);
        if let Some(t) = last {
            last_done = last_done.max(t);
        }
    }
    let window = match plan.stop {
        Stop::Duration { measure, .. } => last_done.saturating_duration_since(measure_from).max(measure),
        Stop::Ops(_) => last_done.saturating_duration_since(measure_from),
    };
    Ok((total, window))
}
