//! A cache of facts extracted from watched objects, keyed by (namespace, name): pods as
//! [`PodFacts`], ConfigMaps and Secrets as [`ConfigDigest`]s. A reflector store would keep the
//! whole objects (Secret values included); this keeps only what the status reads, computed once
//! when an object arrives. The watcher task owns the writes; readers get `Arc`s of immutable
//! facts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use kube::Resource;
use kube::runtime::watcher::Event;

use crate::status::PodFacts;
use crate::status::configs::ConfigDigest;

/// (namespace, name).
pub type Key = (String, String);

/// What an event changed: the facts before and after (`None`: absent). Events that leave the
/// facts as they were (a resourceVersion bump, a field the status never reads) yield none.
#[derive(Debug, Clone)]
pub struct Change<T> {
    /// The object.
    pub key: Key,
    /// Before.
    pub old: Option<Arc<T>>,
    /// After.
    pub new: Option<Arc<T>>,
}

/// Facts by (namespace, name).
#[derive(Debug)]
pub struct Index<T> {
    inner: Arc<RwLock<Inner<T>>>,
}

impl<T> Clone for Index<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Index<T> {
    fn default() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner {
                items: BTreeMap::new(),
                relisting: BTreeMap::new(),
            })),
        }
    }
}

#[derive(Debug)]
struct Inner<T> {
    items: BTreeMap<Key, Arc<T>>,
    // Keys seen since the last `Init` of each watch (by the namespace it covers, `None` for a
    // cluster-wide one), to drop objects deleted while that watch was down.
    relisting: BTreeMap<Option<String>, BTreeSet<Key>>,
}

/// Pod facts by (namespace, name).
pub type PodIndex = Index<PodFacts>;
/// ConfigMap or Secret digests by (namespace, name).
pub type DigestIndex = Index<ConfigDigest>;

