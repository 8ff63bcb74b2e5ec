//! The quorum configuration: `server.N=host:quorumPort:electionPort[:participant|observer]
//! [;[clientAddr:]clientPort]` lines (`QuorumPeer.QuorumServer`) and the majority rule
//! (`QuorumMaj`): a set of voters is a quorum when it holds more than half of them.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("server.{sid}: {reason} in {line:?}")]
    BadServer { sid: u64, line: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerType {
    Participant,
    Observer,
}

/// One `server.N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumServer {
    pub sid: u64,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub learner_type: LearnerType,
    /// `(clientAddr, clientPort)` when given after `;`.
    pub client: Option<(String, u16)>,
}

impl QuorumServer {
    /// Parses the value of `server.<sid>`.
    pub fn parse(sid: u64, value: &str) -> Result<QuorumServer, ConfigError> {
        let bad = |reason: &str| ConfigError::BadServer { sid, line: value.to_owned(), reason: reason.to_owned() };
        let (server_part, client_part) = match value.split_once(';') {
            Some((s, c)) => (s.trim(), Some(c.trim())),
            None => (value.trim(), None),
        };
        // host may be an IPv6 literal in brackets: [::1]:2888:3888
        let (host, rest) = if let Some(stripped) = server_part.strip_prefix('[') {
            let end = stripped.find(']').ok_or_else(|| bad("unterminated IPv6 address"))?;
            (stripped[..end].to_owned(), stripped[end + 1..].trim_start_matches(':'))
        } else {
            let mut it = server_part.splitn(2, ':');
            (it.next().unwrap_or_default().to_owned(), it.next().unwrap_or_default())
        };
        let parts: Vec<&str> = rest.split(':').collect();
        if host.is_empty() || parts.len() < 2 {
            return Err(bad("expected host:quorumPort:electionPort"));
        }
        let port = |s: &str| s.trim().parse::<u16>().map_err(|_| bad("ports must be numbers 0-65535"));
        let quorum_port = port(parts[0])?;
        let election_port = port(parts[1])?;
        let learner_type = match parts.get(2).map(|s| s.trim().to_ascii_lowercase()) {
            None => LearnerType::Participant,
            Some(t) if t == "participant" => LearnerType::Participant,
            Some(t) if t == "observer" => LearnerType::Observer,
            Some(_) => return Err(bad("the type must be participant or observer")),
        };
        // `[addr]:port`, `addr:port` or `port` (`ConfigUtils.getHostAndPort`); an IPv6
        // address is kept without its brackets, as the server part's host.
        let client = match client_part {
            None | Some("") => None,
            Some(c) => match c.rsplit_once(':') {
                Some((addr, p)) => {
                    let addr = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
                    Some((addr.to_owned(), port(p)?))
                }
                None => Some(("0.0.0.0".to_owned(), port(c)?)),
            },
        };
        Ok(QuorumServer { sid, host, quorum_port, election_port, learner_type, client })
    }

    /// The line as ZooKeeper writes it back (`QuorumServer.toString`): an IPv6 address in
    /// brackets (`delimitedHostString`), the type always, the client address only when the
    /// line gave one after `;`.
    pub fn to_line(&self) -> String {
        let t = match self.learner_type {
            LearnerType::Participant => "participant",
            LearnerType::Observer => "observer",
        };
        let mut s = format!("{}:{}:{}:{}", delimited(&self.host), self.quorum_port, self.election_port, t);
        if let Some((a, p)) = &self.client {
            s.push_str(&format!(";{}:{p}", delimited(a)));
        }
        s
    }
}

