//! Server-side apply and field ownership (`metadata.managedFields`), simplified:
//!
//! - A manager owns the *leaves* of what it wrote: scalars, lists and empty objects. Lists are
//!   atomic (the real server merges `x-kubernetes-list-type: map` lists item by item; here a
//!   list is owned and replaced as a whole).
//! - An apply conflicts with another manager (Apply or Update) that owns an overlapping leaf
//!   whose current value differs from the applied one; `force` takes those fields over.
//! - Fields the applier owned before and no longer applies are removed unless another manager
//!   owns them too.
//! - Updates (PUT, merge/JSON/strategic PATCH) give their manager the leaves they changed and
//!   take those leaves from every other manager.
//!
//! Only `metadata.labels`, `annotations`, `finalizers` and `ownerReferences` of `metadata` are
//! applied or owned.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::status::ApiError;

/// A field path: object keys from the root.
pub type Path = Vec<String>;

const OWNED_METADATA: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole object (status too: the type has no status subresource).
    Whole,
    /// The main resource of a type with a status subresource: everything but `status`.
    Main,
    /// The `/status` subresource: only `status`.
    Status,
}

impl Part {
    fn subresource(self) -> Option<&'static str> {
        (self == Self::Status).then_some("status")
    }

    fn covers(self, top: &str) -> bool {
        match self {
            Self::Whole => true,
            Self::Main => top != "status",
            Self::Status => top == "status",
        }
    }
}

fn leaves(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, child) in o {
                prefix.push(k.clone());
                leaves(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// The leaves of `object` a write to `part` may own.
pub fn owned_leaves(object: &Value, part: Part) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(o) = object.as_object() else {
        return out;
    };
    for (k, v) in o {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" if part != Part::Status => {
                for m in OWNED_METADATA {
                    if let Some(child) = v.get(m) {
                        leaves(child, &mut vec!["metadata".into(), m.into()], &mut out);
                    }
                }
            }
            "metadata" => {}
            _ if part.covers(k) => leaves(v, &mut vec![k.clone()], &mut out),
            _ => {}
        }
    }
    out
}

/// The value at `path`, if any.
pub fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |node, k| node.get(k))
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = v;
    for k in parents {
        match node.get_mut(k) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(o) = node.as_object_mut() {
        o.remove(last);
    }
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for k in path {
            let entry = node
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry.as_object_mut() {
                Some(o) => node = o,
                None => break,
            }
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    let children: Vec<(&String, &Value)> = v
        .as_object()
        .map(|o| o.iter().filter(|(k, _)| k.starts_with("f:")).collect())
        .unwrap_or_default();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (k, child) in children {
        prefix.push(k.trim_start_matches("f:").to_string());
        from_fields_v1(child, prefix, out);
        prefix.pop();
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    subresource: Option<String>,
    api_version: String,
    time: String,
    set: BTreeSet<Path>,
}

fn read_entries(object: &Value) -> Vec<Entry> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    let mut set = BTreeSet::new();
                    from_fields_v1(&e["fieldsV1"], &mut Vec::new(), &mut set);
                    Entry {
                        manager: e["manager"].as_str().unwrap_or_default().into(),
                        operation: e["operation"].as_str().unwrap_or_default().into(),
                        subresource: e["subresource"].as_str().map(String::from),
                        api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
                        time: e["time"].as_str().unwrap_or_default().into(),
                        set,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_entries(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.set.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.set),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn dotted(p: &[String]) -> String {
    format!(".{}", p.join("."))
}

fn deep_merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// The part of an apply configuration a write to `part` may change.
fn scoped(config: &Value, part: Part) -> Value {
    let mut out = Map::new();
    if let Some(o) = config.as_object() {
        for (k, v) in o {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" if part != Part::Status => {
                    let mut meta = Map::new();
                    for m in OWNED_METADATA {
                        if let Some(child) = v.get(m) {
                            meta.insert(m.into(), child.clone());
                        }
                    }
                    out.insert("metadata".into(), Value::Object(meta));
                }
                _ if k != "metadata" && part.covers(k) => {
                    out.insert(k.clone(), v.clone());
                }
                _ => {}
            }
        }
    }
    Value::Object(out)
}

/// What an apply is.
pub struct ApplyRequest<'a> {
    /// The apply configuration (the PATCH body).
    pub config: &'a Value,
    /// `fieldManager`.
    pub manager: &'a str,
    /// `force`.
    pub force: bool,
    /// Which part of the object the request addresses.
    pub part: Part,
    /// The request's `apiVersion` (recorded in managedFields).
    pub api_version: &'a str,
    /// The time to record.
    pub now: &'a str,
}

