//! zoo.cfg: ZooKeeper's configuration file, read the way `QuorumPeerConfig` reads it,
//! plus the settings ZooKeeper takes as JVM system properties.
//!
//! ZooKeeper turns every zoo.cfg key it does not know into the system property
//! `zookeeper.<key>`, which is how `snapCount` or `4lw.commands.whitelist` work from the
//! file. zab therefore accepts each key with or without the `zookeeper.` prefix, so one
//! file carries everything (`jute.maxbuffer`, `zookeeper.extendedTypesEnabled`, ...).
//! A key zab does not know is logged as a warning and otherwise ignored (migrating configs
//! must keep working); a bad value is an error naming the key and the line.
//!
//! With `dynamicConfigFile=<path>` the `server.N` lines live in that file and the
//! configuration's version is the hex number ending its name ([`dynamic`], which also writes
//! the files a reconfiguration leaves, as ZooKeeper 3.8); `server.N` lines in zoo.cfg are
//! then an error, as in `QuorumPeerConfig.parseProperties`.

pub mod dynamic;
pub mod java_properties;
mod keys;
pub mod seed;

pub use keys::{KNOWN, USED};

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing::{debug, warn};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin}: invalid value {value:?} for {key}: {reason}")]
    Invalid { origin: String, key: String, value: String, reason: String },
    #[error("{origin}: line is not key=value: {line:?}")]
    Syntax { origin: String, line: String },
    #[error(transparent)]
    Dynamic(#[from] dynamic::DynamicConfigError),
}

/// Where a setting came from, for error messages: "zoo.cfg line 7", "-D", "environment".
#[derive(Debug, Clone)]
struct Entry {
    value: String,
    origin: String,
}

/// `ZKDatabase.DEFAULT_COMMIT_LOG_COUNT`: the committed txns kept in memory for DIFFs; also
/// the least `commitLogCount` accepted (a smaller value is raised to it, as ZooKeeper does).
pub const DEFAULT_COMMIT_LOG_COUNT: usize = 500;

/// The replication settings of a quorum peer.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    /// This member's id, from `dataDir/myid`.
    pub myid: u64,
    pub view: zab_quorum::verifier::QuorumMaj,
    /// Ticks a learner may take to connect and sync to the leader.
    pub init_limit: u32,
    /// Ticks a learner may fall behind (or stay silent) before it is dropped.
    pub sync_limit: u32,
    pub observer: bool,
    pub listen_on_all_ips: bool,
    pub election_port_bind_retry: u32,
    /// Observers log txns (`syncEnabled`, true by default).
    pub sync_enabled: bool,
    /// zab's own `crossEpochTruncDiff` (default false, as ZooKeeper 3.5+): a leader may
    /// TRUNC+DIFF a zab learner across an epoch instead of sending SNAP.
    pub cross_epoch_trunc: bool,
    /// ZooKeeper's `zookeeper.testingonly.initialZxid` (for tests only): a new leader moves
    /// its zxid counter to this value once established, so a test reaches the counter's end
    /// (ZOOKEEPER-1277) in a few writes.
    pub testing_initial_zxid: Option<i64>,
    /// The configuration proposed but not yet activated (`lastSeenQuorumVerifier`), from
    /// `<zoo.cfg>.dynamic.next` when zoo.cfg names a `dynamicConfigFile`.
    pub last_seen: Option<zab_quorum::verifier::QuorumMaj>,
}

