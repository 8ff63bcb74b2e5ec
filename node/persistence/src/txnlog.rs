//! FileTxnLog: ZooKeeper's transaction log (`persistence/FileTxnLog.java`).
//!
//! Byte grammar of `dataLogDir/version-2/log.<zxid of the first txn>`:
//!
//! ```text
//! file       := FileHeader record* padding
//! FileHeader := int magic 0x5A4B4C47 ("ZKLG"), int version 2, long dbid 0
//! record     := long checksum, int len, byte[len] payload, byte 0x42 ('B')
//! payload    := TxnHeader, txn body, [TxnDigest]
//! checksum   := Adler32 over the payload bytes only
//! padding    := zeros (the file is extended in preAllocSize blocks); len 0 ends the log
//! ```
//!
//! Writing: [`TxnLogWriter::append`] buffers; [`TxnLogWriter::commit`] writes the buffer,
//! extends the file when within 4 KiB of its allocated end, and fdatasyncs (group commit:
//! one sync covers every txn appended since the last commit).
//!
//! Reading never trusts the file: a record that fails (short, bad length, missing 0x42, bad
//! checksum) with only zeros after it is a torn tail — the log ends there and
//! [`repair_torn_tail`] cuts it off; one followed by non-zero bytes is corruption and is
//! reported with the file and offset.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, warn};
use zab_jute::record::Record;
use zab_jute::txn::{Txn, TxnDigest, TxnHeader};
use zab_jute::{InputArchive, OutputArchive};

use crate::error::{io, PersistenceError};
use crate::names::{log_name, sorted_files, LOG_PREFIX};

pub const TXNLOG_MAGIC: i32 = 0x5A4B4C47;
pub const VERSION: i32 = 2;
const HEADER_LEN: usize = 16;
/// Largest payload accepted when reading (jute.maxbuffer plus its extra size, generously).
pub const MAX_RECORD: usize = 64 << 20;

/// Serialises a txn as a log payload (`Util.marshallTxnEntry`).
pub fn marshal(hdr: &TxnHeader, txn: &Txn, digest: Option<&TxnDigest>) -> Vec<u8> {
    let mut o = OutputArchive::with_capacity(128);
    hdr.write(&mut o);
    txn.write(&mut o);
    if let Some(d) = digest {
        d.write(&mut o);
    }
    o.into_inner()
}

fn adler(bytes: &[u8]) -> i64 {
    let mut a = adler::Adler32::new();
    a.write_slice(bytes);
    a.checksum() as i64
}

/// One txn read back from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub hdr: TxnHeader,
    pub txn: Txn,
    pub digest: Option<TxnDigest>,
    /// The payload as stored (for DIFF sync and tools).
    pub payload: Vec<u8>,
}

/// Decodes a payload: header, body, optional digest.
pub fn unmarshal(payload: &[u8]) -> Result<LogEntry, String> {
    let mut inp = InputArchive::new(payload, MAX_RECORD);
    let hdr = TxnHeader::read(&mut inp).map_err(|e| format!("txn header: {e}"))?;
    let txn = Txn::read(hdr.txn_type, &mut inp).map_err(|e| format!("txn body of type {}: {e}", hdr.txn_type))?;
    let digest = if inp.remaining() >= 12 { TxnDigest::read(&mut inp).ok() } else { None };
    Ok(LogEntry { hdr, txn, digest, payload: payload.to_vec() })
}

/// How the scan of one file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Clean end (zero length record or end of file at a record boundary).
    Clean,
    /// A partial last record; the log ends at `valid_end`.
    Torn { reason: String },
}

/// The records of one log file.
#[derive(Debug)]
pub struct ScannedFile {
    pub path: PathBuf,
    /// (offset, payload) of every valid record, in order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Offset just past the last valid record.
    pub valid_end: u64,
    pub tail: Tail,
}

fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|x| *x == 0)
}

/// Reads and checks one log file.
pub fn scan_file(path: &Path) -> Result<ScannedFile, PersistenceError> {
    use std::io::Read;
    let f = File::open(path).map_err(io("opening", path))?;
    let len = f.metadata().map_err(io("reading metadata of", path))?.len();
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut bytes).map_err(io("reading", path))?;
    scan_bytes(path, &bytes)
}

