//! What the load consists of: znode paths, the payload, and the choice of the
//! next request.
//!
//! Layout below the prefix P:
//!   P/data/pNNNN/nXXXXXXXXX    the K read/write targets (made by setup)
//!   P/create/pNNNN/nXXXXXXXXX  the znodes made by --op create
//! Znode i lives under parent i mod parents, so no parent grows beyond
//! K/parents children. Pure: no I/O here.

use crate::args::{OpKind, Plan};

/// One request to issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Get(u64),
    Set(u64),
    Create(u64),
}

/// Paths and payload of one run.
#[derive(Debug)]
pub struct Workload {
    pub op: OpKind,
    pub prefix: String,
    pub znodes: u64,
    pub parents: u64,
    pub read_pct: u32,
    pub payload: Vec<u8>,
}

impl Workload {
    pub fn new(plan: &Plan) -> Workload {
        let payload = (0..plan.size).map(|i| b'a' + (i % 26) as u8).collect();
        Workload {
            op: plan.op,
            prefix: plan.prefix.clone(),
            znodes: plan.znodes,
            parents: plan.parents,
            read_pct: plan.read_pct,
            payload,
        }
    }

    fn subtree(&self, op: OpKind) -> &'static str {
        if op == OpKind::Create {
            "create"
        } else {
            "data"
        }
    }

    /// The parent znodes this run's znodes hang from, for setup to create.
    pub fn parent_paths(&self) -> Vec<String> {
        let sub = self.subtree(self.op);
        (0..self.parents).map(|p| format!("{}/{}/p{:04}", self.prefix, sub, p)).collect()
    }

    /// The path of znode i of this run.
    pub fn path(&self, i: u64) -> String {
        let sub = self.subtree(self.op);
        format!("{}/{}/p{:04}/n{:09}", self.prefix, sub, i % self.parents, i)
    }

    /// The next request for a worker, given a uniform random number and,
    /// for creates, the next unused index.
    pub fn choose(&self, random: u64, next_create: impl FnOnce() -> u64) -> Request {
        let key = random % self.znodes.max(1);
        match self.op {
            OpKind::Read => Request::Get(key),
            OpKind::Write => Request::Set(key),
            OpKind::Create => Request::Create(next_create()),
            OpKind::Mixed => {
                if (random >> 32) % 100 < u64::from(self.read_pct) {
                    Request::Get(key)
                } else {
                    Request::Set(key)
                }
            }
        }
    }
}

/// xorshift64*: a small, seedable generator so that each worker picks keys
/// without shared state.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Args;
    use clap::Parser;

    fn workload(line: &str) -> Workload {
        let args = Args::try_parse_from(line.split_whitespace()).expect("args");
        Workload::new(&args.plan().expect("plan"))
    }

    #[test]
    fn paths_spread_over_parents() {
        let w = workload("zab-load --connect h:1 --op create --znodes 25000 --size 3");
        assert_eq!(w.parents, 3);
        assert_eq!(w.path(0), "/bench/create/p0000/n000000000");
        assert_eq!(w.path(24_999), "/bench/create/p0000/n000024999");
        assert_eq!(w.path(24_998), "/bench/create/p0002/n000024998");
        assert_eq!(w.parent_paths().len(), 3);
        assert_eq!(w.payload, b"abc");
    }

    #[test]
    fn mixed_respects_read_share() {
        let w = workload("zab-load --connect h:1 --op mixed --read-pct 75 --duration 1");
        let mut rng = Rng::new(7);
        let reads =
            (0..10_000).filter(|_| matches!(w.choose(rng.next_u64(), || 0), Request::Get(k) if k < 1000)).count();
        assert!((7_000..8_000).contains(&reads), "{reads}");
    }
}
