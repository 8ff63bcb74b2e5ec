//! The numbered scenarios, one file each, and their registry. A scenario gets a [`Ctx`] (client,
//! its own fresh namespace, the images under test), returns `Ok` or an error saying what was
//! expected and what was seen; the runner (main.rs) creates and deletes the namespace and dumps
//! diagnostics on failure. Names are `tNN_what`; `zab-k8s-e2e tNN` selects by prefix.
//! Never: share state between scenarios, or reach outside the scenario's namespace.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::cluster::Ctx;

pub mod t00_statefulset_smoke;
pub mod t10_operator_create;
pub mod t20_operator_scale_up;
pub mod t30_operator_scale_down;
pub mod t40_operator_rolling_restart;
pub mod t41_statefulset_rolling_update;
pub mod t50_operator_image_change;
pub mod t60_operator_delete_leader;
pub mod t70_operator_member_volume_lost;
pub mod t80_operator_restart_mid_roll;
pub mod t90_operator_delete_retention;

pub type Outcome = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// The whole scenario's deadline (its own waits have shorter ones).
    pub timeout: Duration,
    pub run: fn(Ctx) -> Outcome,
}

/// Every scenario, in order.
pub const ALL: &[Scenario] = &[Scenario {
    name: "t00_statefulset_smoke",
    about: "a hand-made 3-member StatefulSet ensemble forms by DNS names, serves a client through a ClusterIP Service, and a deleted pod comes back with its data",
    timeout: Duration::from_secs(600),
    run: |ctx| Box::pin(t00_statefulset_smoke::run(ctx)),
}, Scenario {
    name: "t10_operator_create",
    about: "zab-operator creates a 3-member ensemble from a ZabEnsemble; it reports Available and serves through its client Service",
    timeout: Duration::from_secs(600),
    run: |ctx| Box::pin(t10_operator_create::run(ctx)),
}, Scenario {
    name: "t20_operator_scale_up",
    about: "members 3 -> 5 under a continuous writer: new members join as observers and one reconfig promotes them; nobody restarts, no write lost",
    timeout: Duration::from_secs(1200),
    run: |ctx| Box::pin(t20_operator_scale_up::run(ctx)),
}, Scenario {
    name: "t30_operator_scale_down",
    about: "members 5 -> 3 with the leader among the removed, under a continuous writer: hand-over, reconfig, then the StatefulSet shrinks; no write lost",
    timeout: Duration::from_secs(1200),
    run: |ctx| Box::pin(t30_operator_scale_down::run(ctx)),
}, Scenario {
    name: "t40_operator_rolling_restart",
    about: "a zoo.cfg change rolls one member at a time, the leader last, under a continuous writer: no acknowledged write lost",
    timeout: Duration::from_secs(1200),
    run: |ctx| Box::pin(t40_operator_rolling_restart::run(ctx)),
}, Scenario {
    name: "t41_statefulset_rolling_update",
    about: "for comparison with t40: the same restart as a plain StatefulSet RollingUpdate (reverse ordinal order, the leader wherever it falls)",
    timeout: Duration::from_secs(1200),
    run: |ctx| Box::pin(t41_statefulset_rolling_update::run(ctx)),
}, Scenario {
    name: "t50_operator_image_change",
    about: "an image change rolls one member at a time, the leader last, never two unavailable, under a continuous writer",
    timeout: Duration::from_secs(1200),
    run: |ctx| Box::pin(t50_operator_image_change::run(ctx)),
}, Scenario {
    name: "t60_operator_delete_leader",
    about: "the leader's pod is deleted under a continuous writer; the ensemble recovers, the operator restarts nothing",
    timeout: Duration::from_secs(900),
    run: |ctx| Box::pin(t60_operator_delete_leader::run(ctx)),
}, Scenario {
    name: "t70_operator_member_volume_lost",
    about: "a follower's PVC and pod are deleted under a continuous writer; it comes back empty, resyncs from the leader and holds the old data",
    timeout: Duration::from_secs(900),
    run: |ctx| Box::pin(t70_operator_member_volume_lost::run(ctx)),
}, Scenario {
    name: "t80_operator_restart_mid_roll",
    about: "the operator's pod is deleted mid-roll; the next replica resumes, each member restarted once, never two at once",
    timeout: Duration::from_secs(1200),
    run: |ctx| Box::pin(t80_operator_restart_mid_roll::run(ctx)),
}, Scenario {
    name: "t90_operator_delete_retention",
    about: "deleting ZabEnsembles removes what they own; whenDeleted Delete removes the claims, Retain keeps them",
    timeout: Duration::from_secs(900),
    run: |ctx| Box::pin(t90_operator_delete_retention::run(ctx)),
}];

/// The scenarios `args` select: each arg is a scenario name or a prefix of one (`t00`).
pub fn select(args: &[String]) -> Result<Vec<&'static Scenario>, String> {
    let mut out: Vec<&'static Scenario> = Vec::new();
    for a in args {
        let hits: Vec<_> = ALL.iter().filter(|s| s.name == a || s.name.starts_with(a.as_str())).collect();
        if hits.is_empty() {
            let known: Vec<_> = ALL.iter().map(|s| s.name).collect();
            return Err(format!("no scenario named {a:?}; known: {}", known.join(", ")));
        }
        for s in hits {
            if !out.iter().any(|o| o.name == s.name) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_select_and_unknown_names_are_refused() {
        let picked = select(&["t00".to_owned(), "t00_statefulset_smoke".to_owned()]).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "t00_statefulset_smoke");
        assert!(select(&["t99".to_owned()]).is_err());
    }

    #[test]
    fn names_are_numbered_and_unique() {
        for (i, s) in ALL.iter().enumerate() {
            assert!(s.name.len() > 4 && s.name.starts_with('t') && s.name.as_bytes()[3] == b'_', "{}", s.name);
            assert!(ALL[i + 1..].iter().all(|o| o.name != s.name), "{} twice", s.name);
        }
    }
}
