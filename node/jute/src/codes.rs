//! ZooKeeper's numeric constants: opcodes (`ZooDefs.OpCode`), error codes
//! (`KeeperException.Code`), watch event types and keeper states (`Watcher.Event`), create
//! modes (`CreateMode`), permissions (`ZooDefs.Perms`) and special xids (`ClientCnxn`).

pub use crate::opcode::OpCode;

/// Request opcodes as the ints on the wire and in txn headers: [`OpCode`]'s values.
pub mod op {
    use super::OpCode;

    pub const NOTIFICATION: i32 = OpCode::Notification.code();
    pub const CREATE: i32 = OpCode::Create.code();
    pub const DELETE: i32 = OpCode::Delete.code();
    pub const EXISTS: i32 = OpCode::Exists.code();
    pub const GET_DATA: i32 = OpCode::GetData.code();
    pub const SET_DATA: i32 = OpCode::SetData.code();
    pub const GET_ACL: i32 = OpCode::GetAcl.code();
    pub const SET_ACL: i32 = OpCode::SetAcl.code();
    pub const GET_CHILDREN: i32 = OpCode::GetChildren.code();
    pub const SYNC: i32 = OpCode::Sync.code();
    pub const PING: i32 = OpCode::Ping.code();
    pub const GET_CHILDREN2: i32 = OpCode::GetChildren2.code();
    pub const CHECK: i32 = OpCode::Check.code();
    pub const MULTI: i32 = OpCode::Multi.code();
    pub const CREATE2: i32 = OpCode::Create2.code();
    pub const RECONFIG: i32 = OpCode::Reconfig.code();
    pub const CHECK_WATCHES: i32 = OpCode::CheckWatches.code();
    pub const REMOVE_WATCHES: i32 = OpCode::RemoveWatches.code();
    pub const CREATE_CONTAINER: i32 = OpCode::CreateContainer.code();
    pub const DELETE_CONTAINER: i32 = OpCode::DeleteContainer.code();
    pub const CREATE_TTL: i32 = OpCode::CreateTtl.code();
    pub const MULTI_READ: i32 = OpCode::MultiRead.code();
    pub const AUTH: i32 = OpCode::Auth.code();
    pub const SET_WATCHES: i32 = OpCode::SetWatches.code();
    pub const SASL: i32 = OpCode::Sasl.code();
    pub const GET_EPHEMERALS: i32 = OpCode::GetEphemerals.code();
    pub const GET_ALL_CHILDREN_NUMBER: i32 = OpCode::GetAllChildrenNumber.code();
    pub const SET_WATCHES2: i32 = OpCode::SetWatches2.code();
    pub const ADD_WATCH: i32 = OpCode::AddWatch.code();
    pub const WHO_AM_I: i32 = OpCode::WhoAmI.code();
    pub const CREATE_SESSION: i32 = OpCode::CreateSession.code();
    pub const CLOSE_SESSION: i32 = OpCode::CloseSession.code();
    pub const ERROR: i32 = OpCode::Error.code();

    /// ZooKeeper's short name for an opcode (as in `Request.op2String`), "unknown" for a
    /// number it does not define.
    pub fn name(op: i32) -> &'static str {
        OpCode::from_code(op).map_or("unknown", OpCode::name)
    }

    /// A request with this opcode becomes a txn ([`OpCode::is_write`]).
    pub fn is_write(op: i32) -> bool {
        OpCode::from_code(op).is_some_and(OpCode::is_write)
    }
}

/// Error codes carried in `ReplyHeader.err` and in multi results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    ConnectionLoss = -4,
    MarshallingError = -5,
    Unimplemented = -6,
    OperationTimeout = -7,
    BadArguments = -8,
    UnknownSession = -12,
    NewConfigNoQuorum = -13,
    ReconfigInProgress = -14,
    ApiError = -100,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidCallback = -113,
    InvalidAcl = -114,
    AuthFailed = -115,
    SessionMoved = -118,
    NotReadOnly = -119,
    EphemeralOnLocalSession = -120,
    NoWatcher = -121,
    RequestTimeout = -122,
    ReconfigDisabled = -123,
    SessionClosedRequireSaslAuth = -124,
    QuotaExceeded = -125,
    ThrottledOp = -127,
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code for an int, if ZooKeeper defines it.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        use ErrorCode::*;
        Some(match code {
            0 => Ok,
            -1 => SystemError,
            -2 => RuntimeInconsistency,
            -3 => DataInconsistency,
            -4 => ConnectionLoss,
            -5 => MarshallingError,
            -6 => Unimplemented,
            -7 => OperationTimeout,
            -8 => BadArguments,
            -12 => UnknownSession,
            -13 => NewConfigNoQuorum,
            -14 => ReconfigInProgress,
            -100 => ApiError,
            -101 => NoNode,
            -102 => NoAuth,
            -103 => BadVersion,
            -108 => NoChildrenForEphemerals,
            -110 => NodeExists,
            -111 => NotEmpty,
            -112 => SessionExpired,
            -113 => InvalidCallback,
            -114 => InvalidAcl,
            -115 => AuthFailed,
            -118 => SessionMoved,
            -119 => NotReadOnly,
            -120 => EphemeralOnLocalSession,
            -121 => NoWatcher,
            -122 => RequestTimeout,
            -123 => ReconfigDisabled,
            -124 => SessionClosedRequireSaslAuth,
            -125 => QuotaExceeded,
            -127 => ThrottledOp,
            _ => return None,
        })
    }
}

/// Watch event types (`Watcher.Event.EventType`).
pub mod event {
    pub const NONE: i32 = -1;
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    pub const DATA_WATCH_REMOVED: i32 = 5;
    pub const CHILD_WATCH_REMOVED: i32 = 6;
    pub const PERSISTENT_WATCH_REMOVED: i32 = 7;
}

/// Keeper states (`Watcher.Event.KeeperState`).
pub mod state {
    pub const DISCONNECTED: i32 = 0;
    pub const SYNC_CONNECTED: i32 = 3;
    pub const AUTH_FAILED: i32 = 4;
    pub const CONNECTED_READ_ONLY: i32 = 5;
    pub const EXPIRED: i32 = -112;
}

/// Special xids (`ClientCnxn`).
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// Permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// Create modes (`CreateMode`), decoded from the `flags` of a create request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// `CreateMode.fromFlag`; `None` for a flag ZooKeeper rejects with BadArguments.
    pub fn from_flag(flag: i32) -> Option<CreateMode> {
        use CreateMode::*;
        Some(match flag {
            0 => Persistent,
            1 => Ephemeral,
            2 => PersistentSequential,
            3 => EphemeralSequential,
            4 => Container,
            5 => PersistentWithTtl,
            6 => PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }

    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }

    pub fn is_ttl(self) -> bool {
        matches!(self, CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl)
    }
}

/// Watcher types of checkWatches/removeWatches (`Watcher.WatcherType`).
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
}

/// addWatch modes (`AddWatchMode`).
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}
