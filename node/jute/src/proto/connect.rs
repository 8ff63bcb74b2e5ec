//! The session handshake: ConnectRequest / ConnectResponse, in the current 45/37-byte form
//! (with the trailing readOnly flag) and the legacy 44/36-byte form without it.
//! ZooKeeper 3.8 reads the flag by hand after the jute record and answers in the form the
//! client used (`ZooKeeperServer.processConnectRequest`, `finishSessionInit`).

use crate::archive::{InputArchive, JuteError, OutputArchive};
use crate::record::Record;

/// The first frame of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` when the client sent the legacy form without the flag.
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    fn write(&self, out: &mut OutputArchive) {
        out.write_i32(self.protocol_version);
        out.write_i64(self.last_zxid_seen);
        out.write_i32(self.time_out);
        out.write_i64(self.session_id);
        out.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            out.write_bool(ro);
        }
    }

    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        let protocol_version = inp.read_i32()?;
        let last_zxid_seen = inp.read_i64()?;
        let time_out = inp.read_i32()?;
        let session_id = inp.read_i64()?;
        let passwd = inp.read_buffer()?.unwrap_or_default();
        let read_only = if inp.remaining() > 0 { Some(inp.read_bool()?) } else { None };
        Ok(ConnectRequest { protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only })
    }
}

/// The server's answer to a ConnectRequest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// Written only when `Some` (the client used the current form).
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    fn write(&self, out: &mut OutputArchive) {
        out.write_i32(self.protocol_version);
        out.write_i32(self.time_out);
        out.write_i64(self.session_id);
        out.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            out.write_bool(ro);
        }
    }

    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        let protocol_version = inp.read_i32()?;
        let time_out = inp.read_i32()?;
        let session_id = inp.read_i64()?;
        let passwd = inp.read_buffer()?.unwrap_or_default();
        let read_only = if inp.remaining() > 0 { Some(inp.read_bool()?) } else { None };
        Ok(ConnectResponse { protocol_version, time_out, session_id, passwd, read_only })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_sizes_match_zookeeper() {
        let mut req = ConnectRequest { passwd: vec![0; 16], read_only: Some(false), ..Default::default() };
        assert_eq!(req.to_bytes().len(), 45);
        req.read_only = None;
        assert_eq!(req.to_bytes().len(), 44);
        let rsp = ConnectResponse { passwd: vec![0; 16], read_only: Some(false), ..Default::default() };
        assert_eq!(rsp.to_bytes().len(), 37);
        let legacy = ConnectResponse { passwd: vec![0; 16], read_only: None, ..Default::default() };
        assert_eq!(legacy.to_bytes().len(), 36);
        let parsed = ConnectRequest::from_bytes(&req.to_bytes(), 1024).unwrap();
        assert_eq!(parsed.read_only, None);
    }
}
