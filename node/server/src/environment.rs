//! What the server says about itself and its machine: the version it reports where
//! ZooKeeper reports its own ([`ZK_VERSION`]), and ZooKeeper's `Environment.list()`
//! ([`environment`]) for `envi` and `/commands/environment`.
//!
//! A leaf: it reads only the process and /proc, nothing of the server, so the four-letter
//! words, `mntr`, `/status` and the AdminServer can all use it. It must never fail: an
//! unreadable entry is empty or ZooKeeper's "<NA>".

/// The version zab reports where ZooKeeper reports its own: clients parse the leading
/// `3.8.x` (kazoo's `server_version()` reads it from `envi`).
pub const ZK_VERSION: &str = concat!("3.8.0-zab-", env!("CARGO_PKG_VERSION"), ", built on 2026-11-21 00:00 UTC");

/// ZooKeeper's `Environment.list()`, for `envi` and `/commands/environment`. The java.*
/// entries have no meaning for a native server and say so with ZooKeeper's own "<NA>".
pub fn environment() -> Vec<(&'static str, String)> {
    let na = || "<NA>".to_string();
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned()).unwrap_or_default();
    let mb = |key: &str| meminfo(key).map(|b| format!("{}MB", b / (1024 * 1024))).unwrap_or_else(na);
    vec![
        ("zookeeper.version", ZK_VERSION.to_string()),
        ("host.name", hostname()),
        ("java.version", na()),
        ("java.vendor", na()),
        ("java.home", na()),
        ("java.class.path", na()),
        ("java.library.path", na()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", na()),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("os.version", read("/proc/sys/kernel/osrelease")),
        ("user.name", std::env::var("USER").unwrap_or_else(|_| na())),
        ("user.home", std::env::var("HOME").unwrap_or_else(|_| na())),
        ("user.dir", std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()),
        ("os.memory.free", mb("MemAvailable:")),
        ("os.memory.max", mb("MemTotal:")),
        ("os.memory.total", mb("MemTotal:")),
    ]
}

fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}
