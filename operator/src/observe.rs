//! Turns what the operator read (the members' pods and their /status reports) into the
//! planner's input (`MemberView`s, the leader's `ConfigView`) and the status entries
//! (`MemberState`s). Pure: no API calls, no clock.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use zab_status::{MemberStatus, Phase, Role};

use crate::build::{Membership, Names, CONFIG_HASH_ANNOTATION, REVISION_LABEL};
use crate::crd::MemberState;
use crate::planner::{self, ConfigView, MemberView, PodView, Report};

/// What one pod shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodFacts {
    pub name: String,
    pub uid: String,
    pub ip: Option<String>,
    pub terminating: bool,
    pub running: bool,
    /// The Ready condition is True.
    pub ready: bool,
    pub config_hash: Option<String>,
    pub image: Option<String>,
    pub revision: Option<String>,
}

impl PodFacts {
    pub fn of(pod: &Pod) -> PodFacts {
        let status = pod.status.as_ref();
        PodFacts {
            name: pod.name_any(),
            uid: pod.uid().unwrap_or_default(),
            ip: status.and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            running: status.and_then(|s| s.phase.as_deref()) == Some("Running"),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            config_hash: pod.annotations().get(CONFIG_HASH_ANNOTATION).cloned(),
            image: pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()),
            revision: pod.labels().get(REVISION_LABEL).cloned(),
        }
    }
}

/// What the pods must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub config_hash: String,
    pub image: String,
    /// The StatefulSet's updateRevision, when its controller has seen the current template.
    pub revision: Option<String>,
}

impl Target {
    pub fn up_to_date(&self, p: &PodFacts) -> bool {
        p.config_hash.as_deref() == Some(self.config_hash.as_str())
            && p.image.as_deref() == Some(self.image.as_str())
            && self.revision.as_ref().is_none_or(|r| p.revision.as_ref() == Some(r))
    }
}

/// The result of observing an ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub views: Vec<MemberView>,
    pub states: Vec<MemberState>,
    pub config: Option<ConfigView>,
    pub leader_pod: Option<String>,
    pub zxid: Option<String>,
    pub config_version: Option<String>,
    pub ready: i32,
    /// The hash every pod runs, when they all run the same.
    pub common_hash: Option<String>,
    /// Pods running but out of the ensemble while the others have a leader.
    pub out_of_ensemble: Vec<String>,
}

/// Observes members 0..count (the StatefulSet's replicas) from their pods and reports (by
/// pod name). Who votes comes from the leader's configuration when there is a leader (during
/// a scale it differs from the recorded membership), else from `membership`.
pub fn observe(
    names: &Names,
    membership: Membership,
    count: u32,
    pods: &[PodFacts],
    reports: &BTreeMap<String, MemberStatus>,
    target: &Target,
) -> Observed {
    let by_name: BTreeMap<&str, &PodFacts> = pods.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut views: Vec<MemberView> = (0..count)
        .map(|ordinal| {
            let name = names.pod(ordinal);
            let pod = by_name.get(name.as_str());
            MemberView {
                ordinal,
                participant: ordinal < membership.members,
                pod: pod.map(|p| PodView {
                    uid: p.uid.clone(),
                    up_to_date: target.up_to_date(p),
                    terminating: p.terminating,
                    ready: p.ready,
                }),
                report: reports.get(&name).map(|r| Report {
                    role: r.role,
                    // A standalone server (one member) is in sync with itself, in no phase.
                    synced: r.synced && (r.phase == Phase::Broadcast || r.role == Role::Standalone),
                    current_epoch: r.current_epoch,
                    leader_sid: r.leader_sid,
                }),
                out_for: None,
                name,
            }
        })
        .collect();
    let leader_of = |views: &[MemberView]| {
        planner::leader(&planner::PlanInput {
            desired: membership,
            current: membership,
            replicas: count,
            members: views,
            in_flight: None,
            repaired: &[],
            paused: false,
            reconfig_supported: false,
            config: None,
            limits: planner::Limits::default(),
        })
    };
    let mut leader = leader_of(&views);
    if let Some(cfg) = leader.and_then(|(o, _)| reports.get(&names.pod(o))).map(|l| config_view(l, reports)) {
        if !cfg.participants.is_empty() {
            for v in views.iter_mut() {
                v.participant = cfg.participants.contains(&v.myid());
            }
            leader = leader_of(&views).or(leader);
        }
    }
    let leader_report = leader.and_then(|(o, _)| reports.get(&names.pod(o)));
    let lag_of = |myid: u64| leader_report.and_then(|l| l.learners.iter().find(|x| x.sid == myid)).map(|x| x.lag);
    let states = views.iter().map(|v| member_state(v, reports.get(&v.name), lag_of(v.myid()))).collect();
    let out_of_ensemble = match leader {
        Some((l, epoch)) => views
            .iter()
            .filter(|v| by_name.get(v.name.as_str()).is_some_and(|p| p.running && !p.terminating))
            .filter(|v| !planner::synced_with(v, u64::from(l) + 1, epoch))
            .map(|v| v.name.clone())
            .collect(),
        None => vec![],
    };
    let hashes: BTreeSet<Option<&String>> = pods.iter().map(|p| p.config_hash.as_ref()).collect();
    let common_hash = match (hashes.len(), hashes.into_iter().next()) {
        (1, Some(Some(h))) if pods.len() as u32 == count => Some(h.clone()),
        _ => None,
    };
    Observed {
        // A leader that lists no members (an older zab-node) reports no configuration.
        config: leader_report.map(|l| config_view(l, reports)).filter(|c| !c.participants.is_empty()),
        leader_pod: leader.map(|(o, _)| names.pod(o)),
        zxid: leader_report.map(|l| l.last_logged_zxid.hex.clone()),
        config_version: leader_report.map(|l| l.quorum.config_version.hex.clone()),
        ready: reports.values().filter(|r| r.ready()).count() as i32,
        states,
        views,
        common_hash,
        out_of_ensemble,
    }
}

