//! `zab-node --seed-config SEED --config CFG`: a member whose zoo.cfg comes from a read-only
//! place (a Kubernetes ConfigMap) but must live where it can be rewritten, because with
//! `reconfigEnabled=true` a member writes `<cfg>.dynamic.<version>` next to zoo.cfg and
//! rewrites zoo.cfg to name it ([`super::dynamic::activate`]).
//!
//! Before zoo.cfg is read, CFG is made from SEED:
//! - CFG does not exist (a new member, or one whose volume was lost): a byte copy of SEED.
//! - CFG names a `dynamicConfigFile` that exists and whose version (from its name) is newer
//!   than SEED's (0 when SEED lists the servers itself): the configuration a reconfig put in
//!   force on this member is kept, every other setting is taken from SEED
//!   (`editStaticConfig`'s text over SEED, naming the kept file).
//! - Otherwise: CFG is replaced by a copy of SEED (SEED's settings changed, no newer
//!   dynamic configuration on this member).
//!
//! Every write is atomic ([`super::dynamic::write_atomically`]); reads are bounded.

use std::path::{Path, PathBuf};

use super::dynamic::{self, DynamicConfigError};
use super::java_properties;

/// What [`from_seed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// CFG did not exist: SEED copied.
    Copied,
    /// CFG replaced by SEED.
    Refreshed,
    /// SEED's settings with this member's newer dynamic configuration file.
    KeptDynamic { file: PathBuf, version: i64 },
}

fn value_of(text: &str, key: &str) -> Option<String> {
    java_properties::parse(text).into_iter().rev().find(|p| p.key.trim() == key).map(|p| p.value.trim().to_owned())
}

fn has_key(text: &str, key: &str) -> bool {
    java_properties::parse(text).iter().any(|p| p.key.trim() == key)
}

/// The version of the configuration a zoo.cfg text carries: its `dynamicConfigFile`'s (from
/// the name), 0 when the servers are in the file itself.
fn version_of(text: &str) -> i64 {
    value_of(text, "dynamicConfigFile").and_then(|p| dynamic::version_from_filename(Path::new(&p))).unwrap_or(0)
}

/// Makes `config` from `seed` (see the module doc).
pub fn from_seed(seed: &Path, config: &Path) -> Result<Seeded, DynamicConfigError> {
    let seed_text = dynamic::read_bounded(seed)?;
    if let Some(dir) = config.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DynamicConfigError::Write { path: dir.to_owned(), source })?;
    }
    if !config.exists() {
        dynamic::write_atomically(config, seed_text.as_bytes())?;
        return Ok(Seeded::Copied);
    }
    let own = dynamic::read_bounded(config)?;
    if let Some(file) = value_of(&own, "dynamicConfigFile").map(PathBuf::from) {
        let version = dynamic::version_from_filename(&file).unwrap_or(0);
        if file.is_file() && version > version_of(&seed_text) {
            // activate() erased clientPort when this member's server line carries it.
            let erase_client_port = !has_key(&own, "clientPort");
            let text = dynamic::edited_static_text(&seed_text, &file, erase_client_port);
            dynamic::write_atomically(config, text.as_bytes())?;
            return Ok(Seeded::KeptDynamic { file, version });
        }
    }
    dynamic::write_atomically(config, seed_text.as_bytes())?;
    Ok(Seeded::Refreshed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zab-seed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const SEED: &str = "tickTime=2000\nclientPort=2181\nreconfigEnabled=true\nserver.1=a:2888:3888:participant\n";

    #[test]
    fn copies_then_refreshes_then_keeps_a_newer_dynamic_file() {
        let d = dir("cycle");
        let (seed, cfg) = (d.join("seed.cfg"), d.join("conf/zoo.cfg"));
        std::fs::write(&seed, SEED).unwrap();
        assert_eq!(from_seed(&seed, &cfg).unwrap(), Seeded::Copied);
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), SEED);

        let changed = SEED.replace("2000", "3000");
        std::fs::write(&seed, &changed).unwrap();
        assert_eq!(from_seed(&seed, &cfg).unwrap(), Seeded::Refreshed);
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), changed);

        // A reconfig activated version 0x100000003 on this member.
        let dynf = d.join("conf/zoo.cfg.dynamic.100000003");
        std::fs::write(&dynf, "server.1=a:2888:3888:participant\nserver.2=b:2888:3888:participant").unwrap();
        std::fs::write(&cfg, dynamic::edited_static_text(&changed, &dynf, false)).unwrap();
        std::fs::write(&seed, SEED.replace("2000", "4000")).unwrap();
        assert_eq!(from_seed(&seed, &cfg).unwrap(), Seeded::KeptDynamic { file: dynf.clone(), version: 0x100000003 });
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.contains("tickTime=4000") && text.contains("clientPort=2181"), "{text}");
        assert!(!text.contains("server.1"), "{text}");
        assert!(text.ends_with(&format!("dynamicConfigFile={}\n", dynf.display())), "{text}");

        // The dynamic file is gone: start over from the seed.
        std::fs::remove_file(&dynf).unwrap();
        assert_eq!(from_seed(&seed, &cfg).unwrap(), Seeded::Refreshed);
    }

    #[test]
    fn a_missing_seed_is_an_error_naming_it() {
        let d = dir("missing");
        let e = from_seed(&d.join("nope"), &d.join("zoo.cfg")).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
