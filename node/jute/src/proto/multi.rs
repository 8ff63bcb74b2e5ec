//! multi (14) and multiRead (22): a list of sub-operations, each preceded by a MultiHeader,
//! closed by `MultiHeader{-1, true, -1}`; results encoded the same way
//! (`MultiOperationRecord`, `MultiResponse`).
//!
//! As in ZooKeeper, a create's kind comes from its flags, not from the header's opcode:
//! a container flag makes it createContainer, a TTL flag with a TTL record makes it
//! createTTL, and unknown flags fall back to persistent (`Op.create`, `CreateMode.fromFlag`).

use crate::archive::{InputArchive, JuteError, OutputArchive};
use crate::codes::{op, CreateMode};
use crate::data::Stat;
use crate::proto::node::*;
use crate::record::Record;

jute_record! {
    pub struct MultiHeader {
        pub op_type: i32,
        pub done: bool,
        pub err: i32,
    }
}

/// One sub-operation of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create / createContainer, with the opcode derived from the flags.
    Create {
        op_type: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    /// TTL flags sent under a create header, without a ttl: a marshalling error.
    CreateTtlWithoutTtl(CreateRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(PathWatchRequest),
    GetData(PathWatchRequest),
}

impl MultiOp {
    /// The opcode ZooKeeper processes this op as.
    pub fn op_type(&self) -> i32 {
        match self {
            MultiOp::Create { op_type, .. } => *op_type,
            MultiOp::CreateTtl(_) | MultiOp::CreateTtlWithoutTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
            MultiOp::GetData(_) => op::GET_DATA,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } | MultiOp::CreateTtlWithoutTtl(req) => &req.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => &r.path,
        }
    }

    fn write_body(&self, out: &mut OutputArchive) {
        match self {
            MultiOp::Create { req, .. } | MultiOp::CreateTtlWithoutTtl(req) => req.write(out),
            MultiOp::CreateTtl(r) => r.write(out),
            MultiOp::Delete(r) => r.write(out),
            MultiOp::SetData(r) => r.write(out),
            MultiOp::Check(r) => r.write(out),
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => r.write(out),
        }
    }
}

fn create_op_type(flags: i32) -> i32 {
    match CreateMode::from_flag(flags).unwrap_or(CreateMode::Persistent) {
        m if m.is_ttl() => op::CREATE_TTL,
        m if m.is_container() => op::CREATE_CONTAINER,
        _ => op::CREATE,
    }
}

/// The body of a multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

impl Record for MultiRequest {
    fn write(&self, out: &mut OutputArchive) {
        for o in &self.ops {
            MultiHeader { op_type: o.op_type(), done: false, err: -1 }.write(out);
            o.write_body(out);
        }
        MultiHeader { op_type: -1, done: true, err: -1 }.write(out);
    }

    /// Fails, as ZooKeeper does, on an unknown sub-opcode or on reads mixed with writes.
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        let mut ops = Vec::new();
        let mut kind_read: Option<bool> = None;
        loop {
            let h = MultiHeader::read(inp)?;
            if h.done {
                break;
            }
            let o = match h.op_type {
                op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                    let req = CreateRequest::read(inp)?;
                    let op_type = create_op_type(req.flags);
                    if op_type == op::CREATE_TTL {
                        // Op.create with TTL flags but a CreateRequest record: ZooKeeper's
                        // prep step fails on it as a marshalling error.
                        MultiOp::CreateTtlWithoutTtl(req)
                    } else {
                        MultiOp::Create { op_type, req }
                    }
                }
                op::CREATE_TTL => {
                    let r = CreateTtlRequest::read(inp)?;
                    match create_op_type(r.flags) {
                        op::CREATE_TTL => MultiOp::CreateTtl(r),
                        op_type => MultiOp::Create {
                            op_type,
                            req: CreateRequest { path: r.path, data: r.data, acl: r.acl, flags: r.flags },
                        },
                    }
                }
                op::DELETE => MultiOp::Delete(DeleteRequest::read(inp)?),
                op::SET_DATA => MultiOp::SetData(SetDataRequest::read(inp)?),
                op::CHECK => MultiOp::Check(CheckVersionRequest::read(inp)?),
                op::GET_CHILDREN => MultiOp::GetChildren(PathWatchRequest::read(inp)?),
                op::GET_DATA => MultiOp::GetData(PathWatchRequest::read(inp)?),
                other => return Err(JuteError::Invalid(format!("invalid type of op {other} in multi"))),
            };
            let is_read = o.is_read();
            match kind_read {
                None => kind_read = Some(is_read),
                Some(k) if k != is_read => {
                    return Err(JuteError::Invalid("mixing read and write operations in a multi".into()))
                }
                _ => {}
            }
            ops.push(o);
        }
        Ok(MultiRequest { ops })
    }
}

/// One result of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create { path: String },
    Create2 { path: String, stat: Stat },
    Delete,
    Check,
    SetData { stat: Stat },
    GetChildren { children: Vec<String> },
    GetData { data: Option<Vec<u8>>, stat: Stat },
    Error { err: i32 },
}

/// The body of a multi or multiRead reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<MultiResult>,
}

impl Record for MultiResponse {
    fn write(&self, out: &mut OutputArchive) {
        for r in &self.results {
            let (t, err) = match r {
                MultiResult::Create { .. } => (op::CREATE, 0),
                MultiResult::Create2 { .. } => (op::CREATE2, 0),
                MultiResult::Delete => (op::DELETE, 0),
                MultiResult::Check => (op::CHECK, 0),
                MultiResult::SetData { .. } => (op::SET_DATA, 0),
                MultiResult::GetChildren { .. } => (op::GET_CHILDREN, 0),
                MultiResult::GetData { .. } => (op::GET_DATA, 0),
                MultiResult::Error { err } => (op::ERROR, *err),
            };
            MultiHeader { op_type: t, done: false, err }.write(out);
            match r {
                MultiResult::Create { path } => out.write_string(path),
                MultiResult::Create2 { path, stat } => {
                    out.write_string(path);
                    stat.write(out);
                }
                MultiResult::Delete | MultiResult::Check => {}
                MultiResult::SetData { stat } => stat.write(out),
                MultiResult::GetChildren { children } => children.write(out),
                MultiResult::GetData { data, stat } => {
                    out.write_buffer(data.as_deref());
                    stat.write(out);
                }
                MultiResult::Error { err } => out.write_i32(*err),
            }
        }
        MultiHeader { op_type: -1, done: true, err: -1 }.write(out);
    }

    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::read(inp)?;
            if h.done {
                break;
            }
            let r = match h.op_type {
                op::CREATE => MultiResult::Create { path: inp.read_string()? },
                op::CREATE2 => MultiResult::Create2 { path: inp.read_string()?, stat: Stat::read(inp)? },
                op::DELETE => MultiResult::Delete,
                op::CHECK => MultiResult::Check,
                op::SET_DATA => MultiResult::SetData { stat: Stat::read(inp)? },
                op::GET_CHILDREN => MultiResult::GetChildren { children: Vec::read(inp)? },
                op::GET_DATA => MultiResult::GetData { data: inp.read_buffer()?, stat: Stat::read(inp)? },
                op::ERROR => MultiResult::Error { err: inp.read_i32()? },
                other => return Err(JuteError::Invalid(format!("invalid result type {other} in multi"))),
            };
            results.push(r);
        }
        Ok(MultiResponse { results })
    }
}
