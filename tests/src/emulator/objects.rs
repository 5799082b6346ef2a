//! CREATE, UPDATE (PUT) and PATCH: the write semantics (deletion is in `deletion.rs`).
//!
//! - A write to the main resource of a type with a status subresource keeps the stored
//!   status; a write to `/status` changes only status. Creates reset status.
//! - `metadata.generation` starts at 1 and grows when anything but metadata (and status, for
//!   types with a status subresource) changes.
//! - A write that changes nothing (managedFields timestamps aside) is not committed: no new
//!   resourceVersion, no event.
//! - An update that removes the last finalizer of an object being deleted deletes it.

use serde_json::{Value, json};

use super::api::{Api, Ctx};
use super::apply::{ApplyRequest, Part, apply, record_update};
use super::patch::{PatchType, apply_patch};
use super::resources::from_crd;
use super::schema::CrdSchema;
use super::status::{ApiError, ApiResult};
use super::store::{now, uid};
use super::watch::EventType;

pub(super) const CRD_GROUP: &str = "apiextensions.k8s.io";

pub(super) fn is_crd(c: &Ctx<'_>) -> bool {
    c.t.group == CRD_GROUP && c.t.plural == "customresourcedefinitions"
}

fn parse_body(c: &Ctx<'_>) -> ApiResult<Value> {
    let v: Value = if c.content_type.contains("yaml") {
        let text = std::str::from_utf8(c.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML: {e}")))?
    } else {
        serde_json::from_slice(c.body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be an object"));
    }
    if let Some(kind) = v["kind"].as_str()
        && kind != c.t.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the body ({kind}) does not match the kind of the resource ({})",
            c.t.kind
        )));
    }
    if let Some(av) = v["apiVersion"].as_str()
        && av != c.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            c.api_version()
        )));
    }
    Ok(v)
}

/// Everything a spec change consists of: the object without metadata (and without status when
/// status is a subresource).
fn spec_of(o: &Value, status_apart: bool) -> Value {
    let mut s = o.clone();
    if let Some(m) = s.as_object_mut() {
        m.remove("metadata");
        if status_apart {
            m.remove("status");
        }
    }
    s
}

/// The object with what a no-op write may still change blanked (managedFields times, RV).
fn comparable(o: &Value) -> Value {
    let mut s = o.clone();
    if let Some(list) = s["metadata"]["managedFields"].as_array_mut() {
        for e in list {
            if let Some(m) = e.as_object_mut() {
                m.remove("time");
            }
        }
    }
    if let Some(m) = s["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    s
}

fn crd_status(crd: &Value, old: Option<&Value>) -> Value {
    let names = crd["spec"]["names"].clone();
    if let Some(o) = old
        && o["status"]["acceptedNames"] == names
    {
        return o["status"].clone();
    }
    let t = now();
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t}
        ],
        "acceptedNames": names,
        "storedVersions": storage
    })
}

