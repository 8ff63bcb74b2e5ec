//! Znode path rules, as ZooKeeper's `PathUtils.validatePath` applies them (checked over
//! UTF-16 code units, so any character outside the BMP is refused as a surrogate).

/// Why a path is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPath(pub String);

/// `PathUtils.validatePath`.
pub fn validate_path(path: &str) -> Result<(), InvalidPath> {
    let units: Vec<u16> = path.encode_utf16().collect();
    if units.is_empty() {
        return Err(InvalidPath("Path length must be > 0".into()));
    }
    if units[0] != b'/' as u16 {
        return Err(InvalidPath("Path must start with / character".into()));
    }
    if units.len() == 1 {
        return Ok(());
    }
    if units[units.len() - 1] == b'/' as u16 {
        return Err(InvalidPath("Path must not end with / character".into()));
    }
    let slash = b'/' as u16;
    let dot = b'.' as u16;
    let mut lastc = slash;
    for i in 1..units.len() {
        let c = units[i];
        let next_is_end_or_slash = i + 1 == units.len() || units[i + 1] == slash;
        let reason = if c == 0 {
            Some(format!("null character not allowed @{i}"))
        } else if c == slash && lastc == slash {
            Some(format!("empty node name specified @{i}"))
        } else if c == dot && lastc == dot {
            (i >= 2 && units[i - 2] == slash && next_is_end_or_slash)
                .then(|| format!("relative paths not allowed @{i}"))
        } else if c == dot {
            (units[i - 1] == slash && next_is_end_or_slash).then(|| format!("relative paths not allowed @{i}"))
        } else if (c > 0 && c <= 0x1f) || (0x7f..=0x9f).contains(&c) || (0xd800..=0xf8ff).contains(&c) || c >= 0xfff0 {
            Some(format!("invalid character @{i}"))
        } else {
            None
        };
        if let Some(r) = reason {
            return Err(InvalidPath(format!("Invalid path string \"{path}\" caused by {r}")));
        }
        lastc = c;
    }
    Ok(())
}

/// Splits at the last '/': ("/a", "b") for "/a/b", ("", "a") for "/a". `None` without '/'.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    Some((&path[..i], &path[i + 1..]))
}

/// The key under which a parent is stored: "" (the root's alias) maps to "/".
pub fn parent_key(parent: &str) -> &str {
    if parent.is_empty() {
        "/"
    } else {
        parent
    }
}

/// Iterates `path` and then each ancestor up to "/" (ZooKeeper's `PathParentIterator`).
pub fn path_and_parents(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let cur = next?;
        next = if cur == "/" {
            None
        } else {
            match cur.rfind('/') {
                Some(0) => Some("/"),
                Some(i) => Some(&cur[..i]),
                None => None,
            }
        };
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeeper_path_rules() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/..a", "/a/..b", "/a/b.", "/é", "/zookeeper"] {
            assert!(validate_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//a",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/.",
            "/..",
            "/a\0b",
            "/a\u{1}",
            "/\u{1F600}",
            "/\u{e000}",
            "/\u{fff0}",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parents() {
        let v: Vec<_> = path_and_parents("/a/b/c").collect();
        assert_eq!(v, ["/a/b/c", "/a/b", "/a", "/"]);
        let v: Vec<_> = path_and_parents("/").collect();
        assert_eq!(v, ["/"]);
        assert_eq!(split_parent("/a"), Some(("", "a")));
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
    }
}
