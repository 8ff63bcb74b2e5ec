//! The Available / Progressing / Degraded conditions, from the validation result, the
//! planner's action and what was observed. Pure. A condition keeps its
//! lastTransitionTime while its status stays the same, and no message carries a time, so an
//! unchanged ensemble produces an unchanged status (no self-triggered reconciles).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::planner::{majority, Action, RestartReason};
use crate::validate::Invalid;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// What the conditions are made from.
#[derive(Debug, Clone)]
pub struct Summary<'a> {
    pub invalid: &'a [Invalid],
    /// The planner's action (None when the spec is invalid and nothing was planned).
    pub action: Option<&'a Action>,
    pub leader: Option<&'a str>,
    /// Participants that report ready.
    pub ready_participants: usize,
    pub participants: u32,
    pub ready: i32,
    pub total: u32,
}

/// (status, reason, message) of the three conditions.
pub fn evaluate(s: &Summary) -> [(&'static str, bool, String, String); 3] {
    let quorum = s.leader.is_some() && s.ready_participants >= majority(s.participants);
    let available = if quorum {
        (
            true,
            "QuorumServing".to_owned(),
            format!("{} of {} members ready; leader {}", s.ready, s.total, s.leader.unwrap_or("")),
        )
    } else if s.leader.is_none() {
        (false, "NoLeader".to_owned(), format!("{} of {} members ready; no leader with a quorum", s.ready, s.total))
    } else {
        (
            false,
            "NoQuorum".to_owned(),
            format!(
                "{} of {} participants ready; {} needed",
                s.ready_participants,
                s.participants,
                majority(s.participants)
            ),
        )
    };
    let (progressing, degraded) = if let Some(first) = s.invalid.first() {
        let msg = s.invalid.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join("; ");
        ((false, "InvalidSpec".to_owned(), msg.clone()), (true, first.reason.to_owned(), msg))
    } else {
        match s.action {
            None | Some(Action::Steady) => {
                ((false, "Stable".to_owned(), "every member runs the current template and is synced".to_owned()), ok())
            }
            Some(Action::Paused) => {
                ((false, "Paused".to_owned(), "spec.paused is true: the operator changes nothing".to_owned()), ok())
            }
            Some(Action::Restart { reason, why, .. }) => {
                let r = match reason {
                    RestartReason::Rollout => "RollingRestart",
                    RestartReason::Repair => "Repairing",
                };
                ((true, r.to_owned(), why.clone()), ok())
            }
            Some(Action::Wait { reason, message }) => ((true, (*reason).to_owned(), message.clone()), ok()),
            Some(Action::HandOver { why, .. }) => ((true, "HandingOverLeadership".to_owned(), why.clone()), ok()),
            Some(Action::Scale(step)) => ((true, "Scaling".to_owned(), step.describe()), ok()),
            Some(Action::Degraded { reason, message }) | Some(Action::Refuse { reason, message }) => {
                ((false, (*reason).to_owned(), message.clone()), (true, (*reason).to_owned(), message.clone()))
            }
        }
    };
    [
        (AVAILABLE, available.0, available.1, available.2),
        (PROGRESSING, progressing.0, progressing.1, progressing.2),
        (DEGRADED, degraded.0, degraded.1, degraded.2),
    ]
}

fn ok() -> (bool, String, String) {
    (false, "AsExpected".to_owned(), "nothing needs attention".to_owned())
}

/// The conditions, keeping each one's lastTransitionTime from `prev` when its status did
/// not change.
pub fn conditions(prev: &[Condition], s: &Summary, generation: Option<i64>, now: &Time) -> Vec<Condition> {
    evaluate(s)
        .into_iter()
        .map(|(type_, status, reason, message)| {
            let status = if status { "True" } else { "False" }.to_owned();
            let last_transition_time = prev
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: type_.to_owned(),
                status,
                reason,
                message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary<'a>(action: &'a Action, invalid: &'a [Invalid]) -> Summary<'a> {
        Summary {
            invalid,
            action: Some(action),
            leader: Some("zk-1"),
            ready_participants: 3,
            participants: 3,
            ready: 3,
            total: 3,
        }
    }

    fn time(s: i64) -> Time {
        Time(jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn steady_is_available_not_progressing_not_degraded() {
        let a = Action::Steady;
        let c = conditions(&[], &summary(&a, &[]), Some(4), &time(100));
        let got: Vec<(&str, &str, &str)> =
            c.iter().map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                ("Available", "True", "QuorumServing"),
                ("Progressing", "False", "Stable"),
                ("Degraded", "False", "AsExpected")
            ]
        );
        assert!(c.iter().all(|c| c.observed_generation == Some(4)));
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let a = Action::Steady;
        let first = conditions(&[], &summary(&a, &[]), Some(1), &time(100));
        let again = conditions(&first, &summary(&a, &[]), Some(1), &time(200));
        assert_eq!(first, again, "nothing changed: same conditions, same times");
        let r = Action::Refuse { reason: "ReconfigurationUnavailable", message: "m".into() };
        let refused = conditions(&again, &summary(&r, &[]), Some(2), &time(300));
        assert_eq!(refused[0].last_transition_time, time(100), "Available did not change");
        assert_eq!(refused[1].last_transition_time, time(100), "Progressing stayed False");
        assert_eq!((refused[2].status.as_str(), refused[2].reason.as_str()), ("True", "ReconfigurationUnavailable"));
        assert_eq!(refused[2].last_transition_time, time(300));
    }

    #[test]
    fn invalid_spec_is_degraded_with_the_first_reason_and_every_message() {
        let inv = [
            Invalid { reason: "EvenMembers", message: "set 3".into() },
            Invalid { reason: "UnknownConfigKey", message: "spelling".into() },
        ];
        let a = Action::Steady;
        let mut s = summary(&a, &inv);
        s.action = None;
        let c = conditions(&[], &s, None, &time(1));
        assert_eq!((c[1].status.as_str(), c[1].reason.as_str()), ("False", "InvalidSpec"));
        assert_eq!(
            (c[2].status.as_str(), c[2].reason.as_str(), c[2].message.as_str()),
            ("True", "EvenMembers", "set 3; spelling")
        );
    }

    #[test]
    fn no_quorum_is_not_available() {
        let a = Action::Wait { reason: "NoLeader", message: "m".into() };
        let mut s = summary(&a, &[]);
        s.leader = None;
        s.ready_participants = 1;
        let c = evaluate(&s);
        assert_eq!((c[0].1, c[0].2.as_str()), (false, "NoLeader"));
        assert_eq!((c[1].1, c[1].2.as_str()), (true, "NoLeader"));
    }
}
