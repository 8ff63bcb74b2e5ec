//! Builders from YAML fixtures (`tests/fixtures/*.yaml`): each fixture is a ZabEnsemble as
//! a user writes it; the tests assert on the objects the operator would apply.

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use zab_operator::build::{
    build_all, build_layout, configmap, BuildError, Built, Layout, Membership, Names, CONFIG_HASH_ANNOTATION,
};
use zab_operator::crd::ZabEnsemble;

fn fixture(name: &str) -> ZabEnsemble {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn built(name: &str, sm_crd: bool) -> (ZabEnsemble, Built) {
    let ens = fixture(name);
    let m = Membership { members: ens.spec.members as u32, observers: ens.spec.observers as u32 };
    let b = build_all(&ens, m, sm_crd).unwrap();
    (ens, b)
}

fn zoo_cfg(b: &Built) -> BTreeMap<String, String> {
    let text = &b.configmap.data.as_ref().unwrap()[configmap::ZOO_CFG];
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[test]
fn minimal_statefulset_is_ondelete_parallel_non_root() {
    let (_, b) = built("minimal.yaml", false);
    let sts = &b.statefulset;
    assert_eq!(sts.metadata.name.as_deref(), Some("zk"));
    assert_eq!(sts.metadata.namespace.as_deref(), Some("prod"));
    let owner = &sts.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("ZabEnsemble", "zk", Some(true)));
    let spec = &sts.spec;
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.service_name.as_deref(), Some("zk-headless"));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    assert_eq!(spec.update_strategy.as_ref().unwrap().type_.as_deref(), Some("OnDelete"));
    let retention = spec.persistent_volume_claim_retention_policy.as_ref().unwrap();
    assert_eq!((retention.when_deleted.as_deref(), retention.when_scaled.as_deref()), (Some("Retain"), Some("Retain")));

    let tmpl = &spec.template;
    let ann = tmpl.metadata.as_ref().unwrap().annotations.as_ref().unwrap();
    assert_eq!(ann[CONFIG_HASH_ANNOTATION], b.config_hash);
    let pod = tmpl.spec.as_ref().unwrap();
    assert_eq!(pod.enable_service_links, Some(false));
    let psc = pod.security_context.as_ref().unwrap();
    assert_eq!(
        (psc.run_as_user, psc.run_as_group, psc.fs_group, psc.run_as_non_root),
        (Some(65532), Some(65532), Some(65532), Some(true))
    );
    let anti = pod.affinity.as_ref().unwrap().pod_anti_affinity.as_ref().unwrap();
    let pref = &anti.preferred_during_scheduling_ignored_during_execution.as_ref().unwrap()[0];
    assert_eq!(pref.pod_affinity_term.topology_key, "kubernetes.io/hostname");
    assert!(
        anti.required_during_scheduling_ignored_during_execution.is_none(),
        "anti-affinity must be preferred, not required"
    );

    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("localhost/zab-node:e2e"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        c.args.as_ref().unwrap(),
        &[
            "--config",
            "/data/conf/zoo.cfg",
            "--seed-config",
            "/etc/zab/zoo.cfg",
            "--myid-from-hostname",
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=$(ZAB_SUPER_DIGEST)"
        ]
    );
    let env = &c.env.as_ref().unwrap()[0];
    let secret = env.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
    assert_eq!(
        (env.name.as_str(), secret.name.as_str(), secret.key.as_str()),
        ("ZAB_SUPER_DIGEST", "zk-super", "digest")
    );
    let ports: Vec<(String, i32)> =
        c.ports.as_ref().unwrap().iter().map(|p| (p.name.clone().unwrap(), p.container_port)).collect();
    assert_eq!(
        ports,
        [("client".into(), 2181), ("quorum".into(), 2888), ("election".into(), 3888), ("admin".into(), 8080)]
    );
    let live = c.liveness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
    let ready = c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
    assert_eq!((live.path.as_deref(), &live.port), (Some("/healthz"), &IntOrString::String("admin".into())));
    assert_eq!(ready.path.as_deref(), Some("/readyz"));
    let csc = c.security_context.as_ref().unwrap();
    assert_eq!((csc.read_only_root_filesystem, csc.allow_privilege_escalation), (Some(true), Some(false)));
    let mounts: Vec<(&str, bool)> = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.mount_path.as_str(), m.read_only.unwrap_or(false)))
        .collect();
    assert_eq!(mounts, [("/data", false), ("/etc/zab", true)]);

    let pvc = &spec.volume_claim_templates.as_ref().unwrap()[0];
    let req = pvc.spec.as_ref().unwrap().resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert_eq!(req["storage"].0, "1Gi");
    assert_eq!(pvc.spec.as_ref().unwrap().storage_class_name, None);
}

