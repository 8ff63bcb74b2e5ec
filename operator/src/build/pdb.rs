//! The PodDisruptionBudget: at most `maxUnavailable` members (1 by default) evicted at once
//! by voluntary disruptions (node drains), so a drain never takes a quorum away. None when
//! disabled. Validation has already refused a value that would break a quorum.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{owned_meta, selector_labels, BuildError, Names};
use crate::crd::ZabEnsemble;

pub fn build(ens: &ZabEnsemble, names: &Names) -> Result<Option<PodDisruptionBudget>, BuildError> {
    let p = &ens.spec.pod_disruption_budget;
    if !p.enabled {
        return Ok(None);
    }
    Ok(Some(PodDisruptionBudget {
        metadata: owned_meta(ens, names, names.pdb())?,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(p.max_unavailable)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(&names.ensemble)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }))
}
