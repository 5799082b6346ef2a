//! Leader election with a `coordination.k8s.io/v1` Lease, so two replicas never write status at
//! once. The holder renews every `renew`; others take over when the lease is older than its
//! duration.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

/// The lease's name.
pub const LEASE_NAME: &str = "agentlens-operator";
/// How long a lease is valid without renewal.
pub const LEASE_SECONDS: i32 = 15;

/// Whether `holder` may take the lease as it stands at `now`.
pub fn may_acquire(lease: Option<&Lease>, holder: &str, now: Timestamp) -> bool {
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
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    renewed.is_none_or(|r| now.duration_since(r) > SignedDuration::from_secs(duration))
}

/// Tries to take or renew the lease; `Ok(true)` when this replica leads.
pub async fn try_lead(api: &Api<Lease>, holder: &str) -> Result<bool, kube::Error> {
    let current = api.get_opt(LEASE_NAME).await?;
    let now = Timestamp::now();
    if !may_acquire(current.as_ref(), holder, now) {
        return Ok(false);
    }
    let transitions = current
        .as_ref()
        .and_then(|l| l.spec.as_ref())
        .map(|s| {
            let t = s.lease_transitions.unwrap_or(0);
            if s.holder_identity.as_deref() == Some(holder) {
                t
            } else {
                t + 1
            }
        })
        .unwrap_or(0);
    let acquire = current
        .as_ref()
        .and_then(|l| l.spec.as_ref())
        .filter(|s| s.holder_identity.as_deref() == Some(holder))
        .and_then(|s| s.acquire_time.clone())
        .unwrap_or(MicroTime(now));
    let lease = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "resourceVersion": current.as_ref().and_then(|l| l.metadata.resource_version.clone())},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": acquire,
            "renewTime": MicroTime(now),
            "leaseTransitions": transitions,
        }
    });
    let result = if current.is_none() {
        let l: Lease = serde_json::from_value(lease).map_err(kube::Error::SerdeError)?;
        api.create(&PostParams::default(), &l).await.map(|_| ())
    } else {
        // The resourceVersion makes a concurrent takeover fail with a conflict.
        api.patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(&lease))
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Renews forever, publishing whether this replica leads.
pub async fn run(api: Api<Lease>, holder: String, tx: tokio::sync::watch::Sender<bool>) {
    let renew = Duration::from_secs(u64::try_from(LEASE_SECONDS / 3).unwrap_or(5));
    loop {
        let leading = match try_lead(&api, &holder).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("leader lease: {e}");
                false
            }
        };
        if *tx.borrow() != leading {
            tracing::info!(leading, "leadership changed");
        }
        let _ = tx.send(leading);
        tokio::time::sleep(renew).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;

    fn lease(holder: &str, renewed: &str) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn takeover_only_after_expiry() {
        let now: Timestamp = "2026-11-27T08:00:20Z".parse().unwrap();
        assert!(may_acquire(None, "b", now));
        assert!(
            may_acquire(Some(&lease("b", "2026-11-27T08:00:19Z")), "b", now),
            "renew own"
        );
        assert!(
            !may_acquire(Some(&lease("a", "2026-11-27T08:00:10Z")), "b", now),
            "a still valid"
        );
        assert!(
            may_acquire(Some(&lease("a", "2026-11-27T08:00:04Z")), "b", now),
            "a expired"
        );
    }
}
