//! The Prometheus Operator ServiceMonitor (monitoring.coreos.com/v1), as a DynamicObject
//! because the operator does not link the Prometheus Operator's types. Built only when the
//! caller found its CRD installed and the spec enables it. Scrapes /metrics on the admin
//! port through the headless Service.

use std::collections::BTreeMap;

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::{owned_meta, selector_labels, BuildError, Names, SERVICE_LABEL};
use crate::crd::ZabEnsemble;

/// The ServiceMonitor's API resource.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
        "servicemonitors",
    )
}

/// Name of the ServiceMonitor CRD.
pub const CRD_NAME: &str = "servicemonitors.monitoring.coreos.com";

pub fn build(ens: &ZabEnsemble, names: &Names) -> Result<Option<DynamicObject>, BuildError> {
    let sm = &ens.spec.metrics.service_monitor;
    if !sm.enabled {
        return Ok(None);
    }
    let mut metadata = owned_meta(ens, names, names.ensemble.clone())?;
    metadata.labels.get_or_insert_with(BTreeMap::new).extend(sm.labels.clone());
    let mut selector = selector_labels(&names.ensemble);
    selector.insert(SERVICE_LABEL.to_owned(), "headless".to_owned());
    let mut obj = DynamicObject::new(&names.ensemble, &api_resource()).within(&names.namespace);
    obj.metadata = metadata;
    obj.data = json!({
        "spec": {
            "selector": { "matchLabels": selector },
            "endpoints": [{ "port": "admin", "path": "/metrics", "interval": sm.interval }],
        }
    });
    Ok(Some(obj))
}