fn key<K: Resource>(o: &K) -> Key {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

impl<T: PartialEq> Index<T> {
    /// An index holding `objs`, converted by `facts`.
    pub fn from_objects<K: Resource>(objs: &[K], facts: impl Fn(&K) -> T) -> Self {
        let idx = Self::default();
        if let Ok(mut w) = idx.inner.write() {
            for o in objs {
                w.items.insert(key(o), Arc::new(facts(o)));
            }
        }
        idx
    }

    /// Applies one event of the watch covering `scope` (a namespace, or `None` for all);
    /// returns what changed.
    pub fn apply<K: Resource>(
        &self,
        scope: Option<&str>,
        event: &Event<K>,
        facts: impl Fn(&K) -> T,
    ) -> Vec<Change<T>> {
        let Ok(mut w) = self.inner.write() else {
            return Vec::new();
        };
        let mut changes = Vec::new();
        let mut put = |w: &mut Inner<T>, k: Key, new: T| {
            let old = w.items.get(&k);
            if old.is_some_and(|o| **o == new) {
                return;
            }
            let new = Arc::new(new);
            let old = w.items.insert(k.clone(), new.clone());
            changes.push(Change {
                key: k,
                old,
                new: Some(new),
            });
        };
        let scope_key = scope.map(str::to_string);
        match event {
            Event::Apply(o) => put(&mut w, key(o), facts(o)),
            Event::Delete(o) => {
                let k = key(o);
                if let Some(old) = w.items.remove(&k) {
                    changes.push(Change {
                        key: k,
                        old: Some(old),
                        new: None,
                    });
                }
            }
            Event::Init => {
                w.relisting.insert(scope_key, BTreeSet::new());
            }
            Event::InitApply(o) => {
                let k = key(o);
                put(&mut w, k.clone(), facts(o));
                if let Some(seen) = w.relisting.get_mut(&scope_key) {
                    seen.insert(k);
                }
            }
            Event::InitDone => {
                if let Some(seen) = w.relisting.remove(&scope_key) {
                    let gone: Vec<Key> = w
                        .items
                        .keys()
                        .filter(|k| scope.is_none_or(|ns| k.0 == ns) && !seen.contains(*k))
                        .cloned()
                        .collect();
                    for k in gone {
                        let old = w.items.remove(&k);
                        changes.push(Change {
                            key: k,
                            old,
                            new: None,
                        });
                    }
                }
            }
        }
        changes
    }
}

impl<T> Index<T> {
    /// Drops every object of a namespace that is no longer watched.
    pub fn forget_namespace(&self, ns: &str) {
        if let Ok(mut w) = self.inner.write() {
            w.items.retain(|k, _| k.0 != ns);
            w.relisting.remove(&Some(ns.to_string()));
        }
    }

    /// The objects of a namespace.
    pub fn in_namespace(&self, ns: &str) -> Vec<Arc<T>> {
        self.inner
            .read()
            .map(|r| {
                r.items
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The objects of a namespace by name.
    pub fn named_in(&self, ns: &str) -> BTreeMap<String, Arc<T>> {
        self.inner
            .read()
            .map(|r| {
                r.items
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|((_, name), v)| (name.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many objects are indexed.
    pub fn len(&self) -> usize {
        self.inner.read().map(|r| r.items.len()).unwrap_or(0)
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PodIndex {
    /// An index holding `pods`.
    pub fn from_pods(pods: &[k8s_openapi::api::core::v1::Pod]) -> Self {
        Self::from_objects(pods, PodFacts::from_pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};

    fn pod(ns: &str, name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.name = Some(name.into());
        p
    }

    fn cm(ns: &str, name: &str, value: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.namespace = Some(ns.into());
        c.metadata.name = Some(name.into());
        c.data = Some(BTreeMap::from([("k".to_string(), value.to_string())]));
        c
    }

    #[test]
    fn relist_drops_pods_deleted_meanwhile() {
        let idx = PodIndex::from_pods(&[pod("a", "1"), pod("a", "2"), pod("b", "1")]);
        let f = PodFacts::from_pod;
        idx.apply(None, &Event::Init, f);
        idx.apply(None, &Event::InitApply(pod("a", "1")), f);
        idx.apply(None, &Event::InitApply(pod("b", "1")), f);
        let changes = idx.apply(None, &Event::<Pod>::InitDone, f);
        assert_eq!(changes.len(), 1, "a/2 went away");
        assert_eq!(idx.in_namespace("a").len(), 1);
        idx.apply(None, &Event::Delete(pod("b", "1")), f);
        assert!(idx.in_namespace("b").is_empty());
        idx.apply(None, &Event::Apply(pod("ab", "1")), f);
        assert_eq!(
            idx.in_namespace("a").len(),
            1,
            "namespace prefix does not leak"
        );
    }

    #[test]
    fn a_namespaced_relist_leaves_other_namespaces_alone() {
        let f = ConfigDigest::of_configmap;
        let idx = DigestIndex::from_objects(&[cm("a", "x", "1"), cm("b", "y", "1")], f);
        idx.apply(Some("a"), &Event::Init, f);
        idx.apply(Some("a"), &Event::<ConfigMap>::InitDone, f);
        assert!(idx.in_namespace("a").is_empty());
        assert_eq!(idx.in_namespace("b").len(), 1);
        idx.forget_namespace("b");
        assert!(idx.is_empty());
    }

    #[test]
    fn only_changed_content_is_a_change() {
        let f = ConfigDigest::of_configmap;
        let idx = DigestIndex::default();
        assert_eq!(
            idx.apply(None, &Event::Apply(cm("a", "x", "1")), f).len(),
            1
        );
        let mut bumped = cm("a", "x", "1");
        bumped.metadata.resource_version = Some("7".into());
        assert!(
            idx.apply(None, &Event::Apply(bumped), f).is_empty(),
            "a resourceVersion bump is no change"
        );
        let changed = idx.apply(None, &Event::Apply(cm("a", "x", "2")), f);
        assert_eq!(changed.len(), 1);
        assert!(changed[0].old.is_some() && changed[0].new.is_some());
    }
}
