//! Dynamic reconfiguration's pure parts (`QuorumPeer.configFromString`,
//! `Leader.getDesignatedLeader`, `QuorumPeer.processReconfig`'s decision): the
//! configuration text a reconfig txn carries, the leader of the next configuration, and
//! whether a member must leave its epoch when a new configuration activates.

use std::collections::BTreeSet;

use thiserror::Error;

use crate::verifier::{ConfigError, LearnerType, QuorumMaj, QuorumServer};

/// A configuration text that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BadConfig {
    #[error(transparent)]
    Server(#[from] ConfigError),
    #[error("{0}")]
    Invalid(String),
}

/// The most servers a configuration text may name.
pub const MAX_SERVERS: usize = 255;
/// The longest configuration text accepted (the data of `/zookeeper/config`).
pub const MAX_TEXT: usize = 1 << 20;

/// Parses a configuration text (`server.N=...` lines and `version=<hex>`, as
/// [`QuorumMaj::to_text`] writes it and `/zookeeper/config` holds it). Other keys are
/// refused, as `QuorumPeerConfig.parseDynamicConfig` does for the dynamic file.
pub fn parse_config(text: &str) -> Result<QuorumMaj, BadConfig> {
    if text.len() > MAX_TEXT {
        return Err(BadConfig::Invalid(format!("a configuration of {} bytes is too large", text.len())));
    }
    let mut servers = Vec::new();
    let mut version = 0;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| BadConfig::Invalid(format!("configuration line {line:?} is not key=value")))?;
        if let Some(id) = key.strip_prefix("server.") {
            let sid: u64 =
                id.parse().map_err(|_| BadConfig::Invalid(format!("{key:?}: the server id is not a number")))?;
            servers.push(QuorumServer::parse(sid, value)?);
            if servers.len() > MAX_SERVERS {
                return Err(BadConfig::Invalid(format!("more than {MAX_SERVERS} servers")));
            }
        } else if key == "version" {
            version = i64::from_str_radix(value, 16)
                .map_err(|_| BadConfig::Invalid(format!("version {value:?} is not hexadecimal")))?;
        } else {
            return Err(BadConfig::Invalid(format!("unexpected key {key:?} in a dynamic configuration")));
        }
    }
    if servers.is_empty() {
        return Err(BadConfig::Invalid("a configuration with no server".into()));
    }
    Ok(QuorumMaj::new(servers, version))
}

/// The configuration a reconfig txn carries (a TxnHeader of type reconfig, then a
/// SetDataTxn of `/zookeeper/config` whose data is the configuration text); `None` for
/// every other txn.
pub fn config_of_txn(payload: &[u8]) -> Option<Result<QuorumMaj, BadConfig>> {
    use zab_jute::record::Record;
    let mut inp = zab_jute::InputArchive::new(payload, MAX_TEXT + 4096);
    let header = zab_jute::txn::TxnHeader::read(&mut inp).ok()?;
    if header.txn_type != zab_jute::codes::op::RECONFIG {
        return None;
    }
    Some(
        zab_jute::txn::SetDataTxn::read(&mut inp)
            .map_err(|e| BadConfig::Invalid(format!("a reconfig txn that does not decode: {e}")))
            .and_then(|t| {
                let text = String::from_utf8(t.data.unwrap_or_default())
                    .map_err(|_| BadConfig::Invalid("a configuration that is not UTF-8".into()))?;
                parse_config(&text)
            }),
    )
}

/// The leader of the configuration a reconfig activates (`getDesignatedLeader`): this
/// leader when it is a voter of the new configuration at the same quorum address; else,
/// of the new voters that acknowledged the reconfig, the one that acknowledged the most
/// of the proposals after it (`later_acks`, oldest first), the lowest id among equals.
pub fn designated_leader(
    myid: u64,
    old: &QuorumMaj,
    new: &QuorumMaj,
    acked_reconfig: &BTreeSet<u64>,
    later_acks: &[BTreeSet<u64>],
) -> u64 {
    let same_address = |a: &QuorumServer, b: &QuorumServer| a.host == b.host && a.quorum_port == b.quorum_port;
    if let (Some(now), Some(next)) = (old.servers.get(&myid), new.servers.get(&myid)) {
        if new.is_voter(myid) && same_address(now, next) {
            return myid;
        }
    }
    let mut candidates: BTreeSet<u64> =
        acked_reconfig.iter().copied().filter(|s| *s != myid && new.is_voter(*s)).collect();
    let Some(mut best) = candidates.iter().next().copied() else { return myid };
    for acks in later_acks {
        candidates.retain(|s| acks.contains(s));
        match candidates.iter().next() {
            None => return best,
            Some(c) => best = *c,
        }
        if candidates.len() == 1 {
            return best;
        }
    }
    best
}

