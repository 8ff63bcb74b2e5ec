//! Command line of zab-load and the run plan derived from it.
//!
//! `Args` is what the user typed; `Plan` is the validated, fully resolved run
//! (stop condition, number of znodes and parents, hard wall-clock bound) that
//! the runner executes. Validation lives here so the runner never has to
//! re-check its inputs.

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};

/// The request a worker issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OpKind {
    /// getData on one of the K data znodes.
    Read,
    /// setData (version -1) of SIZE bytes on one of the K data znodes.
    Write,
    /// create of a new persistent znode of SIZE bytes, K in all, spread over parents.
    Create,
    /// getData or setData, --read-pct percent reads.
    Mixed,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Create => "create",
            OpKind::Mixed => "mixed",
        }
    }
}

/// Load generator for ZooKeeper-compatible servers.
///
/// Opens S sessions with O requests in flight on each (pipelined on one
/// connection per session), records every request's latency and prints
/// throughput and percentiles, then one JSON line. It stops by itself after
/// --duration seconds or --ops requests.
#[derive(Parser, Debug, Clone)]
#[command(name = "zab-load", version)]
pub struct Args {
    /// Server to load, HOST:PORT (the client's connect string syntax).
    #[arg(long)]
    pub connect: String,
    /// Number of sessions (one TCP connection each).
    #[arg(long, default_value_t = 1)]
    pub sessions: usize,
    /// Requests in flight per session.
    #[arg(long, default_value_t = 1)]
    pub outstanding: usize,
    /// Request type.
    #[arg(long, value_enum, default_value_t = OpKind::Read)]
    pub op: OpKind,
    /// Run for this many seconds (after --warmup).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many requests in all (with --op create and --znodes K, defaults to K).
    #[arg(long)]
    pub ops: Option<u64>,
    /// Payload bytes for write, create and the setup of read targets.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Data znodes for read/write/mixed (default 1000); znodes to create for create.
    #[arg(long)]
    pub znodes: Option<u64>,
    /// Everything the tool creates lives below this path.
    #[arg(long, default_value = "/bench")]
    pub path_prefix: String,
    /// Parent znodes to spread the znodes over (default: one per 10,000).
    #[arg(long)]
    pub parents: Option<u64>,
    /// Percentage of reads in --op mixed.
    #[arg(long, default_value_t = 90)]
    pub read_pct: u32,
    /// Seconds of load before measuring starts (duration mode only).
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Give up on a single request after this many seconds (counted as an error).
    #[arg(long, default_value_t = 10.0)]
    pub request_timeout: f64,
    /// Session timeout to ask the server for, in seconds.
    #[arg(long, default_value_t = 30)]
    pub session_timeout: u64,
    /// Hard bound on the whole run in seconds (default: duration + warmup + 120, or 3600 with --ops).
    #[arg(long)]
    pub max_wall: Option<f64>,
    /// Free-form label copied into the JSON line (e.g. "zookeeper", "zab").
    #[arg(long, default_value = "")]
    pub label: String,
    /// Tokio worker threads (default: number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// How the measured run talks to the server: `wire` (the client protocol written
    /// directly, one task per session; light on the CPU) or `zookeeper-client` (the Rust
    /// client crate, one task per request in flight). Setup always uses the crate.
    #[arg(long, value_enum, default_value_t = ClientKind::Wire)]
    pub client: ClientKind,
}

/// The client the measured run uses.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Wire,
    ZookeeperClient,
}

/// How a run ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Measure for this long after the warm-up.
    Duration { warmup: Duration, measure: Duration },
    /// Issue this many requests in all.
    Ops(u64),
}

/// A validated run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub connect: String,
    pub sessions: usize,
    pub outstanding: usize,
    pub op: OpKind,
    pub stop: Stop,
    pub size: usize,
    pub znodes: u64,
    pub parents: u64,
    pub prefix: String,
    pub read_pct: u32,
    pub request_timeout: Duration,
    pub session_timeout: Duration,
    pub max_wall: Duration,
    pub label: String,
    pub client: ClientKind,
}

