//! Leader election on the Lease API against the fake API server (tests/common): one replica
//! acquires, a second one cannot while the Lease is held and renewed, a write with a stale
//! resourceVersion loses (409 is "not leader", never an error), and after a release the
//! second replica takes over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::FakeApi;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;
use zab_operator::leader::{LeaseLock, LeaseTiming};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/zab-operator";

fn lock(api: &Arc<FakeApi>, who: &str) -> LeaseLock {
    let client = common::client(api.clone());
    LeaseLock::new(Api::<Lease>::namespaced(client, "ops"), "zab-operator", who, LeaseTiming::default())
}

#[tokio::test]
async fn one_holder_at_a_time_and_a_release_hands_over() {
    let api = Arc::new(FakeApi::default());
    let (a, b) = (lock(&api, "replica-a"), lock(&api, "replica-b"));
    assert!(a.try_acquire_or_renew().await.unwrap(), "the first replica creates the Lease");
    assert_eq!(api.get(LEASE).unwrap()["spec"]["holderIdentity"], "replica-a");
    assert!(!b.try_acquire_or_renew().await.unwrap(), "held and fresh: the second replica waits");
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    assert!(!b.try_acquire_or_renew().await.unwrap());
    a.release().await.unwrap();
    assert!(api.get(LEASE).unwrap()["spec"].get("holderIdentity").is_none_or(|h| h.is_null()));
    assert!(b.try_acquire_or_renew().await.unwrap(), "released: the second replica takes over");
    let spec = api.get(LEASE).unwrap()["spec"].clone();
    assert_eq!(spec["holderIdentity"], "replica-b");
    assert_eq!(spec["leaseTransitions"], 1);
    assert!(!a.try_acquire_or_renew().await.unwrap(), "the old holder does not win it back");
}

#[tokio::test]
async fn a_lost_race_is_not_leadership() {
    let api = Arc::new(FakeApi::default());
    // An expired Lease of a replica that died.
    api.put(
        LEASE,
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "zab-operator", "namespace": "ops", "resourceVersion": "7"},
               "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 15, "renewTime": "2020-01-01T00:00:00.000000Z"}}),
    );
    // Another replica writes between our read and our write: our replace is stale.
    api.fail_once("PUT", LEASE, 409);
    let a = lock(&api, "replica-a");
    assert!(!a.try_acquire_or_renew().await.unwrap(), "409 means someone else won");
    assert!(a.try_acquire_or_renew().await.unwrap(), "expired: taken over on the next try");
    assert_eq!(api.get(LEASE).unwrap()["spec"]["holderIdentity"], "replica-a");
}
