//! Leader election with a `coordination.k8s.io/v1` Lease, so two replicas never write status at
//! once; the rules are client-go's `leaderelection`:
//! - expiry is judged by *observed* time: a follower notes when it last saw the lease record
//!   (holder, renewTime, resourceVersion) change, on its own monotonic clock, and takes over
//!   only when it has not changed for the lease duration. Clocks of the replicas never meet.
//! - a leader whose renewals have not succeeded for the renew deadline (shorter than the lease)
//!   stops leading, so a hung request cannot keep it writing after another replica took over.
//! - on shutdown the leader releases the lease (holder cleared), so the next one starts at once.
//!
//! Why not a crate (checked 2026-12-05 with `cargo add` + `cargo tree`): `kube-leader-election`
//! 0.44, the one built on our kube 4.2, judges expiry by comparing the holder's `renewTime` with
//! the local wall clock and has no renew deadline (it does step down); `kube-lease-manager`
//! 0.13 requires kube 5 and `kube-coordinate` 2.0.0-rc kube 2. The logic is small and the
//! decisions are pure functions ([`may_acquire`], [`still_leading`]) with table tests.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

/// The lease's name.
pub const LEASE_NAME: &str = "agentlens-operator";
/// How long a lease is valid without renewal.
pub const LEASE_SECONDS: i32 = 15;
/// A leader that could not renew for this long stops leading (before the lease expires).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the leader renews and followers look.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// The lease record as last seen, and when (this replica's monotonic clock).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    record: Option<(Option<String>, Option<MicroTime>, Option<String>)>,
    at: Option<Instant>,
}

impl Observed {
    /// Notes the lease as read at `now`; the time moves only when the record changed.
    pub fn update(&mut self, lease: Option<&Lease>, now: Instant) {
        let record = lease.map(|l| {
            let spec = l.spec.as_ref();
            (
                spec.and_then(|s| s.holder_identity.clone()),
                spec.and_then(|s| s.renew_time.clone()),
                l.metadata.resource_version.clone(),
            )
        });
        if self.at.is_none() || record != self.record {
            self.record = record;
            self.at = Some(now);
        }
    }
}

/// Whether `holder` may take the lease at `now`, given when its record was last seen change.
pub fn may_acquire(lease: Option<&Lease>, holder: &str, observed: &Observed, now: Instant) -> bool {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return true;
    };
    if spec
        .holder_identity
        .as_deref()
        .is_none_or(|h| h == holder || h.is_empty())
    {
        return true;
    }
    let duration = u64::try_from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS)).unwrap_or(0);
    observed
        .at
        .is_none_or(|at| now.duration_since(at) > Duration::from_secs(duration))
}

/// Whether a leader whose last successful renewal started at `last_renew` still leads at `now`.
pub fn still_leading(last_renew: Option<Instant>, now: Instant, deadline: Duration) -> bool {
    last_renew.is_some_and(|t| now.duration_since(t) < deadline)
}

/// One replica's side of the election.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    holder: String,
}

impl Elector {
    /// Elects through the lease in `api`'s namespace as `holder` (the pod name).
    pub fn new(api: Api<Lease>, holder: String) -> Self {
        Self { api, holder }
    }