fn secs(what: &str, v: f64) -> Result<Duration> {
    if !v.is_finite() || v < 0.0 {
        bail!("{what} must be a non-negative number of seconds, not {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

impl Args {
    pub fn plan(&self) -> Result<Plan> {
        if self.sessions == 0 || self.outstanding == 0 {
            bail!("--sessions and --outstanding must be at least 1");
        }
        if self.read_pct > 100 {
            bail!("--read-pct is a percentage (0-100)");
        }
        let prefix = self.path_prefix.trim_end_matches('/').to_string();
        if !prefix.starts_with('/') || prefix.len() < 2 || prefix.contains("//") {
            bail!("--path-prefix must be an absolute znode path below /, like /bench");
        }
        let znodes = match (self.op, self.znodes) {
            (_, Some(0)) => bail!("--znodes must be at least 1"),
            (_, Some(k)) => k,
            (OpKind::Create, None) => u64::MAX,
            (_, None) => 1000,
        };
        let stop = match (self.duration, self.ops) {
            (Some(_), Some(_)) => bail!("give --duration or --ops, not both"),
            (Some(d), None) => {
                let measure = secs("--duration", d)?;
                if measure.is_zero() {
                    bail!("--duration must be positive");
                }
                Stop::Duration { warmup: secs("--warmup", self.warmup)?, measure }
            }
            (None, Some(0)) => bail!("--ops must be at least 1"),
            (None, Some(n)) => Stop::Ops(n),
            (None, None) if self.op == OpKind::Create && znodes != u64::MAX => Stop::Ops(znodes),
            (None, None) => bail!("give --duration SECS or --ops N (or --op create --znodes K)"),
        };
        let parents = match self.parents {
            Some(0) => bail!("--parents must be at least 1"),
            Some(p) => p,
            None if znodes == u64::MAX => 100,
            None => znodes.div_ceil(10_000).max(1),
        };
        let max_wall = match (self.max_wall, stop) {
            (Some(w), _) => secs("--max-wall", w)?,
            (None, Stop::Duration { warmup, measure }) => warmup + measure + Duration::from_secs(120),
            (None, Stop::Ops(_)) => Duration::from_secs(3600),
        };
        if self.size > 1_000_000 {
            bail!("--size above 1,000,000 bytes exceeds the default jute.maxbuffer");
        }
        Ok(Plan {
            connect: self.connect.clone(),
            sessions: self.sessions,
            outstanding: self.outstanding,
            op: self.op,
            stop,
            size: self.size,
            znodes,
            parents,
            prefix,
            read_pct: self.read_pct,
            request_timeout: secs("--request-timeout", self.request_timeout)?,
            session_timeout: Duration::from_secs(self.session_timeout.max(1)),
            max_wall,
            label: self.label.clone(),
            client: self.client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Plan> {
        let args = Args::try_parse_from(line.split_whitespace())?;
        args.plan()
    }

    #[test]
    fn create_with_znodes_implies_ops() -> Result<()> {
        let p = parse("zab-load --connect h:1 --op create --znodes 1000000 --size 100")?;
        assert!(matches!(p.stop, Stop::Ops(1_000_000)));
        assert_eq!(p.parents, 100);
        Ok(())
    }

    #[test]
    fn read_needs_a_stop_condition() {
        assert!(parse("zab-load --connect h:1 --op read").is_err());
        assert!(parse("zab-load --connect h:1 --duration 1 --ops 5").is_err());
    }

    #[test]
    fn defaults() -> Result<()> {
        let p = parse("zab-load --connect h:1 --duration 2 --path-prefix /b/")?;
        assert_eq!(p.znodes, 1000);
        assert_eq!(p.parents, 1);
        assert_eq!(p.prefix, "/b");
        assert_eq!(p.max_wall, Duration::from_secs(122));
        Ok(())
    }

    #[test]
    fn rejects_bad_prefix() {
        assert!(parse("zab-load --connect h:1 --ops 1 --path-prefix bench").is_err());
        assert!(parse("zab-load --connect h:1 --ops 1 --path-prefix /").is_err());
    }
}
