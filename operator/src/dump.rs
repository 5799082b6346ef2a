//! `agentlens-operator status --from FILE`: the status the operator would write, computed from a
//! dump (`kubectl get pods,configmaps,secrets,agentdeployments.agentlens.dev,models.agentlens.dev,evaluations.agentlens.dev -A -o yaml`, a
//! `v1 List`) with the same code as the controller, no cluster needed.

use std::collections::BTreeMap;

use agentlens_crds::{AgentDeployment, Evaluation, Model, Snapshot};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::status;

/// Name of the Secret holding the installation's HMAC key (data key `key`).
pub const HMAC_SECRET: &str = "agentlens-hmac-key";

/// The objects of a dump, by kind.
#[derive(Debug, Default)]
pub struct Dump {
    /// Pods.
    pub pods: Vec<Pod>,
    /// ConfigMaps.
    pub config_maps: Vec<ConfigMap>,
    /// Secrets.
    pub secrets: Vec<Secret>,
    /// AgentDeployments.
    pub agent_deployments: Vec<AgentDeployment>,
    /// Models.
    pub models: Vec<Model>,
    /// Evaluations.
    pub evaluations: Vec<Evaluation>,
}

fn parse<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::Parse {
        path: what.into(),
        message: e.to_string(),
    })
}

/// Reads a `v1 List` (or a stream of documents, or one object), YAML or JSON.
pub fn read(text: &str) -> Result<Dump> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| Error::Parse {
        path: "dump".into(),
        message: e.to_string(),
    })?;
    let mut items = Vec::new();
    for d in docs {
        if d.get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
        {
            items.extend(
                d.get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        } else if !d.is_null() {
            items.push(d);
        }
    }
    let mut dump = Dump::default();
    for item in items {
        let kind = item
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let what = format!("{kind}/{name}");
        match kind.as_str() {
            "Pod" => dump.pods.push(parse(item, &what)?),
            "ConfigMap" => dump.config_maps.push(parse(item, &what)?),
            "Secret" => dump.secrets.push(parse(item, &what)?),
            "AgentDeployment" => dump.agent_deployments.push(parse(item, &what)?),
            "Model" => dump.models.push(parse(item, &what)?),
            "Evaluation" => dump.evaluations.push(parse(item, &what)?),
            _ => {}
        }
    }
    Ok(dump)
}

fn ns<K: kube::Resource>(o: &K) -> String {
    o.meta()
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

fn by_name<'a, K: kube::Resource>(objs: &'a [K], namespace: &str) -> BTreeMap<String, &'a K> {
    objs.iter()
        .filter(|o| ns(*o) == namespace)
        .filter_map(|o| o.meta().name.clone().map(|n| (n, o)))
        .collect()
}

/// The HMAC key in the dump's `agentlens-hmac-key` Secret, if it has one.
pub fn hmac_key(dump: &Dump) -> Option<Vec<u8>> {
    dump.secrets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(HMAC_SECRET))
        .and_then(|s| s.data.as_ref()?.get("key").map(|k| k.0.clone()))
}

/// Every AgentDeployment and Model of the dump with the status the operator would write, as a
/// `v1 List`. The statuses in the dump are the previous ones (history and transition times are
/// kept from them).
pub fn statuses(
    dump: &Dump,
    snapshots: &BTreeMap<String, Snapshot>,
    secret_key: Option<&[u8]>,
    now: &Time,
) -> Result<Value> {
    let mut items = Vec::new();
    for ad in &dump.agent_deployments {
        let namespace = ns(ad);
        let facts: Vec<status::PodFacts> = dump
            .pods
            .iter()
            .filter(|p| ns(*p) == namespace)
            .map(status::PodFacts::from_pod)
            .collect();
        let pods: Vec<&status::PodFacts> = facts.iter().collect();
        // Reduced to digests as the operator's cache does.
        let cm_digests: BTreeMap<String, status::configs::ConfigDigest> =
            by_name(&dump.config_maps, &namespace)
                .into_iter()
                .map(|(n, c)| (n, status::configs::ConfigDigest::of_configmap(c)))
                .collect();
        let secret_digests: BTreeMap<String, status::configs::ConfigDigest> =
            by_name(&dump.secrets, &namespace)
                .into_iter()
                .map(|(n, s)| (n, status::configs::ConfigDigest::of_secret(s, secret_key)))
                .collect();
        let cms = cm_digests.iter().map(|(n, d)| (n.clone(), d)).collect();
        let secrets = secret_digests.iter().map(|(n, d)| (n.clone(), d)).collect();
        let models = by_name(&dump.models, &namespace);
        let evals: Vec<&Evaluation> = dump
            .evaluations
            .iter()
            .filter(|e| ns(*e) == namespace)
            .collect();
        let world = status::World {
            ad,
            pods: &pods,
            config_maps: &cms,
            secrets: &secrets,
            models: &models,
            evaluations: &evals,
            snapshots,
            package_lists: &status::inventory::PackageLists::new(),
        };
        let mut out = ad.clone();
        out.status = Some(status::agent_deployment(&world, ad.status.as_ref(), now));
        items.push(serde_json::to_value(out).map_err(|e| Error::Parse {
            path: "status".into(),
            message: e.to_string(),
        })?);
    }
    for m in &dump.models {
        let models = by_name(&dump.models, &ns(m));
        let mut out = m.clone();
        out.status = Some(status::model(m, &models, m.status.as_ref(), now));
        items.push(serde_json::to_value(out).map_err(|e| Error::Parse {
            path: "status".into(),
            message: e.to_string(),
        })?);
    }
    Ok(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
}