fn member_state(v: &MemberView, r: Option<&MemberStatus>, lag: Option<i64>) -> MemberState {
    let restart_pending = v.pod.as_ref().is_some_and(|p| !p.up_to_date);
    let Some(r) = r else {
        let phase = if v.pod.is_some() { "unreachable" } else { "missing" };
        return MemberState {
            pod: v.name.clone(),
            myid: v.myid() as i64,
            role: "unknown".into(),
            phase: phase.into(),
            restart_pending,
            ..MemberState::default()
        };
    };
    MemberState {
        pod: v.name.clone(),
        myid: r.myid as i64,
        role: role_str(r.role).into(),
        phase: phase_str(r.phase).into(),
        epoch: Some(r.current_epoch),
        last_zxid: Some(r.last_logged_zxid.hex.clone()),
        synced: r.synced,
        lag,
        digest: r.digest.as_ref().map(|d| format!("{:x}@{}", d.digest as u64, d.zxid.hex)),
        ready: r.ready(),
        restart_pending,
    }
}

fn config_view(leader: &MemberStatus, reports: &BTreeMap<String, MemberStatus>) -> ConfigView {
    let of = |t: &str| leader.quorum.members.iter().filter(|m| m.member_type == t).map(|m| m.sid).collect();
    let version = leader.quorum.config_version.value;
    let in_config: BTreeSet<u64> = leader.quorum.members.iter().map(|m| m.sid).collect();
    ConfigView {
        version,
        participants: of("participant"),
        observers: of("observer"),
        // Members a reconfig removed keep their old configuration: only those that stay count.
        reconfig_in_flight: leader.reconfig_in_flight,
        committed_on_all: reports
            .values()
            .filter(|r| in_config.contains(&r.myid))
            .all(|r| r.quorum.config_version.value == version),
    }
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Standalone => "standalone",
        Role::Looking => "looking",
        Role::Following => "following",
        Role::Leading => "leading",
        Role::Observing => "observing",
    }
}

