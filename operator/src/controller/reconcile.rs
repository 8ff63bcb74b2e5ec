//! One reconcile of one ZabEnsemble, as a pipeline (STYLE.md habit 10):
//! dereference (read the StatefulSet, the pods, whether the ServiceMonitor CRD exists) ->
//! validate (pure) -> build (pure) -> apply (server-side apply) -> probe the members'
//! /status -> observe and plan (pure) -> execute the one action -> update_status (only
//! when it changed). An invalid spec is reported, never applied; `paused` applies and
//! executes nothing. Each step's duration goes to the metrics; the whole pass runs in a
//! tracing span named after the ensemble.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info_span, Instrument};
use zab_status::MemberStatus;

use super::execute::{announce, execute, Outcome, Scene};
use super::{apply, Context, Error, FIELD_MANAGER};
use crate::build::{
    build_layout, secret, selector_string, service_monitor, Layout, Membership, Names, MEMBERS_ANNOTATION,
    OBSERVERS_ANNOTATION,
};
use crate::conditions::{conditions, Summary};
use crate::crd::{ZabEnsemble, ZabEnsembleStatus};
use crate::observe::{observe, PodFacts, Target};
use crate::planner::{self, plan, Action, InFlight, PlanInput};
use crate::validate::validate;

/// Requeue delays: something in motion, something stopped, steady.
const SOON: Duration = Duration::from_secs(5);
const STOPPED: Duration = Duration::from_secs(30);
const STEADY: Duration = Duration::from_secs(300);

/// The reconciler handed to `kube::runtime::Controller`.
pub async fn reconcile(ens: Arc<ZabEnsemble>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let span =
        info_span!("reconcile", ensemble = %format!("{}/{}", ens.namespace().unwrap_or_default(), ens.name_any()));
    let started = Instant::now();
    let r = reconcile_inner(&ens, &ctx).instrument(span).await;
    ctx.metrics.step("reconcile", started.elapsed());
    ctx.metrics.reconciled(r.is_ok());
    r
}

fn timed<T>(ctx: &Context, step: &str, t: Instant, v: T) -> T {
    ctx.metrics.step(step, t.elapsed());
    v
}

/// The membership a StatefulSet was built for (its annotations).
pub fn membership_of(sts: &StatefulSet) -> Option<Membership> {
    let a = sts.metadata.annotations.as_ref()?;
    Some(Membership {
        members: a.get(MEMBERS_ANNOTATION)?.parse().ok()?,
        observers: a.get(OBSERVERS_ANNOTATION)?.parse().ok()?,
    })
}

