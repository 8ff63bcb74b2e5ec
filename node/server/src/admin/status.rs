//! Builds the [`MemberStatus`] report of `GET /status` from the serving server's state and,
//! in an ensemble, the member's [`PeerInfo`] (which alone answers while no server serves).

use std::sync::atomic::Ordering;

use zab_status::{
    LearnerStatus, Member, MemberStatus, Phase, Quorum, Role, SyncMode, TreeDigest, Zxid, SCHEMA_VERSION,
};

use crate::config::ServerConfig;
use crate::environment::ZK_VERSION;
use crate::peer_state::PeerInfo;
use crate::zk_server::ZooKeeperServer;

/// The configuration in force: the one a reconfiguration (or NEWLEADER's version bump)
/// activated, else the one the member started with.
fn quorum_of(peer: &PeerInfo) -> Quorum {
    let activated = peer.config_in_force();
    let view = activated.as_deref().unwrap_or(&peer.quorum);
    Quorum {
        config_version: Zxid::new(view.version),
        members: view
            .servers
            .values()
            .map(|s| Member {
                sid: s.sid,
                member_type: match s.learner_type {
                    zab_quorum::verifier::LearnerType::Participant => "participant".into(),
                    zab_quorum::verifier::LearnerType::Observer => "observer".into(),
                },
                address: s.to_line(),
            })
            .collect(),
    }
}

/// Transactions between `from` and `to` (counters within one epoch; all of `to`'s epoch
/// otherwise).
fn lag(from: i64, to: i64) -> i64 {
    if from >> 32 == to >> 32 {
        (to - from).max(0)
    } else {
        to & 0xffff_ffff
    }
}

pub fn member_status(server: Option<&ZooKeeperServer>, peer: Option<&PeerInfo>, config: &ServerConfig) -> MemberStatus {
    let view = peer.map(|p| p.get());
    let mut st = MemberStatus {
        schema_version: SCHEMA_VERSION,
        myid: config.server_id.max(0) as u64,
        role: Role::Standalone,
        phase: Phase::None,
        leader_sid: None,
        current_epoch: -1,
        accepted_epoch: -1,
        last_logged_zxid: Zxid::new(-1),
        last_processed_zxid: Zxid::new(-1),
        digest: None,
        synced: true,
        quorum: Quorum { config_version: Zxid::new(0), members: Vec::new() },
        reconfig_in_flight: false,
        client_connections: 0,
        outstanding_requests: 0,
        uptime_ms: peer.map_or(0, |p| p.started.elapsed().as_millis() as u64),
        version: env!("CARGO_PKG_VERSION").to_string(),
        zookeeper_version: ZK_VERSION.to_string(),
        learners: Vec::new(),
    };
    if let Some(server) = server {
        let (zxid, digest) = {
            let t = server.tree();
            (t.last_processed_zxid(), t.digest() as i64)
        };
        st.current_epoch = server.epochs.0;
        st.accepted_epoch = server.epochs.1;
        st.last_logged_zxid = Zxid::new(server.last_logged_zxid.load(Ordering::Relaxed));
        st.last_processed_zxid = Zxid::new(zxid);
        st.digest = server.config.digest_enabled.then(|| TreeDigest { zxid: Zxid::new(zxid), digest });
        st.client_connections = server.cnxns().len() as u64;
        st.reconfig_in_flight = server.reconfig_in_flight();
        st.outstanding_requests = server.outstanding_changes() as u64;
        st.uptime_ms = server.started.elapsed().as_millis() as u64;
        let last = server.prepared_zxid();
        st.learners = server
            .learners()
            .into_iter()
            .map(|l| LearnerStatus {
                sid: l.sid,
                learner_type: if l.observer { "observer".into() } else { "participant".into() },
                sync_mode: match l.sync_mode {
                    "DIFF" => Some(SyncMode::Diff),
                    "TRUNC" => Some(SyncMode::Trunc),
                    "SNAP" => Some(SyncMode::Snap),
                    _ => None,
                },
                last_acked_zxid: Zxid::new(l.last_acked),
                lag: lag(l.last_acked, last),
                connected_since_ms: l.connected_ms,
            })
            .collect();
    }
    if let (Some(p), Some(v)) = (peer, view) {
        st.myid = p.myid;
        st.role = v.role;
        st.phase = v.phase;
        st.leader_sid = v.leader;
        st.synced = v.synced;
        st.quorum = quorum_of(p);
        st.current_epoch = st.current_epoch.max(v.current_epoch);
        st.accepted_epoch = st.accepted_epoch.max(v.accepted_epoch);
        if server.is_none() {
            st.last_logged_zxid = Zxid::new(v.last_zxid);
            st.last_processed_zxid = Zxid::new(v.last_zxid);
        }
    }
    st
}
