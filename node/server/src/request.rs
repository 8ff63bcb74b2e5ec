//! Decoding request bodies into the requests the server processes (the deserialisation
//! ZooKeeper does in PrepRequestProcessor and FinalRequestProcessor), and classifying
//! opcodes as ZooKeeper's `Request.isValid` does.

use zab_datatree::prep::WriteRequest;
use zab_datatree::KeeperError;
use zab_jute::codes::{op, OpCode};
use zab_jute::proto::*;
use zab_jute::record::Record;
use zab_jute::InputArchive;

/// `Request.isValid`: opcodes the server accepts from a client; any other gets
/// Unimplemented and the connection is closed.
pub fn is_valid_op(t: i32) -> bool {
    OpCode::from_code(t).is_some_and(OpCode::is_valid_request)
}

fn rec<R: Record>(body: &[u8], max: usize) -> Option<R> {
    R::read(&mut InputArchive::new(body, max)).ok()
}

/// Decodes a write; `None` if `t` is not a write opcode ([`OpCode::is_write`]) or is
/// closeSession, which has no body and which the callers turn into
/// [`WriteRequest::CloseSession`] themselves. A body that does not decode is a `Malformed`
/// write (ZooKeeper still logs it, as a marshalling-error txn).
pub fn decode_write(t: i32, body: &[u8], max: usize, reconfig_enabled: bool) -> Option<WriteRequest> {
    if !op::is_write(t) || t == op::CLOSE_SESSION {
        return None;
    }
    let malformed = WriteRequest::Malformed { op_type: t };
    Some(match t {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => match rec::<CreateRequest>(body, max) {
            Some(req) => WriteRequest::Create { op_type: t, req },
            None => malformed,
        },
        op::CREATE_TTL => rec(body, max).map(WriteRequest::CreateTtl).unwrap_or(malformed),
        op::DELETE => rec(body, max).map(WriteRequest::Delete).unwrap_or(malformed),
        op::SET_DATA => rec(body, max).map(WriteRequest::SetData).unwrap_or(malformed),
        op::SET_ACL => rec(body, max).map(WriteRequest::SetAcl).unwrap_or(malformed),
        op::CHECK => rec(body, max).map(WriteRequest::Check).unwrap_or(malformed),
        op::MULTI => rec(body, max).map(WriteRequest::Multi).unwrap_or(malformed),
        op::DELETE_CONTAINER => match std::str::from_utf8(body) {
            Ok(p) => WriteRequest::DeleteContainer(p.to_owned()),
            Err(_) => malformed,
        },
        // Checked by the leader (`zk_server::reconfig`); refused at once when disabled.
        op::RECONFIG if reconfig_enabled => rec(body, max).map(WriteRequest::Reconfig).unwrap_or(malformed),
        op::RECONFIG => WriteRequest::Refused { op_type: t, err: KeeperError::ReconfigDisabled },
        // Not reached: every other write opcode is matched above (the test below checks it).
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_opcode_decodes_and_no_other() {
        for code in OpCode::ALL {
            let decoded = decode_write(code.code(), &[], 1 << 20, false);
            if code.is_write() && code != OpCode::CloseSession {
                // An empty body decodes to a Malformed write (or reconfig's refusal), never None.
                assert!(decoded.is_some(), "{code:?} is a write but decode_write ignores it");
            } else {
                assert!(decoded.is_none(), "{code:?} is not a write but decodes as one");
            }
        }
        assert!(decode_write(12345, &[], 1 << 20, false).is_none());
        assert!(is_valid_op(op::GET_DATA) && is_valid_op(op::CLOSE_SESSION) && !is_valid_op(op::AUTH));
        assert!(!is_valid_op(12345));
    }
}
