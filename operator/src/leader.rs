//! Leader election between operator replicas through a coordination.k8s.io/v1 Lease,
//! written directly on the Lease API: acquire (create, or take over an expired Lease),
//! renew, release. Writes use the Lease's resourceVersion, so two replicas racing for it
//! cannot both win (one gets 409 Conflict). A replica acts only while it holds the Lease
//! and stops acting (the process exits) when it cannot renew within `renew_deadline`,
//! which is shorter than the lease duration, before anyone else may take over.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tracing::{info, warn};

/// Lease timing (client-go's defaults scaled: 15 s lease, renew every 5 s, give up after 10 s).
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    pub duration: Duration,
    pub renew_every: Duration,
    pub renew_deadline: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(10),
        }
    }
}

/// What to do with the Lease as it is now (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it over (a new transition).
    TakeOver,
    /// Someone else holds it until this time.
    HeldBy { holder: String, until: Timestamp },
}

pub fn decide(lease: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease else { return Decision::Create };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder == me {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(15).max(1));
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()).map(|t| t.0);
    let until = renewed.and_then(|t| t.checked_add(jiff::SignedDuration::from_secs(secs)).ok());
    match until {
        Some(until) if until > now => Decision::HeldBy { holder: holder.to_owned(), until },
        _ => Decision::TakeOver,
    }
}

/// One replica's handle on the Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
}

impl LeaseLock {
    pub fn new(api: Api<Lease>, name: &str, identity: &str, timing: LeaseTiming) -> LeaseLock {
        LeaseLock { api, name: name.to_owned(), identity: identity.to_owned(), timing }
    }

    fn spec(&self, now: Timestamp, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timing.duration.as_secs() as i32),
            acquire_time: Some(acquire.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Acquires or renews; Ok(true) while we hold the Lease.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(current.as_ref().and_then(|l| l.spec.as_ref()), &self.identity, now);
        let result = match (decision, current) {
            (Decision::Create, _) => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                    spec: Some(self.spec(now, None, 0)),
                };
                self.api.create(&PostParams::default(), &lease).await.map(|_| ())
            }
            (Decision::HeldBy { .. }, _) | (_, None) => return Ok(false),
            (d, Some(mut lease)) => {
                let old = lease.spec.take().unwrap_or_default();
                let transitions = old.lease_transitions.unwrap_or(0);
                lease.spec = Some(if d == Decision::Renew {
                    self.spec(now, old.acquire_time, transitions)
                } else {
                    info!(lease = %self.name, previous = ?old.holder_identity, "taking over the leader Lease");
                    self.spec(now, None, transitions + 1)
                });
                self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "holding the leader Lease");
                    return;
                }
                Ok(false) => {}
                Err(e) => warn!(lease = %self.name, error = %e, "cannot read or write the leader Lease; retrying"),
            }
        }
    }

    /// Renews until a renewal has failed for `renew_deadline`; returns then (leadership lost).
    pub async fn keep(&self) {
        let mut tick = tokio::time::interval(self.timing.renew_every);
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!(lease = %self.name, "another replica holds the leader Lease");
                    return;
                }
                Err(e) => warn!(lease = %self.name, error = %e, "renewing the leader Lease failed"),
            }
            if last_ok.elapsed() >= self.timing.renew_deadline {
                warn!(lease = %self.name, "could not renew the leader Lease in time; stopping");
                return;
            }
        }
    }

    /// Gives the Lease up (on shutdown) so another replica takes over at once.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else { return Ok(()) };
        let Some(spec) = lease.spec.as_mut() else { return Ok(()) };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn held(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(at(renewed))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(None, "a", at(100)), Decision::Create);
        assert_eq!(decide(Some(&held("a", 90)), "a", at(100)), Decision::Renew);
        assert_eq!(decide(Some(&held("b", 90)), "a", at(100)), Decision::HeldBy { holder: "b".into(), until: at(105) });
        assert_eq!(decide(Some(&held("b", 90)), "a", at(105)), Decision::TakeOver, "expired at renew + duration");
        let mut free = held("b", 99);
        free.holder_identity = None;
        assert_eq!(decide(Some(&free), "a", at(100)), Decision::TakeOver, "released");
        let mut never = held("b", 0);
        never.renew_time = None;
        assert_eq!(decide(Some(&never), "a", at(100)), Decision::TakeOver, "no time: expired");
    }
}
