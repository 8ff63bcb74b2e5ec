//! Offline tools on data directories, in the spirit of ZooKeeper's TxnLogToolkit,
//! SnapshotFormatter and PurgeTxnLog: `zab-node logdump`, `snapdump`, `verify`, `purge`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use zab_datatree::TreeConfig;
use zab_jute::codes::op;
use zab_jute::txn::Txn;
use zab_persistence::names::{sorted_files, version_dir, LOG_PREFIX, SNAP_PREFIX};
use zab_persistence::snaplog::SnapLog;
use zab_persistence::snapshot::{looks_valid, read_snapshot};
use zab_persistence::txnlog::{scan_file, unmarshal, Tail};
use zab_persistence::PersistenceError;

/// Why an offline tool could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// A log, snapshot or data directory could not be read (or, for purge, changed).
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// A log record's txn does not decode.
    #[error("{} at offset {offset}: {reason}", file.display())]
    BadTxn { file: PathBuf, offset: u64, reason: String },
    /// Copying the data directory for a read-only restore failed.
    #[error("{what}: {source}")]
    Copy {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("count must be at least 3, as in ZooKeeper's PurgeTxnLog")]
    CountTooSmall,
}

fn txn_path(t: &Txn) -> String {
    match t {
        Txn::Create(c) => c.path.clone(),
        Txn::CreateTtl(c) => c.path.clone(),
        Txn::CreateContainer(c) => c.path.clone(),
        Txn::Delete(d) => d.path.clone(),
        Txn::SetData(s) => s.path.clone(),
        Txn::Check(c) => c.path.clone(),
        Txn::SetAcl(s) => s.path.clone(),
        Txn::CreateSession(s) => format!("timeout={}", s.time_out),
        Txn::CloseSession(Some(c)) => format!("ephemerals={}", c.paths2_delete.len()),
        Txn::CloseSession(None) => String::new(),
        Txn::Error(e) => format!("err={}", e.err),
        Txn::Multi(m) => format!("ops={}", m.len()),
    }
}

/// One line per txn: zxid, time, session, cxid, type, path, payload size.
pub fn logdump(file: &Path) -> Result<String, ToolError> {
    let scanned = scan_file(file)?;
    let mut out = String::new();
    for (offset, payload) in &scanned.records {
        let e = unmarshal(payload).map_err(|reason| ToolError::BadTxn {
            file: file.to_path_buf(),
            offset: *offset,
            reason,
        })?;
        let _ = writeln!(
            out,
            "zxid 0x{:x} time {} session 0x{:x} cxid 0x{:x} {} {} size {}{}",
            e.hdr.zxid,
            e.hdr.time,
            e.hdr.client_id,
            e.hdr.cxid,
            op::name(e.hdr.txn_type),
            txn_path(&e.txn),
            payload.len(),
            e.digest.map(|d| format!(" digest {}", d.tree_digest)).unwrap_or_default()
        );
    }
    let _ = writeln!(out, "EOF reached after {} txns.", scanned.records.len());
    if let Tail::Torn { reason } = &scanned.tail {
        let _ = writeln!(out, "torn tail: {reason}");
    }
    Ok(out)
}

/// A snapshot's summary and, with `nodes`, every node.
pub fn snapdump(file: &Path, nodes: bool) -> Result<String, ToolError> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let zxid = zab_persistence::names::zxid_from_name(name, SNAP_PREFIX).unwrap_or(-1);
    let cfg = TreeConfig { extended_types: true, digest_enabled: true };
    let s = read_snapshot(file, zxid, cfg)?;
    let mut out = String::new();
    let _ = writeln!(out, "snapshot {} zxid 0x{:x}", file.display(), zxid as u64);
    let _ = writeln!(out, "sessions: {}", s.sessions.len());
    let _ = writeln!(out, "nodes: {}", s.tree.node_count());
    let _ = writeln!(out, "approximate data size: {}", s.tree.approximate_data_size());
    let _ = writeln!(out, "acl entries: {}", s.tree.acl_cache().len());
    let _ = writeln!(out, "tree digest: {}", s.tree.digest() as i64);
    if let Some((z, v, d)) = s.digest {
        let _ = writeln!(out, "recorded digest: zxid 0x{z:x} version {v} digest {d}");
    }
    if nodes {
        let mut paths: Vec<String> = s.tree.paths().collect();
        paths.sort();
        for p in paths {
            if let Some(n) = s.tree.node(&p) {
                let st = s.tree.client_stat(&n);
                let _ = writeln!(
                    out,
                    "{p} czxid 0x{:x} mzxid 0x{:x} pzxid 0x{:x} version {} cversion {} aversion {} owner 0x{:x} data {} children {}",
                    st.czxid, st.mzxid, st.pzxid, st.version, st.cversion, st.aversion, st.ephemeral_owner, st.data_length, st.num_children
                );
            }
        }
    }
    Ok(out)
}

