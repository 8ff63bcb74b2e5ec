//! The AdminServer commands whose answers come from the quorum peer (`leader`, `zabstate`,
//! `voting_view`, `observers`): `None` / empty for a standalone server, as ZooKeeper answers
//! when the server is not a `QuorumZooKeeperServer`.

use serde_json::{json, Map, Value};
use zab_quorum::verifier::{LearnerType, QuorumServer};

use crate::zk_server::{Role, ZooKeeperServer};

/// `host:port`, with an IPv6 host in brackets (`QuorumServer.delimitedHostString`).
fn address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Jackson's view of a one-address `MultipleAddresses` (zab has no multi-address peers).
fn multiple_addresses(host: &str, port: u16) -> Value {
    let a = address(host, port);
    json!({
        "empty": false,
        "all_addresses": [a],
        "all_reachable_addresses": [a],
        "one": a,
        "reachable_address": a,
        "wildcard_addresses": [address("0.0.0.0", port)],
        "all_ports": [port],
        "all_host_strings": [host],
        "all_reachable_addresses_or_all": [a],
        "reachable_or_one": a,
    })
}

fn this_member(server: &ZooKeeperServer) -> Option<&QuorumServer> {
    let q = server.config.quorum.as_ref()?;
    q.view.servers.get(&q.myid)
}

fn client_address(server: &ZooKeeperServer) -> String {
    address(&server.config.client_port_address.to_string(), server.config.client_port)
}

fn leader_sid(server: &ZooKeeperServer) -> Option<u64> {
    if server.role() == Role::Leader {
        return server.config.quorum.as_ref().map(|q| q.myid);
    }
    server.peer().and_then(|p| p.get().leader)
}

/// `leader`: is_leader, leader_id, leader_ip.
pub fn leader(server: &ZooKeeperServer) -> Option<Map<String, Value>> {
    let q = server.config.quorum.as_ref().filter(|_| server.role() != Role::Standalone)?;
    let sid = leader_sid(server);
    let ip = sid.and_then(|s| q.view.servers.get(&s)).map(|s| s.host.clone()).unwrap_or_default();
    let mut m = Map::new();
    m.insert("is_leader".into(), json!(server.role() == Role::Leader));
    m.insert("leader_id".into(), json!(sid.map_or(-1, |s| s as i64)));
    m.insert("leader_ip".into(), json!(ip));
    Some(m)
}

/// `zabstate`: the member's addresses, last zxid and ZAB phase.
pub fn zabstate(server: &ZooKeeperServer) -> Option<Map<String, Value>> {
    let q = server.config.quorum.as_ref().filter(|_| server.role() != Role::Standalone)?;
    let me = this_member(server)?;
    let zxid = server.last_processed_zxid();
    let phase = server.peer().map_or(zab_status::Phase::Broadcast, |p| p.get().phase);
    let mut m = Map::new();
    m.insert("myid".into(), json!(q.myid));
    m.insert("is_leader".into(), json!(server.role() == Role::Leader));
    m.insert("quorum_address".into(), multiple_addresses(&me.host, me.quorum_port));
    m.insert("election_address".into(), multiple_addresses(&me.host, me.election_port));
    m.insert("client_address".into(), json!(client_address(server)));
    m.insert("voting".into(), json!(me.learner_type == LearnerType::Participant));
    m.insert("last_zxid".into(), json!(format!("0x{zxid:x}")));
    m.insert("zab_epoch".into(), json!(zxid >> 32));
    m.insert("zab_counter".into(), json!(zxid & 0xffff_ffff));
    m.insert("zabstate".into(), json!(crate::monitor::phase_name(phase)));
    Some(m)
}

/// `voting_view`: the voting members by id (empty standalone).
pub fn voting_view(server: &ZooKeeperServer) -> Value {
    let Some(q) = server.config.quorum.as_ref().filter(|_| server.role() != Role::Standalone) else {
        return json!({});
    };
    let mut out = Map::new();
    for s in q.view.servers.values().filter(|s| s.learner_type == LearnerType::Participant) {
        let client = match &s.client {
            Some((h, p)) => address(h, *p),
            None if s.sid == q.myid => client_address(server),
            None => String::new(),
        };
        out.insert(
            s.sid.to_string(),
            json!({
                "server_addresses": [address(&s.host, s.quorum_port)],
                "election_addresses": [address(&s.host, s.election_port)],
                "client_address": client,
                "learner_type": "participant",
            }),
        );
    }
    Value::Object(out)
}

/// `observers`: on a leader, its synced observers (`LearnerHandler.getLearnerHandlerInfo`
/// with what zab's leader tracks of them).
pub fn observers(server: &ZooKeeperServer) -> Vec<Value> {
    if server.role() != Role::Leader {
        return Vec::new();
    }
    server
        .learners()
        .into_iter()
        .filter(|l| l.observer && l.in_broadcast)
        .map(|l| {
            json!({
                "sid": l.sid,
                "established": l.connected_ms,
                "last_zxid": l.last_acked,
            })
        })
        .collect()
}
