//! Validation of a ZabEnsemble spec (pure): everything the API server's schema cannot
//! check, and the schema's checks again (a spec can predate the CRD's current rules, and
//! `kubectl scale` writes `spec.members` through the scale subresource). Each problem has a
//! condition reason and a message that says what to change. An invalid spec is never
//! applied: the operator keeps what runs and reports the problem.

use crate::crd::ZabEnsembleSpec;

/// One problem with a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Condition reason (CamelCase).
    pub reason: &'static str,
    /// What is wrong and what to change.
    pub message: String,
}

fn invalid(reason: &'static str, message: String) -> Invalid {
    Invalid { reason, message }
}

/// zoo.cfg keys the operator writes itself (the pod layout depends on them).
const MANAGED: &[&str] = &[
    "dataDir",
    "dataLogDir",
    "clientPort",
    "clientPortAddress",
    "admin.enableServer",
    "admin.serverAddress",
    "admin.serverPort",
    "quorumListenOnAllIPs",
    "peerType",
    "serverId",
    "standaloneEnabled",
    "dynamicConfigFile",
    "reconfigEnabled",
    // The operator's super user (a Secret it creates) runs the reconfigs of a scale.
    "DigestAuthenticationProvider.superDigest",
];

/// zoo.cfg keys with a typed field in `spec.config`.
const TYPED: &[(&str, &str)] = &[
    ("tickTime", "tickTime"),
    ("initLimit", "initLimit"),
    ("syncLimit", "syncLimit"),
    ("snapCount", "snapCount"),
    ("maxClientCnxns", "maxClientCnxns"),
    ("minSessionTimeout", "minSessionTimeout"),
    ("maxSessionTimeout", "maxSessionTimeout"),
    ("autopurge.snapRetainCount", "autopurge.snapRetainCount"),
    ("autopurge.purgeInterval", "autopurge.purgeInterval"),
    ("4lw.commands.whitelist", "fourLetterWords"),
];

/// The four-letter words ZooKeeper 3.8 knows (FourLetterCommands).
const FOUR_LETTER_WORDS: &[&str] = &[
    "*", "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst", "srvr",
    "stat", "stmk", "wchc", "wchp", "wchs",
];

/// Every problem of `spec`; empty when it is valid.
pub fn validate(spec: &ZabEnsembleSpec) -> Vec<Invalid> {
    let mut out = Vec::new();
    members(spec, &mut out);
    if spec.image.trim().is_empty() {
        out.push(invalid(
            "MissingImage",
            "spec.image is empty: set the zab-node image, e.g. localhost/zab-node:e2e".into(),
        ));
    }
    if !is_positive_quantity(&spec.storage.size) {
        out.push(invalid(
            "InvalidStorageSize",
            format!("spec.storage.size {:?} is not a positive quantity: write it like 1Gi or 500Mi", spec.storage.size),
        ));
    }
    config(spec, &mut out);
    pdb(spec, &mut out);
    let interval = &spec.metrics.service_monitor.interval;
    if !is_duration(interval) {
        out.push(invalid(
            "InvalidScrapeInterval",
            format!("spec.metrics.serviceMonitor.interval {interval:?} is not a duration: write it like 30s or 1m"),
        ));
    }
    out
}

fn members(spec: &ZabEnsembleSpec, out: &mut Vec<Invalid>) {
    if spec.members < 1 {
        out.push(invalid(
            "TooFewMembers",
            format!(
                "spec.members is {}: an ensemble needs at least 1 voting member (3 to survive a failure)",
                spec.members
            ),
        ));
    } else if spec.members % 2 == 0 {
        out.push(invalid(
            "EvenMembers",
            format!(
                "spec.members is {}: set an odd number ({} or {}); an even count tolerates no more failures than one less",
                spec.members,
                spec.members - 1,
                spec.members + 1
            ),
        ));
    }
    if spec.observers < 0 {
        out.push(invalid("NegativeObservers", format!("spec.observers is {}: set 0 or more", spec.observers)));
    }
}

