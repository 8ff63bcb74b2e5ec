//! Quorum records: `QuorumPacket` and `LearnerInfo` of the quorum port (2888, zookeeper.jute
//! module org.apache.zookeeper.server.quorum), the packet types of `Leader.java`, and the
//! election `Notification` of the election port (3888, `FastLeaderElection`), which is not a
//! jute record but a hand-packed buffer.

use crate::archive::{InputArchive, JuteError, OutputArchive};
use crate::data::Id;
use crate::record::Record;

/// QuorumPacket types (`Leader.java`).
pub mod packet {
    pub const REQUEST: i32 = 1;
    pub const PROPOSAL: i32 = 2;
    pub const ACK: i32 = 3;
    pub const COMMIT: i32 = 4;
    pub const PING: i32 = 5;
    pub const REVALIDATE: i32 = 6;
    pub const SYNC: i32 = 7;
    pub const INFORM: i32 = 8;
    pub const COMMITANDACTIVATE: i32 = 9;
    pub const NEWLEADER: i32 = 10;
    pub const FOLLOWERINFO: i32 = 11;
    pub const UPTODATE: i32 = 12;
    pub const DIFF: i32 = 13;
    pub const TRUNC: i32 = 14;
    pub const SNAP: i32 = 15;
    pub const OBSERVERINFO: i32 = 16;
    pub const LEADERINFO: i32 = 17;
    pub const ACKEPOCH: i32 = 18;
    pub const INFORMANDACTIVATE: i32 = 19;
    /// zab's own, not ZooKeeper's: the leader hands its role over (the data: the next
    /// leader's sid, 8 bytes big-endian; the zxid: the last committed txn). ZooKeeper's
    /// learners log it as an unknown packet and ignore it.
    pub const HANDOVER: i32 = 100;
}

jute_record! {
    pub struct QuorumPacket {
        pub packet_type: i32,
        pub zxid: i64,
        pub data: Option<Vec<u8>>,
        pub authinfo: Vec<Id>,
    }
}

jute_record! {
    /// The body of FOLLOWERINFO / OBSERVERINFO.
    pub struct LearnerInfo {
        pub serverid: i64,
        pub protocol_version: i32,
        pub config_version: i64,
    }
}

/// The protocol version learners and leaders announce (`Leader.VERSION`).
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// What a zab learner announces when it can be truncated across an epoch safely (it drops
/// snapshots newer than the truncation point). ZooKeeper leaders treat any version from
/// 0x10000 up as [`PROTOCOL_VERSION`], so Java leaders are unaffected.
pub const ZAB_PROTOCOL_VERSION: i32 = 0x10001;

/// Peer states as notifications carry them (`QuorumPeer.ServerState` ordinals).
pub mod peer_state {
    pub const LOOKING: i32 = 0;
    pub const FOLLOWING: i32 = 1;
    pub const LEADING: i32 = 2;
    pub const OBSERVING: i32 = 3;
}

/// An election notification. Version 2 adds the sender's quorum configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub state: i32,
    pub leader: i64,
    pub zxid: i64,
    pub election_epoch: i64,
    pub peer_epoch: i64,
    /// 0 for the 28- and 40-byte forms, 1 for 44 bytes without config, 2 with config.
    pub version: i32,
    /// The sender's quorum verifier as text (`version=<hex>` included), for version 2.
    pub config: Vec<u8>,
}

/// The version zab sends (`Notification.CURRENTVERSION`).
pub const NOTIFICATION_VERSION: i32 = 2;

impl Notification {
    /// Packs a version-2 notification (`FastLeaderElection.buildMsg`).
    pub fn encode(&self) -> Vec<u8> {
        let mut o = OutputArchive::with_capacity(44 + self.config.len());
        o.write_i32(self.state);
        o.write_i64(self.leader);
        o.write_i64(self.zxid);
        o.write_i64(self.election_epoch);
        o.write_i64(self.peer_epoch);
        o.write_i32(NOTIFICATION_VERSION);
        o.write_i32(self.config.len() as i32);
        o.write_raw(&self.config);
        o.into_inner()
    }

    /// Reads any of the forms ZooKeeper accepts (`WorkerReceiver.run`): 28 bytes (no peer
    /// epoch: taken from the zxid), 40 bytes (no version), or longer with a version and,
    /// from version 2, the config.
    pub fn decode(buf: &[u8]) -> Result<Notification, JuteError> {
        if buf.len() < 28 {
            return Err(JuteError::Invalid(format!("notification of {} bytes is shorter than 28", buf.len())));
        }
        let mut inp = InputArchive::new(buf, buf.len());
        let state = inp.read_i32()?;
        let leader = inp.read_i64()?;
        let zxid = inp.read_i64()?;
        let election_epoch = inp.read_i64()?;
        let (peer_epoch, version) = match buf.len() {
            28 => (zxid >> 32, 0),
            40 => (inp.read_i64()?, 0),
            _ => (inp.read_i64()?, inp.read_i32()?),
        };
        let mut config = Vec::new();
        if version > 1 {
            let len = inp.read_i32()?;
            if len < 0 || len as usize > inp.remaining() {
                return Err(JuteError::Invalid(format!(
                    "invalid configLength {len} in a notification of {} bytes",
                    buf.len()
                )));
            }
            config = inp.rest()[..len as usize].to_vec();
        }
        Ok(Notification { state, leader, zxid, election_epoch, peer_epoch, version, config })
    }
}

