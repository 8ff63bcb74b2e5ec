//! DataNode: one znode as the tree hands it out (its persisted Stat, ACL index, data and
//! number of children), and the byte layout in which the node store keeps it.
//!
//! A node is stored as one blob (see `store.rs` and `arena.rs`):
//!
//! ```text
//! blob  := varint(name length) name flags head data
//! flags := u8: bit 0 set when data is present (a Java client may create with null data),
//!          bit 1 set for a pristine node (below)
//! head  := zz(acl) zz(czxid) zz(ctime)                                    if pristine
//!        | zz(acl) zz(czxid) zz(mzxid - czxid) zz(pzxid - czxid) zz(ctime)
//!          zz(mtime - ctime) zz(version) zz(cversion) zz(aversion) zz(ephemeralOwner)
//! ```
//!
//! `zz` is a zigzag LEB128 varint of the wrapping difference, so any i64 round-trips. A
//! pristine node is one as a create leaves it without children: mzxid = pzxid = czxid,
//! mtime = ctime, versions 0, no owner; most znodes of a large tree are, and spend about
//! 13 bytes on their 60-byte StatPersisted (others about 19). The data length is what the
//! blob has left.
//!
//! [`ChildSet`] keeps a session's ephemeral paths with their insertion sequence, so that
//! [`ChildSet::java_order`] returns them in the order ZooKeeper's `HashSet<String>` would
//! (see [`crate::java`]); children of a node keep that order in the store's sibling lists.

use std::collections::HashMap;

use zab_jute::data::{Stat, StatPersisted};

use crate::ephemeral::EphemeralType;
use crate::java;

/// Initial table size of ZooKeeper's `new HashSet<String>(8)` / `new HashSet<>()`.
pub const JAVA_SET_INITIAL_TABLE: u32 = 16;

/// Names (here: ephemeral paths of a session), remembering insertion order and the largest
/// size reached.
#[derive(Debug, Clone, Default)]
pub struct ChildSet {
    names: HashMap<Box<str>, u64, ahash::RandomState>,
    max_len: usize,
}

impl ChildSet {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// Adds `name` with insertion sequence `seq`; false if present.
    pub fn insert(&mut self, name: &str, seq: u64) -> bool {
        if self.names.contains_key(name) {
            return false;
        }
        self.names.insert(name.into(), seq);
        self.max_len = self.max_len.max(self.names.len());
        true
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.names.remove(name).is_some()
    }

    /// Names in any order (cheap).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(|k| &**k)
    }

    /// Names in the iteration order of ZooKeeper's Java HashSet.
    pub fn java_order(&self) -> Vec<String> {
        let cap = java::hash_set_capacity(JAVA_SET_INITIAL_TABLE, self.max_len);
        let mut v: Vec<(&str, u64)> = self.names.iter().map(|(k, s)| (&**k, *s)).collect();
        java::hash_set_order(&mut v, cap, |(n, s)| (n, *s));
        v.into_iter().map(|(n, _)| n.to_owned()).collect()
    }
}

/// One znode, as read from the tree (a view: the data borrows the tree's storage).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataNode<'a> {
    pub stat: StatPersisted,
    /// Index into the DataTree's [`crate::acl::AclCache`].
    pub acl: i64,
    /// `None` is a null buffer (as a Java client's `create(path, null, ...)` sends).
    pub data: Option<&'a [u8]>,
    pub(crate) num_children: u32,
}

impl DataNode<'_> {
    pub fn num_children(&self) -> usize {
        self.num_children as usize
    }

    pub fn data_len(&self) -> usize {
        self.data.map_or(0, |d| d.len())
    }

    /// `DataNode.copyStat`: the Stat a client sees. The stored cversion counts creates;
    /// clients see creates + deletes (`2*cversion - numChildren`), and containers and TTL
    /// nodes report ephemeralOwner 0.
    pub fn client_stat(&self, ext: bool) -> Stat {
        let s = &self.stat;
        let n = self.num_children as i32;
        let owner = match EphemeralType::of(s.ephemeral_owner, ext) {
            EphemeralType::Normal => s.ephemeral_owner,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: self.data_len() as i32,
            num_children: n,
            pzxid: s.pzxid,
        }
    }
}

const HAS_DATA: u8 = 1;
const PRISTINE: u8 = 2;

