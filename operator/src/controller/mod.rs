//! The controller: `kube::runtime::Controller` on ZabEnsembles, owning their StatefulSets,
//! Services, ConfigMaps and PDBs and watching their Pods, with the reconcile pipeline in
//! `reconcile.rs` (dereference -> validate -> build -> apply -> plan -> execute ->
//! update_status). `run` wires the client, the health server, leader election and the watch
//! scope (one namespace, a list, or the cluster). Only the Lease holder reconciles.

mod apply;
mod execute;
mod reconcile;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::net::TcpListener;
use tracing::{error, info, warn};

pub use reconcile::reconcile;

use crate::build::BuildError;
use crate::cli::RunArgs;
use crate::crd::ZabEnsemble;
use crate::health::{self, Health};
use crate::leader::{LeaseLock, LeaseTiming};
use crate::member_admin::{MemberAdmin, NodeAdmin};
use crate::metrics::Metrics;
use crate::planner::Limits;
use crate::probe::{HttpProber, StatusSource};

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "zab-operator";

/// Failures of one reconcile; the controller retries after `error_policy`'s delay.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("encoding {what}: {source}")]
    Encode { what: &'static str, source: serde_json::Error },
    #[error("no random bytes for the super user's password: {0}")]
    Random(String),
}

impl Error {
    /// Short label for the errors metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "client",
            Error::Build(_) => "build",
            Error::Encode { .. } => "encode",
            Error::Random(_) => "random",
        }
    }
}

/// A source of "now" (tests drive it).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub prober: Arc<dyn StatusSource>,
    /// Hand-overs and reconfigs on members.
    pub admin: Arc<dyn MemberAdmin>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub clock: Clock,
    /// Per ensemble: pod uid -> when it was first seen out of the ensemble.
    pub out_since: std::sync::Mutex<HashMap<String, HashMap<String, Timestamp>>>,
}

impl Context {
    pub fn new(
        client: Client,
        prober: Arc<dyn StatusSource>,
        metrics: Arc<Metrics>,
        limits: Limits,
        clock: Clock,
    ) -> Context {
        let reporter = Reporter { controller: "zab-operator".into(), instance: std::env::var("POD_NAME").ok() };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            prober,
            // A hand-over answers within 2 x syncLimit + 5 s (zab-node's patience).
            admin: Arc::new(NodeAdmin::new(
                crate::build::ADMIN_PORT as u16,
                crate::build::CLIENT_PORT as u16,
                Duration::from_secs(90),
            )),
            metrics,
            limits,
            clock,
            out_since: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl Context {
    /// The same context with another member admin (tests use a fake).
    pub fn with_admin(mut self, admin: Arc<dyn MemberAdmin>) -> Context {
        self.admin = admin;
        self
    }
}

/// After a failed reconcile: count it, retry soon.
pub fn error_policy(ens: Arc<ZabEnsemble>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(err.kind());
    warn!(ensemble = %ens.name_any(), error = %err, "reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the operator until a signal, or until leadership is lost.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .map_err(|e| anyhow::anyhow!("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {e}"))?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health { metrics: metrics.clone(), ready: Default::default() });
    let listener = TcpListener::bind(args.health_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on --health-addr {}: {e}", args.health_addr))?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let health_task = tokio::spawn(health::serve(listener, health.clone(), async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));

    let identity = std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .unwrap_or_else(|| format!("zab-operator-{}", std::process::id()));
    let lock = args.leader_election.then(|| {
        LeaseLock::new(
            Api::namespaced(client.clone(), &args.lease_namespace),
            &args.lease_name,
            &identity,
            LeaseTiming::default(),
        )
    });
    health.ready.store(true, Ordering::Relaxed);
    if let Some(lock) = &lock {
        info!(identity = %identity, lease = %args.lease_name, namespace = %args.lease_namespace, "waiting for the leader Lease");
        tokio::select! {
            _ = lock.acquire() => {}
            _ = shutdown_signal() => {
                let _ = stop_tx.send(true);
                return Ok(());
            }
        }
    }
    metrics.leader.set(1);

    let limits = Limits { restart_timeout: Duration::from_secs(args.restart_timeout_secs), ..Limits::default() };
    let prober = Arc::new(HttpProber::new(crate::build::ADMIN_PORT as u16, Duration::from_secs(2)));
    let ctx = Arc::new(Context::new(client.clone(), prober, metrics.clone(), limits, Arc::new(Timestamp::now)));
    let namespaces = args.namespaces();
    if namespaces.is_empty() {
        info!("starting the ZabEnsemble controller for the whole cluster");
    } else {
        info!(namespaces = ?namespaces, "starting the ZabEnsemble controller");
    }
    let scopes: Vec<Option<String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.into_iter().map(Some).collect() };
    let controllers =
        futures::future::join_all(scopes.into_iter().map(|ns| controller(client.clone(), ns, ctx.clone())));

    let lost = async {
        match &lock {
            Some(lock) => lock.keep().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        _ = controllers => Ok(()),
        _ = shutdown_signal() => { info!("shutting down"); Ok(()) }
        _ = lost => Err(anyhow::anyhow!("lost the leader Lease; exiting so that only one replica acts")),
    };
    metrics.leader.set(0);
    if let Some(lock) = &lock {
        if result.is_ok() {
            if let Err(e) = lock.release().await {
                warn!(error = %e, "could not release the leader Lease; it expires by itself");
            }
        }
    }
    let _ = stop_tx.send(true);
    let _ = health_task.await;
    result
}

/// One Controller for one namespace (or, with None, the cluster).
async fn controller(client: Client, ns: Option<String>, ctx: Arc<Context>) {
    fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let owned = || watcher::Config::default().labels("app.kubernetes.io/managed-by=zab-operator");
    let pods = watcher::Config::default().labels("app.kubernetes.io/name=zab-node");
    Controller::new(api::<ZabEnsemble>(&client, &ns), watcher::Config::default())
        .owns(api::<StatefulSet>(&client, &ns), owned())
        .owns(api::<Service>(&client, &ns), owned())
        .owns(api::<ConfigMap>(&client, &ns), owned())
        .owns(api::<PodDisruptionBudget>(&client, &ns), owned())
        .watches(api::<Pod>(&client, &ns), pods, |pod: Pod| {
            let ns = pod.namespace()?;
            let instance = pod.labels().get("app.kubernetes.io/instance")?.clone();
            Some(ObjectRef::<ZabEnsemble>::new(&instance).within(&ns))
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            match r {
                Ok((obj, _)) => tracing::debug!(ensemble = %obj.name, "reconciled"),
                Err(e) => error!(error = %e, "controller"),
            }
        })
        .await;
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
