//! zab-operator: reconciles `ZabEnsemble` resources into running zab-node ensembles.
//!
//! # Layout
//! - [`crd`]: the resource's Rust types; the CRD YAML is generated from them.
//! - [`validate`]: spec checks -> condition reason and message (pure).
//! - [`build`]: one builder per Kubernetes object (pure).
//! - [`probe`]: a member's GET /status, bounded; [`observe`]: pods and reports -> the
//!   planner's input and the member status (pure).
//! - [`planner`]: the one next action (restart, wait, degraded, refuse, scale step; pure,
//!   property-tested); [`conditions`]: Available / Progressing / Degraded (pure).
//! - [`controller`]: the kube-rs Controller and the reconcile pipeline, server-side apply,
//!   execution of the planner's action, events.
//! - [`member_admin`]: the leader hand-over and the reconfig op on members (behind a trait).
//! - [`leader`]: Lease-based leader election; [`metrics`], [`health`]: /metrics, /healthz,
//!   /readyz; [`rbac`]: the one table of API permissions; [`cli`]: flags and environment.
//!
//! The reconcile pipeline (STYLE.md habit 10): dereference (client) -> validate (pure) ->
//! build (pure) -> apply (server-side apply, field manager `zab-operator`) -> plan (pure) ->
//! execute -> update_status (only when changed).

pub mod build;
pub mod cli;
pub mod conditions;
pub mod controller;
pub mod crd;
pub mod health;
pub mod leader;
pub mod member_admin;
pub mod metrics;
pub mod observe;
pub mod planner;
pub mod probe;
pub mod rbac;
pub mod validate;
