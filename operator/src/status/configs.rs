//! ConfigMaps, Secrets and prompts: which ones the pods consume or the spec names, their
//! content hash, when it last changed, the last revisions, and how many running pods started
//! before the latest change. Secret values are never read into status: a Secret is tracked by
//! an HMAC of its data under the installation's key.

use std::collections::{BTreeMap, BTreeSet};

use agentlens_crds::agentdeployment_status::{ConfigKind, ConfigStatus};
use agentlens_crds::common::{HISTORY_LIMIT, Revision};
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest, Sha256};

/// A config the system depends on.
pub type ConfigRef = (ConfigKind, String);

/// Every ConfigMap and Secret a pod spec consumes: volumes (also projected), `envFrom`,
/// `env.valueFrom`, in regular and init containers.
pub fn consumed(spec: &PodSpec) -> BTreeSet<ConfigRef> {
    let mut out = BTreeSet::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            out.insert((ConfigKind::ConfigMap, c.name.clone()));
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            out.insert((ConfigKind::Secret, s));
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &src.config_map {
                out.insert((ConfigKind::ConfigMap, c.name.clone()));
            }
            if let Some(s) = &src.secret {
                out.insert((ConfigKind::Secret, s.name.clone()));
            }
        }
    }
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for ef in c.env_from.iter().flatten() {
            if let Some(r) = &ef.config_map_ref {
                out.insert((ConfigKind::ConfigMap, r.name.clone()));
            }
            if let Some(r) = &ef.secret_ref {
                out.insert((ConfigKind::Secret, r.name.clone()));
            }
        }
        for e in c.env.iter().flatten() {
            let Some(vf) = &e.value_from else { continue };
            if let Some(r) = &vf.config_map_key_ref {
                out.insert((ConfigKind::ConfigMap, r.name.clone()));
            }
            if let Some(r) = &vf.secret_key_ref {
                out.insert((ConfigKind::Secret, r.name.clone()));
            }
        }
    }
    // The service account token's root CA is the cluster's, not the app's configuration.
    out.remove(&(ConfigKind::ConfigMap, "kube-root-ca.crt".into()));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Canonical bytes of a key → value map: keys sorted, each `len:key len:value`, so no two
/// different maps share a serialisation.
fn canonical<'a>(entries: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let sorted: BTreeMap<&str, &[u8]> = entries.collect();
    let mut out = Vec::new();
    for (k, v) in sorted {
        out.extend_from_slice(format!("{}:", k.len()).as_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(format!("{}:", v.len()).as_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// `sha256:` of a ConfigMap's data and binaryData, or of one key's bytes (a prompt).
pub fn configmap_hash(cm: &ConfigMap, key: Option<&str>) -> Option<String> {
    if let Some(k) = key {
        let v = cm
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| {
                cm.binary_data
                    .as_ref()
                    .and_then(|b| b.get(k))
                    .map(|b| b.0.clone())
            })?;
        return Some(format!("sha256:{}", hex(&Sha256::digest(&v))));
    }
    let data = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_bytes()));
    let binary = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.0.as_slice()));
    Some(format!(
        "sha256:{}",
        hex(&Sha256::digest(canonical(data.chain(binary))))
    ))
}

/// `hmac-sha256:` of a Secret's data under `key` (the installation's key).
pub fn secret_hash(secret: &Secret, key: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    let data = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.0.as_slice()));
    mac.update(&canonical(data));
    Some(format!("hmac-sha256:{}", hex(&mac.finalize().into_bytes())))
}

/// What is kept of a ConfigMap or Secret: its content hashes and creation time, never its
/// data. The operator's cache reduces every object to this as it arrives, so Secret values
/// and large ConfigMaps are not held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDigest {
    /// `metadata.creationTimestamp`.
    pub created: Option<Time>,
    /// Hash of the whole content; `None` for a Secret when there is no installation key.
    pub hash: Option<String>,
    /// `sha256:` of each key's bytes (ConfigMaps only: a prompt names one key).
    pub keys: BTreeMap<String, String>,
}

impl ConfigDigest {
    /// The digest of a ConfigMap: its [`configmap_hash`] and one per key.
    pub fn of_configmap(cm: &ConfigMap) -> Self {
        let names = cm
            .data
            .iter()
            .flat_map(|d| d.keys())
            .chain(cm.binary_data.iter().flat_map(|b| b.keys()));
        Self {
            created: cm.metadata.creation_timestamp.clone(),
            hash: configmap_hash(cm, None),
            keys: names
                .filter_map(|k| Some((k.clone(), configmap_hash(cm, Some(k))?)))
                .collect(),
        }
    }

    /// The digest of a Secret: its [`secret_hash`] under `key` (none without a key).
    pub fn of_secret(secret: &Secret, key: Option<&[u8]>) -> Self {
        Self {
            created: secret.metadata.creation_timestamp.clone(),
            hash: key.and_then(|k| secret_hash(secret, k)),
            keys: BTreeMap::new(),
        }
    }

    /// The hash of the whole object, or of one key.
    pub fn hash(&self, key: Option<&str>) -> Option<String> {
        match key {
            Some(k) => self.keys.get(k).cloned(),
            None => self.hash.clone(),
        }
    }
}

