//! A fake Kubernetes API server for reconcile scenarios, driven through tower-test's mock
//! service (as kube-rs/controller-rs tests its reconciler): objects live in a map keyed by
//! their API path; GET, LIST (by path prefix), server-side-apply PATCH (spec and status),
//! DELETE, POST (create, 409 when it exists) and PUT (replace, 409 on a stale resourceVersion)
//! behave like the API server for the calls the operator makes; every
//! request is logged; a failure can be injected once for a method and path. Also a fake
//! member-status source and a settable clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

pub mod views;
pub mod world;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use http::{Request, Response};
use jiff::Timestamp;
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use zab_operator::member_admin::{AdminError, HandOver, MemberAdmin, Reconfig};
use zab_operator::probe::{ProbeError, StatusSource};
use zab_status::{Member, MemberStatus, Phase, Quorum, Role, Zxid};

#[derive(Default)]
pub struct FakeApi {
    pub objects: Mutex<BTreeMap<String, Value>>,
    /// (method, path) of every request, in order.
    pub log: Mutex<Vec<(String, String)>>,
    /// One-shot failures: (method, path, HTTP code).
    pub fail: Mutex<Vec<(String, String, u16)>>,
    uid: Mutex<u64>,
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": reason, "reason": reason, "code": code})
}

impl FakeApi {
    pub fn put(&self, path: &str, v: Value) {
        self.objects.lock().unwrap().insert(path.to_owned(), v);
    }
    pub fn get(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap().get(path).cloned()
    }
    pub fn remove(&self, path: &str) {
        self.objects.lock().unwrap().remove(path);
    }
    pub fn fail_once(&self, method: &str, path: &str, code: u16) {
        self.fail.lock().unwrap().push((method.into(), path.into(), code));
    }
    pub fn take_log(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    fn respond(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        {
            let mut fail = self.fail.lock().unwrap();
            if let Some(i) = fail.iter().position(|(m, p, _)| m == method && p == path) {
                let (_, _, code) = fail.remove(i);
                return (code, status(code, "Conflict"));
            }
        }
        let mut objects = self.objects.lock().unwrap();
        match method {
            "GET" => {
                if let Some(v) = objects.get(path) {
                    return (200, v.clone());
                }
                let prefix = format!("{path}/");
                let items: Vec<Value> = objects
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                    .map(|(_, v)| v.clone())
                    .collect();
                if path.ends_with("/pods") {
                    return (200, json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}));
                }
                (404, status(404, "NotFound"))
            }
            "PATCH" => {
                let Ok(patch) = serde_json::from_slice::<Value>(body) else { return (400, status(400, "BadRequest")) };
                if let Some(obj_path) = path.strip_suffix("/status") {
                    let Some(obj) = objects.get_mut(obj_path) else { return (404, status(404, "NotFound")) };
                    obj["status"] = patch["status"].clone();
                    return (200, obj.clone());
                }
                let mut obj = patch;
                let old = objects.get(path).cloned();
                let mut uid = self.uid.lock().unwrap();
                *uid += 1;
                let meta = &mut obj["metadata"];
                meta["uid"] = old.as_ref().map(|o| o["metadata"]["uid"].clone()).unwrap_or(json!(format!("uid-{uid}")));
                meta["generation"] =
                    old.as_ref().and_then(|o| o["metadata"].get("generation").cloned()).unwrap_or(json!(1));
                meta["resourceVersion"] = json!(uid.to_string());
                if let Some(st) = old.as_ref().and_then(|o| o.get("status")) {
                    obj["status"] = st.clone();
                }
                objects.insert(path.to_owned(), obj.clone());
                (200, obj)
            }
            "DELETE" => match objects.remove(path) {
                Some(v) => (200, v),
                None => (404, status(404, "NotFound")),
            },
            "POST" => {
                let mut v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let mut uid = self.uid.lock().unwrap();
                *uid += 1;
                let name = v["metadata"]["name"].as_str().map(str::to_owned).unwrap_or_else(|| format!("obj-{uid}"));
                let key = format!("{path}/{name}");
                if objects.contains_key(&key) {
                    return (409, status(409, "AlreadyExists"));
                }
                v["metadata"]["resourceVersion"] = json!(uid.to_string());
                objects.insert(key, v.clone());
                (201, v)
            }
            "PUT" => {
                // Replace: only with the stored resourceVersion (optimistic concurrency).
                let Ok(mut v) = serde_json::from_slice::<Value>(body) else { return (400, status(400, "BadRequest")) };
                let Some(old) = objects.get(path) else { return (404, status(404, "NotFound")) };
                if v["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"] {
                    return (409, status(409, "Conflict"));
                }
                let mut uid = self.uid.lock().unwrap();
                *uid += 1;
                v["metadata"]["resourceVersion"] = json!(uid.to_string());
                objects.insert(path.to_owned(), v.clone());
                (200, v)
            }
            _ => (405, status(405, "MethodNotAllowed")),
        }
    }

    /// Events posted so far: (type, reason, note).
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.objects
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("/events/"))
            .map(|(_, v)| {
                let s = |f: &str| v[f].as_str().unwrap_or_default().to_owned();
                (s("type"), s("reason"), s("note"))
            })
            .collect()
    }
}