fn config(spec: &ZabEnsembleSpec, out: &mut Vec<Invalid>) {
    let c = &spec.config;
    for (name, v) in [("tickTime", c.tick_time), ("initLimit", c.init_limit), ("syncLimit", c.sync_limit)] {
        if v < 1 {
            out.push(invalid("InvalidConfigValue", format!("spec.config.{name} is {v}: set 1 or more")));
        }
    }
    if let (Some(min), Some(max)) = (c.min_session_timeout, c.max_session_timeout) {
        if min > max {
            out.push(invalid(
                "InvalidSessionTimeouts",
                format!("spec.config.minSessionTimeout ({min}) is above maxSessionTimeout ({max}): lower it or raise the maximum"),
            ));
        }
    }
    if c.four_letter_words.is_empty() {
        out.push(invalid(
            "InvalidConfigValue",
            "spec.config.fourLetterWords is empty: list the words to answer (ruok, mntr, ...) or [\"*\"]".into(),
        ));
    }
    for w in &c.four_letter_words {
        if !FOUR_LETTER_WORDS.contains(&w.trim()) {
            out.push(invalid(
                "UnknownFourLetterWord",
                format!("spec.config.fourLetterWords has {w:?}: use words from {}", FOUR_LETTER_WORDS.join(", ")),
            ));
        }
    }
    for (key, value) in &c.additional {
        if let Some(p) = additional_key(key, value) {
            out.push(p);
        }
    }
}

/// Checks one free-form zoo.cfg entry against the keys zab-node knows.
fn additional_key(key: &str, value: &str) -> Option<Invalid> {
    let bad = |c: char| c == '\n' || c == '\r';
    if key.is_empty()
        || key.contains(bad)
        || key.contains('=')
        || key.contains(char::is_whitespace)
        || value.contains(bad)
    {
        return Some(invalid(
            "InvalidConfigValue",
            format!("spec.config.additional has {key:?}={value:?}: keys and values are one line; keys have no spaces or '='"),
        ));
    }
    let bare = key.strip_prefix("zookeeper.").unwrap_or(key);
    if bare.starts_with("server.") || bare.starts_with("group.") || bare.starts_with("weight.") {
        return Some(invalid(
            "ManagedConfigKey",
            format!("spec.config.additional has {key:?}: the operator writes the server list; set spec.members and spec.observers"),
        ));
    }
    if MANAGED.contains(&bare) {
        return Some(invalid(
            "ManagedConfigKey",
            format!(
                "spec.config.additional has {key:?}: the operator sets it (the pod layout depends on it); remove it"
            ),
        ));
    }
    if let Some((_, field)) = TYPED.iter().find(|(k, _)| *k == bare) {
        return Some(invalid(
            "ManagedConfigKey",
            format!("spec.config.additional has {key:?}: set spec.config.{field} instead"),
        ));
    }
    let known = zab_node::config::USED.contains(&bare) || zab_node::config::KNOWN.contains(&bare);
    if !known {
        return Some(invalid(
            "UnknownConfigKey",
            format!(
                "spec.config.additional has {key:?}, which zab-node does not know: check the spelling or remove it"
            ),
        ));
    }
    None
}

fn pdb(spec: &ZabEnsembleSpec, out: &mut Vec<Invalid>) {
    let p = &spec.pod_disruption_budget;
    if !p.enabled || spec.members < 1 {
        return;
    }
    // A majority of participants must stay; a single member has no failure tolerance at all,
    // and 1 still lets a node drain finish.
    let allowed = ((spec.members - 1) / 2).max(1);
    if p.max_unavailable > allowed {
        out.push(invalid(
            "PdbBreaksQuorum",
            format!(
                "spec.podDisruptionBudget.maxUnavailable is {}: with {} members at most {allowed} may be down and keep a quorum; lower it",
                p.max_unavailable, spec.members
            ),
        ));
    }
    if p.max_unavailable < 0 {
        out.push(invalid(
            "PdbBreaksQuorum",
            "spec.podDisruptionBudget.maxUnavailable is negative: set 0 or more".into(),
        ));
    }
}