/// The settings of one zab-node.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub tick_time: u32,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: IpAddr,
    /// Connections per client IP; 0 is unlimited.
    pub max_client_cnxns: usize,
    /// `zookeeper.nio.sessionlessCnxnTimeout` (ms): how long a connection may take to send its
    /// ConnectRequest (or four-letter word) before it is closed.
    pub sessionless_cnxn_timeout: u64,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    pub global_outstanding_limit: usize,
    /// Four-letter words allowed; `None` means all (`*`).
    pub four_letter_whitelist: Option<HashSet<String>>,
    pub max_buffer: usize,
    pub super_digest: Option<String>,
    pub extended_types: bool,
    pub container_check_interval_ms: u64,
    pub container_max_per_minute: u32,
    pub container_max_never_used_ms: i64,
    pub skip_acl: bool,
    pub digest_enabled: bool,
    /// `reconfigEnabled` (false by default, as ZooKeeper 3.5.3+).
    pub reconfig_enabled: bool,
    /// `standaloneEnabled` (true by default): a lone participant runs standalone; false
    /// keeps it a quorum peer, so an ensemble may shrink to one member.
    pub standalone_enabled: bool,
    /// `dynamicConfigFile` as written in zoo.cfg: where the `server.N` lines came from.
    pub dynamic_config_file: Option<PathBuf>,
    pub read_only_mode: bool,
    /// The id in the top byte of session ids (myid; 1 when standalone, as ZooKeeper).
    pub server_id: i64,
    /// `snapCount`: a snapshot after a random number of txns in [snapCount/2+1, snapCount].
    pub snap_count: u64,
    /// `snapSizeLimitInKb`: or after that many KiB of log (0 disables).
    pub snap_size_limit_kb: u64,
    /// `commitLogCount`: committed txns kept in memory for DIFF sync.
    pub commit_log_count: usize,
    /// `preAllocSize` in KiB: the transaction log grows in blocks of this size.
    pub pre_alloc_kb: u64,
    /// `forceSync=no` skips the fsync (ZooKeeper's unsafe option, kept for those who ask).
    pub force_sync: bool,
    pub fsync_warning_ms: u64,
    pub autopurge_retain: usize,
    /// Hours between purges; 0 disables.
    pub autopurge_interval_h: u64,
    /// The HTTP admin server (status, health, metrics, AdminServer commands).
    pub admin_enabled: bool,
    pub admin_address: IpAddr,
    pub admin_port: u16,
    pub admin_command_url: String,
    /// server.N lines as written.
    pub servers: BTreeMap<u64, String>,
    /// Set when this member runs as a quorum peer (server.N lines and a myid file, and
    /// not a lone participant with standaloneEnabled).
    pub quorum: Option<QuorumSettings>,
    /// Where the settings came from (for `conf` and logs).
    pub source: Option<PathBuf>,
    /// The member's metrics (ZooKeeper's process-wide `ServerMetrics`): one registry per
    /// configuration built, shared by every clone, so by the servers of all its epochs.
    pub metrics: std::sync::Arc<crate::metrics::ServerMetrics>,
}

impl ServerConfig {
    /// How long a leader's hand-over may take: the wait for the follower and the one for
    /// the learners to leave are each bounded by syncLimit (5 ticks without a quorum section).
    pub fn hand_over_limit(&self) -> std::time::Duration {
        let sync = self.quorum.as_ref().map_or(5, |q| q.sync_limit as u64) * self.tick_time as u64;
        std::time::Duration::from_millis(2 * sync)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tick_time: 3000,
            data_dir: PathBuf::from("data"),
            data_log_dir: PathBuf::from("data"),
            client_port: 2181,
            client_port_address: IpAddr::from([127, 0, 0, 1]),
            max_client_cnxns: 60,
            sessionless_cnxn_timeout: 10_000,
            min_session_timeout: 6000,
            max_session_timeout: 60000,
            global_outstanding_limit: 1000,
            four_letter_whitelist: Some(["srvr".to_string()].into_iter().collect()),
            max_buffer: zab_jute::DEFAULT_MAX_BUFFER,
            super_digest: None,
            extended_types: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_ms: 0,
            skip_acl: false,
            digest_enabled: true,
            reconfig_enabled: false,
            standalone_enabled: true,
            dynamic_config_file: None,
            read_only_mode: false,
            server_id: 1,
            servers: BTreeMap::new(),
            quorum: None,
            source: None,
            snap_count: 100_000,
            snap_size_limit_kb: 4 * 1024 * 1024,
            commit_log_count: DEFAULT_COMMIT_LOG_COUNT,
            pre_alloc_kb: 64 * 1024,
            force_sync: true,
            fsync_warning_ms: 1000,
            autopurge_retain: 3,
            autopurge_interval_h: 0,
            admin_enabled: true,
            admin_address: IpAddr::from([0, 0, 0, 0]),
            admin_port: 8080,
            admin_command_url: "/commands".into(),
            metrics: Default::default(),
        }
    }
}

