//! The module layers of `node/server/src`, checked from the sources: no import cycle between
//! its modules (files), and the leaves stay leaves — `metrics`, `clock` and `environment`
//! import nothing of the crate outside themselves (`metrics` only `clock`), and `config`
//! only `metrics`. Issue 14: before, 16 files imported each other in one loop (metrics ->
//! server state, config -> metrics, four_letter <-> admin/commands, server -> peer runtime).
//!
//! A module's imports are the `crate::`, `super::` and (from a `mod.rs` or `lib.rs`) child
//! module paths in its source, comments and its `#[cfg(test)]` module left out. The binary
//! (`main.rs`) is a crate of its own and not part of the graph. This test reads files only.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name (`peer::leader`, `crate` for lib.rs) -> its source file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src").with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = parts.join("::");
            match name.as_str() {
                "main" => {}
                "lib" => {
                    out.insert("crate".to_string(), path);
                }
                _ => {
                    out.insert(name, path);
                }
            }
        }
    }
    out
}

/// The source without comment lines and without the `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path following `prefix` (e.g. `crate::`) at a word boundary: `a::b::C`, and each
/// member of a `prefix{a, b::c}` group.
fn paths_after(src: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = src[from..].find(prefix) {
        let at = from + i;
        from = at + prefix.len();
        if src[..at].chars().next_back().is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        let rest = &src[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(
                group[..end].split(',').map(|p| p.split_whitespace().collect::<String>()).filter(|p| !p.is_empty()),
            );
        } else {
            let end = rest.find(|c: char| !(is_ident(c) || c == ':')).unwrap_or(rest.len());
            out.push(rest[..end].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The modules each module imports (self excluded).
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let mut names: Vec<&String> = mods.keys().filter(|n| n.as_str() != "crate").collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let resolve = |path: &str| -> String {
        names
            .iter()
            .find(|n| path == n.as_str() || path.starts_with(&format!("{n}::")))
            .map_or_else(|| "crate".to_string(), |n| n.to_string())
    };
    let mut edges = BTreeMap::new();
    for (name, file) in &mods {
        let text = code(file);
        let mut refs: Vec<String> = paths_after(&text, "crate::");
        // super:: is the parent of this module (a mod.rs is its directory's module).
        let parent: Vec<&str> = if name == "crate" { vec![] } else { name.split("::").collect() };
        let parent = parent[..parent.len().saturating_sub(1)].join("::");
        for p in paths_after(&text, "super::") {
            refs.push(if parent.is_empty() { p } else { format!("{parent}::{p}") });
        }
        // A module's own children, named from it (`leader::run`, `use election::Election`).
        let is_dir_module = name == "crate" || file.file_name().is_some_and(|f| f == "mod.rs");
        if is_dir_module {
            let prefix = if name == "crate" { String::new() } else { format!("{name}::") };
            for child in
                mods.keys().filter(|c| c.starts_with(&prefix) && *c != name && !c[prefix.len()..].contains("::"))
            {
                let short = &child[prefix.len()..];
                if !paths_after(&text, &format!("{short}::")).is_empty()
                    || !paths_after(&text, &format!("self::{short}")).is_empty()
                {
                    refs.push(child.clone());
                }
            }
        }
        let set: BTreeSet<String> = refs.iter().map(|r| resolve(r)).filter(|r| r != name).collect();
        edges.insert(name.clone(), set);
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        let edges = t.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_import_cycle_between_modules() {
    let edges = graph(&src_dir());
    assert!(edges.len() > 30, "the scan found only {} modules", edges.len());
    let found = cycles(&edges);
    let described: Vec<String> = found
        .iter()
        .map(|comp| {
            comp.iter()
                .map(|m| {
                    let inside: Vec<&String> = edges[m].iter().filter(|e| comp.contains(e)).collect();
                    format!("{m} -> {inside:?}")
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect();
    assert!(found.is_empty(), "modules importing each other in a loop: {described:#?}");
}

#[test]
fn leaves_import_nothing_above_them() {
    let edges = graph(&src_dir());
    let allowed = |m: &str| -> Vec<&str> {
        if m == "metrics" || m.starts_with("metrics::") {
            vec!["metrics", "clock"]
        } else if m == "config" {
            vec!["metrics"]
        } else {
            vec![]
        }
    };
    for (m, deps) in &edges {
        let leaf = m == "metrics" || m.starts_with("metrics::") || m == "clock" || m == "environment" || m == "config";
        if !leaf {
            continue;
        }
        let ok = allowed(m);
        let bad: Vec<&String> =
            deps.iter().filter(|d| !ok.iter().any(|a| d.as_str() == *a || d.starts_with(&format!("{a}::")))).collect();
        assert!(bad.is_empty(), "{m} is a leaf but imports {bad:?}");
    }
}

#[test]
fn the_scan_sees_imports_and_cycles() {
    // The parser on a known text, so the two tests above cannot pass by seeing nothing.
    let text = "use crate::zk_server::{Role, X};\nuse crate::{config, metrics::Counter};\nlet a = super::wire::Out;";
    assert_eq!(paths_after(text, "crate::"), vec!["zk_server", "config", "metrics::Counter"]);
    assert_eq!(paths_after(text, "super::"), vec!["wire::Out"]);
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string(), "c".to_string()]));
    edges.insert("c".to_string(), BTreeSet::new());
    assert_eq!(cycles(&edges), vec![vec!["a".to_string(), "b".to_string()]]);
    let real = graph(&src_dir());
    assert!(real["zk_server"].contains("config"), "zk_server imports config: {:?}", real["zk_server"]);
    assert!(real["peer"].contains("peer::leader"), "peer/mod.rs uses its child leader: {:?}", real["peer"]);
}
