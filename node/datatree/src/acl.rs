//! ACLs: the reference-counted ACL cache the DataTree stores indexes into
//! (`ReferenceCountedACLCache`), the built-in authentication providers (ip, digest, super)
//! and the permission check (`ZooKeeperServer.checkACL`) and ACL fix-up
//! (`PrepRequestProcessor.fixupACL`).

use std::collections::HashMap;

use base64::Engine;
use sha1::{Digest, Sha1};
use zab_jute::data::{Acl, Id};

use crate::error::KeeperError;

/// The index ZooKeeper reserves for OPEN_ACL_UNSAFE.
pub const OPEN_UNSAFE_ACL_ID: i64 = -1;

/// OPEN_ACL_UNSAFE, built once: a read of an open node checks it without allocating.
static OPEN_UNSAFE: std::sync::LazyLock<Vec<Acl>> = std::sync::LazyLock::new(Acl::open_unsafe);

/// Interns ACL lists: nodes store an index; identical lists share one entry.
#[derive(Debug, Default, Clone)]
pub struct AclCache {
    by_index: HashMap<i64, (Vec<Acl>, u64)>,
    by_acl: HashMap<Vec<Acl>, i64>,
    next_index: i64,
}

impl AclCache {
    /// Index for `acls`, adding one use.
    pub fn intern(&mut self, acls: &[Acl]) -> i64 {
        if let Some(&i) = self.by_acl.get(acls) {
            if let Some(e) = self.by_index.get_mut(&i) {
                e.1 += 1;
            }
            return i;
        }
        self.next_index += 1;
        let i = self.next_index;
        self.by_index.insert(i, (acls.to_vec(), 1));
        self.by_acl.insert(acls.to_vec(), i);
        i
    }

    /// Drops one use of `index`; the entry goes when unused.
    pub fn release(&mut self, index: i64) {
        if index == OPEN_UNSAFE_ACL_ID {
            return;
        }
        let gone = match self.by_index.get_mut(&index) {
            Some(e) => {
                e.1 = e.1.saturating_sub(1);
                e.1 == 0
            }
            None => false,
        };
        if gone {
            if let Some((acls, _)) = self.by_index.remove(&index) {
                self.by_acl.remove(&acls);
            }
        }
    }

    /// The ACL list behind an index (OPEN_ACL_UNSAFE for -1, empty if unknown).
    pub fn get(&self, index: i64) -> Vec<Acl> {
        if index == OPEN_UNSAFE_ACL_ID {
            return Acl::open_unsafe();
        }
        self.by_index.get(&index).map(|e| e.0.clone()).unwrap_or_default()
    }

