//! The ids a connection has authenticated as (`ServerCnxn.authInfo`), kept in the order
//! ZooKeeper 3.8 lists them. ZooKeeper keeps them in a set backed by a `ConcurrentHashMap`
//! (default capacity 16) and hands out a copy in that map's iteration order: by hash bin, then
//! by insertion within a bin, with the bin reshuffles of a resize. That order is what
//! `whoAmI` answers and what an `auth` ACL expands to, so this reproduces it: the jute
//! `Id.hashCode` over Java's `String.hashCode`, the map's hash spreading, bins, and
//! `transfer`'s split of a bin on resize. It does not model the tree bins a map makes of a
//! bin holding 8 or more ids (no client authenticates that many times).

use zab_jute::data::Id;

/// Java's `String.hashCode`: over UTF-16 code units, wrapping.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The jute-generated `Id.hashCode`: 17, then `37 * result + field.hashCode()` per field.
fn id_hash(id: &Id) -> i32 {
    let r = 17i32.wrapping_mul(37).wrapping_add(java_string_hash(&id.scheme));
    r.wrapping_mul(37).wrapping_add(java_string_hash(&id.id))
}

/// `ConcurrentHashMap.spread`: the high half folded into the low half, sign bit cleared.
fn spread(h: i32) -> u32 {
    let h = h as u32;
    (h ^ (h >> 16)) & 0x7fff_ffff
}

/// A connection's authenticated ids, read as a slice in ZooKeeper's order.
#[derive(Debug, Clone, Default)]
pub struct AuthInfo {
    /// The map's bins: (spread hash, id), each bin in its list order.
    bins: Vec<Vec<(u32, Id)>>,
    len: usize,
    /// The iteration order, rebuilt on every change (changes are rare: one per auth packet).
    ordered: Vec<Id>,
}

impl AuthInfo {
    /// A connection's first id: its address (`ip:<address>`), as ZooKeeper adds at accept.
    pub fn new(first: Id) -> AuthInfo {
        let mut a = AuthInfo::default();
        a.add(first);
        a
    }

    /// `authInfo.add(id)`: false when already there.
    pub fn add(&mut self, id: Id) -> bool {
        if self.ordered.contains(&id) {
            return false;
        }
        if self.bins.is_empty() {
            self.bins = vec![Vec::new(); 16];
        }
        let h = spread(id_hash(&id));
        let n = self.bins.len();
        self.bins[(h as usize) & (n - 1)].push((h, id));
        self.len += 1;
        // addCount: resize once the count reaches sizeCtl (three quarters of the table).
        if self.len >= n - (n >> 2) {
            self.resize();
        }
        self.ordered = self.bins.iter().flatten().map(|(_, id)| id.clone()).collect();
        true
    }

    /// `ConcurrentHashMap.transfer` into a table twice the size. Bin `i` splits into `i` and
    /// `i + n`: the longest tail of nodes going to one side (`lastRun`) moves as it is, the
    /// nodes before it are pushed in front of their side's list one by one (so reversed).
    fn resize(&mut self) {
        let n = self.bins.len();
        let mut next: Vec<Vec<(u32, Id)>> = vec![Vec::new(); 2 * n];
        for (i, bin) in std::mem::take(&mut self.bins).into_iter().enumerate() {
            if bin.is_empty() {
                continue;
            }
            let side = |h: u32| (h as usize) & n != 0;
            let mut last_run = 0;
            for k in 1..bin.len() {
                if side(bin[k].0) != side(bin[k - 1].0) {
                    last_run = k;
                }
            }
            let run_high = side(bin[last_run].0);
            let (mut low, mut high) = (Vec::new(), Vec::new());
            let (head, tail) = bin.split_at(last_run);
            if run_high {
                high.extend_from_slice(tail);
            } else {
                low.extend_from_slice(tail);
            }
            for node in head {
                let list = if side(node.0) { &mut high } else { &mut low };
                list.insert(0, node.clone());
            }
            next[i] = low;
            next[i + n] = high;
        }
        self.bins = next;
    }
}

