//! Validation of custom resources against the CRD schemas generated from the Rust types, as
//! strict as the API server with `kubectl apply` (field validation `Strict`): unknown fields,
//! wrong types, patterns, enums, bounds and required fields are errors.
//!
//! CEL rules (`x-kubernetes-validations`) are not evaluated here; the API server does that.

use std::collections::BTreeMap;

use agentlens_crds::manifests::crds;
use serde_json::{Map, Value, json};

use crate::Error;

/// A validator per kind of the agentlens API.
pub struct CrdValidators {
    by_kind: BTreeMap<String, jsonschema::Validator>,
}

impl CrdValidators {
    /// Builds validators from the CRDs the types generate right now.
    pub fn generate() -> Result<Self, Error> {
        let crds = crds().map_err(|e| Error::Schema {
            kind: "*".into(),
            message: e.to_string(),
        })?;
        let mut by_kind = BTreeMap::new();
        for crd in crds {
            let kind = crd.spec.names.kind.clone();
            let schema = crd
                .spec
                .versions
                .first()
                .and_then(|v| v.schema.as_ref())
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .ok_or_else(|| Error::Schema {
                    kind: kind.clone(),
                    message: "no openAPIV3Schema".into(),
                })?;
            let mut schema = serde_json::to_value(schema).map_err(|e| Error::Schema {
                kind: kind.clone(),
                message: e.to_string(),
            })?;
            to_strict_json_schema(&mut schema);
            // apiVersion, kind and metadata are validated by the API server itself.
            if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert("apiVersion".into(), json!({"type": "string"}));
                props.insert("kind".into(), json!({"type": "string"}));
                props.insert("metadata".into(), json!({"type": "object"}));
            }
            let validator = jsonschema::draft4::options()
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| Error::Schema {
                    kind: kind.clone(),
                    message: e.to_string(),
                })?;
            by_kind.insert(kind, validator);
        }
        Ok(Self { by_kind })
    }

    /// The kinds there is a validator for.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.by_kind.keys().map(String::as_str)
    }

    /// Every violation of `object` against the schema of its kind, as `path: message`.
    pub fn violations(&self, object: &Value) -> Vec<String> {
        let kind = object["kind"].as_str().unwrap_or_default();
        let Some(validator) = self.by_kind.get(kind) else {
            return vec![format!("no CRD for kind {kind:?}")];
        };
        validator
            .iter_errors(object)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect()
    }
}

/// Turns a CRD's OpenAPI v3 schema into a JSON Schema (draft 4) that behaves like the API server
/// with strict field validation: `nullable` allows null, int-or-string allows both, and objects
/// with declared properties reject unknown ones.
pub fn to_strict_json_schema(node: &mut Value) {
    let Some(obj) = node.as_object_mut() else {
        return;
    };
    if obj.remove("x-kubernetes-int-or-string") == Some(Value::Bool(true)) {
        obj.remove("type");
        obj.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if obj.remove("nullable") == Some(Value::Bool(true))
        && let Some(Value::String(t)) = obj.get("type").cloned()
    {
        obj.insert("type".into(), json!([t, "null"]));
    }
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if obj.contains_key("properties") && !obj.contains_key("additionalProperties") && !preserve {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, child) in obj.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Some(props) = child.as_object_mut() {
                    props.values_mut().for_each(to_strict_json_schema);
                }
            }
            "items" | "additionalProperties" | "not" => to_strict_json_schema(child),
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(list) = child.as_array_mut() {
                    list.iter_mut().for_each(to_strict_json_schema);
                }
            }
            _ => {}
        }
    }
}

/// Walks a schema and calls `f(path, node)` for every property schema (the node under a
/// `properties` key), depth first.
pub fn walk_properties(node: &Value, path: &str, f: &mut dyn FnMut(&str, &Map<String, Value>)) {
    let Some(obj) = node.as_object() else {
        return;
    };
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            let child_path = format!("{path}.{name}");
            if let Some(c) = child.as_object() {
                f(&child_path, c);
            }
            walk_properties(child, &child_path, f);
        }
    }
    if let Some(items) = obj.get("items") {
        walk_properties(items, &format!("{path}[]"), f);
    }
    if let Some(extra) = obj.get("additionalProperties") {
        walk_properties(extra, &format!("{path}{{}}"), f);
    }
}
