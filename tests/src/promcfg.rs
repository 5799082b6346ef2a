//! The scrape jobs prometheus-operator generates for a PodMonitor or ServiceMonitor, from the
//! rendered objects, following `pkg/prometheus/promcfg.go` (`generatePodMonitorConfig`,
//! `generateServiceMonitorConfig`; docs/prometheus-operator.md has the mapping). Covers what the
//! chart uses: named ports, `matchLabels` selectors, `honorLabels`, `interval`,
//! `scrapeTimeout`, `path`, `jobLabel`, `relabelings`, `metricRelabelings`; no sharding, scrape
//! classes or enforced namespace labels (a stock kube-prometheus-stack has none).
//!
//! Pure: objects as JSON in, `scrape_config` JSON out.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::kubernetes_sd::sanitize;

/// A monitor this generator cannot turn into a job.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A field the job needs is missing or not of the expected type.
    #[error("{0} is missing or malformed")]
    Missing(&'static str),
    /// A feature this generator does not map (the chart does not use it).
    #[error("{0} is not mapped here")]
    Unsupported(&'static str),
}

/// How the generated job discovers its targets.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// `kubernetes_sd_configs` with this kubeconfig in place of the in-cluster API server
    /// (prometheus-operator's `apiserverConfig` unset).
    Kubernetes {
        /// The kubeconfig file.
        kubeconfig: PathBuf,
    },
    /// `file_sd_configs` reading this file per role (`<dir>/<role>.json`), written from the
    /// API server's objects by [`crate::kubernetes_sd`] for a Prometheus built without
    /// Kubernetes discovery. Namespaces are filtered by whoever writes the file.
    File {
        /// The directory of the files.
        dir: PathBuf,
    },
}

impl Discovery {
    /// The scrape_config key and value for `role` in `namespaces` (`None`: all).
    fn config(&self, role: &str, namespaces: Option<Vec<String>>) -> (&'static str, Value) {
        match self {
            Discovery::Kubernetes { kubeconfig } => {
                let mut sd = json!({"role": role, "kubeconfig_file": kubeconfig});
                if let Some(n) = namespaces {
                    sd["namespaces"] = json!({"names": n});
                }
                ("kubernetes_sd_configs", json!([sd]))
            }
            Discovery::File { dir } => (
                "file_sd_configs",
                json!([{"files": [dir.join(format!("{role}.json"))], "refresh_interval": "1s"}]),
            ),
        }
    }
}

/// A monitoring.coreos.com RelabelConfig as Prometheus's relabel_config (`generateRelabelConfig`:
/// camelCase fields to snake_case, the action in lower case).
pub fn relabel(r: &Value) -> Result<Value, MonitorError> {
    let mut out = serde_json::Map::new();
    for (k, v) in r.as_object().ok_or(MonitorError::Missing("a relabeling"))? {
        let key = match k.as_str() {
            "sourceLabels" => "source_labels",
            "targetLabel" => "target_label",
            other => other,
        };
        let v = if key == "action" {
            json!(
                v.as_str()
                    .ok_or(MonitorError::Missing("a relabeling's action"))?
                    .to_lowercase()
            )
        } else {
            v.clone()
        };
        out.insert(key.into(), v);
    }
    Ok(Value::Object(out))
}

fn relabels(list: &Value) -> Result<Vec<Value>, MonitorError> {
    list.as_array().into_iter().flatten().map(relabel).collect()
}

