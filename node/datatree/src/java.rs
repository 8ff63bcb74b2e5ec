//! The few pieces of Java behaviour that leak onto ZooKeeper's wire.
//!
//! - [`string_hash`] and [`hash_set_order`]: ZooKeeper returns children and ephemerals in the
//!   iteration order of a `java.util.HashSet<String>`. Clients see that order (and the
//!   order of deletions on session close), so zab reproduces it: a HashSet iterates by
//!   bucket index `(h ^ h>>>16) & (capacity-1)`, and within a bucket in insertion order
//!   (resizes split buckets without reordering). The capacity only grows.
//! - [`JavaRandom`]: `java.util.Random`, which ZooKeeper uses to derive session passwords
//!   from the session id; a Java peer must accept passwords zab generates and vice versa.

/// Java's `String.hashCode` over the UTF-16 code units of `s`.
pub fn string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    let mut units = [0u16; 2];
    for c in s.chars() {
        for &u in c.encode_utf16(&mut units).iter() {
            h = h.wrapping_mul(31).wrapping_add(u as i32);
        }
    }
    h
}

/// The bucket of a key in a Java HashMap of the given power-of-two capacity.
pub fn bucket(s: &str, capacity: u32) -> u32 {
    let h = string_hash(s) as u32;
    (h ^ (h >> 16)) & (capacity - 1)
}

/// Capacity a Java `HashSet` created with `initial` reaches after holding `max_size`
/// elements at once (`HashSet(int)` / `HashMap.resize` with load factor 0.75).
pub fn hash_set_capacity(initial_table: u32, max_size: usize) -> u32 {
    let mut cap = initial_table.max(1);
    while max_size > (cap as usize) * 3 / 4 {
        cap *= 2;
    }
    cap
}

/// Sorts `(name, insertion_seq)` pairs into Java HashSet iteration order.
pub fn hash_set_order<T, F: Fn(&T) -> (&str, u64)>(items: &mut [T], capacity: u32, key: F) {
    items.sort_by_cached_key(|it| {
        let (name, seq) = key(it);
        (bucket(name, capacity), seq)
    });
}

/// `java.util.Random`: a 48-bit linear congruential generator.
pub struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULT: u64 = 0x5DEECE66D;
    const MASK: u64 = (1 << 48) - 1;

    pub fn new(seed: i64) -> JavaRandom {
        JavaRandom { seed: (seed as u64 ^ Self::MULT) & Self::MASK }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i64 as i32
    }

    pub fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `Random.nextBytes`: each int fills up to 4 bytes, low byte first.
    pub fn next_bytes(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let mut rnd = self.next_int();
            let n = (out.len() - i).min(4);
            for _ in 0..n {
                out[i] = rnd as u8;
                rnd >>= 8;
                i += 1;
            }
        }
    }
}

/// ZooKeeper's `superSecret` (0XB3415C00L) that seeds session passwords.
pub const SUPER_SECRET: i64 = 0xB3415C00;

/// The 16-byte password ZooKeeper derives for a session (`ZooKeeperServer.generatePasswd`).
pub fn session_password(session_id: i64) -> [u8; 16] {
    let mut p = [0u8; 16];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values printed by OpenJDK 17.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("ab"), 97 * 31 + 98);
        assert_eq!(string_hash("zookeeper"), 1600681804);
    }

    #[test]
    fn java_random_matches_jdk() {
        // new java.util.Random(42).nextInt() == -1170105035 (JDK documented sequence).
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next_int(), -1170105035);
        assert_eq!(r.next_int(), 234785527);
    }

    #[test]
    fn hash_set_order_matches_jdk() {
        // OpenJDK 17: new HashSet<String>(8); add "n"+(i*7919%1000) for i in 0..40;
        // remove every third; add "zz", "a"; iterate.
        let mut items: Vec<(String, u64)> = Vec::new();
        let mut seq = 0u64;
        let mut max = 0usize;
        for i in 0..40u64 {
            seq += 1;
            items.push((format!("n{}", i * 7919 % 1000), seq));
            max = max.max(items.len());
        }
        for i in (0..40u64).step_by(3) {
            let name = format!("n{}", i * 7919 % 1000);
            items.retain(|(n, _)| *n != name);
        }
        for n in ["zz", "a"] {
            seq += 1;
            items.push((n.to_string(), seq));
            max = max.max(items.len());
        }
        let cap = hash_set_capacity(16, max);
        hash_set_order(&mut items, cap, |(n, s)| (n.as_str(), *s));
        let got: Vec<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
        let want = "zz,n919,n3,n380,n352,n595,n433,n676,n137,n651,n894,n218,n732,n975,n838,a,n190,n165,n461,n246,n489,n866,n922,n623,n947,n408,n109,n704";
        assert_eq!(got.join(","), want);
    }

    #[test]
    fn session_password_matches_jdk() {
        let p = session_password(0x100000000000001);
        let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "054cc74a37327db215e702e20c73f005");
    }

    #[test]
    fn capacity_grows_like_hashmap() {
        assert_eq!(hash_set_capacity(16, 0), 16);
        assert_eq!(hash_set_capacity(16, 12), 16);
        assert_eq!(hash_set_capacity(16, 13), 32);
        assert_eq!(hash_set_capacity(16, 25), 64);
    }
}
