//! Torn and corrupted data directories: 1,000 random corruptions of logs and snapshots
//! (truncations, flipped bytes, zeroed ranges). Recovery must never panic, and when it
//! succeeds the result must be exactly the state after some prefix of the txns (checked
//! by tree digest); otherwise it must refuse with an error naming a file.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use zab_datatree::codec::NodeCursor;
use zab_datatree::{DataTree, TreeConfig};
use zab_jute::codes::op;
use zab_jute::data::Acl;
use zab_jute::txn::*;
use zab_persistence::snaplog::SnapLog;
use zab_persistence::snapshot::SnapWriter;
use zab_persistence::txnlog::{marshal, TxnLogWriter};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn txn_for(z: i64) -> (TxnHeader, Txn) {
    let t = match z % 5 {
        0 => Txn::SetData(SetDataTxn { path: format!("/n{}", z - 1), data: Some(vec![z as u8; 20]), version: 1 }),
        3 if z > 10 => Txn::Delete(DeleteTxn { path: format!("/n{}", z - 3) }),
        _ => Txn::Create(CreateTxn {
            path: format!("/n{z}"),
            data: Some(vec![z as u8; 30]),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_c_version: -1,
        }),
    };
    let ty = match &t {
        Txn::SetData(_) => op::SET_DATA,
        Txn::Delete(_) => op::DELETE,
        _ => op::CREATE,
    };
    (TxnHeader { client_id: 1, cxid: z as i32, zxid: z, time: 1000 + z, txn_type: ty }, t)
}

fn snapshot(dir: &Path, t: &DataTree) {
    let mut w = SnapWriter::create(dir, t.last_processed_zxid(), false).unwrap();
    w.write_sessions(&[]);
    let acls = t.write_acl_section(w.out());
    let mut cur = NodeCursor::new(&acls);
    while !t.write_nodes_step(&mut cur, w.out(), 50) {}
    w.seal().unwrap();
    w.finish(Some((t.last_processed_zxid(), 2, t.digest() as i64))).unwrap();
}

/// Builds the original data dir; returns the tree digest after every zxid.
fn build(root: &Path) -> HashMap<i64, u64> {
    let vdir = root.join("version-2");
    let mut tree = DataTree::new(TreeConfig::default());
    let mut digests = HashMap::new();
    digests.insert(0, tree.digest());
    snapshot(&vdir, &tree);
    let mut log = TxnLogWriter::open(&vdir, 8 * 1024, false).unwrap();
    let mut ev = Vec::new();
    for z in 1..=400i64 {
        let (h, t) = txn_for(z);
        log.append(z, &marshal(&h, &t, None));
        tree.process_txn(&h, &t, &mut ev);
        digests.insert(z, tree.digest());
        if z % 100 == 0 {
            log.commit().unwrap();
            log.roll();
        }
        if z == 150 || z == 320 {
            log.commit().unwrap();
            snapshot(&vdir, &tree);
        }
    }
    log.commit().unwrap();
    digests
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in files(from) {
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

#[test]
fn a_thousand_corruptions_never_panic_and_recover_a_prefix_or_refuse() {
    let iterations: u64 = std::env::var("ZAB_TORN_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let seed: u64 = std::env::var("ZAB_TORN_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(42);
    let original = tempfile::tempdir().unwrap();
    let digests = build(original.path());
    let src = original.path().join("version-2");
    let mut rng = Lcg(seed);
    let (mut recovered, mut refused, mut panics) = (0, 0, 0);
    for i in 0..iterations {
        let work = tempfile::tempdir().unwrap();
        let vdir = work.path().join("version-2");
        copy_dir(&src, &vdir);
        let all = files(&vdir);
        let logs: Vec<&PathBuf> =
            all.iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("log.")).collect();
        let snaps: Vec<&PathBuf> =
            all.iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("snapshot.")).collect();
        let kind = rng.below(6);
        if kind == 5 {
            // The newest snapshot is unreadable too, so older logs matter.
            let newest = snaps[snaps.len() - 1];
            let mut b = std::fs::read(newest).unwrap();
            let at = rng.below(b.len() as u64 / 2) as usize + 16;
            b[at] ^= 0xff;
            std::fs::write(newest, &b).unwrap();
        }
        let target = if kind == 3 || kind == 4 {
            snaps[rng.below(snaps.len() as u64) as usize]
        } else {
            logs[rng.below(logs.len() as u64) as usize]
        };
        let mut bytes = std::fs::read(target).unwrap();
        let used = bytes.iter().rposition(|b| *b != 0).map(|p| p + 1).unwrap_or(bytes.len()).max(1);
        match kind {
            0 | 3 | 5 => bytes.truncate(rng.below(used as u64 + 1) as usize),
            1 | 4 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(used as u64) as usize;
                    bytes[at] ^= 1 + rng.below(255) as u8;
                }
            }
            _ => {
                let at = rng.below(used as u64) as usize;
                let len = (1 + rng.below(64) as usize).min(bytes.len() - at);
                bytes[at..at + len].iter_mut().for_each(|b| *b = 0);
            }
        }
        std::fs::write(target, &bytes).unwrap();
        let snap_log = SnapLog::new(work.path(), work.path());
        let outcome = std::panic::catch_unwind(|| snap_log.restore(TreeConfig::default(), 500));
        match outcome {
            Err(_) => panics += 1,
            Ok(Ok(r)) => {
                let want = digests.get(&r.last_zxid).copied();
                assert_eq!(
                    Some(r.tree.digest()),
                    want,
                    "iteration {i} (seed {seed}, kind {kind}, {}): recovered state at 0x{:x} is not the prefix state",
                    target.display(),
                    r.last_zxid
                );
                recovered += 1;
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains("version-2"), "iteration {i}: error does not name the file: {msg}");
                refused += 1;
            }
        }
    }
    eprintln!("torn writes: {iterations} corruptions, {recovered} recovered a prefix, {refused} refused with an error, {panics} panics");
    assert_eq!(panics, 0);
}
