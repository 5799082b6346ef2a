//! Where the console reads from (the only I/O of the console besides its HTTP server): the
//! cluster with the user's own kubeconfig, so Kubernetes RBAC decides what each person sees,
//! or a dump file (`kubectl get … -o yaml`), re-read when it changes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ListParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::facts::Facts;
use crate::dump;
use crate::error::{Error, Result};

/// Which namespaces to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace; when RBAC forbids listing across namespaces, the kubeconfig
    /// context's namespace, and the page says so.
    All {
        /// The context's namespace, the fallback.
        fallback: String,
    },
    /// One namespace.
    Namespace(String),
}

/// A source of facts.
#[derive(Clone)]
pub enum Source {
    /// A dump file (YAML or JSON, a `v1 List` or a stream of objects).
    File(PathBuf),
    /// A cluster through a client built from the user's kubeconfig.
    Cluster {
        /// The client.
        client: kube::Client,
        /// Namespaces.
        scope: Scope,
        /// `context kind-dev` and the like, for the page.
        context: String,
    },
}

impl Source {
    /// What is read, in words, for the page's source line.
    pub fn label(&self) -> String {
        match self {
            Self::File(p) => format!("file {}", p.display()),
            Self::Cluster { scope, context, .. } => match scope {
                Scope::All { .. } => format!("the cluster ({context}), all namespaces"),
                Scope::Namespace(ns) => format!("the cluster ({context}), namespace {ns}"),
            },
        }
    }

    /// Reads the facts once.
    pub async fn read(&self) -> Result<Facts> {
        match self {
            Self::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file(&path))
                    .await
                    .map_err(|e| Error::Io {
                        what: "reading the dump".into(),
                        source: std::io::Error::other(e),
                    })?
            }
            Self::Cluster { client, scope, .. } => read_cluster(client, scope).await,
        }
    }
}

/// Reads a dump; the AgentDeployments and Models without a status get the one `status --from`
/// computes from the dump's objects (no sidecar snapshots: a dump has none), as of the file's
/// modification time, so an unchanged file reads as the same facts.
pub fn read_file(path: &std::path::Path) -> Result<Facts> {
    // Taken before the text: a file rewritten between the two reads is read again as changed,
    // never as unchanged.
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let d = dump::read(&text).map_err(|e| match e {
        Error::Parse { message, .. } => Error::Parse {
            path: path.to_path_buf(),
            message,
        },
        other => other,
    })?;
    let mut systems = d.agent_deployments.clone();
    let mut models = d.models.clone();
    if systems.iter().any(|a| a.status.is_none()) || models.iter().any(|m| m.status.is_none()) {
        // The status is computed as of the file's last change, not of each read: a dump that
        // did not change must give the same facts, or every read would be a new version and
        // every open page would swap its content (and lose its keyboard focus) each refresh.
        let as_of = modified
            .and_then(|t| k8s_openapi::jiff::Timestamp::try_from(t).ok())
            .unwrap_or_else(k8s_openapi::jiff::Timestamp::now);
        let now = Time(as_of);
        let list = dump::statuses(&d, &BTreeMap::new(), dump::hmac_key(&d).as_deref(), &now)?;
        let computed = list
            .get("items")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default();
        let key = |v: &serde_json::Value| {
            (
                v["kind"].as_str().unwrap_or_default().to_string(),
                v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
                v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        let by_key: BTreeMap<_, _> = computed.iter().map(|v| (key(v), v)).collect();
        let status_of = |kind: &str, meta: &kube::api::ObjectMeta| {
            by_key
                .get(&(
                    kind.to_string(),
                    meta.namespace.clone().unwrap_or_else(|| "default".into()),
                    meta.name.clone().unwrap_or_default(),
                ))
                .map(|v| v["status"].clone())
        };
        for a in systems.iter_mut().filter(|a| a.status.is_none()) {
            a.status = status_of("AgentDeployment", &a.metadata)
                .and_then(|s| serde_json::from_value(s).ok());
        }
        for m in models.iter_mut().filter(|m| m.status.is_none()) {
            m.status = status_of("Model", &m.metadata).and_then(|s| serde_json::from_value(s).ok());
        }
    }
    Ok(Facts {
        systems,
        models,
        evaluations: d.evaluations,
        hidden: Vec::new(),
    }
    .sorted())
}

fn forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

async fn list_in<K>(client: &kube::Client, ns: Option<&str>) -> kube::Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    Ok(api.list(&ListParams::default()).await?.items)
}

fn plural<K: Resource<DynamicType = ()>>() -> String {
    format!("{}.{}", K::plural(&()), K::group(&()))
}

fn where_(ns: Option<&str>) -> String {
    ns.map_or_else(
        || "all namespaces".to_string(),
        |n| format!("namespace {n}"),
    )
}

/// Lists one kind; what RBAC hides is an empty list and a sentence in `hidden`.
async fn visible<K>(
    client: &kube::Client,
    ns: Option<&str>,
    hidden: &mut Vec<String>,
) -> Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    match list_in::<K>(client, ns).await {
        Ok(items) => Ok(items),
        Err(e) if forbidden(&e) => {
            hidden.push(format!(
                "{} in {} are not visible to you (your RBAC does not allow listing them).",
                plural::<K>(),
                where_(ns)
            ));
            Ok(Vec::new())
        }
        Err(source) => Err(Error::Kube {
            what: format!("listing {} in {}", plural::<K>(), where_(ns)),
            source: Box::new(source),
        }),
    }
}

async fn read_cluster(client: &kube::Client, scope: &Scope) -> Result<Facts> {
    let mut hidden = Vec::new();
    let (ns, systems) = match scope {
        Scope::Namespace(ns) => (
            Some(ns.as_str()),
            visible::<AgentDeployment>(client, Some(ns), &mut hidden).await?,
        ),
        Scope::All { fallback } => match list_in::<AgentDeployment>(client, None).await {
            Ok(items) => (None, items),
            // Allowed in some namespaces only: the context's, and say the others are hidden.
            Err(e) if forbidden(&e) => {
                hidden.push(format!(
                    "You may not list {} in all namespaces: showing namespace {fallback} only; the other namespaces are not visible to you.",
                    plural::<AgentDeployment>()
                ));
                (
                    Some(fallback.as_str()),
                    visible::<AgentDeployment>(client, Some(fallback), &mut hidden).await?,
                )
            }
            Err(source) => {
                return Err(Error::Kube {
                    what: format!("listing {} in all namespaces", plural::<AgentDeployment>()),
                    source: Box::new(source),
                });
            }
        },
    };
    let models = visible::<Model>(client, ns, &mut hidden).await?;
    let evaluations = visible::<Evaluation>(client, ns, &mut hidden).await?;
    Ok(Facts {
        systems,
        models,
        evaluations,
        hidden,
    }
    .sorted())
}