/// A kube Client whose requests the fake answers (the serving task ends with the test).
pub fn client(api: Arc<FakeApi>) -> Client {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            api.log.lock().unwrap().push((method.clone(), path.clone()));
            let body = req.into_body().collect_bytes().await.unwrap_or_default();
            let (code, v) = api.respond(&method, &path, &body);
            let resp = Response::builder().status(code).body(Body::from(serde_json::to_vec(&v).unwrap())).unwrap();
            send.send_response(resp);
        }
    });
    Client::new(svc, "default")
}

/// Member reports by pod IP.
#[derive(Default)]
pub struct FakeMembers {
    pub by_ip: Mutex<HashMap<String, MemberStatus>>,
}

impl FakeMembers {
    pub fn set(&self, ip: &str, s: MemberStatus) {
        self.by_ip.lock().unwrap().insert(ip.to_owned(), s);
    }
    pub fn clear(&self, ip: &str) {
        self.by_ip.lock().unwrap().remove(ip);
    }
}

impl StatusSource for FakeMembers {
    fn status(&self, pod_ip: &str) -> BoxFuture<'static, Result<MemberStatus, ProbeError>> {
        let r = self.by_ip.lock().unwrap().get(pod_ip).cloned();
        let url = format!("http://{pod_ip}:8080/status");
        Box::pin(async move { r.ok_or(ProbeError::Http { url, reason: "connection refused".into() }) })
    }
}

/// A member's report: `role` in `epoch`, following `leader` (myid).
pub fn report(myid: u64, role: Role, epoch: i64, leader: Option<u64>, synced: bool) -> MemberStatus {
    MemberStatus {
        schema_version: 1,
        myid,
        role,
        phase: if synced { Phase::Broadcast } else { Phase::Election },
        leader_sid: leader,
        current_epoch: epoch,
        accepted_epoch: epoch,
        last_logged_zxid: Zxid::new((epoch << 32) | 9),
        last_processed_zxid: Zxid::new((epoch << 32) | 9),
        digest: None,
        synced,
        quorum: Quorum { config_version: Zxid::new(0), members: vec![] },
        reconfig_in_flight: false,
        client_connections: 0,
        outstanding_requests: 0,
        uptime_ms: 1,
        version: "0.1.0".into(),
        zookeeper_version: "3.8.4".into(),
        learners: vec![],
    }
}

/// The configuration a member reports: `participants` (sids) at `version`, members by
/// the DNS names of ensemble `zk` in namespace `prod`.
pub fn with_config(mut s: MemberStatus, participants: &[u64], version: i64) -> MemberStatus {
    s.quorum = Quorum {
        config_version: Zxid::new(version),
        members: participants
            .iter()
            .map(|sid| Member {
                sid: *sid,
                member_type: "participant".into(),
                address: format!("zk-{}.zk-headless.prod.svc.cluster.local:2888:3888", sid - 1),
            })
            .collect(),
    };
    s
}

/// A member admin that records every call and answers as told (by default: success).
#[derive(Default)]
pub struct FakeAdmin {
    /// (pod IP, to) of every hand-over asked.
    pub handovers: Mutex<Vec<(String, Option<u64>)>>,
    /// (pod IP, password, change) of every reconfig asked.
    pub reconfigs: Mutex<Vec<(String, String, Reconfig)>>,
    /// The next hand-over's answer (taken once), else success.
    pub handover_answer: Mutex<Option<AdminError>>,
}

impl FakeAdmin {
    pub fn handovers(&self) -> Vec<(String, Option<u64>)> {
        self.handovers.lock().unwrap().clone()
    }
    pub fn reconfigs(&self) -> Vec<(String, String, Reconfig)> {
        self.reconfigs.lock().unwrap().clone()
    }
}

impl MemberAdmin for FakeAdmin {
    fn handover(&self, pod_ip: &str, to: Option<u64>) -> BoxFuture<'static, Result<HandOver, AdminError>> {
        self.handovers.lock().unwrap().push((pod_ip.to_owned(), to));
        let answer = self.handover_answer.lock().unwrap().take();
        // 10.0.0.N is ordinal N: sid N+1.
        let from = pod_ip.rsplit('.').next().and_then(|o| o.parse::<u64>().ok()).unwrap_or(0) + 1;
        Box::pin(async move {
            match answer {
                Some(e) => Err(e),
                None => Ok(HandOver { from, to: to.unwrap_or(1) }),
            }
        })
    }
    fn reconfig(
        &self,
        pod_ip: &str,
        password: &str,
        change: Reconfig,
    ) -> BoxFuture<'static, Result<String, AdminError>> {
        self.reconfigs.lock().unwrap().push((pod_ip.to_owned(), password.to_owned(), change));
        Box::pin(async move { Ok("version=200000001".to_owned()) })
    }
}

/// A settable clock.
#[derive(Clone)]
pub struct TestClock(pub Arc<Mutex<Timestamp>>);

impl TestClock {
    pub fn new(s: i64) -> TestClock {
        TestClock(Arc::new(Mutex::new(Timestamp::from_second(s).unwrap())))
    }
    pub fn set(&self, s: i64) {
        *self.0.lock().unwrap() = Timestamp::from_second(s).unwrap();
    }
    pub fn clock(&self) -> zab_operator::controller::Clock {
        let c = self.0.clone();
        Arc::new(move || *c.lock().unwrap())
    }
}
