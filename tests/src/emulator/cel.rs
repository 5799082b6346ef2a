//! The CEL rules of a CRD's schema (`x-kubernetes-validations`), evaluated on an admitted
//! object as the API server does: each rule with `self` bound to the value at its place in the
//! schema (every item of a list), a `false` result a cause of the 422. Evaluated by the `cel`
//! crate (cel-rust), a CEL implementation independent of the code that wrote the rules.

use serde_json::Value;

/// One step from a schema node to a child.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A declared property.
    Property(String),
    /// Every item of a list.
    Items,
    /// Every value of a map (`additionalProperties`).
    Values,
}

/// One rule and where it applies.
#[derive(Debug, Clone)]
pub struct Rule {
    path: Vec<Step>,
    /// The CEL expression.
    pub rule: String,
    /// The message of a violation (the rule itself when the CRD gives none).
    pub message: String,
}

/// Every rule of `schema` (an `openAPIV3Schema`), each compiled once to refuse a CRD whose
/// rule does not parse: `Err((field, cause))` then.
pub fn rules(schema: &Value, at: &str) -> Result<Vec<Rule>, (String, String)> {
    let mut out = Vec::new();
    walk(schema, &mut Vec::new(), at, &mut out)?;
    Ok(out)
}

fn walk(
    schema: &Value,
    path: &mut Vec<Step>,
    at: &str,
    out: &mut Vec<Rule>,
) -> Result<(), (String, String)> {
    for (i, v) in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let rule = v["rule"].as_str().unwrap_or_default().to_string();
        if let Err(e) = cel::Program::compile(&rule) {
            return Err((
                format!("{at}.x-kubernetes-validations[{i}].rule"),
                format!("Invalid value: {rule:?}: compilation failed: {e}"),
            ));
        }
        let message = v["message"].as_str().unwrap_or(&rule).to_string();
        out.push(Rule {
            path: path.clone(),
            rule,
            message,
        });
    }
    if let Some(props) = schema["properties"].as_object() {
        for (k, s) in props {
            path.push(Step::Property(k.clone()));
            walk(s, path, &format!("{at}.properties[{k}]"), out)?;
            path.pop();
        }
    }
    if let Some(items) = schema.get("items").filter(|s| s.is_object()) {
        path.push(Step::Items);
        walk(items, path, &format!("{at}.items"), out)?;
        path.pop();
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
        path.push(Step::Values);
        walk(extra, path, &format!("{at}.additionalProperties"), out)?;
        path.pop();
    }
    Ok(())
}

/// The values `path` reaches in `object`, with their field paths as the API server writes
/// them (`spec.configs[0]`).
fn reach<'a>(object: &'a Value, path: &[Step], field: String, out: &mut Vec<(String, &'a Value)>) {
    let Some((step, rest)) = path.split_first() else {
        out.push((field, object));
        return;
    };
    let join = |k: &str| {
        if field.is_empty() {
            k.to_string()
        } else {
            format!("{field}.{k}")
        }
    };
    match (step, object) {
        (Step::Property(k), Value::Object(o)) => {
            if let Some(v) = o.get(k) {
                reach(v, rest, join(k), out);
            }
        }
        (Step::Items, Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                reach(v, rest, format!("{field}[{i}]"), out);
            }
        }
        (Step::Values, Value::Object(o)) => {
            for (k, v) in o {
                reach(v, rest, format!("{field}[{k}]"), out);
            }
        }
        _ => {}
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    }
}

/// Evaluates one rule with `self` bound to `value`: `Ok(passed)`, or why it could not be
/// evaluated.
pub fn evaluate(rule: &str, value: &Value) -> Result<bool, String> {
    let program = cel::Program::compile(rule).map_err(|e| e.to_string())?;
    let mut context = cel::Context::default();
    let bound = cel::to_value(value).map_err(|e| e.to_string())?;
    context.add_variable_from_value("self", bound);
    match program.execute(&context) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the rule gave {other:?}, not a bool")),
        Err(e) => Err(e.to_string()),
    }
}

/// The causes of a 422 for `object`: `(field, "Invalid value: \"object\": MESSAGE")` for every
/// place where a rule is false or cannot be evaluated.
pub fn violations(rules: &[Rule], object: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in rules {
        let mut places = Vec::new();
        reach(object, &r.path, String::new(), &mut places);
        for (field, value) in places {
            let why = match evaluate(&r.rule, value) {
                Ok(true) => continue,
                Ok(false) => r.message.clone(),
                Err(e) => format!("rule evaluation error: {e}"),
            };
            out.push((
                field,
                format!("Invalid value: \"{}\": {why}", json_type(value)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_on_list_items_is_evaluated_on_each_item() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"configs": {"type": "array", "items": {"type": "object",
                "x-kubernetes-validations": [{"rule": "has(self.a) != has(self.b)",
                                              "message": "set exactly one of a and b"}]}}}}}});
        let rules = rules(&schema, "openAPIV3Schema").unwrap();
        let object = json!({"spec": {"configs": [{"a": 1}, {"a": 1, "b": 2}, {}]}});
        assert_eq!(
            violations(&rules, &object),
            vec![
                (
                    "spec.configs[1]".to_string(),
                    "Invalid value: \"object\": set exactly one of a and b".to_string()
                ),
                (
                    "spec.configs[2]".to_string(),
                    "Invalid value: \"object\": set exactly one of a and b".to_string()
                ),
            ]
        );
        let broken = json!({"x-kubernetes-validations": [{"rule": "has(self.a"}]});
        assert!(super::rules(&broken, "openAPIV3Schema").is_err());
    }
}
