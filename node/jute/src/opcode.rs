//! ZooKeeper's request opcodes (`ZooDefs.OpCode`) as one enum, [`OpCode`]: its number on
//! the wire, its name (`Request.op2String`), whether a request with it becomes a txn
//! ([`OpCode::is_write`]) and whether a client may send it ([`OpCode::is_valid_request`]).
//! The `i32` constants of [`crate::codes::op`] are these values, for matching on the wire
//! and disk ints directly.
//!
//! Pure: a lookup table. An unknown number is `None`, never a panic.

/// A request opcode (`ZooDefs.OpCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum OpCode {
    Notification = 0,
    Create = 1,
    Delete = 2,
    Exists = 3,
    GetData = 4,
    SetData = 5,
    GetAcl = 6,
    SetAcl = 7,
    GetChildren = 8,
    Sync = 9,
    Ping = 11,
    GetChildren2 = 12,
    Check = 13,
    Multi = 14,
    Create2 = 15,
    Reconfig = 16,
    CheckWatches = 17,
    RemoveWatches = 18,
    CreateContainer = 19,
    DeleteContainer = 20,
    CreateTtl = 21,
    MultiRead = 22,
    Auth = 100,
    SetWatches = 101,
    Sasl = 102,
    GetEphemerals = 103,
    GetAllChildrenNumber = 104,
    SetWatches2 = 105,
    AddWatch = 106,
    WhoAmI = 107,
    CreateSession = -10,
    CloseSession = -11,
    Error = -1,
}

impl OpCode {
    /// Every opcode, in `ZooDefs.OpCode`'s order.
    pub const ALL: [OpCode; 33] = [
        OpCode::Notification,
        OpCode::Create,
        OpCode::Delete,
        OpCode::Exists,
        OpCode::GetData,
        OpCode::SetData,
        OpCode::GetAcl,
        OpCode::SetAcl,
        OpCode::GetChildren,
        OpCode::Sync,
        OpCode::Ping,
        OpCode::GetChildren2,
        OpCode::Check,
        OpCode::Multi,
        OpCode::Create2,
        OpCode::Reconfig,
        OpCode::CheckWatches,
        OpCode::RemoveWatches,
        OpCode::CreateContainer,
        OpCode::DeleteContainer,
        OpCode::CreateTtl,
        OpCode::MultiRead,
        OpCode::Auth,
        OpCode::SetWatches,
        OpCode::Sasl,
        OpCode::GetEphemerals,
        OpCode::GetAllChildrenNumber,
        OpCode::SetWatches2,
        OpCode::AddWatch,
        OpCode::WhoAmI,
        OpCode::CreateSession,
        OpCode::CloseSession,
        OpCode::Error,
    ];

    /// The number on the wire and in txn headers.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The opcode for an int, if ZooKeeper defines it.
    pub const fn from_code(code: i32) -> Option<OpCode> {
        use OpCode::*;
        Some(match code {
            0 => Notification,
            1 => Create,
            2 => Delete,
            3 => Exists,
            4 => GetData,
            5 => SetData,
            6 => GetAcl,
            7 => SetAcl,
            8 => GetChildren,
            9 => Sync,
            11 => Ping,
            12 => GetChildren2,
            13 => Check,
            14 => Multi,
            15 => Create2,
            16 => Reconfig,
            17 => CheckWatches,
            18 => RemoveWatches,
            19 => CreateContainer,
            20 => DeleteContainer,
            21 => CreateTtl,
            22 => MultiRead,
            100 => Auth,
            101 => SetWatches,
            102 => Sasl,
            103 => GetEphemerals,
            104 => GetAllChildrenNumber,
            105 => SetWatches2,
            106 => AddWatch,
            107 => WhoAmI,
            -10 => CreateSession,
            -11 => CloseSession,
            -1 => Error,
            _ => return None,
        })
    }

    /// ZooKeeper's short name (`Request.op2String`).
    pub const fn name(self) -> &'static str {
        use OpCode::*;
        match self {
            Notification => "notification",
            Create => "create",
            Delete => "delete",
            Exists => "exists",
            GetData => "getData",
            SetData => "setData",
            GetAcl => "getACL",
            SetAcl => "setACL",
            GetChildren => "getChildren",
            Sync => "sync",
            Ping => "ping",
            GetChildren2 => "getChildren2",
            Check => "check",
            Multi => "multi",
            Create2 => "create2",
            Reconfig => "reconfig",
            CheckWatches => "checkWatches",
            RemoveWatches => "removeWatches",
            CreateContainer => "createContainer",
            DeleteContainer => "deleteContainer",
            CreateTtl => "createTTL",
            MultiRead => "multiRead",
            Auth => "auth",
            SetWatches => "setWatches",
            Sasl => "sasl",
            GetEphemerals => "getEphemerals",
            GetAllChildrenNumber => "getAllChildrenNumber",
            SetWatches2 => "setWatches2",
            AddWatch => "addWatch",
            WhoAmI => "whoAmI",
            CreateSession => "createSession",
            CloseSession => "closeSession",
            Error => "error",
        }
    }

    /// A client request with this opcode changes the tree or the sessions: it goes through
    /// the txn log (ZooKeeper's `Request.isQuorum`, the session opcodes as for a global
    /// session; createSession itself arrives as a ConnectRequest, not as a request opcode).
    pub const fn is_write(self) -> bool {
        use OpCode::*;
        matches!(
            self,
            Create
                | Create2
                | CreateContainer
                | CreateTtl
                | Delete
                | SetData
                | SetAcl
                | Check
                | Multi
                | DeleteContainer
                | Reconfig
                | CloseSession
        )
    }

    /// `Request.isValid`: a client may send it; any other opcode gets Unimplemented and the
    /// connection is closed.
    pub const fn is_valid_request(self) -> bool {
        use OpCode::*;
        !matches!(self, Notification | Auth | Sasl | Error)
    }
}

impl TryFrom<i32> for OpCode {
    type Error = i32;

    /// The opcode, or the unknown int back.
    fn try_from(code: i32) -> Result<OpCode, i32> {
        OpCode::from_code(code).ok_or(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_code(op.code()), Some(op), "{op:?}");
            assert!(seen.insert(op.code()), "{op:?} repeats a code");
            assert!(seen.len() <= OpCode::ALL.len());
        }
        for unknown in [10, 23, 99, 108, -2, -12, i32::MIN, i32::MAX] {
            assert_eq!(OpCode::from_code(unknown), None, "{unknown}");
            assert_eq!(OpCode::try_from(unknown), Err(unknown));
        }
    }

    #[test]
    fn writes_are_the_txn_producing_requests() {
        let writes: Vec<&str> = OpCode::ALL.iter().filter(|o| o.is_write()).map(|o| o.name()).collect();
        assert_eq!(
            writes,
            [
                "create",
                "delete",
                "setData",
                "setACL",
                "check",
                "multi",
                "create2",
                "reconfig",
                "createContainer",
                "deleteContainer",
                "createTTL",
                "closeSession"
            ]
        );
        // Every write is a valid request; reads and watches are not writes.
        assert!(OpCode::ALL.iter().filter(|o| o.is_write()).all(|o| o.is_valid_request()));
        for read in [OpCode::GetData, OpCode::Exists, OpCode::MultiRead, OpCode::Sync, OpCode::Ping, OpCode::AddWatch] {
            assert!(!read.is_write() && read.is_valid_request(), "{read:?}");
        }
        for invalid in [OpCode::Notification, OpCode::Auth, OpCode::Sasl, OpCode::Error] {
            assert!(!invalid.is_valid_request(), "{invalid:?}");
        }
    }
}
