//! FastLeaderElection in a seeded, simulated network: messages are delayed, reordered,
//! duplicated and dropped; members crash and come back. Checked on every run: the members
//! that decide in one election agree on one leader, that leader leads, and with every
//! member reachable it is the member with the highest (epoch, zxid, sid).
//!
//! `ZAB_ELECTION_SEEDS` sets how many seeds run (default 2000). A failure names its seed.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use zab_jute::quorum::Notification;
use zab_quorum::election::{Action, ElectionConfig, FastLeaderElection, PeerState};
use zab_quorum::verifier::{QuorumMaj, QuorumServer};
use zab_quorum::vote::Vote;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Msg {
    at: i64,
    seq: u64,
    from: u64,
    to: u64,
    n: Notification,
}

fn quorum(n: u64) -> QuorumMaj {
    QuorumMaj::new((1..=n).map(|i| QuorumServer::parse(i, &format!("127.0.0.{i}:2888:3888")).expect("server line")), 0)
}

/// sid -> (state, vote) of every member that decided.
type Decisions = BTreeMap<u64, (PeerState, Vote)>;
/// sid -> (epoch, zxid) each member started with.
type Claims = BTreeMap<u64, (i64, i64)>;

/// Runs one election.
fn run(seed: u64, members: u64, drop_pct: u64, down: &[u64]) -> (Decisions, Claims) {
    let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let qv = quorum(members);
    let mut claims = BTreeMap::new();
    let mut peers = BTreeMap::new();
    let mut queue: Vec<Msg> = Vec::new();
    let mut seq = 0;
    let mut now = 0i64;
    for sid in 1..=members {
        let epoch = 3 + rng.below(2) as i64;
        let zxid = (epoch << 32) | rng.below(5) as i64;
        claims.insert(sid, (epoch, zxid));
        let mut fle = FastLeaderElection::new(sid, qv.clone(), zxid, epoch, ElectionConfig::default());
        if !down.contains(&sid) {
            let start_at = rng.below(50) as i64;
            for a in fle.start(zxid, epoch, start_at) {
                if let Action::Send { to, n } = a {
                    seq += 1;
                    queue.push(Msg { at: start_at + 1 + rng.below(30) as i64, seq, from: sid, to, n });
                }
            }
        }
        peers.insert(sid, fle);
    }
    let mut decided = BTreeMap::new();
    while now < 120_000 && decided.len() < (members as usize - down.len()) {
        now += 1;
        queue.sort_by_key(|m| (m.at, m.seq));
        let due: Vec<Msg> = {
            let split = queue.iter().position(|m| m.at > now).unwrap_or(queue.len());
            queue.drain(..split).collect()
        };
        let mut actions = Vec::new();
        for m in due {
            if down.contains(&m.to) || down.contains(&m.from) || rng.below(100) < drop_pct {
                continue;
            }
            if let Some(p) = peers.get_mut(&m.to) {
                actions.extend(p.on_notification(m.from, &m.n, now).into_iter().map(|a| (m.to, a)));
            }
        }
        for (sid, p) in peers.iter_mut() {
            if !down.contains(sid) {
                actions.extend(p.on_tick(now).into_iter().map(|a| (*sid, a)));
            }
        }
        for (sid, a) in actions {
            match a {
                Action::Send { to, n } => {
                    let copies = if rng.below(100) < 5 { 2 } else { 1 };
                    for _ in 0..copies {
                        seq += 1;
                        queue.push(Msg { at: now + 1 + rng.below(40) as i64, seq, from: sid, to, n: n.clone() });
                    }
                }
                Action::Decided { state, vote } => {
                    decided.insert(sid, (state, vote));
                }
                Action::NewerConfig(_) => panic!("one configuration throughout: nothing is newer"),
            }
        }
    }
    (decided, claims)
}

