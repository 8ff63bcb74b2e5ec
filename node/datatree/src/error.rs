//! The failures of the data model, named as ZooKeeper names them. They become
//! `KeeperException.Code` values only at the protocol edge ([`KeeperError::code`]).

use thiserror::Error;
use zab_jute::codes::ErrorCode;

#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum KeeperError {
    #[error("node does not exist")]
    NoNode,
    #[error("node already exists")]
    NodeExists,
    #[error("version does not match")]
    BadVersion,
    #[error("not authorized")]
    NoAuth,
    #[error("invalid ACL")]
    InvalidAcl,
    #[error("bad arguments")]
    BadArguments,
    #[error("node has children")]
    NotEmpty,
    #[error("ephemeral nodes may not have children")]
    NoChildrenForEphemerals,
    #[error("session expired")]
    SessionExpired,
    #[error("session moved")]
    SessionMoved,
    #[error("unimplemented")]
    Unimplemented,
    #[error("marshalling error")]
    MarshallingError,
    #[error("no such watcher")]
    NoWatcher,
    #[error("authentication failed")]
    AuthFailed,
    #[error("runtime inconsistency")]
    RuntimeInconsistency,
    #[error("quota exceeded")]
    QuotaExceeded,
    #[error("server is read-only")]
    NotReadOnly,
    #[error("reconfig disabled")]
    ReconfigDisabled,
    #[error("a reconfiguration is in progress")]
    ReconfigInProgress,
    #[error("no connected and synced quorum in the new configuration")]
    NewConfigNoQuorum,
    #[error("error code {0:?}")]
    Other(ErrorCode),
}

impl KeeperError {
    pub fn code(self) -> ErrorCode {
        use KeeperError::*;
        match self {
            NoNode => ErrorCode::NoNode,
            NodeExists => ErrorCode::NodeExists,
            BadVersion => ErrorCode::BadVersion,
            NoAuth => ErrorCode::NoAuth,
            InvalidAcl => ErrorCode::InvalidAcl,
            BadArguments => ErrorCode::BadArguments,
            NotEmpty => ErrorCode::NotEmpty,
            NoChildrenForEphemerals => ErrorCode::NoChildrenForEphemerals,
            SessionExpired => ErrorCode::SessionExpired,
            SessionMoved => ErrorCode::SessionMoved,
            Unimplemented => ErrorCode::Unimplemented,
            MarshallingError => ErrorCode::MarshallingError,
            NoWatcher => ErrorCode::NoWatcher,
            AuthFailed => ErrorCode::AuthFailed,
            RuntimeInconsistency => ErrorCode::RuntimeInconsistency,
            QuotaExceeded => ErrorCode::QuotaExceeded,
            NotReadOnly => ErrorCode::NotReadOnly,
            ReconfigDisabled => ErrorCode::ReconfigDisabled,
            ReconfigInProgress => ErrorCode::ReconfigInProgress,
            NewConfigNoQuorum => ErrorCode::NewConfigNoQuorum,
            Other(c) => c,
        }
    }

    pub fn from_code(code: i32) -> KeeperError {
        use KeeperError::*;
        match ErrorCode::from_code(code) {
            Some(ErrorCode::NoNode) => NoNode,
            Some(ErrorCode::NodeExists) => NodeExists,
            Some(ErrorCode::BadVersion) => BadVersion,
            Some(ErrorCode::NoAuth) => NoAuth,
            Some(ErrorCode::InvalidAcl) => InvalidAcl,
            Some(ErrorCode::BadArguments) => BadArguments,
            Some(ErrorCode::NotEmpty) => NotEmpty,
            Some(ErrorCode::NoChildrenForEphemerals) => NoChildrenForEphemerals,
            Some(ErrorCode::SessionExpired) => SessionExpired,
            Some(ErrorCode::SessionMoved) => SessionMoved,
            Some(ErrorCode::Unimplemented) => Unimplemented,
            Some(ErrorCode::MarshallingError) => MarshallingError,
            Some(ErrorCode::NoWatcher) => NoWatcher,
            Some(ErrorCode::AuthFailed) => AuthFailed,
            Some(ErrorCode::RuntimeInconsistency) => RuntimeInconsistency,
            Some(ErrorCode::ReconfigDisabled) => ReconfigDisabled,
            Some(ErrorCode::ReconfigInProgress) => ReconfigInProgress,
            Some(ErrorCode::NewConfigNoQuorum) => NewConfigNoQuorum,
            Some(c) => Other(c),
            None => Other(ErrorCode::SystemError),
        }
    }
}
