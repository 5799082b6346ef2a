//! `status.inventory`: per container, the newest inventory the sidecars report (OS, package
//! counts, digest, the pods running it), dated only when its digest changes, with the last 10
//! changes: which packages changed version when the operator has both package lists (fetched
//! from `/v1/inventory` when a digest is new), else what the per-kind counts say. And which
//! served model artifacts match a declared Model (`ModelArtifactMismatch`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use agentlens_crds::agentdeployment_status::{InventoryChange, InventorySummary, ServedModel};
use agentlens_crds::snapshot::{InventoryDigest, Snapshot};
use agentlens_crds::{Model, text};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A container's packages: `kind:name` (and where, for language packages) → version.
pub type PackageList = BTreeMap<String, String>;

/// Package lists the operator has, by inventory digest.
pub type PackageLists = BTreeMap<String, Arc<PackageList>>;

/// History entries kept.
pub const HISTORY: usize = 10;
/// Changes listed per history entry.
pub const CHANGES: usize = 20;

/// What changed between two package lists: version changes, additions, removals.
pub fn diff(old: &PackageList, new: &PackageList) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in new {
        match old.get(k) {
            Some(o) if o != v => out.push(format!("{k} {o} -> {v}")),
            None => out.push(format!("+ {k} {v}")),
            _ => {}
        }
    }
    for (k, v) in old {
        if !new.contains_key(k) {
            out.push(format!("- {k} {v}"));
        }
    }
    out
}

fn count_diff(old: &BTreeMap<String, u32>, new: &BTreeMap<String, u32>) -> Vec<String> {
    let kinds: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    kinds
        .into_iter()
        .filter_map(|k| {
            let (a, b) = (
                old.get(k).copied().unwrap_or(0),
                new.get(k).copied().unwrap_or(0),
            );
            (a != b).then(|| format!("{k} {a} -> {b}"))
        })
        .collect()
}

fn served(i: &InventoryDigest, models: &BTreeMap<String, &Model>) -> Vec<ServedModel> {
    i.models
        .iter()
        .take(20)
        .map(|m| ServedModel {
            path: m.path.clone(),
            fingerprint: m.fingerprint.clone(),
            name: m.name.clone(),
            model: models
                .values()
                .find(|model| {
                    model.spec.artifact.as_ref().and_then(|a| a.digest.as_ref())
                        == Some(&m.fingerprint)
                })
                .and_then(|model| model.metadata.name.clone()),
        })
        .collect()
}

/// The rows, from the matched pods' snapshots and the previous rows. Without any snapshot the
/// previous rows stay (the operator has not heard from the sidecars).
pub fn rows(
    snapshots: &BTreeMap<String, Snapshot>,
    previous: &[InventorySummary],
    lists: &PackageLists,
    models: &BTreeMap<String, &Model>,
    now: &Time,
) -> Vec<InventorySummary> {
    if snapshots.is_empty() {
        return previous.to_vec();
    }
    let mut by_container: BTreeMap<&str, Vec<&InventoryDigest>> = BTreeMap::new();
    for s in snapshots.values() {
        for i in &s.inventory {
            by_container
                .entry(i.container.as_str())
                .or_default()
                .push(i);
        }
    }
    let mut out = Vec::new();
    for (container, entries) in by_container {
        // The newest inventory wins (the new version during a rollout).
        let Some(current) = entries
            .iter()
            .max_by(|a, b| {
                a.collected_at
                    .as_ref()
                    .map(|t| t.0)
                    .cmp(&b.collected_at.as_ref().map(|t| t.0))
                    .then_with(|| b.digest.cmp(&a.digest))
            })
            .copied()
        else {
            continue;
        };
        let digests: BTreeSet<&str> = entries.iter().map(|e| e.digest.as_str()).collect();
        let prev = previous.iter().find(|p| p.container == container);
        // An inventory with no packages is a failed read: it has no digest worth dating.
        let digest = (current.packages > 0).then(|| current.digest.clone());
        let (changed_at, history) = match prev {
            Some(p) if p.digest == digest => (p.changed_at.clone(), p.history.clone()),
            Some(p) if digest.is_some() && p.digest.is_some() => {
                let to = digest.clone().unwrap_or_default();
                let from = p.digest.clone();
                let mut changes = match (from.as_ref().and_then(|f| lists.get(f)), lists.get(&to)) {
                    (Some(a), Some(b)) => diff(a, b),
                    _ => {
                        let mut c = count_diff(&p.counts, &current.counts);
                        c.insert(0, "package lists not available; counts:".into());
                        c
                    }
                };
                let omitted = changes.len().saturating_sub(CHANGES);
                changes.truncate(CHANGES);
                for c in &mut changes {
                    *c = text::truncate(c, 512);
                }
                let mut h = vec![InventoryChange {
                    at: now.clone(),
                    from,
                    to,
                    changes,
                    omitted: u32::try_from(omitted).unwrap_or(u32::MAX),
                }];
                h.extend(p.history.iter().take(HISTORY - 1).cloned());
                (Some(now.clone()), h)
            }
            // First sighting: dated by when the sidecar collected it.
            _ => (
                current.collected_at.clone().or_else(|| Some(now.clone())),
                prev.map(|p| p.history.clone()).unwrap_or_default(),
            ),
        };
        out.push(InventorySummary {
            container: container.to_string(),
            os: current.os.clone(),
            packages: current.packages,
            digest,
            changed_at,
            pods: u32::try_from(
                entries
                    .iter()
                    .filter(|e| e.digest == current.digest)
                    .count(),
            )
            .unwrap_or(u32::MAX),
            variants: u32::try_from(digests.len()).unwrap_or(u32::MAX),
            counts: current.counts.clone(),
            models: served(current, models),
            notes: current
                .notes
                .iter()
                .take(5)
                .map(|n| text::truncate(n, 1024))
                .collect(),
            history,
        });
    }
    out
}

