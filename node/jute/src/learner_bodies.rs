//! The bodies of the quorum packets a learner and its leader's LearnerHandler exchange
//! besides the Zab phases: REQUEST (a client's write forwarded by `Learner.request`),
//! REVALIDATE (a session moving to a learner, `Learner.validateSession`, and the leader's
//! answer) and a learner's PING (the sessions it touched, `Learner.ping`).
//!
//! ZooKeeper writes them with a `DataOutputStream`, whose longs, ints and booleans are
//! jute's, so they are declared as jute records; what is not a record is said where it
//! occurs (REQUEST ends with the client's request bytes unprefixed, a PING body is touches
//! back to back without a count). Decoding never panics on short or odd input.

use crate::archive::{InputArchive, JuteError, OutputArchive};
use crate::record::Record;

jute_record! {
    /// The head of a REQUEST body; the client's request bytes follow it, unprefixed, to the
    /// end of the packet.
    pub struct ForwardedRequest {
        pub session_id: i64,
        pub cxid: i32,
        pub op_type: i32,
    }
}

impl ForwardedRequest {
    /// Bytes of the head.
    pub const LEN: usize = 16;

    /// The REQUEST body: the head, then `body`.
    pub fn encode(&self, body: &[u8]) -> Vec<u8> {
        let mut out = OutputArchive::with_capacity(Self::LEN + body.len());
        self.write(&mut out);
        out.write_raw(body);
        out.into_inner()
    }

    /// Splits a REQUEST body into its head and the client's request bytes.
    pub fn decode(data: &[u8]) -> Result<(ForwardedRequest, &[u8]), JuteError> {
        let mut inp = InputArchive::new(data, data.len());
        let head = ForwardedRequest::read(&mut inp)?;
        Ok((head, inp.rest()))
    }
}

jute_record! {
    /// REVALIDATE from a learner: may this session, with this timeout, move here?
    pub struct RevalidateRequest {
        pub session_id: i64,
        pub timeout: i32,
    }
}

jute_record! {
    /// REVALIDATE from the leader: the session, and whether it is valid (one byte, non-zero
    /// is true, as `DataInputStream.readBoolean`).
    pub struct RevalidateReply {
        pub session_id: i64,
        pub valid: bool,
    }
}

jute_record! {
    /// One session a learner's clients kept alive since its last PING, and its timeout.
    pub struct SessionTouch {
        pub session_id: i64,
        pub timeout: i32,
    }
}

impl SessionTouch {
    /// Bytes of one touch.
    pub const LEN: usize = 12;

    /// A learner's PING body: the touches back to back, no count.
    pub fn encode_all(touches: impl IntoIterator<Item = SessionTouch>) -> Vec<u8> {
        let mut out = OutputArchive::new();
        for t in touches {
            t.write(&mut out);
        }
        out.into_inner()
    }

    /// The touches of a PING body; a trailing piece shorter than one touch is ignored.
    pub fn decode_all(data: &[u8]) -> impl Iterator<Item = SessionTouch> + '_ {
        data.chunks_exact(Self::LEN).filter_map(|c| SessionTouch::from_bytes(c, Self::LEN).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_is_head_then_raw_request() {
        let head = ForwardedRequest { session_id: 0x0102030405060708, cxid: 9, op_type: 5 };
        let bytes = head.encode(b"body");
        assert_eq!(bytes.len(), ForwardedRequest::LEN + 4);
        assert_eq!(&bytes[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 9, 0, 0, 0, 5]);
        assert_eq!(ForwardedRequest::decode(&bytes).unwrap(), (head.clone(), &b"body"[..]));
        assert_eq!(ForwardedRequest::decode(&bytes[..16]).unwrap(), (head, &b""[..]));
        assert!(ForwardedRequest::decode(&bytes[..15]).is_err());
    }

    #[test]
    fn revalidate_both_ways() {
        let req = RevalidateRequest { session_id: -2, timeout: 30_000 };
        let bytes = req.to_bytes();
        assert_eq!(bytes.len(), 12);
        assert_eq!(RevalidateRequest::from_bytes(&bytes, 12).unwrap(), req);
        let reply = RevalidateReply { session_id: 7, valid: true };
        assert_eq!(reply.to_bytes(), [0, 0, 0, 0, 0, 0, 0, 7, 1]);
        // Any non-zero byte is true; a reply without the byte is an error.
        assert!(RevalidateReply::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 7, 2], 9).unwrap().valid);
        assert!(!RevalidateReply::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 7, 0], 9).unwrap().valid);
        assert!(RevalidateReply::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 7], 9).is_err());
    }

    #[test]
    fn ping_touches_back_to_back() {
        let touches =
            vec![SessionTouch { session_id: 1, timeout: 4000 }, SessionTouch { session_id: i64::MIN, timeout: -1 }];
        let mut bytes = SessionTouch::encode_all(touches.clone());
        assert_eq!(bytes.len(), 24);
        assert_eq!(SessionTouch::decode_all(&bytes).collect::<Vec<_>>(), touches);
        bytes.extend_from_slice(&[9; 11]);
        assert_eq!(SessionTouch::decode_all(&bytes).count(), 2, "a partial touch is ignored");
        assert_eq!(SessionTouch::decode_all(&[]).count(), 0);
        assert!(SessionTouch::encode_all([]).is_empty());
    }
}