#[test]
fn minimal_zoo_cfg_lists_every_member_by_dns() {
    let (_, b) = built("minimal.yaml", false);
    let cfg = zoo_cfg(&b);
    assert_eq!(cfg["server.1"], "zk-0.zk-headless.prod.svc.cluster.local:2888:3888:participant");
    assert_eq!(cfg["server.3"], "zk-2.zk-headless.prod.svc.cluster.local:2888:3888:participant");
    assert!(!cfg.contains_key("server.4"));
    for (k, v) in [
        ("tickTime", "2000"),
        ("initLimit", "10"),
        ("syncLimit", "5"),
        ("dataDir", "/data"),
        ("clientPort", "2181"),
        ("admin.serverPort", "8080"),
        ("quorumListenOnAllIPs", "true"),
        ("reconfigEnabled", "true"),
        ("4lw.commands.whitelist", "*"),
        ("snapCount", "100000"),
        ("autopurge.snapRetainCount", "3"),
        ("maxClientCnxns", "60"),
    ] {
        assert_eq!(cfg.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert!(!cfg.contains_key("standaloneEnabled"));
}

#[test]
fn services_pdb_and_monitor_of_the_minimal_ensemble() {
    let (_, b) = built("minimal.yaml", true);
    let h = b.headless.spec.as_ref().unwrap();
    assert_eq!(b.headless.metadata.name.as_deref(), Some("zk-headless"));
    assert_eq!(h.cluster_ip.as_deref(), Some("None"));
    assert_eq!(h.publish_not_ready_addresses, Some(true));
    assert_eq!(h.ports.as_ref().unwrap().len(), 4);
    let c = b.client.spec.as_ref().unwrap();
    assert_eq!(c.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(c.ports.as_ref().unwrap()[0].port, 2181);
    assert_eq!(c.publish_not_ready_addresses, None, "clients reach ready members only");
    let pdb = b.pdb.as_ref().unwrap().spec.as_ref().unwrap();
    assert_eq!(pdb.max_unavailable, Some(IntOrString::Int(1)));
    let sm = b.service_monitor.as_ref().unwrap();
    assert_eq!(sm.types.as_ref().unwrap().kind, "ServiceMonitor");
    assert_eq!(sm.data["spec"]["endpoints"][0]["port"], "admin");
    assert_eq!(sm.data["spec"]["selector"]["matchLabels"]["zab.io/service"], "headless");
    assert_eq!(b.headless.metadata.labels.as_ref().unwrap()["zab.io/service"], "headless");
}

#[test]
fn no_service_monitor_without_its_crd() {
    let (_, b) = built("minimal.yaml", false);
    assert!(b.service_monitor.is_none());
}

#[test]
fn overrides_reach_the_pod_services_and_storage() {
    let (_, b) = built("overrides.yaml", true);
    let spec = &b.statefulset.spec;
    assert_eq!(spec.replicas, Some(7));
    let tmpl = &spec.template;
    let meta = tmpl.metadata.as_ref().unwrap();
    let labels = meta.labels.as_ref().unwrap();
    assert_eq!(labels["team"], "payments");
    assert_eq!(labels["app.kubernetes.io/name"], "zab-node", "the selector labels stay the operator's");
    assert_eq!(meta.annotations.as_ref().unwrap()["backup.example/enabled"], "true");
    let pod = tmpl.spec.as_ref().unwrap();
    assert!(pod.affinity.as_ref().unwrap().node_affinity.is_some());
    assert!(pod.affinity.as_ref().unwrap().pod_anti_affinity.is_none(), "a user affinity replaces the default");
    assert_eq!(pod.tolerations.as_ref().unwrap()[0].key.as_deref(), Some("dedicated"));
    assert_eq!(pod.node_selector.as_ref().unwrap()["pool"], "zab");
    assert_eq!(pod.topology_spread_constraints.as_ref().unwrap()[0].topology_key, "topology.kubernetes.io/zone");
    assert_eq!(pod.priority_class_name.as_deref(), Some("critical"));
    assert_eq!(pod.security_context.as_ref().unwrap().run_as_user, Some(1000));
    let c = &pod.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0, "2Gi");
    let pvc = spec.volume_claim_templates.as_ref().unwrap()[0].spec.as_ref().unwrap();
    assert_eq!(pvc.storage_class_name.as_deref(), Some("fast-ssd"));
    assert_eq!(pvc.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0, "20Gi");
    let r = spec.persistent_volume_claim_retention_policy.as_ref().unwrap();
    assert_eq!(r.when_deleted.as_deref(), Some("Delete"));

    let svc = &b.client;
    assert_eq!(svc.spec.as_ref().unwrap().type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(svc.metadata.annotations.as_ref().unwrap()["lb.example/internal"], "true");
    assert_eq!(b.pdb.as_ref().unwrap().spec.as_ref().unwrap().max_unavailable, Some(IntOrString::Int(2)));
    let sm = b.service_monitor.as_ref().unwrap();
    assert_eq!(sm.metadata.labels.as_ref().unwrap()["release"], "prom");
    assert_eq!(sm.data["spec"]["endpoints"][0]["interval"], "15s");
}

#[test]
fn overrides_zoo_cfg_has_typed_and_additional_settings_and_observers() {
    let (_, b) = built("overrides.yaml", false);
    let cfg = zoo_cfg(&b);
    for (k, v) in [
        ("tickTime", "1000"),
        ("initLimit", "20"),
        ("syncLimit", "4"),
        ("snapCount", "50000"),
        ("maxClientCnxns", "0"),
        ("minSessionTimeout", "4000"),
        ("maxSessionTimeout", "60000"),
        ("autopurge.snapRetainCount", "5"),
        ("autopurge.purgeInterval", "12"),
        ("4lw.commands.whitelist", "ruok,mntr,srvr"),
        ("jute.maxbuffer", "4194304"),
        ("zookeeper.globalOutstandingLimit", "2000"),
    ] {
        assert_eq!(cfg.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(cfg["server.5"], "orders-4.orders-headless.shop.svc.cluster.local:2888:3888:participant");
    assert_eq!(cfg["server.6"], "orders-5.orders-headless.shop.svc.cluster.local:2888:3888:observer");
    assert_eq!(cfg["server.7"], "orders-6.orders-headless.shop.svc.cluster.local:2888:3888:observer");
}

#[test]
fn disabled_pdb_and_monitor_are_not_built() {
    let (_, b) = built("no-pdb-no-monitor.yaml", true);
    assert!(b.pdb.is_none());
    assert!(b.service_monitor.is_none());
    assert_eq!(b.statefulset.spec.replicas, Some(1));
}

#[test]
fn one_voter_with_observers_is_not_standalone() {
    let (_, b) = built("one-voter-observers.yaml", false);
    let cfg = zoo_cfg(&b);
    assert_eq!(cfg["standaloneEnabled"], "false");
    assert!(cfg["server.1"].ends_with(":participant"));
    assert!(cfg["server.3"].ends_with(":observer"));
}

#[test]
fn config_hash_follows_zoo_cfg_only() {
    let (mut ens, b1) = built("minimal.yaml", false);
    let m = Membership { members: 3, observers: 0 };
    ens.spec.image = "localhost/zab-node:other".into();
    let b2 = build_all(&ens, m, false).unwrap();
    assert_eq!(b1.config_hash, b2.config_hash, "the image is in the template, not in zoo.cfg");
    ens.spec.config.tick_time = 3000;
    let b3 = build_all(&ens, m, false).unwrap();
    assert_ne!(b1.config_hash, b3.config_hash);
    let again = build_all(&ens, m, false).unwrap();
    assert_eq!(b3.config_hash, again.config_hash, "builds are deterministic");
}

#[test]
fn a_scale_changes_the_server_list_and_replicas_but_not_the_hash() {
    let ens = fixture("minimal.yaml");
    let m = Membership { members: 3, observers: 0 };
    let steady = build_all(&ens, m, false).unwrap();
    // Growing 3 -> 5: the StatefulSet at 5 pods, the two new members listed as observers.
    let growing = build_layout(&ens, Layout { membership: m, replicas: 5, joining: 2 }, false).unwrap();
    assert_eq!(growing.statefulset.spec.replicas, Some(5));
    assert_eq!(growing.statefulset.metadata.annotations.as_ref().unwrap()["zab.io/members"], "3");
    let cfg = zoo_cfg(&growing);
    assert_eq!(cfg["server.3"], "zk-2.zk-headless.prod.svc.cluster.local:2888:3888:participant");
    assert_eq!(cfg["server.4"], "zk-3.zk-headless.prod.svc.cluster.local:2888:3888:observer");
    assert_eq!(cfg["server.5"], "zk-4.zk-headless.prod.svc.cluster.local:2888:3888:observer");
    assert_eq!(growing.config_hash, steady.config_hash, "a scale restarts nobody");
    let done = build_all(&ens, Membership { members: 5, observers: 0 }, false).unwrap();
    assert_eq!(done.config_hash, steady.config_hash);
    assert_eq!(zoo_cfg(&done)["server.5"], "zk-4.zk-headless.prod.svc.cluster.local:2888:3888:participant");
}

#[test]
fn the_super_users_secret_holds_the_password_and_its_digest() {
    let ens = fixture("minimal.yaml");
    let names = Names::of(&ens).unwrap();
    let s = zab_operator::build::secret::build(&ens, &names, "secret").unwrap();
    assert_eq!(s.metadata.name.as_deref(), Some("zk-super"));
    assert_eq!(s.metadata.owner_references.as_ref().unwrap()[0].uid, "4c1a6a55-0000-4000-8000-000000000001");
    let d = s.string_data.unwrap();
    assert_eq!(d["password"], "secret");
    assert_eq!(d["digest"], "super:lK75jTNcA+U9vtVEw5vB51mj/w4=");
}

#[test]
fn the_membership_argument_decides_the_server_list() {
    let ens = fixture("minimal.yaml");
    let b = build_all(&ens, Membership { members: 5, observers: 0 }, false).unwrap();
    assert_eq!(b.statefulset.spec.replicas, Some(5));
    assert!(zoo_cfg(&b).contains_key("server.5"));
    assert_eq!(b.statefulset.metadata.annotations.as_ref().unwrap()["zab.io/members"], "5");
}

#[test]
fn an_ensemble_not_read_from_the_api_server_is_refused() {
    let mut ens = fixture("minimal.yaml");
    ens.metadata.uid = None;
    let err = build_all(&ens, Membership { members: 3, observers: 0 }, false).unwrap_err();
    assert_eq!(err, BuildError::MissingMetadata("uid"));
}
