//! A lock-free cumulative latency histogram behind the snapshot's `latency` summary and the
//! agent graph's edges. The bucket bounds suit LLM calls: 1 ms to 5 minutes.

use std::sync::atomic::{AtomicU64, Ordering};

use agentlens_crds::latency;
use agentlens_crds::snapshot::{LatencyBucket, LatencySummary};

/// Bucket upper bounds in seconds, shared by every latency histogram of the sidecar (the
/// Prometheus ones too, so quantiles from either agree).
pub const BUCKETS: [f64; 18] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
    120.0, 300.0,
];

/// Counts per bucket (not cumulative), the total and the errors.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    total: AtomicU64,
    errors: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, seconds: f64, error: bool) {
        if let Some(i) = BUCKETS.iter().position(|&le| seconds <= le) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Observations so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Errors so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The cumulative buckets (finite bounds only).
    pub fn buckets(&self) -> Vec<LatencyBucket> {
        let mut acc = 0;
        BUCKETS
            .iter()
            .zip(&self.counts)
            .map(|(&le, c)| {
                acc += c.load(Ordering::Relaxed);
                LatencyBucket { le, count: acc }
            })
            .collect()
    }

    /// The summary with quantiles interpolated the way `histogram_quantile` does; `None`
    /// before the first observation.
    pub fn summary(&self) -> Option<LatencySummary> {
        let requests = self.total();
        if requests == 0 {
            return None;
        }
        let buckets = self.buckets();
        let pairs: Vec<(f64, u64)> = buckets.iter().map(|b| (b.le, b.count)).collect();
        let q = |p| latency::quantile(&pairs, requests, p).unwrap_or(0.0);
        Some(LatencySummary {
            requests,
            errors: self.errors(),
            p50_seconds: q(0.5),
            p95_seconds: q(0.95),
            p99_seconds: q(0.99),
            buckets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets() {
        let h = Histogram::default();
        assert!(h.summary().is_none());
        for _ in 0..90 {
            h.observe(0.004, false);
        }
        for _ in 0..10 {
            h.observe(4.0, true);
        }
        h.observe(1_000.0, false); // above the last bound: counted in the total only
        let s = h.summary().unwrap();
        assert_eq!((s.requests, s.errors), (101, 10));
        assert!(s.p50_seconds > 0.0025 && s.p50_seconds <= 0.005, "{s:?}");
        assert!(s.p95_seconds > 2.5 && s.p95_seconds <= 5.0, "{s:?}");
        assert_eq!(s.buckets.last().unwrap().count, 100);
    }
}
