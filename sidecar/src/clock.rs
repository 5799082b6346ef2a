//! Wall-clock time as the sidecar records it: milliseconds since the Unix epoch. One home for
//! it, so the sampler, the stores and the snapshot do not import each other for a clock.

/// Milliseconds since the Unix epoch (0 when the clock is before the epoch).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
