//! A minimal blocking ZooKeeper client for `zab-node`'s own subcommands (`reconfig`): one
//! session on one connection, one request at a time (handshake, `addauth`, reconfig,
//! getData, closeSession), as ZooKeeper's `ZooKeeperMain` does them. Not for servers or
//! load: every read is bounded by a timeout and every frame by jute.maxbuffer's default.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use zab_jute::codes::{op, xid, ErrorCode};
use zab_jute::proto::{
    AuthPacket, ConnectRequest, ConnectResponse, GetDataResponse, PathWatchRequest, ReconfigRequest, ReplyHeader,
    RequestHeader,
};
use zab_jute::record::Record;
use zab_jute::{InputArchive, OutputArchive};

/// jute.maxbuffer's default: no answer of these commands comes near it.
const MAX_FRAME: usize = 0xfffff;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server's answer does not decode: {0}")]
    Protocol(String),
    /// The server answered with a ZooKeeper error code.
    #[error("{name} ({code})")]
    Keeper { code: i32, name: String },
}

impl ClientError {
    fn keeper(code: i32) -> ClientError {
        let name = ErrorCode::from_code(code).map_or_else(|| "UNKNOWN".to_owned(), |c| format!("{c:?}").to_uppercase());
        ClientError::Keeper { code, name }
    }
}

/// One session on one server.
pub struct Client {
    addr: String,
    stream: TcpStream,
    next_xid: i32,
}

impl Client {
    /// Connects to `addr` (host:port) and opens a session.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Client, ClientError> {
        let io = |source| ClientError::Io { addr: addr.to_owned(), source };
        let sock = addr
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| io(std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))?;
        let stream = TcpStream::connect_timeout(&sock, timeout).map_err(io)?;
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        let mut c = Client { addr: addr.to_owned(), stream, next_xid: 1 };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout.as_millis().min(i32::MAX as u128) as i32,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        c.send(|a| req.write(a))?;
        let frame = c.read_frame()?;
        let resp = ConnectResponse::read(&mut InputArchive::new(&frame, MAX_FRAME))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if resp.session_id == 0 {
            return Err(ClientError::Protocol("the server refused the session".into()));
        }
        Ok(c)
    }

    /// `addauth scheme auth`; a refusal is an error (AUTHFAILED).
    pub fn add_auth(&mut self, scheme: &str, auth: &[u8]) -> Result<(), ClientError> {
        let p = AuthPacket { auth_type: 0, scheme: scheme.to_owned(), auth: Some(auth.to_vec()) };
        self.send(|a| {
            RequestHeader { xid: xid::AUTH, op_type: op::AUTH }.write(a);
            p.write(a);
        })?;
        self.reply(xid::AUTH).map(drop)
    }

    /// The reconfig op: the new configuration's text and Stat.
    pub fn reconfig(&mut self, req: &ReconfigRequest) -> Result<(Vec<u8>, zab_jute::data::Stat), ClientError> {
        let body = self.call(op::RECONFIG, req)?;
        let r = GetDataResponse::read(&mut InputArchive::new(&body, MAX_FRAME))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// getData of `path`, no watch.
    pub fn get_data(&mut self, path: &str) -> Result<(Vec<u8>, zab_jute::data::Stat), ClientError> {
        let body = self.call(op::GET_DATA, &PathWatchRequest { path: path.to_owned(), watch: false })?;
        let r = GetDataResponse::read(&mut InputArchive::new(&body, MAX_FRAME))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Closes the session (best effort).
    pub fn close(mut self) {
        let x = self.next_xid;
        let _ = self.send(|a| RequestHeader { xid: x, op_type: op::CLOSE_SESSION }.write(a));
        let _ = self.reply(x);
    }

    fn call(&mut self, op_type: i32, body: &impl Record) -> Result<Vec<u8>, ClientError> {
        let x = self.next_xid;
        self.next_xid += 1;
        self.send(|a| {
            RequestHeader { xid: x, op_type }.write(a);
            body.write(a);
        })?;
        self.reply(x)
    }

    /// The body of the reply to `want`, skipping watch events and pings.
    fn reply(&mut self, want: i32) -> Result<Vec<u8>, ClientError> {
        loop {
            let frame = self.read_frame()?;
            let mut inp = InputArchive::new(&frame, MAX_FRAME);
            let h = ReplyHeader::read(&mut inp).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if h.xid != want {
                continue;
            }
            if h.err != 0 {
                return Err(ClientError::keeper(h.err));
            }
            return Ok(frame.get(16..).unwrap_or_default().to_vec());
        }
    }

    fn send(&mut self, body: impl FnOnce(&mut OutputArchive)) -> Result<(), ClientError> {
        let mut a = OutputArchive::new();
        body(&mut a);
        let payload = a.into_inner();
        let mut out = Vec::with_capacity(payload.len() + 4);
        out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        out.extend_from_slice(&payload);
        self.stream.write_all(&out).map_err(|source| ClientError::Io { addr: self.addr.clone(), source })
    }

    fn read_frame(&mut self) -> Result<Vec<u8>, ClientError> {
        let io = |source| ClientError::Io { addr: self.addr.clone(), source };
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).map_err(io)?;
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_FRAME)
            .ok_or_else(|| ClientError::Protocol(format!("a frame of {len} bytes")))?;
        let mut buf = vec![0; len];
        self.stream.read_exact(&mut buf).map_err(io)?;
        Ok(buf)
    }
}