/// A selector's matchLabels as `keep` relabelings on the `__meta_kubernetes_<object>_label_*`
/// meta labels (SelectorMechanismRelabel, keys sorted as `sortutil.SortedKeys` does).
fn match_labels(selector: &Value, object: &str) -> Result<Vec<Value>, MonitorError> {
    if !selector["matchExpressions"].is_null() {
        return Err(MonitorError::Unsupported("selector.matchExpressions"));
    }
    let mut keys: Vec<(&String, &Value)> = selector["matchLabels"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    keys.into_iter()
        .map(|(k, v)| {
            let v = v.as_str().ok_or(MonitorError::Missing("a matchLabels value"))?;
            let k = sanitize(k);
            Ok(json!({"action": "keep",
                "source_labels": [format!("__meta_kubernetes_{object}_label_{k}"), format!("__meta_kubernetes_{object}_labelpresent_{k}")],
                "regex": format!("({v});true")}))
        })
        .collect()
}

fn name_of(monitor: &Value) -> Result<(&str, &str), MonitorError> {
    let m = &monitor["metadata"];
    Ok((
        m["namespace"]
            .as_str()
            .ok_or(MonitorError::Missing("metadata.namespace"))?,
        m["name"]
            .as_str()
            .ok_or(MonitorError::Missing("metadata.name"))?,
    ))
}

/// The endpoint fields every generated job takes the same way (`scrape_interval`,
/// `scrape_timeout`, `metrics_path`, `honor_labels`, `metric_relabel_configs`).
fn endpoint_fields(
    job: &mut serde_json::Map<String, Value>,
    ep: &Value,
) -> Result<(), MonitorError> {
    // AddHonorLabels: written only when true (OverrideHonorLabels off, as the stack ships).
    if ep["honorLabels"] == true {
        job.insert("honor_labels".into(), json!(true));
    }
    for (from, to) in [
        ("interval", "scrape_interval"),
        ("scrapeTimeout", "scrape_timeout"),
        ("path", "metrics_path"),
    ] {
        if let Some(v) = ep[from].as_str().filter(|s| !s.is_empty()) {
            job.insert(to.into(), json!(v));
        }
    }
    let metric = relabels(&ep["metricRelabelings"])?;
    if !metric.is_empty() {
        job.insert("metric_relabel_configs".into(), Value::Array(metric));
    }
    Ok(())
}

/// `generatePodMonitorConfig` for endpoint 0 of a PodMonitor, discovering through `sd`.
pub fn pod_monitor_job(pm: &Value, sd: &Discovery) -> Result<Value, MonitorError> {
    let (ns, name) = name_of(pm)?;
    let ep = &pm["spec"]["podMetricsEndpoints"][0];
    let mut job = serde_json::Map::new();
    job.insert(
        "job_name".into(),
        json!(format!("podMonitor/{ns}/{name}/0")),
    );
    endpoint_fields(&mut job, ep)?;
    let namespaces = (pm["spec"]["namespaceSelector"]["any"] != true).then(|| vec![ns.to_string()]);
    let (key, config) = sd.config("pod", namespaces);
    job.insert(key.into(), config);
    // initRelabelings, generateRunningFilter (filterRunning defaults to true).
    let mut r = vec![
        json!({"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}),
        json!({"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"}),
    ];
    r.extend(match_labels(&pm["spec"]["selector"], "pod")?);
    let port = ep["port"].as_str().ok_or(MonitorError::Unsupported(
        "an endpoint without a named port",
    ))?;
    r.push(json!({"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": port}));
    r.push(json!({"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}));
    r.push(json!({"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"}));
    r.push(json!({"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}));
    r.push(json!({"target_label": "job", "replacement": format!("{ns}/{name}")}));
    if let Some(l) = pm["spec"]["jobLabel"].as_str() {
        r.push(
            json!({"source_labels": [format!("__meta_kubernetes_pod_label_{}", sanitize(l))],
            "target_label": "job", "regex": "(.+)", "replacement": "${1}"}),
        );
    }
    r.push(json!({"target_label": "endpoint", "replacement": port}));
    r.extend(relabels(&ep["relabelings"])?);
    job.insert("relabel_configs".into(), Value::Array(r));
    Ok(Value::Object(job))
}

/// `generateServiceMonitorConfig` for endpoint 0 of a ServiceMonitor, role `endpoints` (the
/// operator's default serviceDiscoveryRole), discovering through `sd`.
pub fn service_monitor_job(sm: &Value, sd: &Discovery) -> Result<Value, MonitorError> {
    let (ns, name) = name_of(sm)?;
    let ep = &sm["spec"]["endpoints"][0];
    let mut job = serde_json::Map::new();
    job.insert(
        "job_name".into(),
        json!(format!("serviceMonitor/{ns}/{name}/0")),
    );
    endpoint_fields(&mut job, ep)?;
    // An empty namespaceSelector: the ServiceMonitor's own namespace.
    let (key, config) = sd.config("endpoints", Some(vec![ns.to_string()]));
    job.insert(key.into(), config);
    let mut r =
        vec![json!({"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"})];
    r.extend(match_labels(&sm["spec"]["selector"], "service")?);
    let port = ep["port"].as_str().ok_or(MonitorError::Unsupported(
        "an endpoint without a named port",
    ))?;
    r.push(json!({"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": port}));
    let target = [
        "__meta_kubernetes_endpoint_address_target_kind",
        "__meta_kubernetes_endpoint_address_target_name",
    ];
    r.push(json!({"source_labels": target, "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"}));
    r.push(json!({"source_labels": target, "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"}));
    r.push(json!({"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}));
    r.push(json!({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"}));
    r.push(json!({"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}));
    r.push(json!({"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"}));
    r.push(json!({"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"}));
    r.push(json!({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"}));
    if let Some(l) = sm["spec"]["jobLabel"].as_str() {
        r.push(
            json!({"source_labels": [format!("__meta_kubernetes_service_label_{}", sanitize(l))],
            "target_label": "job", "regex": "(.+)", "replacement": "${1}"}),
        );
    }
    r.push(json!({"target_label": "endpoint", "replacement": port}));
    r.extend(relabels(&ep["relabelings"])?);
    job.insert("relabel_configs".into(), Value::Array(r));
    Ok(Value::Object(job))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_monitor_becomes_the_operators_job_with_the_users_relabelings_last() {
        let pm = json!({"metadata": {"name": "agentlens-sidecars", "namespace": "monitoring"},
            "spec": {"namespaceSelector": {"any": true},
                "selector": {"matchLabels": {"agentlens.dev/sidecar": "injected"}},
                "podMetricsEndpoints": [{"port": "agentlens", "path": "/metrics", "interval": "30s",
                    "scrapeTimeout": "10s", "honorLabels": true,
                    "relabelings": [{"action": "LabelDrop", "regex": "container"}],
                    "metricRelabelings": [{"sourceLabels": ["__name__"], "regex": "x", "action": "drop"}]}]}});
        let job = pod_monitor_job(
            &pm,
            &Discovery::Kubernetes {
                kubeconfig: "k".into(),
            },
        )
        .unwrap();
        assert_eq!(
            job["job_name"],
            "podMonitor/monitoring/agentlens-sidecars/0"
        );
        assert_eq!(job["honor_labels"], true);
        assert_eq!(job["scrape_timeout"], "10s");
        assert_eq!(
            job["kubernetes_sd_configs"],
            json!([{"role": "pod", "kubeconfig_file": "k"}])
        );
        let r = job["relabel_configs"].as_array().unwrap();
        assert_eq!(r[0]["target_label"], "__tmp_prometheus_job_name");
        assert_eq!(
            r[2]["source_labels"][0],
            "__meta_kubernetes_pod_label_agentlens_dev_sidecar"
        );
        assert_eq!(r[2]["regex"], "(injected);true");
        assert_eq!(
            r.last().unwrap(),
            &json!({"action": "labeldrop", "regex": "container"})
        );
        assert_eq!(
            job["metric_relabel_configs"][0]["source_labels"][0],
            "__name__"
        );
        let mut own_ns = pm.clone();
        own_ns["spec"]["namespaceSelector"] = json!({});
        let job = pod_monitor_job(&own_ns, &Discovery::File { dir: "/d".into() }).unwrap();
        assert_eq!(job["file_sd_configs"][0]["files"][0], "/d/pod.json");
    }
}
