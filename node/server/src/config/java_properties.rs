//! `java.util.Properties` as ZooKeeper uses it for zoo.cfg and the dynamic configuration
//! files: [`parse`] reads the `.properties` grammar (`Properties.load`), and [`java_order`]
//! gives the order in which `Properties.entrySet()` iterates the keys, which is the order
//! of the lines `QuorumPeerConfig.editStaticConfig` writes back into zoo.cfg.
//!
//! Since Java 9 a `Properties` keeps its entries in a `ConcurrentHashMap` made with an
//! initial capacity of 8 (a 16-slot table, resized at three quarters): iteration goes by
//! table slot, and within a slot by the bin's list, whose order a resize partly reverses
//! (`ConcurrentHashMap.transfer`, the `lastRun` split). [`java_order`] replays the puts
//! with `String.hashCode` and that transfer. Pure: no I/O.

/// One `key=value` of a properties text, with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// `Properties.load`: `#`/`!` comment lines, blank lines, a key ending at the first
/// unescaped `=`, `:` or whitespace, a value after the separator and its surrounding
/// whitespace, `\`-escapes (`\t`, `\n`, `\r`, `\f`, `\uXXXX`, any other char as itself) and
/// a trailing odd backslash joining the next line. A later key replaces an earlier one in
/// the map; [`parse`] returns every occurrence in file order.
pub fn parse(text: &str) -> Vec<Property> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let first = raw.trim_start_matches([' ', '\t', '\x0c']);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes.
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches([' ', '\t', '\x0c'])),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        out.push(Property { key: unescape(key), value: unescape(value), line: i + 1 });
    }
    out
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// The raw key and raw value of one logical line (escapes still in).
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut key_end = line.len();
    let mut has_sep = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => {
                key_end = i;
                has_sep = true;
                break;
            }
            b' ' | b'\t' | b'\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key_end = key_end.min(line.len());
    let mut rest = &line[key_end..];
    if !has_sep {
        rest = rest.trim_start_matches([' ', '\t', '\x0c']);
        if let Some(r) = rest.strip_prefix(['=', ':']) {
            rest = r;
        }
    } else {
        rest = &rest[1..];
    }
    (&line[..key_end], rest.trim_start_matches([' ', '\t', '\x0c']))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    // Java throws "Malformed \uxxxx encoding"; keep the text as written.
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// `String.hashCode`: over UTF-16 code units, `h = 31 * h + c`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `ConcurrentHashMap.spread`.
fn spread(h: i32) -> u32 {
    let h = h as u32;
    (h ^ (h >> 16)) & 0x7fff_ffff
}

/// `ConcurrentHashMap.TREEIFY_THRESHOLD`: a bin this long turns into a tree (or makes the
/// table grow), which [`java_order`] does not replay.
const TREEIFY_THRESHOLD: usize = 8;

/// The order `Properties.entrySet()` iterates the distinct keys put in `keys` order (a
/// repeated key keeps its first place). `None` when a bin would grow to
/// `TREEIFY_THRESHOLD` entries (practically never for a zoo.cfg), whose order is not
/// reproduced here.
pub fn java_order(keys: &[String]) -> Option<Vec<String>> {
    let mut table: Vec<Vec<(u32, &str)>> = vec![Vec::new(); 16];
    // `new ConcurrentHashMap<>(8)`: 16 slots, sizeCtl 12 once the table exists.
    let mut size_ctl = 12usize;
    let mut count = 0usize;
    for key in keys {
        let h = spread(java_string_hash(key));
        let n = table.len();
        let bin = &mut table[(h as usize) & (n - 1)];
        if bin.iter().any(|(_, k)| *k == key.as_str()) {
            continue;
        }
        if bin.len() >= TREEIFY_THRESHOLD {
            return None;
        }
        bin.push((h, key.as_str()));
        count += 1;
        // `addCount`: grow while the count reaches sizeCtl; the new sizeCtl is 0.75 of
        // the doubled table.
        while count >= size_ctl {
            table = transfer(&table);
            let n = table.len();
            size_ctl = n - (n >> 2);
        }
    }
    Some(table.into_iter().flatten().map(|(_, k)| k.to_owned()).collect())
}

