//! The operator-managed webhook certificate (`--webhook-cert-secret`): the leader issues the CA
//! and serving certificate into the Secret (server-side apply under the fixed field manager,
//! guarded by the resourceVersion it read, so a lease handover cannot rotate twice), renews it
//! when a third of its validity is left, and keeps the MutatingWebhookConfiguration's
//! `caBundle` equal to the Secret's bundle. Every replica, leader or not, serves the
//! certificate the Secret holds; followers only read it, waiting for the leader to create it.
//! The decisions are in [`crate::certs`]; this file is the API calls.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use rustls::sign::CertifiedKey;
use serde_json::json;
use tokio::sync::watch;

use super::reconcile::FIELD_MANAGER;
use crate::certs::{self, CA_KEY, CERT_KEY, KEY_KEY, NOT_AFTER_ANNOTATION, Stored};
use crate::error::{Error, Result};

/// Where the managed certificate lives and what it is for.
#[derive(Debug, Clone)]
pub struct ManagedCert {
    /// The Secret, in the operator's namespace.
    pub secret: String,
    /// The operator's namespace (the Service's too).
    pub namespace: String,
    /// The webhook Service: the certificate's DNS names.
    pub service: String,
    /// The MutatingWebhookConfiguration whose `caBundle` follows the Secret.
    pub webhook_configuration: String,
    /// Validity of each CA and certificate issued.
    pub validity: Duration,
}

/// How often the Secret is read: a twentieth of the validity, between 1 s and 30 s, so a
/// renewal reaches every replica long before the previous certificate expires.
pub fn interval(validity: Duration) -> Duration {
    (validity / 20).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

fn kube(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube {
        what,
        source: Box::new(source),
    }
}

fn field<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice())
}

/// What renewal needs to know of a stored Secret.
fn stored(secret: &Secret) -> Stored {
    Stored {
        complete: [CERT_KEY, KEY_KEY, CA_KEY]
            .iter()
            .all(|k| field(secret, k).is_some_and(|v| !v.is_empty())),
        not_after: secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(NOT_AFTER_ANNOTATION))
            .and_then(|t| t.parse().ok()),
        ca_bundle_pem: field(secret, CA_KEY)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
    }
}