fn check(seed: u64, members: u64, drop_pct: u64, down: &[u64]) {
    let (decided, claims) = run(seed, members, drop_pct, down);
    let up = members as usize - down.len();
    assert_eq!(decided.len(), up, "seed {seed}: only {} of {up} members decided", decided.len());
    let leading = decided.values().filter(|(s, _)| *s == PeerState::Leading).count();
    assert!(leading <= 1, "seed {seed}: {leading} members decided to lead: {decided:?}");
    if drop_pct > 0 {
        // With lost messages FastLeaderElection alone may leave a member following someone
        // who does not lead (ZooKeeper then times out in discovery and elects again), so
        // only "one leader at most" holds here.
        return;
    }
    let leaders: std::collections::BTreeSet<u64> = decided.values().map(|(_, v)| v.leader).collect();
    assert_eq!(leaders.len(), 1, "seed {seed}: members disagree on the leader: {decided:?}");
    let leader = *leaders.iter().next().expect("a leader");
    assert_eq!(decided.get(&leader).map(|d| d.0), Some(PeerState::Leading), "seed {seed}: the leader does not lead");
    let best = claims
        .iter()
        .filter(|(s, _)| !down.contains(s))
        .max_by_key(|(s, (e, z))| (*e, *z, **s))
        .map(|(s, _)| *s)
        .expect("a member");
    assert_eq!(
        leader, best,
        "seed {seed}: elected {leader}, but {best} has the highest (epoch, zxid, sid): {claims:?}"
    );
}

#[test]
fn thousands_of_seeds_elect_one_leader_the_most_up_to_date() {
    let seeds: u64 = std::env::var("ZAB_ELECTION_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    for seed in 0..seeds {
        let members = if seed % 2 == 0 { 3 } else { 5 };
        // Half the seeds lose messages; the other half only delay, reorder and duplicate.
        let drop_pct = if seed % 4 < 2 { 0 } else { seed % 20 };
        check(seed, members, drop_pct, &[]);
    }
}

#[test]
fn a_minority_down_does_not_stop_the_majority() {
    for seed in 0..300 {
        check(seed, 5, 0, &[1 + seed % 5, 1 + (seed + 2) % 5]);
        check(seed, 3, 0, &[1 + seed % 3]);
        check(seed, 5, 10, &[1 + seed % 5]);
    }
}

#[test]
fn a_restarted_member_joins_the_established_leader() {
    // Members 1..3 elect; member 2 then restarts with a higher zxid than anyone, and must
    // still follow the established leader, which answers with its current vote.
    let qv = quorum(3);
    let mut p: BTreeMap<u64, FastLeaderElection> = (1..=3)
        .map(|s| (s, FastLeaderElection::new(s, qv.clone(), 0x100000005, 1, ElectionConfig::default())))
        .collect();
    let mut pending: Vec<(u64, u64, Notification)> = Vec::new();
    for s in 1..=3u64 {
        let acts = p.get_mut(&s).expect("peer").start(0x100000005, 1, 0);
        for a in acts {
            if let Action::Send { to, n } = a {
                pending.push((s, to, n));
            }
        }
    }
    let mut now = 0;
    let deliver =
        |p: &mut BTreeMap<u64, FastLeaderElection>, pending: &mut Vec<(u64, u64, Notification)>, now: &mut i64| {
            for _ in 0..2000 {
                *now += 1;
                let batch: Vec<_> = std::mem::take(pending);
                for (from, to, n) in batch {
                    for a in p.get_mut(&to).expect("peer").on_notification(from, &n, *now) {
                        if let Action::Send { to: t, n } = a {
                            pending.push((to, t, n));
                        }
                    }
                }
                for (s, peer) in p.iter_mut() {
                    for a in peer.on_tick(*now) {
                        if let Action::Send { to, n } = a {
                            pending.push((*s, to, n));
                        }
                    }
                }
                if pending.is_empty() && p.values().all(|x| x.state() != PeerState::Looking) {
                    break;
                }
            }
        };
    deliver(&mut p, &mut pending, &mut now);
    assert_eq!(p[&3].state(), PeerState::Leading);
    // member 2 restarts, claiming more than the leader has
    let acts = p.get_mut(&2).expect("peer").start(0x100000009, 1, now);
    for a in acts {
        if let Action::Send { to, n } = a {
            pending.push((2, to, n));
        }
    }
    deliver(&mut p, &mut pending, &mut now);
    assert_eq!(p[&2].state(), PeerState::Following);
    assert_eq!(p[&2].current_vote().leader, 3, "it follows the established leader");
    assert_eq!(p[&3].state(), PeerState::Leading);
}
