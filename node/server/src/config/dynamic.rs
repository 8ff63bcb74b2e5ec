//! The dynamic configuration files of a quorum member, read and written as Apache ZooKeeper
//! 3.8 does (`QuorumPeerConfig.parse`, `getVersionFromFilename`, `writeDynamicConfig`,
//! `editStaticConfig`, `backupOldConfig`; `QuorumPeer.setLastSeenQuorumVerifier`,
//! `setQuorumVerifier`).
//!
//! # Files, next to zoo.cfg (`<cfg>` is zoo.cfg's path as given)
//! - `dynamicConfigFile=<path>` in zoo.cfg names the file holding the `server.N` lines; the
//!   configuration's version is the hex number after the last `.` of that path
//!   (`zoo.cfg.dynamic.100000000`), 0 when there is none. The file itself must not hold a
//!   `version` line, nor anything but `server.N` (and `group`/`weight`, which zab refuses:
//!   no hierarchical quorums).
//! - `<cfg>.dynamic.<hex version>`: a configuration once activated (`setQuorumVerifier`
//!   with writeToDisk): its `key=value` lines sorted as strings, joined by `\n`, no final
//!   newline, no version line. zoo.cfg is then rewritten (`editStaticConfig`): every key it
//!   had, in `Properties` iteration order, less `server.*`, `group*`, `weight*`,
//!   `dynamicConfigFile*`, `peerType*` (and `clientPort*` when this member's server line
//!   carries its client address), then `dynamicConfigFile=<canonical path>`.
//! - `<cfg>.dynamic.next`: a configuration proposed but not yet activated
//!   (`setLastSeenQuorumVerifier`), written with its `version=` line; read back at start as
//!   the last seen configuration, deleted when a configuration of that version activates.
//! - `<cfg>.bak`: a byte copy of zoo.cfg, made at every start of a member with
//!   `reconfigEnabled=true` whose servers are in zoo.cfg (no `dynamicConfigFile`).
//!
//! 3.8 writes the versioned file at activation only, never by renaming `.next`: the leader
//! writes `.next` when it proposes (and, for the first established configuration, version
//! 0 becomes the NEWLEADER zxid: ZOOKEEPER-1783), learners when they see the proposal or
//! NEWLEADER; each member writes `<cfg>.dynamic.<version>` and rewrites zoo.cfg when the
//! configuration activates (COMMITANDACTIVATE, INFORMANDACTIVATE, UPTODATE, or the leader's
//! NEWLEADER quorum). Every write goes to `<name>.tmp`, is fsynced and renamed over
//! `<name>` (`AtomicFileWritingIdiom`).
//!
//! Every file read is bounded ([`MAX_FILE_BYTES`]); bad input is an error naming the file
//! and the line. Nothing here panics on input.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;
use zab_quorum::verifier::{QuorumMaj, QuorumServer};

use super::java_properties;

/// The largest dynamic configuration file or zoo.cfg read here (ZooKeeper has no bound;
/// a real one is a few KiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// `QuorumPeerConfig.nextDynamicConfigFileSuffix`.
pub const NEXT_SUFFIX: &str = ".dynamic.next";

#[derive(Debug, Error)]
pub enum DynamicConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path} line {line}: {reason}")]
    Line { path: PathBuf, line: usize, reason: String },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A dynamic configuration file as read: the servers and the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicFile {
    pub path: PathBuf,
    pub view: QuorumMaj,
}

/// `QuorumPeerConfig.getVersionFromFilename`: the hex number after the last `.` of the
/// path as written (`Long.parseLong(s, 16)`, so a sign is allowed), `None` when it is not
/// one.
pub fn version_from_filename(path: &Path) -> Option<i64> {
    let s = path.to_string_lossy();
    let (_, tail) = s.rsplit_once('.')?;
    let (negative, digits) = match tail.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, tail.strip_prefix('+').unwrap_or(tail)),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, 16).ok()?;
    let v = if negative { -magnitude } else { magnitude };
    i64::try_from(v).ok()
}

