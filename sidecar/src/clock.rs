//! Wall-clock time as the sidecar records it: milliseconds since the Unix epoch, and as
//! Kubernetes writes it. One home for both, so the sampler, the stores and the snapshot do not
//! import each other for a clock.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Milliseconds since the Unix epoch (0 when the clock is before the epoch).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Epoch milliseconds as a Kubernetes time.
pub fn time(ms: u64) -> Time {
    Time(
        Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
            .unwrap_or(Timestamp::UNIX_EPOCH),
    )
}