/// Applies `req.config` to `current`, returning the new object, or 409 for conflicts.
pub fn apply(current: &Value, req: &ApplyRequest<'_>) -> Result<Value, ApiError> {
    let config = scoped(req.config, req.part);
    let applied = owned_leaves(&config, req.part);
    let mut object = current.clone();
    let mut entries = read_entries(&object);
    let sub = req.part.subresource().map(String::from);
    let mine =
        |e: &Entry| e.manager == req.manager && e.operation == "Apply" && e.subresource == sub;
    let mut conflicts = Vec::new();
    for other in entries.iter_mut().filter(|e| !mine(e)) {
        let mut taken = Vec::new();
        for p in &applied {
            for q in other.set.iter().filter(|q| overlaps(p, q)) {
                if get_path(&object, q) != get_path(&config, q) {
                    conflicts.push((other.manager.clone(), dotted(q)));
                    taken.push(q.clone());
                }
            }
        }
        if req.force {
            for q in taken {
                other.set.remove(&q);
            }
        }
    }
    if !conflicts.is_empty() && !req.force {
        conflicts.sort();
        conflicts.dedup();
        return Err(ApiError::apply_conflict(&conflicts));
    }
    let before: BTreeSet<Path> = entries
        .iter()
        .find(|e| mine(e))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    for q in before
        .iter()
        .filter(|q| !applied.iter().any(|p| overlaps(p, q)))
    {
        let shared = entries
            .iter()
            .filter(|e| !mine(e))
            .any(|e| e.set.iter().any(|o| overlaps(o, q)));
        if !shared {
            remove_path(&mut object, q);
        }
    }
    deep_merge(&mut object, &config);
    let entry = Entry {
        manager: req.manager.into(),
        operation: "Apply".into(),
        subresource: sub.clone(),
        api_version: req.api_version.into(),
        time: req.now.into(),
        set: applied,
    };
    match entries.iter_mut().find(|e| mine(e)) {
        Some(e) => {
            if e.set != entry.set {
                *e = entry;
            }
        }
        None => entries.push(entry),
    }
    write_entries(&mut object, &entries);
    Ok(object)
}

/// Records an update by `manager` (PUT, PATCH, create): it owns the leaves it changed, which
/// every other manager loses.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    part: Part,
    api_version: &str,
    now: &str,
) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_leaves = owned_leaves(new, part);
    let old_leaves = old.map(|o| owned_leaves(o, part)).unwrap_or_default();
    let changed: BTreeSet<Path> = new_leaves
        .iter()
        .filter(|p| old.is_none_or(|o| get_path(o, p) != get_path(new, p)))
        .cloned()
        .collect();
    let gone: Vec<&Path> = old_leaves
        .iter()
        .filter(|p| get_path(new, p).is_none())
        .collect();
    let sub = part.subresource().map(String::from);
    let is_mine =
        |e: &Entry| e.manager == manager && e.operation == "Update" && e.subresource == sub;
    for e in entries.iter_mut().filter(|e| !is_mine(e)) {
        e.set.retain(|q| {
            !changed.iter().any(|p| overlaps(p, q)) && !gone.iter().any(|p| overlaps(p, q))
        });
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| is_mine(e)) {
            Some(e) => {
                e.set.extend(changed);
                e.time = now.into();
            }
            None => entries.push(Entry {
                manager: manager.into(),
                operation: "Update".into(),
                subresource: sub,
                api_version: api_version.into(),
                time: now.into(),
                set: changed,
            }),
        }
    }
    for e in entries.iter_mut() {
        e.set.retain(|q| get_path(new, q).is_some());
    }
    write_entries(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(config: &'a Value, manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            config,
            manager,
            force,
            part: Part::Main,
            api_version: "v1",
            now: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn apply_removes_fields_it_no_longer_applies() {
        let base = json!({"metadata": {"name": "x"}, "spec": {}});
        let one = apply(&base, &req(&json!({"spec": {"a": 1, "b": 2}}), "m", false)).unwrap();
        assert_eq!(one["spec"], json!({"a": 1, "b": 2}));
        let two = apply(&one, &req(&json!({"spec": {"a": 1}}), "m", false)).unwrap();
        assert_eq!(two["spec"], json!({"a": 1}));
        assert_eq!(
            two["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:a": {}}})
        );
    }

    #[test]
    fn conflicting_managers_need_force() {
        let base = json!({"metadata": {"name": "x"}});
        let one = apply(&base, &req(&json!({"spec": {"a": 1}}), "m1", false)).unwrap();
        // Same value: shared ownership, no conflict.
        let shared = apply(&one, &req(&json!({"spec": {"a": 1}}), "m2", false)).unwrap();
        assert_eq!(
            shared["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let err = apply(&one, &req(&json!({"spec": {"a": 2}}), "m2", false)).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("conflict with \"m1\": .spec.a"),
            "{}",
            err.message
        );
        let forced = apply(&one, &req(&json!({"spec": {"a": 2}}), "m2", true)).unwrap();
        assert_eq!(forced["spec"]["a"], 2);
        let managers: Vec<&str> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["m2"]);
    }

    #[test]
    fn update_takes_changed_fields() {
        let base = json!({"metadata": {"name": "x"}});
        let one = apply(&base, &req(&json!({"spec": {"a": 1, "b": 1}}), "m1", false)).unwrap();
        let mut two = one.clone();
        two["spec"]["a"] = json!(5);
        record_update(Some(&one), &mut two, "editor", Part::Main, "v1", "t");
        let entries = read_entries(&two);
        assert_eq!(
            entries[0].set,
            BTreeSet::from([vec!["spec".to_string(), "b".to_string()]])
        );
        assert_eq!(entries[1].manager, "editor");
        // m1 re-applying a=1 now conflicts with the editor.
        assert_eq!(
            apply(&two, &req(&json!({"spec": {"a": 1, "b": 1}}), "m1", false))
                .unwrap_err()
                .code,
            409
        );
    }
}