fn phase_str(p: Phase) -> &'static str {
    match p {
        Phase::None => "none",
        Phase::Election => "election",
        Phase::Discovery => "discovery",
        Phase::Synchronization => "synchronization",
        Phase::Broadcast => "broadcast",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_status::{LearnerStatus, Member, Quorum, TreeDigest, Zxid};

    fn names() -> Names {
        Names { ensemble: "zk".into(), namespace: "prod".into() }
    }

    fn pod(o: u32, hash: &str) -> PodFacts {
        PodFacts {
            name: format!("zk-{o}"),
            uid: format!("u{o}"),
            ip: Some(format!("10.0.0.{o}")),
            terminating: false,
            running: true,
            ready: true,
            config_hash: Some(hash.into()),
            image: Some("img".into()),
            revision: Some("r1".into()),
        }
    }

    fn report(myid: u64, role: Role, leader: u64, synced: bool) -> MemberStatus {
        MemberStatus {
            schema_version: 1,
            myid,
            role,
            phase: if synced { Phase::Broadcast } else { Phase::Election },
            leader_sid: Some(leader),
            current_epoch: 2,
            accepted_epoch: 2,
            last_logged_zxid: Zxid::new(0x200000004),
            last_processed_zxid: Zxid::new(0x200000004),
            digest: Some(TreeDigest { zxid: Zxid::new(0x200000004), digest: 255 }),
            synced,
            quorum: Quorum {
                config_version: Zxid::new(0),
                members: (1..=3)
                    .map(|sid| Member { sid, member_type: "participant".into(), address: format!("zk-{}", sid - 1) })
                    .collect(),
            },
            reconfig_in_flight: false,
            client_connections: 0,
            outstanding_requests: 0,
            uptime_ms: 1,
            version: "v".into(),
            zookeeper_version: "3.8.4".into(),
            learners: if role == Role::Leading {
                vec![LearnerStatus {
                    sid: 1,
                    learner_type: "follower".into(),
                    sync_mode: None,
                    last_acked_zxid: Zxid::new(0x200000003),
                    lag: 1,
                    connected_since_ms: 0,
                }]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn members_leader_lag_digest_and_config() {
        let pods = [pod(0, "h"), pod(1, "h"), pod(2, "old")];
        let reports = BTreeMap::from([
            ("zk-0".to_owned(), report(1, Role::Following, 2, true)),
            ("zk-1".to_owned(), report(2, Role::Leading, 2, true)),
            ("zk-2".to_owned(), report(3, Role::Looking, 2, false)),
        ]);
        let target = Target { config_hash: "h".into(), image: "img".into(), revision: Some("r1".into()) };
        let o = observe(&names(), Membership { members: 3, observers: 0 }, 3, &pods, &reports, &target);
        assert_eq!(o.leader_pod.as_deref(), Some("zk-1"));
        assert_eq!(o.zxid.as_deref(), Some("0x200000004"));
        assert_eq!(o.ready, 2);
        assert_eq!(o.states[0].lag, Some(1));
        assert_eq!(o.states[0].digest.as_deref(), Some("ff@0x200000004"));
        assert_eq!(o.states[1].role, "leading");
        assert!(o.states[2].restart_pending && !o.states[0].restart_pending);
        assert_eq!(o.common_hash, None, "members run different hashes");
        assert_eq!(o.out_of_ensemble, ["zk-2"]);
        let cfg = o.config.unwrap();
        assert_eq!(cfg.participants.len(), 3);
        assert!(cfg.committed_on_all);
    }

    #[test]
    fn a_standalone_member_is_its_own_leader() {
        let mut r = report(1, Role::Standalone, 1, true);
        r.phase = Phase::None;
        r.leader_sid = None;
        let reports = BTreeMap::from([("zk-0".to_owned(), r)]);
        let target = Target { config_hash: "h".into(), image: "img".into(), revision: None };
        let o = observe(&names(), Membership { members: 1, observers: 0 }, 1, &[pod(0, "h")], &reports, &target);
        assert_eq!(o.leader_pod.as_deref(), Some("zk-0"));
        assert_eq!(o.ready, 1);
        assert!(o.out_of_ensemble.is_empty());
    }

    #[test]
    fn a_missing_or_silent_member_is_reported_as_such() {
        let pods = [pod(0, "h")];
        let target = Target { config_hash: "h".into(), image: "img".into(), revision: None };
        let o = observe(&names(), Membership { members: 3, observers: 0 }, 3, &pods, &BTreeMap::new(), &target);
        assert_eq!(o.states[0].phase, "unreachable");
        assert_eq!(o.states[1].phase, "missing");
        assert_eq!(o.leader_pod, None);
        assert!(o.out_of_ensemble.is_empty(), "no leader: nobody is out of an ensemble");
    }
}
