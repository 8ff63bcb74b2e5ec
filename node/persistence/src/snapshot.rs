//! FileSnap: ZooKeeper's snapshot files (`FileSnap`, `SnapStream`, `SerializeUtils`).
//!
//! Byte grammar of `dataDir/version-2/snapshot.<zxid>` (all of it under one running
//! Adler32; `.gz` files hold the same stream gzip-compressed):
//!
//! ```text
//! file     := FileHeader sessions tree seal [zxid-digest seal]
//! FileHeader := int magic 0x5A4B534E ("ZKSN"), int version 2, long dbid -1
//! sessions := int count, (long id, int timeout)*
//! tree     := the ACL cache and the nodes (see zab_datatree::codec), ending with path "/"
//! seal     := long Adler32-of-everything-before-it, ustring "/"
//! zxid-digest := long zxid, int digestVersion, long digest
//! ```
//!
//! A plain snapshot is only a candidate if its last five bytes are `int 1, '/'`
//! (`SnapStream.isValidSnapshot`); reading then checks every seal. zab writes to
//! `snapshot.<zxid>.tmp` and renames when complete, so a crash never leaves a half file
//! under a snapshot name.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use zab_datatree::{DataTree, TreeConfig};
use zab_jute::{InputArchive, OutputArchive};

use crate::error::{io, PersistenceError};
use crate::names::snap_name;

pub const SNAP_MAGIC: i32 = 0x5A4B534E;
pub const VERSION: i32 = 2;
const CHUNK: usize = 1 << 20;

/// Writes a snapshot in pieces: the caller writes records into [`SnapWriter::out`] and
/// calls [`SnapWriter::flush_chunk`] now and then (e.g. between tree-lock holds).
pub struct SnapWriter {
    file: BufWriter<File>,
    adler: adler::Adler32,
    out: OutputArchive,
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    fsync: bool,
}

impl SnapWriter {
    /// Starts `snapshot.<zxid>` in `dir`, writing the file header.
    pub fn create(dir: &Path, zxid: i64, fsync: bool) -> Result<SnapWriter, PersistenceError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let path = dir.join(snap_name(zxid));
        let tmp = dir.join(format!("{}.tmp", snap_name(zxid)));
        let file = File::create(&tmp).map_err(io("creating", &tmp))?;
        let mut w = SnapWriter {
            file: BufWriter::with_capacity(CHUNK, file),
            adler: adler::Adler32::new(),
            out: OutputArchive::with_capacity(CHUNK),
            tmp,
            path,
            dir: dir.to_owned(),
            fsync,
        };
        w.out.write_i32(SNAP_MAGIC);
        w.out.write_i32(VERSION);
        w.out.write_i64(-1);
        Ok(w)
    }

    /// Where records go.
    pub fn out(&mut self) -> &mut OutputArchive {
        &mut self.out
    }

    pub fn write_sessions(&mut self, sessions: &[(i64, i32)]) {
        self.out.write_i32(sessions.len() as i32);
        for (id, to) in sessions {
            self.out.write_i64(*id);
            self.out.write_i32(*to);
        }
    }

    /// Moves buffered records to the file (through the checksum).
    pub fn flush_chunk(&mut self) -> Result<(), PersistenceError> {
        let bytes = self.out.as_slice();
        if bytes.is_empty() {
            return Ok(());
        }
        self.adler.write_slice(bytes);
        self.file.write_all(bytes).map_err(io("writing", &self.tmp))?;
        self.out = OutputArchive::from_vec({
            let mut v = std::mem::take(&mut self.out).into_inner();
            v.clear();
            v
        });
        Ok(())
    }

    /// `SnapStream.sealStream`: the checksum so far, then "/".
    pub fn seal(&mut self) -> Result<(), PersistenceError> {
        self.flush_chunk()?;
        let sum = self.adler.checksum() as i64;
        self.out.write_i64(sum);
        self.out.write_string("/");
        self.flush_chunk()
    }

    /// Seals the digest section, syncs and renames into place.
    pub fn finish(mut self, digest: Option<(i64, i32, i64)>) -> Result<PathBuf, PersistenceError> {
        if let Some((zxid, version, d)) = digest {
            self.out.write_i64(zxid);
            self.out.write_i32(version);
            self.out.write_i64(d);
            self.seal()?;
        }
        self.flush_chunk()?;
        self.file.flush().map_err(io("writing", &self.tmp))?;
        if self.fsync {
            self.file.get_ref().sync_all().map_err(io("syncing", &self.tmp))?;
        }
        std::fs::rename(&self.tmp, &self.path).map_err(io("renaming into", &self.path))?;
        crate::epoch::sync_dir(&self.dir)?;
        Ok(self.path)
    }

    /// Gives up: removes the temporary file.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// The header of xerial's SnappyOutputStream, which ZooKeeper uses for `.snappy` snapshots.
