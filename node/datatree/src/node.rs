//! DataNode: one znode as the tree hands it out (its persisted Stat, ACL index, data and
//! number of children), and the byte layout in which the node store keeps it.
//!
//! A node is stored as one blob (see `store.rs` and `arena.rs`):
//!
//! ```text
//! blob  := varint(name length) name flags head data
//! flags := u8: bit 0 set when data is present (a Java client may create with null data),
//!          bit 1 for a pristine node (below), bit 2 when the node has a child list,
//!          bit 3 when czxid and ctime are relative to the store's base
//! head  := zz(acl) zz(czxid) zz(ctime) [varint(child list)]              if pristine
//!        | zz(acl) zz(czxid) zz(mzxid - czxid) zz(pzxid - czxid) zz(ctime)
//!          zz(mtime - ctime) zz(version) zz(cversion) zz(aversion) zz(ephemeralOwner)
//!          [varint(child list)]
//! ```
//!
//! `zz` is a zigzag LEB128 varint of the wrapping difference, so any i64 round-trips. A
//! pristine node is one as a create leaves it: mzxid = pzxid = czxid, mtime = ctime,
//! versions 0, no owner. With bit 3, czxid and ctime are differences from the store's base,
//! the czxid and ctime of the first node added with either non-zero (used whenever that is
//! not longer), so that the nodes of one tree spend 3 or 4 bytes on each rather than 5 and
//! 6: a pristine znode spends about 9 bytes on its 60-byte StatPersisted, others about 15.
//! The data length is what the blob has left.
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
const HAS_LIST: u8 = 4;
const RELATIVE: u8 = 8;

/// What czxid and ctime are stored relative to (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Base {
    pub zxid: i64,
    pub time: i64,
}

