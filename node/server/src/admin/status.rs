//! Builds the [`MemberStatus`] report of `GET /status` from the server's state.

use std::sync::atomic::Ordering;

use zab_status::{MemberStatus, Phase, Quorum, Role, TreeDigest, Zxid, SCHEMA_VERSION};

use crate::four_letter::ZK_VERSION;
use crate::zk_server::ZooKeeperServer;

pub fn member_status(server: &ZooKeeperServer) -> MemberStatus {
    let (zxid, digest) = {
        let t = server.tree();
        (t.last_processed_zxid(), t.digest() as i64)
    };
    MemberStatus {
        schema_version: SCHEMA_VERSION,
        myid: server.config.server_id.max(0) as u64,
        role: Role::Standalone,
        phase: Phase::None,
        leader_sid: None,
        current_epoch: server.epochs.0,
        accepted_epoch: server.epochs.1,
        last_logged_zxid: Zxid::new(server.last_logged_zxid.load(Ordering::Relaxed)),
        last_processed_zxid: Zxid::new(zxid),
        digest: server.config.digest_enabled.then(|| TreeDigest { zxid: Zxid::new(zxid), digest }),
        synced: true,
        quorum: Quorum { config_version: Zxid::new(0), members: Vec::new() },
        client_connections: server.cnxns().len() as u64,
        outstanding_requests: server.outstanding_changes() as u64,
        uptime_ms: server.started.elapsed().as_millis() as u64,
        version: env!("CARGO_PKG_VERSION").to_string(),
        zookeeper_version: ZK_VERSION.to_string(),
        learners: Vec::new(),
    }
}