/// Checks the bytes of one log file (see the module doc for the rules).
pub fn scan_bytes(path: &Path, bytes: &[u8]) -> Result<ScannedFile, PersistenceError> {
    let mut records = Vec::new();
    let (valid_end, tail) = scan_bytes_with(path, bytes, |offset, payload| {
        records.push((offset, payload.to_vec()));
        Ok(())
    })?;
    Ok(ScannedFile { path: path.to_owned(), records, valid_end, tail })
}

/// [`scan_bytes`] without keeping the records: `visit` sees each valid record (offset and
/// payload) in order, before the rest of the file is checked. Returns where the valid
/// records end and how the file ends.
pub fn scan_bytes_with(
    path: &Path,
    bytes: &[u8],
    mut visit: impl FnMut(u64, &[u8]) -> Result<(), PersistenceError>,
) -> Result<(u64, Tail), PersistenceError> {
    let corrupt = |offset: usize, reason: String| PersistenceError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < HEADER_LEN {
        // A file cut before its header was complete holds no txn.
        if all_zero(bytes) || bytes.len() < HEADER_LEN {
            return Ok((0, Tail::Torn { reason: format!("file shorter than its header ({} bytes)", bytes.len()) }));
        }
    }
    let magic = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != TXNLOG_MAGIC {
        return Err(corrupt(
            0,
            format!("not a transaction log: magic 0x{magic:08x}, expected 0x{TXNLOG_MAGIC:08x} (ZKLG)"),
        ));
    }
    let version = i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if version != VERSION {
        return Err(PersistenceError::UnsupportedVersion { path: path.to_owned(), version });
    }
    let mut pos = HEADER_LEN;
    let mut valid_end = HEADER_LEN as u64;
    let tail = loop {
        if pos == bytes.len() {
            break Tail::Clean;
        }
        if bytes.len() - pos < 12 {
            if all_zero(&bytes[pos..]) {
                break Tail::Clean;
            }
            break Tail::Torn { reason: format!("partial record header at offset {pos}") };
        }
        let crc = i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap_or([0; 8]));
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap_or([0; 4]));
        if len == 0 {
            // End of log (preallocated zeros) — but zeros must follow for it to be clean.
            if crc == 0 && all_zero(&bytes[pos..]) {
                break Tail::Clean;
            }
            if all_zero(&bytes[pos + 12..]) {
                break Tail::Torn { reason: format!("record with length 0 at offset {pos}") };
            }
            return Err(corrupt(pos, "record of length 0 followed by more data".into()));
        }
        let bad = |reason: String| -> Result<Tail, PersistenceError> { Err(corrupt(pos, reason)) };
        if len < 0 || len as usize > MAX_RECORD {
            if all_zero(&bytes[pos + 12..]) {
                break Tail::Torn { reason: format!("bad record length {len} at offset {pos}") };
            }
            bad(format!("record length {len} out of range"))?;
        }
        let len = len as usize;
        let end = pos + 12 + len;
        if end + 1 > bytes.len() {
            break Tail::Torn { reason: format!("record at offset {pos} runs past the end of the file") };
        }
        let payload = &bytes[pos + 12..end];
        if bytes[end] != 0x42 {
            if all_zero(&bytes[end..]) {
                break Tail::Torn {
                    reason: format!("record at offset {pos} lacks its end marker (last transaction was partial)"),
                };
            }
            bad(format!("record at offset {pos} lacks its end marker 0x42"))?;
        }
        if adler(payload) != crc {
            if all_zero(&bytes[end + 1..]) {
                break Tail::Torn { reason: format!("checksum mismatch in the last record at offset {pos}") };
            }
            return Err(PersistenceError::ChecksumInMiddle { path: path.to_owned(), offset: pos as u64 });
        }
        visit(pos as u64, payload)?;
        pos = end + 1;
        valid_end = pos as u64;
    };
    Ok((valid_end, tail))
}

