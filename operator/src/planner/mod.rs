//! The planner: a pure function from what the operator sees (the spec's membership, the
//! members' pods and their /status reports, the restart in flight) to the ONE next action:
//! nothing, restart pod N, wait (why), degraded (why), refuse (why), or a scaling step.
//! No I/O, no clock (elapsed times are inputs), so every decision is property-tested.
//!
//! Rules (issue 12): restart one member at a time, only when the ensemble has a leader and
//! every member is synced in the leader's epoch, and only when the rest still hold a quorum
//! of synced participants; observers first, then followers, the leader last; after a
//! restart wait until the member is synced in the leader's epoch again; a member that does
//! not come back in time stops the roll with Degraded. A member stuck out of the ensemble
//! is restarted once, then reported Degraded. Before the leader's own restart its leadership
//! is handed over to a synced follower (`POST /commands/handover`), so the ensemble never
//! waits for an election. Scaling goes through dynamic reconfiguration only (never by
//! rewriting the static server list, which allows two disjoint quorums): `scale.rs`.

mod restart;
mod scale;

use std::time::Duration;

use zab_status::Role;

use crate::build::Membership;

pub use scale::{ConfigView, ScaleStep};

/// A member's pod as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub uid: String,
    /// Runs the pod template (image, zoo.cfg hash, overrides) the spec asks for.
    pub up_to_date: bool,
    /// Has a deletionTimestamp.
    pub terminating: bool,
    /// The kubelet's Ready condition (the readiness probe, /readyz): what Services and the
    /// PodDisruptionBudget count.
    pub ready: bool,
}

/// What a member said at GET /status (the fields the planner decides by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub role: Role,
    /// In broadcast after UPTODATE in its current epoch.
    pub synced: bool,
    pub current_epoch: i64,
    pub leader_sid: Option<u64>,
}

/// One member: ordinal, pod, report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub ordinal: u32,
    /// Pod name (`<statefulset>-<ordinal>`), whether or not the pod exists.
    pub name: String,
    /// A voting participant in the running configuration (else an observer).
    pub participant: bool,
    /// None: the pod does not exist.
    pub pod: Option<PodView>,
    /// None: /status did not answer.
    pub report: Option<Report>,
    /// How long the operator has seen this member running but out of the ensemble (not
    /// synced while the others have a leader); None when it is not.
    pub out_for: Option<Duration>,
}

impl MemberView {
    pub fn myid(&self) -> u64 {
        u64::from(self.ordinal) + 1
    }
}

/// Why a member is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// Its pod runs an older template or zoo.cfg.
    Rollout,
    /// It was stuck out of the ensemble.
    Repair,
}

impl RestartReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartReason::Rollout => "rollout",
            RestartReason::Repair => "repair",
        }
    }
}

/// The restart the operator started and waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub pod: String,
    pub old_uid: String,
    pub elapsed: Duration,
}

/// Time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A restarted member must be synced again within this.
    pub restart_timeout: Duration,
    /// A member out of the ensemble this long is restarted once (repair).
    pub repair_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { restart_timeout: Duration::from_secs(300), repair_after: Duration::from_secs(120) }
    }
}

/// Everything the planner decides by.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// What the spec asks for.
    pub desired: Membership,
    /// What the running configuration and StatefulSet are built for.
    pub current: Membership,
    /// The StatefulSet's replicas now.
    pub replicas: u32,
    /// Members by ordinal, 0..replicas.
    pub members: &'a [MemberView],
    pub in_flight: Option<&'a InFlight>,
    /// Pods already restarted once by repair.
    pub repaired: &'a [String],
    pub paused: bool,
    /// zab-node supports dynamic reconfiguration (the pods run with reconfigEnabled=true and
    /// the operator holds the super user's password); without it a scale is refused.
    pub reconfig_supported: bool,
    /// The quorum configuration the leader reports, if any.
    pub config: Option<&'a ConfigView>,
    pub limits: Limits,
}

/// The next thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do; everything matches the spec.
    Steady,
    /// spec.paused: no action.
    Paused,
    /// Delete this pod (the StatefulSet recreates it from the current template).
    Restart { pod: String, ordinal: u32, reason: RestartReason, why: String },
    /// Something is in motion; look again soon.
    Wait { reason: &'static str, message: String },
    /// Stopped: a human must look.
    Degraded { reason: &'static str, message: String },
    /// The spec asks for something that cannot be done safely.
    Refuse { reason: &'static str, message: String },
    /// The leader (sid) is the next member to restart: hand its leadership over to the
    /// synced follower `to` (sid) first; the restart follows once the new leader serves.
    HandOver { leader: u64, to: u64, why: String },
    /// A step of a reconfiguration-based scale.
    Scale(ScaleStep),
}

/// The planner's answer: the action, and whether the restart in flight is finished (the
/// caller forgets it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: Action,
    pub in_flight_done: bool,
}

/// Plans the next action.
pub fn plan(input: &PlanInput) -> Plan {
    if input.paused {
        return Plan { action: Action::Paused, in_flight_done: false };
    }
    let mut in_flight_done = false;
    if let Some(f) = input.in_flight {
        match restart::in_flight(input, f) {
            Some(action) => return Plan { action, in_flight_done: false },
            None => in_flight_done = true,
        }
    }
    let action = if scale::scaling(input) { scale::plan(input) } else { restart::plan(input) };
    Plan { action, in_flight_done }
}

/// The leader as the members see it: the one participant that reports leading (or
/// standalone) and synced, and whose epoch and sid a majority of participants report. Returns (ordinal, epoch).
pub fn leader(input: &PlanInput) -> Option<(u32, i64)> {
    let mut leaders = input.members.iter().filter(|m| {
        m.participant
            && m.pod.as_ref().is_some_and(|p| !p.terminating)
            && m.report.as_ref().is_some_and(|r| leads(r.role) && r.synced)
    });
    let l = leaders.next()?;
    if leaders.next().is_some() {
        return None;
    }
    let epoch = l.report.as_ref()?.current_epoch;
    let backing = input.members.iter().filter(|m| m.participant && synced_with(m, l.myid(), epoch)).count();
    (backing >= majority(participants(input))).then_some((l.ordinal, epoch))
}

/// Synced in the epoch of the leader `leader_sid` (the leader itself counts).
pub fn synced_with(m: &MemberView, leader_sid: u64, epoch: i64) -> bool {
    if m.pod.as_ref().is_none_or(|p| p.terminating) {
        return false;
    }
    match &m.report {
        Some(r) if m.myid() == leader_sid => leads(r.role) && r.synced && r.current_epoch == epoch,
        Some(r) => r.synced && r.current_epoch == epoch && r.leader_sid == Some(leader_sid),
        None => false,
    }
}

/// Leading, or standalone (a one-member ensemble runs as a standalone server: it is its own
/// leader).
fn leads(role: Role) -> bool {
    matches!(role, Role::Leading | Role::Standalone)
}

/// Voting participants of the running configuration (the members marked so; during a
/// scale the configuration, not the spec, says who votes).
pub fn participants(input: &PlanInput) -> u32 {
    input.members.iter().filter(|m| m.participant).count() as u32
}

/// Votes needed for a quorum of `participants`.
pub fn majority(participants: u32) -> usize {
    participants as usize / 2 + 1
}

/// Synced participants other than `except` (an ordinal).
pub fn synced_participants_without(input: &PlanInput, leader: (u32, i64), except: u32) -> usize {
    let sid = u64::from(leader.0) + 1;
    input.members.iter().filter(|m| m.participant && m.ordinal != except && synced_with(m, sid, leader.1)).count()
}
