//! `currentEpoch` and `acceptedEpoch`: the epoch as decimal text in the snapshot directory,
//! written atomically (`AtomicFileOutputStream`: write `<name>.tmp`, fsync, rename, fsync
//! the directory).

use std::io::Write;
use std::path::Path;

use crate::error::{io, PersistenceError};

pub const CURRENT_EPOCH: &str = "currentEpoch";
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";

/// Reads an epoch file; `None` if it does not exist.
pub fn read_epoch(dir: &Path, name: &str) -> Result<Option<i64>, PersistenceError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<i64>().map(Some).map_err(|_| PersistenceError::Epoch {
            path: path.clone(),
            reason: format!("not a decimal number: {:?}", text.trim()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", &path)(e)),
    }
}

/// Writes an epoch file atomically.
pub fn write_epoch(dir: &Path, name: &str, epoch: i64) -> Result<(), PersistenceError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(epoch.to_string().as_bytes()).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io("renaming into", &path))?;
    sync_dir(dir)
}

/// fsyncs a directory so a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), PersistenceError> {
    let d = std::fs::File::open(dir).map_err(io("opening directory", dir))?;
    d.sync_all().map_err(io("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_round_trip_atomically() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), None);
        write_epoch(d.path(), CURRENT_EPOCH, 7).unwrap();
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(7));
        assert!(!d.path().join("currentEpoch.tmp").exists());
        std::fs::write(d.path().join(ACCEPTED_EPOCH), "x").unwrap();
        assert!(read_epoch(d.path(), ACCEPTED_EPOCH).is_err());
    }
}

/// `QuorumPeer.loadDataBase`'s epoch checks: creates missing files from the epoch of the
/// last zxid, accepts `currentEpoch.tmp` when a crash interrupted its rename, and refuses
/// an acceptedEpoch below currentEpoch. Returns (currentEpoch, acceptedEpoch).
pub fn load_epochs(dir: &Path, last_zxid: i64) -> Result<(i64, i64), PersistenceError> {
    let zxid_epoch = last_zxid >> 32;
    let mut current = match read_epoch(dir, CURRENT_EPOCH)? {
        Some(e) => e,
        None => {
            write_epoch(dir, CURRENT_EPOCH, zxid_epoch.max(0))?;
            zxid_epoch.max(0)
        }
    };
    if zxid_epoch > current {
        match read_epoch(dir, &format!("{CURRENT_EPOCH}.tmp"))? {
            Some(tmp) => {
                write_epoch(dir, CURRENT_EPOCH, tmp)?;
                current = tmp;
            }
            None => {
                return Err(PersistenceError::Epoch {
                    path: dir.join(CURRENT_EPOCH),
                    reason: format!(
                        "the current epoch {current} is older than the epoch {zxid_epoch} of the last zxid 0x{last_zxid:x}; \
                         the data directory is inconsistent (ZooKeeper refuses it too)"
                    ),
                })
            }
        }
    }
    let accepted = match read_epoch(dir, ACCEPTED_EPOCH)? {
        Some(e) => e,
        None => {
            write_epoch(dir, ACCEPTED_EPOCH, zxid_epoch.max(0))?;
            zxid_epoch.max(0)
        }
    };
    if accepted < current {
        return Err(PersistenceError::Epoch {
            path: dir.join(ACCEPTED_EPOCH),
            reason: format!("the accepted epoch {accepted} is less than the current epoch {current}"),
        });
    }
    Ok((current, accepted))
}

#[cfg(test)]
mod load_tests {
    use super::*;

    #[test]
    fn startup_checks() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load_epochs(d.path(), 0x300000005).unwrap(), (3, 3));
        write_epoch(d.path(), CURRENT_EPOCH, 2).unwrap();
        assert!(load_epochs(d.path(), 0x300000005).is_err());
        std::fs::write(d.path().join("currentEpoch.tmp"), "3").unwrap();
        assert_eq!(load_epochs(d.path(), 0x300000005).unwrap(), (3, 3));
        write_epoch(d.path(), ACCEPTED_EPOCH, 1).unwrap();
        assert!(load_epochs(d.path(), 0x300000005).is_err());
    }
}
