//! Decoding request bodies into the requests the server processes (the deserialisation
//! ZooKeeper does in PrepRequestProcessor and FinalRequestProcessor), and classifying
//! opcodes as ZooKeeper's `Request.isValid` does.

use zab_datatree::prep::WriteRequest;
use zab_datatree::KeeperError;
use zab_jute::codes::op;
use zab_jute::proto::*;
use zab_jute::record::Record;
use zab_jute::InputArchive;

/// `Request.isValid`: opcodes the server accepts from a client; any other gets
/// Unimplemented and the connection is closed.
pub fn is_valid_op(t: i32) -> bool {
    matches!(
        t,
        op::CHECK
            | op::CLOSE_SESSION
            | op::CREATE
            | op::CREATE2
            | op::CREATE_TTL
            | op::CREATE_CONTAINER
            | op::CREATE_SESSION
            | op::DELETE
            | op::DELETE_CONTAINER
            | op::EXISTS
            | op::GET_ACL
            | op::GET_CHILDREN
            | op::GET_ALL_CHILDREN_NUMBER
            | op::GET_CHILDREN2
            | op::GET_DATA
            | op::GET_EPHEMERALS
            | op::MULTI
            | op::MULTI_READ
            | op::PING
            | op::RECONFIG
            | op::SET_ACL
            | op::SET_DATA
            | op::SET_WATCHES
            | op::SET_WATCHES2
            | op::SYNC
            | op::CHECK_WATCHES
            | op::REMOVE_WATCHES
            | op::ADD_WATCH
            | op::WHO_AM_I
    )
}

fn rec<R: Record>(body: &[u8], max: usize) -> Option<R> {
    R::read(&mut InputArchive::new(body, max)).ok()
}

/// Decodes a write; `None` if `t` is not a write opcode. A body that does not decode is a
/// `Malformed` write (ZooKeeper still logs it, as a marshalling-error txn).
pub fn decode_write(t: i32, body: &[u8], max: usize, reconfig_enabled: bool) -> Option<WriteRequest> {
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
        op::RECONFIG => {
            let err = if reconfig_enabled { KeeperError::Unimplemented } else { KeeperError::ReconfigDisabled };
            WriteRequest::Refused { op_type: t, err }
        }
        _ => return None,
    })
}