/// Collects settings from a file, then overrides, then turns them into a [`ServerConfig`].
#[derive(Debug, Default)]
pub struct ConfigBuilder {
    entries: BTreeMap<String, Entry>,
    source: Option<PathBuf>,
}

fn normalize(key: &str) -> String {
    let k = key.trim();
    let k = k.strip_prefix("zookeeper.").unwrap_or(k);
    k.to_owned()
}

impl ConfigBuilder {
    /// Reads a zoo.cfg (Java properties: `key=value` or `key:value`, `#`/`!` comments).
    pub fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        self.source = Some(path.to_owned());
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let origin = format!("{} line {}", path.display(), i + 1);
            let Some(pos) = line.find(['=', ':']) else {
                return Err(ConfigError::Syntax { origin, line: line.to_owned() });
            };
            let (k, v) = (line[..pos].trim(), line[pos + 1..].trim());
            self.set(k, v, &origin);
        }
        Ok(())
    }

    /// Sets one key (from a flag, `-D` or the environment).
    pub fn set(&mut self, key: &str, value: &str, origin: &str) {
        self.entries.insert(normalize(key), Entry { value: value.to_owned(), origin: origin.to_owned() });
    }

    /// The value set for a key, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(&normalize(key)).map(|e| e.value.as_str())
    }

    pub fn is_set(&self, key: &str) -> bool {
        self.entries.contains_key(&normalize(key))
    }

    pub fn build(self, defaults: ServerConfig) -> Result<ServerConfig, ConfigError> {
        let mut c = defaults;
        c.source = self.source.clone();
        let (mut init_limit, mut sync_limit, mut observer) = (None::<u32>, None::<u32>, false);
        let (mut bind_retry, mut all_ips, mut standalone_enabled, mut sync_enabled) = (3u32, false, true, true);
        let mut cross_epoch_trunc = false;
        let mut testing_initial_zxid = None;
        let dynamic_file = self.dynamic_file()?;
        for (key, e) in &self.entries {
            let quorum_key = key.starts_with("server.") || key.starts_with("group") || key.starts_with("weight");
            if quorum_key && dynamic_file.is_some() {
                // QuorumPeerConfig.parseProperties.
                return Err(invalid(key, e, "must be in the separate dynamic config file (dynamicConfigFile is set)"));
            }
            if key.starts_with("server.") || key.starts_with("group.") || key.starts_with("weight.") {
                if let Some(n) = key.strip_prefix("server.") {
                    let n: u64 = n.parse().map_err(|_| invalid(key, e, "server.N needs a numeric N"))?;
                    c.servers.insert(n, e.value.clone());
                }
                continue;
            }
            if !USED.contains(&key.as_str()) {
                if KNOWN.contains(&key.as_str()) {
                    debug!(key = %key, origin = %e.origin, "setting accepted; zab-node does not use it yet");
                } else {
                    warn!(key = %key, origin = %e.origin, "unknown setting ignored");
                }
                continue;
            }
            match key.as_str() {
                "tickTime" => c.tick_time = parse_num(key, e)?,
                "dataDir" => c.data_dir = PathBuf::from(&e.value),
                "dataLogDir" => c.data_log_dir = PathBuf::from(&e.value),
                "clientPort" => c.client_port = parse_num(key, e)?,
                "clientPortAddress" => {
                    c.client_port_address = e.value.parse().map_err(|_| invalid(key, e, "expected an IP address"))?
                }
                "maxClientCnxns" => c.max_client_cnxns = parse_num(key, e)?,
                "nio.sessionlessCnxnTimeout" => c.sessionless_cnxn_timeout = parse_num(key, e)?,
                "minSessionTimeout" => c.min_session_timeout = parse_num(key, e)?,
                "maxSessionTimeout" => c.max_session_timeout = parse_num(key, e)?,
                "globalOutstandingLimit" => c.global_outstanding_limit = parse_num(key, e)?,
                "4lw.commands.whitelist" => {
                    let v = e.value.trim();
                    c.four_letter_whitelist = if v.split(',').any(|s| s.trim() == "*") {
                        None
                    } else {
                        Some(v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
                    };
                }
                "jute.maxbuffer" => c.max_buffer = parse_num(key, e)?,
                "DigestAuthenticationProvider.superDigest" => c.super_digest = Some(e.value.clone()),
                "extendedTypesEnabled" => c.extended_types = parse_bool(key, e)?,
                "znode.container.checkIntervalMs" => c.container_check_interval_ms = parse_num(key, e)?,
                "znode.container.maxPerMinute" => c.container_max_per_minute = parse_num(key, e)?,
                "znode.container.maxNeverUsedIntervalMs" => c.container_max_never_used_ms = parse_num(key, e)?,
                "skipACL" => c.skip_acl = e.value.trim() == "yes",
                "digest.enabled" => c.digest_enabled = parse_bool(key, e)?,
                "reconfigEnabled" => c.reconfig_enabled = parse_bool(key, e)?,
                "readonlymode.enabled" => c.read_only_mode = parse_bool(key, e)?,
                "serverId" => c.server_id = parse_num(key, e)?,
                "snapCount" => c.snap_count = parse_num::<u64>(key, e)?.max(2),
                "snapSizeLimitInKb" => c.snap_size_limit_kb = parse_num(key, e)?,
                "commitLogCount" => c.commit_log_count = parse_num::<usize>(key, e)?.max(DEFAULT_COMMIT_LOG_COUNT),
                "preAllocSize" => c.pre_alloc_kb = parse_num::<u64>(key, e)?.max(4),
                "forceSync" => c.force_sync = e.value.trim() != "no",
                "fsync.warningthresholdms" => c.fsync_warning_ms = parse_num(key, e)?,
                "autopurge.snapRetainCount" => c.autopurge_retain = parse_num::<usize>(key, e)?.max(3),
                "autopurge.purgeInterval" => c.autopurge_interval_h = parse_num(key, e)?,
                "admin.enableServer" => c.admin_enabled = parse_bool(key, e)?,
                "admin.serverAddress" => {
                    c.admin_address = e.value.trim().parse().map_err(|_| invalid(key, e, "expected an IP address"))?
                }
                "admin.serverPort" => c.admin_port = parse_num(key, e)?,
                "admin.commandURL" => c.admin_command_url = e.value.trim().to_owned(),
                "initLimit" => init_limit = Some(parse_num(key, e)?),
                "syncLimit" => sync_limit = Some(parse_num(key, e)?),
                "peerType" => {
                    observer = match e.value.trim().to_ascii_lowercase().as_str() {
                        "observer" => true,
                        "participant" => false,
                        _ => return Err(invalid(key, e, "expected participant or observer")),
                    }
                }
                "electionPortBindRetry" => bind_retry = parse_num(key, e)?,
                "quorumListenOnAllIPs" => all_ips = parse_bool(key, e)?,
                "standaloneEnabled" => standalone_enabled = parse_bool(key, e)?,
                "dynamicConfigFile" => c.dynamic_config_file = Some(PathBuf::from(e.value.trim())),
                "syncEnabled" => sync_enabled = parse_bool(key, e)?,
                "crossEpochTruncDiff" => cross_epoch_trunc = parse_bool(key, e)?,
                "testingonly.initialZxid" => {
                    // Java's Long.parseLong: decimal; the counter's 32 bits are used.
                    let v: i64 = e.value.trim().parse().map_err(|_| invalid(key, e, "expected a decimal number"))?;
                    testing_initial_zxid = Some(v & 0xffff_ffff);
                }
                _ => {}
            }
        }
        // ZooKeeper's defaults for the session bounds follow tickTime unless set.
        if !self.is_set("minSessionTimeout") {
            c.min_session_timeout = 2 * c.tick_time as i32;
        }
        if !self.is_set("maxSessionTimeout") {
            c.max_session_timeout = 20 * c.tick_time as i32;
        }
        if !self.is_set("dataLogDir") {
            c.data_log_dir = c.data_dir.clone();
        }
        if c.min_session_timeout > c.max_session_timeout {
            return Err(ConfigError::Invalid {
                origin: "configuration".into(),
                key: "minSessionTimeout".into(),
                value: c.min_session_timeout.to_string(),
                reason: format!("must not be larger than maxSessionTimeout ({})", c.max_session_timeout),
            });
        }
        c.standalone_enabled = standalone_enabled;
        if let Some(f) = &dynamic_file {
            c.servers = f.view.servers.iter().map(|(sid, s)| (*sid, s.to_line())).collect();
        }
        if !c.servers.is_empty() {
            c.quorum = self.quorum_settings(
                cross_epoch_trunc,
                &c,
                init_limit,
                sync_limit,
                observer,
                bind_retry,
                all_ips,
                standalone_enabled,
                sync_enabled,
            )?;
            if let Some(q) = c.quorum.as_mut() {
                q.testing_initial_zxid = testing_initial_zxid;
                if let Some(f) = &dynamic_file {
                    q.view.version = f.view.version;
                    if let Some(cfg) = &self.source {
                        q.last_seen = dynamic::read_next_file(cfg)?;
                    }
                }
            }
            if let Some(q) = &c.quorum {
                c.server_id = q.myid as i64;
                // `server.N=...;[addr:]port` gives this member's client port.
                if let Some((addr, port)) = q.view.servers.get(&q.myid).and_then(|s| s.client.clone()) {
                    self.check_client_port(q.myid, &addr, port, &c)?;
                    if !self.is_set("clientPort") {
                        c.client_port = port;
                    }
                    if !self.is_set("clientPortAddress") {
                        if let Ok(a) = addr.parse() {
                            c.client_port_address = a;
                        }
                    }
                }
            }
        }
        if c.tick_time == 0 {
            return Err(ConfigError::Invalid {
                origin: "configuration".into(),
                key: "tickTime".into(),
                value: "0".into(),
                reason: "must be positive".into(),
            });
        }
        Ok(c)
    }
}

