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

/// Bytes a quorum packet may carry above jute.maxbuffer: the packet's own fields and what
/// the leader adds to a client's request (ZooKeeper's `zookeeper.jute.maxbuffer.extrasize`,
/// whose default is jute.maxbuffer itself; zab uses that default's value, 1 MiB).
pub const QUORUM_PACKET_SLACK: usize = 1024 * 1024;

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A stream that, before each read from the socket (which may block), does what this
/// thread deferred ([`crate::defer::flush`]): what a burst of packets caused goes out
/// before the thread waits for more.
pub struct FlushBeforeRead<R>(pub R);

impl<R: Read> Read for FlushBeforeRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::defer::flush();
        self.0.read(buf)
    }
}

/// Reads packets from one quorum connection.
pub struct PacketReader<R: Read> {
    r: BufReader<FlushBeforeRead<R>>,
    max: usize,
}

impl<R: Read> PacketReader<R> {
    /// `max` bounds every buffer (jute.maxbuffer, plus ZooKeeper's extra size for quorum
    /// packets).
    pub fn new(r: R, max: usize) -> PacketReader<R> {
        PacketReader { r: BufReader::with_capacity(64 * 1024, FlushBeforeRead(r)), max }
    }

    /// Whether bytes already read from the stream wait to be decoded (more packets of the
    /// same burst, or the start of one).
    pub fn has_buffered(&self) -> bool {
        !self.r.buffer().is_empty()
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

/// What is queued on a quorum connection.
pub(crate) enum Out {
    Packet(QuorumPacket),
    /// Bytes written as they are (the SNAP stream).
    Raw(Vec<u8>),
}

/// The sending side of one quorum connection.
///
/// The thread that queues a packet writes it to the socket itself when nobody else is
/// writing, without blocking (`MSG_DONTWAIT`): a PROPOSAL, ACK or COMMIT leaves without a
/// thread wake-up. Packets queued while another thread writes are taken along by that
/// thread, so under load many go out in one `send`. When the socket's buffer is full (a
/// slow or stopped peer) the rest goes to the connection's writer thread, which blocks on
/// it, so no proposer ever waits for one peer.
pub(crate) struct Outbox {
    stream: std::net::TcpStream,
    state: parking_lot::Mutex<OutState>,
    wake: parking_lot::Condvar,
    /// On the leader: the learner's sid and where its queue's metrics go.
    queue_metrics: std::sync::OnceLock<(u64, std::sync::Arc<crate::metrics::ServerMetrics>)>,
}

#[derive(Default)]
struct OutState {
    buf: Vec<u8>,
    /// A thread is writing to the socket.
    writing: bool,
    /// The writer thread must take over what is in `buf` (the socket was full).
    handed_over: bool,
    closed: bool,
    /// Packets in `buf` (with queue metrics only).
    queued: u64,
    /// Packets ever queued, and when the latest marker packet was queued
    /// (`LearnerHandler.markerPacketInterval`): for `learner_handler_qp_time_ms`.
    counter: u64,
    marker: Option<std::time::Instant>,
}

/// `LearnerHandler.markerPacketInterval`: one packet in this many is timed from its queueing
/// to its write.
const MARKER_INTERVAL: u64 = 1000;

/// Rounds a queuing thread writes what others queued meanwhile before it hands the rest
/// to the writer thread.
const DIRECT_ROUNDS: usize = 4;

impl crate::defer::Flush for Outbox {
    fn flush(&self) {
        self.write_queued();
    }
}

impl Outbox {
    /// An outbox on `stream` and its writer thread (named `name`).
    pub(crate) fn start(stream: std::net::TcpStream, name: &str) -> io::Result<std::sync::Arc<Outbox>> {
        let out = std::sync::Arc::new(Outbox {
            stream,
            state: parking_lot::Mutex::new(OutState::default()),
            wake: parking_lot::Condvar::new(),
            queue_metrics: std::sync::OnceLock::new(),
        });
        let o = out.clone();
        std::thread::Builder::new().name(name.into()).spawn(move || o.writer())?;
        Ok(out)
    }

    /// Records this learner's queue in `learner_handler_qp_size` (packets waiting when a
    /// thread takes the queue to write it) and `learner_handler_qp_time_ms` (how long one
    /// packet in 1,000 waited), as the leader's `LearnerHandler` does.
    pub(crate) fn track_queue(&self, sid: u64, metrics: std::sync::Arc<crate::metrics::ServerMetrics>) {
        let _ = self.queue_metrics.set((sid, metrics));
    }

    /// The queue's metrics when a thread takes what is queued (under the state lock).
    fn taken(&self, st: &mut OutState) {
        if let Some((sid, m)) = self.queue_metrics.get() {
            if st.queued > 0 {
                m.learner_handler_qp_size.add_id(*sid, st.queued as i64 - 1);
            }
            if let Some(t) = st.marker.take() {
                m.learner_handler_qp_time_ms.add_id(*sid, t.elapsed().as_millis() as i64);
            }
            st.queued = 0;
        }
    }

    /// Queues a packet (or raw bytes) and sends it, or, inside a [`crate::defer`] scope,
    /// leaves it for the scope's flush; nothing happens once the connection
    /// is closed.
    pub(crate) fn send(self: &std::sync::Arc<Self>, o: Out) {
        use zab_jute::record::Record;
        {
            let mut st = self.state.lock();
            if st.closed {
                return;
            }
            if self.queue_metrics.get().is_some() {
                if st.counter.is_multiple_of(MARKER_INTERVAL) && st.marker.is_none() {
                    st.marker = Some(std::time::Instant::now());
                }
                st.counter += 1;
                st.queued += 1;
            }
            match o {
                Out::Packet(p) => {
                    let mut a = zab_jute::OutputArchive::from_vec(std::mem::take(&mut st.buf));
                    p.write(&mut a);
                    st.buf = a.into_inner();
                }
                Out::Raw(b) => st.buf.extend_from_slice(&b),
            }
        }
        let me: std::sync::Arc<dyn crate::defer::Flush> = self.clone();
        if !crate::defer::later(crate::defer::Phase::Net, &me) {
            self.write_queued();
        }
    }

    /// Writes what is queued, unless another thread is already at it.
    fn write_queued(&self) {
        let mut st = self.state.lock();
        if st.closed || st.buf.is_empty() || st.writing || st.handed_over {
            return;
        }
        st.writing = true;
        for _ in 0..DIRECT_ROUNDS {
            self.taken(&mut st);
            let chunk = std::mem::take(&mut st.buf);
            drop(st);
            let sent = self.send_nonblocking(&chunk);
            st = self.state.lock();
            match sent {
                Ok(n) if n == chunk.len() => {
                    if st.buf.is_empty() {
                        st.writing = false;
                        return;
                    }
                }
                Ok(n) => {
                    // The socket is full: the writer thread blocks on the rest.
                    let mut rest = chunk.get(n..).unwrap_or_default().to_vec();
                    rest.append(&mut st.buf);
                    st.buf = rest;
                    break;
                }
                Err(_) => {
                    st.closed = true;
                    st.writing = false;
                    st.buf = Vec::new();
                    drop(st);
                    let _ = self.stream.shutdown(std::net::Shutdown::Both);
                    self.wake.notify_all();
                    return;
                }
            }
        }
        st.writing = false;
        st.handed_over = true;
        drop(st);
        self.wake.notify_all();
    }

    /// Writes as much of `b` as the socket takes now; `Ok(n < len)` when it is full.
    fn send_nonblocking(&self, b: &[u8]) -> io::Result<usize> {
        let sock = socket2::SockRef::from(&self.stream);
        let mut n = 0;
        while let Some(rest) = b.get(n..).filter(|r| !r.is_empty()) {
            match sock.send_with_flags(rest, libc::MSG_DONTWAIT) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// The writer thread: blocking writes of what was handed over, until closed.
    fn writer(&self) {
        let mut st = self.state.lock();
        loop {
            while !st.closed && (!st.handed_over || st.writing) {
                self.wake.wait(&mut st);
            }
            if st.closed {
                return;
            }
            st.writing = true;
            self.taken(&mut st);
            let chunk = std::mem::take(&mut st.buf);
            drop(st);
            let r = (&self.stream).write_all(&chunk);
            st = self.state.lock();
            st.writing = false;
            if r.is_err() {
                st.closed = true;
                st.buf = Vec::new();
                drop(st);
                let _ = self.stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            if st.buf.is_empty() {
                st.handed_over = false;
            }
        }
    }

    /// Ends the connection's sending side: later packets are dropped and the writer thread
    /// stops (what it is writing still goes out).
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.wake.notify_all();
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

    /// A peer that does not read fills the socket: the rest is handed to the writer thread,
    /// the sender is not blocked, and once the peer reads, every packet arrives, in order.
    #[test]
    fn outbox_hands_over_to_its_writer_when_the_peer_is_slow_and_keeps_order() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let out = Outbox::start(client.try_clone().unwrap(), "test-writer").unwrap();
        let payload = vec![7u8; 4000];
        let n = 10_000; // 40 MB: far more than a loopback socket buffers
        for i in 0..n {
            // Would block forever here if a send waited for the peer, which is not reading.
            out.send(Out::Packet(QuorumPacket::new(packet::PROPOSAL, i, Some(payload.clone()))));
        }
        assert!(out.state.lock().handed_over, "the writer thread has the rest");
        let mut r = PacketReader::new(server, 1 << 20);
        for i in 0..n {
            let p = r.read().unwrap();
            assert_eq!((p.packet_type, p.zxid), (packet::PROPOSAL, i));
            assert_eq!(p.data.as_deref(), Some(&payload[..]));
        }
        // The writer thread gives the connection back once its last write returns; until
        // then it would take the next packet itself, deferred or not.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while out.state.lock().handed_over {
            assert!(std::time::Instant::now() < deadline, "the writer thread never gave the connection back");
            std::thread::yield_now();
        }
        // In a defer scope nothing leaves before the flush.
        {
            let _d = crate::defer::defer();
            out.send(Out::Packet(QuorumPacket::new(packet::COMMIT, 1, None)));
            assert!(!out.state.lock().buf.is_empty(), "deferred");
            crate::defer::flush();
        }
        assert_eq!(r.read().unwrap().packet_type, packet::COMMIT);
        out.close();
        out.send(Out::Packet(QuorumPacket::new(packet::COMMIT, 2, None)));
        assert!(out.state.lock().buf.is_empty(), "nothing is queued after close");
    }

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
