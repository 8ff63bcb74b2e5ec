//! Tests of zoo.cfg parsing and validation: the settings ZooKeeper accepts, the ones it
//! refuses, and the defaults.

use super::*;

fn build(text: &str) -> Result<ServerConfig, ConfigError> {
    let dir = std::env::temp_dir().join(format!("zabcfg-{}-{}", std::process::id(), text.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("zoo.cfg");
    std::fs::write(&p, text).unwrap();
    let mut b = ConfigBuilder::default();
    b.load_file(&p)?;
    let r = b.build(ServerConfig::default());
    std::fs::remove_dir_all(&dir).unwrap();
    r
}

#[test]
fn reads_zookeeper_keys_with_and_without_prefix() {
    let c = build(
        "tickTime=2000\n# comment\ndataDir=/tmp/zk\nclientPort=2182\nzookeeper.extendedTypesEnabled=true\n\
         jute.maxbuffer=4096\n4lw.commands.whitelist=ruok, srvr\nserver.1=a:2888:3888\nsomethingNew=1\n",
    )
    .unwrap();
    assert_eq!(c.tick_time, 2000);
    assert_eq!(c.client_port, 2182);
    assert!(c.extended_types);
    assert_eq!(c.max_buffer, 4096);
    assert_eq!(c.min_session_timeout, 4000);
    assert_eq!(c.max_session_timeout, 40000);
    assert_eq!(c.data_log_dir, PathBuf::from("/tmp/zk"));
    assert!(c.four_letter_whitelist.unwrap().contains("ruok"));
    assert_eq!(c.servers.get(&1).map(String::as_str), Some("a:2888:3888"));
}

#[test]
fn bad_value_names_key_and_line() {
    let e = build("tickTime=2000\nclientPort=lots\n").unwrap_err().to_string();
    assert!(e.contains("clientPort") && e.contains("line 2"), "{e}");
}

/// A quorum member's directory: zoo.cfg (with `{dir}` replaced), dataDir/myid 1 and any
/// extra files.
fn member_dir(name: &str, cfg: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zabcfg-dyn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/myid"), "1\n").unwrap();
    let d = dir.display().to_string();
    std::fs::write(dir.join("zoo.cfg"), cfg.replace("{dir}", &d)).unwrap();
    for (f, text) in files {
        std::fs::write(dir.join(f), text.replace("{dir}", &d)).unwrap();
    }
    dir
}

fn build_in(dir: &Path) -> Result<ServerConfig, ConfigError> {
    let mut b = ConfigBuilder::default();
    b.load_file(&dir.join("zoo.cfg"))?;
    b.build(ServerConfig::default())
}

const BASE: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={dir}/data\nreconfigEnabled=true\n";
const SERVERS: &str = "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n\
                       server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
                       server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183\n";

#[test]
fn servers_and_version_from_the_dynamic_file() {
    let cfg = format!("{BASE}dynamicConfigFile={{dir}}/zoo.cfg.dynamic.2a\n");
    let dir = member_dir("read", &cfg, &[("zoo.cfg.dynamic.2a", SERVERS)]);
    let c = build_in(&dir).unwrap();
    assert!(c.reconfig_enabled && c.standalone_enabled);
    assert_eq!(c.dynamic_config_file, Some(dir.join("zoo.cfg.dynamic.2a")));
    let q = c.quorum.as_ref().unwrap();
    assert_eq!((q.myid, q.view.version, q.view.servers.len()), (1, 0x2a, 3));
    assert_eq!(c.client_port, 2181, "from this member's server line");
    assert!(q.last_seen.is_none());
    assert!(q.view.to_text().ends_with("version=2a"));
    // A next file is the last seen configuration.
    let next = format!("{}version=100000000", SERVERS.replace("server.3", "server.4"));
    std::fs::write(dir.join("zoo.cfg.dynamic.next"), next).unwrap();
    let c = build_in(&dir).unwrap();
    let seen = c.quorum.unwrap().last_seen.unwrap();
    assert_eq!((seen.version, seen.servers.contains_key(&4)), (0x1_0000_0000, true));
    // No backup for a member with a dynamic file.
    assert_eq!(dynamic::on_start(&build_in(&dir).unwrap()).unwrap(), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dynamic_file_without_version_in_its_name_is_version_0() {
    let cfg = format!("{BASE}dynamicConfigFile={{dir}}/servers\n");
    let dir = member_dir("noversion", &cfg, &[("servers", SERVERS)]);
    assert_eq!(build_in(&dir).unwrap().quorum.unwrap().view.version, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dynamic_config_errors_name_the_file_and_line() {
    let err = |name: &str, cfg: &str, files: &[(&str, &str)]| {
        let dir = member_dir(name, cfg, files);
        let e = build_in(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        e
    };
    let cfg = format!("{BASE}dynamicConfigFile={{dir}}/zoo.cfg.dynamic.1\nserver.1=127.0.0.1:1:2\n");
    let e = err("both", &cfg, &[("zoo.cfg.dynamic.1", SERVERS)]);
    assert!(e.contains("server.1") && e.contains("line 7") && e.contains("dynamic config file"), "{e}");
    let cfg = format!("{BASE}dynamicConfigFile={{dir}}/zoo.cfg.dynamic.1\n");
    let e = err("badline", &cfg, &[("zoo.cfg.dynamic.1", "server.1=127.0.0.1:1:2\nserver.2=nohost\n")]);
    assert!(e.contains("zoo.cfg.dynamic.1 line 2"), "{e}");
    let e = err("missing", &cfg, &[]);
    assert!(e.contains("cannot read") && e.contains("zoo.cfg.dynamic.1"), "{e}");
    let cfg = format!("{BASE}clientPort=2999\ndynamicConfigFile={{dir}}/zoo.cfg.dynamic.1\n");
    let e = err("clientport", &cfg, &[("zoo.cfg.dynamic.1", SERVERS)]);
    assert!(e.contains("clientPort") && e.contains("id = 1"), "{e}");
    // The same port as the server line is fine.
    let cfg = format!("{BASE}clientPort=2181\ndynamicConfigFile={{dir}}/zoo.cfg.dynamic.1\n");
    let dir = member_dir("sameport", &cfg, &[("zoo.cfg.dynamic.1", SERVERS)]);
    assert_eq!(build_in(&dir).unwrap().client_port, 2181);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn static_servers_with_reconfig_enabled_back_up_zoo_cfg() {
    let cfg = format!("{BASE}clientPort=2181\n{}", SERVERS.replace(";127.0.0.1:218", ";218"));
    let dir = member_dir("bak", &cfg, &[]);
    let c = build_in(&dir).unwrap();
    assert_eq!(c.quorum.as_ref().unwrap().view.version, 0);
    assert_eq!(dynamic::on_start(&c).unwrap(), Some(dir.join("zoo.cfg.bak")));
    assert_eq!(std::fs::read(dir.join("zoo.cfg.bak")).unwrap(), std::fs::read(dir.join("zoo.cfg")).unwrap());
    // Not without reconfigEnabled.
    std::fs::remove_file(dir.join("zoo.cfg.bak")).unwrap();
    let off = ServerConfig { reconfig_enabled: false, ..c };
    assert_eq!(dynamic::on_start(&off).unwrap(), None);
    assert!(!dir.join("zoo.cfg.bak").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn standalone_enabled_is_exposed() {
    let c = build("tickTime=2000\nstandaloneEnabled=false\nreconfigEnabled=yes\n").unwrap();
    assert!(!c.standalone_enabled && c.reconfig_enabled);
    assert!(build("tickTime=2000\n").unwrap().standalone_enabled);
    assert!(!build("tickTime=2000\n").unwrap().reconfig_enabled);
}
