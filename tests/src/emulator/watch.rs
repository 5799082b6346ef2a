//! Watch events: the bounded history a watch resumes from (an older resourceVersion is `410
//! Gone`), the per-watch filter, and the JSON lines written to the client.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Value, json};

use super::selector::{FieldSelector, LabelSelector};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// Group of the object's resource.
    pub group: String,
    /// Plural of the object's resource.
    pub plural: String,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// The object after the change (for Deleted: as last stored, with the deletion's RV).
    pub object: Arc<Value>,
    /// The object before the change (Modified only), for selector transitions.
    pub old: Option<Arc<Value>>,
}

/// The last events, bounded in count and in bytes (the objects' JSON size): a watch from an
/// older resourceVersion cannot be served.
#[derive(Debug)]
pub struct History {
    events: VecDeque<(Arc<Event>, usize)>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    /// The highest RV whose event was dropped: watches must start at or after it.
    compacted: u64,
}

impl History {
    /// An empty history keeping at most `capacity` events of at most `max_bytes` in all.
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            compacted: 0,
        }
    }

    /// Appends an event of `size` bytes, dropping the oldest beyond the bounds.
    pub fn push(&mut self, event: Arc<Event>, size: usize) {
        self.bytes += size;
        self.events.push_back((event, size));
        while self.events.len() > self.capacity
            || (self.bytes > self.max_bytes && self.events.len() > 1)
        {
            let Some((old, old_size)) = self.events.pop_front() else {
                break;
            };
            self.bytes -= old_size;
            self.compacted = old.rv;
        }
    }

    /// The highest resourceVersion no longer in the history.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// The events after `rv`, or None when some of them were dropped (410 Gone).
    pub fn since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv < self.compacted {
            return None;
        }
        // Events are in resourceVersion order.
        let first = self.events.partition_point(|(e, _)| e.rv <= rv);
        Some(
            self.events
                .range(first..)
                .map(|(e, _)| Arc::clone(e))
                .collect(),
        )
    }
}

/// What one watch request selects and how its objects are presented.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    /// Resource group.
    pub group: String,
    /// Resource plural.
    pub plural: String,
    /// Namespace, None for all.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// The `apiVersion` the client asked for (objects are stored in one version).
    pub api_version: String,
    /// The kind, for bookmarks.
    pub kind: String,
}

impl WatchFilter {
    fn selects(&self, object: &Value) -> bool {
        self.labels.matches(&object["metadata"]["labels"]) && self.fields.matches(object)
    }

    /// The line to send for `event`, if this watch sees it. A change that moves an object
    /// into the selection is ADDED and out of it DELETED, as the real watch cache does.
    pub fn line(&self, event: &Event) -> Option<String> {
        if event.group != self.group || event.plural != self.plural {
            return None;
        }
        if let Some(ns) = &self.namespace
            && *ns != event.namespace
        {
            return None;
        }
        let now = self.selects(&event.object);
        let kind = match (event.kind, event.old.as_ref().map(|o| self.selects(o))) {
            (EventType::Modified, Some(false)) if now => EventType::Added,
            (EventType::Modified, Some(true)) if !now => EventType::Deleted,
            (EventType::Modified, Some(false)) => return None,
            (_, _) if !now => return None,
            (k, _) => k,
        };
        Some(self.encode(kind.as_str(), &event.object))
    }

    /// An event line for `object` presented in the requested version.
    pub fn encode(&self, kind: &str, object: &Value) -> String {
        let mut object = object.clone();
        object["apiVersion"] = json!(self.api_version);
        format!("{}\n", json!({"type": kind, "object": object}))
    }

    /// A BOOKMARK line at `rv`; `initial_events_end` marks the end of a streaming list.
    pub fn bookmark(&self, rv: u64, initial_events_end: bool) -> String {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        format!(
            "{}\n",
            json!({"type": "BOOKMARK", "object": {"kind": self.kind, "apiVersion": self.api_version, "metadata": metadata}})
        )
    }
}

/// The ERROR line a watch gets for an expired resourceVersion.
pub fn gone_line(rv: u64, compacted: u64) -> String {
    let status =
        super::status::ApiError::expired(format!("too old resource version: {rv} ({compacted})"))
            .to_status();
    format!("{}\n", json!({"type": "ERROR", "object": status}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(rv: u64, kind: EventType, labels: Value, old: Option<Value>) -> Event {
        Event {
            rv,
            kind,
            group: "".into(),
            plural: "pods".into(),
            namespace: "ns".into(),
            object: Arc::new(json!({"metadata": {"name": "p", "labels": labels}})),
            old: old.map(|l| Arc::new(json!({"metadata": {"name": "p", "labels": l}}))),
        }
    }

    #[test]
    fn history_expires_old_versions() {
        let mut h = History::new(3, 1000);
        for rv in 1..=5 {
            h.push(Arc::new(ev(rv, EventType::Added, json!({}), None)), 10);
        }
        assert_eq!(h.compacted(), 2);
        assert!(h.since(1).is_none());
        assert_eq!(h.since(2).map(|v| v.len()), Some(3));
        assert_eq!(h.since(4).map(|v| v.len()), Some(1));
        // The byte bound drops as many as it takes, keeping the newest.
        h.push(Arc::new(ev(6, EventType::Added, json!({}), None)), 995);
        assert_eq!(h.compacted(), 5);
        assert_eq!(h.since(5).map(|v| v.len()), Some(1));
    }

    #[test]
    fn selector_transitions_become_added_and_deleted() {
        let f = WatchFilter {
            group: "".into(),
            plural: "pods".into(),
            namespace: Some("ns".into()),
            labels: LabelSelector::parse("app=a").unwrap(),
            fields: FieldSelector::default(),
            api_version: "v1".into(),
            kind: "Pod".into(),
        };
        let into = ev(
            2,
            EventType::Modified,
            json!({"app": "a"}),
            Some(json!({"app": "b"})),
        );
        assert!(f.line(&into).unwrap().contains("\"ADDED\""));
        let out = ev(
            3,
            EventType::Modified,
            json!({"app": "b"}),
            Some(json!({"app": "a"})),
        );
        assert!(f.line(&out).unwrap().contains("\"DELETED\""));
        let never = ev(
            4,
            EventType::Modified,
            json!({"app": "b"}),
            Some(json!({"app": "c"})),
        );
        assert!(f.line(&never).is_none());
        let stay = ev(
            5,
            EventType::Modified,
            json!({"app": "a"}),
            Some(json!({"app": "a"})),
        );
        assert!(f.line(&stay).unwrap().contains("\"MODIFIED\""));
    }
}
