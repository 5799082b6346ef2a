//! Trimming objects before they enter the reflector stores: the status computation reads only a
//! few fields of a pod (labels, containers' names and images, config references, status), so
//! the rest is dropped to keep the operator's memory bounded on large clusters.

use k8s_openapi::api::core::v1::{Container, Pod};

fn container(c: &mut Container) {
    c.args = None;
    c.command = None;
    c.lifecycle = None;
    c.liveness_probe = None;
    c.readiness_probe = None;
    c.startup_probe = None;
    c.ports = None;
    c.resources = None;
    c.resize_policy = None;
    c.security_context = None;
    c.volume_mounts = None;
    c.volume_devices = None;
    c.working_dir = None;
    c.termination_message_path = None;
    c.termination_message_policy = None;
    c.image_pull_policy = None;
    // env: keep only references to ConfigMaps/Secrets (plain values are not read).
    if let Some(env) = c.env.as_mut() {
        env.retain(|e| {
            e.value_from
                .as_ref()
                .is_some_and(|v| v.config_map_key_ref.is_some() || v.secret_key_ref.is_some())
        });
        for e in env.iter_mut() {
            e.value = None;
        }
    }
}

/// Drops what the status never reads from a pod.
pub fn pod(p: &mut Pod) {
    p.metadata.managed_fields = None;
    if let Some(a) = p.metadata.annotations.as_mut() {
        a.retain(|k, _| k.starts_with("agentlens.dev/"));
    }
    if let Some(spec) = p.spec.as_mut() {
        spec.affinity = None;
        spec.tolerations = None;
        spec.topology_spread_constraints = None;
        spec.node_selector = None;
        spec.dns_config = None;
        spec.host_aliases = None;
        spec.readiness_gates = None;
        spec.security_context = None;
        spec.image_pull_secrets = None;
        spec.ephemeral_containers = None;
        spec.containers.iter_mut().for_each(container);
        spec.init_containers
            .iter_mut()
            .flatten()
            .for_each(container);
        if let Some(vols) = spec.volumes.as_mut() {
            // Only ConfigMap, Secret and projected volumes name configs.
            vols.retain(|v| v.config_map.is_some() || v.secret.is_some() || v.projected.is_some());
        }
    }
    if let Some(status) = p.status.as_mut() {
        status.host_ips = None;
        status.pod_ips = None;
        status.resource_claim_statuses = None;
        status.message = None;
        for cs in status
            .container_statuses
            .iter_mut()
            .flatten()
            .chain(status.init_container_statuses.iter_mut().flatten())
        {
            cs.allocated_resources = None;
            cs.resources = None;
            cs.volume_mounts = None;
            cs.user = None;
        }
    }
}
