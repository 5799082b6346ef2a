//! `Table` answers (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which `kubectl get`
//! prints: Name, the CRD's `additionalPrinterColumns` or a few built-in columns (pods,
//! deployments, namespaces), Age. Other built-in types show Name and Age only.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// Evaluates the JSONPath subset printer columns use: `.a.b`, `[n]`, `[*]` and
/// `[?(@.k=="v")]` filters; the values found.
pub fn json_path(object: &Value, path: &str) -> Vec<Value> {
    let mut nodes = vec![object.clone()];
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            nodes = nodes.iter().filter_map(|n| n.get(key).cloned()).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Vec::new();
            };
            // A filter may itself contain `]` only inside quotes; the columns we serve do not.
            let inner = &r[..end];
            rest = &r[end + 1..];
            nodes = if inner == "*" {
                nodes
                    .iter()
                    .flat_map(|n| n.as_array().cloned().unwrap_or_default())
                    .collect()
            } else if let Some(filter) =
                inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
            {
                let Some((key, value)) = filter.split_once("==") else {
                    return Vec::new();
                };
                let want = value.trim().trim_matches(|c| c == '"' || c == '\'');
                nodes
                    .iter()
                    .flat_map(|n| n.as_array().cloned().unwrap_or_default())
                    .filter(|item| {
                        let got = &item[key.trim()];
                        got.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| got.to_string())
                            == want
                    })
                    .collect()
            } else if let Ok(i) = inner.parse::<usize>() {
                nodes.iter().filter_map(|n| n.get(i).cloned()).collect()
            } else {
                return Vec::new();
            };
        } else {
            return Vec::new();
        }
    }
    nodes
}

fn age(created: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = created.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (now.as_second() - t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 2 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

type Cell = fn(&Value) -> Value;

fn count(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn pod_ready(o: &Value) -> Value {
    let statuses = o["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
    json!(format!("{ready}/{total}"))
}

fn pod_status(o: &Value) -> Value {
    if !o["metadata"]["deletionTimestamp"].is_null() {
        return json!("Terminating");
    }
    let waiting = o["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|s| {
            s["state"]["waiting"]["reason"]
                .as_str()
                .or(s["state"]["terminated"]["reason"].as_str())
        });
    json!(
        waiting
            .or(o["status"]["reason"].as_str())
            .or(o["status"]["phase"].as_str())
            .unwrap_or_default()
    )
}

fn pod_restarts(o: &Value) -> Value {
    json!(
        o["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| count(&s["restartCount"]))
            .sum::<i64>()
    )
}

fn deployment_ready(o: &Value) -> Value {
    json!(format!(
        "{}/{}",
        count(&o["status"]["readyReplicas"]),
        o["spec"]["replicas"].as_i64().unwrap_or(1)
    ))
}

/// The columns the real server's printers show for a few built-in types.
fn builtin_columns(t: &ResourceType) -> Vec<(&'static str, Cell)> {
    match (t.group.as_str(), t.plural.as_str()) {
        ("", "pods") => vec![
            ("Ready", pod_ready),
            ("Status", pod_status),
            ("Restarts", pod_restarts),
        ],
        ("apps", "deployments") => vec![
            ("Ready", deployment_ready),
            ("Up-to-date", |o| {
                json!(count(&o["status"]["updatedReplicas"]))
            }),
            ("Available", |o| {
                json!(count(&o["status"]["availableReplicas"]))
            }),
        ],
        ("", "namespaces") => vec![("Status", |o| o["status"]["phase"].clone())],
        _ => Vec::new(),
    }
}

/// A `Table` of `objects`; `include` is the `includeObject` parameter (None, Metadata, Object).
pub fn table(t: &ResourceType, objects: &[Value], include: &str, list_meta: Value) -> Value {
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in &t.columns {
        columns.push(json!({"name": c.name, "type": c.kind, "format": "", "description": c.description, "priority": 0}));
    }
    let builtin = builtin_columns(t);
    for (name, _) in &builtin {
        columns.push(
            json!({"name": name, "type": "string", "format": "", "description": "", "priority": 0}),
        );
    }
    // Without declared columns the server shows Name and Age; with them, only those.
    let age_column = t.columns.is_empty();
    if age_column {
        columns.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0}));
    }
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            for c in &t.columns {
                let found = json_path(o, &c.json_path);
                cells.push(match found.as_slice() {
                    [] => Value::Null,
                    [one] if c.kind == "date" => json!(age(one.as_str().unwrap_or_default(), now)),
                    [one] => one.clone(),
                    many => json!(many.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>().join(",")),
                });
            }
            for (_, cell) in &builtin {
                cells.push(cell(o));
            }
            if age_column {
                cells.push(json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or_default(), now)));
            }
            let object = match include {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_column_paths() {
        let o = json!({"status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]},
                       "spec": {"items": [{"n": 1}, {"n": 2}]}});
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            [json!("True")]
        );
        assert_eq!(json_path(&o, ".spec.items[*].n"), [json!(1), json!(2)]);
        assert_eq!(json_path(&o, ".spec.items[1].n"), [json!(2)]);
        assert!(json_path(&o, ".spec.none").is_empty());
    }

    #[test]
    fn pod_columns() {
        let pods = crate::emulator::resources::builtins()
            .into_iter()
            .find(|t| t.plural == "pods")
            .unwrap();
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 2, "state": {"running": {}}},
                {"ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        let t = table(&pods, &[pod], "None", json!({}));
        let cells = &t["rows"][0]["cells"];
        assert_eq!(
            cells.as_array().unwrap()[0..4],
            [
                json!("p"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!(3)
            ]
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Ready", "Status", "Restarts", "Age"]);
    }
}
