//! Prometheus's Kubernetes service discovery (`kubernetes_sd_configs`, roles `pod` and
//! `endpoints`) as target groups for `file_sd_configs`, computed from the objects of an API
//! server: for a Prometheus built without Kubernetes discovery (Debian's `prometheus` package
//! leaves it out: its config parser rejects `kubernetes_sd_configs`). The meta labels follow
//! `discovery/kubernetes/pod.go` and `endpoints.go` of Prometheus v2.42; relabelling, scraping
//! and rules then run in the real Prometheus.
//!
//! Pure: Kubernetes objects as JSON in, `[{targets, labels}]` out.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Prometheus's `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` to `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

type Labels = BTreeMap<String, String>;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `__meta_kubernetes_<kind>_label_*`, `..._labelpresent_*`, `..._annotation_*`,
/// `..._annotationpresent_*` of an object's metadata.
fn meta_labels(ls: &mut Labels, kind: &str, meta: &Value) {
    for (field, prefix) in [("labels", "label"), ("annotations", "annotation")] {
        for (k, v) in meta[field].as_object().into_iter().flatten() {
            let k = sanitize(k);
            ls.insert(format!("__meta_kubernetes_{kind}_{prefix}_{k}"), s(v));
            ls.insert(
                format!("__meta_kubernetes_{kind}_{prefix}present_{k}"),
                "true".into(),
            );
        }
    }
}