/// `ConcurrentHashMap.transfer` of a table of list bins into one twice its size: slot `i`
/// splits into `i` (hash bit `n` clear) and `i + n`; the run of nodes from `lastRun` to the
/// end moves as it is, the nodes before it are prepended one by one (so reversed).
fn transfer<'a>(table: &[Vec<(u32, &'a str)>]) -> Vec<Vec<(u32, &'a str)>> {
    let n = table.len();
    let mut next: Vec<Vec<(u32, &'a str)>> = vec![Vec::new(); 2 * n];
    for (i, bin) in table.iter().enumerate() {
        let Some(first) = bin.first() else { continue };
        let bit = |h: u32| h as usize & n;
        let mut run_bit = bit(first.0);
        let mut last_run = 0;
        for (j, (h, _)) in bin.iter().enumerate().skip(1) {
            if bit(*h) != run_bit {
                run_bit = bit(*h);
                last_run = j;
            }
        }
        let (mut low, mut high) = (Vec::new(), Vec::new());
        for node in bin[..last_run].iter().rev() {
            if bit(node.0) == 0 {
                low.push(*node);
            } else {
                high.push(*node);
            }
        }
        if run_bit == 0 {
            low.extend_from_slice(&bin[last_run..]);
        } else {
            high.extend_from_slice(&bin[last_run..]);
        }
        next[i] = low;
        next[i + n] = high;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_properties_grammar() {
        let text = "# c\n! c\n\n  a=1\nb : 2 \nc 3\nd\\=x=4\ne=line\\\n   two\nf=\\u0041\\tz\ng\n";
        let got: Vec<(String, String, usize)> = parse(text).into_iter().map(|p| (p.key, p.value, p.line)).collect();
        let want = [
            ("a", "1", 4),
            ("b", "2 ", 5),
            ("c", "3", 6),
            ("d=x", "4", 7),
            ("e", "linetwo", 8),
            ("f", "A\tz", 10),
            ("g", "", 11),
        ];
        let want: Vec<(String, String, usize)> =
            want.iter().map(|(k, v, l)| (k.to_string(), v.to_string(), *l)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn string_hash_as_java() {
        // Values from Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("tickTime"), 1_936_851_466);
    }

    /// The order Apache ZooKeeper 3.8 (OpenJDK 17) wrote zoo.cfg back after its first
    /// start with `reconfigEnabled=true` and the servers in zoo.cfg (e2e/conformance/
    /// dynamic_config.sh, case static).
    #[test]
    fn edit_static_config_order_as_zookeeper_wrote_it() {
        let keys: Vec<String> = [
            "tickTime",
            "initLimit",
            "syncLimit",
            "dataDir",
            "clientPort",
            "clientPortAddress",
            "4lw.commands.whitelist",
            "reconfigEnabled",
            "server.1",
            "server.2",
            "server.3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let order = java_order(&keys).unwrap();
        let kept: Vec<&str> = order.iter().map(String::as_str).filter(|k| !k.starts_with("server.")).collect();
        assert_eq!(
            kept,
            [
                "dataDir",
                "tickTime",
                "initLimit",
                "clientPort",
                "4lw.commands.whitelist",
                "syncLimit",
                "reconfigEnabled",
                "clientPortAddress"
            ]
        );
    }

    /// Orders printed by OpenJDK 17's `Properties.entrySet()` after the same puts: 40 keys
    /// (two resizes, 16 -> 32 -> 64) and a repeated key; a 20-key zoo.cfg (one resize).
    #[test]
    fn order_as_openjdk_after_resizes() {
        let keys: Vec<String> = (0..40).map(|i| format!("key{i}")).chain(["key3".to_string()]).collect();
        let want = "key1,key2,key0,key5,key6,key3,key4,key9,key7,key8,key22,key21,key20,key15,key37,key14,\
                    key36,key13,key35,key12,key34,key19,key18,key17,key39,key16,key38,key11,key33,key10,key32,\
                    key31,key30,key26,key25,key24,key23,key29,key28,key27";
        assert_eq!(java_order(&keys).unwrap().join(","), want);
        let keys: Vec<String> = "tickTime,initLimit,syncLimit,dataDir,dataLogDir,clientPort,clientPortAddress,\
                                 4lw.commands.whitelist,reconfigEnabled,standaloneEnabled,admin.enableServer,\
                                 admin.serverPort,maxClientCnxns,autopurge.snapRetainCount,autopurge.purgeInterval,\
                                 server.1,server.2,server.3,metricsProvider.className,skipACL"
            .split(',')
            .map(str::to_owned)
            .collect();
        let want = "autopurge.purgeInterval,dataDir,4lw.commands.whitelist,syncLimit,dataLogDir,reconfigEnabled,\
                    clientPortAddress,standaloneEnabled,server.2,admin.enableServer,server.1,skipACL,\
                    autopurge.snapRetainCount,metricsProvider.className,clientPort,initLimit,tickTime,server.3,\
                    admin.serverPort,maxClientCnxns";
        assert_eq!(java_order(&keys).unwrap().join(","), want);
    }
}
