//! The pods the operator knows, as [`PodFacts`], kept current from the pod watcher's events
//! (a reflector store would keep whole Pods).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::Event;

use crate::status::PodFacts;

type Key = (String, String);

/// Pod facts by (namespace, name).
#[derive(Clone, Debug, Default)]
pub struct PodIndex {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    pods: BTreeMap<Key, Arc<PodFacts>>,
    // Keys seen since the last `Init`, to drop pods deleted while the watch was down.
    relisting: Option<BTreeSet<Key>>,
}

fn key(p: &Pod) -> Key {
    (
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default(),
    )
}

impl PodIndex {
    /// An index holding `pods`.
    pub fn from_pods(pods: &[Pod]) -> Self {
        let idx = Self::default();
        if let Ok(mut w) = idx.inner.write() {
            for p in pods {
                w.pods.insert(key(p), Arc::new(PodFacts::from_pod(p)));
            }
        }
        idx
    }

    /// Applies one watcher event.
    pub fn apply(&self, event: &Event<Pod>) {
        let Ok(mut w) = self.inner.write() else {
            return;
        };
        match event {
            Event::Apply(p) => {
                w.pods.insert(key(p), Arc::new(PodFacts::from_pod(p)));
            }
            Event::Delete(p) => {
                w.pods.remove(&key(p));
            }
            Event::Init => w.relisting = Some(BTreeSet::new()),
            Event::InitApply(p) => {
                let k = key(p);
                w.pods.insert(k.clone(), Arc::new(PodFacts::from_pod(p)));
                if let Some(seen) = w.relisting.as_mut() {
                    seen.insert(k);
                }
            }
            Event::InitDone => {
                if let Some(seen) = w.relisting.take() {
                    w.pods.retain(|k, _| seen.contains(k));
                }
            }
        }
    }

    /// The pods of a namespace.
    pub fn in_namespace(&self, ns: &str) -> Vec<Arc<PodFacts>> {
        self.inner
            .read()
            .map(|r| {
                r.pods
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many pods are indexed.
    pub fn len(&self) -> usize {
        self.inner.read().map(|r| r.pods.len()).unwrap_or(0)
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.name = Some(name.into());
        p
    }

    #[test]
    fn relist_drops_pods_deleted_meanwhile() {
        let idx = PodIndex::from_pods(&[pod("a", "1"), pod("a", "2"), pod("b", "1")]);
        idx.apply(&Event::Init);
        idx.apply(&Event::InitApply(pod("a", "1")));
        idx.apply(&Event::InitApply(pod("b", "1")));
        idx.apply(&Event::InitDone);
        assert_eq!(idx.in_namespace("a").len(), 1);
        idx.apply(&Event::Delete(pod("b", "1")));
        assert!(idx.in_namespace("b").is_empty());
        idx.apply(&Event::Apply(pod("ab", "1")));
        assert_eq!(
            idx.in_namespace("a").len(),
            1,
            "namespace prefix does not leak"
        );
    }
}