/// Checks every snapshot and log of a data directory: seals, checksums, zxid gaps, and a
/// full restore. Returns the report and whether everything was sound.
pub fn verify(data_dir: &Path, log_dir: &Path) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    let snap_dir = version_dir(data_dir);
    let cfg = TreeConfig { extended_types: true, digest_enabled: true };
    for (z, p) in sorted_files(&snap_dir, SNAP_PREFIX).unwrap_or_default() {
        if p.to_string_lossy().ends_with(".tmp") {
            continue;
        }
        if !looks_valid(&p) {
            let _ = writeln!(out, "snapshot {}: INVALID (incomplete)", p.display());
            ok = false;
            continue;
        }
        match read_snapshot(&p, z, cfg) {
            Ok(s) => {
                let _ = writeln!(
                    out,
                    "snapshot {}: ok, {} nodes, {} sessions",
                    p.display(),
                    s.tree.node_count(),
                    s.sessions.len()
                );
            }
            Err(e) => {
                let _ = writeln!(out, "snapshot {}: BAD: {e}", p.display());
                ok = false;
            }
        }
    }
    let mut prev: Option<i64> = None;
    for (_, p) in sorted_files(&version_dir(log_dir), LOG_PREFIX).unwrap_or_default() {
        match scan_file(&p) {
            Ok(s) => {
                let mut gaps = 0;
                let (mut first, mut last) = (None, None);
                for (offset, payload) in &s.records {
                    match unmarshal(payload) {
                        Ok(e) => {
                            let z = e.hdr.zxid;
                            if let Some(p) = prev {
                                if z != p + 1 && (z >> 32) == (p >> 32) {
                                    gaps += 1;
                                }
                            }
                            prev = Some(z);
                            first.get_or_insert(z);
                            last = Some(z);
                        }
                        Err(r) => {
                            let _ = writeln!(out, "log {} offset {offset}: BAD txn: {r}", p.display());
                            ok = false;
                        }
                    }
                }
                let tail = match &s.tail {
                    Tail::Clean => "clean end".to_string(),
                    Tail::Torn { reason } => format!("torn tail ({reason})"),
                };
                let _ = writeln!(
                    out,
                    "log {}: {} txns, zxid 0x{:x}..0x{:x}, {tail}{}",
                    p.display(),
                    s.records.len(),
                    first.unwrap_or(0),
                    last.unwrap_or(0),
                    if gaps > 0 { format!(", {gaps} GAPS") } else { String::new() }
                );
                if gaps > 0 {
                    ok = false;
                }
            }
            Err(e) => {
                let _ = writeln!(out, "log {}: BAD: {e}", p.display());
                ok = false;
            }
        }
    }
    // A full restore, read-only: copy nothing, but do not repair either.
    let snap_log = SnapLog::new(data_dir, log_dir);
    match restore_readonly(&snap_log, cfg) {
        Ok((zxid, nodes, mismatches)) => {
            let _ = writeln!(out, "restore: ok, last zxid 0x{zxid:x}, {nodes} nodes, {mismatches} digest mismatches");
            if mismatches > 0 {
                ok = false;
            }
        }
        Err(e) => {
            let _ = writeln!(out, "restore: FAILED: {e}");
            ok = false;
        }
    }
    let _ = writeln!(out, "{}", if ok { "verify: OK" } else { "verify: PROBLEMS FOUND" });
    (out, ok)
}

fn restore_readonly(snap_log: &SnapLog, cfg: TreeConfig) -> Result<(i64, usize, usize), ToolError> {
    // restore() cuts torn tails; verify must not change anything, so work on a copy of the
    // logs when one is torn.
    let tmp = std::env::temp_dir().join(format!("zab-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let copy = |from: &Path, to: &Path| -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            if e.file_type()?.is_file() {
                std::fs::copy(e.path(), to.join(e.file_name()))?;
            }
        }
        Ok(())
    };
    let data = tmp.join("data");
    let logs = tmp.join("logs");
    copy(&snap_log.snap_dir, &version_dir(&data))
        .map_err(|source| ToolError::Copy { what: "copying snapshots", source })?;
    if snap_log.log_dir.exists() {
        copy(&snap_log.log_dir, &version_dir(&logs))
            .map_err(|source| ToolError::Copy { what: "copying logs", source })?;
    }
    let r = SnapLog::new(&data, &logs).restore(cfg, crate::config::DEFAULT_COMMIT_LOG_COUNT);
    let _ = std::fs::remove_dir_all(&tmp);
    let r = r?;
    Ok((r.last_zxid, r.tree.node_count(), r.digest_mismatches))
}

/// Keeps the `count` newest snapshots and the logs they need (`PurgeTxnLog`).
pub fn purge(data_dir: &Path, log_dir: &Path, count: usize) -> Result<Vec<PathBuf>, ToolError> {
    if count < 3 {
        return Err(ToolError::CountTooSmall);
    }
    Ok(SnapLog::new(data_dir, log_dir).purge(count)?)
}
