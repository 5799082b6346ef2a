//! The overview's view model (pure): one row per AgentDeployment with its maturity, the
//! conditions that are not fine in plain words, and its last change.

use agentlens_crds::AgentDeployment;

use super::facts::Facts;
use super::view::{Links, last_change, problem_title, when};
use crate::status::conditions::is_problem;

/// One system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Link to its page.
    pub href: String,
    /// Maturity level (`-` before the first reconcile).
    pub level: String,
    /// Score 0-100.
    pub score: String,
    /// Target level, when set.
    pub target: String,
    /// `6/6 with the sidecar`.
    pub pods: String,
    /// Plain-words titles of the conditions that are not fine.
    pub problems: Vec<String>,
    /// Newest change in the status.
    pub last_change: String,
    /// No status yet.
    pub unreconciled: bool,
}

/// The overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// Systems, by namespace and name.
    pub rows: Vec<Row>,
    /// Systems with at least one problem.
    pub with_problems: usize,
}

fn row(ad: &AgentDeployment, links: Links) -> Row {
    let namespace = ad.metadata.namespace.clone().unwrap_or_default();
    let name = ad.metadata.name.clone().unwrap_or_default();
    let s = ad.status.as_ref();
    let m = s.and_then(|s| s.maturity.as_ref());
    Row {
        href: links.system(&namespace, &name),
        level: m.map_or_else(|| "-".into(), |m| m.level.to_string()),
        score: m.map_or_else(|| "-".into(), |m| m.score.to_string()),
        target: ad
            .spec
            .maturity
            .as_ref()
            .map_or_else(|| "-".into(), |t| t.target_level.to_string()),
        pods: s.and_then(|s| s.pods.as_ref()).map_or_else(
            || "-".into(),
            |p| format!("{}/{} with the sidecar", p.injected, p.matched),
        ),
        problems: s
            .map(|s| {
                s.conditions
                    .iter()
                    .filter(|c| is_problem(&c.type_, &c.status))
                    .map(|c| problem_title(&c.type_))
                    .collect()
            })
            .unwrap_or_default(),
        last_change: s
            .and_then(last_change)
            .as_ref()
            .map_or_else(|| "-".into(), when),
        unreconciled: s.is_none(),
        namespace,
        name,
    }
}

/// The overview of every system in `facts`.
pub fn overview(facts: &Facts, links: Links) -> Overview {
    let rows: Vec<Row> = facts.systems.iter().map(|a| row(a, links)).collect();
    Overview {
        with_problems: rows.iter().filter(|r| !r.problems.is_empty()).count(),
        rows,
    }
}
