//! Resolving a Model's lineage chain (root base model → … → the model) through
//! `spec.baseModel`. Never hangs: cycles and chains deeper than [`MAX_DEPTH`] are reported.

use std::collections::{BTreeMap, BTreeSet};

use agentlens_crds::Model;
use agentlens_crds::model::LineageEntry;

/// Longest chain followed.
pub const MAX_DEPTH: usize = 16;

/// Why a chain is not complete (the `LineageComplete` condition's reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incomplete {
    /// A `baseModel` names a Model that does not exist.
    MissingParent(String),
    /// The chain loops back to a model already in it.
    Cycle(String),
    /// A model of the chain has no artifact digest.
    MissingDigest(String),
    /// More than [`MAX_DEPTH`] links.
    TooDeep,
}

impl Incomplete {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Incomplete::MissingParent(_) => "MissingParent",
            Incomplete::Cycle(_) => "Cycle",
            Incomplete::MissingDigest(_) => "MissingDigest",
            Incomplete::TooDeep => "TooDeep",
        }
    }

    /// Condition message.
    pub fn message(&self) -> String {
        match self {
            Incomplete::MissingParent(n) => {
                format!("base model {n} does not exist in this namespace")
            }
            Incomplete::Cycle(n) => format!("the lineage loops back to {n}"),
            Incomplete::MissingDigest(n) => format!("model {n} has no spec.artifact.digest"),
            Incomplete::TooDeep => format!("the lineage is deeper than {MAX_DEPTH} models"),
        }
    }
}

/// A resolved chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// Root first, the model itself last (as far as it could be followed).
    pub chain: Vec<LineageEntry>,
    /// `None` when complete.
    pub incomplete: Option<Incomplete>,
}

impl Lineage {
    /// `name@version` of each link, root first.
    pub fn labels(&self) -> Vec<String> {
        self.chain
            .iter()
            .map(|e| format!("{}@{}", e.name, e.version))
            .collect()
    }
}

fn entry(m: &Model) -> LineageEntry {
    LineageEntry {
        name: m.metadata.name.clone().unwrap_or_default(),
        version: m.spec.version.clone(),
        digest: m.spec.artifact.as_ref().and_then(|a| a.digest.clone()),
    }
}

/// Resolves the chain of `name` among `models` (the Models of one namespace, by name).
pub fn resolve(name: &str, models: &BTreeMap<String, &Model>) -> Lineage {
    let mut chain = Vec::new();
    let mut seen = BTreeSet::new();
    let mut incomplete = None;
    let mut current = name.to_string();
    loop {
        let Some(m) = models.get(&current) else {
            incomplete = Some(Incomplete::MissingParent(current));
            break;
        };
        if !seen.insert(current.clone()) {
            incomplete = Some(Incomplete::Cycle(current));
            break;
        }
        if chain.len() == MAX_DEPTH {
            incomplete = Some(Incomplete::TooDeep);
            break;
        }
        chain.push(entry(m));
        match m.spec.base_model.as_ref() {
            Some(b) => current = b.name.clone(),
            None => break,
        }
    }
    chain.reverse();
    // A missing parent of the model itself means the model does not exist at all.
    if incomplete.is_none()
        && let Some(e) = chain.iter().find(|e| e.digest.is_none())
    {
        incomplete = Some(Incomplete::MissingDigest(e.name.clone()));
    }
    Lineage { chain, incomplete }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentlens_crds::ModelSpec;
    use agentlens_crds::common::ModelRef;
    use agentlens_crds::model::Artifact;

    fn model(name: &str, base: Option<&str>, digest: bool) -> Model {
        let mut m = Model::new(
            name,
            ModelSpec {
                version: "1.0".into(),
                base_model: base.map(|b| ModelRef { name: b.into() }),
                artifact: Some(Artifact {
                    uri: format!("s3://m/{name}"),
                    digest: digest.then(|| format!("sha256:{}", "a".repeat(64))),
                    format: None,
                }),
                ..ModelSpec::default()
            },
        );
        m.metadata.namespace = Some("ns".into());
        m
    }

    fn index(ms: &[Model]) -> BTreeMap<String, &Model> {
        ms.iter()
            .map(|m| (m.metadata.name.clone().unwrap(), m))
            .collect()
    }

    #[test]
    fn table() {
        let base = model("llama", None, true);
        let sft = model("sft", Some("llama"), true);
        let dpo = model("dpo", Some("sft"), true);
        let orphan = model("orphan", Some("gone"), true);
        let a = model("a", Some("b"), true);
        let b = model("b", Some("a"), true);
        let selfloop = model("self", Some("self"), true);
        let nodigest = model("nodigest", Some("llama"), false);
        let all = vec![base, sft, dpo, orphan, a, b, selfloop, nodigest];
        let idx = index(&all);
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("dpo", &["llama@1.0", "sft@1.0", "dpo@1.0"], None),
            ("llama", &["llama@1.0"], None),
            ("orphan", &["orphan@1.0"], Some("MissingParent")),
            ("a", &["b@1.0", "a@1.0"], Some("Cycle")),
            ("self", &["self@1.0"], Some("Cycle")),
            (
                "nodigest",
                &["llama@1.0", "nodigest@1.0"],
                Some("MissingDigest"),
            ),
            ("unknown", &[], Some("MissingParent")),
        ];
        for (name, chain, reason) in cases {
            let l = resolve(name, &idx);
            assert_eq!(l.labels(), *chain, "{name}");
            assert_eq!(
                l.incomplete.as_ref().map(Incomplete::reason),
                *reason,
                "{name}"
            );
        }
    }

    #[test]
    fn deep_chains_stop_at_the_limit() {
        let ms: Vec<Model> = (0..40)
            .map(|i| {
                model(
                    &format!("m{i}"),
                    (i > 0).then(|| format!("m{}", i - 1)).as_deref(),
                    true,
                )
            })
            .collect();
        let l = resolve("m39", &index(&ms));
        assert_eq!(l.chain.len(), MAX_DEPTH);
        assert_eq!(l.incomplete, Some(Incomplete::TooDeep));
    }
}
