//! Carries out the planner's one action: deletes the pod to restart (guarded by its uid,
//! so a pod already replaced is never deleted by mistake), and publishes an event for
//! every decision (restart, member back, refusal, stop). Events for standing decisions go
//! out when the decision first appears, not on every pass.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::events::{Event, EventType};
use kube::Resource;
use tracing::{info, warn};

use super::{Context, Error};
use crate::build::Names;
use crate::conditions::{DEGRADED, PROGRESSING};
use crate::crd::{RestartInProgress, ZabEnsemble, ZabEnsembleStatus};
use crate::observe::PodFacts;
use crate::planner::{Action, Plan};

/// What executing changed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// A restart that was started now.
    pub restart: Option<RestartInProgress>,
}

#[allow(clippy::too_many_arguments)]
pub async fn execute(
    ctx: &Context,
    ens: &ZabEnsemble,
    names: &Names,
    facts: &[PodFacts],
    p: &Plan,
    prev: &ZabEnsembleStatus,
    now: Timestamp,
    generation: Option<i64>,
) -> Result<Outcome, Error> {
    if p.in_flight_done {
        if let Some(r) = &prev.restart {
            publish(
                ctx,
                ens,
                EventType::Normal,
                "MemberRestarted",
                "Restart",
                format!("{} is back and synced with the leader", r.pod),
                Some(pod_ref(names, &r.pod, None)),
            )
            .await;
        }
    }
    match &p.action {
        Action::Restart { pod, reason, why, .. } => {
            let Some(uid) = facts.iter().find(|f| &f.name == pod).map(|f| f.uid.clone()) else {
                return Ok(Outcome::default());
            };
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
            let dp = DeleteParams {
                preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                ..DeleteParams::default()
            };
            match api.delete(pod, &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                    warn!(pod = %pod, code = s.code, "pod already gone or replaced; planning again");
                    return Ok(Outcome::default());
                }
                Err(e) => return Err(e.into()),
            }
            info!(pod = %pod, reason = reason.as_str(), why = %why, "restarting member");
            ctx.metrics.restart(reason.as_str());
            let event_reason = match reason {
                crate::planner::RestartReason::Rollout => "RestartingMember",
                crate::planner::RestartReason::Repair => "RepairingMember",
            };
            let related = Some(pod_ref(names, pod, Some(uid.clone())));
            publish(ctx, ens, EventType::Normal, event_reason, "Restart", why.clone(), related).await;
            Ok(Outcome {
                restart: Some(RestartInProgress {
                    pod: pod.clone(),
                    reason: reason.as_str().to_owned(),
                    since: Time(now),
                    old_uid: uid,
                    generation,
                }),
            })
        }
        Action::Refuse { reason, message } => {
            announce(ctx, ens, prev, "Refuse", reason, message, true).await;
            Ok(Outcome::default())
        }
        Action::Degraded { reason, message } => {
            announce(ctx, ens, prev, "Stop", reason, message, true).await;
            Ok(Outcome::default())
        }
        Action::Scale(step) => {
            // Scaling steps need zab-node's reconfig (issue 15); the planner does not emit
            // them while it is unsupported. Never carry one out by other means.
            let message =
                format!("scaling step {step:?} needs zab-node reconfiguration support, which this build lacks");
            announce(ctx, ens, prev, "Refuse", "ReconfigurationUnavailable", &message, true).await;
            Ok(Outcome::default())
        }
        Action::Wait { reason, message } => {
            announce(ctx, ens, prev, "Wait", reason, message, false).await;
            Ok(Outcome::default())
        }
        Action::Steady | Action::Paused => Ok(Outcome::default()),
    }
}

/// Publishes an event when `reason` is not already the standing reason of the Degraded
/// (warnings) or Progressing (normal) condition.
pub async fn announce(
    ctx: &Context,
    ens: &ZabEnsemble,
    prev: &ZabEnsembleStatus,
    action: &str,
    reason: &str,
    message: &str,
    warning: bool,
) {
    let cond = if warning { DEGRADED } else { PROGRESSING };
    let standing = prev.conditions.iter().any(|c| c.type_ == cond && c.status == "True" && c.reason == reason);
    if standing {
        return;
    }
    let t = if warning { EventType::Warning } else { EventType::Normal };
    publish(ctx, ens, t, reason, action, message.to_owned(), None).await;
}

/// The pod an event is about (the related object: events about different pods stay
/// separate instead of being folded into one series).
fn pod_ref(names: &Names, pod: &str, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(pod.to_owned()),
        namespace: Some(names.namespace.clone()),
        uid,
        ..ObjectReference::default()
    }
}

async fn publish(
    ctx: &Context,
    ens: &ZabEnsemble,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
    related: Option<ObjectReference>,
) {
    let ev =
        Event { type_, reason: reason.to_owned(), note: Some(note), action: action.to_owned(), secondary: related };
    if let Err(e) = ctx.recorder.publish(&ev, &ens.object_ref(&())).await {
        warn!(reason, error = %e, "could not publish an event");
    }
}
