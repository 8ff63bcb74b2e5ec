//! Data records shared by the protocol, the txn log and snapshots: `Id`, `ACL`, `Stat`,
//! `StatPersisted` (`zookeeper.jute`, module org.apache.zookeeper.data).

jute_record! {
    /// An identity: a scheme (world, auth, digest, ip, super) and an id within it.
    pub struct Id {
        pub scheme: String,
        pub id: String,
    }
}

jute_record! {
    /// A permission entry: perms bits for an identity.
    pub struct Acl {
        pub perms: i32,
        pub id: Id,
    }
}

jute_record! {
    /// The Stat a client sees.
    pub struct Stat {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub data_length: i32,
        pub num_children: i32,
        pub pzxid: i64,
    }
}

jute_record! {
    /// The Stat kept on disk: without dataLength and numChildren.
    pub struct StatPersisted {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub pzxid: i64,
    }
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl { perms, id: Id { scheme: scheme.to_owned(), id: id.to_owned() } }
    }

    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`: world:anyone with ALL.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::codes::perms::ALL, "world", "anyone")]
    }

    /// `ZooDefs.Ids.READ_ACL_UNSAFE`: world:anyone with READ.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::codes::perms::READ, "world", "anyone")]
    }
}