async fn reconcile_inner(ens: &ZabEnsemble, ctx: &Context) -> Result<Requeue, Error> {
    if ens.meta().deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove every owned object; the
        // StatefulSet's PVC retention policy decides about the volumes.
        return Ok(Requeue::await_change());
    }
    let names = Names::of(ens)?;
    let client = &ctx.client;

    // dereference. The ensemble itself is read again: the watch cache can lag behind the
    // status this operator wrote a moment ago (the restart in flight must never be lost).
    let t = Instant::now();
    let ens_api: Api<ZabEnsemble> = Api::namespaced(client.clone(), &names.namespace);
    let Some(fresh) = ens_api.get_opt(&names.ensemble).await? else { return Ok(Requeue::await_change()) };
    if fresh.meta().deletion_timestamp.is_some() {
        return Ok(Requeue::await_change());
    }
    let ens = &fresh;
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &names.namespace);
    let sts = sts_api.get_opt(&names.statefulset()).await?;
    let pods = Api::<Pod>::namespaced(client.clone(), &names.namespace)
        .list(&ListParams::default().labels(&selector_string(&names.ensemble)))
        .await?;
    // The super user's Secret (reconfig credentials): made once, before any pod needs it.
    let password = if validate(&ens.spec).is_empty() && !ens.spec.paused {
        apply::super_secret(client, &names, || Ok(secret::build(ens, &names, &random_password()?)?)).await?
    } else {
        None
    };
    let sm_crd = if ens.spec.metrics.service_monitor.enabled {
        Api::<CustomResourceDefinition>::all(client.clone()).get_opt(service_monitor::CRD_NAME).await?.is_some()
    } else {
        false
    };
    timed(ctx, "dereference", t, ());

    // validate
    let t = Instant::now();
    let invalid = timed(ctx, "validate", t, validate(&ens.spec));
    let desired = Membership { members: ens.spec.members.max(0) as u32, observers: ens.spec.observers.max(0) as u32 };
    let current = sts.as_ref().and_then(membership_of).unwrap_or(desired);

    // build (with the membership that runs: only the planner's scale steps change the
    // StatefulSet's replicas and the recorded membership)
    let t = Instant::now();
    let replicas = sts.as_ref().and_then(|s| s.spec.replicas).map(|r| r.max(0) as u32).unwrap_or(current.total());
    let layout = Layout { membership: current, replicas, joining: desired.total().saturating_sub(current.total()) };
    let built = timed(ctx, "build", t, build_layout(ens, layout, sm_crd))?;

    // apply
    let mut sts = sts;
    if invalid.is_empty() && !ens.spec.paused {
        let t = Instant::now();
        sts = Some(timed(ctx, "apply", t, apply::apply_all(client, &names, &built, sm_crd).await)?);
    }

    // probe
    let t = Instant::now();
    let facts: Vec<PodFacts> = pods.items.iter().map(PodFacts::of).collect();
    let reports = timed(ctx, "probe", t, probe_all(ctx, &facts).await);

    // observe and plan
    let t = Instant::now();
    let now = (ctx.clock)();
    let sts_observed = sts.as_ref().is_some_and(|s| {
        s.status.as_ref().and_then(|st| st.observed_generation) >= s.metadata.generation
            && s.metadata.generation.is_some()
    });
    let target = if invalid.is_empty() {
        Target {
            config_hash: built.config_hash.clone(),
            image: ens.spec.image.clone(),
            revision: sts.as_ref().filter(|_| sts_observed).and_then(|s| s.status.as_ref()?.update_revision.clone()),
        }
    } else {
        // Nothing new is applied: the pods are measured against what runs.
        running_target(sts.as_ref())
    };
    let mut observed = observe(&names, current, replicas, &facts, &reports, &target);
    let key = format!("{}/{}", names.namespace, names.ensemble);
    fill_out_for(ctx, &key, &facts, &mut observed.views, &observed.out_of_ensemble, now);

    let prev = ens.status.clone().unwrap_or_default();
    let generation = ens.meta().generation;
    let mut restart = prev.restart.clone();
    if let Some(r) = &restart {
        let timed_out = elapsed(now, &r.since) > ctx.limits.restart_timeout;
        if timed_out && r.generation != generation {
            // The spec changed since the roll stopped: start over from the new spec.
            restart = None;
        }
    }
    let in_flight = restart.as_ref().map(|r| InFlight {
        pod: r.pod.clone(),
        old_uid: r.old_uid.clone(),
        elapsed: elapsed(now, &r.since),
    });
    let synced_now: BTreeSet<&str> = observed.states.iter().filter(|s| s.synced).map(|s| s.pod.as_str()).collect();
    let mut repaired: Vec<String> =
        prev.repaired.iter().filter(|p| !synced_now.contains(p.as_str())).cloned().collect();
    let decision = invalid.is_empty().then(|| {
        let p = plan(&PlanInput {
            desired,
            current,
            replicas,
            members: &observed.views,
            in_flight: in_flight.as_ref(),
            repaired: &repaired,
            paused: ens.spec.paused,
            reconfig_supported: password.is_some(),
            config: observed.config.as_ref(),
            limits: ctx.limits,
        });
        if matches!(p.action, Action::Restart { .. } | Action::HandOver { .. }) && !sts_observed {
            let wait = Action::Wait {
                reason: "StatefulSetNotObserved",
                message: "the StatefulSet controller has not seen the current template yet".into(),
            };
            return planner::Plan { action: wait, in_flight_done: p.in_flight_done };
        }
        p
    });
    timed(ctx, "plan", t, ());

    // execute
    let t = Instant::now();
    let outcome = match &decision {
        Some(p) => {
            let scene = Scene {
                ens,
                names: &names,
                facts: &facts,
                built: &built,
                prev: &prev,
                password: password.as_deref(),
                config: observed.config.as_ref(),
                leader_pod: observed.leader_pod.as_deref(),
                now,
                generation,
            };
            execute(ctx, &scene, p).await?
        }
        None => Outcome::default(),
    };
    if let Some(d) = &decision {
        if d.in_flight_done {
            restart = None;
        }
    }
    if let Some(r) = outcome.restart {
        if r.reason == "repair" && !repaired.contains(&r.pod) {
            repaired.push(r.pod.clone());
        }
        restart = Some(r);
    }
    if !invalid.is_empty() {
        announce(
            ctx,
            ens,
            &prev,
            "InvalidSpec",
            invalid[0].reason,
            &invalid.iter().map(|i| i.message.clone()).collect::<Vec<_>>().join("; "),
            true,
        )
        .await;
    }
    timed(ctx, "execute", t, ());

    // update_status
    let t = Instant::now();
    let action = decision.as_ref().map(|d| &d.action);
    let ready_participants = observed.states.iter().take(current.members as usize).filter(|s| s.ready).count();
    let summary = Summary {
        invalid: &invalid,
        action,
        leader: observed.leader_pod.as_deref(),
        ready_participants,
        participants: current.members,
        ready: observed.ready,
        total: current.total(),
    };
    let images: BTreeSet<Option<&String>> = facts.iter().map(|f| f.image.as_ref()).collect();
    let status = ZabEnsembleStatus {
        observed_generation: generation,
        conditions: conditions(&prev.conditions, &summary, generation, &Time(now)),
        ready_members: observed.ready,
        selector: selector_string(&names.ensemble),
        leader: observed.leader_pod.clone(),
        zxid: observed.zxid.clone(),
        configuration_version: observed.config_version.clone(),
        current_members: Some(current.members as i32),
        current_observers: Some(current.observers as i32),
        current_image: match (images.len(), images.into_iter().next()) {
            (1, Some(Some(i))) => Some(i.clone()),
            _ => None,
        },
        target_image: Some(ens.spec.image.clone()),
        current_config_hash: observed.common_hash.clone(),
        target_config_hash: Some(target.config_hash.clone()),
        members: observed.states.clone(),
        restart,
        repaired,
    };
    if status != prev {
        let body = json!({ "apiVersion": "zab.io/v1alpha1", "kind": "ZabEnsemble", "status": status });
        ens_api.patch_status(&names.ensemble, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await?;
    } else {
        debug!("status unchanged; not written");
    }
    timed(ctx, "status", t, ());

    Ok(match action {
        None => Requeue::requeue(STEADY),
        Some(Action::Steady) | Some(Action::Paused) => Requeue::requeue(STEADY),
        Some(Action::Degraded { .. }) | Some(Action::Refuse { .. }) => Requeue::requeue(STOPPED),
        Some(_) => Requeue::requeue(SOON),
    })
}

