//! Model checks (MOD-*): models declared with version and digest, fine-tuned models with a
//! complete lineage, training data and preprocessing recorded.

use super::*;

/// The models the agents (and the RAG embedding) use.
fn used_models(e: &Evidence<'_>) -> Vec<String> {
    e.status.models.iter().map(|m| m.name.clone()).collect()
}

/// MOD-1: every model the agents use is declared with a version and an artifact digest.
pub(super) fn models_declared(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Models;
    let used = used_models(e);
    if used.is_empty() {
        return check(
            "MOD-1",
            area,
            true,
            false,
            "no model is declared in spec.agents[].models",
            "declare every model the agents call as a Model (version, artifact digest) and list it under spec.agents[].models",
        );
    }
    let mut problems = Vec::new();
    for name in &used {
        match e.models.get(name) {
            None => problems.push(format!("{name} (no Model object)")),
            Some(m) => {
                if m.spec
                    .artifact
                    .as_ref()
                    .and_then(|a| a.digest.as_ref())
                    .is_none()
                {
                    problems.push(format!("{name} (no spec.artifact.digest)"));
                }
            }
        }
    }
    check(
        "MOD-1",
        area,
        true,
        problems.is_empty(),
        format!(
            "{}/{} models declared with a version and an artifact digest",
            used.len() - problems.len(),
            used.len()
        ),
        format!("declare or complete: {}", list(&problems)),
    )
}

/// The used models with a base model, by name.
fn fine_tuned<'a>(e: &'a Evidence<'_>) -> Vec<(&'a String, &'a Model)> {
    let used = used_models(e);
    e.models
        .iter()
        .filter(|(n, m)| used.contains(n) && m.spec.base_model.is_some())
        .map(|(n, m)| (n, *m))
        .collect()
}

/// MOD-2: every fine-tuned model has a complete lineage chain to a base model.
pub(super) fn lineage_complete(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Models;
    let tuned = fine_tuned(e);
    if tuned.is_empty() {
        return check(
            "MOD-2",
            area,
            false,
            false,
            "no model in use is fine-tuned (none has spec.baseModel)",
            "",
        );
    }
    let problems: Vec<String> = tuned
        .iter()
        .filter_map(|(n, _)| {
            lineage::resolve(n, e.models)
                .incomplete
                .map(|i| format!("{n}: {}", i.message()))
        })
        .collect();
    check(
        "MOD-2",
        area,
        true,
        problems.is_empty(),
        format!(
            "{}/{} fine-tuned models have a complete lineage to a base model",
            tuned.len() - problems.len(),
            tuned.len()
        ),
        format!("complete the chain: {}", list(&problems)),
    )
}

/// MOD-3: every fine-tuned model lists its datasets with digests and its preprocessing.
pub(super) fn training_recorded(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Models;
    let tuned = fine_tuned(e);
    if tuned.is_empty() {
        return check(
            "MOD-3",
            area,
            false,
            false,
            "no model in use is fine-tuned (none has spec.baseModel)",
            "",
        );
    }
    let mut problems = Vec::new();
    for (n, m) in &tuned {
        let training = m.spec.training.as_ref();
        let datasets = training.map(|t| t.datasets.as_slice()).unwrap_or_default();
        if datasets.is_empty() {
            problems.push(format!("{n} (no spec.training.datasets)"));
        }
        let undigested: Vec<&str> = datasets
            .iter()
            .filter(|d| d.digest.is_none())
            .map(|d| d.name.as_str())
            .collect();
        if !undigested.is_empty() {
            problems.push(format!(
                "{n} (datasets without digest: {})",
                undigested.join(", ")
            ));
        }
        if training.is_none_or(|t| t.preprocessing.is_empty()) {
            problems.push(format!("{n} (no spec.training.preprocessing)"));
        }
    }
    check(
        "MOD-3",
        area,
        true,
        problems.is_empty(),
        format!(
            "{} fine-tuned models checked for datasets with digests and preprocessing steps; {} gaps",
            tuned.len(),
            problems.len()
        ),
        format!("record in the Model: {}", list(&problems)),
    )
}
