//! The checked-in CRD (`crds/zabensembles.zab.io.yaml`) must equal what the Rust types
//! generate, and the generated CRD must carry what users rely on (scale subresource,
//! printer columns, validation rules, descriptions for `kubectl explain`).
//! `ZAB_BLESS=1 cargo test -p zab-operator --test crd` rewrites the file.

// Test helpers outside #[test] functions unwrap too: a failed fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kube::CustomResourceExt;
use zab_operator::crd::{crd_yaml, ZabEnsemble};

#[test]
fn checked_in_crd_matches_the_types() {
    let want = crd_yaml().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/zabensembles.zab.io.yaml");
    if std::env::var("ZAB_BLESS").is_ok() {
        std::fs::write(path, &want).unwrap();
        return;
    }
    let got = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        got == want,
        "crds/zabensembles.zab.io.yaml drifted from operator/src/crd: run \
         `cargo run -p zab-operator -- crd > crds/zabensembles.zab.io.yaml` (or ZAB_BLESS=1 cargo test -p zab-operator --test crd)"
    );
}

#[test]
fn crd_has_scale_status_columns_and_short_name() {
    let crd = ZabEnsemble::crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("zabensembles.zab.io"));
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["zab".to_owned()]));
    let v = &crd.spec.versions[0];
    assert_eq!(v.name, "v1alpha1");
    let sub = v.subresources.as_ref().unwrap();
    assert!(sub.status.is_some());
    let scale = sub.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.members");
    assert_eq!(scale.status_replicas_path, ".status.readyMembers");
    let cols: Vec<&str> = v.additional_printer_columns.as_ref().unwrap().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, ["Members", "Ready", "Leader", "Zxid", "Age"]);
}

/// Walks the schema and returns the path of every property without a description.
fn undocumented(path: &str, schema: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, sub) in props {
            let p = format!("{path}.{name}");
            if !path.is_empty() && sub.get("description").is_none() {
                out.push(p.clone());
            }
            undocumented(&p, sub, out);
        }
    }
    if let Some(items) = schema.get("items") {
        undocumented(&format!("{path}[]"), items, out);
    }
}

#[test]
fn every_spec_and_status_field_is_described() {
    let crd = serde_json::to_value(ZabEnsemble::crd()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut missing = Vec::new();
    for top in ["spec", "status"] {
        undocumented(&format!(".{top}"), &schema["properties"][top], &mut missing);
    }
    assert!(missing.is_empty(), "fields without a description (kubectl explain shows nothing): {missing:?}");
}

#[test]
fn validation_rules_are_in_the_schema() {
    let y = crd_yaml().unwrap();
    assert!(y.contains("self % 2 == 1"), "members must be odd");
    assert!(y.contains("isQuantity(self)"), "storage size must be a quantity");
    let crd = serde_json::to_value(ZabEnsemble::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(spec["members"]["minimum"].as_f64(), Some(1.0));
    assert_eq!(spec["observers"]["minimum"].as_f64(), Some(0.0));
}