/// Reads a whole file of at most [`MAX_FILE_BYTES`].
pub fn read_bounded(path: &Path) -> Result<String, DynamicConfigError> {
    let read = |source| DynamicConfigError::Read { path: path.to_owned(), source };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > MAX_FILE_BYTES {
        return Err(DynamicConfigError::TooLarge { path: path.to_owned(), limit: MAX_FILE_BYTES });
    }
    std::fs::read_to_string(path).map_err(read)
}

/// The servers of a dynamic configuration text; `version` lines are accepted only when
/// `allow_version` (a `.next` file has one, a `dynamicConfigFile` must not).
fn parse_servers(path: &Path, text: &str, allow_version: bool) -> Result<QuorumMaj, DynamicConfigError> {
    let line_err = |line, reason: String| DynamicConfigError::Line { path: path.to_owned(), line, reason };
    let mut servers: BTreeMap<u64, QuorumServer> = BTreeMap::new();
    let mut version = None;
    for p in java_properties::parse(text) {
        let key = p.key.trim();
        let value = p.value.trim();
        if let Some(n) = key.strip_prefix("server.") {
            let sid: u64 = n.parse().map_err(|_| line_err(p.line, format!("{key}: server.N needs a numeric N")))?;
            let s = QuorumServer::parse(sid, value).map_err(|e| line_err(p.line, e.to_string()))?;
            servers.insert(sid, s);
        } else if key == "version" {
            if !allow_version {
                // QuorumPeerConfig.parse: "dynamic file shouldn't have version inside".
                return Err(line_err(p.line, "a dynamic configuration file must not hold a version line: the version is the hex number ending the file name".into()));
            }
            let v = i64::from_str_radix(value, 16)
                .map_err(|_| line_err(p.line, format!("version={value}: expected a hexadecimal number")))?;
            version = Some(v);
        } else if key.starts_with("group") || key.starts_with("weight") {
            return Err(line_err(
                p.line,
                format!("{key}: hierarchical quorums (group/weight) are not supported by zab"),
            ));
        } else {
            // QuorumPeerConfig.parseDynamicConfig: "Unrecognised parameter".
            return Err(line_err(p.line, format!("unrecognised parameter {key}: only server.N lines belong here")));
        }
    }
    if servers.is_empty() {
        return Err(DynamicConfigError::File { path: path.to_owned(), reason: "holds no server.N line".into() });
    }
    Ok(QuorumMaj::new(servers.into_values(), version.unwrap_or(0)))
}

/// Reads the file zoo.cfg's `dynamicConfigFile` names: its servers, with the version from
/// the file name (0 when the name carries none), as `QuorumPeerConfig.parse`.
pub fn read_dynamic_file(path: &Path) -> Result<DynamicFile, DynamicConfigError> {
    let text = read_bounded(path)?;
    let mut view = parse_servers(path, &text, false)?;
    let version = version_from_filename(path).unwrap_or(0);
    if version < 0 {
        return Err(DynamicConfigError::File {
            path: path.to_owned(),
            reason: format!("the version in the file name is negative ({version})"),
        });
    }
    view.version = version;
    Ok(DynamicFile { path: path.to_owned(), view })
}

/// `<cfg>.dynamic.next` (`QuorumPeer.getNextDynamicConfigFilename`).
pub fn next_file_name(config_file: &Path) -> PathBuf {
    PathBuf::from(format!("{}{NEXT_SUFFIX}", config_file.display()))
}

/// `<cfg>.dynamic.<hex version>` (`QuorumPeer.makeDynamicConfigFilename`).
pub fn dynamic_file_name(config_file: &Path, version: i64) -> PathBuf {
    PathBuf::from(format!("{}.dynamic.{version:x}", config_file.display()))
}

/// The last seen configuration, from `<cfg>.dynamic.next` if it exists (read at start when
/// zoo.cfg names a `dynamicConfigFile`, as `QuorumPeerConfig.parse`).
pub fn read_next_file(config_file: &Path) -> Result<Option<QuorumMaj>, DynamicConfigError> {
    let path = next_file_name(config_file);
    if !path.exists() {
        return Ok(None);
    }
    let text = read_bounded(&path)?;
    parse_servers(&path, &text, true).map(Some)
}

