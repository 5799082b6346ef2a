//! DELETE and deletecollection.
//!
//! - Deleting an object with finalizers sets `deletionTimestamp`; it goes when they are gone
//!   (see `objects.rs`).
//! - Deletion cascades to objects whose ownerReferences name it (unless `Orphan`), and to
//!   every object of a deleted CRD's type, at once.
//! - A deleted namespace is Terminating for a grace period, then goes with its contents.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::api::{Api, Ctx};
use super::objects::CRD_GROUP;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult};
use super::store::now;
use super::watch::EventType;

/// How long a deleted namespace stays Terminating before its contents and itself go, so that
/// `kubectl delete -f dir/` (namespace first) still finds the objects it deletes next, as on
/// a real cluster where the namespace controller takes its time.
const NAMESPACE_GRACE: Duration = Duration::from_secs(2);

impl Api {
    pub(super) fn delete(&mut self, c: &Ctx<'_>) -> ApiResult<Value> {
        let old = self.current(c)?;
        let opts: Value = if c.body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(c.body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        let pre = &opts["preconditions"];
        for (k, field) in [("resourceVersion", "ResourceVersion"), ("uid", "UID")] {
            if let Some(want) = pre[k].as_str()
                && old["metadata"][k].as_str() != Some(want)
            {
                return Err(ApiError::conflict(
                    &c.t.group,
                    &c.t.plural,
                    &c.name,
                    &format!(
                        "the {field} in the precondition ({want}) does not match the {field} in record ({}). The object might have been modified",
                        old["metadata"][k].as_str().unwrap_or_default()
                    ),
                ));
            }
        }
        let dry = c.dry_run
            || opts["dryRun"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == "All"));
        if dry {
            return Ok(Self::present(c, old));
        }
        let orphan = opts["propagationPolicy"] == "Orphan" || opts["orphanDependents"] == true;
        let has_finalizers = old["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if !old["metadata"]["deletionTimestamp"].is_null() {
                return Ok(Self::present(c, old));
            }
            let mut marked = old.clone();
            marked["metadata"]["deletionTimestamp"] = json!(now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            let stored = self
                .store
                .commit(&c.t.group, &c.t.plural, EventType::Modified, marked);
            return Ok(Self::present(c, stored));
        }
        if c.t.group.is_empty() && c.t.plural == "namespaces" {
            if old["metadata"]["deletionTimestamp"].is_null() {
                let mut marked = old.clone();
                marked["metadata"]["deletionTimestamp"] = json!(now());
                marked["status"] = json!({"phase": "Terminating"});
                let stored = self
                    .store
                    .commit("", "namespaces", EventType::Modified, marked);
                self.terminating.insert(c.name.clone(), Instant::now());
                return Ok(Self::present(c, stored));
            }
            return Ok(Self::present(c, old));
        }
        let gone = self.remove(&c.t.group, &c.t.plural, old, orphan);
        Ok(Self::present(c, gone))
    }

    /// Finishes namespaces whose grace period is over: their contents, then themselves.
    pub fn tick(&mut self) {
        let due: Vec<String> = self
            .terminating
            .iter()
            .filter(|(_, since)| since.elapsed() >= NAMESPACE_GRACE)
            .map(|(ns, _)| ns.clone())
            .collect();
        for ns in due {
            self.terminating.remove(&ns);
            if let Some(o) = self.store.get("", "namespaces", "", &ns).cloned() {
                self.remove("", "namespaces", o, false);
            }
        }
    }

    pub(super) fn delete_collection(
        &mut self,
        c: &Ctx<'_>,
        fields: &FieldSelector,
    ) -> ApiResult<Value> {
        let labels = LabelSelector::parse(c.q("labelSelector")).map_err(ApiError::bad_request)?;
        let ns = (!c.namespace.is_empty()).then_some(c.namespace.as_str());
        let victims: Vec<Value> = self
            .store
            .list(&c.t.group, &c.t.plural, ns)
            .filter(|(_, o)| labels.matches(&o["metadata"]["labels"]) && fields.matches(o))
            .map(|(_, o)| o.clone())
            .collect();
        let mut items = Vec::new();
        for o in victims {
            if c.dry_run {
                items.push(Self::present(c, o));
            } else {
                items.push(Self::present(
                    c,
                    self.remove(&c.t.group, &c.t.plural, o, false),
                ));
            }
        }
        Ok(
            json!({"kind": format!("{}List", c.t.kind), "apiVersion": c.api_version(), "metadata": {"resourceVersion": self.store.rv().to_string()}, "items": items}),
        )
    }

    /// Removes an object now, then what depends on it: owned objects (unless `orphan`), a
    /// namespace's contents, a CRD's objects and type. Returns the object as deleted.
    pub(super) fn remove(
        &mut self,
        group: &str,
        plural: &str,
        object: Value,
        orphan: bool,
    ) -> Value {
        let gone = self.store.commit(group, plural, EventType::Deleted, object);
        let uid = gone["metadata"]["uid"].clone();
        let name = gone["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let is_namespace = group.is_empty() && plural == "namespaces";
        let crd_type = (group == CRD_GROUP && plural == "customresourcedefinitions").then(|| {
            (
                gone["spec"]["group"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                gone["spec"]["names"]["plural"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        });
        let mut dependents = Vec::new();
        for (g, p, ns, n) in self.store.all_keys() {
            let Some(o) = self.store.get(&g, &p, &ns, &n) else {
                continue;
            };
            let owned = !orphan
                && o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid));
            let in_namespace = is_namespace && ns == name;
            let of_crd = crd_type
                .as_ref()
                .is_some_and(|(cg, cp)| *cg == g && *cp == p);
            if owned || in_namespace || of_crd {
                dependents.push((g, p, o.clone()));
            }
        }
        for (g, p, o) in dependents {
            let (ns, n) = (
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            // An earlier cascade may have removed it already.
            if self.store.get(&g, &p, &ns, &n).is_some() {
                self.remove(&g, &p, o, false);
            }
        }
        if crd_type.is_some() {
            self.store.unregister_crd(&name);
        }
        gone
    }
}
