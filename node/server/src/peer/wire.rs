//! QuorumPacket on the quorum port: ZooKeeper writes each packet as a bare jute record
//! (no length prefix), so the reader parses it field by field, bounding every length; the
//! SNAP stream that follows a SNAP packet (sessions, the DataTree, then the "BenWasHere"
//! signature) is copied out the same way and decoded from memory.

use std::io::{self, BufReader, Read, Write};

use zab_jute::data::Id;
use zab_jute::quorum::QuorumPacket;

/// `BinaryInputArchive`'s limit on one vector in a packet (authinfo).
const MAX_AUTH_IDS: i32 = 1024;

/// The signature ending a SNAP stream (`LearnerHandler`).
pub const SNAP_SIGNATURE: &str = "BenWasHere";

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads packets from one quorum connection.
pub struct PacketReader<R: Read> {
    r: BufReader<R>,
    max: usize,
}

impl<R: Read> PacketReader<R> {
    /// `max` bounds every buffer (jute.maxbuffer, plus ZooKeeper's extra size for quorum
    /// packets).
    pub fn new(r: R, max: usize) -> PacketReader<R> {
        PacketReader { r: BufReader::with_capacity(64 * 1024, r), max }
    }

    fn i32(&mut self) -> io::Result<i32> {
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b)?;
        Ok(i32::from_be_bytes(b))
    }

    fn i64(&mut self) -> io::Result<i64> {
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b)?;
        Ok(i64::from_be_bytes(b))
    }

    fn buffer(&mut self, what: &str) -> io::Result<Option<Vec<u8>>> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > self.max {
            return Err(invalid(format!("{what} length {len} is negative or over the limit of {} bytes", self.max)));
        }
        let mut v = vec![0u8; len as usize];
        self.r.read_exact(&mut v)?;
        Ok(Some(v))
    }

    fn string(&mut self, what: &str) -> io::Result<String> {
        Ok(self.buffer(what)?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
    }

    /// The next packet.
    pub fn read(&mut self) -> io::Result<QuorumPacket> {
        let packet_type = self.i32()?;
        let zxid = self.i64()?;
        let data = self.buffer("packet data")?;
        let n = self.i32()?;
        if n > MAX_AUTH_IDS {
            return Err(invalid(format!("packet authinfo count {n} over {MAX_AUTH_IDS}")));
        }
        let mut authinfo = Vec::new();
        for _ in 0..n.max(0) {
            let scheme = self.string("authinfo scheme")?;
            let id = self.string("authinfo id")?;
            authinfo.push(Id { scheme, id });
        }
        Ok(QuorumPacket { packet_type, zxid, data, authinfo })
    }

    /// Copies the SNAP stream (sessions and tree, as `SerializeUtils.serializeSnapshot`
    /// writes them) into memory and checks the signature after it. The bytes decode with
    /// [`zab_persistence::snapshot`]'s section readers.
    pub fn read_snapshot_stream(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(1 << 20);
        let sessions = self.copy_i32(&mut out)?;
        if sessions < 0 {
            return Err(invalid(format!("snapshot session count {sessions}")));
        }
        for _ in 0..sessions {
            self.copy_n(&mut out, 12)?;
        }
        let acls = self.copy_i32(&mut out)?;
        if acls < 0 {
            return Err(invalid(format!("snapshot ACL cache size {acls}")));
        }
        for _ in 0..acls {
            self.copy_n(&mut out, 8)?;
            let n = self.copy_i32(&mut out)?;
            if n > MAX_AUTH_IDS * 64 {
                return Err(invalid(format!("snapshot ACL list of {n} entries")));
            }
            for _ in 0..n.max(0) {
                self.copy_n(&mut out, 4)?;
                self.copy_buffer(&mut out)?;
                self.copy_buffer(&mut out)?;
            }
        }
        loop {
            let path = self.copy_buffer(&mut out)?;
            if path.as_deref() == Some(b"/".as_slice()) {
                break;
            }
            self.copy_buffer(&mut out)?; // data
            self.copy_n(&mut out, 8 + 60)?; // acl index, StatPersisted
        }
        let sig = self.string("snapshot signature")?;
        if sig != SNAP_SIGNATURE {
            return Err(invalid(format!("snapshot stream ends with {sig:?}, not the signature {SNAP_SIGNATURE:?}")));
        }
        Ok(out)
    }

    fn copy_n(&mut self, out: &mut Vec<u8>, n: usize) -> io::Result<()> {
        let at = out.len();
        out.resize(at + n, 0);
        self.r.read_exact(&mut out[at..])
    }

    fn copy_i32(&mut self, out: &mut Vec<u8>) -> io::Result<i32> {
        let v = self.i32()?;
        out.extend_from_slice(&v.to_be_bytes());
        Ok(v)
    }

    fn copy_buffer(&mut self, out: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
        let b = self.buffer("snapshot field")?;
        match &b {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                out.extend_from_slice(v);
            }
        }
        Ok(b)
    }
}

/// What a quorum connection's writer thread sends.
pub(crate) enum Out {
    Packet(QuorumPacket),
    /// Bytes written as they are (the SNAP stream).
    Raw(Vec<u8>),
}

/// The writer thread of one quorum connection: writes what is queued, flushing whenever
/// the queue runs dry; ends when every sender is gone or the socket fails.
pub(crate) fn writer_loop(stream: std::net::TcpStream, rx: std::sync::mpsc::Receiver<Out>) {
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, stream);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(o) = next.take() {
            let r = match o {
                Out::Packet(p) => write_packet(&mut w, &p),
                Out::Raw(b) => w.write_all(&b),
            };
            if r.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if w.flush().is_err() {
            return;
        }
    }
}

/// Writes one packet (no flush).
pub fn write_packet(w: &mut impl Write, p: &QuorumPacket) -> io::Result<()> {
    use zab_jute::record::Record;
    w.write_all(&p.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_jute::quorum::packet;

    #[test]
    fn packets_round_trip_and_lies_are_refused() {
        let mut p = QuorumPacket::new(packet::PROPOSAL, 0x500000001, Some(vec![1, 2, 3]));
        p.authinfo.push(Id { scheme: "digest".into(), id: "u:x".into() });
        let mut bytes = Vec::new();
        write_packet(&mut bytes, &p).unwrap();
        write_packet(&mut bytes, &QuorumPacket::new(packet::PING, 7, None)).unwrap();
        let mut r = PacketReader::new(&bytes[..], 1 << 20);
        assert_eq!(r.read().unwrap(), p);
        assert_eq!(r.read().unwrap().packet_type, packet::PING);
        assert!(r.read().is_err(), "end of stream");
        let mut lie = Vec::new();
        write_packet(&mut lie, &QuorumPacket::new(packet::PROPOSAL, 1, Some(vec![0; 64]))).unwrap();
        lie[12..16].copy_from_slice(&(1i32 << 30).to_be_bytes());
        assert!(PacketReader::new(&lie[..], 1 << 20).read().is_err());
    }
}
