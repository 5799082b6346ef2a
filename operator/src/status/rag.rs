//! `status.rag`: the RAG set-up in use (`spec.rag` with the embedding Model's version and
//! digest resolved) and the earlier ones. A change of vector store, collection, index version
//! or embedding model (name, version or digest) moves the current set-up into the history,
//! dated now; the first one is dated by the AgentDeployment's creation, so an unchanged system
//! never writes.

use std::collections::BTreeMap;

use agentlens_crds::agentdeployment_status::{RagRevision, RagStatus};
use agentlens_crds::{AgentDeployment, Model};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Earlier set-ups kept.
pub const HISTORY: usize = 10;

/// The status, from the spec, the namespace's Models and the previous status.
pub fn status(
    ad: &AgentDeployment,
    models: &BTreeMap<String, &Model>,
    previous: Option<&RagStatus>,
    now: &Time,
) -> Option<RagStatus> {
    let rag = ad.spec.rag.as_ref()?;
    let model = rag
        .embedding_model
        .as_ref()
        .map(|m| (m.name.as_str(), models.get(&m.name)));
    let mut current = RagRevision {
        vector_store: rag.vector_store.clone(),
        collection: rag.collection.clone(),
        index_version: rag.index_version.clone(),
        embedding_model: model.map(|(name, m)| match m.map(|m| &m.spec.version) {
            Some(v) => format!("{name}@{v}"),
            None => name.to_string(),
        }),
        embedding_digest: model
            .and_then(|(_, m)| m)
            .and_then(|m| m.spec.artifact.as_ref())
            .and_then(|a| a.digest.clone()),
        since: None,
    };
    let same = |a: &RagRevision, b: &RagRevision| {
        a.vector_store == b.vector_store
            && a.collection == b.collection
            && a.index_version == b.index_version
            && a.embedding_model == b.embedding_model
            && a.embedding_digest == b.embedding_digest
    };
    Some(match previous {
        Some(p) if same(&p.current, &current) => p.clone(),
        Some(p) => {
            current.since = Some(now.clone());
            let mut history = vec![p.current.clone()];
            history.extend(p.history.iter().take(HISTORY - 1).cloned());
            RagStatus { current, history }
        }
        None => {
            current.since = ad
                .metadata
                .creation_timestamp
                .clone()
                .or_else(|| Some(now.clone()));
            RagStatus {
                current,
                history: Vec::new(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(index: &str) -> AgentDeployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "agentlens.dev/v1alpha1", "kind": "AgentDeployment",
            "metadata": {"name": "a", "namespace": "n", "creationTimestamp": "2026-11-01T00:00:00Z"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "rag": {"vectorStore": "qdrant", "collection": "kb", "indexVersion": index,
                             "embeddingModel": {"name": "bge"}}}
        }))
        .unwrap()
    }

    #[test]
    fn a_reindex_moves_the_set_up_into_history() {
        let m: Model = serde_json::from_value(serde_json::json!({
            "apiVersion": "agentlens.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "bge", "namespace": "n"},
            "spec": {"version": "1.5", "artifact": {"uri": "hf://x", "digest": format!("sha256:{}", "a".repeat(64))}}
        }))
        .unwrap();
        let models: BTreeMap<String, &Model> = [("bge".to_string(), &m)].into();
        let t = |s: &str| Time(s.parse().unwrap());
        let first = status(&ad("2026-11-20"), &models, None, &t("2026-11-27T09:00:00Z")).unwrap();
        assert_eq!(first.current.since, Some(t("2026-11-01T00:00:00Z")));
        assert_eq!(first.current.embedding_model.as_deref(), Some("bge@1.5"));
        // Unchanged: identical, nothing to write.
        assert_eq!(
            status(
                &ad("2026-11-20"),
                &models,
                Some(&first),
                &t("2026-11-28T09:00:00Z")
            ),
            Some(first.clone())
        );
        let second = status(
            &ad("2026-11-27"),
            &models,
            Some(&first),
            &t("2026-11-27T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(second.current.index_version.as_deref(), Some("2026-11-27"));
        assert_eq!(second.current.since, Some(t("2026-11-27T10:00:00Z")));
        assert_eq!(second.history, vec![first.current.clone()]);
    }
}
