//! Scale scenarios against the fake API server (tests/common): 3 -> 5 (the StatefulSet
//! grows, the new members join as observers, one reconfig promotes them once synced, the
//! membership is recorded; nobody restarts), 5 -> 3 with the leader among the removed (its
//! leadership handed over first, one reconfig removes 4 and 5, the StatefulSet shrinks only
//! once every remaining member runs the new configuration), and a scale-down refused because
//! the remaining members would not hold a quorum.

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::world::{minimal, world, World, ENS, PODS, STS};
use serde_json::json;

const CM: &str = "/api/v1/namespaces/prod/configmaps/zk-config";
const V1: i64 = 0x1_0000_0000;
const V2: i64 = 0x2_0000_0001;

fn set_members(w: &World, n: u32, generation: i64) {
    let mut ens = w.api.get(ENS).unwrap();
    ens["spec"]["members"] = json!(n);
    ens["metadata"]["generation"] = json!(generation);
    w.api.put(ENS, ens);
}

fn replicas(w: &World) -> i64 {
    w.api.get(STS).unwrap()["spec"]["replicas"].as_i64().unwrap()
}

fn recorded_members(w: &World) -> String {
    w.api.get(STS).unwrap()["metadata"]["annotations"]["zab.io/members"].as_str().unwrap().to_owned()
}

fn event_reasons(w: &World) -> Vec<String> {
    w.api.events().into_iter().map(|e| e.1).collect()
}

fn template_hash(w: &World) -> String {
    w.api.get(STS).unwrap()["spec"]["template"]["metadata"]["annotations"]["zab.io/config-hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn scale_up_3_to_5_joins_observers_then_promotes_them() {
    let w = world(minimal());
    w.running_n(3, 0, 5, V1).await;
    w.reconcile().await.unwrap();
    let hash = template_hash(&w);
    let password = w.api.get("/api/v1/namespaces/prod/secrets/zk-super").unwrap()["stringData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 48, "a random password of 24 bytes");
    w.api.take_log();

    // The spec asks for 5: the StatefulSet grows, the seed zoo.cfg lists 4 and 5 as observers.
    set_members(&w, 5, 2);
    w.reconcile().await.unwrap();
    assert_eq!(replicas(&w), 5);
    assert_eq!(recorded_members(&w), "3", "the membership is recorded only at the end");
    let cfg = w.api.get(CM).unwrap()["data"]["zoo.cfg"].as_str().unwrap().to_owned();
    assert!(cfg.contains("server.3=zk-2.zk-headless.prod.svc.cluster.local:2888:3888:participant"), "{cfg}");
    assert!(cfg.contains("server.4=zk-3.zk-headless.prod.svc.cluster.local:2888:3888:observer"), "{cfg}");
    assert!(cfg.contains("server.5=zk-4.zk-headless.prod.svc.cluster.local:2888:3888:observer"), "{cfg}");
    assert_eq!(template_hash(&w), hash, "a scale changes no pod template");
    assert_eq!(w.condition("Progressing"), ("True".into(), "Scaling".into()));
    assert!(event_reasons(&w).contains(&"AddingMembers".to_owned()));

    // The new pods do not exist yet, then run but are not synced: nothing is promoted.
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing"), ("True".into(), "MemberPodMissing".into()));
    w.pod(3, "new3", &hash, "rev-1");
    w.pod(4, "new4", &hash, "rev-1");
    w.members.set("10.0.0.3", common::report(4, zab_status::Role::Looking, 5, None, false));
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing"), ("True".into(), "JoiningMembersNotSynced".into()));
    assert!(w.admin.reconfigs().is_empty());

    // Both synced as observers: one reconfig makes them participants, from version V1, as
    // the super user, sent to the leader.
    w.members_config(5, 0, 5, &[1, 2, 3], V1, &[], 0);
    w.reconcile().await.unwrap();
    let r = w.admin.reconfigs();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0.as_str(), r[0].1.as_str()), ("10.0.0.0", password.as_str()));
    assert_eq!(
        r[0].2.joining,
        [
            "server.4=zk-3.zk-headless.prod.svc.cluster.local:2888:3888:participant;2181",
            "server.5=zk-4.zk-headless.prod.svc.cluster.local:2888:3888:participant;2181"
        ]
    );
    assert!(r[0].2.leaving.is_empty());
    assert_eq!(r[0].2.from_version, V1);
    assert!(event_reasons(&w).contains(&"PromotingMembers".to_owned()));

    // The new configuration is in force everywhere: the membership is recorded.
    w.members_config(5, 0, 5, &[1, 2, 3, 4, 5], V2, &[], 0);
    w.reconcile().await.unwrap();
    assert_eq!(recorded_members(&w), "5");
    assert!(event_reasons(&w).contains(&"Scaled".to_owned()));
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing"), ("False".into(), "Stable".into()));
    assert_eq!(w.status()["currentMembers"], 5);
    assert_eq!(w.status()["readyMembers"], 5);
    let cfg = w.api.get(CM).unwrap()["data"]["zoo.cfg"].as_str().unwrap().to_owned();
    assert!(cfg.contains("server.5=zk-4.zk-headless.prod.svc.cluster.local:2888:3888:participant"), "{cfg}");
    assert_eq!(w.admin.reconfigs().len(), 1, "one reconfig in all");
    assert!(w.deletes(&w.api.take_log()).is_empty(), "no pod was deleted");
}