/// A Kubernetes quantity above zero: digits with an optional fraction, then an optional
/// binary (Ki..Ei), decimal (n, u, m, k, M..E) or exponent suffix.
pub fn is_positive_quantity(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return false;
    }
    let suffix_ok = matches!(
        suffix,
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
        .is_some_and(|d| !d.is_empty() && d.len() <= 3 && d.bytes().all(|b| b.is_ascii_digit()));
    suffix_ok && num.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// A Prometheus duration like 30s, 1m, 500ms, 1h30m.
fn is_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"].into_iter().find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ZabEnsembleSpec;

    fn spec() -> ZabEnsembleSpec {
        serde_json::from_value(serde_json::json!({"members": 3, "image": "localhost/zab-node:e2e"})).unwrap()
    }

    fn reasons(s: &ZabEnsembleSpec) -> Vec<&'static str> {
        validate(s).into_iter().map(|i| i.reason).collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(validate(&spec()), vec![]);
    }

    #[test]
    fn even_and_zero_members_say_what_to_set() {
        let mut s = spec();
        s.members = 4;
        let p = validate(&s);
        assert_eq!(p[0].reason, "EvenMembers");
        assert!(p[0].message.contains("3 or 5"), "{}", p[0].message);
        s.members = 0;
        assert_eq!(reasons(&s), ["TooFewMembers"]);
        s.members = 1;
        s.observers = -1;
        assert_eq!(reasons(&s), ["NegativeObservers"]);
    }

    #[test]
    fn quantities() {
        for ok in ["1Gi", "500Mi", "1", "1.5Gi", "+2G", "1e3", "100k", "0.5Ti"] {
            assert!(is_positive_quantity(ok), "{ok}");
        }
        for bad in ["", "0", "0Gi", "1GB", "Gi", "-1Gi", "1.2.3", "1 Gi", "ten", "1e", "."] {
            assert!(!is_positive_quantity(bad), "{bad}");
        }
        let mut s = spec();
        s.storage.size = "1GB".into();
        let p = validate(&s);
        assert_eq!(p[0].reason, "InvalidStorageSize");
        assert!(p[0].message.contains("1Gi"));
    }

    #[test]
    fn additional_keys_are_checked_against_zab_node() {
        let mut s = spec();
        s.config.additional.insert("jute.maxbuffer".into(), "1048576".into());
        s.config.additional.insert("zookeeper.forceSync".into(), "no".into());
        s.config.additional.insert("electionAlg".into(), "3".into());
        assert_eq!(validate(&s), vec![]);
        for (k, v, reason, hint) in [
            ("jute.maxbufer", "1", "UnknownConfigKey", "spelling"),
            ("dataDir", "/tmp", "ManagedConfigKey", "remove it"),
            ("server.4", "x:1:2", "ManagedConfigKey", "spec.members"),
            ("tickTime", "100", "ManagedConfigKey", "spec.config.tickTime"),
            ("4lw.commands.whitelist", "ruok", "ManagedConfigKey", "fourLetterWords"),
            ("skipACL", "yes\nserver.9=evil:1:2", "InvalidConfigValue", "one line"),
            ("bad key", "1", "InvalidConfigValue", "no spaces"),
        ] {
            let mut s = spec();
            s.config.additional.insert(k.into(), v.into());
            let p = validate(&s);
            assert_eq!(p.len(), 1, "{k}: {p:?}");
            assert_eq!(p[0].reason, reason, "{k}");
            assert!(p[0].message.contains(hint), "{k}: {}", p[0].message);
        }
    }

    #[test]
    fn config_values() {
        let mut s = spec();
        s.config.min_session_timeout = Some(10_000);
        s.config.max_session_timeout = Some(5_000);
        s.config.four_letter_words = vec!["ruok".into(), "rouk".into()];
        s.config.tick_time = 0;
        assert_eq!(reasons(&s), ["InvalidConfigValue", "InvalidSessionTimeouts", "UnknownFourLetterWord"]);
    }

    #[test]
    fn pdb_must_leave_a_quorum() {
        let mut s = spec();
        s.pod_disruption_budget.max_unavailable = 2;
        let p = validate(&s);
        assert_eq!(p[0].reason, "PdbBreaksQuorum");
        assert!(p[0].message.contains("at most 1"));
        s.members = 5;
        assert_eq!(validate(&s), vec![]);
        s.pod_disruption_budget.enabled = false;
        s.members = 3;
        assert_eq!(validate(&s), vec![]);
    }

    #[test]
    fn scrape_interval_and_image() {
        let mut s = spec();
        s.metrics.service_monitor.interval = "30 seconds".into();
        s.image = " ".into();
        assert_eq!(reasons(&s), ["MissingImage", "InvalidScrapeInterval"]);
        for ok in ["30s", "1m", "500ms", "1h30m"] {
            assert!(is_duration(ok), "{ok}");
        }
    }
}
