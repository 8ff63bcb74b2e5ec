//! The zab-node binary: reads zoo.cfg (as `zab-node --config PATH` or, like ZooKeeper's
//! QuorumPeerMain, `zab-node PATH`), applies flags, environment and `-D` settings on top,
//! and serves. With no arguments it serves 127.0.0.1:2181 with its data under ./data.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tracing::info;
use zab_node::config::{ConfigBuilder, ServerConfig};

#[derive(Parser, Debug)]
#[command(
    name = "zab-node",
    version,
    about = "A ZooKeeper 3.8 compatible server",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// zoo.cfg to read.
    #[arg(long, env = "ZAB_CONFIG")]
    config: Option<PathBuf>,
    /// zoo.cfg as a positional argument, as ZooKeeper's QuorumPeerMain takes it.
    #[arg(value_name = "ZOO_CFG")]
    config_positional: Option<PathBuf>,
    /// Overrides clientPort. Also read from the environment variable ZAB_CLIENT_PORT, where a
    /// Kubernetes service-link value (`tcp://10.96.13.120:2181`, injected for a Service named
    /// `zab-client`) is ignored with a warning.
    #[arg(long)]
    client_port: Option<u16>,
    /// Overrides clientPortAddress.
    #[arg(long, env = "ZAB_CLIENT_PORT_ADDRESS")]
    client_port_address: Option<String>,
    /// Overrides dataDir.
    #[arg(long, env = "ZAB_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Take myid from the hostname's trailing `-N` (a StatefulSet pod ordinal): myid = N+1,
    /// written to dataDir/myid when absent; refuses to start when that file names another id.
    #[arg(long)]
    myid_from_hostname: bool,
    /// A read-only zoo.cfg to start from (a Kubernetes ConfigMap): copied to --config when
    /// that does not exist; when --config names a dynamic configuration newer than this
    /// file's (left by a reconfig), that one is kept and every other setting taken from here.
    #[arg(long, requires = "config")]
    seed_config: Option<PathBuf>,
    /// Any setting, as ZooKeeper's JVM system properties: -Dzookeeper.extendedTypesEnabled=true
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    define: Vec<String>,
}

