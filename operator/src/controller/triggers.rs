//! Which objects a change affects (the controllers' mappers): a pod → the systems whose
//! selector matches it (before or after the change), a ConfigMap or Secret → the systems that
//! name it or whose pods consume it, a Model → the Models descending from it and the systems
//! using any of them, an Evaluation → its system. Pure functions over the cache's contents.

use std::collections::BTreeSet;
use std::sync::Arc;

use agentlens_crds::agentdeployment_status::ConfigKind;
use agentlens_crds::{AgentDeployment, Evaluation, Model};
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::status::{self, PodFacts};

/// Models further than this from the changed one are not followed (the lineage limit).
pub const MAX_DEPTH: usize = 16;

fn in_ns<'a, K: kube::Resource>(objs: &'a [Arc<K>], ns: &'a str) -> impl Iterator<Item = &'a K> {
    objs.iter()
        .map(AsRef::as_ref)
        .filter(move |o| o.meta().namespace.as_deref() == Some(ns))
}

fn selects(ad: &AgentDeployment, pod: &PodFacts) -> bool {
    !crate::selector::is_empty(&ad.spec.selector)
        && crate::selector::matches(&ad.spec.selector, &pod.labels)
}

/// The systems a pod change affects: those selecting it before or after (a relabelled pod
/// leaves one system and joins another).
pub fn systems_for_pod(
    ads: &[Arc<AgentDeployment>],
    old: Option<&PodFacts>,
    new: Option<&PodFacts>,
) -> Vec<ObjectRef<AgentDeployment>> {
    let Some(ns) = new.or(old).map(|p| p.namespace.as_str()) else {
        return Vec::new();
    };
    in_ns(ads, ns)
        .filter(|ad| old.is_some_and(|p| selects(ad, p)) || new.is_some_and(|p| selects(ad, p)))
        .map(ObjectRef::from_obj)
        .collect()
}

/// The systems a ConfigMap or Secret change affects: named in the spec (configs, prompts) or
/// consumed by one of their pods.
pub fn systems_for_config(
    ads: &[Arc<AgentDeployment>],
    pods: &[Arc<PodFacts>],
    kind: ConfigKind,
    ns: &str,
    name: &str,
) -> Vec<ObjectRef<AgentDeployment>> {
    let wanted = (kind, name.to_string());
    in_ns(ads, ns)
        .filter(|ad| {
            status::spec_configs(ad).contains(&wanted)
                || (kind == ConfigKind::ConfigMap
                    && status::prompt_refs(ad).iter().any(|(c, _)| c == name))
                || pods
                    .iter()
                    .any(|p| p.namespace == ns && selects(ad, p) && p.configs.contains(&wanted))
        })
        .map(ObjectRef::from_obj)
        .collect()
}

/// `name` and the Models of its namespace that descend from it (their lineage passes
/// through it), at most [`MAX_DEPTH`] generations down.
pub fn lineage_of(models: &[Arc<Model>], ns: &str, name: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::from([name.to_string()]);
    let mut frontier = vec![name.to_string()];
    for _ in 0..MAX_DEPTH {
        let next: Vec<String> = in_ns(models, ns)
            .filter(|m| {
                m.spec
                    .base_model
                    .as_ref()
                    .is_some_and(|b| frontier.contains(&b.name))
            })
            .map(ResourceExt::name_any)
            .filter(|n| !found.contains(n))
            .collect();
        if next.is_empty() {
            break;
        }
        found.extend(next.iter().cloned());
        frontier = next;
    }
    found
}

/// The Models whose lineage a Model change affects (its descendants, not itself: its own
/// changes reach its controller directly).
pub fn models_for_model(models: &[Arc<Model>], changed: &Model) -> Vec<ObjectRef<Model>> {
    let ns = changed.namespace().unwrap_or_default();
    let name = changed.name_any();
    lineage_of(models, &ns, &name)
        .into_iter()
        .filter(|n| *n != name)
        .map(|n| ObjectRef::new(&n).within(&ns))
        .collect()
}

/// The systems a Model change affects: those using it or a Model descending from it.
pub fn systems_for_model(
    ads: &[Arc<AgentDeployment>],
    models: &[Arc<Model>],
    changed: &Model,
) -> Vec<ObjectRef<AgentDeployment>> {
    let ns = changed.namespace().unwrap_or_default();
    let affected = lineage_of(models, &ns, &changed.name_any());
    in_ns(ads, &ns)
        .filter(|ad| !status::model_names(ad).is_disjoint(&affected))
        .map(ObjectRef::from_obj)
        .collect()
}

