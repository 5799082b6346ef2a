//! Conditions with `lastTransitionTime` that moves only on a transition, so an unchanged world
//! yields an identical status (and no write).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// A condition as computed, before its transition time is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    /// Type.
    pub type_: &'static str,
    /// `True` or `False`.
    pub status: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human message.
    pub message: String,
}

/// Builds the conditions, keeping each previous `lastTransitionTime` whose status is unchanged.
pub fn settle(
    computed: Vec<Computed>,
    previous: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    computed
        .into_iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" }.to_string();
            let last = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: c.type_.to_string(),
                status,
                reason: c.reason.to_string(),
                message: agentlens_crds::text::truncate(&c.message, 1024),
                last_transition_time: last,
                observed_generation: generation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_transition() {
        let t0 = Time("2026-11-27T08:00:00Z".parse().unwrap());
        let t1 = Time("2026-11-27T09:00:00Z".parse().unwrap());
        let c = |s| {
            vec![Computed {
                type_: "Ready",
                status: s,
                reason: "R",
                message: "m".into(),
            }]
        };
        let first = settle(c(true), &[], Some(1), &t0);
        let same = settle(c(true), &first, Some(1), &t1);
        assert_eq!(first, same);
        let flipped = settle(c(false), &same, Some(1), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }
}
