//! What the console shows, as read: the objects (with their status) and how the read went.
//! One immutable value per read; the poller replaces it, the pages borrow it.

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The objects of one read of the cluster or the dump.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// AgentDeployments with their status, sorted by namespace and name.
    pub systems: Vec<AgentDeployment>,
    /// Models (for lineage, datasets and preprocessing).
    pub models: Vec<Model>,
    /// Evaluations (for guardrail results and metrics).
    pub evaluations: Vec<Evaluation>,
    /// What the reader could not see, in plain words (a namespace RBAC hides, a kind it may
    /// not list). Shown on every page; never an error page.
    pub hidden: Vec<String>,
}

impl Facts {
    /// Sorts the objects so that pages and change detection do not depend on the API's order.
    pub fn sorted(mut self) -> Self {
        let key = |m: &kube::api::ObjectMeta| (m.namespace.clone(), m.name.clone());
        self.systems.sort_by_key(|o| key(&o.metadata));
        self.models.sort_by_key(|o| key(&o.metadata));
        self.evaluations.sort_by_key(|o| key(&o.metadata));
        self
    }

    /// The system `namespace/name`.
    pub fn system(&self, namespace: &str, name: &str) -> Option<&AgentDeployment> {
        self.systems.iter().find(|a| {
            a.metadata.namespace.as_deref().unwrap_or_default() == namespace
                && a.metadata.name.as_deref() == Some(name)
        })
    }
}

/// How the source answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceState {
    /// What is read, in words (`cluster context kind-dev, namespace shop`, `file dump.yaml`).
    pub label: String,
    /// When the facts shown were first read as they are (the last change seen). Later reads
    /// that find the same facts do not move it, so an unchanged world renders identical pages.
    pub changed_at: Option<Time>,
    /// The last read failed: since when, and why; the facts are those of the last good read.
    pub failing: Option<Failure>,
}

/// A failing source.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The first failed read of this run of failures.
    pub since: Time,
    /// The error with its causes.
    pub message: String,
    /// The last good read before the failures, if any.
    pub last_good: Option<Time>,
}

/// What the pages are rendered from: the facts, the source's state and a version that changes
/// only when either changed (the pages' script waits on it instead of reloading on a timer).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Increases when `facts` or `source` changed.
    pub version: u64,
    /// The last good read.
    pub facts: Facts,
    /// How the source answered.
    pub source: SourceState,
}

impl Snapshot {
    /// The snapshot after a read at `now`: `Ok` with the facts read, or `Err` with the error's
    /// text. `None` when nothing a page shows changed (the version stays, no page refreshes);
    /// `last_good` is when the source last answered.
    pub fn advance(
        &self,
        read: Result<Facts, String>,
        now: &Time,
        last_good: Option<&Time>,
    ) -> Option<Snapshot> {
        let mut next = self.clone();
        match read {
            Ok(facts) => {
                if facts == self.facts && self.source.failing.is_none() && self.version > 0 {
                    return None;
                }
                if facts != self.facts || self.version == 0 {
                    next.source.changed_at = Some(now.clone());
                }
                next.facts = facts;
                next.source.failing = None;
            }
            Err(message) => {
                if self
                    .source
                    .failing
                    .as_ref()
                    .is_some_and(|f| f.message == message)
                {
                    return None;
                }
                next.source.failing = Some(Failure {
                    since: self
                        .source
                        .failing
                        .as_ref()
                        .map_or_else(|| now.clone(), |f| f.since.clone()),
                    message,
                    last_good: last_good.cloned(),
                });
            }
        }
        next.version = self.version + 1;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    fn facts(hidden: &str) -> Facts {
        Facts {
            hidden: vec![hidden.into()],
            ..Facts::default()
        }
    }

    /// A run of reads and what each does to the version, `changed_at` and the failure.
    #[test]
    fn the_version_moves_only_when_a_page_would_change() {
        let mut s = Snapshot::default();
        let steps: Vec<(&str, Result<Facts, String>, Option<u64>)> = vec![
            ("first read", Ok(facts("a")), Some(1)),
            ("same facts", Ok(facts("a")), None),
            ("changed facts", Ok(facts("b")), Some(2)),
            ("unreachable", Err("connection refused".into()), Some(3)),
            (
                "still the same error",
                Err("connection refused".into()),
                None,
            ),
            ("another error", Err("401 Unauthorized".into()), Some(4)),
            ("back, facts unchanged", Ok(facts("b")), Some(5)),
        ];
        let mut minute = 0;
        for (case, read, version) in steps {
            minute += 1;
            let now = t(&format!("2026-11-27T09:{minute:02}:00Z"));
            let good = t("2026-11-27T09:03:00Z");
            match s.advance(read, &now, Some(&good)) {
                None => assert_eq!(version, None, "{case}"),
                Some(next) => {
                    assert_eq!(Some(next.version), version, "{case}");
                    s = next;
                }
            }
            match case {
                "changed facts" => {
                    assert_eq!(s.source.changed_at, Some(now.clone()));
                }
                "another error" => {
                    let f = s.source.failing.as_ref().unwrap();
                    // The run of failures started at the first one.
                    assert_eq!(f.since, t("2026-11-27T09:04:00Z"));
                    assert_eq!(f.message, "401 Unauthorized");
                    assert_eq!(f.last_good, Some(good.clone()));
                    assert_eq!(s.facts, facts("b"), "the last good facts stay");
                }
                "back, facts unchanged" => {
                    assert!(s.source.failing.is_none());
                    assert_eq!(s.source.changed_at, Some(t("2026-11-27T09:03:00Z")));
                }
                _ => {}
            }
        }
    }
}
