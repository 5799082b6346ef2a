//! The emulator's state: resource types, objects, the global resourceVersion and the event
//! history. One owner (the API thread) changes it; every change goes through [`Store::commit`],
//! which stamps the next resourceVersion, records the event and hands it to the open watches.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::authz::Rbac;
use super::resources::{ResourceType, builtins, from_crd};
use super::schema::CrdSchema;
use super::watch::{Event, EventType, History};

/// (group, plural): how objects and schemas are keyed.
pub type TypeKey = (String, String);
/// (namespace, name): an object's key within its type ("" namespace for cluster scope).
pub type ObjectKey = (String, String);

/// Namespaces every cluster starts with.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The state.
pub struct Store {
    types: Vec<ResourceType>,
    schemas: BTreeMap<TypeKey, CrdSchema>,
    /// Shared with the events that carry them: history holds no second copy.
    objects: BTreeMap<TypeKey, BTreeMap<ObjectKey, Arc<Value>>>,
    rv: u64,
    history: History,
    events: broadcast::Sender<Arc<Event>>,
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of `v` as JSON, without building the text.
fn json_size(v: &Value) -> usize {
    let mut c = Counter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// The current time as the API server writes timestamps.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A random identifier in UUID form.
pub fn uid() -> String {
    let mut b = [0u8; 16];
    // Without an entropy source the counter-free fallback still differs per call site only
    // by time; getrandom fails only on exotic platforms.
    if getrandom::fill(&mut b).is_err() {
        let t = jiff::Timestamp::now().as_nanosecond().to_le_bytes();
        b.copy_from_slice(&t);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Store {
    /// A store with the built-in types and the initial namespaces, keeping `history` events
    /// (at most `history_bytes` of objects) for watches and `watch_buffer` undelivered events
    /// per watch.
    pub fn new(history: usize, history_bytes: usize, watch_buffer: usize) -> Self {
        let (events, _) = broadcast::channel(watch_buffer.max(16));
        let mut s = Self {
            types: builtins(),
            schemas: BTreeMap::new(),
            objects: BTreeMap::new(),
            rv: 0,
            history: History::new(history, history_bytes),
            events,
        };
        for ns in INITIAL_NAMESPACES {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "uid": uid(), "creationTimestamp": now(),
                             "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            s.commit("", "namespaces", EventType::Added, obj);
        }
        s
    }

    /// The last resourceVersion written.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Every served type.
    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// The type of `group`/`plural`.
    pub fn resource(&self, group: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
    }

    /// The schema of a custom resource type.
    pub fn schema(&self, group: &str, plural: &str) -> Option<&CrdSchema> {
        self.schemas.get(&(group.to_string(), plural.to_string()))
    }

    /// One object.
    pub fn get(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(group.to_string(), plural.to_string()))?
            .get(&(namespace.to_string(), name.to_string()))
            .map(Arc::as_ref)
    }

    /// The objects of a type, in (namespace, name) order, optionally in one namespace.
    pub fn list<'a>(
        &'a self,
        group: &str,
        plural: &str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
        self.objects
            .get(&(group.to_string(), plural.to_string()))
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |((ns, _), _)| namespace.is_none_or(|want| want == ns))
            .map(|(k, v)| (k, v.as_ref()))
    }

    /// Every object of every type, for cascading deletes: (group, plural, namespace, name).
    pub fn all_keys(&self) -> Vec<(String, String, String, String)> {
        self.objects
            .iter()
            .flat_map(|((g, p), m)| {
                m.keys()
                    .map(move |(ns, n)| (g.clone(), p.clone(), ns.clone(), n.clone()))
            })
            .collect()
    }

    /// The event history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// A receiver of every event committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// The RBAC objects.
    pub fn rbac(&self) -> Rbac<'_> {
        const G: &str = "rbac.authorization.k8s.io";
        let all = |p: &str| self.list(G, p, None).map(|(_, v)| v).collect::<Vec<_>>();
        Rbac {
            roles: all("roles"),
            cluster_roles: all("clusterroles"),
            role_bindings: all("rolebindings"),
            cluster_role_bindings: all("clusterrolebindings"),
        }
    }

    /// Records a change: stamps the next resourceVersion on `object`, stores it (or removes it
    /// for Deleted), appends the event and sends it to watches. Returns the stored object.
    pub fn commit(
        &mut self,
        group: &str,
        plural: &str,
        kind: EventType,
        mut object: Value,
    ) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let type_key = (group.to_string(), plural.to_string());
        let objects = self.objects.entry(type_key).or_default();
        let shared = Arc::new(object);
        let previous = if kind == EventType::Deleted {
            objects.remove(&(namespace.clone(), name))
        } else {
            objects.insert((namespace.clone(), name), Arc::clone(&shared))
        };
        let event = Arc::new(Event {
            rv: self.rv,
            kind,
            group: group.into(),
            plural: plural.into(),
            namespace,
            object: Arc::clone(&shared),
            old: if kind == EventType::Modified {
                previous
            } else {
                None
            },
        });
        let size = json_size(&event.object);
        self.history.push(Arc::clone(&event), size);
        // No receiver is not an error: nobody watches.
        let _ = self.events.send(event);
        Arc::unwrap_or_clone(shared)
    }

    /// Registers (or re-registers) the type a CRD object defines.
    pub fn register_crd(&mut self, crd: &Value) -> Result<(), Vec<(String, String)>> {
        let t = from_crd(crd)?;
        let schema = CrdSchema::compile(crd)?;
        let key = (t.group.clone(), t.plural.clone());
        self.types.retain(|x| {
            !(x.group == t.group && x.plural == t.plural) && x.crd.as_deref() != t.crd.as_deref()
        });
        self.types.push(t);
        self.schemas.insert(key, schema);
        Ok(())
    }

    /// Removes the type a CRD defined; its objects must be deleted by the caller first.
    pub fn unregister_crd(&mut self, crd_name: &str) {
        let gone: Vec<TypeKey> = self
            .types
            .iter()
            .filter(|t| t.crd.as_deref() == Some(crd_name))
            .map(|t| (t.group.clone(), t.plural.clone()))
            .collect();
        self.types.retain(|t| t.crd.as_deref() != Some(crd_name));
        for key in gone {
            self.schemas.remove(&key);
            self.objects.remove(&key);
        }
    }
}
