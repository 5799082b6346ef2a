//! Custom objects against their CRD's `openAPIV3Schema`, as the API server treats them:
//! defaults filled in, unknown fields pruned (or refused under `fieldValidation=Strict`), then
//! validated (types, patterns, enums, bounds, required) and its CEL rules
//! (`x-kubernetes-validations`) evaluated ([`super::cel`]).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::status::ApiError;
use crate::crd_schema::to_strict_json_schema;

/// The schemas of one CRD, by version.
pub struct CrdSchema {
    versions: BTreeMap<String, (Value, jsonschema::Validator, Vec<super::cel::Rule>)>,
}

impl std::fmt::Debug for CrdSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrdSchema")
            .field("versions", &self.versions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CrdSchema {
    /// Compiles the schema of every version of a CRD object; an unusable schema is the cause
    /// of a 422 for the CRD itself.
    pub fn compile(crd: &Value) -> Result<Self, Vec<(String, String)>> {
        let mut versions = BTreeMap::new();
        let mut causes = Vec::new();
        for (i, v) in crd["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            let raw = v["schema"]["openAPIV3Schema"].clone();
            if !raw.is_object() {
                causes.push((
                    format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "Required value: schemas are required".into(),
                ));
                continue;
            }
            let rules = match super::cel::rules(
                &raw,
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
            ) {
                Ok(r) => r,
                Err(cause) => {
                    causes.push(cause);
                    continue;
                }
            };
            let mut strict = raw.clone();
            to_strict_json_schema(&mut strict);
            if let Some(props) = strict.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert("apiVersion".into(), json!({"type": "string"}));
                props.insert("kind".into(), json!({"type": "string"}));
                props.insert("metadata".into(), json!({"type": "object"}));
            }
            match jsonschema::draft4::options()
                .should_validate_formats(true)
                .build(&strict)
            {
                Ok(validator) => {
                    versions.insert(name, (raw, validator, rules));
                }
                Err(e) => causes.push((
                    format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    e.to_string(),
                )),
            }
        }
        if causes.is_empty() {
            Ok(Self { versions })
        } else {
            Err(causes)
        }
    }

    /// Defaults, prunes and validates `object` (of `version`); the object to store or the
    /// server's error: 400 with `strict decoding error` for unknown fields under `strict`,
    /// 422 Invalid for schema violations.
    pub fn admit(
        &self,
        mut object: Value,
        version: &str,
        strict: bool,
        group: &str,
        kind: &str,
    ) -> Result<Value, ApiError> {
        let Some((raw, validator, rules)) = self.versions.get(version) else {
            return Ok(object);
        };
        let mut unknown = Vec::new();
        if let Some(o) = object.as_object_mut() {
            for (k, v) in o.iter_mut() {
                if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(s) = raw["properties"].get(k) {
                    prune(v, s, k, &mut unknown);
                }
            }
            let declared = raw["properties"].as_object();
            let keep_all = raw["x-kubernetes-preserve-unknown-fields"] == true;
            o.retain(|k, _| {
                let keep = matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                    || keep_all
                    || declared.is_some_and(|d| d.contains_key(k));
                if !keep {
                    unknown.push(k.clone());
                }
                keep
            });
        }
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if strict && !unknown.is_empty() {
            let fields: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                fields.join(", ")
            )));
        }
        default(&mut object, raw);
        let mut causes: Vec<(String, String)> =
            validator.iter_errors(&object).map(|e| cause(&e)).collect();
        // As the API server: CEL rules run on an object that passed the schema.
        if causes.is_empty() {
            causes = super::cel::violations(rules, &object);
        }
        if causes.is_empty() {
            Ok(object)
        } else {
            Err(ApiError::invalid(group, kind, &name, &causes))
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One violation as the API server words it: `(field, "Invalid value: ...")`.
fn cause(e: &jsonschema::ValidationError<'_>) -> (String, String) {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let path = e.instance_path().to_string();
    let field = path.trim_start_matches('/').replace('/', ".");
    let value = e.instance().as_ref();
    let shown = value.to_string();
    let message = match e.kind() {
        K::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            let got = json_type(value);
            format!("Invalid value: \"{got}\": {field} in body must be of type {want}: \"{got}\"")
        }
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let full = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
            return (full, "Required value".into());
        }
        K::Enum { options } => {
            let supported: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect();
            format!(
                "Unsupported value: {shown}: supported values: {}",
                supported.join(", ")
            )
        }
        K::Pattern { pattern } => {
            format!("Invalid value: {shown}: {field} in body should match '{pattern}'")
        }
        K::Minimum { limit } => format!(
            "Invalid value: {shown}: {field} in body should be greater than or equal to {limit}"
        ),
        K::Maximum { limit } => format!(
            "Invalid value: {shown}: {field} in body should be less than or equal to {limit}"
        ),
        K::MinLength { limit } => {
            format!("Invalid value: {shown}: {field} in body should be at least {limit} chars long")
        }
        K::MaxLength { limit } => format!("Too long: may not be more than {limit} bytes"),
        K::MinItems { limit } => format!(
            "Invalid value: {}: {field} in body should have at least {limit} items",
            value.as_array().map_or(0, Vec::len)
        ),
        K::MaxItems { limit } => format!(
            "Too many: {}: must have at most {limit} items",
            value.as_array().map_or(0, Vec::len)
        ),
        K::Format { format } => {
            format!("Invalid value: {shown}: {field} in body must be of type {format}: {shown}")
        }
        _ => format!("Invalid value: {shown}: {e}"),
    };
    (field, message)
}