const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Decodes a xerial snappy stream: the 8-byte magic, two ints (version, compatible
/// version), then blocks of `int length, raw snappy data`.
pub fn unsnappy(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.len() < 16 || raw[..8] != SNAPPY_MAGIC {
        return Err("not a snappy stream (bad header)".into());
    }
    let mut out = Vec::with_capacity(raw.len() * 3);
    let mut pos = 16;
    let mut dec = snap::raw::Decoder::new();
    while pos < raw.len() {
        let Some(len) = raw.get(pos..pos + 4) else {
            return Err(format!("snappy block length cut at offset {pos}"));
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        if len < 0 {
            return Err(format!("negative snappy block length at offset {pos}"));
        }
        let start = pos + 4;
        let Some(block) = raw.get(start..start + len as usize) else {
            return Err(format!("snappy block at offset {pos} runs past the end"));
        };
        let n = snap::raw::decompress_len(block).map_err(|e| format!("snappy block at offset {pos}: {e}"))?;
        if n > 64 << 20 {
            return Err(format!("snappy block at offset {pos} claims {n} bytes"));
        }
        let at = out.len();
        out.resize(at + n, 0);
        dec.decompress(block, &mut out[at..]).map_err(|e| format!("snappy block at offset {pos}: {e}"))?;
        pos = start + len as usize;
    }
    Ok(out)
}

/// A snapshot read back.
pub struct LoadedSnapshot {
    pub path: PathBuf,
    pub zxid: i64,
    pub tree: DataTree,
    pub sessions: Vec<(i64, i32)>,
    /// (zxid, digestVersion, digest) of the digest section, if present.
    pub digest: Option<(i64, i32, i64)>,
}

/// `SnapStream.isValidSnapshot`: the cheap check before a full read.
pub fn looks_valid(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".gz") {
        let mut b = [0u8; 2];
        return File::open(path).and_then(|mut f| f.read_exact(&mut b)).is_ok() && b == [0x1f, 0x8b];
    }
    if name.ends_with(".snappy") {
        let mut b = [0u8; 8];
        return File::open(path).and_then(|mut f| f.read_exact(&mut b)).is_ok() && b == SNAPPY_MAGIC;
    }
    if name.ends_with(".tmp") {
        return false;
    }
    let Ok(bytes) = std::fs::metadata(path).map(|m| m.len()) else { return false };
    if bytes < 10 {
        return false;
    }
    let Ok(mut f) = File::open(path) else { return false };
    use std::io::Seek;
    let mut tail = [0u8; 5];
    f.seek(std::io::SeekFrom::End(-5)).is_ok() && f.read_exact(&mut tail).is_ok() && tail == [0, 0, 0, 1, b'/']
}

fn checked_seal(
    path: &Path,
    bytes: &[u8],
    inp: &mut InputArchive<'_>,
    adler: &mut adler::Adler32,
    done: &mut usize,
) -> Result<(), PersistenceError> {
    let at = inp.position();
    adler.write_slice(&bytes[*done..at]);
    *done = at;
    let corrupt = |reason: String| PersistenceError::Corrupt { path: path.to_owned(), offset: at as u64, reason };
    let stored = inp.read_i64().map_err(|e| corrupt(format!("seal: {e}")))?;
    let computed = adler.checksum() as i64;
    if stored != computed {
        return Err(corrupt(format!("checksum seal mismatch: stored {stored:#x}, computed {computed:#x}")));
    }
    let slash = inp.read_string().map_err(|e| corrupt(format!("seal: {e}")))?;
    if slash != "/" {
        return Err(corrupt(format!("seal ends with {slash:?}, expected \"/\"")));
    }
    let end = inp.position();
    adler.write_slice(&bytes[*done..end]);
    *done = end;
    Ok(())
}

/// Reads and fully checks one snapshot.
pub fn read_snapshot(path: &Path, zxid: i64, config: TreeConfig) -> Result<LoadedSnapshot, PersistenceError> {
    let raw = std::fs::read(path).map_err(io("reading", path))?;
    let bytes = if path.to_string_lossy().ends_with(".snappy") {
        unsnappy(&raw).map_err(|reason| PersistenceError::Corrupt { path: path.to_owned(), offset: 0, reason })?
    } else if path.to_string_lossy().ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| PersistenceError::Corrupt {
            path: path.to_owned(),
            offset: 0,
            reason: format!("gzip: {e}"),
        })?;
        out
    } else {
        raw
    };
    let corrupt = |offset: usize, reason: String| PersistenceError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason,
    };
    let mut inp = InputArchive::new(&bytes, usize::MAX);
    let magic = inp.read_i32().map_err(|e| corrupt(0, e.to_string()))?;
    if magic != SNAP_MAGIC {
        return Err(corrupt(0, format!("not a snapshot: magic 0x{magic:08x}, expected 0x{SNAP_MAGIC:08x} (ZKSN)")));
    }
    let version = inp.read_i32().map_err(|e| corrupt(4, e.to_string()))?;
    if version != VERSION {
        return Err(PersistenceError::UnsupportedVersion { path: path.to_owned(), version });
    }
    let _dbid = inp.read_i64().map_err(|e| corrupt(8, e.to_string()))?;
    let count = inp.read_i32().map_err(|e| corrupt(inp.position(), e.to_string()))?;
    if count < 0 || count as usize > bytes.len() / 12 {
        return Err(corrupt(16, format!("session count {count} out of range")));
    }
    let mut sessions = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let at = inp.position();
        let id = inp.read_i64().map_err(|e| corrupt(at, e.to_string()))?;
        let to = inp.read_i32().map_err(|e| corrupt(at, e.to_string()))?;
        sessions.push((id, to));
    }
    let at = inp.position();
    // The seal after the tree sits 13 bytes before the end, or 46 when the digest section
    // follows: checksum both candidates on another thread while this one parses.
    let len = bytes.len();
    let (tree, precomputed) = std::thread::scope(|scope| {
        let checksums = scope.spawn(|| {
            let mut a = adler::Adler32::new();
            let mut marks = Vec::new();
            let mut done = 0;
            for cut in [len.saturating_sub(46), len.saturating_sub(13)] {
                if cut >= done {
                    a.write_slice(&bytes[done..cut]);
                    done = cut;
                    marks.push((cut, a.checksum()));
                }
            }
            marks
        });
        let expected = (len / 140).min(50_000_000);
        let tree = DataTree::read_snapshot_tree(&mut inp, config, expected);
        (tree, checksums.join().unwrap_or_default())
    });
    let tree = tree.map_err(|e| corrupt(at, format!("data tree: {e}")))?;
    let mut adler = adler::Adler32::new();
    let mut done = 0;
    if let Some(&(cut, _)) = precomputed.iter().find(|(cut, _)| *cut == inp.position()) {
        // Resume the running checksum from the precomputed mark.
        adler = adler::Adler32::from_checksum(precomputed.iter().find(|(c, _)| *c == cut).map(|m| m.1).unwrap_or(1));
        done = cut;
    }
    checked_seal(path, &bytes, &mut inp, &mut adler, &mut done)?;
    let mut digest = None;
    if inp.remaining() >= 20 {
        let at = inp.position();
        let z = inp.read_i64().map_err(|e| corrupt(at, e.to_string()))?;
        let v = inp.read_i32().map_err(|e| corrupt(at, e.to_string()))?;
        let d = inp.read_i64().map_err(|e| corrupt(at, e.to_string()))?;
        checked_seal(path, &bytes, &mut inp, &mut adler, &mut done)?;
        if z > 0 {
            digest = Some((z, v, d));
        }
    }
    Ok(LoadedSnapshot { path: path.to_owned(), zxid, tree, sessions, digest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_datatree::codec::NodeCursor;
    use zab_jute::codes::op;
    use zab_jute::data::Acl;
    use zab_jute::txn::{CreateTxn, Txn, TxnHeader};

    pub(crate) fn sample_tree(n: i64) -> DataTree {
        let mut t = DataTree::new(TreeConfig::default());
        let mut ev = Vec::new();
        for z in 1..=n {
            let txn = Txn::Create(CreateTxn {
                path: format!("/n{z}"),
                data: Some(vec![z as u8; 10]),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            });
            t.process_txn(&TxnHeader { client_id: 1, cxid: 0, zxid: z, time: z, txn_type: op::CREATE }, &txn, &mut ev);
        }
        t
    }

    pub(crate) fn write(dir: &Path, t: &DataTree) -> PathBuf {
        let mut w = SnapWriter::create(dir, t.last_processed_zxid(), true).unwrap();
        w.write_sessions(&[(7, 3000)]);
        let acls = t.write_acl_section(w.out());
        let mut cur = NodeCursor::new(&acls);
        while !t.write_nodes_step(&mut cur, w.out(), 3) {
            w.flush_chunk().unwrap();
        }
        w.seal().unwrap();
        w.finish(Some((t.last_processed_zxid(), 2, t.digest() as i64))).unwrap()
    }

    #[test]
    fn gzip_and_snappy_snapshots_are_read() {
        use std::io::Write as _;
        let d = tempfile::tempdir().unwrap();
        let t = sample_tree(12);
        let plain = write(d.path(), &t);
        let bytes = std::fs::read(&plain).unwrap();
        std::fs::remove_file(&plain).unwrap();
        // .gz, as ZooKeeper writes with snapshot.compression.method=gz
        let gz = d.path().join("snapshot.c.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert!(looks_valid(&gz));
        assert_eq!(read_snapshot(&gz, 12, TreeConfig::default()).unwrap().tree.digest(), t.digest());
        // .snappy: xerial's stream framing around raw snappy blocks
        let mut sn = SNAPPY_MAGIC.to_vec();
        sn.extend_from_slice(&1i32.to_be_bytes());
        sn.extend_from_slice(&1i32.to_be_bytes());
        for chunk in bytes.chunks(100) {
            let c = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            sn.extend_from_slice(&(c.len() as i32).to_be_bytes());
            sn.extend_from_slice(&c);
        }
        let sp = d.path().join("snapshot.c.snappy");
        std::fs::write(&sp, &sn).unwrap();
        assert!(looks_valid(&sp));
        assert_eq!(read_snapshot(&sp, 12, TreeConfig::default()).unwrap().tree.digest(), t.digest());
        // a cut snappy stream is refused, not a panic
        std::fs::write(&sp, &sn[..sn.len() - 7]).unwrap();
        assert!(read_snapshot(&sp, 12, TreeConfig::default()).is_err());
    }

    #[test]
    fn round_trip_and_seals() {
        let d = tempfile::tempdir().unwrap();
        let t = sample_tree(20);
        let p = write(d.path(), &t);
        assert!(looks_valid(&p));
        let s = read_snapshot(&p, 20, TreeConfig::default()).unwrap();
        assert_eq!(s.tree.digest(), t.digest());
        assert_eq!(s.sessions, vec![(7, 3000)]);
        assert_eq!(s.digest, Some((20, 2, t.digest() as i64)));
        // every single flipped byte is caught (or the file stops looking valid)
        let good = std::fs::read(&p).unwrap();
        for i in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            std::fs::write(&p, &bad).unwrap();
            let r = if looks_valid(&p) {
                read_snapshot(&p, 20, TreeConfig::default()).map(|_| ())
            } else {
                Err(PersistenceError::Failed("invalid".into()))
            };
            assert!(r.is_err(), "flip at {i} went unnoticed");
        }
    }
}
