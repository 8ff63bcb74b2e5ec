//! File names of ZooKeeper's data directories: `version-2/log.<zxid>` and
//! `version-2/snapshot.<zxid>[.gz|.snappy]`, zxid in lowercase hex without `0x`.

use std::path::{Path, PathBuf};

pub const VERSION_DIR: &str = "version-2";
pub const LOG_PREFIX: &str = "log";
pub const SNAP_PREFIX: &str = "snapshot";

pub fn log_name(zxid: i64) -> String {
    format!("{LOG_PREFIX}.{:x}", zxid as u64)
}

pub fn snap_name(zxid: i64) -> String {
    format!("{SNAP_PREFIX}.{:x}", zxid as u64)
}

/// The zxid in a `prefix.<hex>[.ext]` name (`Util.getZxidFromName`).
pub fn zxid_from_name(name: &str, prefix: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
    let hex = rest.split('.').next()?;
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

/// `dir/version-2`.
pub fn version_dir(dir: &Path) -> PathBuf {
    dir.join(VERSION_DIR)
}

/// Files in `dir` named `prefix.<hex>...`, sorted by zxid (ascending).
pub fn sorted_files(dir: &Path, prefix: &str) -> std::io::Result<Vec<(i64, PathBuf)>> {
    let mut v = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(z) = zxid_from_name(name, prefix) {
            // Only regular files (a symlink to one is fine): a device or a fifo under a
            // log's name would never end.
            match std::fs::metadata(e.path()) {
                Ok(m) if m.is_file() => v.push((z, e.path())),
                _ => tracing::warn!(file = %e.path().display(), "ignoring a data file that is not a regular file"),
            }
        }
    }
    v.sort_by_key(|(z, _)| *z);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(log_name(0x100000001), "log.100000001");
        assert_eq!(snap_name(0), "snapshot.0");
        assert_eq!(zxid_from_name("snapshot.1f.gz", SNAP_PREFIX), Some(0x1f));
        assert_eq!(zxid_from_name("log.zz", LOG_PREFIX), None);
        assert_eq!(zxid_from_name("logx.1", LOG_PREFIX), None);
    }
}
