//! Memory and speed of a DataTree holding N znodes of 100 bytes (default 1,000,000), laid out
//! as zab-load's create workload makes them (`/mem/create/pNNNN/nXXXXXXXXX`, one parent per
//! 10,000 znodes), with the zxids and times a live server would give them.
//!
//!     cargo run --release -p zab-datatree --example mem_bench -- [N [READS]]
//!
//! Prints VmRSS/VmHWM (from /proc/self/status) before and after, and the time taken by the
//! creates, by READS (default N) getData and by getChildren of every parent.

use std::time::Instant;

use zab_datatree::{DataTree, TreeConfig};
use zab_jute::codes::op;
use zab_jute::data::Acl;
use zab_jute::txn::{CreateTxn, Txn, TxnHeader};

fn status(key: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with(key)).map(|l| l[key.len()..].trim().to_owned()).unwrap_or_else(|| "?".into())
}

fn report(what: &str) {
    eprintln!("{what}: VmRSS {}, VmHWM {}", status("VmRSS:"), status("VmHWM:"));
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let reads: u64 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(n);
    let parents = n.div_ceil(10_000).max(1);
    report("start");
    let mut tree = DataTree::new(TreeConfig::default());
    let mut ev = Vec::new();
    let mut zxid: i64 = 1 << 32;
    let time0: i64 = 1_780_000_000_000;
    let payload: Vec<u8> = (0..100).map(|i| b'a' + (i % 26) as u8).collect();
    let mut apply = |tree: &mut DataTree, path: String| {
        zxid += 1;
        let t = Txn::Create(CreateTxn {
            path,
            data: Some(payload.clone()),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_c_version: -1,
        });
        let hdr = TxnHeader { client_id: 1, cxid: 0, zxid, time: time0 + zxid / 40, txn_type: op::CREATE };
        tree.process_txn(&hdr, &t, &mut ev);
        ev.clear();
    };
    apply(&mut tree, "/mem".into());
    apply(&mut tree, "/mem/create".into());
    for p in 0..parents {
        apply(&mut tree, format!("/mem/create/p{p:04}"));
    }
    let started = Instant::now();
    for i in 0..n {
        apply(&mut tree, format!("/mem/create/p{:04}/n{i:09}", i % parents));
    }
    eprintln!("created {} nodes in {:?}", tree.node_count(), started.elapsed());
    report("after creates");
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..reads {
        let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n;
        if let Ok((d, _)) = tree.get_data(&format!("/mem/create/p{:04}/n{k:09}", k % parents), None) {
            bytes += d.map_or(0, |d| d.len());
        }
    }
    eprintln!("{reads} getData in {:?} ({bytes} bytes)", started.elapsed());
    let started = Instant::now();
    let mut names = 0usize;
    for p in 0..parents {
        if let Ok((c, _)) = tree.get_children(&format!("/mem/create/p{p:04}"), None) {
            names += c.len();
        }
    }
    eprintln!("getChildren of {parents} parents in {:?} ({names} names)", started.elapsed());
    eprintln!("digest {:x}, data size {}", tree.digest(), tree.approximate_data_size());
    report("end");
}
