//! What zab-node's binary decides before it reads its configuration, kept apart from
//! `main.rs` so it can be unit-tested: the member id taken from a StatefulSet pod's hostname
//! (`--myid-from-hostname`: hostname `zab-2` is myid 3, written to `dataDir/myid`), and the
//! reading of environment variables that Kubernetes service links can also set (a Service
//! `zab-client` injects `ZAB_CLIENT_PORT=tcp://10.96.13.120:2181` into every pod of its
//! namespace). It must never overwrite a `myid` file that names another member, and a
//! service-link value must never stop startup.

use std::path::{Path, PathBuf};

/// Why the binary cannot decide its member id or a port before reading its configuration.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    #[error("{0}; set HOSTNAME to the pod name")]
    Hostname(String),
    #[error(
        "hostname {0:?} does not end in -N (a StatefulSet pod ordinal); \
         run without --myid-from-hostname and write dataDir/myid yourself"
    )]
    NoOrdinal(String),
    #[error("hostname {hostname:?}: ordinal {ordinal:?} is not a number")]
    BadOrdinal { hostname: String, ordinal: String },
    #[error(
        "{} holds {existing:?} but hostname {hostname:?} gives myid {myid}: this data directory \
         belongs to another member. Attach the volume to the pod it belongs to, or, if the data \
         may go, delete {} (or the whole volume) and start again",
        path.display(),
        path.display()
    )]
    MyidOfAnotherMember { path: PathBuf, existing: String, hostname: String, myid: u64 },
    /// Reading or writing `dataDir/myid` failed; `what` says which step and what to check.
    #[error("{what}: {detail}; {fix}")]
    MyidFile { what: String, detail: String, fix: &'static str },
    #[error("{var}={value:?} is not a port number (0-65535); fix or unset {var}")]
    BadPort { var: String, value: String },
}