    /// Tries to take or renew the lease; `Ok(true)` when this replica leads.
    pub async fn try_lead(&self, observed: &mut Observed) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(LEASE_NAME).await?;
        let seen = Instant::now();
        observed.update(current.as_ref(), seen);
        if !may_acquire(current.as_ref(), &self.holder, observed, seen) {
            return Ok(false);
        }
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let mine = spec.is_some_and(|s| s.holder_identity.as_deref() == Some(self.holder.as_str()));
        let transitions = spec.map_or(0, |s| {
            let t = s.lease_transitions.unwrap_or(0);
            if mine { t } else { t + 1 }
        });
        let now = MicroTime(Timestamp::now());
        let acquire = spec
            .filter(|_| mine)
            .and_then(|s| s.acquire_time.clone())
            .unwrap_or_else(|| now.clone());
        let lease = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "resourceVersion": current.as_ref().and_then(|l| l.metadata.resource_version.clone())},
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": LEASE_SECONDS,
                "acquireTime": acquire,
                "renewTime": now,
                "leaseTransitions": transitions,
            }
        });
        let result = if current.is_none() {
            let l: Lease = serde_json::from_value(lease).map_err(kube::Error::SerdeError)?;
            self.api.create(&PostParams::default(), &l).await
        } else {
            // The resourceVersion makes a concurrent takeover fail with a conflict.
            self.api
                .patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(&lease))
                .await
        };
        match result {
            Ok(l) => {
                observed.update(Some(&l), Instant::now());
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Clears the holder if this replica holds the lease, so a follower takes over at once.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(current) = self.api.get_opt(LEASE_NAME).await? else {
            return Ok(());
        };
        let holder = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        if holder != Some(self.holder.as_str()) {
            return Ok(());
        }
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": current.metadata.resource_version},
            "spec": {"holderIdentity": null, "leaseDurationSeconds": 1, "renewTime": MicroTime(Timestamp::now())}
        });
        self.api
            .patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
    }

    /// Campaigns and renews until `stop` turns true, publishing whether this replica leads;
    /// then releases the lease if it holds it.
    pub async fn run(
        self,
        tx: tokio::sync::watch::Sender<bool>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut observed = Observed::default();
        let mut last_renew: Option<Instant> = None;
        while !*stop.borrow() {
            let started = Instant::now();
            // A renewal may take at most what is left of the deadline; a hung one then ends
            // the leadership on time instead of holding it.
            let budget = match last_renew {
                Some(t) => RENEW_DEADLINE.saturating_sub(started.duration_since(t)),
                None => RENEW_DEADLINE,
            };
            let attempt = tokio::time::timeout(budget, self.try_lead(&mut observed));
            let outcome = tokio::select! {
                r = attempt => r,
                _ = stop.changed() => break,
            };
            match outcome {
                Ok(Ok(true)) => last_renew = Some(started),
                Ok(Ok(false)) => last_renew = None,
                Ok(Err(e)) => tracing::warn!(
                    category = %crate::error::kube_category(&e),
                    "leader lease {LEASE_NAME}: {}",
                    crate::error::chain(&e)
                ),
                Err(_) => tracing::warn!("leader lease {LEASE_NAME}: no answer within {budget:?}"),
            }
            let leading = still_leading(last_renew, Instant::now(), RENEW_DEADLINE);
            if *tx.borrow() != leading {
                tracing::info!(leading, identity = %self.holder, "leadership changed");
            }
            let _ = tx.send(leading);
            tokio::select! {
                () = tokio::time::sleep(RETRY_PERIOD) => {}
                _ = stop.changed() => {}
            }
        }
        let _ = tx.send(false);
        if last_renew.is_some() {
            match tokio::time::timeout(RETRY_PERIOD, self.release()).await {
                Ok(Ok(())) => tracing::info!("released the leader lease"),
                Ok(Err(e)) => {
                    tracing::warn!("releasing the leader lease: {}", crate::error::chain(&e))
                }
                Err(_) => tracing::warn!("releasing the leader lease: no answer"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;

    fn lease(holder: &str, renewed: &str, rv: &str) -> Lease {
        let mut l = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        l.metadata.resource_version = Some(rv.into());
        l
    }

    #[test]
    fn takeover_only_after_the_record_stood_still_for_the_lease_duration() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut obs = Observed::default();
        assert!(may_acquire(None, "b", &obs, t0), "no lease");
        // a's renewTime says 2020: a skewed clock, not an expired lease.
        let a1 = lease("a", "2020-01-01T00:00:00Z", "1");
        obs.update(Some(&a1), t0);
        assert!(!may_acquire(Some(&a1), "b", &obs, t0 + s(1)), "just seen");
        // a renews (new record) at t0+10: the clock restarts.
        let a2 = lease("a", "2020-01-01T00:00:10Z", "2");
        obs.update(Some(&a2), t0 + s(10));
        assert!(!may_acquire(Some(&a2), "b", &obs, t0 + s(20)));
        // The same record read again does not move the observed time.
        obs.update(Some(&a2), t0 + s(24));
        assert!(
            may_acquire(Some(&a2), "b", &obs, t0 + s(26)),
            "stood still 16 s"
        );
        assert!(may_acquire(Some(&a2), "a", &obs, t0 + s(11)), "renew own");
        let mut released = a2.clone();
        if let Some(spec) = released.spec.as_mut() {
            spec.holder_identity = None;
        }
        assert!(
            may_acquire(Some(&released), "b", &obs, t0 + s(11)),
            "released"
        );
    }

    #[test]
    fn a_leader_stops_leading_at_the_renew_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(still_leading(Some(t0), t0 + s(9), RENEW_DEADLINE));
        assert!(!still_leading(Some(t0), t0 + s(10), RENEW_DEADLINE));
        assert!(!still_leading(None, t0, RENEW_DEADLINE));
        assert!(RENEW_DEADLINE < Duration::from_secs(LEASE_SECONDS as u64));
    }
}
