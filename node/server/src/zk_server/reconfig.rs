//! The reconfig op on the leader (`PrepRequestProcessor` case reconfig, ZooKeeper 3.8):
//! before its txn is prepared, a client's [`ReconfigRequest`] is checked against the
//! leader's configuration state, which its engine owns and [`Broadcast::configs`] reads,
//! and becomes [`WriteRequest::NewConfig`] (the new configuration's text, versioned with
//! the txn's zxid) or a refusal. The shared prep step (`write`) then checks the caller's
//! WRITE on `/zookeeper/config` and makes the txn; the leader proposes it with
//! [`Broadcast::propose_reconfig`], which commits it with a quorum of the old and of the
//! new configuration.
//!
//! [`next_config`] is pure: the checks in 3.8's order after reconfigEnabled and the
//! session (ReconfigInProgress, BadVersion, the new members, at least two voters with
//! standaloneEnabled, NewConfigNoQuorum). Where 3.8 fails with a Java runtime exception
//! (an id that is not a number, observers without participants), its catch-all answers
//! MarshallingError, and so does this.

use std::collections::BTreeMap;

use zab_datatree::prep::WriteRequest;
use zab_datatree::KeeperError;
use zab_jute::codes::op;
use zab_jute::proto::ReconfigRequest;
use zab_quorum::verifier::{QuorumMaj, QuorumServer};

use super::{Broadcast, Core, QuorumConfigs, ZooKeeperServer};

/// The most servers a reconfig may name (as the configuration parser).
const MAX_SERVERS: usize = zab_quorum::reconfig::MAX_SERVERS;

/// `StringUtils.split`: the parts, trimmed, empty ones left out.
fn split(s: &str, sep: char) -> impl Iterator<Item = &str> {
    s.split(sep).map(str::trim).filter(|p| !p.is_empty())
}

/// `Long.parseLong`, whose failure 3.8 answers with MarshallingError.
fn sid_of(s: &str) -> Result<u64, KeeperError> {
    s.trim().parse::<i64>().ok().and_then(|v| u64::try_from(v).ok()).ok_or(KeeperError::MarshallingError)
}

/// The new configuration of a reconfig prepared at `zxid` (its version), or why it is
/// refused. `quorum_synced` is the leader's `isQuorumSynced`.
pub fn next_config(
    req: &ReconfigRequest,
    configs: &QuorumConfigs,
    zxid: i64,
    standalone_enabled: bool,
    quorum_synced: impl Fn(&QuorumMaj) -> bool,
) -> Result<QuorumMaj, KeeperError> {
    let last_seen = &configs.last_seen;
    if last_seen.version != configs.current.version {
        return Err(KeeperError::ReconfigInProgress);
    }
    if req.cur_config_id != -1 && req.cur_config_id != last_seen.version {
        return Err(KeeperError::BadVersion);
    }
    let servers = match &req.new_members {
        Some(members) => bulk(members, standalone_enabled)?,
        None => incremental(req, last_seen)?,
    };
    let view = QuorumMaj::new(servers.into_values(), zxid);
    let voters = view.voters().count();
    if (standalone_enabled && voters < 2) || voters < 1 {
        return Err(KeeperError::BadArguments);
    }
    if !quorum_synced(&view) {
        return Err(KeeperError::NewConfigNoQuorum);
    }
    Ok(view)
}

/// Non-incremental: `newMembers` (comma or newline separated `server.N=...` lines, and
/// `version`) replaces every member (`QuorumPeerConfig.parseDynamicConfig`).
fn bulk(members: &str, standalone_enabled: bool) -> Result<BTreeMap<u64, QuorumServer>, KeeperError> {
    let mut servers = BTreeMap::new();
    for line in members.split([',', '\n', '\r']).map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        // `Properties.load`: the key ends at the first '=', ':' or blank.
        let end = line.find(['=', ':', ' ', '\t']).unwrap_or(line.len());
        let key = &line[..end];
        let value = line[end..].trim_start().trim_start_matches(['=', ':']).trim();
        if key.starts_with("group") || key.starts_with("weight") {
            // Hierarchical quorums: zab has majority quorums only.
            return Err(KeeperError::BadArguments);
        }
        if key == "version" {
            continue;
        }
        let Some(id) = key.strip_prefix("server.") else {
            return Err(KeeperError::BadArguments); // "Unrecognised parameter"
        };
        let sid = sid_of(id)?;
        let server = QuorumServer::parse(sid, value).map_err(|_| KeeperError::BadArguments)?;
        servers.insert(sid, server);
        if servers.len() > MAX_SERVERS {
            return Err(KeeperError::BadArguments);
        }
    }
    let view = QuorumMaj::new(servers.values().cloned(), 0);
    let (voters, observers) = (view.voters().count(), servers.len() - view.voters().count());
    // parseDynamicConfig's IllegalArgumentExceptions: the catch-all's MarshallingError.
    if (voters == 0 && (!standalone_enabled || observers > 0)) || (voters == 1 && standalone_enabled && observers > 0) {
        return Err(KeeperError::MarshallingError);
    }
    Ok(servers)
}