/// Removes fields the schema does not declare, recording their paths.
fn prune(value: &mut Value, schema: &Value, path: &str, unknown: &mut Vec<String>) {
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    match value {
        Value::Object(o) => {
            let props = schema["properties"].as_object();
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            if props.is_none() && extra.is_none() {
                // No structure declared: a free-form object when preserved, otherwise the
                // server keeps only what the schema declares, which is nothing.
                if !preserve && schema["type"] == "object" && !o.is_empty() {
                    if schema["x-kubernetes-embedded-resource"] == true {
                        return;
                    }
                    for k in o.keys() {
                        unknown.push(format!("{path}.{k}"));
                    }
                    o.clear();
                }
                return;
            }
            o.retain(|k, _| {
                let keep = preserve || extra.is_some() || props.is_some_and(|p| p.contains_key(k));
                if !keep {
                    unknown.push(format!("{path}.{k}"));
                }
                keep
            });
            for (k, child) in o.iter_mut() {
                let child_schema = props.and_then(|p| p.get(k)).or(extra);
                if let Some(s) = child_schema {
                    prune(child, s, &format!("{path}.{k}"), unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, s, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Fills in `default`s of absent properties of present objects.
fn default(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(o) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, s) in props {
                    if !o.contains_key(k)
                        && let Some(d) = s.get("default")
                    {
                        o.insert(k.clone(), d.clone());
                    }
                }
                for (k, child) in o.iter_mut() {
                    if let Some(s) = props.get(k) {
                        default(child, s);
                    }
                }
            } else if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                for child in o.values_mut() {
                    default(child, extra);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                items.iter_mut().for_each(|i| default(i, s));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {
                "spec": {"type": "object", "required": ["size"], "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "mode": {"type": "string", "default": "fast"},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }},
                "status": {"type": "object", "properties": {"n": {"type": "integer"}}}
            }
        }}}]}})
    }

    #[test]
    fn defaults_prunes_and_validates() {
        let s = CrdSchema::compile(&crd()).unwrap();
        let obj = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "a"},
                         "spec": {"size": 2, "bogus": 1, "free": {"x": {"y": 1}}}});
        let out = s.admit(obj.clone(), "v1", false, "g", "K").unwrap();
        assert_eq!(
            out["spec"],
            json!({"size": 2, "mode": "fast", "free": {"x": {"y": 1}}})
        );
        let strict = s.admit(obj, "v1", true, "g", "K").unwrap_err();
        assert_eq!(strict.code, 400);
        assert!(
            strict.message.contains("unknown field \"spec.bogus\""),
            "{}",
            strict.message
        );
        let bad = s
            .admit(
                json!({"metadata": {"name": "a"}, "spec": {"size": 0}}),
                "v1",
                false,
                "g",
                "K",
            )
            .unwrap_err();
        assert_eq!(bad.code, 422);
        assert_eq!(
            bad.message,
            "K.g \"a\" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
        );
        let cases = [
            (
                json!({"size": "2"}),
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"",
            ),
            (json!({}), "spec.size: Required value"),
        ];
        for (spec, want) in cases {
            let e = s
                .admit(
                    json!({"metadata": {"name": "a"}, "spec": spec}),
                    "v1",
                    false,
                    "g",
                    "K",
                )
                .unwrap_err();
            assert_eq!(e.message, format!("K.g \"a\" is invalid: {want}"));
        }
    }
}
