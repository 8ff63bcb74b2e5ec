//! Carries out the planner's one action: deletes the pod to restart (guarded by its uid,
//! so a pod already replaced is never deleted by mistake), hands the leadership over before
//! the leader's restart, carries out a scale step (StatefulSet replicas and membership by
//! server-side apply, a reconfig as the super user, a hand-over), and publishes an event for
//! every decision (restart, hand-over, promote, remove, member back, refusal, stop). Events
//! for standing decisions go out when the decision first appears, not on every pass.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::events::{Event, EventType};
use kube::Resource;
use tracing::{info, warn};

use super::{apply, Context, Error};
use crate::build::configmap::server_address;
use crate::build::{Built, Names, CLIENT_PORT, MEMBERS_ANNOTATION, OBSERVERS_ANNOTATION};
use crate::conditions::{DEGRADED, PROGRESSING};
use crate::crd::{RestartInProgress, ZabEnsemble, ZabEnsembleStatus};
use crate::member_admin::{AdminError, HandOver, Reconfig};
use crate::observe::PodFacts;
use crate::planner::{Action, ConfigView, Plan, RestartReason, ScaleStep};

/// What executing changed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// A restart that was started now.
    pub restart: Option<RestartInProgress>,
}

/// What executing an action needs besides the context and the plan.
pub struct Scene<'a> {
    pub ens: &'a ZabEnsemble,
    pub names: &'a Names,
    pub facts: &'a [PodFacts],
    pub built: &'a Built,
    pub prev: &'a ZabEnsembleStatus,
    /// The super user's password (from the ensemble's Secret).
    pub password: Option<&'a str>,
    /// The leader's configuration and pod.
    pub config: Option<&'a ConfigView>,
    pub leader_pod: Option<&'a str>,
    pub now: Timestamp,
    pub generation: Option<i64>,
}

impl Scene<'_> {
    fn ip_of(&self, pod: &str) -> Option<String> {
        self.facts.iter().find(|f| f.name == pod).and_then(|f| f.ip.clone())
    }
    fn pod_of_sid(&self, sid: u64) -> String {
        self.names.pod(sid.saturating_sub(1) as u32)
    }
}

pub async fn execute(ctx: &Context, sc: &Scene<'_>, p: &Plan) -> Result<Outcome, Error> {
    let (ens, names, prev) = (sc.ens, sc.names, sc.prev);
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
        Action::Restart { pod, reason, why, .. } => restart(ctx, sc, pod, *reason, why).await,
        Action::HandOver { leader, to, why } => {
            let pod = sc.pod_of_sid(*leader);
            match handover(ctx, sc, *leader, *to).await {
                Ok(h) => {
                    info!(from = h.from, to = h.to, "leadership handed over before the leader's restart");
                    let related = Some(pod_ref(names, &pod, None));
                    publish(ctx, ens, EventType::Normal, "HandingOverLeadership", "HandOver", why.clone(), related)
                        .await;
                    Ok(Outcome::default())
                }
                Err(AdminError::Unsupported { .. }) => {
                    // An older zab-node: restart the leader as before (one election).
                    let why = format!(
                        "{pod} (the leader) runs an old template and its zab-node has no /commands/handover; restarting \
                         it without a hand-over (the ensemble elects a new leader meanwhile)"
                    );
                    restart(ctx, sc, &pod, RestartReason::Rollout, &why).await
                }
                Err(e) => {
                    announce(ctx, ens, prev, "HandOver", "HandOverFailed", &e.to_string(), false).await;
                    Ok(Outcome::default())
                }
            }
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
            scale(ctx, sc, step).await?;
            Ok(Outcome::default())
        }
        Action::Wait { reason, message } => {
            announce(ctx, ens, prev, "Wait", reason, message, false).await;
            Ok(Outcome::default())
        }
        Action::Steady | Action::Paused => Ok(Outcome::default()),
    }
}