/// How a member's epoch is affected when `new` activates (`processReconfig`'s
/// `roleChange || leaderChange`): true when it must leave the epoch (its learner type
/// changes, or it follows another leader from now on).
pub fn major_change(myid: u64, old: &QuorumMaj, new: &QuorumMaj, current_leader: u64, designated: Option<u64>) -> bool {
    // `updateLearnerType`: a member absent from a view runs as a non-voting participant
    // there (a joiner before its `reconfig -add`, a removed member after), so joining as
    // a voter, or leaving one, is no change of learner type; only observer <-> participant is.
    let kind = |q: &QuorumMaj| q.servers.get(&myid).map_or(LearnerType::Participant, |s| s.learner_type);
    let role_change = kind(old) != kind(new);
    let leader_change = match designated {
        Some(d) => d != current_leader,
        None => {
            let addr = |q: &QuorumMaj| {
                q.servers.get(&current_leader).filter(|s| q.is_voter(s.sid)).map(|s| (s.host.clone(), s.quorum_port))
            };
            addr(old).is_none() || addr(old) != addr(new)
        }
    };
    role_change || leader_change
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(lines: &[&str], version: i64) -> QuorumMaj {
        parse_config(&format!("{}\nversion={version:x}", lines.join("\n"))).unwrap()
    }

    #[test]
    fn config_text_round_trips() {
        let q = view(&["server.1=h1:2888:3888;2181", "server.2=h2:2888:3888:observer;2181"], 0x100000003);
        assert_eq!(q.version, 0x100000003);
        assert_eq!(parse_config(&q.to_text()).unwrap().to_text(), q.to_text());
        assert!(parse_config("server.x=h:1:2").is_err());
        assert!(parse_config("clientPort=2181\nserver.1=h:1:2").is_err());
        assert!(parse_config("version=10").is_err(), "no server");
    }

    #[test]
    fn the_leader_stays_when_it_stays_a_voter() {
        let old = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2"], 1);
        let new = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2", "server.4=h4:1:2"], 2);
        assert_eq!(designated_leader(3, &old, &new, &[1, 3, 4].into(), &[]), 3);
        assert!(!major_change(1, &old, &new, 3, Some(3)));
    }

    #[test]
    fn a_removed_leader_hands_over_to_the_most_up_to_date_acker() {
        let old = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2"], 1);
        let new = view(&["server.1=h1:1:2", "server.2=h2:1:2"], 2);
        // 1 and 2 acked the reconfig; only 2 acked the proposal after it.
        assert_eq!(designated_leader(3, &old, &new, &[1, 2, 3].into(), &[[2, 3].into()]), 2);
        assert_eq!(designated_leader(3, &old, &new, &[1, 2, 3].into(), &[]), 1);
        assert!(major_change(1, &old, &new, 3, Some(2)), "1 follows 2 from now on");
        assert!(major_change(3, &old, &new, 3, Some(2)), "3 is out: it follows 2 as a non-voter");
    }

    #[test]
    fn a_joiner_added_as_a_voter_keeps_its_epoch() {
        // 4 followed 3 as a non-voting participant (absent from the view); `reconfig -add`
        // makes it a voter with 3 still leading: no role change (`updateLearnerType`).
        let old = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2"], 1);
        let new = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2", "server.4=h4:1:2"], 2);
        assert!(!major_change(4, &old, &new, 3, Some(3)));
        let observer = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2", "server.4=h4:1:2:observer"], 2);
        assert!(major_change(4, &old, &observer, 3, Some(3)), "added as an observer: it must observe");
        assert!(major_change(4, &observer, &old, 3, Some(3)), "an observer removed: a non-voting participant");
    }

    #[test]
    fn promotion_and_demotion_are_role_changes() {
        let old = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2", "server.4=h4:1:2:observer"], 1);
        let new = view(&["server.1=h1:1:2", "server.2=h2:1:2", "server.3=h3:1:2:observer", "server.4=h4:1:2"], 2);
        assert!(major_change(4, &old, &new, 1, Some(1)));
        assert!(major_change(3, &old, &new, 1, Some(1)));
        assert!(!major_change(2, &old, &new, 1, Some(1)));
    }
}