/// The system an Evaluation is about.
pub fn system_for_evaluation(e: &Evaluation) -> Option<ObjectRef<AgentDeployment>> {
    let ns = e.namespace()?;
    Some(ObjectRef::new(&e.spec.agent_deployment).within(&ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The objects of the invoice-rpa dump, as the cache holds them.
    fn dump() -> crate::dump::Dump {
        crate::dump::read(include_str!("../../tests/data/dumps/invoice-rpa.yaml")).unwrap()
    }

    fn arcs<K: Clone>(v: &[K]) -> Vec<Arc<K>> {
        v.iter().cloned().map(Arc::new).collect()
    }

    fn names<K: kube::Resource<DynamicType = ()>>(refs: Vec<ObjectRef<K>>) -> Vec<String> {
        let mut v: Vec<String> = refs.into_iter().map(|r| r.name).collect();
        v.sort();
        v
    }

    #[test]
    fn a_pod_maps_to_the_system_selecting_it_before_or_after() {
        let d = dump();
        let ads = arcs(&d.agent_deployments);
        let pod = d
            .pods
            .iter()
            .map(PodFacts::from_pod)
            .find(|p| !systems_for_pod(&ads, None, Some(p)).is_empty())
            .expect("a pod of a system");
        let mut relabelled = pod.clone();
        relabelled.labels.clear();
        assert_eq!(
            names(systems_for_pod(&ads, Some(&pod), Some(&relabelled))),
            names(systems_for_pod(&ads, None, Some(&pod))),
            "leaving the selector still reconciles the system it left"
        );
        assert!(systems_for_pod(&ads, None, Some(&relabelled)).is_empty());
        let mut elsewhere = pod.clone();
        elsewhere.namespace = "other".into();
        assert!(systems_for_pod(&ads, None, Some(&elsewhere)).is_empty());
    }

    #[test]
    fn a_config_maps_to_the_systems_naming_or_consuming_it() {
        let d = dump();
        let ads = arcs(&d.agent_deployments);
        let pods: Vec<Arc<PodFacts>> = d
            .pods
            .iter()
            .map(|p| Arc::new(PodFacts::from_pod(p)))
            .collect();
        let ad = &d.agent_deployments[0];
        let ns = ad.namespace().unwrap();
        // Every config the status tracks maps back to the system.
        let st = crate::dump::statuses(
            &d,
            &Default::default(),
            crate::dump::hmac_key(&d).as_deref(),
            &crate::controller::reconcile::wall_clock(),
        )
        .unwrap();
        let tracked: Vec<(ConfigKind, String)> = st["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| {
                i["kind"] == "AgentDeployment" && i["metadata"]["name"] == ad.name_any().as_str()
            })
            .flat_map(|i| {
                let rows = i["status"]["configs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let prompts = i["status"]["prompts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                rows.into_iter().chain(prompts)
            })
            .map(|c| {
                let kind = if c["kind"] == "Secret" {
                    ConfigKind::Secret
                } else {
                    ConfigKind::ConfigMap
                };
                (kind, c["name"].as_str().unwrap().to_string())
            })
            .collect();
        assert!(!tracked.is_empty());
        for (kind, name) in tracked {
            assert!(
                names(systems_for_config(&ads, &pods, kind, &ns, &name)).contains(&ad.name_any()),
                "{name}"
            );
        }
        assert!(
            systems_for_config(&ads, &pods, ConfigKind::ConfigMap, &ns, "unrelated").is_empty()
        );
    }

    fn model(ns: &str, name: &str, parent: Option<&str>) -> Model {
        let mut m: Model = serde_json::from_value(serde_json::json!({
            "apiVersion": "agentlens.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"version": "1.0.0"}
        }))
        .unwrap();
        if let Some(p) = parent {
            m.spec.base_model = serde_json::from_value(serde_json::json!({"name": p})).unwrap();
        }
        m
    }

    #[test]
    fn a_parent_model_created_later_reaches_its_descendants_and_their_systems() {
        let base = model("ns", "llama", None);
        let tuned = model("ns", "invoice-extractor", Some("llama"));
        let again = model("ns", "invoice-extractor-v2", Some("invoice-extractor"));
        let other_ns = model("other", "child", Some("llama"));
        let models = arcs(&[base.clone(), tuned, again, other_ns]);
        assert_eq!(
            names(models_for_model(&models, &base)),
            vec!["invoice-extractor", "invoice-extractor-v2"]
        );
        let d = dump();
        let ads = arcs(&d.agent_deployments);
        let ad = &d.agent_deployments[0];
        let used = status::model_names(ad).into_iter().next().expect("a model");
        let ns = ad.namespace().unwrap();
        let root = model(&ns, "some-root", None);
        let user = model(&ns, &used, Some("some-root"));
        let models = arcs(&[root.clone(), user]);
        assert!(names(systems_for_model(&ads, &models, &root)).contains(&ad.name_any()));
        assert!(systems_for_model(&ads, &arcs(std::slice::from_ref(&root)), &root).is_empty());
    }

    #[test]
    fn a_cycle_of_models_ends() {
        let a = model("ns", "a", Some("b"));
        let b = model("ns", "b", Some("a"));
        let models = arcs(&[a.clone(), b]);
        assert_eq!(names(models_for_model(&models, &a)), vec!["b"]);
    }
}
