//! Latency quantiles of a system from its pods' cumulative histograms: buckets are summed across
//! pods (never averaged percentiles) and the quantile is interpolated within its bucket as
//! Prometheus's `histogram_quantile` does.

use crate::snapshot::LatencySummary;

/// The merged cumulative histogram: (upper bound, count) ascending, and the total.
pub fn merge(pods: &[&LatencySummary]) -> (Vec<(f64, u64)>, u64) {
    let mut bounds: Vec<f64> = pods
        .iter()
        .flat_map(|p| p.buckets.iter().map(|b| b.le))
        .filter(|le| le.is_finite())
        .collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    let total = pods.iter().map(|p| p.requests).sum();
    let merged = bounds
        .iter()
        .map(|&le| {
            // Each pod's count at `le`: its cumulative count at the largest own bound <= le.
            let c = pods
                .iter()
                .map(|p| {
                    p.buckets
                        .iter()
                        .filter(|b| b.le <= le)
                        .map(|b| b.count)
                        .max()
                        .unwrap_or(0)
                })
                .sum();
            (le, c)
        })
        .collect();
    (merged, total)
}

/// The `q` quantile (0..1) of a merged histogram; `None` without requests. Observations above
/// the last finite bound are reported at that bound (as Prometheus does).
pub fn quantile(buckets: &[(f64, u64)], total: u64, q: f64) -> Option<f64> {
    if total == 0 || buckets.is_empty() {
        return None;
    }
    let rank = q * total as f64;
    let mut prev_le = 0.0;
    let mut prev_count = 0u64;
    for &(le, count) in buckets {
        if count as f64 >= rank {
            let in_bucket = (count - prev_count) as f64;
            if in_bucket <= 0.0 {
                return Some(le);
            }
            return Some(prev_le + (le - prev_le) * (rank - prev_count as f64) / in_bucket);
        }
        prev_le = le;
        prev_count = count;
    }
    buckets.last().map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::LatencyBucket;

    fn hist(requests: u64, b: &[(f64, u64)]) -> LatencySummary {
        LatencySummary {
            requests,
            buckets: b
                .iter()
                .map(|&(le, count)| LatencyBucket { le, count })
                .collect(),
            ..LatencySummary::default()
        }
    }

    #[test]
    fn merging_sums_buckets_instead_of_averaging_percentiles() {
        // A fast pod (100 requests, all under 0.1 s) and a slow one (100 requests, 1-5 s).
        let fast = hist(100, &[(0.1, 100), (1.0, 100), (5.0, 100)]);
        let slow = hist(100, &[(0.1, 0), (1.0, 0), (5.0, 100)]);
        let (b, total) = merge(&[&fast, &slow]);
        assert_eq!(total, 200);
        assert_eq!(b, [(0.1, 100), (1.0, 100), (5.0, 200)]);
        let p50 = quantile(&b, total, 0.5).unwrap();
        assert!((p50 - 0.1).abs() < 1e-9, "{p50}");
        let p99 = quantile(&b, total, 0.99).unwrap();
        assert!((p99 - 4.92).abs() < 1e-9, "{p99}");
    }

    #[test]
    fn different_bucket_layouts_and_no_requests() {
        let a = hist(10, &[(0.5, 10)]);
        let b = hist(10, &[(0.25, 5), (1.0, 10)]);
        let (m, total) = merge(&[&a, &b]);
        assert_eq!(m, [(0.25, 5), (0.5, 15), (1.0, 20)]);
        assert_eq!(total, 20);
        assert_eq!(quantile(&[], 0, 0.5), None);
    }
}
