//! What the status needs to know about a pod, extracted once when the pod is seen. Keeping these
//! few facts instead of the whole Pod keeps the operator's memory small on large clusters
//! (a Pod with two containers and three volumes is over 10 KiB in memory; its facts, a few
//! hundred bytes).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::configs::{ConfigRef, consumed};
use super::images::registry_digest;

/// The facts of one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodFacts {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `agentlens.dev/inject: "false"` (label or annotation).
    pub opted_out: bool,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// Carries the `agentlens-sidecar` container.
    pub injected: bool,
    /// The Ready condition is True.
    pub ready: bool,
    /// Not finished and not being deleted.
    pub running: bool,
    /// Finished (phase `Succeeded` or `Failed`) and not being deleted: its images still tell
    /// what ran.
    pub ended: bool,
    /// `status.startTime`.
    pub start_time: Option<Time>,
    /// `status.podIP`.
    pub pod_ip: Option<String>,
    /// (container, image reference from the spec, registry digest), the sidecar left out.
    pub images: Vec<(String, String, Option<String>)>,
    /// ConfigMaps and Secrets the pod consumes.
    pub configs: BTreeSet<ConfigRef>,
    /// Containers' terminations for memory (`OOMKilled` last or current state).
    pub oom_kills: u64,
    /// Controller owner (kind, name).
    pub owner: Option<(String, String)>,
    /// Whether a container requests GPUs (maturity check `OBS-4` applies).
    pub gpu: bool,
    /// `spec.serviceAccountName` (`default` when unset): the identity its sidecar reads logs
    /// with.
    pub service_account: String,
    /// Init containers that ran and ended (their processes and logs are gone, so the runtime
    /// maturity checks do not expect measurements of them).
    pub finished_init: Vec<String>,
    /// Carries the zero-code instrumentation's init container (`otlp.autoInstrument`).
    pub auto_instrumented: bool,
}

impl PodFacts {
    /// Extracts the facts.
    pub fn from_pod(pod: &Pod) -> Self {
        let m = &pod.metadata;
        let flag = m
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::inject::INJECT))
            .or_else(|| m.labels.as_ref().and_then(|l| l.get(crate::inject::INJECT)));
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let containers = || {
            spec.into_iter().flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
        };
        let statuses = || {
            status.into_iter().flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
            })
        };
        let images = statuses()
            .filter(|cs| cs.name != crate::inject::sidecar::CONTAINER_NAME)
            .map(|cs| {
                // The spec's reference is what users recognise; the status may show a
                // normalised one (docker.io/library/…).
                let image = containers()
                    .find(|c| c.name == cs.name)
                    .and_then(|c| c.image.clone())
                    .unwrap_or_else(|| cs.image.clone());
                (cs.name.clone(), image, registry_digest(&cs.image_id))
            })
            .collect();
        let oom_kills = status
            .into_iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
            .map(|cs| {
                let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
                let now = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
                [last, now]
                    .into_iter()
                    .flatten()
                    .filter(|t| t.reason.as_deref() == Some("OOMKilled"))
                    .count() as u64
            })
            .sum();
        Self {
            name: m.name.clone().unwrap_or_default(),
            namespace: m.namespace.clone().unwrap_or_default(),
            labels: m.labels.clone().unwrap_or_default(),
            opted_out: flag.is_some_and(|v| v.trim().eq_ignore_ascii_case("false")),
            host_network: spec.and_then(|s| s.host_network) == Some(true),
            injected: containers().any(|c| c.name == crate::inject::sidecar::CONTAINER_NAME),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            running: m.deletion_timestamp.is_none()
                && status
                    .and_then(|s| s.phase.as_deref())
                    .is_none_or(|p| p == "Running" || p == "Pending"),
            ended: m.deletion_timestamp.is_none()
                && status
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|p| p == "Succeeded" || p == "Failed"),
            start_time: status.and_then(|s| s.start_time.clone()),
            pod_ip: status.and_then(|s| s.pod_ip.clone()),
            images,
            configs: spec.map(consumed).unwrap_or_default(),
            oom_kills,
            owner: m
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
                .map(|o| (o.kind.clone(), o.name.clone())),
            gpu: spec.is_some_and(crate::inject::requests_gpu),
            service_account: spec
                .and_then(|s| s.service_account_name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into()),
            finished_init: status
                .into_iter()
                .flat_map(|s| s.init_container_statuses.iter().flatten())
                .filter(|cs| cs.state.as_ref().is_some_and(|st| st.terminated.is_some()))
                .map(|cs| cs.name.clone())
                .collect(),
            auto_instrumented: containers()
                .any(|c| c.name == crate::inject::autoinstrument::INIT_CONTAINER_NAME),
        }
    }
}
