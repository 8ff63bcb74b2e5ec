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

use zab_datatree::codec::SnapshotLoader;
use zab_datatree::{DataTree, TreeConfig};
use zab_jute::{InputArchive, JuteError, OutputArchive};

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

/// A snapshot's bytes as they are read: a window over the file (or its decompressed
/// stream) that the parser consumes from the front, under the running Adler32.
struct SnapStream<R> {
    src: R,
    path: PathBuf,
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`.
    start: usize,
    /// Offset in the stream of `buf[start]`.
    offset: u64,
    eof: bool,
    adler: adler::Adler32,
    /// Bytes read at a time.
    chunk: usize,
}

impl<R: Read> SnapStream<R> {
    fn new(src: R, path: &Path, chunk: usize) -> Self {
        SnapStream {
            src,
            path: path.to_owned(),
            buf: Vec::with_capacity(chunk),
            start: 0,
            offset: 0,
            eof: false,
            adler: adler::Adler32::new(),
            chunk,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn corrupt(&self, reason: String) -> PersistenceError {
        PersistenceError::Corrupt { path: self.path.clone(), offset: self.offset, reason }
    }

    /// Reads until at least `n` bytes are unread (fewer only at the end of the stream).
    /// Consumed bytes are dropped first, so the window stays near one chunk plus the
    /// largest record.
    fn fill(&mut self, n: usize) -> Result<(), PersistenceError> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        while self.buf.len() < n && !self.eof {
            let at = self.buf.len();
            // A length prefix is not trusted for more than 64 chunks at a time.
            self.buf.resize(at + (n - at).clamp(self.chunk, 64 * self.chunk), 0);
            let got = loop {
                match self.src.read(&mut self.buf[at..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            self.buf.truncate(at + *got.as_ref().unwrap_or(&0));
            match got {
                Ok(got) => self.eof = got == 0,
                // A bad gzip stream.
                Err(e) if matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData) => {
                    return Err(self.corrupt(e.to_string()))
                }
                Err(e) => return Err(io("reading", &self.path)(e)),
            }
        }
        Ok(())
    }

    fn consume(&mut self, n: usize) {
        self.adler.write_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.offset += n as u64;
    }

    /// Runs `f` over the unread bytes, reading more for as long as it finds them cut short,
    /// and consumes what it read.
    fn parse<T>(
        &mut self,
        what: &str,
        f: impl Fn(&mut InputArchive<'_>) -> Result<T, JuteError>,
    ) -> Result<T, PersistenceError> {
        loop {
            let mut inp = InputArchive::new(self.unread(), usize::MAX);
            match f(&mut inp) {
                Ok(v) => {
                    let n = inp.position();
                    self.consume(n);
                    return Ok(v);
                }
                Err(JuteError::Truncated { needed, .. }) if !self.eof => {
                    let want = self.unread().len() + needed;
                    self.fill(want)?;
                }
                Err(e) => return Err(self.corrupt(format!("{what}: {e}"))),
            }
        }
    }

    /// `SnapStream.checkSealIntegrity`: the checksum of everything so far, then "/".
    fn check_seal(&mut self) -> Result<(), PersistenceError> {
        let computed = self.adler.checksum() as i64;
        let stored = self.parse("seal", |inp| inp.read_i64())?;
        if stored != computed {
            return Err(self.corrupt(format!("checksum seal mismatch: stored {stored:#x}, computed {computed:#x}")));
        }
        let slash = self.parse("seal", |inp| inp.read_string())?;
        if slash != "/" {
            return Err(self.corrupt(format!("seal ends with {slash:?}, expected \"/\"")));
        }
        Ok(())
    }
}

/// Reads and fully checks one snapshot. The file is streamed, never in memory whole (a
/// snapshot is larger than the tree it holds); `.snappy` files are decompressed first.
pub fn read_snapshot(path: &Path, zxid: i64, config: TreeConfig) -> Result<LoadedSnapshot, PersistenceError> {
    read_snapshot_by(path, zxid, config, CHUNK)
}

/// [`read_snapshot`], reading `chunk` bytes at a time.
fn read_snapshot_by(
    path: &Path,
    zxid: i64,
    config: TreeConfig,
    chunk: usize,
) -> Result<LoadedSnapshot, PersistenceError> {
    let file = File::open(path).map_err(io("reading", path))?;
    let len = file.metadata().map_err(io("reading", path))?.len();
    let name = path.to_string_lossy();
    if name.ends_with(".snappy") {
        let mut raw = Vec::new();
        std::io::BufReader::new(file).read_to_end(&mut raw).map_err(io("reading", path))?;
        let bytes =
            unsnappy(&raw).map_err(|reason| PersistenceError::Corrupt { path: path.to_owned(), offset: 0, reason })?;
        drop(raw);
        let size = bytes.len() as u64;
        read_stream(SnapStream::new(&bytes[..], path, chunk), zxid, config, Some(size), nodes_in(size))
    } else if name.ends_with(".gz") {
        // A gzip'd snapshot holds about three times its size.
        let gz = flate2::read::GzDecoder::new(file);
        read_stream(SnapStream::new(gz, path, chunk), zxid, config, None, nodes_in(len.saturating_mul(3)))
    } else {
        read_stream(SnapStream::new(file, path, chunk), zxid, config, Some(len), nodes_in(len))
    }
}

/// About how many nodes a snapshot of `bytes` holds (140 bytes a node), to size the tree.
fn nodes_in(bytes: u64) -> usize {
    (bytes / 140).min(50_000_000) as usize
}

/// The body of [`read_snapshot`]; `size` is the stream's length when known (it bounds the
/// session count).
fn read_stream<R: Read>(
    mut s: SnapStream<R>,
    zxid: i64,
    config: TreeConfig,
    size: Option<u64>,
    nodes: usize,
) -> Result<LoadedSnapshot, PersistenceError> {
    s.fill(s.chunk)?;
    let magic = s.parse("header", |inp| inp.read_i32())?;
    if magic != SNAP_MAGIC {
        return Err(s.corrupt(format!("not a snapshot: magic 0x{magic:08x}, expected 0x{SNAP_MAGIC:08x} (ZKSN)")));
    }
    let version = s.parse("header", |inp| inp.read_i32())?;
    if version != VERSION {
        return Err(PersistenceError::UnsupportedVersion { path: s.path.clone(), version });
    }
    let _dbid = s.parse("header", |inp| inp.read_i64())?;
    let count = s.parse("sessions", |inp| inp.read_i32())?;
    if count < 0 || size.is_some_and(|size| count as u64 > size / 12) {
        return Err(s.corrupt(format!("session count {count} out of range")));
    }
    let mut sessions = Vec::with_capacity((count as usize).min(1 << 16));
    for _ in 0..count {
        sessions.push(s.parse("sessions", |inp| Ok((inp.read_i64()?, inp.read_i32()?)))?);
    }
    let tree_at = s.offset;
    let mut loader = SnapshotLoader::new(config, nodes);
    loop {
        let n = loader.feed(s.unread()).map_err(|e| PersistenceError::Corrupt {
            path: s.path.clone(),
            offset: tree_at,
            reason: format!("data tree: {e}"),
        })?;
        s.consume(n);
        if loader.is_done() {
            break;
        }
        if s.eof {
            return Err(s.corrupt("data tree: truncated".into()));
        }
        // More than is unread: another chunk, or the rest of a long record.
        let want = s.unread().len() + s.chunk;
        s.fill(want)?;
    }
    let tree = loader.finish();
    s.check_seal()?;
    let mut digest = None;
    s.fill(20)?;
    if s.unread().len() >= 20 {
        let (z, v, d) = s.parse("digest", |inp| Ok((inp.read_i64()?, inp.read_i32()?, inp.read_i64()?)))?;
        s.check_seal()?;
        if z > 0 {
            digest = Some((z, v, d));
        }
    }
    Ok(LoadedSnapshot { path: s.path, zxid, tree, sessions, digest })
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
    fn snapshots_are_read_in_pieces_of_any_size() {
        let d = tempfile::tempdir().unwrap();
        let mut t = sample_tree(30);
        // A node larger than several pieces, and one larger than 64 of them.
        for (z, size) in [(31i64, 5000usize), (32, 70_000)] {
            let txn = Txn::Create(CreateTxn {
                path: format!("/big{z}"),
                data: Some(vec![z as u8; size]),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            });
            t.process_txn(
                &TxnHeader { client_id: 1, cxid: 0, zxid: z, time: z, txn_type: op::CREATE },
                &txn,
                &mut Vec::new(),
            );
        }
        let p = write(d.path(), &t);
        for chunk in [1, 7, 1000, CHUNK] {
            let s = read_snapshot_by(&p, 32, TreeConfig::default(), chunk).unwrap();
            assert_eq!(s.tree.digest(), t.digest(), "chunk {chunk}");
            assert_eq!(s.tree.node_count(), t.node_count());
            assert_eq!(s.digest, Some((32, 2, t.digest() as i64)));
            assert_eq!(s.sessions, vec![(7, 3000)]);
        }
        // Cut anywhere up to the tree's seal, or in the digest's seal: an error, never a
        // panic or a partial tree. (A digest section cut short of its 20 bytes reads as
        // absent, as it always has.)
        let good = std::fs::read(&p).unwrap();
        for cut in [10, 30, 200, good.len() / 2, good.len() - 40, good.len() - 1] {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(read_snapshot_by(&p, 32, TreeConfig::default(), 7).is_err(), "cut at {cut}");
        }
        std::fs::write(&p, &good[..good.len() - 30]).unwrap();
        assert_eq!(read_snapshot_by(&p, 32, TreeConfig::default(), 7).unwrap().digest, None);
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