/// 24 random bytes from the kernel, hex: the super user's password.
fn random_password() -> Result<String, Error> {
    use std::io::Read;
    let mut b = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::Random(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn elapsed(now: Timestamp, since: &Time) -> Duration {
    now.duration_since(since.0).try_into().unwrap_or(Duration::ZERO)
}

/// The template that runs (from the StatefulSet), for an ensemble whose spec is invalid.
fn running_target(sts: Option<&StatefulSet>) -> Target {
    let tmpl = sts.map(|s| &s.spec.template);
    let hash = tmpl
        .and_then(|t| t.metadata.as_ref()?.annotations.as_ref()?.get(crate::build::CONFIG_HASH_ANNOTATION).cloned())
        .unwrap_or_default();
    let image = tmpl.and_then(|t| t.spec.as_ref()?.containers.first()?.image.clone()).unwrap_or_default();
    Target { config_hash: hash, image, revision: sts.and_then(|s| s.status.as_ref()?.update_revision.clone()) }
}

/// Every running member's /status, concurrently; a member that does not answer is absent.
async fn probe_all(ctx: &Context, facts: &[PodFacts]) -> BTreeMap<String, MemberStatus> {
    let asks = facts.iter().filter(|f| !f.terminating).filter_map(|f| {
        let ip = f.ip.clone()?;
        let fut = ctx.prober.status(&ip);
        Some(async move { (f.name.clone(), fut.await) })
    });
    let mut out = BTreeMap::new();
    for (name, r) in futures::future::join_all(asks).await {
        match r {
            Ok(s) => {
                out.insert(name, s);
            }
            Err(e) => debug!(pod = %name, error = %e, "member status unavailable"),
        }
    }
    out
}

/// Remembers since when each pod has been out of the ensemble and sets `out_for`.
fn fill_out_for(
    ctx: &Context,
    key: &str,
    facts: &[PodFacts],
    views: &mut [planner::MemberView],
    out: &[String],
    now: Timestamp,
) {
    let Ok(mut all) = ctx.out_since.lock() else { return };
    let prev = all.remove(key).unwrap_or_default();
    let mut next = HashMap::new();
    for name in out {
        let Some(f) = facts.iter().find(|f| &f.name == name) else { continue };
        let since = prev.get(&f.uid).copied().unwrap_or(now);
        next.insert(f.uid.clone(), since);
        if let Some(v) = views.iter_mut().find(|v| &v.name == name) {
            v.out_for = Some(now.duration_since(since).try_into().unwrap_or(Duration::ZERO));
        }
    }
    all.insert(key.to_owned(), next);
}