/// Incremental: the last seen members minus `leavingServers` (ids) plus
/// `joiningServers` (`server.N=host:quorumPort:electionPort[:type];[clientAddr:]clientPort`).
fn incremental(req: &ReconfigRequest, last_seen: &QuorumMaj) -> Result<BTreeMap<u64, QuorumServer>, KeeperError> {
    let mut next = last_seen.servers.clone();
    for leaving in req.leaving_servers.as_deref().map(|s| split(s, ',')).into_iter().flatten() {
        next.remove(&sid_of(leaving)?);
    }
    for joiner in req.joining_servers.as_deref().map(|s| split(s, ',')).into_iter().flatten() {
        let parts: Vec<&str> = split(joiner, '=').collect();
        let [key, value] = parts[..] else { return Err(KeeperError::BadArguments) };
        let sid = sid_of(key.rsplit('.').next().unwrap_or(key))?;
        let server = QuorumServer::parse(sid, value).map_err(|_| KeeperError::BadArguments)?;
        if server.client.is_none() {
            // "each server should have 3 ports specified"
            return Err(KeeperError::BadArguments);
        }
        if next.values().any(|other| other.sid != sid && conflicts(&server, other)) {
            return Err(KeeperError::BadArguments);
        }
        next.insert(sid, server);
        if next.len() > MAX_SERVERS {
            return Err(KeeperError::BadArguments);
        }
    }
    Ok(next)
}

/// `QuorumServer.checkAddressDuplicate`: one of the joiner's quorum, election and client
/// addresses is one of `other`'s; wildcard and loopback addresses do not count.
fn conflicts(joiner: &QuorumServer, other: &QuorumServer) -> bool {
    let addrs = |s: &QuorumServer| {
        let mut v = vec![(s.host.clone(), s.quorum_port), (s.host.clone(), s.election_port)];
        v.extend(s.client.clone());
        v.retain(|(h, _)| !is_special_address(h));
        v
    };
    let theirs = addrs(other);
    addrs(joiner).iter().any(|a| theirs.contains(a))
}

