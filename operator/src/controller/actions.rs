//! The reconciler's side effects beyond status: Kubernetes Events when a new GPU OOM or OOMKill
//! appears, and the one-time rollout of workloads whose pods were created without the sidecar.

use std::collections::BTreeSet;

use crate::status::PodFacts;
use agentlens_crds::AgentDeployment;
use agentlens_crds::agentdeployment_status::{AgentDeploymentStatus, RuntimeStatus};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource};
use serde_json::json;

/// Annotation set on a workload's pod template to restart it once for injection; its presence
/// means it was done, so it never loops.
pub const RESTART_ANNOTATION: &str = "agentlens.dev/restarted-for-injection";

/// Events for what is new since the previous status: GPU OOMs and OOMKills.
pub fn new_events(previous: Option<&AgentDeploymentStatus>, current: &RuntimeStatus) -> Vec<Event> {
    let prev = previous.and_then(|p| p.runtime.as_ref());
    let mut out = Vec::new();
    let (old_oom, old_kill) = prev.map_or((0, 0), |p| (p.gpu_oom_events, p.oom_kills));
    if current.gpu_oom_events > old_oom {
        out.push(Event {
            type_: EventType::Warning,
            reason: "GpuOutOfMemory".into(),
            note: Some(format!(
                "{} new GPU out-of-memory event(s); see status.runtime and the sidecar's /v1/tracebacks",
                current.gpu_oom_events - old_oom
            )),
            action: "Observed".into(),
            secondary: None,
        });
    }
    if current.oom_kills > old_kill {
        out.push(Event {
            type_: EventType::Warning,
            reason: "OOMKilled".into(),
            note: Some(format!(
                "{} container(s) killed for exceeding their memory limit",
                current.oom_kills - old_kill
            )),
            action: "Observed".into(),
            secondary: None,
        });
    }
    out
}

/// Publishes events on the AgentDeployment; failures are logged, not fatal.
pub async fn publish(recorder: &Recorder, ad: &AgentDeployment, events: Vec<Event>) {
    let reference = ad.object_ref(&());
    for e in events {
        if let Err(err) = recorder.publish(&e, &reference).await {
            tracing::warn!(
                category = %crate::error::kube_category(&err),
                "publishing event {}: {}",
                e.reason,
                crate::error::chain(&err)
            );
        }
    }
}

/// The workloads (kind, name) owning `pods`: Deployments through their ReplicaSets,
/// StatefulSets, DaemonSets.
pub async fn owners(client: &Client, ns: &str, pods: &[&PodFacts]) -> BTreeSet<(String, String)> {
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let mut out = BTreeSet::new();
    for (kind, name) in pods.iter().filter_map(|p| p.owner.as_ref()) {
        match kind.as_str() {
            "ReplicaSet" => {
                if let Ok(rs) = rs_api.get(name).await {
                    for ro in rs
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .filter(|r| r.kind == "Deployment")
                    {
                        out.insert(("Deployment".to_string(), ro.name.clone()));
                    }
                }
            }
            "StatefulSet" | "DaemonSet" => {
                out.insert((kind.clone(), name.clone()));
            }
            _ => {}
        }
    }
    out
}

async fn restart_one<K>(api: Api<K>, name: &str, stamp: &str) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let obj = api.get(name).await?;
    let value = serde_json::to_value(&obj).map_err(kube::Error::SerdeError)?;
    let done = value
        .pointer("/spec/template/metadata/annotations")
        .and_then(|a| a.get(RESTART_ANNOTATION))
        .is_some();
    if done {
        return Ok(false);
    }
    let patch =
        json!({"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

/// Rolls out each owning workload once (`spec.sidecar.restartUninjected: true`). Returns the
/// workloads restarted now.
pub async fn restart_uninjected(
    client: &Client,
    ns: &str,
    uninjected: &[&PodFacts],
    stamp: &str,
) -> Vec<String> {
    let mut restarted = Vec::new();
    for (kind, name) in owners(client, ns, uninjected).await {
        let r = match kind.as_str() {
            "Deployment" => {
                restart_one(
                    Api::<Deployment>::namespaced(client.clone(), ns),
                    &name,
                    stamp,
                )
                .await
            }
            "StatefulSet" => {
                restart_one(
                    Api::<StatefulSet>::namespaced(client.clone(), ns),
                    &name,
                    stamp,
                )
                .await
            }
            "DaemonSet" => {
                restart_one(
                    Api::<DaemonSet>::namespaced(client.clone(), ns),
                    &name,
                    stamp,
                )
                .await
            }
            _ => Ok(false),
        };
        match r {
            Ok(true) => restarted.push(format!("{kind}/{name}")),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                category = %crate::error::kube_category(&e),
                "restarting {kind}/{name} for injection: {}",
                crate::error::chain(&e)
            ),
        }
    }
    restarted
}