#[tokio::test]
async fn scale_down_5_to_3_with_the_leader_among_the_removed() {
    let w = world(json!({"members": 5, "image": "localhost/zab-node:e2e"}));
    // zk-4 (sid 5) leads.
    w.running_n(5, 4, 5, V1).await;
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing"), ("False".into(), "Stable".into()));
    w.api.take_log();

    // 5 -> 3: the leader is to leave, so its leadership goes to sid 1 first.
    set_members(&w, 3, 2);
    w.reconcile().await.unwrap();
    assert_eq!(w.admin.handovers(), [("10.0.0.4".to_owned(), Some(1))]);
    assert!(w.admin.reconfigs().is_empty(), "nothing is removed while it leads");
    assert_eq!(replicas(&w), 5);
    let ev = w.api.events();
    let h = ev.iter().find(|e| e.1 == "HandingOverLeadership").unwrap();
    assert_eq!(h.2, "hand over leadership from 5 to 1 before removing 5");

    // zk-0 leads (epoch 6): one reconfig removes 4 and 5.
    w.members_config(5, 0, 6, &[1, 2, 3, 4, 5], V1, &[], 0);
    w.reconcile().await.unwrap();
    let r = w.admin.reconfigs();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0.as_str(), r[0].2.leaving.as_slice(), r[0].2.from_version), ("10.0.0.0", &[4u64, 5][..], V1));
    assert!(r[0].2.joining.is_empty());
    assert_eq!(replicas(&w), 5, "the pods stay until the new configuration is committed");

    // zk-2 still runs the old configuration: the StatefulSet keeps its size.
    w.members_config(5, 0, 6, &[1, 2, 3], V2, &[2, 3, 4], V1);
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing"), ("True".into(), "ConfigurationNotCommitted".into()));
    assert_eq!(replicas(&w), 5);

    // Every remaining member runs it (the removed ones keep the old one): shrink.
    w.members_config(5, 0, 6, &[1, 2, 3], V2, &[3, 4], V1);
    w.reconcile().await.unwrap();
    assert_eq!(replicas(&w), 3);
    assert_eq!(recorded_members(&w), "5");
    w.api.remove(&format!("{PODS}/zk-3"));
    w.api.remove(&format!("{PODS}/zk-4"));
    w.reconcile().await.unwrap();
    assert_eq!(recorded_members(&w), "3");
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing"), ("False".into(), "Stable".into()));
    assert_eq!(w.status()["leader"], "zk-0");
    let cfg = w.api.get(CM).unwrap()["data"]["zoo.cfg"].as_str().unwrap().to_owned();
    assert!(cfg.contains("server.3=") && !cfg.contains("server.4="), "{cfg}");

    // The sequence, for the record (cargo test --test scale -- --nocapture).
    for (t, reason, note) in w.api.events() {
        println!("event {t} {reason}: {note}");
    }
    let reasons = event_reasons(&w);
    let at = |r: &str| reasons.iter().position(|x| x == r).unwrap();
    assert!(at("HandingOverLeadership") < at("RemovingMembers"));
    assert!(at("RemovingMembers") < at("ShrinkingStatefulSet"));
    assert!(at("ShrinkingStatefulSet") < at("Scaled"));
    assert!(w.deletes(&w.api.take_log()).is_empty(), "the operator deleted no pod itself");
}

#[tokio::test]
async fn a_scale_down_that_would_lose_quorum_is_refused() {
    let w = world(json!({"members": 5, "image": "localhost/zab-node:e2e"}));
    w.running_n(5, 4, 5, V1).await;
    // zk-0 and zk-1 are out: of the members that would stay only zk-2 is synced.
    for o in 0..2u32 {
        w.members
            .set(&format!("10.0.0.{o}"), common::report(u64::from(o) + 1, zab_status::Role::Looking, 5, None, false));
    }
    set_members(&w, 3, 2);
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Degraded"), ("True".into(), "ScaleWouldLoseQuorum".into()));
    assert!(w.admin.reconfigs().is_empty() && w.admin.handovers().is_empty());
    assert_eq!(replicas(&w), 5);
    let ev = w.api.events();
    let refusal = ev.iter().find(|e| e.1 == "ScaleWouldLoseQuorum").unwrap();
    assert_eq!(refusal.0, "Warning");
    assert!(refusal.2.contains("1 synced participants (of 3), 2 are needed"), "{}", refusal.2);
}
