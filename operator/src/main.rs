//! The zab-operator binary: `crd` and `rbac` print generated YAML; `run` (the default)
//! runs the controller. Argument handling and logging setup only; the work is in the
//! library.

use clap::Parser;
use zab_operator::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd) => print!("{}", zab_operator::crd::crd_yaml()?),
        Some(Command::Rbac) => print!("{}", zab_operator::rbac::rules_yaml()?),
        Some(Command::Healthcheck { url }) => healthcheck(&url)?,
        Some(Command::Run(args)) => run(args)?,
        None => run(cli.run)?,
    }
    Ok(())
}

fn healthcheck(url: &str) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(zab_operator::health::check(url, std::time::Duration::from_secs(3)))
}

fn run(args: zab_operator::cli::RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .map_err(|e| anyhow::anyhow!("--log-level {:?} is not a tracing filter: {e}", args.log_level))?;
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(zab_operator::controller::run(args))
}
