//! Command line and environment of the zab-operator binary (CONTRACTS.md: each flag has an
//! environment variable the Helm chart sets). Parsing only; `main.rs` acts on it.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "zab-operator", version, about = "Reconciles ZabEnsemble resources into zab-node ensembles")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `run` (also accepted without the subcommand).
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (the default).
    Run(RunArgs),
    /// Print the ZabEnsemble CRD as YAML.
    Crd,
    /// Print the RBAC rules the operator needs, as a YAML list of PolicyRules.
    Rbac,
    /// Exit 0 when a running operator's /healthz answers 200 (the image's HEALTHCHECK).
    Healthcheck {
        /// URL to ask.
        #[arg(long, default_value = "http://127.0.0.1:8081/healthz")]
        url: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Namespaces to watch, comma separated; empty watches the whole cluster.
    #[arg(long, env = "ZAB_OPERATOR_WATCH_NAMESPACES", value_delimiter = ',', default_value = "")]
    pub watch_namespaces: Vec<String>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "ZAB_OPERATOR_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,
    /// Hold a coordination.k8s.io Lease before acting, so only one replica reconciles.
    #[arg(long, env = "ZAB_OPERATOR_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, env = "ZAB_OPERATOR_LEASE_NAME", default_value = "zab-operator")]
    pub lease_name: String,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `zab_operator=debug`.
    #[arg(long, env = "ZAB_OPERATOR_LOG", default_value = "info")]
    pub log_level: String,
    /// Seconds a restarted member may take to come back synced before the roll stops
    /// with Degraded.
    #[arg(long, env = "ZAB_OPERATOR_RESTART_TIMEOUT", default_value_t = 300)]
    pub restart_timeout_secs: u64,
}

impl RunArgs {
    /// Namespaces to watch, without empty entries (empty = all).
    pub fn namespaces(&self) -> Vec<String> {
        self.watch_namespaces.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_flags_parse_without_subcommand() {
        let c = Cli::try_parse_from(["zab-operator", "--watch-namespaces", "a, b", "--leader-election"]).unwrap();
        assert!(c.command.is_none());
        assert_eq!(c.run.namespaces(), vec!["a", "b"]);
        assert!(c.run.leader_election);
    }

    #[test]
    fn empty_namespace_list_means_cluster() {
        let c = Cli::try_parse_from(["zab-operator", "run", "--watch-namespaces", ""]).unwrap();
        match c.command {
            Some(Command::Run(a)) => assert!(a.namespaces().is_empty()),
            other => panic!("expected run, got {other:?}"),
        }
    }
}