/// The text `QuorumPeerConfig.writeDynamicConfig` writes for a configuration: the
/// `key=value` lines of `QuorumMaj.toString()` (less `version` unless `keep_version`),
/// sorted as strings, joined by `\n`, no final newline.
pub fn dynamic_file_text(view: &QuorumMaj, keep_version: bool) -> String {
    let text = view.to_text();
    let mut lines: Vec<String> = java_properties::parse(&text)
        .into_iter()
        .filter(|p| keep_version || !p.key.trim().starts_with("version"))
        .map(|p| format!("{}={}", p.key.trim(), p.value.trim()))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// `AtomicFileWritingIdiom`: writes `<path>.tmp`, fsyncs it, renames it over `path` (then
/// fsyncs the directory, which ZooKeeper does not, so the rename survives a crash).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DynamicConfigError> {
    let werr = |source| DynamicConfigError::Write { path: path.to_owned(), source };
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(werr(e));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// `QuorumPeerConfig.writeDynamicConfig`: [`dynamic_file_text`] written atomically.
pub fn write_dynamic_config(path: &Path, view: &QuorumMaj, keep_version: bool) -> Result<(), DynamicConfigError> {
    write_atomically(path, dynamic_file_text(view, keep_version).as_bytes())
}

/// The new zoo.cfg text of `QuorumPeerConfig.editStaticConfig`: `key=value\n` for each key
/// of `static_text` in `java.util.Properties` iteration order, less the quorum keys
/// (`server.*`, `group*`, `weight*`, `dynamicConfigFile*`, `peerType*`, and `clientPort*`
/// when `erase_client_port`), then `dynamicConfigFile=<dynamic_path>\n`.
pub fn edited_static_text(static_text: &str, dynamic_path: &Path, erase_client_port: bool) -> String {
    let props = java_properties::parse(static_text);
    let mut values: BTreeMap<&str, &str> = BTreeMap::new();
    let mut keys = Vec::new();
    for p in &props {
        values.insert(p.key.as_str(), p.value.as_str());
        keys.push(p.key.clone());
    }
    // A bin of 8 colliding keys is not replayed: fall back to the file's order.
    let order = java_properties::java_order(&keys).unwrap_or_else(|| {
        let mut seen = std::collections::HashSet::new();
        keys.iter().filter(|k| seen.insert(k.as_str())).cloned().collect()
    });
    let mut out = String::new();
    for key in &order {
        let k = key.trim();
        let dropped = k.starts_with("server.")
            || k.starts_with("group")
            || k.starts_with("weight")
            || k.starts_with("dynamicConfigFile")
            || k.starts_with("peerType")
            || (erase_client_port && k.starts_with("clientPort"));
        if dropped {
            continue;
        }
        let v = values.get(key.as_str()).copied().unwrap_or_default().trim();
        out.push_str(&format!("{k}={v}\n"));
    }
    out.push_str(&format!("dynamicConfigFile={}\n", dynamic_path.display()));
    out
}

/// `QuorumPeerConfig.editStaticConfig`: rewrites zoo.cfg atomically to point at
/// `dynamic_path` (made canonical, which needs it to exist), see [`edited_static_text`].
pub fn edit_static_config(
    config_file: &Path,
    dynamic_path: &Path,
    erase_client_port: bool,
) -> Result<(), DynamicConfigError> {
    let text = read_bounded(config_file)?;
    let canonical = std::fs::canonicalize(dynamic_path)
        .map_err(|source| DynamicConfigError::Read { path: dynamic_path.to_owned(), source })?;
    write_atomically(config_file, edited_static_text(&text, &canonical, erase_client_port).as_bytes())
}

/// `QuorumPeerConfig.backupOldConfig`: `<cfg>.bak`, a byte copy of zoo.cfg, written
/// atomically.
pub fn backup_old_config(config_file: &Path) -> Result<PathBuf, DynamicConfigError> {
    let bytes = std::fs::read(config_file)
        .map_err(|source| DynamicConfigError::Read { path: config_file.to_owned(), source })?;
    let bak = PathBuf::from(format!("{}.bak", config_file.display()));
    write_atomically(&bak, &bytes)?;
    Ok(bak)
}

/// What a member does with its files at start, after zoo.cfg is read
/// (`QuorumPeerConfig.parse`): with `reconfigEnabled=true`, a quorum (not standalone) and
/// the servers in zoo.cfg itself, back zoo.cfg up as `<cfg>.bak`. Returns the backup's
/// path when one was made.
pub fn on_start(config: &super::ServerConfig) -> Result<Option<PathBuf>, DynamicConfigError> {
    match (&config.source, &config.quorum, &config.dynamic_config_file) {
        (Some(cfg), Some(_), None) if config.reconfig_enabled => backup_old_config(cfg).map(Some),
        _ => Ok(None),
    }
}

/// The disk side of `QuorumPeer.setLastSeenQuorumVerifier(view, true)`, for the reconfig
/// work to call when a member learns of a configuration it has not activated (the leader
/// proposing a reconfig or bumping version 0 to the NEWLEADER zxid, a learner on a reconfig
/// PROPOSAL or NEWLEADER): writes `<cfg>.dynamic.next` with the version line. No-op without
/// `reconfigEnabled` or without a zoo.cfg (ZooKeeper keeps no last seen configuration then).
pub fn write_last_seen(config: &super::ServerConfig, view: &QuorumMaj) -> Result<(), DynamicConfigError> {
    let Some(cfg) = config.source.as_deref().filter(|_| config.reconfig_enabled) else {
        return Ok(());
    };
    write_dynamic_config(&next_file_name(cfg), view, true)
}

/// The disk side of `QuorumPeer.setQuorumVerifier(view, true)` (`processReconfig`), for the
/// reconfig work to call when a configuration activates on this member: writes
/// `<cfg>.dynamic.<version>` without the version line, rewrites zoo.cfg to name it (erasing
/// `clientPort*` when this member's server line carries its client address), and deletes
/// `<cfg>.dynamic.next` when `last_seen_version` is this configuration's. Returns the new
/// file's path. The caller then refreshes `/zookeeper/config`
/// ([`crate::peer_state::init_config_node_with`]). A `view` no newer than `current_version`
/// changes nothing, as in ZooKeeper.
pub fn activate(
    config: &super::ServerConfig,
    myid: u64,
    view: &QuorumMaj,
    current_version: i64,
    last_seen_version: i64,
) -> Result<Option<PathBuf>, DynamicConfigError> {
    if !config.reconfig_enabled || view.version <= current_version {
        return Ok(None);
    }
    let Some(cfg) = config.source.as_deref() else { return Ok(None) };
    let path = dynamic_file_name(cfg, view.version);
    write_dynamic_config(&path, view, false)?;
    let erase = view.servers.get(&myid).is_some_and(|s| s.client.is_some());
    edit_static_config(cfg, &path, erase)?;
    if view.version >= last_seen_version {
        let next = next_file_name(cfg);
        if next.exists() {
            std::fs::remove_file(&next).map_err(|source| DynamicConfigError::Write { path: next, source })?;
        }
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(lines: &[(u64, &str)], version: i64) -> QuorumMaj {
        QuorumMaj::new(lines.iter().map(|(i, l)| QuorumServer::parse(*i, l).unwrap()), version)
    }

    #[test]
    fn version_from_the_file_name_as_zookeeper() {
        let v = |s: &str| version_from_filename(Path::new(s));
        assert_eq!(v("/c/zoo.cfg.dynamic.100000000"), Some(0x1_0000_0000));
        assert_eq!(v("zoo.cfg.dynamic.0"), Some(0));
        assert_eq!(v("zoo.cfg.dynamic.2A"), Some(0x2a));
        assert_eq!(v("zoo.cfg.dynamic"), None);
        assert_eq!(v("/etc/zk.d/servers"), None, "the last dot may be in a directory name");
        assert_eq!(v("servers"), None);
        assert_eq!(v("x.cf"), Some(0xcf), "any hex tail counts, as Long.parseLong(s, 16)");
        assert_eq!(v("x.10000000000000000"), None, "beyond a long");
    }

    #[test]
    fn file_names() {
        let cfg = Path::new("/conf/zoo.cfg");
        assert_eq!(dynamic_file_name(cfg, 0x1_0000_0003), Path::new("/conf/zoo.cfg.dynamic.100000003"));
        assert_eq!(next_file_name(cfg), Path::new("/conf/zoo.cfg.dynamic.next"));
    }

    /// The text ZooKeeper 3.8 wrote into zoo.cfg.dynamic.100000000: the lines sorted as
    /// strings (so `server.10=` before `server.1=`, '0' < '='), no version, no final newline.
    #[test]
    fn dynamic_file_text_as_zookeeper() {
        let v = view(
            &[(2, "127.0.0.1:2889:3889"), (10, "127.0.0.1:2890:3890:observer;127.0.0.1:2190"), (1, "h:1:2")],
            0x1_0000_0000,
        );
        assert_eq!(
            dynamic_file_text(&v, false),
            "server.10=127.0.0.1:2890:3890:observer;127.0.0.1:2190\nserver.1=h:1:2:participant\n\
             server.2=127.0.0.1:2889:3889:participant"
        );
        assert!(dynamic_file_text(&v, true).ends_with("server.2=127.0.0.1:2889:3889:participant\nversion=100000000"));
    }

    #[test]
    fn edited_static_config_as_zookeeper() {
        let before = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/d\nclientPort=2181\n\
                      clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nreconfigEnabled=true\n\
                      server.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n";
        let dynamic = Path::new("/conf/zoo.cfg.dynamic.100000000");
        assert_eq!(
            edited_static_text(before, dynamic, false),
            "dataDir=/d\ntickTime=2000\ninitLimit=10\nclientPort=2181\n4lw.commands.whitelist=*\nsyncLimit=5\n\
             reconfigEnabled=true\nclientPortAddress=127.0.0.1\ndynamicConfigFile=/conf/zoo.cfg.dynamic.100000000\n"
        );
        let erased = edited_static_text(before, dynamic, true);
        assert!(!erased.contains("clientPort"), "{erased}");
    }

    /// zoo.cfg before and after Apache ZooKeeper 3.8's first start of a member of the
    /// `static` and `dynamic` cases of e2e/conformance/dynamic_config.sh (12 keys: the
    /// `Properties` table was resized once), paths shortened.
    #[test]
    fn edited_static_config_matches_zookeeper_fixtures() {
        let static_before = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/w/s1/data\n4lw.commands.whitelist=*\n\
                             admin.enableServer=false\nreconfigEnabled=true\nclientPort=43441\n\
                             clientPortAddress=127.0.0.1\nserver.1=127.0.0.1:55357:47935\n\
                             server.2=127.0.0.1:53655:53557\nserver.3=127.0.0.1:50785:52983\n";
        let static_after = "dataDir=/w/s1/data\n4lw.commands.whitelist=*\nsyncLimit=5\nreconfigEnabled=true\n\
                            clientPortAddress=127.0.0.1\nadmin.enableServer=false\ninitLimit=10\ntickTime=2000\n\
                            clientPort=43441\ndynamicConfigFile=/w/s1/conf/zoo.cfg.dynamic.100000000\n";
        let dynamic = Path::new("/w/s1/conf/zoo.cfg.dynamic.100000000");
        assert_eq!(edited_static_text(static_before, dynamic, false), static_after);
        let dynamic_before = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/w/s1/data\n4lw.commands.whitelist=*\n\
                              admin.enableServer=false\nreconfigEnabled=true\n\
                              dynamicConfigFile=/w/s1/conf/zoo.cfg.dynamic\n";
        let dynamic_after = "admin.enableServer=false\ndataDir=/w/s1/data\ntickTime=2000\ninitLimit=10\n\
                             4lw.commands.whitelist=*\nsyncLimit=5\nreconfigEnabled=true\n\
                             dynamicConfigFile=/w/s1/conf/zoo.cfg.dynamic.100000000\n";
        assert_eq!(edited_static_text(dynamic_before, dynamic, true), dynamic_after);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zab-dyncfg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_a_dynamic_file_and_refuses_bad_ones() {
        let d = temp_dir("read");
        let p = d.join("zoo.cfg.dynamic.2a");
        std::fs::write(&p, "server.3=127.0.0.1:5:6:participant;127.0.0.1:2183\nserver.1=127.0.0.1:1:2\n").unwrap();
        let f = read_dynamic_file(&p).unwrap();
        assert_eq!(f.view.version, 0x2a);
        assert_eq!(f.view.servers.keys().copied().collect::<Vec<_>>(), [1, 3]);
        let bad = |text: &str, want: &str| {
            std::fs::write(&p, text).unwrap();
            let e = read_dynamic_file(&p).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("zoo.cfg.dynamic.2a"), "{e}");
        };
        bad("server.1=127.0.0.1:1:2\nversion=2a\n", "line 2: a dynamic configuration file must not hold a version");
        bad("server.1=127.0.0.1:1:2\nclientPort=2181\n", "line 2: unrecognised parameter clientPort");
        bad("server.1=127.0.0.1:1:2\nserver.x=127.0.0.1:1:2\n", "line 2: server.x");
        bad("server.1=127.0.0.1:1\n", "line 1:");
        bad("group.1=1:2\n", "hierarchical");
        bad("# nothing\n", "holds no server.N line");
        std::fs::write(&p, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read_dynamic_file(&p), Err(DynamicConfigError::TooLarge { .. })));
        let missing = read_dynamic_file(&d.join("absent")).unwrap_err().to_string();
        assert!(missing.contains("absent"), "{missing}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn activation_writes_the_files_as_zookeeper() {
        let d = temp_dir("activate");
        let cfg = d.join("zoo.cfg");
        let original = format!(
            "# a comment\ntickTime=2000\ndataDir={}\nreconfigEnabled=true\nclientPort=2181\n\
             server.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n",
            d.join("data").display()
        );
        std::fs::write(&cfg, &original).unwrap();
        let config =
            super::super::ServerConfig { source: Some(cfg.clone()), reconfig_enabled: true, ..Default::default() };
        let v = view(&[(1, "127.0.0.1:1:2"), (2, "127.0.0.1:3:4"), (3, "127.0.0.1:5:6")], 0x1_0000_0000);
        write_last_seen(&config, &v).unwrap();
        let next = d.join("zoo.cfg.dynamic.next");
        assert!(std::fs::read_to_string(&next).unwrap().ends_with("\nversion=100000000"));
        assert_eq!(activate(&config, 1, &v, 0x1_0000_0000, 0x1_0000_0000).unwrap(), None, "not newer");
        let path = activate(&config, 1, &v, 0, 0x1_0000_0000).unwrap().unwrap();
        assert_eq!(path, d.join("zoo.cfg.dynamic.100000000"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "server.1=127.0.0.1:1:2:participant\nserver.2=127.0.0.1:3:4:participant\nserver.3=127.0.0.1:5:6:participant"
        );
        assert!(!next.exists(), "activation deletes the next file");
        let edited = std::fs::read_to_string(&cfg).unwrap();
        let canonical = std::fs::canonicalize(&path).unwrap();
        assert!(edited.ends_with(&format!("dynamicConfigFile={}\n", canonical.display())), "{edited}");
        assert!(edited.contains("clientPort=2181\n") && !edited.contains("server.") && !edited.contains('#'));
        assert!(!d.join("zoo.cfg.dynamic.100000000.tmp").exists());
        // Reading the rewritten zoo.cfg's dynamic file gives the configuration back.
        assert_eq!(read_dynamic_file(&canonical).unwrap().view, v);
        // Disabled: nothing written.
        let off = super::super::ServerConfig { reconfig_enabled: false, ..config.clone() };
        let v2 = QuorumMaj { version: 0x2_0000_0000, ..v.clone() };
        write_last_seen(&off, &v2).unwrap();
        assert_eq!(activate(&off, 1, &v2, 0, 0).unwrap(), None);
        assert!(!next.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn backup_is_a_byte_copy() {
        let d = temp_dir("bak");
        let cfg = d.join("zoo.cfg");
        std::fs::write(&cfg, "# c\nserver.1=a:1:2\n\n").unwrap();
        let bak = backup_old_config(&cfg).unwrap();
        assert_eq!(bak, d.join("zoo.cfg.bak"));
        assert_eq!(std::fs::read(&bak).unwrap(), std::fs::read(&cfg).unwrap());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