/// Served artifacts that match no declared Model's digest: `container path (fingerprint)`.
pub fn mismatches(rows: &[InventorySummary]) -> Vec<String> {
    rows.iter()
        .flat_map(|r| {
            r.models
                .iter()
                .filter(|m| m.model.is_none())
                .map(move |m| format!("{}:{} ({})", r.container, m.path, m.fingerprint))
        })
        .collect()
}

/// Served artifacts at all.
pub fn served_count(rows: &[InventorySummary]) -> usize {
    rows.iter().map(|r| r.models.len()).sum()
}

/// The package list of a CycloneDX document the sidecar serves (`/v1/inventory?container=`):
/// every component with a version, keyed by its purl without the version (or type and name).
pub fn package_list(bom: &serde_json::Value) -> PackageList {
    let mut out = PackageList::new();
    let mut stack: Vec<&serde_json::Value> = bom["components"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    while let Some(c) = stack.pop() {
        if let Some(children) = c["components"].as_array() {
            stack.extend(children);
        }
        let (Some(name), Some(version)) = (c["name"].as_str(), c["version"].as_str()) else {
            continue;
        };
        let key = match c["purl"].as_str() {
            Some(p) => p.split('@').next().unwrap_or(p).to_string(),
            None => format!("{}:{name}", c["type"].as_str().unwrap_or("component")),
        };
        out.insert(key, version.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(&str, &str)]) -> PackageList {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn version_changes_additions_and_removals() {
        let old = list(&[
            ("pkg:pypi/numpy", "1.26.4"),
            ("pkg:pypi/foo", "1.0"),
            ("pkg:deb/debian/libc6", "2.36"),
        ]);
        let new = list(&[
            ("pkg:pypi/numpy", "2.1.0"),
            ("pkg:pypi/torch", "2.5.1"),
            ("pkg:deb/debian/libc6", "2.36"),
        ]);
        assert_eq!(
            diff(&old, &new),
            [
                "pkg:pypi/numpy 1.26.4 -> 2.1.0",
                "+ pkg:pypi/torch 2.5.1",
                "- pkg:pypi/foo 1.0"
            ]
        );
    }

    fn snap(
        pod: &str,
        digest: &str,
        at: &str,
        counts: &[(&str, u32)],
        model: Option<&str>,
    ) -> (String, Snapshot) {
        let mut s: Snapshot = serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "sidecarVersion": "0.1.0", "mode": "serve",
            "collectedAt": "2026-11-27T09:00:00Z", "gpu": {"state": "disabled"},
            "inventory": [{"container": "app", "os": "Debian GNU/Linux 12 (bookworm)",
                "packages": 700, "digest": digest, "collectedAt": at,
                "counts": counts.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>()}]
        }))
        .unwrap();
        if let Some(f) = model {
            s.inventory[0]
                .models
                .push(agentlens_crds::snapshot::ModelArtifactSeen {
                    path: "/models/m".into(),
                    fingerprint: f.into(),
                    ..Default::default()
                });
        }
        (pod.to_string(), s)
    }

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn dated_on_change_with_package_diffs_or_counts() {
        let no_models = BTreeMap::new();
        let now = t("2026-11-27T09:00:00Z");
        // First sighting: dated by the collection, no history.
        let first: BTreeMap<_, _> =
            [snap("p1", A, "2026-11-27T08:00:00Z", &[("pypi", 47)], None)].into();
        let r1 = rows(&first, &[], &PackageLists::new(), &no_models, &now);
        assert_eq!(r1[0].changed_at, Some(t("2026-11-27T08:00:00Z")));
        assert!(r1[0].history.is_empty());
        // Unchanged: nothing moves.
        assert_eq!(
            rows(
                &first,
                &r1,
                &PackageLists::new(),
                &no_models,
                &t("2026-11-27T10:00:00Z")
            ),
            r1
        );
        // A rollout: the new pod's inventory is newer; without lists the counts say what changed.
        let rollout: BTreeMap<_, _> = [
            snap("p1", A, "2026-11-27T08:00:00Z", &[("pypi", 47)], None),
            snap("p2", B, "2026-11-27T08:30:00Z", &[("pypi", 49)], None),
        ]
        .into();
        let r2 = rows(&rollout, &r1, &PackageLists::new(), &no_models, &now);
        assert_eq!(
            (r2[0].digest.as_deref(), r2[0].pods, r2[0].variants),
            (Some(B), 1, 2)
        );
        assert_eq!(r2[0].changed_at, Some(now.clone()));
        assert_eq!(
            r2[0].history[0].changes,
            ["package lists not available; counts:", "pypi 47 -> 49"]
        );
        // With both lists: the packages.
        let lists: PackageLists = [
            (
                A.to_string(),
                Arc::new(list(&[("pkg:pypi/numpy", "1.26.4")])),
            ),
            (
                B.to_string(),
                Arc::new(list(&[
                    ("pkg:pypi/numpy", "2.1.0"),
                    ("pkg:pypi/torch", "2.5.1"),
                ])),
            ),
        ]
        .into();
        let r3 = rows(&rollout, &r1, &lists, &no_models, &now);
        assert_eq!(
            r3[0].history[0].changes,
            ["pkg:pypi/numpy 1.26.4 -> 2.1.0", "+ pkg:pypi/torch 2.5.1"]
        );
        assert_eq!(
            (
                r3[0].history[0].from.as_deref(),
                r3[0].history[0].to.as_str()
            ),
            (Some(A), B)
        );
        // Without snapshots the rows stay.
        assert_eq!(rows(&BTreeMap::new(), &r3, &lists, &no_models, &now), r3);
    }

    #[test]
    fn served_artifacts_are_matched_to_declared_models() {
        let m: Model = serde_json::from_value(serde_json::json!({
            "apiVersion": "agentlens.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "clinical-notes-dpo", "namespace": "n"},
            "spec": {"version": "1.3.0", "artifact": {"uri": "s3://x/", "digest": A}}
        }))
        .unwrap();
        let models: BTreeMap<String, &Model> = [("clinical-notes-dpo".to_string(), &m)].into();
        let now = t("2026-11-27T09:00:00Z");
        let ok: BTreeMap<_, _> = [snap("p", A, "2026-11-27T08:00:00Z", &[], Some(A))].into();
        let r = rows(&ok, &[], &PackageLists::new(), &models, &now);
        assert_eq!(r[0].models[0].model.as_deref(), Some("clinical-notes-dpo"));
        assert!(mismatches(&r).is_empty());
        let bad: BTreeMap<_, _> = [snap("p", A, "2026-11-27T08:00:00Z", &[], Some(B))].into();
        let r = rows(&bad, &[], &PackageLists::new(), &models, &now);
        assert_eq!(mismatches(&r), [format!("app:/models/m ({B})")]);
    }

    #[test]
    fn package_lists_from_nested_cyclonedx() {
        let bom = serde_json::json!({"components": [{"type": "container", "name": "main", "components": [
            {"type": "library", "name": "numpy", "version": "2.1.0", "purl": "pkg:pypi/numpy@2.1.0"},
            {"type": "operating-system", "name": "debian", "version": "12"},
            {"type": "machine-learning-model", "name": "m"}
        ]}]});
        assert_eq!(
            package_list(&bom),
            list(&[
                ("operating-system:debian", "12"),
                ("pkg:pypi/numpy", "2.1.0")
            ])
        );
    }
}
