//! Times writing and restoring a snapshot of N znodes of 100 bytes (default 1,000,000),
//! spread over 4 parents like the e2e load tool's create workload.
//!
//!     cargo run --release -p zab-persistence --example restore_bench -- [N] [DIR]

use std::time::Instant;

use zab_datatree::codec::NodeCursor;
use zab_datatree::{DataTree, TreeConfig};
use zab_jute::codes::op;
use zab_jute::data::Acl;
use zab_jute::txn::{CreateTxn, Txn, TxnHeader};
use zab_persistence::snaplog::SnapLog;
use zab_persistence::snapshot::SnapWriter;

/// Errors end the run with what failed (the snapshot step and the I/O error).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: i64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("zab-restore-bench"));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = TreeConfig::default();
    let mut tree = DataTree::new(cfg);
    let mut ev = Vec::new();
    let mut z = 0;
    let mut apply = |tree: &mut DataTree, path: String| {
        z += 1;
        let t = Txn::Create(CreateTxn {
            path,
            data: Some(vec![7u8; 100]),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_c_version: -1,
        });
        tree.process_txn(&TxnHeader { client_id: 1, cxid: 0, zxid: z, time: z, txn_type: op::CREATE }, &t, &mut ev);
        ev.clear();
    };
    apply(&mut tree, "/bench".into());
    for p in 0..4 {
        apply(&mut tree, format!("/bench/p{p}"));
    }
    let started = Instant::now();
    for i in 0..n {
        apply(&mut tree, format!("/bench/p{}/n{:010}", i % 4, i));
    }
    eprintln!("built {} nodes in {:?}", tree.node_count(), started.elapsed());
    let started = Instant::now();
    let snap_dir = dir.join("version-2");
    let mut w = SnapWriter::create(&snap_dir, tree.last_processed_zxid(), false)
        .map_err(|e| format!("create snapshot in {}: {e}", snap_dir.display()))?;
    w.write_sessions(&[]);
    let acls = tree.write_acl_section(w.out());
    let mut cur = NodeCursor::new(&acls);
    while !tree.write_nodes_step(&mut cur, w.out(), 10_000) {
        w.flush_chunk().map_err(|e| format!("write snapshot chunk: {e}"))?;
    }
    w.seal().map_err(|e| format!("seal snapshot: {e}"))?;
    w.finish(Some((tree.last_processed_zxid(), 2, tree.digest() as i64)))
        .map_err(|e| format!("finish snapshot: {e}"))?;
    eprintln!("snapshot written in {:?}", started.elapsed());
    let digest = tree.digest();
    drop(tree);
    let started = Instant::now();
    let r = SnapLog::new(&dir, &dir).restore(cfg, 500).map_err(|e| format!("restore from {}: {e}", dir.display()))?;
    eprintln!("restored {} nodes in {:?}", r.tree.node_count(), started.elapsed());
    if r.tree.digest() != digest {
        return Err(format!("restored digest {} differs from the written tree's {digest}", r.tree.digest()).into());
    }
    Ok(())
}