/// Every txn with zxid >= `from`, across the log files of `dir` (`FileTxnIterator`).
/// Starts at the newest file whose first zxid is <= `from`.
pub fn read_from(dir: &Path, from: i64) -> Result<Vec<LogEntry>, PersistenceError> {
    let mut out = Vec::new();
    replay_from(dir, from, |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// [`read_from`], handing each txn to `f` as it is read: only one log file is in memory at
/// a time, not every txn since the snapshot.
pub fn replay_from(
    dir: &Path,
    from: i64,
    mut f: impl FnMut(LogEntry) -> Result<(), PersistenceError>,
) -> Result<(), PersistenceError> {
    use std::io::Read;
    let files = sorted_files(dir, LOG_PREFIX).map_err(io("listing", dir))?;
    let start = files.iter().rposition(|(z, _)| *z <= from).unwrap_or(0);
    for (_, path) in &files[start..] {
        let file = File::open(path).map_err(io("opening", path))?;
        let len = file.metadata().map_err(io("reading metadata of", path))?.len();
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(len).read_to_end(&mut bytes).map_err(io("reading", path))?;
        scan_bytes_with(path, &bytes, |offset, payload| {
            let e = unmarshal(payload).map_err(|reason| PersistenceError::Corrupt {
                path: path.clone(),
                offset,
                reason,
            })?;
            if e.hdr.zxid >= from {
                f(e)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The zxid of the last valid txn in `dir`, or -1.
pub fn last_logged_zxid(dir: &Path) -> Result<i64, PersistenceError> {
    let files = sorted_files(dir, LOG_PREFIX).map_err(io("listing", dir))?;
    for (_, path) in files.iter().rev() {
        let s = scan_file(path)?;
        if let Some((offset, payload)) = s.records.last() {
            let e = unmarshal(payload).map_err(|reason| PersistenceError::Corrupt {
                path: path.clone(),
                offset: *offset,
                reason,
            })?;
            return Ok(e.hdr.zxid);
        }
    }
    Ok(-1)
}

/// Cuts a torn tail off every log file of `dir` (from the newest back to the first file
/// that ends cleanly). Returns the files repaired.
pub fn repair_torn_tail(dir: &Path) -> Result<Vec<PathBuf>, PersistenceError> {
    let files = sorted_files(dir, LOG_PREFIX).map_err(io("listing", dir))?;
    let mut repaired = Vec::new();
    for (_, path) in files.iter().rev() {
        let s = scan_file(path)?;
        if let Tail::Torn { reason } = &s.tail {
            if s.records.is_empty() && s.valid_end < HEADER_LEN as u64 {
                // Created, then a crash before its header was whole: it holds nothing, and
                // a header of zeros would not read back as a log. Remove it.
                warn!(file = %path.display(), %reason, "removing a transaction log torn inside its header");
                std::fs::remove_file(path).map_err(io("removing", path))?;
                crate::epoch::sync_dir(dir)?;
                repaired.push(path.clone());
                continue;
            }
            warn!(file = %path.display(), %reason, valid_end = s.valid_end, "truncating a torn transaction log tail");
            let f = OpenOptions::new().write(true).open(path).map_err(io("opening", path))?;
            f.set_len(s.valid_end.max(HEADER_LEN as u64)).map_err(io("truncating", path))?;
            f.sync_all().map_err(io("syncing", path))?;
            repaired.push(path.clone());
        }
        if !s.records.is_empty() {
            break;
        }
    }
    Ok(repaired)
}

/// Removes every txn after `zxid` (`FileTxnLog.truncate`): cuts the file holding it and
/// deletes later files.
pub fn truncate_after(dir: &Path, zxid: i64) -> Result<(), PersistenceError> {
    let files = sorted_files(dir, LOG_PREFIX).map_err(io("listing", dir))?;
    for (start, path) in files.iter().rev() {
        if *start > zxid {
            std::fs::remove_file(path).map_err(io("removing", path))?;
            continue;
        }
        let s = scan_file(path)?;
        let mut cut = HEADER_LEN as u64;
        for (offset, payload) in &s.records {
            let e = unmarshal(payload).map_err(|reason| PersistenceError::Corrupt {
                path: path.clone(),
                offset: *offset,
                reason,
            })?;
            if e.hdr.zxid > zxid {
                break;
            }
            cut = offset + 12 + payload.len() as u64 + 1;
        }
        let f = OpenOptions::new().write(true).open(path).map_err(io("opening", path))?;
        f.set_len(cut).map_err(io("truncating", path))?;
        f.sync_all().map_err(io("syncing", path))?;
        break;
    }
    Ok(())
}

/// Appends txns and commits them durably.
pub struct TxnLogWriter {
    dir: PathBuf,
    current: Option<Current>,
    pending: Vec<u8>,
    pending_first_zxid: Option<i64>,
    pre_alloc: u64,
    force_sync: bool,
    last_zxid: i64,
    /// Bytes written to the current file (for size-based rolling).
    pub bytes_in_file: u64,
}

struct Current {
    path: PathBuf,
    file: File,
    pos: u64,
    allocated: u64,
}

impl TxnLogWriter {
    /// A writer for `dir` (dataLogDir/version-2, created if missing). The first append
    /// opens a new file named after its zxid, as ZooKeeper does after every restart.
    pub fn open(dir: &Path, pre_alloc: u64, force_sync: bool) -> Result<TxnLogWriter, PersistenceError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        Ok(TxnLogWriter {
            dir: dir.to_owned(),
            current: None,
            pending: Vec::with_capacity(64 * 1024),
            pending_first_zxid: None,
            pre_alloc: pre_alloc.max(4096),
            force_sync,
            last_zxid: -1,
            bytes_in_file: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Buffers one txn (the caller has already serialised it with [`marshal`]).
    pub fn append(&mut self, zxid: i64, payload: &[u8]) {
        if zxid <= self.last_zxid {
            warn!(
                zxid = format_args!("0x{zxid:x}"),
                last = format_args!("0x{:x}", self.last_zxid),
                "txn zxid not after the last one"
            );
        }
        self.last_zxid = zxid;
        if self.current.is_none() && self.pending_first_zxid.is_none() {
            self.pending_first_zxid = Some(zxid);
        }
        let mut o = OutputArchive::from_vec(std::mem::take(&mut self.pending));
        o.write_i64(adler(payload));
        o.write_i32(payload.len() as i32);
        o.write_raw(payload);
        o.write_u8(0x42);
        self.pending = o.into_inner();
    }

    fn open_file(&mut self, zxid: i64) -> Result<(), PersistenceError> {
        let path = self.dir.join(log_name(zxid));
        let mut file =
            OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(io("creating", &path))?;
        let mut hdr = OutputArchive::with_capacity(HEADER_LEN);
        hdr.write_i32(TXNLOG_MAGIC);
        hdr.write_i32(VERSION);
        hdr.write_i64(0);
        file.write_all(hdr.as_slice()).map_err(io("writing", &path))?;
        info!(file = %path.display(), "new transaction log");
        self.current = Some(Current { path, file, pos: HEADER_LEN as u64, allocated: 0 });
        self.bytes_in_file = HEADER_LEN as u64;
        crate::epoch::sync_dir(&self.dir)?;
        Ok(())
    }

    /// Writes everything appended and makes it durable. Returns the time the fsync took.
    pub fn commit(&mut self) -> Result<Duration, PersistenceError> {
        if self.pending.is_empty() {
            return Ok(Duration::ZERO);
        }
        if self.current.is_none() {
            let z = self.pending_first_zxid.take().unwrap_or(self.last_zxid);
            self.open_file(z)?;
        }
        let pre_alloc = self.pre_alloc;
        let Some(cur) = self.current.as_mut() else {
            return Err(PersistenceError::Failed("no open transaction log".into()));
        };
        let end = cur.pos + self.pending.len() as u64;
        // FilePadding: keep the file preallocated ahead of the writes.
        if end + 4096 >= cur.allocated {
            let new_size = if end > cur.allocated {
                (end + pre_alloc) - (end + pre_alloc) % pre_alloc
            } else {
                cur.allocated + pre_alloc
            };
            cur.file.set_len(new_size).map_err(io("preallocating", &cur.path))?;
            cur.allocated = new_size;
        }
        cur.file.write_all(&self.pending).map_err(io("writing", &cur.path))?;
        cur.pos = end;
        self.bytes_in_file = end;
        self.pending.clear();
        let started = Instant::now();
        if self.force_sync {
            cur.file.sync_data().map_err(io("syncing", &cur.path))?;
        }
        Ok(started.elapsed())
    }

    /// The next append goes to a new file (after a snapshot, as ZooKeeper rolls).
    pub fn roll(&mut self) {
        self.current = None;
        self.pending_first_zxid = None;
    }

    /// The file being written, if any.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_jute::codes::op;
    use zab_jute::txn::{CreateSessionTxn, DeleteTxn};

    fn entry(z: i64) -> (TxnHeader, Txn) {
        (
            TxnHeader { client_id: 1, cxid: z as i32, zxid: z, time: 1000 + z, txn_type: op::DELETE },
            Txn::Delete(DeleteTxn { path: format!("/n{z}") }),
        )
    }

    #[test]
    fn a_log_torn_inside_its_header_is_removed() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), 1..=5, 100);
        for len in [0usize, 7] {
            let torn = d.path().join(crate::names::log_name(6));
            std::fs::write(&torn, vec![0u8; len]).unwrap();
            assert_eq!(repair_torn_tail(d.path()).unwrap(), vec![torn.clone()]);
            assert!(!torn.exists(), "a log with no whole header holds nothing and is removed");
            assert_eq!(read_from(d.path(), 1).unwrap().len(), 5);
            assert_eq!(last_logged_zxid(d.path()).unwrap(), 5);
        }
    }

    fn write(dir: &Path, zxids: std::ops::RangeInclusive<i64>, roll_every: i64) {
        let mut w = TxnLogWriter::open(dir, 64 * 1024, true).unwrap();
        for z in zxids {
            let (h, t) = entry(z);
            w.append(z, &marshal(&h, &t, Some(&TxnDigest { version: 2, tree_digest: z })));
            if z % roll_every == 0 {
                w.commit().unwrap();
                w.roll();
            }
        }
        w.commit().unwrap();
    }

    #[test]
    fn write_read_across_files() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), 1..=25, 10);
        let files = sorted_files(d.path(), LOG_PREFIX).unwrap();
        assert_eq!(files.iter().map(|(z, _)| *z).collect::<Vec<_>>(), vec![1, 11, 21]);
        let all = read_from(d.path(), 1).unwrap();
        assert_eq!(all.len(), 25);
        assert_eq!(all[24].hdr.zxid, 25);
        assert_eq!(all[3].digest, Some(TxnDigest { version: 2, tree_digest: 4 }));
        let some = read_from(d.path(), 15).unwrap();
        assert_eq!(some.first().unwrap().hdr.zxid, 15);
        assert_eq!(last_logged_zxid(d.path()).unwrap(), 25);
        // the file is preallocated with zeros beyond the data
        assert!(std::fs::metadata(&files[2].1).unwrap().len() >= 64 * 1024);
        let _ = CreateSessionTxn::default();
    }

    #[test]
    fn torn_tail_is_cut_and_middle_corruption_refused() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), 1..=5, 100);
        let path = sorted_files(d.path(), LOG_PREFIX).unwrap()[0].1.clone();
        let s = scan_file(&path).unwrap();
        assert_eq!(s.records.len(), 5);
        // tear the last record: zero its end marker and half its payload
        let mut bytes = std::fs::read(&path).unwrap();
        let (off, payload) = s.records[4].clone();
        let end = off as usize + 12 + payload.len();
        for b in &mut bytes[end - payload.len() / 2..=end] {
            *b = 0;
        }
        std::fs::write(&path, &bytes).unwrap();
        let s = scan_file(&path).unwrap();
        assert_eq!(s.records.len(), 4);
        assert!(matches!(s.tail, Tail::Torn { .. }));
        repair_torn_tail(d.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), s.valid_end);
        assert_eq!(last_logged_zxid(d.path()).unwrap(), 4);
        // flip a payload byte of record 2: valid records follow, so it is corruption
        let s = scan_file(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[s.records[1].0 as usize + 20] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = scan_file(&path).unwrap_err();
        assert!(matches!(err, PersistenceError::ChecksumInMiddle { .. }), "{err}");
        assert!(err.to_string().contains("offset"));
    }

    #[test]
    fn truncate_after_a_zxid() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), 1..=30, 10);
        truncate_after(d.path(), 14).unwrap();
        assert_eq!(last_logged_zxid(d.path()).unwrap(), 14);
        assert_eq!(sorted_files(d.path(), LOG_PREFIX).unwrap().len(), 2);
    }
}