fn is_pristine(s: &StatPersisted) -> bool {
    s.mzxid == s.czxid
        && s.pzxid == s.czxid
        && s.mtime == s.ctime
        && s.version == 0
        && s.cversion == 0
        && s.aversion == 0
        && s.ephemeral_owner == 0
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_zz(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads the varints of a blob; a blob is only ever written by [`encode`], so running off
/// its end cannot happen, but would read zeros rather than panic.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        while let Some(&byte) = self.b.get(self.pos) {
            self.pos += 1;
            if shift < 64 {
                v |= u64::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    }

    fn zz(&mut self) -> i64 {
        let v = self.varint();
        ((v >> 1) as i64) ^ -((v & 1) as i64)
    }

    fn byte(&mut self) -> u8 {
        let b = self.b.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
}

/// Appends `flags head` for a node to `out`.
pub(crate) fn encode_head(out: &mut Vec<u8>, stat: &StatPersisted, acl: i64, has_data: bool) {
    let pristine = is_pristine(stat);
    out.push(if has_data { HAS_DATA } else { 0 } | if pristine { PRISTINE } else { 0 });
    put_zz(out, acl);
    put_zz(out, stat.czxid);
    if pristine {
        put_zz(out, stat.ctime);
        return;
    }
    put_zz(out, stat.mzxid.wrapping_sub(stat.czxid));
    put_zz(out, stat.pzxid.wrapping_sub(stat.czxid));
    put_zz(out, stat.ctime);
    put_zz(out, stat.mtime.wrapping_sub(stat.ctime));
    put_zz(out, stat.version.into());
    put_zz(out, stat.cversion.into());
    put_zz(out, stat.aversion.into());
    put_zz(out, stat.ephemeral_owner);
}

/// Appends the whole blob of a node to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, name: &[u8], stat: &StatPersisted, acl: i64, data: Option<&[u8]>) {
    put_varint(out, name.len() as u64);
    out.extend_from_slice(name);
    encode_head(out, stat, acl, data.is_some());
    out.extend_from_slice(data.unwrap_or_default());
}

/// Where the name ends (and `flags head` begins) in a blob, and the name.
pub(crate) fn split_name(blob: &[u8]) -> (usize, &[u8]) {
    let mut r = Reader { b: blob, pos: 0 };
    let len = r.varint() as usize;
    let end = r.pos.saturating_add(len).min(blob.len());
    (end, &blob[r.pos.min(end)..end])
}

/// What a blob holds past its name: Stat, ACL index, data and where `flags head` ends.
pub(crate) struct Decoded<'a> {
    pub stat: StatPersisted,
    pub acl: i64,
    pub data: Option<&'a [u8]>,
    pub head_end: usize,
}

/// Decodes `flags head data`, starting at `head_start` (from [`split_name`]).
pub(crate) fn decode(blob: &[u8], head_start: usize) -> Decoded<'_> {
    let mut r = Reader { b: blob, pos: head_start };
    let flags = r.byte();
    let acl = r.zz();
    let czxid = r.zz();
    if flags & PRISTINE != 0 {
        let ctime = r.zz();
        let stat = StatPersisted { czxid, mzxid: czxid, pzxid: czxid, ctime, mtime: ctime, ..Default::default() };
        let head_end = r.pos.min(blob.len());
        let data = (flags & HAS_DATA != 0).then(|| &blob[head_end..]);
        return Decoded { stat, acl, data, head_end };
    }
    let mzxid = czxid.wrapping_add(r.zz());
    let pzxid = czxid.wrapping_add(r.zz());
    let ctime = r.zz();
    let mtime = ctime.wrapping_add(r.zz());
    let version = r.zz() as i32;
    let cversion = r.zz() as i32;
    let aversion = r.zz() as i32;
    let ephemeral_owner = r.zz();
    let stat = StatPersisted { czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner, pzxid };
    let head_end = r.pos.min(blob.len());
    let data = (flags & HAS_DATA != 0).then(|| &blob[head_end..]);
    Decoded { stat, acl, data, head_end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stat_strategy() -> impl Strategy<Value = StatPersisted> {
        (any::<[i64; 6]>(), any::<[i32; 3]>()).prop_map(|(l, i)| StatPersisted {
            czxid: l[0],
            mzxid: l[1],
            ctime: l[2],
            mtime: l[3],
            ephemeral_owner: l[4],
            pzxid: l[5],
            version: i[0],
            cversion: i[1],
            aversion: i[2],
        })
    }

    proptest! {
        #[test]
        fn blob_round_trips(name in ".{0,20}", stat in stat_strategy(), pristine in any::<bool>(), acl in any::<i64>(),
                            data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300))) {
            let stat = if pristine {
                let (z, t) = (stat.czxid, stat.ctime);
                StatPersisted { czxid: z, mzxid: z, pzxid: z, ctime: t, mtime: t, ..Default::default() }
            } else {
                stat
            };
            let mut b = Vec::new();
            encode(&mut b, name.as_bytes(), &stat, acl, data.as_deref());
            let (start, n) = split_name(&b);
            prop_assert_eq!(n, name.as_bytes());
            let d = decode(&b, start);
            prop_assert_eq!(d.stat, stat);
            prop_assert_eq!(d.acl, acl);
            prop_assert_eq!(d.data, data.as_deref());
        }
    }

    #[test]
    fn a_plain_znode_head_is_small() {
        let z = (1i64 << 32) + 1_000_000;
        let t = 1_780_000_000_000i64;
        let stat = StatPersisted { czxid: z, mzxid: z, pzxid: z, ctime: t, mtime: t, ..Default::default() };
        let mut b = Vec::new();
        encode_head(&mut b, &stat, -1, true);
        assert!(b.len() <= 14, "{}", b.len());
        b.clear();
        encode_head(&mut b, &StatPersisted { version: 1, ..stat }, -1, true);
        assert!(b.len() <= 20, "{}", b.len());
    }
}
