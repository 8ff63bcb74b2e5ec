//! Transaction records (`zookeeper.jute`, module org.apache.zookeeper.txn): what every
//! write becomes before it is logged, replicated and applied to the DataTree.

use crate::archive::{InputArchive, JuteError, OutputArchive};
use crate::codes::op;
use crate::data::Acl;
use crate::record::Record;

jute_record! {
    pub struct TxnHeader {
        pub client_id: i64,
        pub cxid: i32,
        pub zxid: i64,
        pub time: i64,
        pub txn_type: i32,
    }
}

jute_record! {
    /// The tree digest after a txn (version 2 is ZooKeeper's DIGEST_VERSION).
    pub struct TxnDigest {
        pub version: i32,
        pub tree_digest: i64,
    }
}

jute_record! {
    pub struct CreateTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub ephemeral: bool,
        pub parent_c_version: i32,
    }
}

jute_record! {
    pub struct CreateTtlTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub parent_c_version: i32,
        pub ttl: i64,
    }
}

jute_record! {
    pub struct CreateContainerTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub parent_c_version: i32,
    }
}

jute_record! {
    pub struct DeleteTxn {
        pub path: String,
    }
}

jute_record! {
    pub struct SetDataTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub version: i32,
    }
}

jute_record! {
    pub struct CheckVersionTxn {
        pub path: String,
        pub version: i32,
    }
}

jute_record! {
    pub struct SetAclTxn {
        pub path: String,
        pub acl: Vec<Acl>,
        pub version: i32,
    }
}

jute_record! {
    pub struct CreateSessionTxn {
        pub time_out: i32,
    }
}

jute_record! {
    pub struct CloseSessionTxn {
        pub paths2_delete: Vec<String>,
    }
}

jute_record! {
    pub struct ErrorTxn {
        pub err: i32,
    }
}

jute_record! {
    /// One sub-txn of a MultiTxn: its type and its serialized body.
    pub struct SubTxn {
        pub txn_type: i32,
        pub data: Option<Vec<u8>>,
    }
}

jute_record! {
    pub struct MultiTxn {
        pub txns: Vec<SubTxn>,
    }
}

/// A txn body, typed by the header's `txn_type` (`SerializeUtils.deserializeTxn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    Create(CreateTxn),
    CreateTtl(CreateTtlTxn),
    CreateContainer(CreateContainerTxn),
    /// delete and deleteContainer
    Delete(DeleteTxn),
    /// setData and reconfig
    SetData(SetDataTxn),
    Check(CheckVersionTxn),
    SetAcl(SetAclTxn),
    CreateSession(CreateSessionTxn),
    /// closeSession; `None` when the body is absent (closeSessionTxn disabled).
    CloseSession(Option<CloseSessionTxn>),
    Error(ErrorTxn),
    Multi(Vec<(i32, Txn)>),
}

impl Txn {
    /// Serializes the body as ZooKeeper does.
    pub fn write(&self, out: &mut OutputArchive) {
        match self {
            Txn::Create(t) => t.write(out),
            Txn::CreateTtl(t) => t.write(out),
            Txn::CreateContainer(t) => t.write(out),
            Txn::Delete(t) => t.write(out),
            Txn::SetData(t) => t.write(out),
            Txn::Check(t) => t.write(out),
            Txn::SetAcl(t) => t.write(out),
            Txn::CreateSession(t) => t.write(out),
            Txn::CloseSession(Some(t)) => t.write(out),
            Txn::CloseSession(None) => {}
            Txn::Error(t) => t.write(out),
            Txn::Multi(subs) => {
                let txns = subs
                    .iter()
                    .map(|(t, body)| {
                        let mut o = OutputArchive::new();
                        body.write(&mut o);
                        SubTxn { txn_type: *t, data: Some(o.into_inner()) }
                    })
                    .collect();
                MultiTxn { txns }.write(out)
            }
        }
    }

    /// Reads the body that goes with header type `txn_type`.
    pub fn read(txn_type: i32, inp: &mut InputArchive<'_>) -> Result<Txn, JuteError> {
        Ok(match txn_type {
            op::CREATE | op::CREATE2 => Txn::Create(CreateTxn::read(inp)?),
            op::CREATE_TTL => Txn::CreateTtl(CreateTtlTxn::read(inp)?),
            op::CREATE_CONTAINER => Txn::CreateContainer(CreateContainerTxn::read(inp)?),
            op::DELETE | op::DELETE_CONTAINER => Txn::Delete(DeleteTxn::read(inp)?),
            op::SET_DATA | op::RECONFIG => Txn::SetData(SetDataTxn::read(inp)?),
            op::CHECK => Txn::Check(CheckVersionTxn::read(inp)?),
            op::SET_ACL => Txn::SetAcl(SetAclTxn::read(inp)?),
            op::CREATE_SESSION => Txn::CreateSession(CreateSessionTxn::read(inp)?),
            op::CLOSE_SESSION => {
                if inp.remaining() == 0 {
                    Txn::CloseSession(None)
                } else {
                    Txn::CloseSession(Some(CloseSessionTxn::read(inp)?))
                }
            }
            op::ERROR => Txn::Error(ErrorTxn::read(inp)?),
            op::MULTI => {
                let m = MultiTxn::read(inp)?;
                let mut subs = Vec::with_capacity(m.txns.len());
                for s in m.txns {
                    let bytes = s.data.unwrap_or_default();
                    let mut sub = InputArchive::new(&bytes, usize::MAX);
                    subs.push((s.txn_type, Txn::read(s.txn_type, &mut sub)?));
                }
                Txn::Multi(subs)
            }
            other => return Err(JuteError::Invalid(format!("unknown txn type {other}"))),
        })
    }
}