/// Runs until `stop` turns true: one step per [`interval`], and one at once when this replica
/// becomes leader (the first certificate is not left waiting a whole interval); a failed step
/// is logged once with its cause and retried on the next.
pub async fn run(
    client: Client,
    cfg: ManagedCert,
    mut leading: watch::Receiver<bool>,
    serving: watch::Sender<Option<Arc<CertifiedKey>>>,
    mut stop: watch::Receiver<bool>,
) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &cfg.namespace);
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client);
    let mut served: Option<Vec<u8>> = None;
    // Once the election has ended (shutdown), its channel is closed: stop listening to it
    // rather than spinning on its error.
    let mut election_open = true;
    loop {
        let lead = *leading.borrow_and_update();
        if let Err(e) = step(&secrets, &configs, &cfg, lead, &serving, &mut served).await {
            tracing::warn!("webhook certificate: {}", crate::error::chain(&e));
        }
        tokio::select! {
            () = tokio::time::sleep(interval(cfg.validity)) => {}
            changed = leading.changed(), if election_open => election_open = changed.is_ok(),
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn step(
    secrets: &Api<Secret>,
    configs: &Api<MutatingWebhookConfiguration>,
    cfg: &ManagedCert,
    leading: bool,
    serving: &watch::Sender<Option<Arc<CertifiedKey>>>,
    served: &mut Option<Vec<u8>>,
) -> Result<()> {
    let name = format!("{}/{}", cfg.namespace, cfg.secret);
    let current = secrets
        .get_opt(&cfg.secret)
        .await
        .map_err(kube(format!("reading Secret {name}")))?;
    let now = Timestamp::now();
    let previous = current.as_ref().map(stored);
    let secret = if leading && certs::needs_issue(previous.as_ref(), now, cfg.validity) {
        let issued = certs::issue(
            &cfg.service,
            &cfg.namespace,
            now,
            cfg.validity,
            previous.as_ref(),
        )?;
        let rv = current
            .as_ref()
            .and_then(|s| s.metadata.resource_version.clone());
        let written = write(secrets, cfg, &issued, rv).await?;
        tracing::info!(secret = %name, not_after = %issued.not_after, "issued the webhook certificate");
        Some(written)
    } else {
        current
    };
    let Some(secret) = secret else {
        tracing::debug!(secret = %name, "waiting for the leader to create the webhook certificate");
        return Ok(());
    };
    if let (Some(crt), Some(key)) = (field(&secret, CERT_KEY), field(&secret, KEY_KEY))
        && served.as_deref() != Some(crt)
    {
        let what = format!("Secret {name}");
        let ck = crate::tls::certified_key(crt, key, &what, &what)?;
        serving.send_replace(Some(Arc::new(ck)));
        *served = Some(crt.to_vec());
        tracing::info!(secret = %name, "serving the webhook certificate");
    }
    if leading && let Some(bundle) = field(&secret, CA_KEY) {
        ensure_ca_bundle(configs, &cfg.webhook_configuration, bundle).await?;
    }
    Ok(())
}

/// Applies the issued pair; with `resource_version` the write fails (409) if another writer
/// got there since it was read.
async fn write(
    secrets: &Api<Secret>,
    cfg: &ManagedCert,
    issued: &certs::Issued,
    resource_version: Option<String>,
) -> Result<Secret> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut obj = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": cfg.secret,
            "namespace": cfg.namespace,
            "labels": {"app.kubernetes.io/name": "agentlens", "app.kubernetes.io/managed-by": FIELD_MANAGER},
            "annotations": {NOT_AFTER_ANNOTATION: issued.not_after.to_string()},
        },
        "type": "kubernetes.io/tls",
        "data": {
            CERT_KEY: b64(&issued.cert_pem),
            KEY_KEY: b64(&issued.key_pem),
            CA_KEY: b64(&issued.ca_bundle_pem),
        },
    });
    if let Some(rv) = resource_version {
        obj["metadata"]["resourceVersion"] = json!(rv);
    }
    secrets
        .patch(
            &cfg.secret,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .map_err(kube(format!(
            "writing Secret {}/{}",
            cfg.namespace, cfg.secret
        )))
}

/// Sets every webhook's `caBundle` of the configuration to `bundle` where it differs: a
/// replace guarded by the resourceVersion read (the chart owns the rest of the object; the
/// write takes only the fields it changes). A missing configuration is waited for, not created.
async fn ensure_ca_bundle(
    configs: &Api<MutatingWebhookConfiguration>,
    name: &str,
    bundle: &[u8],
) -> Result<()> {
    let Some(mut config) = configs
        .get_opt(name)
        .await
        .map_err(kube(format!("reading MutatingWebhookConfiguration {name}")))?
    else {
        tracing::debug!("MutatingWebhookConfiguration {name} not installed yet");
        return Ok(());
    };
    let mut changed = false;
    for hook in config.webhooks.iter_mut().flatten() {
        if hook
            .client_config
            .ca_bundle
            .as_ref()
            .map(|b| b.0.as_slice())
            != Some(bundle)
        {
            hook.client_config.ca_bundle = Some(k8s_openapi::ByteString(bundle.to_vec()));
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    configs
        .replace(
            name,
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PostParams::default()
            },
            &config,
        )
        .await
        .map_err(kube(format!(
            "updating the caBundle of MutatingWebhookConfiguration {name}"
        )))?;
    tracing::info!("updated the caBundle of MutatingWebhookConfiguration {name}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_read_often_enough_for_short_and_long_validities() {
        assert_eq!(interval(Duration::from_secs(12)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_secs(200)), Duration::from_secs(10));
        assert_eq!(
            interval(Duration::from_secs(365 * 86400)),
            Duration::from_secs(30)
        );
    }
}