/// Offline tools on data directories.
#[derive(clap::Subcommand, Debug)]
enum Tool {
    /// Print every txn of a transaction log file (like ZooKeeper's TxnLogToolkit).
    Logdump { file: PathBuf },
    /// Print a snapshot's summary, and with --nodes every node (like SnapshotFormatter).
    Snapdump {
        file: PathBuf,
        #[arg(long)]
        nodes: bool,
    },
    /// Check every snapshot and log of a data directory, and a full restore.
    Verify {
        data_dir: PathBuf,
        /// dataLogDir, when it differs from dataDir.
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
    /// Delete old snapshots and logs, keeping the COUNT newest snapshots (like zkCleanup.sh).
    Purge {
        data_dir: PathBuf,
        #[arg(long)]
        log_dir: Option<PathBuf>,
        #[arg(long, short = 'n', default_value_t = 3)]
        count: usize,
    },
    /// GET the admin endpoint; exit 0 on a 200 answer, 1 otherwise (an image's HEALTHCHECK).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
        /// Connect and read timeout in milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Change an ensemble's membership (the reconfig op, as zkCli's `reconfig`), or print
    /// its configuration (`members`). Needs reconfigEnabled=true, and a super user
    /// (--auth digest:super:PASSWORD) unless the servers run with skipACL.
    Reconfig {
        /// A member's client address.
        #[arg(long, default_value = "127.0.0.1:2181")]
        server: String,
        /// A joining server, `server.N=host:quorumPort:electionPort[:type];[addr:]clientPort`.
        #[arg(long)]
        add: Vec<String>,
        /// A leaving server's id.
        #[arg(long)]
        remove: Vec<u64>,
        /// Every member of the new configuration (comma-separated server.N=... lines).
        #[arg(long, conflicts_with_all = ["add", "remove"])]
        members: Option<String>,
        /// Only from this configuration version (hex, as /zookeeper/config's version=).
        #[arg(long)]
        from_config: Option<String>,
        /// `addauth` first: SCHEME:AUTH, e.g. digest:super:secret.
        #[arg(long)]
        auth: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        #[command(subcommand)]
        show: Option<ReconfigShow>,
    },
    /// Hidden, for e2e/quorum/election_interop.sh only (checking zab's election against
    /// ZooKeeper's): one leader election as the zoo.cfg's member with the given last zxid and
    /// epoch; prints `<state> <leader>`, keeps answering for --hold-ms, exits. It does not
    /// run a member (no sync, no serving).
    #[command(hide = true)]
    ElectOnce {
        config: PathBuf,
        #[arg(long, default_value_t = 0)]
        zxid: i64,
        #[arg(long, default_value_t = 0)]
        epoch: i64,
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
    },
}

#[derive(clap::Subcommand, Debug)]
enum ReconfigShow {
    /// Print /zookeeper/config (the configuration in force) and change nothing.
    Members,
}

fn run_tool(tool: Tool) -> anyhow::Result<()> {
    match tool {
        Tool::Logdump { file } => print!("{}", zab_node::tools::logdump(&file).map_err(anyhow::Error::msg)?),
        Tool::Snapdump { file, nodes } => {
            print!("{}", zab_node::tools::snapdump(&file, nodes).map_err(anyhow::Error::msg)?)
        }
        Tool::Verify { data_dir, log_dir } => {
            let log_dir = log_dir.unwrap_or_else(|| data_dir.clone());
            let (report, ok) = zab_node::tools::verify(&data_dir, &log_dir);
            print!("{report}");
            if !ok {
                std::process::exit(1);
            }
        }
        Tool::Purge { data_dir, log_dir, count } => {
            let log_dir = log_dir.unwrap_or_else(|| data_dir.clone());
            for p in zab_node::tools::purge(&data_dir, &log_dir, count).map_err(anyhow::Error::msg)? {
                println!("removed {}", p.display());
            }
        }
        Tool::Healthcheck { url, timeout_ms } => {
            match zab_node::healthcheck::get_status(&url, std::time::Duration::from_millis(timeout_ms)) {
                Ok(200) => {}
                Ok(code) => {
                    eprintln!("{url}: HTTP {code}");
                    std::process::exit(1);
                }
                Err(e) => {
                    eprintln!("{url}: {e}");
                    std::process::exit(1);
                }
            }
        }
        Tool::Reconfig { server, add, remove, members, from_config, auth, timeout_ms, show } => {
            let timeout = std::time::Duration::from_millis(timeout_ms);
            let mut c = zab_node::client::Client::connect(&server, timeout)?;
            if let Some(auth) = auth {
                let (scheme, id) = auth.split_once(':').context("--auth is SCHEME:AUTH")?;
                c.add_auth(scheme, id.as_bytes()).map_err(|e| anyhow::anyhow!("addauth {scheme}: {e}"))?;
            }
            let (data, stat) = match show {
                Some(ReconfigShow::Members) => c.get_data("/zookeeper/config")?,
                None => {
                    if add.is_empty() && remove.is_empty() && members.is_none() {
                        anyhow::bail!("nothing to change: give --add, --remove or --members (or the members command)");
                    }
                    let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join(","));
                    let cur_config_id = match from_config {
                        Some(v) => i64::from_str_radix(v.trim_start_matches("0x"), 16)
                            .with_context(|| format!("--from-config {v:?} is not a hexadecimal version"))?,
                        None => -1,
                    };
                    let req = zab_jute::proto::ReconfigRequest {
                        joining_servers: join(add),
                        leaving_servers: join(remove.iter().map(u64::to_string).collect()),
                        new_members: members,
                        cur_config_id,
                    };
                    c.reconfig(&req).map_err(|e| anyhow::anyhow!("reconfig failed: {e}"))?
                }
            };
            c.close();
            println!("{}", String::from_utf8_lossy(&data));
            eprintln!("mzxid=0x{:x} version={}", stat.mzxid, stat.version);
        }
        Tool::ElectOnce { config, zxid, epoch, hold_ms } => {
            zab_node::peer::election::elect_once(&config, zxid, epoch, std::time::Duration::from_millis(hold_ms))?
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ZAB_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if let Some(tool) = cli.tool {
        return run_tool(tool);
    }
    let mut b = ConfigBuilder::default();
    let file = cli.config.or(cli.config_positional);
    let mut defaults = ServerConfig::default();
    if let (Some(seed), Some(path)) = (&cli.seed_config, &file) {
        let seeded = zab_node::config::seed::from_seed(seed, path)
            .with_context(|| format!("making {} from --seed-config {}", path.display(), seed.display()))?;
        info!(seed = %seed.display(), config = %path.display(), ?seeded, "zoo.cfg made from the seed");
    }
    match &file {
        Some(path) => {
            b.load_file(path).with_context(|| format!("reading {}", path.display()))?;
            // ZooKeeper binds every interface when clientPortAddress is not set.
            defaults.client_port_address = "0.0.0.0".parse()?;
        }
        None => {
            info!("no zoo.cfg given: serving 127.0.0.1:2181 with data under ./data, admin endpoint on 127.0.0.1:8080");
            defaults.admin_address = "127.0.0.1".parse()?;
        }
    }
    for d in &cli.define {
        let (k, v) = d.split_once('=').with_context(|| format!("-D{d}: expected KEY=VALUE"))?;
        b.set(k, v, "-D");
    }
    if let Some(p) = cli.client_port {
        b.set("clientPort", &p.to_string(), "--client-port");
    } else if let Ok(v) = std::env::var("ZAB_CLIENT_PORT") {
        match zab_node::startup::parse_env_port("ZAB_CLIENT_PORT", &v).map_err(anyhow::Error::msg)? {
            zab_node::startup::EnvPort::Port(p) => b.set("clientPort", &p.to_string(), "ZAB_CLIENT_PORT"),
            zab_node::startup::EnvPort::ServiceLink => tracing::warn!(
                value = %v,
                "ZAB_CLIENT_PORT looks like a Kubernetes service link (a Service named zab-client); ignored, clientPort comes from zoo.cfg or --client-port"
            ),
        }
    }
    if let Some(a) = &cli.client_port_address {
        b.set("clientPortAddress", a, "--client-port-address");
    }
    if let Some(d) = &cli.data_dir {
        b.set("dataDir", &d.display().to_string(), "--data-dir");
    }
    if cli.myid_from_hostname {
        let data_dir = b.get("dataDir").map(PathBuf::from).unwrap_or_else(|| defaults.data_dir.clone());
        let host = zab_node::startup::hostname().map_err(anyhow::Error::msg)?;
        let myid = zab_node::startup::myid_from_hostname(&host).map_err(anyhow::Error::msg)?;
        zab_node::startup::ensure_myid_file(&data_dir, myid, &host).map_err(anyhow::Error::msg)?;
        info!(hostname = %host, myid, "myid taken from the hostname");
    }
    let config = b.build(defaults)?;
    // QuorumPeerConfig.parse: with reconfigEnabled and the servers in zoo.cfg, zoo.cfg.bak.
    if let Some(bak) = zab_node::config::dynamic::on_start(&config).context("backing up zoo.cfg (reconfigEnabled)")? {
        info!(backup = %bak.display(), "zoo.cfg backed up: reconfigEnabled with the servers in zoo.cfg");
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!("creating dataDir {}: check the path and its permissions", config.data_dir.display())
    })?;
    let addr = std::net::SocketAddr::new(config.client_port_address, config.client_port);
    let rt = tokio::runtime::Runtime::new()?;
    if let Some(q) = config.quorum.clone() {
        return rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the client port {addr}: is another server using it?"))?;
            info!(%addr, myid = q.myid, members = q.view.servers.len(), observer = q.observer, data_dir = %config.data_dir.display(), "zab-node starting (quorum member)");
            let slot: zab_node::ServerSlot = Default::default();
            let info = std::sync::Arc::new(zab_node::peer::PeerInfo::new(q.myid, q.view.clone()));
            if config.admin_enabled {
                let admin_addr = std::net::SocketAddr::new(config.admin_address, config.admin_port);
                match tokio::net::TcpListener::bind(admin_addr).await {
                    Ok(l) => {
                        let state = zab_node::admin::AdminState::ensemble(slot.clone(), info.clone(), config.clone());
                        tokio::spawn(zab_node::admin::serve(l, state));
                    }
                    Err(e) => tracing::error!(addr = %admin_addr, error = %e, "cannot start the admin endpoint (admin.serverPort in use?); serving without it"),
                }
            }
            zab_node::peer::run_quorum(config, listener, slot, info, shutdown_signal()).await.context("running as a quorum member")
        });
    }
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the client port {addr}: is another server using it?"))?;
        info!(%addr, data_dir = %config.data_dir.display(), data_log_dir = %config.data_log_dir.display(), "zab-node starting (standalone)");
        // While the database loads, answer four-letter words as ZooKeeper does (ruok says
        // imok, so liveness probes pass) and turn clients away.
        let (loaded_tx, loaded_rx) = tokio::sync::oneshot::channel();
        let whitelist = config.four_letter_whitelist.clone();
        let loading = tokio::spawn(zab_node::serve_while_loading(listener, whitelist, loaded_rx));
        let server = tokio::task::spawn_blocking(move || zab_node::ZooKeeperServer::start(config))
            .await
            .context("the loading task failed")?
            .context("starting zab-node")?;
        let _ = loaded_tx.send(());
        let listener = loading.await.context("the loading listener failed")?;
        if server.config.admin_enabled {
            let admin_addr = std::net::SocketAddr::new(server.config.admin_address, server.config.admin_port);
            match tokio::net::TcpListener::bind(admin_addr).await {
                Ok(l) => {
                    tokio::spawn(zab_node::admin::serve(l, zab_node::admin::AdminState::standalone(server.clone())));
                }
                // As ZooKeeper: a busy admin port is logged, and the server serves anyway.
                Err(e) => tracing::error!(addr = %admin_addr, error = %e, "cannot start the admin endpoint (admin.serverPort in use?); serving without it"),
            }
        }
        zab_node::run(listener, server, shutdown_signal()).await;
        anyhow::Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
    }
}