impl std::ops::Deref for AuthInfo {
    type Target = [Id];
    fn deref(&self) -> &[Id] {
        &self.ordered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(scheme: &str, id: &str) -> Id {
        Id { scheme: scheme.into(), id: id.into() }
    }

    #[test]
    fn java_hashes() {
        // Values printed by Java 17's String.hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("ip"), 3367);
        assert_eq!(java_string_hash("digest"), -1331913276);
        assert_eq!(java_string_hash("127.0.0.1"), 1505998205);
        assert_eq!(java_string_hash("\u{e9}t\u{e9}"), 227742);
    }

    fn parse(line: &str) -> Vec<Id> {
        line.split_whitespace()
            .map(|t| {
                let (s, i) = t.split_once(':').expect("scheme:id");
                id(s, i)
            })
            .collect()
    }

    /// Insertion sequences and the order a Java 17 `ConcurrentHashMap`-backed set of
    /// ZooKeeper's `Id` listed them in (printed by a Java program against zookeeper-jute
    /// 3.8.0); 12 and 30 ids go through one and two resizes.
    const JAVA: &[(&str, &str)] = &[
        ("ip:127.0.0.1 digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", "digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E= ip:127.0.0.1"),
        ("ip:127.0.0.1 digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E= digest:bob:x", "digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E= ip:127.0.0.1 digest:bob:x"),
        ("ip:u92763 sasl:u48884", "sasl:u48884 ip:u92763"),
        ("ip:u87525 ip:u96918 super:u18093", "super:u18093 ip:u87525 ip:u96918"),
        ("x509:u67502 digest:u72292 digest:u78032 digest:u76170 sasl:u72209", "digest:u72292 x509:u67502 digest:u76170 digest:u78032 sasl:u72209"),
        ("ip:u27863 digest:u62913 sasl:u15241 ip:u7458 x509:u98246 ip:u10756 ip:u91085 x509:u77727 x509:u8093 sasl:u81164 super:u68065",
         "ip:u10756 x509:u98246 ip:u27863 sasl:u15241 x509:u8093 sasl:u81164 x509:u77727 super:u68065 digest:u62913 ip:u7458 ip:u91085"),
        ("sasl:u12737 ip:u534 x509:u16935 x509:u48443 sasl:u24440 sasl:u64756 ip:u64410 sasl:u4059 digest:u26003 x509:u22819 x509:u26601 super:u50794",
         "sasl:u24440 x509:u26601 sasl:u12737 sasl:u64756 x509:u22819 sasl:u4059 digest:u26003 ip:u534 ip:u64410 x509:u16935 super:u50794 x509:u48443"),
        ("sasl:u29719 ip:u69499 ip:u67501 sasl:u10429 sasl:u73733 digest:u82460 ip:u12093 ip:u12594 sasl:u57142 x509:u12593 super:u36744 sasl:u74479 x509:u77696 sasl:u13295 super:u24823 super:u43976 digest:u73328 ip:u1140 x509:u10029 sasl:u41911 super:u63246 ip:u52522 digest:u8104 x509:u24451 digest:u12670 digest:u57795 digest:u55679 digest:u11228 sasl:u35323 x509:u42332",
         "x509:u24451 digest:u8104 ip:u52522 sasl:u10429 sasl:u41911 digest:u11228 ip:u69499 sasl:u13295 super:u43976 ip:u1140 digest:u57795 x509:u10029 sasl:u35323 sasl:u74479 x509:u42332 digest:u12670 sasl:u29719 digest:u82460 digest:u73328 x509:u77696 super:u63246 digest:u55679 ip:u67501 x509:u12593 ip:u12093 sasl:u57142 ip:u12594 super:u24823 sasl:u73733 super:u36744"),
    ];

    #[test]
    fn the_iteration_order_of_java() {
        for (inserted, expected) in JAVA {
            let ids = parse(inserted);
            let mut a = AuthInfo::new(ids[0].clone());
            for i in &ids[1..] {
                assert!(a.add(i.clone()));
            }
            assert_eq!(&a[..], &parse(expected)[..], "inserted {inserted}");
            assert!(!a.add(ids[0].clone()), "an id already there is not added twice");
            assert_eq!(a.len(), ids.len());
        }
    }
}
