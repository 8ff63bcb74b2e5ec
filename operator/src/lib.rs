//! zab-operator: reconciles `ZabEnsemble` resources into running zab-node ensembles.
//!
//! # Layout
//! - [`crd`]: the resource's Rust types; the CRD YAML is generated from them.
//! - [`rbac`]: the one table of API permissions the code needs.
//! - [`cli`]: flags and environment.
//!
//! The reconcile pipeline (STYLE.md habit 10): dereference (client) -> validate (pure) ->
//! build (pure) -> apply (server-side apply, field manager `zab-operator`) -> update_status
//! (only when changed).

pub mod build;
pub mod cli;
pub mod conditions;
pub mod controller;
pub mod crd;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod planner;
pub mod probe;
pub mod rbac;
pub mod validate;
