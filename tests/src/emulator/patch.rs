//! PATCH bodies other than server-side apply: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and an approximation of strategic merge patch.
//!
//! Strategic merge here is a merge patch in which lists whose items all carry a string `name`
//! (in the patch and in the object) are merged item by item on `name`; other lists are
//! replaced. The real server uses each field's declared merge key (`containerPort` for ports,
//! `mountPath` for volume mounts) and merge strategy. The directives `$patch: delete|replace`
//! and `$deleteFromPrimitiveList/<field>` are honoured; `$setElementOrder/<field>` and
//! `$retainKeys` are accepted and ignored (order and retained keys are not enforced).

use serde_json::{Map, Value};

use super::status::ApiError;

/// The kind of patch a `Content-Type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`.
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to `target`.
pub fn apply_patch(kind: PatchType, target: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let mut out = target.clone();
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut out, &ops).map_err(|e| {
                ApiError::internal(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
                .into_unprocessable()
            })?;
        }
        PatchType::Merge | PatchType::Strategic => {
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid patch body: {e}")))?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            if kind == PatchType::Merge {
                json_patch::merge(&mut out, &patch);
            } else {
                strategic(&mut out, &patch);
            }
        }
        PatchType::Apply => {
            return Err(ApiError::internal("apply patches are handled by apply.rs"));
        }
    }
    Ok(out)
}

impl ApiError {
    /// The same message as 422 Unprocessable (how the server answers a failing JSON patch).
    fn into_unprocessable(mut self) -> Self {
        self.code = 422;
        self.reason = "Invalid";
        self
    }
}

fn is_delete_directive(v: &Value) -> bool {
    v.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn named(list: &[Value]) -> bool {
    list.iter()
        .all(|i| i.get("name").and_then(Value::as_str).is_some())
}

/// Strategic merge of `patch` into `target` (see the module comment for the approximation).
pub fn strategic(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = p.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    for (key, value) in p {
        if key.starts_with("$setElementOrder/") || key == "$retainKeys" || key == "$patch" {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (t.get_mut(field), value.as_array()) {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if value.is_null() || is_delete_directive(value) {
            t.remove(key);
            continue;
        }
        match (t.get_mut(key), value) {
            (Some(Value::Array(existing)), Value::Array(items))
                if named(existing) && named(items) =>
            {
                for item in items {
                    let name = item.get("name").cloned();
                    let pos = existing.iter().position(|e| e.get("name") == name.as_ref());
                    match (pos, is_delete_directive(item)) {
                        (Some(i), true) => {
                            existing.remove(i);
                        }
                        (None, true) => {}
                        (Some(i), false) => strategic(&mut existing[i], item),
                        (None, false) => {
                            let mut fresh = Value::Null;
                            strategic(&mut fresh, item);
                            existing.push(fresh);
                        }
                    }
                }
            }
            (Some(existing), Value::Object(_)) if existing.is_object() => {
                strategic(existing, value)
            }
            (_, Value::Object(_)) => {
                let mut fresh = Value::Null;
                strategic(&mut fresh, value);
                t.insert(key.clone(), fresh);
            }
            (_, other) => {
                t.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_named_lists_and_honours_directives() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}
        ], "volumes": [{"name": "v"}]}, "metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["f1", "f2"]}});
        let patch = json!({
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "spec": {"containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                {"name": "side", "$patch": "delete"}
            ], "volumes": [{"name": "w"}]},
            "metadata": {"labels": {"b": null, "c": "3"}, "$deleteFromPrimitiveList/finalizers": ["f1"]}
        });
        strategic(&mut pod, &patch);
        assert_eq!(
            pod,
            json!({"spec": {"containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
            ], "volumes": [{"name": "v"}, {"name": "w"}]}, "metadata": {"labels": {"a": "1", "c": "3"}, "finalizers": ["f2"]}})
        );
    }

    #[test]
    fn lists_without_names_are_replaced() {
        let mut obj = json!({"args": ["a", "b"], "ports": [{"containerPort": 80}]});
        strategic(
            &mut obj,
            &json!({"args": ["c"], "ports": [{"containerPort": 81}]}),
        );
        assert_eq!(
            obj,
            json!({"args": ["c"], "ports": [{"containerPort": 81}]})
        );
    }

    #[test]
    fn json_patch_failure_is_422() {
        let err = apply_patch(
            PatchType::Json,
            &json!({"a": 1}),
            br#"[{"op": "test", "path": "/a", "value": 2}]"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }
}