/// The first message on an election connection (`QuorumCnxManager.InitialMessage`):
/// protocol version -65536 (one address) or -65535 (several, `|`-separated), the sender's
/// sid, and its election address. A non-negative first long is a pre-3.5 bare sid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    pub protocol_version: i64,
    pub sid: i64,
    pub addresses: Vec<String>,
}

pub const INITIAL_MESSAGE_V1: i64 = -65536;
pub const INITIAL_MESSAGE_V2: i64 = -65535;
/// Longest address text accepted (`QuorumCnxManager.maxBuffer` for the handshake).
pub const MAX_INITIAL_ADDRESS: usize = 2048;

impl InitialMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = OutputArchive::new();
        o.write_i64(self.protocol_version);
        o.write_i64(self.sid);
        let text = self.addresses.join("|");
        o.write_i32(text.len() as i32);
        o.write_raw(text.as_bytes());
        o.into_inner()
    }

    pub fn decode(buf: &[u8]) -> Result<InitialMessage, JuteError> {
        let mut inp = InputArchive::new(buf, MAX_INITIAL_ADDRESS);
        let protocol_version = inp.read_i64()?;
        if protocol_version >= 0 {
            return Ok(InitialMessage { protocol_version, sid: protocol_version, addresses: Vec::new() });
        }
        let sid = inp.read_i64()?;
        let len = inp.read_i32()?;
        if len < 0 || len as usize > MAX_INITIAL_ADDRESS || len as usize > inp.remaining() {
            return Err(JuteError::Invalid(format!("initial message address length {len}")));
        }
        let text = String::from_utf8_lossy(&inp.rest()[..len as usize]).to_string();
        Ok(InitialMessage { protocol_version, sid, addresses: text.split('|').map(str::to_owned).collect() })
    }
}

impl QuorumPacket {
    pub fn new(packet_type: i32, zxid: i64, data: Option<Vec<u8>>) -> QuorumPacket {
        QuorumPacket { packet_type, zxid, data, authinfo: Vec::new() }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_forms() {
        let n = Notification {
            state: peer_state::LOOKING,
            leader: 3,
            zxid: 0x500000007,
            election_epoch: 9,
            peer_epoch: 5,
            version: 2,
            config: b"server.1=a:2888:3888\nversion=0".to_vec(),
        };
        let bytes = n.encode();
        assert_eq!(bytes.len(), 44 + n.config.len());
        assert_eq!(Notification::decode(&bytes).unwrap(), n);
        // 40-byte (no version) and 28-byte (no peer epoch) forms
        let forty = &bytes[..40];
        let d = Notification::decode(forty).unwrap();
        assert_eq!((d.peer_epoch, d.version, d.config.len()), (5, 0, 0));
        let d = Notification::decode(&bytes[..28]).unwrap();
        assert_eq!(d.peer_epoch, 5, "derived from the zxid's epoch");
        assert!(Notification::decode(&bytes[..27]).is_err());
        let mut lie = bytes.clone();
        lie[40..44].copy_from_slice(&1000i32.to_be_bytes());
        assert!(Notification::decode(&lie).is_err());
    }

    #[test]
    fn initial_message_and_packets() {
        let m =
            InitialMessage { protocol_version: INITIAL_MESSAGE_V1, sid: 2, addresses: vec!["127.0.0.1:3888".into()] };
        assert_eq!(InitialMessage::decode(&m.encode()).unwrap(), m);
        let legacy = 7i64.to_be_bytes();
        assert_eq!(InitialMessage::decode(&legacy).unwrap().sid, 7);
        let p = QuorumPacket::new(
            packet::FOLLOWERINFO,
            5 << 32,
            Some(LearnerInfo { serverid: 2, protocol_version: PROTOCOL_VERSION, config_version: 0 }.to_bytes()),
        );
        let back = QuorumPacket::from_bytes(&p.to_vec(), 1 << 20).unwrap();
        assert_eq!(back, p);
        let li = LearnerInfo::from_bytes(back.data.as_deref().unwrap(), 1024).unwrap();
        assert_eq!(li.serverid, 2);
    }
}