/// A blob's head, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub stat: StatPersisted,
    pub acl: i64,
    pub has_data: bool,
    /// The node's child list in the store, if it ever had a child.
    pub list: Option<u32>,
}

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

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_zz(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// Bytes of the zigzag varint of `v`.
fn zz_len(v: i64) -> u32 {
    (64 - zigzag(v).leading_zeros()).max(1).div_ceil(7)
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
pub(crate) fn encode_head(out: &mut Vec<u8>, h: &Head, base: Option<Base>) {
    let s = &h.stat;
    let pristine = is_pristine(s);
    // Relative to the base when that is no longer.
    let (zxid0, time0) = match base {
        Some(b)
            if zz_len(s.czxid.wrapping_sub(b.zxid)) + zz_len(s.ctime.wrapping_sub(b.time))
                <= zz_len(s.czxid) + zz_len(s.ctime) =>
        {
            (b.zxid, b.time)
        }
        _ => (0, 0),
    };
    let mut flags = 0;
    for (on, bit) in [(h.has_data, HAS_DATA), (pristine, PRISTINE), (h.list.is_some(), HAS_LIST)] {
        if on {
            flags |= bit;
        }
    }
    if base.is_some_and(|b| (b.zxid, b.time) == (zxid0, time0)) {
        flags |= RELATIVE;
    }
    out.push(flags);
    put_zz(out, h.acl);
    put_zz(out, s.czxid.wrapping_sub(zxid0));
    if pristine {
        put_zz(out, s.ctime.wrapping_sub(time0));
    } else {
        put_zz(out, s.mzxid.wrapping_sub(s.czxid));
        put_zz(out, s.pzxid.wrapping_sub(s.czxid));
        put_zz(out, s.ctime.wrapping_sub(time0));
        put_zz(out, s.mtime.wrapping_sub(s.ctime));
        put_zz(out, s.version.into());
        put_zz(out, s.cversion.into());
        put_zz(out, s.aversion.into());
        put_zz(out, s.ephemeral_owner);
    }
    if let Some(l) = h.list {
        put_varint(out, l.into());
    }
}

/// Appends the whole blob of a node to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, name: &[u8], h: &Head, data: Option<&[u8]>, base: Option<Base>) {
    put_varint(out, name.len() as u64);
    out.extend_from_slice(name);
    encode_head(out, h, base);
    out.extend_from_slice(data.unwrap_or_default());
}

/// Where the name ends (and `flags head` begins) in a blob, and the name.
pub(crate) fn split_name(blob: &[u8]) -> (usize, &[u8]) {
    let mut r = Reader { b: blob, pos: 0 };
    let len = r.varint() as usize;
    let end = r.pos.saturating_add(len).min(blob.len());
    (end, &blob[r.pos.min(end)..end])
}

/// Decodes `flags head` starting at `head_start` (from [`split_name`]); also returns
/// where the data starts.
pub(crate) fn decode_head(blob: &[u8], head_start: usize, base: Option<Base>) -> (Head, usize) {
    let mut r = Reader { b: blob, pos: head_start };
    let flags = r.byte();
    let (zxid0, time0) = match base {
        Some(b) if flags & RELATIVE != 0 => (b.zxid, b.time),
        _ => (0, 0),
    };
    let acl = r.zz();
    let czxid = r.zz().wrapping_add(zxid0);
    let stat = if flags & PRISTINE != 0 {
        let ctime = r.zz().wrapping_add(time0);
        StatPersisted { czxid, mzxid: czxid, pzxid: czxid, ctime, mtime: ctime, ..Default::default() }
    } else {
        let mzxid = czxid.wrapping_add(r.zz());
        let pzxid = czxid.wrapping_add(r.zz());
        let ctime = r.zz().wrapping_add(time0);
        let mtime = ctime.wrapping_add(r.zz());
        let version = r.zz() as i32;
        let cversion = r.zz() as i32;
        let aversion = r.zz() as i32;
        let ephemeral_owner = r.zz();
        StatPersisted { czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner, pzxid }
    };
    let list = (flags & HAS_LIST != 0).then(|| r.varint() as u32);
    let head = Head { stat, acl, has_data: flags & HAS_DATA != 0, list };
    (head, r.pos.min(blob.len()))
}

/// The data of a blob whose head ends at `data_start`.
pub(crate) fn data_of<'a>(blob: &'a [u8], head: &Head, data_start: usize) -> Option<&'a [u8]> {
    head.has_data.then(|| &blob[data_start..])
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
                            data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
                            list in proptest::option::of(any::<u32>()),
                            base in proptest::option::of(any::<(i64, i64)>())) {
            let stat = if pristine {
                let (z, t) = (stat.czxid, stat.ctime);
                StatPersisted { czxid: z, mzxid: z, pzxid: z, ctime: t, mtime: t, ..Default::default() }
            } else {
                stat
            };
            let base = base.map(|(zxid, time)| Base { zxid, time });
            let head = Head { stat, acl, has_data: data.is_some(), list };
            let mut b = Vec::new();
            encode(&mut b, name.as_bytes(), &head, data.as_deref(), base);
            let (start, n) = split_name(&b);
            prop_assert_eq!(n, name.as_bytes());
            let (h, data_start) = decode_head(&b, start, base);
            prop_assert_eq!(data_of(&b, &h, data_start), data.as_deref());
            prop_assert_eq!(h, head);
        }
    }

    #[test]
    fn a_plain_znode_head_is_small() {
        let z = (1i64 << 32) + 1_000_000;
        let t = 1_780_000_000_000i64;
        let stat = StatPersisted { czxid: z, mzxid: z, pzxid: z, ctime: t, mtime: t, ..Default::default() };
        let base = Some(Base { zxid: 1 << 32, time: t - 3_600_000 });
        let len = |stat: &StatPersisted, base| {
            let mut b = Vec::new();
            encode_head(&mut b, &Head { stat: stat.clone(), acl: -1, has_data: true, list: None }, base);
            b.len()
        };
        assert_eq!(len(&stat, None), 13);
        assert_eq!(len(&stat, base), 9);
        assert_eq!(len(&StatPersisted { version: 1, ..stat.clone() }, base), 16);
        // A base far away is not used.
        assert_eq!(len(&stat, Some(Base { zxid: i64::MIN, time: i64::MIN })), 13);
    }
}