/// The tracked state after seeing `hash` (None: the object is missing) at `now`. Unchanged
/// content returns the previous state unchanged; a change pushes the previous revision into
/// the history (newest first, at most 10). The first sighting dates the content by
/// `created` (when known), not by `now`, since it may be older than the operator.
pub fn track(
    previous: Option<&ConfigStatus>,
    kind: ConfigKind,
    name: &str,
    key: Option<&str>,
    hash: Option<String>,
    created: Option<&Time>,
    now: &Time,
) -> ConfigStatus {
    let Some(prev) = previous else {
        return ConfigStatus {
            kind,
            name: name.into(),
            key: key.map(Into::into),
            changed_at: hash
                .as_ref()
                .map(|_| created.cloned().unwrap_or_else(|| now.clone())),
            hash,
            history: Vec::new(),
            stale_pods: 0,
        };
    };
    if prev.hash == hash || hash.is_none() {
        // A deleted object keeps its last known revision; nothing moves.
        return prev.clone();
    }
    let mut history = prev.history.clone();
    if let (Some(h), Some(at)) = (&prev.hash, &prev.changed_at) {
        history.insert(
            0,
            Revision {
                hash: h.clone(),
                changed_at: at.clone(),
                resource_version: None,
            },
        );
    }
    history.truncate(HISTORY_LIMIT);
    ConfigStatus {
        kind,
        name: name.into(),
        key: key.map(Into::into),
        hash,
        changed_at: Some(now.clone()),
        history,
        stale_pods: 0,
    }
}

/// Running pods that started before the latest change of a config with a history.
pub fn stale_pods(status: &ConfigStatus, pod_starts: &[Option<&Time>]) -> u32 {
    if status.history.is_empty() {
        return 0;
    }
    let Some(changed) = status.changed_at.as_ref() else {
        return 0;
    };
    pod_starts
        .iter()
        .filter(|s| s.is_some_and(|t| t.0 < changed.0))
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn prompt_hash_is_the_hash_of_the_key_bytes() {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([(
                "system.txt".into(),
                "You triage e-mails.\n".into(),
            )])),
            ..ConfigMap::default()
        };
        let h = configmap_hash(&cm, Some("system.txt")).unwrap();
        assert_eq!(
            h,
            format!("sha256:{}", hex(&Sha256::digest(b"You triage e-mails.\n")))
        );
        assert_eq!(configmap_hash(&cm, Some("missing")), None);
        let d = ConfigDigest::of_configmap(&cm);
        assert_eq!(d.hash(Some("system.txt")), Some(h));
        assert_eq!(d.hash(None), configmap_hash(&cm, None));
        assert_eq!(d.hash(Some("missing")), None);
    }

    #[test]
    fn secret_hmac_depends_on_key_and_content_and_hides_the_value() {
        let s = |v: &str| Secret {
            data: Some(BTreeMap::from([(
                "SAP_PASSWORD".into(),
                ByteString(v.as_bytes().to_vec()),
            )])),
            ..Secret::default()
        };
        let a = secret_hash(&s("hunter2"), b"installation-key-1").unwrap();
        assert!(a.starts_with("hmac-sha256:") && !a.contains("hunter2"));
        assert_ne!(
            a,
            secret_hash(&s("hunter3"), b"installation-key-1").unwrap()
        );
        assert_ne!(
            a,
            secret_hash(&s("hunter2"), b"installation-key-2").unwrap()
        );
        // Without the key, the plain hash of a guessed value does not match.
        assert_ne!(
            a,
            format!("hmac-sha256:{}", hex(&Sha256::digest(b"hunter2")))
        );
    }

    #[test]
    fn history_moves_only_on_change_and_is_bounded() {
        let created = t("2026-11-01T00:00:00Z");
        let first = track(
            None,
            ConfigKind::ConfigMap,
            "rpa-settings",
            None,
            Some("sha256:a".into()),
            Some(&created),
            &t("2026-11-27T08:00:00Z"),
        );
        assert_eq!(first.changed_at, Some(created.clone()));
        let same = track(
            Some(&first),
            ConfigKind::ConfigMap,
            "rpa-settings",
            None,
            Some("sha256:a".into()),
            None,
            &t("2026-11-27T09:00:00Z"),
        );
        assert_eq!(same, first, "no change, no new timestamp");
        let mut s = first;
        for i in 0..15 {
            s = track(
                Some(&s),
                ConfigKind::ConfigMap,
                "rpa-settings",
                None,
                Some(format!("sha256:{i}")),
                None,
                &t(&format!("2026-11-27T10:{i:02}:00Z")),
            );
        }
        assert_eq!(s.history.len(), HISTORY_LIMIT);
        assert_eq!(s.history[0].hash, "sha256:13");
        assert_eq!(s.hash.as_deref(), Some("sha256:14"));
        let starts = [Some(&created), Some(&t("2026-11-27T11:00:00Z")), None];
        assert_eq!(
            stale_pods(
                &s,
                &starts
                    .iter()
                    .map(|x| x.as_ref().map(|t| *t))
                    .collect::<Vec<_>>()
            ),
            1
        );
    }
}