/// A host as ZooKeeper prints it next to a port: an IPv6 address in brackets.
fn delimited(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The capacity of a `java.util.HashMap` (16, doubled while the entries are more than three
/// quarters of it) after `n` insertions of distinct keys.
fn java_hash_map_capacity(n: usize) -> u64 {
    let mut cap = 16u64;
    while n as u64 > cap * 3 / 4 {
        cap *= 2;
    }
    cap
}

/// The bucket of a `Long` key in a `java.util.HashMap` of that capacity:
/// `Long.hashCode` spread as `h ^ (h >>> 16)`.
fn java_long_bucket(key: u64, capacity: u64) -> u64 {
    let h = (key ^ (key >> 32)) as u32;
    u64::from(h ^ (h >> 16)) & (capacity - 1)
}

/// A majority quorum verifier (`QuorumMaj`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumMaj {
    pub servers: BTreeMap<u64, QuorumServer>,
    /// The configuration's version (zxid of the reconfig that made it; 0 from zoo.cfg).
    pub version: i64,
}

impl QuorumMaj {
    pub fn new(servers: impl IntoIterator<Item = QuorumServer>, version: i64) -> QuorumMaj {
        QuorumMaj { servers: servers.into_iter().map(|s| (s.sid, s)).collect(), version }
    }

    pub fn voters(&self) -> impl Iterator<Item = u64> + '_ {
        self.servers.values().filter(|s| s.learner_type == LearnerType::Participant).map(|s| s.sid)
    }

    pub fn is_voter(&self, sid: u64) -> bool {
        self.servers.get(&sid).is_some_and(|s| s.learner_type == LearnerType::Participant)
    }

    /// `getWeight`: 1 for a voter, 0 otherwise.
    pub fn weight(&self, sid: u64) -> u64 {
        u64::from(self.is_voter(sid))
    }

    /// More than half of the voters.
    pub fn contains_quorum(&self, acks: &BTreeSet<u64>) -> bool {
        let voters = self.voters().count();
        let acked = acks.iter().filter(|s| self.is_voter(**s)).count();
        acked * 2 > voters
    }

    /// The servers in the order ZooKeeper lists them: `QuorumMaj.allMembers` is a
    /// `HashMap<Long, QuorumServer>`, which iterates by bucket (ids 1 to 15 of a small
    /// ensemble come in ascending order; 10, 20, 30 come as 20, 10, 30). Ids that share a
    /// bucket (they differ by a multiple of the table size, 16 up to 12 members) come in the
    /// order ZooKeeper read them from its `Properties`, which zab does not reproduce: here
    /// they come in ascending order.
    pub fn java_order(&self) -> Vec<&QuorumServer> {
        let cap = java_hash_map_capacity(self.servers.len());
        let mut v: Vec<&QuorumServer> = self.servers.values().collect();
        v.sort_by_key(|s| (java_long_bucket(s.sid, cap), s.sid));
        v
    }

    /// The config text as it travels in notifications and NEWLEADER and as
    /// `/zookeeper/config` holds it (`QuorumMaj.toString`): a `server.N=` line per server,
    /// then `version=` in hex.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for srv in self.java_order() {
            s.push_str(&format!("server.{}={}\n", srv.sid, srv.to_line()));
        }
        s.push_str(&format!("version={:x}", self.version));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines() {
        let s = QuorumServer::parse(1, "zk1:2888:3888").unwrap();
        assert_eq!(
            (s.quorum_port, s.election_port, s.learner_type, s.client.clone()),
            (2888, 3888, LearnerType::Participant, None)
        );
        let s = QuorumServer::parse(4, "10.0.0.4:2888:3888:observer;0.0.0.0:2181").unwrap();
        assert_eq!(s.learner_type, LearnerType::Observer);
        assert_eq!(s.client, Some(("0.0.0.0".into(), 2181)));
        let s = QuorumServer::parse(2, "[::1]:2888:3888;2181").unwrap();
        assert_eq!((s.host.as_str(), s.client.clone()), ("::1", Some(("0.0.0.0".into(), 2181))));
        assert!(QuorumServer::parse(3, "zk3:2888").is_err());
        assert!(QuorumServer::parse(3, "zk3:2888:x").is_err());
        assert!(QuorumServer::parse(3, "zk3:2888:3888:boss").is_err());
    }

    #[test]
    fn majority() {
        let q = QuorumMaj::new(
            [
                QuorumServer::parse(1, "a:1:2").unwrap(),
                QuorumServer::parse(2, "b:1:2").unwrap(),
                QuorumServer::parse(3, "c:1:2").unwrap(),
                QuorumServer::parse(4, "d:1:2:observer").unwrap(),
            ],
            0,
        );
        assert!(!q.contains_quorum(&[1].into()));
        assert!(q.contains_quorum(&[1, 3].into()));
        assert!(!q.contains_quorum(&[1, 4].into()), "observers do not count");
        assert_eq!(q.weight(4), 0);
        assert!(q.to_text().ends_with("version=0"));
    }

    #[test]
    fn text_as_zookeeper_writes_it() {
        let q = QuorumMaj::new(
            [
                QuorumServer::parse(1, "127.0.0.1:2888:3888").unwrap(),
                QuorumServer::parse(2, "[::1]:2889:3889:participant;[::1]:2182").unwrap(),
                QuorumServer::parse(3, "zk3:2890:3890:observer;2183").unwrap(),
                QuorumServer::parse(4, "zk4:2891:3891;10.0.0.4:2184").unwrap(),
            ],
            0x1_0000_0002,
        );
        assert_eq!(q.servers[&2].client, Some(("::1".into(), 2182)));
        assert_eq!(
            q.to_text(),
            "server.1=127.0.0.1:2888:3888:participant\n\
             server.2=[::1]:2889:3889:participant;[::1]:2182\n\
             server.3=zk3:2890:3890:observer;0.0.0.0:2183\n\
             server.4=zk4:2891:3891:participant;10.0.0.4:2184\n\
             version=100000002"
        );
    }

    #[test]
    fn servers_in_java_hash_map_order() {
        let q = |ids: &[u64]| {
            let servers = ids.iter().map(|&i| QuorumServer::parse(i, "h:1:2").unwrap());
            QuorumMaj::new(servers, 0).java_order().iter().map(|s| s.sid).collect::<Vec<_>>()
        };
        assert_eq!(q(&[3, 1, 2]), [1, 2, 3]);
        // Buckets of a 16-slot table: 10, 4 (20), 14 (30); 16 is bucket 0.
        assert_eq!(q(&[10, 20, 30]), [20, 10, 30]);
        assert_eq!(q(&[1, 2, 16]), [16, 1, 2]);
        // 14 members: a 32-slot table, where 16 is bucket 16 and 45 bucket 13.
        let ids: Vec<u64> = (1..=12).chain([16, 45]).collect();
        let want: Vec<u64> = (1..=12).chain([45, 16]).collect();
        assert_eq!(q(&ids), want);
        // Ids beyond 32 bits: Long.hashCode folds the halves.
        assert_eq!(java_long_bucket(1 << 32, 16), 1);
    }
}
