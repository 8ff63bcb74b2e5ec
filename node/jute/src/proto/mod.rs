//! Client protocol records (`zookeeper.jute`, module org.apache.zookeeper.proto), one file
//! per op family.

pub mod acl;
pub mod auth;
pub mod connect;
pub mod header;
pub mod multi;
pub mod node;
pub mod reconfig;
pub mod watch;

pub use acl::*;
pub use auth::*;
pub use connect::*;
pub use header::*;
pub use multi::*;
pub use node::*;
pub use reconfig::*;
pub use watch::*;