impl ConfigBuilder {
    /// The file `dynamicConfigFile` names, read (`QuorumPeerConfig.parse`), if set.
    fn dynamic_file(&self) -> Result<Option<dynamic::DynamicFile>, ConfigError> {
        let Some(e) = self.entries.get("dynamicConfigFile") else { return Ok(None) };
        let path = PathBuf::from(e.value.trim());
        if path.as_os_str().is_empty() {
            return Err(invalid("dynamicConfigFile", e, "expected the path of the dynamic configuration file"));
        }
        Ok(Some(dynamic::read_dynamic_file(&path)?))
    }

    /// `QuorumPeerConfig.setupClientPort`: a client address in this member's server line
    /// must agree with zoo.cfg's `clientPort` (and a specific `clientPortAddress`) if set.
    fn check_client_port(&self, myid: u64, addr: &str, port: u16, c: &ServerConfig) -> Result<(), ConfigError> {
        if !self.is_set("clientPort") {
            return Ok(());
        }
        let wildcard = !self.is_set("clientPortAddress") || c.client_port_address.is_unspecified();
        let same_addr = match addr.parse::<IpAddr>() {
            Ok(a) => a == c.client_port_address,
            Err(_) => self.get("clientPortAddress").is_some_and(|s| s.trim() == addr),
        };
        if port == c.client_port && (wildcard || same_addr) {
            return Ok(());
        }
        let static_addr =
            if self.is_set("clientPortAddress") { c.client_port_address.to_string() } else { "0.0.0.0".into() };
        Err(ConfigError::Invalid {
            origin: "configuration".into(),
            key: "clientPort".into(),
            value: format!("{static_addr}:{}", c.client_port),
            reason: format!(
                "client address for this server (id = {myid}) in zoo.cfg differs from the one in its server.{myid} line: {addr}:{port}"
            ),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn quorum_settings(
        &self,
        cross_epoch_trunc: bool,
        c: &ServerConfig,
        init_limit: Option<u32>,
        sync_limit: Option<u32>,
        observer: bool,
        election_port_bind_retry: u32,
        listen_on_all_ips: bool,
        standalone_enabled: bool,
        sync_enabled: bool,
    ) -> Result<Option<QuorumSettings>, ConfigError> {
        let problem = |key: &str, value: String, reason: String| ConfigError::Invalid {
            origin: "configuration".into(),
            key: key.into(),
            value,
            reason,
        };
        let mut servers = Vec::new();
        for (sid, line) in &c.servers {
            let s = zab_quorum::verifier::QuorumServer::parse(*sid, line)
                .map_err(|e| problem(&format!("server.{sid}"), line.clone(), e.to_string()))?;
            servers.push(s);
        }
        let view = zab_quorum::verifier::QuorumMaj::new(servers, 0);
        let participants = view.voters().count();
        if participants == 1 && standalone_enabled {
            // ZooKeeper: a lone participant runs standalone unless standaloneEnabled=false.
            return Ok(None);
        }
        let myid_path = c.data_dir.join("myid");
        let text = std::fs::read_to_string(&myid_path).map_err(|e| {
            problem(
                "myid",
                myid_path.display().to_string(),
                format!("cannot read the myid file ({e}); write this member's id (its N in server.N) into it"),
            )
        })?;
        let myid: u64 = text.trim().parse().map_err(|_| {
            problem("myid", text.trim().to_owned(), format!("{} must hold a number", myid_path.display()))
        })?;
        let Some(me) = view.servers.get(&myid) else {
            return Err(problem("myid", myid.to_string(), "no server.N line has this id".into()));
        };
        let init_limit = init_limit
            .ok_or_else(|| problem("initLimit", String::new(), "is not set; a quorum peer needs it".into()))?;
        let sync_limit = sync_limit
            .ok_or_else(|| problem("syncLimit", String::new(), "is not set; a quorum peer needs it".into()))?;
        let observer = observer || me.learner_type == zab_quorum::verifier::LearnerType::Observer;
        Ok(Some(QuorumSettings {
            myid,
            view,
            init_limit,
            sync_limit,
            observer,
            listen_on_all_ips,
            election_port_bind_retry,
            sync_enabled,
            cross_epoch_trunc,
            testing_initial_zxid: None,
            last_seen: None,
        }))
    }
}

fn invalid(key: &str, e: &Entry, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        origin: e.origin.clone(),
        key: key.to_owned(),
        value: e.value.clone(),
        reason: reason.to_owned(),
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, e: &Entry) -> Result<T, ConfigError> {
    e.value.trim().parse().map_err(|_| invalid(key, e, "expected a number in range"))
}

fn parse_bool(key: &str, e: &Entry) -> Result<bool, ConfigError> {
    match e.value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(invalid(key, e, "expected true or false")),
    }
}

#[cfg(test)]
mod tests;