fn is_special_address(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_unspecified() || ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

impl ZooKeeperServer {
    /// The leader's checks of a reconfig prepared at `zxid`, under the prep lock: the
    /// request to prepare (the new configuration, or its refusal) and the configuration
    /// to propose with it.
    pub(super) fn check_reconfig(
        &self,
        core: &Core,
        broadcast: &dyn Broadcast,
        session_id: i64,
        req: &ReconfigRequest,
        zxid: i64,
    ) -> (WriteRequest, Option<QuorumMaj>) {
        let refused = |err| (WriteRequest::Refused { op_type: op::RECONFIG, err }, None);
        if let Err(e) = core.sessions.check(session_id) {
            return refused(e);
        }
        let configs = broadcast.configs();
        let standalone_enabled = self.config.standalone_enabled;
        match next_config(req, &configs, zxid, standalone_enabled, |v| broadcast.is_quorum_synced(v)) {
            Ok(view) => (WriteRequest::NewConfig { data: view.to_text().into_bytes() }, Some(view)),
            Err(e) => refused(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> QuorumMaj {
        let servers = (1..=3)
            .map(|i| QuorumServer::parse(i, &format!("127.0.0.1:{}:{};{}", 2000 + i, 3000 + i, 4000 + i)).unwrap());
        QuorumMaj::new(servers, 0x1_0000_0000)
    }

    fn configs() -> QuorumConfigs {
        QuorumConfigs { current: three(), last_seen: three() }
    }

    fn req(joining: Option<&str>, leaving: Option<&str>, members: Option<&str>, from: i64) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: joining.map(Into::into),
            leaving_servers: leaving.map(Into::into),
            new_members: members.map(Into::into),
            cur_config_id: from,
        }
    }

    const ZXID: i64 = 0x1_0000_0007;

    fn check(r: &ReconfigRequest) -> Result<QuorumMaj, KeeperError> {
        next_config(r, &configs(), ZXID, true, |_| true)
    }

    #[test]
    fn removing_a_member_versions_the_config_with_the_zxid() {
        let view = check(&req(None, Some("3"), None, 0x1_0000_0000)).unwrap();
        assert_eq!(
            view.to_text(),
            "server.1=127.0.0.1:2001:3001:participant;0.0.0.0:4001\n\
             server.2=127.0.0.1:2002:3002:participant;0.0.0.0:4002\n\
             version=100000007"
        );
        // Leaving an id that is not a member changes nothing, as 3.8 (HashMap.remove).
        assert_eq!(check(&req(None, Some(" 9 ,"), None, -1)).unwrap().servers, three().servers);
    }

    /// The txn's bytes: a TxnHeader of type reconfig (16), then a SetDataTxn of
    /// /zookeeper/config with the new text and version -1; the engines read the new
    /// configuration back from it.
    #[test]
    fn the_txn_carries_the_config() {
        let view = check(&req(None, Some("3"), None, -1)).unwrap();
        let hdr = zab_jute::txn::TxnHeader { client_id: 7, cxid: 1, zxid: ZXID, time: 5, txn_type: op::RECONFIG };
        let data = view.to_text().into_bytes();
        let txn = zab_jute::txn::Txn::SetData(zab_jute::txn::SetDataTxn {
            path: "/zookeeper/config".into(),
            data: Some(data.clone()),
            version: -1,
        });
        let payload = zab_persistence::txnlog::marshal(&hdr, &txn, None);
        let mut want = Vec::new();
        want.extend_from_slice(&7i64.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&ZXID.to_be_bytes());
        want.extend_from_slice(&5i64.to_be_bytes());
        want.extend_from_slice(&16i32.to_be_bytes());
        want.extend_from_slice(&17i32.to_be_bytes());
        want.extend_from_slice(b"/zookeeper/config");
        want.extend_from_slice(&(data.len() as i32).to_be_bytes());
        want.extend_from_slice(&data);
        want.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(payload, want);
        assert_eq!(zab_quorum::reconfig::config_of_txn(&payload), Some(Ok(view)));
    }

    #[test]
    fn joining_and_bulk() {
        let view = check(&req(Some("server.4=127.0.0.1:2004:3004:observer;4004"), None, None, -1)).unwrap();
        assert_eq!(view.servers.len(), 4);
        assert!(!view.is_voter(4));
        let bulk = "server.1=127.0.0.1:2001:3001;4001,server.2=127.0.0.1:2002:3002;4002\nversion=5";
        let view = check(&req(None, None, Some(bulk), -1)).unwrap();
        assert_eq!((view.servers.len(), view.version), (2, ZXID));
    }

    #[test]
    fn each_refusal() {
        let mut in_flight = configs();
        in_flight.last_seen.version += 1;
        let r = req(None, Some("3"), None, -1);
        assert_eq!(next_config(&r, &in_flight, ZXID, true, |_| true), Err(KeeperError::ReconfigInProgress));
        assert_eq!(check(&req(None, Some("3"), None, 5)), Err(KeeperError::BadVersion));
        for (joining, leaving, members) in [
            (Some("server.4"), None, None),                     // not key=value
            (Some("server.4=127.0.0.1:2004"), None, None),      // two ports
            (Some("server.4=127.0.0.1:2004:3004"), None, None), // no client port
            (None, Some("2,3"), None),                          // one voter left
            (None, None, Some("server.1=127.0.0.1:2001:3001")), // one voter
            (None, None, Some("clientPort=2181")),              // not a dynamic key
        ] {
            let r = req(joining, leaving, members, -1);
            assert_eq!(check(&r), Err(KeeperError::BadArguments), "{r:?}");
        }
        // A joiner whose quorum address is another member's (loopback ones do not count).
        let mut c = configs();
        let s = QuorumServer::parse(3, "10.0.0.1:2004:3009;4003").unwrap();
        c.last_seen.servers.insert(3, s.clone());
        c.current.servers.insert(3, s);
        let r = req(Some("server.4=10.0.0.1:2004:3004;10.0.0.2:1"), None, None, -1);
        assert_eq!(next_config(&r, &c, ZXID, true, |_| true), Err(KeeperError::BadArguments));
        assert_eq!(check(&req(None, Some("x"), None, -1)), Err(KeeperError::MarshallingError));
        assert_eq!(check(&req(Some("server.x=127.0.0.1:1:2;3"), None, None, -1)), Err(KeeperError::MarshallingError));
        let r = req(None, Some("2,3"), None, -1);
        assert_eq!(next_config(&r, &configs(), ZXID, false, |_| true).map(|v| v.servers.len()), Ok(1));
        let r = req(None, Some("3"), None, -1);
        assert_eq!(next_config(&r, &configs(), ZXID, true, |_| false), Err(KeeperError::NewConfigNoQuorum));
    }
}