    /// Visits the ACL list behind an index without cloning it.
    pub fn with<R>(&self, index: i64, f: impl FnOnce(&[Acl]) -> R) -> R {
        if index == OPEN_UNSAFE_ACL_ID {
            return f(&OPEN_UNSAFE);
        }
        match self.by_index.get(&index) {
            Some(e) => f(&e.0),
            None => f(&[]),
        }
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    pub(crate) fn entries_unsorted(&self) -> Vec<(i64, Vec<Acl>)> {
        self.by_index.iter().map(|(i, (a, _))| (*i, a.clone())).collect()
    }

    /// Loads a snapshot's ACL section: every entry with zero uses (nodes add theirs).
    pub fn load(&mut self, entries: Vec<(i64, Vec<Acl>)>) {
        self.by_index.clear();
        self.by_acl.clear();
        for (i, acls) in entries {
            self.next_index = self.next_index.max(i);
            self.by_acl.insert(acls.clone(), i);
            self.by_index.insert(i, (acls, 0));
        }
    }

    /// One more node uses `index` (unknown indexes are ignored, as ZooKeeper does).
    pub fn add_usage(&mut self, index: i64) {
        if let Some(e) = self.by_index.get_mut(&index) {
            e.1 += 1;
        }
    }

    /// Drops entries no node uses (`purgeUnused`).
    pub fn purge_unused(&mut self) {
        let unused: Vec<i64> = self.by_index.iter().filter(|(_, (_, n))| *n == 0).map(|(i, _)| *i).collect();
        for i in unused {
            if let Some((acls, _)) = self.by_index.remove(&i) {
                self.by_acl.remove(&acls);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
}

/// Settings of the ACL machinery.
#[derive(Debug, Clone, Default)]
pub struct AclConfig {
    /// `zookeeper.DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// `zookeeper.skipACL=yes`.
    pub skip_acl: bool,
}

/// Java's `String.split(sep)` count: trailing empty strings are dropped.
fn java_split_count(s: &str, sep: char) -> usize {
    let parts: Vec<&str> = s.split(sep).collect();
    let mut n = parts.len();
    while n > 0 && parts[n - 1].is_empty() {
        n -= 1;
    }
    // "".split(x) yields [""] in Java: one element.
    if s.is_empty() {
        1
    } else {
        n
    }
}

/// `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1("user:password"))`.
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(id_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

/// What a successful `addauth` adds to the connection's identities.
pub fn authenticate(config: &AclConfig, scheme: &str, auth: &[u8]) -> Result<Vec<Id>, KeeperError> {
    match scheme {
        "digest" => {
            let text = String::from_utf8_lossy(auth);
            let digest = generate_digest(&text);
            let mut ids = Vec::new();
            if config.super_digest.as_deref() == Some(digest.as_str()) {
                ids.push(Id { scheme: "super".into(), id: String::new() });
            }
            ids.push(Id { scheme: "digest".into(), id: digest });
            Ok(ids)
        }
        // The ip provider authenticates from the socket, not from an auth packet; ZooKeeper
        // adds the remote address again.
        _ => Err(KeeperError::AuthFailed),
    }
}

fn v4_bytes(addr: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        let v: i32 = p.parse().ok()?;
        if !(0..=255).contains(&v) {
            return None;
        }
        b[i] = v as u8;
    }
    Some(b)
}

fn ip_prefix(expr: &str) -> Option<([u8; 4], u32)> {
    let mut parts = expr.splitn(2, '/');
    let addr = v4_bytes(parts.next()?)?;
    let bits = match parts.next() {
        Some(b) => {
            let b: i32 = b.parse().ok()?;
            if !(0..=32).contains(&b) {
                return None;
            }
            b as u32
        }
        None => 32,
    };
    Some((addr, bits))
}

fn ip_matches(id: &str, expr: &str) -> bool {
    let (Some((acl, bits)), Some(remote)) = (ip_prefix(expr), v4_bytes(id)) else {
        return false;
    };
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    (u32::from_be_bytes(acl) & mask) == (u32::from_be_bytes(remote) & mask)
}

/// Whether a provider for `scheme` exists and accepts `id` (`AuthenticationProvider.isValid`).
fn is_valid(scheme: &str, id: &str) -> bool {
    match scheme {
        "digest" => java_split_count(id, ':') == 2,
        "ip" => ip_prefix(id).is_some(),
        _ => false,
    }
}

fn matches(scheme: &str, auth_id: &str, acl_id: &str) -> bool {
    match scheme {
        "digest" => auth_id == acl_id,
        "ip" => ip_matches(auth_id, acl_id),
        _ => false,
    }
}

/// `ZooKeeperServer.checkACL`: may the identities `ids` use `perm` on a node with `acl`?
pub fn check_acl(config: &AclConfig, acl: &[Acl], perm: i32, ids: &[Id]) -> Result<(), KeeperError> {
    if config.skip_acl || acl.is_empty() {
        return Ok(());
    }
    if ids.iter().any(|i| i.scheme == "super") {
        return Ok(());
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        if ids.iter().any(|i| i.scheme == a.id.scheme && matches(&a.id.scheme, &i.id, &a.id.id)) {
            return Ok(());
        }
    }
    Err(KeeperError::NoAuth)
}

/// `PrepRequestProcessor.fixupACL`: dedupe, validate, expand `auth` to the requester's ids.
pub fn fixup_acl(ids: &[Id], acls: &[Acl]) -> Result<Vec<Acl>, KeeperError> {
    let mut uniq: Vec<&Acl> = Vec::with_capacity(acls.len());
    for a in acls {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(KeeperError::InvalidAcl);
    }
    let mut out = Vec::with_capacity(uniq.len());
    for a in uniq {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a.clone());
        } else if a.id.scheme == "auth" {
            let mut any = false;
            for id in ids {
                // Only the digest provider reports isAuthenticated(); ip does not, and the
                // super identity has no provider.
                if id.scheme == "digest" {
                    any = true;
                    out.push(Acl { perms: a.perms, id: id.clone() });
                }
            }
            if !any {
                return Err(KeeperError::InvalidAcl);
            }
        } else if is_valid(&a.id.scheme, &a.id.id) {
            out.push(a.clone());
        } else {
            return Err(KeeperError::InvalidAcl);
        }
    }
    Ok(out)
}

/// The (scheme, user) pairs whoAmI reports (`AuthUtil.getClientInfos`).
pub fn client_infos(ids: &[Id]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| {
            let user = match id.scheme.as_str() {
                "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
                "ip" => id.id.clone(),
                _ => String::new(),
            };
            (id.scheme.clone(), user)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeeper() {
        // The super digest used by kazoo's and zookeeper-client's test harnesses.
        assert_eq!(generate_digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    }

    #[test]
    fn ip_cidr() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(ip_matches("127.0.0.9", "127.0.0.0/8"));
        assert!(!ip_matches("10.0.0.1", "127.0.0.0/8"));
        assert!(ip_matches("10.0.0.1", "0.0.0.0/0"));
        assert!(!is_valid("ip", "127.0.0.1/33"));
        assert!(!is_valid("ip", "1.2.3"));
    }

    #[test]
    fn digest_validity_follows_java_split() {
        assert!(is_valid("digest", "u:p"));
        assert!(is_valid("digest", ":p"));
        assert!(is_valid("digest", "u:p:"));
        assert!(!is_valid("digest", "u:"));
        assert!(!is_valid("digest", "u"));
        assert!(!is_valid("digest", "a:b:c"));
    }

    #[test]
    fn check_and_fixup() {
        let cfg = AclConfig::default();
        let ids = vec![Id { scheme: "ip".into(), id: "127.0.0.1".into() }];
        let acl = vec![Acl::new(1, "digest", "u:x")];
        assert_eq!(check_acl(&cfg, &acl, 1, &ids), Err(KeeperError::NoAuth));
        assert_eq!(fixup_acl(&ids, &[Acl::new(31, "auth", "")]), Err(KeeperError::InvalidAcl));
        let ids2 = vec![ids[0].clone(), Id { scheme: "digest".into(), id: "u:x".into() }];
        assert_eq!(check_acl(&cfg, &acl, 1, &ids2), Ok(()));
        assert_eq!(fixup_acl(&ids2, &[Acl::new(31, "auth", "")]).unwrap(), vec![Acl::new(31, "digest", "u:x")]);
        assert_eq!(fixup_acl(&ids2, &[]), Err(KeeperError::InvalidAcl));
        assert_eq!(fixup_acl(&ids2, &[Acl::new(31, "world", "nobody")]), Err(KeeperError::InvalidAcl));
    }
}