impl Api {
    /// Schema checks of a custom object or a CRD; the object to store.
    fn admit(&self, c: &Ctx<'_>, object: Value) -> ApiResult<Value> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if is_crd(c) {
            let invalid = |causes: Vec<(String, String)>| {
                ApiError::invalid(CRD_GROUP, "CustomResourceDefinition", &name, &causes)
            };
            from_crd(&object).map_err(invalid)?;
            CrdSchema::compile(&object).map_err(invalid)?;
            return Ok(object);
        }
        match self.store.schema(&c.t.group, &c.t.plural) {
            Some(schema) => schema.admit(object, &c.version, c.strict, &c.t.group, &c.t.kind),
            None => Ok(object),
        }
    }

    /// Stores a new or changed object and does what follows from it (CRD registration).
    fn commit(&mut self, c: &Ctx<'_>, kind: EventType, object: Value) -> ApiResult<Value> {
        if is_crd(c) {
            self.store.register_crd(&object).map_err(|causes| {
                ApiError::invalid(CRD_GROUP, "CustomResourceDefinition", &c.name, &causes)
            })?;
        }
        Ok(self.store.commit(&c.t.group, &c.t.plural, kind, object))
    }

    pub(super) fn create(&mut self, c: &Ctx<'_>) -> ApiResult<Value> {
        let object = parse_body(c)?;
        self.create_object(c, object, None)
    }

    fn create_object(
        &mut self,
        c: &Ctx<'_>,
        mut o: Value,
        applied: Option<&ApplyRequest<'_>>,
    ) -> ApiResult<Value> {
        let (group, plural) = (c.t.group.clone(), c.t.plural.clone());
        o["apiVersion"] = json!(c.t.api_version(c.t.storage_version()));
        o["kind"] = json!(c.t.kind);
        if !o["metadata"].is_object() {
            o["metadata"] = json!({});
        }
        let mut name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if name.is_empty()
            && let Some(prefix) = o["metadata"]["generateName"].as_str()
        {
            name = format!("{prefix}{}", &uid()[..5]);
            o["metadata"]["name"] = json!(name);
        }
        if name.is_empty() {
            return Err(ApiError::invalid(
                &group,
                &c.t.kind,
                "",
                &[(
                    "metadata.name".into(),
                    "Required value: name or generateName is required".into(),
                )],
            ));
        }
        if !c.name.is_empty() && c.name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                c.name
            )));
        }
        if c.t.namespaced {
            let body_ns = o["metadata"]["namespace"].as_str().unwrap_or_default();
            if !body_ns.is_empty() && body_ns != c.namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            if c.namespace.is_empty() {
                return Err(ApiError::no_route());
            }
            let Some(ns) = self.store.get("", "namespaces", "", &c.namespace) else {
                return Err(ApiError::not_found("", "namespaces", &c.namespace));
            };
            if !ns["metadata"]["deletionTimestamp"].is_null() {
                return Err(ApiError::forbidden(
                    &group,
                    &plural,
                    &name,
                    format!(
                        "unable to create new content in namespace {} because it is being terminated",
                        c.namespace
                    ),
                ));
            }
            o["metadata"]["namespace"] = json!(c.namespace);
        } else if let Some(m) = o["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        if self
            .store
            .get(&group, &plural, &c.namespace, &name)
            .is_some()
        {
            return Err(ApiError::already_exists(&group, &plural, &name));
        }
        let t = now();
        if let Some(m) = o["metadata"].as_object_mut() {
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), json!(uid()));
            m.insert("creationTimestamp".into(), json!(t));
            if c.t.tracks_generation() {
                m.insert("generation".into(), json!(1));
            }
        }
        let mut o = match applied {
            Some(req) => apply(&o, req)?,
            None => {
                let mut o = o;
                record_update(None, &mut o, &c.manager, Part::Main, &c.api_version(), &t);
                o
            }
        };
        if c.t.status
            && let Some(m) = o.as_object_mut()
        {
            m.remove("status");
        }
        let mut o = self.admit(c, o)?;
        match (group.as_str(), plural.as_str()) {
            ("", "namespaces") => o["status"] = json!({"phase": "Active"}),
            ("", "pods") => o["status"] = json!({"phase": "Pending"}),
            (CRD_GROUP, "customresourcedefinitions") => o["status"] = crd_status(&o, None),
            _ => {}
        }
        if c.dry_run {
            return Ok(Self::present(c, o));
        }
        let stored = self.commit(c, EventType::Added, o)?;
        Ok(Self::present(c, stored))
    }

    pub(super) fn current(&self, c: &Ctx<'_>) -> ApiResult<Value> {
        self.store
            .get(&c.t.group, &c.t.plural, &c.namespace, &c.name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&c.t.group, &c.t.plural, &c.name))
    }

    pub(super) fn update(&mut self, c: &Ctx<'_>) -> ApiResult<Value> {
        let body = parse_body(c)?;
        let old = self.current(c)?;
        // Custom resources refuse unconditional updates, as the real server does.
        let require_rv = c.t.crd.is_some() && c.part != Part::Status;
        self.finish_write(c, &old, body, require_rv, false)
    }

    pub(super) fn patch(&mut self, c: &Ctx<'_>) -> ApiResult<(u16, Value)> {
        let kind = PatchType::from_content_type(c.content_type)
            .ok_or_else(|| ApiError::unsupported_media_type(c.content_type))?;
        if kind == PatchType::Strategic && c.t.crd.is_some() {
            return Err(ApiError::unsupported_media_type(c.content_type));
        }
        if kind != PatchType::Apply {
            let old = self.current(c)?;
            let new = apply_patch(kind, &old, c.body)?;
            return Ok((200, self.finish_write(c, &old, new, false, false)?));
        }
        if c.manager.is_empty() || !c.query.contains_key("fieldManager") {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                &[(
                    "fieldManager".into(),
                    "Required value: is required for apply patch".into(),
                )],
            ));
        }
        let config = parse_body(&Ctx {
            content_type: "application/yaml",
            ..c.clone()
        })?;
        let api_version = c.api_version();
        let t = now();
        let req = ApplyRequest {
            config: &config,
            manager: &c.manager,
            force: c.q("force") == "true",
            part: c.part,
            api_version: &api_version,
            now: &t,
        };
        let Some(old) = self
            .store
            .get(&c.t.group, &c.t.plural, &c.namespace, &c.name)
            .cloned()
        else {
            if c.part == Part::Status {
                return Err(ApiError::not_found(&c.t.group, &c.t.plural, &c.name));
            }
            return Ok((201, self.create_object(c, config.clone(), Some(&req))?));
        };
        let wanted_rv = config["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !wanted_rv.is_empty() && Some(wanted_rv) != old["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::conflict(
                &c.t.group,
                &c.t.plural,
                &c.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let new = apply(&old, &req)?;
        Ok((200, self.finish_write(c, &old, new, false, true)?))
    }

    /// The common end of PUT and PATCH: preconditions, isolation, generation, schema, commit.
    fn finish_write(
        &mut self,
        c: &Ctx<'_>,
        old: &Value,
        mut new: Value,
        require_rv: bool,
        applied: bool,
    ) -> ApiResult<Value> {
        let (group, plural) = (c.t.group.clone(), c.t.plural.clone());
        let old_rv = old["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        let new_rv = new["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !new_rv.is_empty() && new_rv != old_rv {
            return Err(ApiError::conflict(
                &group,
                &plural,
                &c.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        if new_rv.is_empty() && require_rv {
            return Err(ApiError::invalid(
                &group,
                &c.t.kind,
                &c.name,
                &[(
                    "metadata.resourceVersion".into(),
                    "Invalid value: 0x0: must be specified for an update".into(),
                )],
            ));
        }
        let body_name = new["metadata"]["name"].as_str().unwrap_or_default();
        if !body_name.is_empty() && body_name != c.name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({})",
                c.name
            )));
        }
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = old["kind"].clone();
        match c.part {
            Part::Main => match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
            Part::Status => {
                let status = new.get("status").cloned();
                let managed = new["metadata"]["managedFields"].clone();
                new = old.clone();
                match status {
                    Some(s) => new["status"] = s,
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                if applied {
                    new["metadata"]["managedFields"] = managed;
                }
            }
            Part::Whole => {}
        }
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        for k in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match old["metadata"].get(k) {
                Some(v) => new["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        if !applied {
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
            if new["metadata"]["managedFields"].is_null()
                && let Some(m) = new["metadata"].as_object_mut()
            {
                m.remove("managedFields");
            }
            record_update(
                Some(old),
                &mut new,
                &c.manager,
                c.part,
                &c.api_version(),
                &now(),
            );
        }
        let mut new = self.admit(c, new)?;
        if is_crd(c) {
            new["status"] = crd_status(&new, Some(old));
        }
        if c.t.tracks_generation() && spec_of(old, c.t.status) != spec_of(&new, c.t.status) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
            new["metadata"]["generation"] = json!(g + 1);
        }
        if comparable(&new) == comparable(old) {
            return Ok(Self::present(c, old.clone()));
        }
        if c.dry_run {
            return Ok(Self::present(c, new));
        }
        let finalizers_done = new["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty);
        if !new["metadata"]["deletionTimestamp"].is_null() && finalizers_done {
            self.remove(&group, &plural, new.clone(), false);
            return Ok(Self::present(c, new));
        }
        let stored = self.commit(c, EventType::Modified, new)?;
        Ok(Self::present(c, stored))
    }
}