/// Deletes the pod (guarded by its uid) and records the restart in flight.
async fn restart(ctx: &Context, sc: &Scene<'_>, pod: &str, reason: RestartReason, why: &str) -> Result<Outcome, Error> {
    let Some(uid) = sc.facts.iter().find(|f| f.name == pod).map(|f| f.uid.clone()) else {
        return Ok(Outcome::default());
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &sc.names.namespace);
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
        RestartReason::Rollout => "RestartingMember",
        RestartReason::Repair => "RepairingMember",
    };
    let related = Some(pod_ref(sc.names, pod, Some(uid.clone())));
    publish(ctx, sc.ens, EventType::Normal, event_reason, "Restart", why.to_owned(), related).await;
    Ok(Outcome {
        restart: Some(RestartInProgress {
            pod: pod.to_owned(),
            reason: reason.as_str().to_owned(),
            since: Time(sc.now),
            old_uid: uid,
            generation: sc.generation,
        }),
    })
}

/// POST /commands/handover to the leader `leader` (sid), naming `to`.
async fn handover(ctx: &Context, sc: &Scene<'_>, leader: u64, to: u64) -> Result<HandOver, AdminError> {
    let pod = sc.pod_of_sid(leader);
    let Some(ip) = sc.ip_of(&pod) else {
        return Err(AdminError::Failed { what: "handover", reason: format!("pod {pod} has no IP") });
    };
    info!(from = leader, to, "handing over leadership");
    ctx.admin.handover(&ip, Some(to)).await
}

/// Carries out one scale step. A refused or failed member call is announced and planned
/// again on the next pass; API errors fail the pass.
async fn scale(ctx: &Context, sc: &Scene<'_>, step: &ScaleStep) -> Result<(), Error> {
    let (ens, names, prev) = (sc.ens, sc.names, sc.prev);
    let note = step.describe();
    match step {
        ScaleStep::AddPods { replicas } | ScaleStep::RemovePods { replicas } => {
            let mut sts = sc.built.statefulset.clone();
            sts.spec.replicas = Some(*replicas as i32);
            apply::statefulset(&ctx.client, names, &sts).await?;
        }
        ScaleStep::Record(m) => {
            let mut sts = sc.built.statefulset.clone();
            let a = sts.metadata.annotations.get_or_insert_with(Default::default);
            a.insert(MEMBERS_ANNOTATION.to_owned(), m.members.to_string());
            a.insert(OBSERVERS_ANNOTATION.to_owned(), m.observers.to_string());
            apply::statefulset(&ctx.client, names, &sts).await?;
        }
        ScaleStep::HandOverLeadership { leader, to } => {
            if let Err(e) = handover(ctx, sc, *leader, *to).await {
                announce(ctx, ens, prev, "HandOver", "HandOverFailed", &e.to_string(), false).await;
                return Ok(());
            }
        }
        ScaleStep::Reconfigure { add_participants, add_observers, remove } => {
            let (Some(password), Some(cfg), Some(ip)) =
                (sc.password, sc.config, sc.leader_pod.and_then(|p| sc.ip_of(p)))
            else {
                return Ok(());
            };
            // A joiner's line carries its client port, as ZooKeeper's reconfig requires
            // ("each server should have 3 ports specified").
            let line = |sid: &u64, kind: &str| {
                format!("server.{sid}={};{CLIENT_PORT}", server_address(names, sid.saturating_sub(1) as u32, kind))
            };
            let joining = add_participants
                .iter()
                .map(|s| line(s, "participant"))
                .chain(add_observers.iter().map(|s| line(s, "observer")))
                .collect();
            let change = Reconfig { joining, leaving: remove.clone(), from_version: cfg.version };
            info!(step = %note, from_version = cfg.version, "reconfig");
            if let Err(e) = ctx.admin.reconfig(&ip, password, change).await {
                announce(ctx, ens, prev, "Reconfig", "ReconfigFailed", &e.to_string(), false).await;
                return Ok(());
            }
        }
    }
    info!(step = %note, "scale step");
    publish(ctx, ens, EventType::Normal, step.reason(), "Scale", note, None).await;
    Ok(())
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
