//! The Kubernetes API permissions the operator needs, in ONE table. `zab-operator rbac`
//! prints it as a YAML list of PolicyRules; the Helm chart's ClusterRole must equal it (a
//! chart test checks), so a new API call in the code means a new row here.

use k8s_openapi::api::rbac::v1::PolicyRule;

/// (apiGroup, resources, verbs), each row with why the operator needs it.
const RULES: &[(&str, &[&str], &[&str])] = &[
    // The resource it reconciles; status through the status subresource.
    ("zab.io", &["zabensembles"], &["get", "list", "watch"]),
    ("zab.io", &["zabensembles/status"], &["get", "patch", "update"]),
    // What it builds (server-side apply = patch) and watches.
    ("apps", &["statefulsets"], &["get", "list", "watch", "create", "patch", "update", "delete"]),
    ("", &["services", "configmaps"], &["get", "list", "watch", "create", "patch", "update", "delete"]),
    ("policy", &["poddisruptionbudgets"], &["get", "list", "watch", "create", "patch", "update", "delete"]),
    // The super user's Secret (reconfig credentials): read its password, create it once.
    ("", &["secrets"], &["get", "create"]),
    // Members' pods: read (IPs, template hashes); delete one at a time for a restart.
    ("", &["pods"], &["get", "list", "watch", "delete"]),
    // Events for every decision (kube::runtime::events::Recorder writes events.k8s.io/v1).
    ("events.k8s.io", &["events"], &["create", "patch"]),
    // Leader election between operator replicas.
    ("coordination.k8s.io", &["leases"], &["get", "create", "update"]),
    // Is the ServiceMonitor CRD installed?
    ("apiextensions.k8s.io", &["customresourcedefinitions"], &["get"]),
    // The optional ServiceMonitor.
    ("monitoring.coreos.com", &["servicemonitors"], &["get", "list", "watch", "create", "patch", "update", "delete"]),
];

/// The rules as Kubernetes PolicyRules.
pub fn policy_rules() -> Vec<PolicyRule> {
    RULES
        .iter()
        .map(|(group, resources, verbs)| PolicyRule {
            api_groups: Some(vec![(*group).to_owned()]),
            resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

/// `zab-operator rbac`: the rules as a YAML list.
pub fn rules_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&policy_rules())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_group_resources_and_verbs() {
        for r in policy_rules() {
            assert!(r.api_groups.as_ref().is_some_and(|g| g.len() == 1));
            assert!(r.resources.as_ref().is_some_and(|x| !x.is_empty()));
            assert!(!r.verbs.is_empty());
        }
    }

    #[test]
    fn yaml_is_a_list_of_policy_rules() {
        let y = rules_yaml().unwrap();
        let back: Vec<PolicyRule> = serde_yaml::from_str(&y).unwrap();
        assert_eq!(back, policy_rules());
        assert!(y.contains("zabensembles/status"));
    }
}
