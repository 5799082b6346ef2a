//! The sidecar snapshots last pulled for each system and when. A reconcile triggered by an
//! event (a pod turning ready, a config change) reuses them; only one that finds them older
//! than the refresh interval pulls again. So live figures (latency quantiles, RSS) move on the
//! interval, not on every event, and a status write cannot trigger the pull that causes the
//! next write.
//!
//! They are kept between pulls as [`Kept`]: reduced to what the status reads
//! ([`crate::status::kept::reduce`]) and encoded in one buffer per pod, a few KiB where the
//! decoded snapshot took about 10 KiB in some 60 allocations (`make bench`: 1,000 systems, 7,000
//! pods with snapshots). A reconcile that reuses them decodes its own system's, for that
//! reconcile only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentlens_crds::Snapshot;

/// Snapshots by pod name, as the status computation reads them.
pub type Snapshots = BTreeMap<String, Snapshot>;

/// One pod's reduced snapshot, kept between pulls.
#[derive(Debug, Clone)]
pub enum Kept {
    /// Its JSON, which decodes to the same snapshot (checked when kept).
    Encoded(Box<[u8]>),
    /// The snapshot itself, when its JSON would not decode to the same one (a float that
    /// serde_json's parse would round differently).
    Whole(Box<Snapshot>),
}

impl Kept {
    /// Keeps `s` (already reduced), encoded when its encoding decodes to `s` itself.
    pub fn new(s: &Snapshot) -> Self {
        match serde_json::to_vec(s) {
            Ok(json) if serde_json::from_slice::<Snapshot>(&json).is_ok_and(|d| d == *s) => {
                Self::Encoded(json.into_boxed_slice())
            }
            _ => Self::Whole(Box::new(s.clone())),
        }
    }

    /// The snapshot kept.
    pub fn snapshot(&self) -> Option<Snapshot> {
        match self {
            Self::Encoded(json) => serde_json::from_slice(json)
                .map_err(|e| tracing::warn!("kept snapshot does not decode, pulling again: {e}"))
                .ok(),
            Self::Whole(s) => Some(Snapshot::clone(s)),
        }
    }

    /// Bytes it holds (a snapshot kept whole: its encoding's length).
    pub fn bytes(&self) -> usize {
        match self {
            Self::Encoded(json) => json.len(),
            Self::Whole(s) => serde_json::to_vec(s).map_or(0, |j| j.len()),
        }
    }
}

/// One pull of a system: when, and its pods' kept snapshots (shared with the reconciles that
/// decode them, outside the lock).
type Pull = (Instant, Arc<BTreeMap<String, Kept>>);

/// Last pulls by (namespace, system).
#[derive(Debug, Default)]
pub struct LiveFigures {
    pulls: Mutex<HashMap<(String, String), Pull>>,
}

impl LiveFigures {
    /// The snapshots pulled for `system` less than `max_age` before `now`, decoded; `None`
    /// also when one of them does not decode (never expected: checked when kept), so the
    /// system is pulled again rather than computed as if that pod had no snapshot.
    pub fn fresh(
        &self,
        system: &(String, String),
        now: Instant,
        max_age: Duration,
    ) -> Option<Snapshots> {
        let kept = {
            let pulls = self.pulls.lock().ok()?;
            let (at, kept) = pulls.get(system)?;
            (now.saturating_duration_since(*at) < max_age).then(|| kept.clone())?
        };
        kept.iter()
            .map(|(pod, k)| Some((pod.clone(), k.snapshot()?)))
            .collect()
    }

    /// Records a pull started at `at` (`snaps` reduced). Entries of systems not pulled for
    /// three intervals (deleted ones) are dropped, so the map is bounded by the live systems.
    pub fn put(
        &self,
        system: (String, String),
        at: Instant,
        snaps: &Snapshots,
        interval: Duration,
    ) {
        let kept: BTreeMap<String, Kept> = snaps
            .iter()
            .map(|(pod, s)| (pod.clone(), Kept::new(s)))
            .collect();
        if let Ok(mut pulls) = self.pulls.lock() {
            pulls.retain(|_, (t, _)| at.saturating_duration_since(*t) < interval * 3);
            pulls.insert(system, (at, Arc::new(kept)));
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

    /// Snapshots kept, and the bytes they hold.
    pub fn kept(&self) -> (usize, usize) {
        // Counted outside the lock: a snapshot kept whole is encoded to be measured.
        let pulls: Vec<Arc<BTreeMap<String, Kept>>> = self
            .pulls
            .lock()
            .map(|p| p.values().map(|(_, kept)| kept.clone()).collect())
            .unwrap_or_default();
        pulls
            .iter()
            .flat_map(|kept| kept.values())
            .fold((0, 0), |(n, b), k| (n + 1, b + k.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        serde_json::from_str(include_str!(
            "../../../crds/tests/fixtures/snapshot-otlp-two-agents.json"
        ))
        .unwrap()
    }

    #[test]
    fn figures_are_reused_within_the_interval_and_pulled_after() {
        let live = LiveFigures::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let key = ("invoice-rpa".to_string(), "invoice-rpa".to_string());
        assert!(live.fresh(&key, t0, minute).is_none(), "never pulled");
        let snaps = BTreeMap::from([("agent-0".to_string(), snapshot())]);
        live.put(key.clone(), t0, &snaps, minute);
        assert_eq!(
            live.fresh(&key, t0 + Duration::from_secs(59), minute),
            Some(snaps)
        );
        assert!(live.fresh(&key, t0 + minute, minute).is_none(), "due again");
        let other = ("a".to_string(), "b".to_string());
        live.put(other, t0 + minute * 4, &Snapshots::new(), minute);
        assert_eq!(
            live.len(),
            1,
            "the system not pulled for 3 intervals is gone"
        );
    }

    #[test]
    fn a_kept_snapshot_is_the_one_put() {
        let s = crate::status::kept::reduce(snapshot());
        let kept = Kept::new(&s);
        assert!(matches!(kept, Kept::Encoded(_)), "the fixture encodes");
        assert_eq!(kept.snapshot(), Some(s.clone()));
        // A float that does not survive the encoding keeps the snapshot whole.
        let mut odd = s;
        if let Some(l) = odd.latency.as_mut() {
            l.p50_seconds = f64::NAN;
        }
        let kept = Kept::new(&odd);
        assert!(matches!(kept, Kept::Whole(_)));
        assert!(
            kept.snapshot()
                .is_some_and(|k| k.latency.unwrap().p50_seconds.is_nan())
        );
    }

    #[test]
    fn a_kept_snapshot_that_does_not_decode_makes_the_system_due() {
        let live = LiveFigures::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let key = ("ns".to_string(), "system".to_string());
        let kept = BTreeMap::from([
            ("good".to_string(), Kept::new(&snapshot())),
            (
                "bad".to_string(),
                Kept::Encoded(b"{not json".to_vec().into()),
            ),
        ]);
        live.pulls
            .lock()
            .unwrap()
            .insert(key.clone(), (t0, Arc::new(kept)));
        assert!(
            live.fresh(&key, t0, minute).is_none(),
            "pulled again, not computed without the pod"
        );
        assert_eq!(live.kept().0, 2);
    }
}
