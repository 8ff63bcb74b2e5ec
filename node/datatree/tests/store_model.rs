//! The compact node store against a plain model: a map of full paths to nodes, and for each
//! parent the `ChildSet` the DataTree used before the store (names with insertion sequence),
//! whose `java_order` is the reference for the order of children.
//!
//! Random inserts (names from a small set, so names repeat under different parents and
//! come back after deletes), removes (of whole subtrees), data and Stat rewrites; after each
//! step every node must be found by its path, read back whole, and list its children in the
//! reference order.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use zab_datatree::node::ChildSet;
use zab_datatree::store::{NodeId, NodeStore, StoreError};
use zab_jute::data::StatPersisted;

const NAMES: [&str; 7] = ["a", "b", "", "zookeeper", "é", "n000000001", "a-much-longer-name-than-the-others"];

#[derive(Debug, Clone)]
enum Op {
    Insert { parent: usize, name: usize, data: Option<Vec<u8>> },
    Remove { node: usize },
    SetData { node: usize, data: Option<Vec<u8>> },
    SetMeta { node: usize, seed: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let data = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200));
    prop_oneof![
        4 => (any::<usize>(), 0..NAMES.len(), data.clone()).prop_map(|(parent, name, data)| Op::Insert { parent, name, data }),
        1 => any::<usize>().prop_map(|node| Op::Remove { node }),
        1 => (any::<usize>(), data).prop_map(|(node, data)| Op::SetData { node, data }),
        1 => (any::<usize>(), any::<i64>()).prop_map(|(node, seed)| Op::SetMeta { node, seed }),
    ]
}

/// A Stat from a seed; even seeds give a pristine one (as a create leaves a node).
fn stat_from(seed: i64) -> StatPersisted {
    if seed % 2 == 0 {
        let t = seed.wrapping_add(1_780_000_000_000);
        return StatPersisted { czxid: seed, mzxid: seed, pzxid: seed, ctime: t, mtime: t, ..Default::default() };
    }
    StatPersisted {
        czxid: seed,
        mzxid: seed.wrapping_mul(3),
        ctime: seed.wrapping_add(1_780_000_000_000),
        mtime: seed.wrapping_sub(7),
        version: seed as i32,
        cversion: (seed >> 3) as i32,
        aversion: (seed >> 40) as i32,
        ephemeral_owner: seed.rotate_left(17),
        pzxid: seed ^ 0x5555,
    }
}

#[derive(Default)]
struct Model {
    nodes: BTreeMap<String, (StatPersisted, i64, Option<Vec<u8>>)>,
    children: HashMap<String, ChildSet>,
    seq: u64,
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

fn check(store: &NodeStore, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.len(), model.nodes.len());
    prop_assert_eq!(store.ids().count(), model.nodes.len());
    for (path, (stat, acl, data)) in &model.nodes {
        let id = store.lookup(path);
        prop_assert!(id.is_some(), "{} not found", path);
        let id = id.unwrap_or_default();
        prop_assert_eq!(&store.path(id), path);
        let n = store.get(id);
        prop_assert_eq!(&n.stat, stat);
        prop_assert_eq!(n.acl, *acl);
        prop_assert_eq!(n.data, data.as_deref());
        let want = model.children.get(path).map(|c| c.java_order()).unwrap_or_default();
        prop_assert_eq!(n.num_children(), want.len());
        prop_assert_eq!(store.children_java_order(id), want);
        // Absent children are not found.
        prop_assert!(store.lookup(&child_path(path, "absent")).is_none());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut store = NodeStore::default();
        let mut model = Model::default();
        store.insert_root(&stat_from(0), -1, Some(b"root")).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        model.nodes.insert("/".into(), (stat_from(0), -1, Some(b"root".to_vec())));
        prop_assert_eq!(store.insert_root(&stat_from(0), -1, None), Err(StoreError::Exists));
        for (i, op) in ops.into_iter().enumerate() {
            let paths: Vec<String> = model.nodes.keys().cloned().collect();
            let pick = |k: usize| paths[k % paths.len()].clone();
            let id_of = |p: &str| -> NodeId { store.lookup(p).unwrap_or(u32::MAX) };
            match op {
                Op::Insert { parent, name, data } => {
                    let parent = pick(parent);
                    let path = child_path(&parent, NAMES[name]);
                    let stat = stat_from(i as i64);
                    let r = store.insert(id_of(&parent), &path, &stat, i as i64, data.as_deref());
                    if model.nodes.contains_key(&path) {
                        prop_assert_eq!(r, Err(StoreError::Exists));
                    } else {
                        prop_assert!(r.is_ok());
                        model.seq += 1;
                        model.children.entry(parent).or_default().insert(NAMES[name], model.seq);
                        model.nodes.insert(path, (stat, i as i64, data));
                    }
                }
                Op::Remove { node } => {
                    let path = pick(node);
                    if path == "/" {
                        continue;
                    }
                    store.remove(id_of(&path));
                    let below = format!("{path}/");
                    model.nodes.retain(|p, _| *p != path && !p.starts_with(&below));
                    model.children.retain(|p, _| *p != path && !p.starts_with(&below));
                    let (parent, name) = path.rsplit_once('/').unwrap_or_default();
                    let parent = if parent.is_empty() { "/" } else { parent };
                    if let Some(c) = model.children.get_mut(parent) {
                        c.remove(name);
                    }
                }
                Op::SetData { node, data } => {
                    let path = pick(node);
                    let Some(e) = model.nodes.get_mut(&path) else { continue };
                    e.0.version = e.0.version.wrapping_add(1);
                    store.set_data(id_of(&path), &e.0, e.1, data.as_deref());
                    e.2 = data;
                }
                Op::SetMeta { node, seed } => {
                    let path = pick(node);
                    let Some(e) = model.nodes.get_mut(&path) else { continue };
                    e.0 = stat_from(seed);
                    e.1 = seed >> 1;
                    store.set_meta(id_of(&path), &e.0, e.1);
                }
            }
            check(&store, &model)?;
        }
    }
}

#[test]
fn a_znode_of_100_bytes_costs_under_165_bytes() {
    let mut store = NodeStore::default();
    let stat = |z: i64| StatPersisted {
        czxid: (1 << 32) + z,
        mzxid: (1 << 32) + z,
        pzxid: (1 << 32) + z,
        ctime: 1_780_000_000_000 + z / 40,
        mtime: 1_780_000_000_000 + z / 40,
        ..Default::default()
    };
    let root = store.insert_root(&stat(0), -1, Some(&[])).unwrap_or_default();
    let parents: Vec<(String, NodeId)> = (0..10)
        .map(|p| {
            let path = format!("/p{p:04}");
            let id = store.insert(root, &path, &stat(p), -1, Some(&[])).unwrap_or_default();
            (path, id)
        })
        .collect();
    let n = 200_000;
    for i in 0..n {
        let (pp, pid) = &parents[i % parents.len()];
        let r = store.insert(*pid, &format!("{pp}/n{i:09}"), &stat(i as i64), -1, Some(&[b'x'; 100]));
        assert!(r.is_ok());
    }
    let per_node = store.footprint() / n;
    // 24-byte record, ~10 bytes of index, a 120-byte blob (name, flags, 9 bytes of
    // pristine Stat, data); the old layout (a map of full paths to nodes) needed over 400.
    assert!(per_node < 165, "{per_node} bytes per znode");
}
