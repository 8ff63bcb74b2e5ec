//! The client Service: port 2181 to ready members only (a member that is not ready does
//! not serve clients). Type and annotations from `spec.clientService`.

use k8s_openapi::api::core::v1::{Service, ServiceSpec};

use super::headless_service::port;
use super::{owned_meta, selector_labels, BuildError, Names, CLIENT_PORT};
use crate::crd::ZabEnsemble;

pub fn build(ens: &ZabEnsemble, names: &Names) -> Result<Service, BuildError> {
    let mut metadata = owned_meta(ens, names, names.client())?;
    let svc = &ens.spec.client_service;
    if !svc.annotations.is_empty() {
        metadata.annotations = Some(svc.annotations.clone());
    }
    Ok(Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(svc.type_.as_str().to_owned()),
            selector: Some(selector_labels(&names.ensemble)),
            ports: Some(vec![port("client", CLIENT_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}