/// The hostname to take the ordinal from: `HOSTNAME` when set (Kubernetes sets it to the pod
/// name; tests set it), else the kernel's hostname (gethostname).
pub fn hostname() -> Result<String, StartupError> {
    if let Ok(h) = std::env::var("HOSTNAME") {
        if !h.trim().is_empty() {
            return Ok(h.trim().to_owned());
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that many
    // bytes and we read up to the first NUL (or the whole buffer when it is full).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(StartupError::Hostname(format!("gethostname failed: {}", std::io::Error::last_os_error())));
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).map_err(|_| StartupError::Hostname("the hostname is not UTF-8".to_owned()))
}

/// The myid of a StatefulSet pod: its hostname's trailing `-N` ordinal plus one (pod `zab-0`
/// is server.1). A fully qualified name counts by its first label.
pub fn myid_from_hostname(hostname: &str) -> Result<u64, StartupError> {
    let label = hostname.split('.').next().unwrap_or_default();
    let ordinal = label
        .rsplit_once('-')
        .map(|(_, n)| n)
        .filter(|n| !n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| StartupError::NoOrdinal(hostname.to_owned()))?;
    let n: u64 = ordinal
        .parse()
        .map_err(|_| StartupError::BadOrdinal { hostname: hostname.to_owned(), ordinal: ordinal.to_owned() })?;
    Ok(n + 1)
}

/// Makes `dataDir/myid` hold `myid`: writes it when absent (through a temporary file and a
/// rename, so a crash leaves no half-written file); accepts it when it already says the same;
/// refuses when it says something else (the volume belongs to another member).
pub fn ensure_myid_file(data_dir: &Path, myid: u64, hostname: &str) -> Result<(), StartupError> {
    let path = data_dir.join("myid");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let existing = text.trim();
            if existing.parse::<u64>().ok() == Some(myid) {
                return Ok(());
            }
            Err(StartupError::MyidOfAnotherMember {
                path,
                existing: existing.to_owned(),
                hostname: hostname.to_owned(),
                myid,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(|e| StartupError::MyidFile {
                what: format!("creating dataDir {}", data_dir.display()),
                detail: e.to_string(),
                fix: "check the path and its permissions",
            })?;
            let tmp = data_dir.join("myid.tmp");
            std::fs::write(&tmp, format!("{myid}\n")).and_then(|()| std::fs::rename(&tmp, &path)).map_err(|e| {
                StartupError::MyidFile {
                    what: format!("writing {}", path.display()),
                    detail: e.to_string(),
                    fix: "check that dataDir is writable",
                }
            })
        }
        Err(e) => Err(StartupError::MyidFile {
            what: format!("reading {}", path.display()),
            detail: e.to_string(),
            fix: "check its permissions",
        }),
    }
}

/// What an environment variable for a port holds.
#[derive(Debug, PartialEq, Eq)]
pub enum EnvPort {
    Port(u16),
    /// A Kubernetes service link (`tcp://10.96.13.120:2181`): not meant for zab-node.
    ServiceLink,
}

/// Reads a port from an environment variable's value: a number is a port; a value shaped like
/// a service link (`tcp://`, `udp://` or `sctp://` then host:port) is recognised so the caller
/// can ignore it with a warning; anything else is an error naming the variable.
pub fn parse_env_port(var: &str, value: &str) -> Result<EnvPort, StartupError> {
    let v = value.trim();
    if let Ok(p) = v.parse::<u16>() {
        return Ok(EnvPort::Port(p));
    }
    let link = ["tcp://", "udp://", "sctp://"].iter().find_map(|s| v.strip_prefix(s));
    if let Some(rest) = link {
        if rest.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
            return Ok(EnvPort::ServiceLink);
        }
    }
    Err(StartupError::BadPort { var: var.to_owned(), value: value.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinal_plus_one() {
        assert_eq!(myid_from_hostname("zab-0"), Ok(1));
        assert_eq!(myid_from_hostname("zab-2"), Ok(3));
        assert_eq!(myid_from_hostname("my-zab-ensemble-14"), Ok(15));
        assert_eq!(myid_from_hostname("zab-1.zab-headless.ns.svc.cluster.local"), Ok(2));
    }

    #[test]
    fn hostnames_without_an_ordinal_are_refused() {
        for h in ["zab", "zab-", "zab-a", "zab-1x", "", "-", "zab-99999999999", "zab.ns-1"] {
            let e = myid_from_hostname(h).expect_err(h).to_string();
            assert!(e.contains("myid") || e.contains("ordinal"), "{h}: {e}");
        }
    }

    #[test]
    fn myid_file_written_when_absent_and_kept_when_equal() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        ensure_myid_file(&data, 3, "zab-2").unwrap();
        assert_eq!(std::fs::read_to_string(data.join("myid")).unwrap(), "3\n");
        assert!(!data.join("myid.tmp").exists());
        std::fs::write(data.join("myid"), "3").unwrap();
        ensure_myid_file(&data, 3, "zab-2").unwrap();
        assert_eq!(std::fs::read_to_string(data.join("myid")).unwrap(), "3");
    }

    #[test]
    fn myid_file_that_differs_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("myid"), "1\n").unwrap();
        let e = ensure_myid_file(dir.path(), 3, "zab-2").unwrap_err().to_string();
        assert!(e.contains("holds \"1\"") && e.contains("myid 3") && e.contains("delete"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.path().join("myid")).unwrap(), "1\n");
        std::fs::write(dir.path().join("myid"), "garbage").unwrap();
        assert!(ensure_myid_file(dir.path(), 3, "zab-2").is_err());
    }

    #[test]
    fn service_link_values_are_recognised_not_fatal() {
        assert_eq!(parse_env_port("ZAB_CLIENT_PORT", "2182"), Ok(EnvPort::Port(2182)));
        assert_eq!(parse_env_port("ZAB_CLIENT_PORT", "tcp://10.96.13.120:2181"), Ok(EnvPort::ServiceLink));
        assert_eq!(parse_env_port("ZAB_CLIENT_PORT", "udp://[fd00::1]:53"), Ok(EnvPort::ServiceLink));
        assert!(parse_env_port("ZAB_CLIENT_PORT", "tcp://nohost").is_err());
        let e = parse_env_port("ZAB_CLIENT_PORT", "abc").unwrap_err().to_string();
        assert!(e.contains("ZAB_CLIENT_PORT") && e.contains("unset"), "{e}");
    }
}
