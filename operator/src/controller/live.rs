//! The sidecar snapshots last pulled for each system and when. A reconcile triggered by an
//! event (a pod turning ready, a config change) reuses them; only one that finds them older
//! than the refresh interval pulls again. So live figures (latency quantiles, RSS) move on the
//! interval, not on every event, and a status write cannot trigger the pull that causes the
//! next write.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentlens_crds::Snapshot;

/// Snapshots by pod name.
pub type Snapshots = Arc<BTreeMap<String, Snapshot>>;

/// Last pulls by (namespace, system).
#[derive(Debug, Default)]
pub struct LiveFigures {
    pulls: Mutex<HashMap<(String, String), (Instant, Snapshots)>>,
}

impl LiveFigures {
    /// The snapshots pulled for `system` less than `max_age` before `now`.
    pub fn fresh(
        &self,
        system: &(String, String),
        now: Instant,
        max_age: Duration,
    ) -> Option<Snapshots> {
        let pulls = self.pulls.lock().ok()?;
        let (at, snaps) = pulls.get(system)?;
        (now.saturating_duration_since(*at) < max_age).then(|| snaps.clone())
    }

    /// Records a pull started at `at`. Entries of systems not pulled for three intervals
    /// (deleted ones) are dropped, so the map is bounded by the live systems.
    pub fn put(&self, system: (String, String), at: Instant, snaps: Snapshots, interval: Duration) {
        if let Ok(mut pulls) = self.pulls.lock() {
            pulls.retain(|_, (t, _)| at.saturating_duration_since(*t) < interval * 3);
            pulls.insert(system, (at, snaps));
        }
    }

    /// How many systems have figures.
    pub fn len(&self) -> usize {
        self.pulls.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Whether none has.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_reused_within_the_interval_and_pulled_after() {
        let live = LiveFigures::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let key = ("invoice-rpa".to_string(), "invoice-rpa".to_string());
        assert!(live.fresh(&key, t0, minute).is_none(), "never pulled");
        live.put(key.clone(), t0, Arc::default(), minute);
        assert!(
            live.fresh(&key, t0 + Duration::from_secs(59), minute)
                .is_some()
        );
        assert!(live.fresh(&key, t0 + minute, minute).is_none(), "due again");
        let other = ("a".to_string(), "b".to_string());
        live.put(other, t0 + minute * 4, Arc::default(), minute);
        assert_eq!(
            live.len(),
            1,
            "the system not pulled for 3 intervals is gone"
        );
    }
}
