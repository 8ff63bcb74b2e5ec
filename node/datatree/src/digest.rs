//! Node and tree digests (`DigestCalculator`, digest version 2): CRC32 over the path, the
//! data and a 60-byte block of stat fields; the tree digest is the wrapping sum of node
//! digests. Nodes under `/zookeeper/` are not digested; "/" is hashed as "".

use zab_jute::data::StatPersisted;

pub const DIGEST_VERSION: i32 = 2;

pub fn node_digest(path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> u64 {
    finish(&path_data_hasher(path, data), stat)
}

/// The CRC state over a node's path and data, the part of its digest that a change of its
/// Stat leaves alone; `None` for nodes that are not digested.
pub fn path_data_hasher(path: &str, data: Option<&[u8]>) -> Option<crc32fast::Hasher> {
    if path.starts_with("/zookeeper/") {
        return None;
    }
    let path = if path == "/" { "" } else { path };
    let mut h = crc32fast::Hasher::new();
    // Java hashes `path.getBytes()`; valid paths are all in the BMP, where that is UTF-8.
    h.update(path.as_bytes());
    if let Some(d) = data {
        h.update(d);
    }
    Some(h)
}

/// Completes a node digest from its path-and-data state and its Stat.
pub fn finish(pd: &Option<crc32fast::Hasher>, stat: &StatPersisted) -> u64 {
    let Some(h) = pd else {
        return 0;
    };
    let mut b = [0u8; 60];
    b[0..8].copy_from_slice(&stat.czxid.to_be_bytes());
    b[8..16].copy_from_slice(&stat.mzxid.to_be_bytes());
    b[16..24].copy_from_slice(&stat.pzxid.to_be_bytes());
    b[24..32].copy_from_slice(&stat.ctime.to_be_bytes());
    b[32..40].copy_from_slice(&stat.mtime.to_be_bytes());
    b[40..44].copy_from_slice(&stat.version.to_be_bytes());
    b[44..48].copy_from_slice(&stat.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&stat.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&stat.ephemeral_owner.to_be_bytes());
    let mut h = h.clone();
    h.update(&b);
    h.finalize() as u64
}