/// `podLabels`: the labels every target of a pod carries.
fn pod_labels(pod: &Value) -> Labels {
    let st = &pod["status"];
    let ready = st["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map_or("unknown".to_string(), |c| s(&c["status"]).to_lowercase());
    let mut ls = Labels::from([
        (
            "__meta_kubernetes_pod_name".into(),
            s(&pod["metadata"]["name"]),
        ),
        ("__meta_kubernetes_pod_ip".into(), s(&st["podIP"])),
        ("__meta_kubernetes_pod_ready".into(), ready),
        ("__meta_kubernetes_pod_phase".into(), s(&st["phase"])),
        (
            "__meta_kubernetes_pod_node_name".into(),
            s(&pod["spec"]["nodeName"]),
        ),
        ("__meta_kubernetes_pod_host_ip".into(), s(&st["hostIP"])),
        (
            "__meta_kubernetes_pod_uid".into(),
            s(&pod["metadata"]["uid"]),
        ),
    ]);
    if let Some(owner) = pod["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["controller"] == true)
    {
        ls.insert(
            "__meta_kubernetes_pod_controller_kind".into(),
            s(&owner["kind"]),
        );
        ls.insert(
            "__meta_kubernetes_pod_controller_name".into(),
            s(&owner["name"]),
        );
    }
    meta_labels(&mut ls, "pod", &pod["metadata"]);
    ls
}

fn group(targets: Vec<Labels>, labels: Labels) -> Value {
    // file_sd takes one address per target with shared labels: one group per target.
    Value::Array(
        targets
            .into_iter()
            .map(|mut t| {
                let address = t.remove("__address__").unwrap_or_default();
                let mut all = labels.clone();
                all.extend(t);
                json!({"targets": [address], "labels": all})
            })
            .collect(),
    )
}

fn port_labels(t: &mut Labels, c: &Value, port: &Value) {
    t.insert("__meta_kubernetes_pod_container_name".into(), s(&c["name"]));
    t.insert(
        "__meta_kubernetes_pod_container_image".into(),
        s(&c["image"]),
    );
    t.insert(
        "__meta_kubernetes_pod_container_port_name".into(),
        s(&port["name"]),
    );
    t.insert(
        "__meta_kubernetes_pod_container_port_number".into(),
        s(&port["containerPort"]),
    );
    t.insert(
        "__meta_kubernetes_pod_container_port_protocol".into(),
        s(&port["protocol"]),
    );
}

/// Role `pod`: one target per container port (one per container without ports), containers
/// then init containers; none for a pod without an IP.
pub fn pod_targets(pods: &[Value]) -> Value {
    let mut out = Vec::new();
    for pod in pods {
        let ip = s(&pod["status"]["podIP"]);
        if ip.is_empty() {
            continue;
        }
        let mut labels = pod_labels(pod);
        labels.insert(
            "__meta_kubernetes_namespace".into(),
            s(&pod["metadata"]["namespace"]),
        );
        let spec = &pod["spec"];
        let containers = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c, false))
            .chain(
                spec["initContainers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| (c, true)),
            );
        let mut targets = Vec::new();
        for (c, init) in containers {
            let ports = c["ports"].as_array().cloned().unwrap_or_default();
            if ports.is_empty() {
                targets.push(Labels::from([
                    ("__address__".into(), ip.clone()),
                    ("__meta_kubernetes_pod_container_name".into(), s(&c["name"])),
                    (
                        "__meta_kubernetes_pod_container_image".into(),
                        s(&c["image"]),
                    ),
                    (
                        "__meta_kubernetes_pod_container_init".into(),
                        init.to_string(),
                    ),
                ]));
                continue;
            }
            for port in &ports {
                let mut t = Labels::from([
                    (
                        "__address__".into(),
                        format!("{ip}:{}", s(&port["containerPort"])),
                    ),
                    (
                        "__meta_kubernetes_pod_container_init".into(),
                        init.to_string(),
                    ),
                ]);
                port_labels(&mut t, c, port);
                targets.push(t);
            }
        }
        if let Value::Array(groups) = group(targets, labels) {
            out.extend(groups);
        }
    }
    Value::Array(out)
}

/// Role `endpoints`: one target per address and port of each Endpoints object, with its
/// Service's labels and, when the address refers to a pod, the pod's labels and the container
/// port that matches.
pub fn endpoints_targets(endpoints: &[Value], services: &[Value], pods: &[Value]) -> Value {
    let mut out = Vec::new();
    for eps in endpoints {
        let (ns, name) = (
            s(&eps["metadata"]["namespace"]),
            s(&eps["metadata"]["name"]),
        );
        let mut labels = Labels::from([
            ("__meta_kubernetes_namespace".into(), ns.clone()),
            ("__meta_kubernetes_endpoints_name".into(), name.clone()),
        ]);
        if let Some(svc) = services
            .iter()
            .find(|v| s(&v["metadata"]["namespace"]) == ns && s(&v["metadata"]["name"]) == name)
        {
            labels.insert("__meta_kubernetes_service_name".into(), name.clone());
            meta_labels(&mut labels, "service", &svc["metadata"]);
        }
        meta_labels(&mut labels, "endpoints", &eps["metadata"]);
        let mut targets = Vec::new();
        for subset in eps["subsets"].as_array().into_iter().flatten() {
            for port in subset["ports"].as_array().into_iter().flatten() {
                for (list, ready) in [("addresses", "true"), ("notReadyAddresses", "false")] {
                    for addr in subset[list].as_array().into_iter().flatten() {
                        let mut t = Labels::from([
                            (
                                "__address__".into(),
                                format!("{}:{}", s(&addr["ip"]), s(&port["port"])),
                            ),
                            (
                                "__meta_kubernetes_endpoint_port_name".into(),
                                s(&port["name"]),
                            ),
                            (
                                "__meta_kubernetes_endpoint_port_protocol".into(),
                                s(&port["protocol"]),
                            ),
                            ("__meta_kubernetes_endpoint_ready".into(), ready.into()),
                        ]);
                        let target = &addr["targetRef"];
                        if target.is_object() {
                            t.insert(
                                "__meta_kubernetes_endpoint_address_target_kind".into(),
                                s(&target["kind"]),
                            );
                            t.insert(
                                "__meta_kubernetes_endpoint_address_target_name".into(),
                                s(&target["name"]),
                            );
                        }
                        let pod = (target["kind"] == "Pod")
                            .then(|| {
                                pods.iter().find(|p| {
                                    s(&p["metadata"]["namespace"]) == ns
                                        && p["metadata"]["name"] == target["name"]
                                })
                            })
                            .flatten();
                        if let Some(pod) = pod {
                            t.extend(pod_labels(pod));
                            let containers = pod["spec"]["containers"].as_array();
                            if let Some((c, cport)) = containers
                                .into_iter()
                                .flatten()
                                .flat_map(|c| {
                                    c["ports"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .map(move |p| (c, p))
                                })
                                .find(|(_, p)| p["containerPort"] == port["port"])
                            {
                                port_labels(&mut t, c, cport);
                                // The endpoint's protocol, as endpoints.go writes it.
                                t.insert(
                                    "__meta_kubernetes_pod_container_port_protocol".into(),
                                    s(&port["protocol"]),
                                );
                            }
                        }
                        targets.push(t);
                    }
                }
            }
        }
        if let Value::Array(groups) = group(targets, labels) {
            out.extend(groups);
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "email-triage-0", "namespace": "invoice-rpa", "uid": "u",
                "labels": {"agentlens.dev/agent": "invoice-rpa"}, "annotations": {"a/b": "c"}},
            "spec": {"nodeName": "n1",
                "containers": [{"name": "email-triage", "image": "acme/e:1"}],
                "initContainers": [{"name": "agentlens-sidecar", "image": "agentlens/s:1",
                    "ports": [{"name": "agentlens", "containerPort": 9477, "protocol": "TCP"}]}]},
            "status": {"podIP": "127.0.0.2", "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}})
    }

    #[test]
    fn a_pod_gives_a_target_per_container_port_and_one_per_portless_container() {
        let groups = pod_targets(&[pod()]);
        let groups = groups.as_array().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["targets"][0], "127.0.0.2");
        assert_eq!(
            groups[0]["labels"]["__meta_kubernetes_pod_container_init"],
            "false"
        );
        let sidecar = &groups[1]["labels"];
        assert_eq!(groups[1]["targets"][0], "127.0.0.2:9477");
        assert_eq!(
            sidecar["__meta_kubernetes_pod_container_name"],
            "agentlens-sidecar"
        );
        assert_eq!(
            sidecar["__meta_kubernetes_pod_container_port_name"],
            "agentlens"
        );
        assert_eq!(sidecar["__meta_kubernetes_pod_container_init"], "true");
        assert_eq!(
            sidecar["__meta_kubernetes_pod_label_agentlens_dev_agent"],
            "invoice-rpa"
        );
        assert_eq!(
            sidecar["__meta_kubernetes_pod_labelpresent_agentlens_dev_agent"],
            "true"
        );
        assert_eq!(sidecar["__meta_kubernetes_pod_annotation_a_b"], "c");
        assert_eq!(sidecar["__meta_kubernetes_pod_ready"], "true");
        assert_eq!(sidecar["__meta_kubernetes_namespace"], "invoice-rpa");
        let mut no_ip = pod();
        no_ip["status"]["podIP"] = Value::Null;
        assert_eq!(pod_targets(&[no_ip]), json!([]));
    }

    #[test]
    fn endpoints_carry_the_service_and_the_pod_they_point_at() {
        let mut op = pod();
        op["metadata"]["name"] = json!("agentlens-0");
        op["metadata"]["namespace"] = json!("agentlens-system");
        op["spec"]["containers"][0]["ports"] =
            json!([{"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}]);
        let svc = json!({"metadata": {"name": "agentlens-metrics", "namespace": "agentlens-system",
            "labels": {"agentlens.dev/job": "agentlens-operator"}}});
        let eps = json!({"metadata": {"name": "agentlens-metrics", "namespace": "agentlens-system"},
            "subsets": [{"addresses": [{"ip": "127.0.0.3", "targetRef": {"kind": "Pod", "name": "agentlens-0"}}],
                "ports": [{"name": "http-metrics", "port": 8080, "protocol": "TCP"}]}]});
        let groups = endpoints_targets(&[eps], &[svc], &[op]);
        let g = &groups[0];
        assert_eq!(g["targets"][0], "127.0.0.3:8080");
        let l = &g["labels"];
        assert_eq!(l["__meta_kubernetes_service_name"], "agentlens-metrics");
        assert_eq!(
            l["__meta_kubernetes_service_label_agentlens_dev_job"],
            "agentlens-operator"
        );
        assert_eq!(l["__meta_kubernetes_endpoint_port_name"], "http-metrics");
        assert_eq!(l["__meta_kubernetes_endpoint_address_target_kind"], "Pod");
        assert_eq!(l["__meta_kubernetes_pod_name"], "agentlens-0");
        assert_eq!(l["__meta_kubernetes_pod_container_name"], "email-triage");
        assert_eq!(l["__meta_kubernetes_namespace"], "agentlens-system");
    }
}
