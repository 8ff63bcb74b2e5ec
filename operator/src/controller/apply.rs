//! Server-side apply of the built objects with the one field manager `zab-operator`
//! (forced: the operator owns these fields), and removal of optional objects the spec no
//! longer asks for. The only writes of owned objects; nothing here decides anything.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Error, FIELD_MANAGER};
use crate::build::secret::PASSWORD_KEY;
use crate::build::{service_monitor, Built, Names};

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

async fn ssa<K>(client: &Client, ns: &str, obj: &K) -> Result<K, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    Ok(api.patch(&obj.name_any(), &params(), &Patch::Apply(obj)).await?)
}

/// Deletes `name` if it exists (404 is fine).
async fn delete_if_present<K>(api: Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Applies the StatefulSet alone (a scale step: other replicas or membership annotations).
pub async fn statefulset(client: &Client, names: &Names, sts: &StatefulSet) -> Result<StatefulSet, Error> {
    ssa(client, &names.namespace, sts).await
}

/// Creates the super user's Secret unless it exists; returns the password either way.
/// A Secret is never overwritten: members run with the digest of the password in it.
pub async fn super_secret(
    client: &Client,
    names: &Names,
    make: impl FnOnce() -> Result<Secret, Error>,
) -> Result<Option<String>, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &names.namespace);
    let secret = match api.get_opt(&names.super_secret()).await? {
        Some(s) => s,
        None => match api
            .create(&PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..Default::default() }, &make()?)
            .await
        {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 409 => match api.get_opt(&names.super_secret()).await? {
                Some(s) => s,
                None => return Ok(None),
            },
            Err(e) => return Err(e.into()),
        },
    };
    let from_data =
        secret.data.as_ref().and_then(|d| d.get(PASSWORD_KEY)).map(|b| String::from_utf8_lossy(&b.0).into_owned());
    let from_string = secret.string_data.as_ref().and_then(|d| d.get(PASSWORD_KEY)).cloned();
    Ok(from_data.or(from_string).filter(|p| !p.is_empty()))
}

/// Applies everything; returns the StatefulSet as the API server has it after the apply.
pub async fn apply_all(
    client: &Client,
    names: &Names,
    built: &Built,
    service_monitor_crd: bool,
) -> Result<StatefulSet, Error> {
    let ns = names.namespace.as_str();
    ssa(client, ns, &built.configmap).await?;
    ssa(client, ns, &built.headless).await?;
    ssa(client, ns, &built.client).await?;
    let sts = ssa(client, ns, &built.statefulset).await?;
    match &built.pdb {
        Some(pdb) => {
            ssa(client, ns, pdb).await?;
        }
        None => delete_if_present(Api::<PodDisruptionBudget>::namespaced(client.clone(), ns), &names.pdb()).await?,
    }
    if service_monitor_crd {
        let ar = service_monitor::api_resource();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        match &built.service_monitor {
            Some(sm) => {
                api.patch(&names.ensemble, &params(), &Patch::Apply(sm)).await?;
            }
            None => delete_if_present(api, &names.ensemble).await?,
        }
    }
    Ok(sts)
}
