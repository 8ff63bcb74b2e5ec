//! The headless Service that gives each member its stable DNS name
//! (`<pod>.<ensemble>-headless.<ns>.svc.cluster.local`). It publishes not-ready addresses:
//! members must find each other to elect a leader, which is before any of them is ready.
//! It also carries the admin port, which the ServiceMonitor scrapes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    owned_meta, selector_labels, BuildError, Names, ADMIN_PORT, CLIENT_PORT, ELECTION_PORT, QUORUM_PORT, SERVICE_LABEL,
};
use crate::crd::ZabEnsemble;

pub fn build(ens: &ZabEnsemble, names: &Names) -> Result<Service, BuildError> {
    let mut metadata = owned_meta(ens, names, names.headless())?;
    metadata.labels.get_or_insert_with(BTreeMap::new).insert(SERVICE_LABEL.to_owned(), "headless".to_owned());
    Ok(Service {
        metadata,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(&names.ensemble)),
            ports: Some(vec![
                port("client", CLIENT_PORT),
                port("quorum", QUORUM_PORT),
                port("election", ELECTION_PORT),
                port("admin", ADMIN_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

/// A TCP ServicePort named `name` to the container port of the same name.
pub fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port: number,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}
