//! The operator's own secrets, kept in Secrets of its namespace and created (32 random bytes)
//! on first start by whichever replica gets there first: the HMAC key Secrets are hashed under,
//! and the sidecar API token the snapshot puller sends (`Authorization: Bearer`), of which the
//! webhook gives the sidecars only the SHA-256.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The Secret holding the sidecar API token.
pub const SIDECAR_TOKEN_SECRET: &str = "agentlens-sidecar-token";
/// Its data key.
pub const SIDECAR_TOKEN_KEY: &str = "token";

fn kube(what: &str) -> impl FnOnce(kube::Error) -> Error + '_ {
    move |source| Error::Kube {
        what: what.to_string(),
        source: Box::new(source),
    }
}

fn random32() -> Result<Vec<u8>> {
    let mut key = vec![0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut key)
        .map_err(|_| Error::Random)?;
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256 of a token, what the sidecar compares a bearer token with.
pub fn sha256_hex(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// `data.<field>` of Secret `name` in `ns`, creating the Secret with `fresh` the first time.
async fn own_secret(
    client: &Client,
    ns: &str,
    name: &str,
    field: &str,
    fresh: Vec<u8>,
) -> Result<Vec<u8>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let what = format!("reading Secret {ns}/{name}");
    let field_of = |s: Secret| s.data.and_then(|d| d.get(field).map(|k| k.0.clone()));
    if let Some(s) = api.get_opt(name).await.map_err(kube(&what))? {
        return field_of(s).ok_or_else(|| Error::SecretKey {
            namespace: ns.into(),
            name: name.into(),
            key: field.into(),
        });
    }
    let mut secret = Secret {
        type_: Some("Opaque".into()),
        data: Some([(field.to_string(), ByteString(fresh.clone()))].into()),
        ..Secret::default()
    };
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some(ns.into());
    secret.metadata.labels = Some([("app.kubernetes.io/name".into(), "agentlens".into())].into());
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(fresh),
        // Another replica created it first: use theirs.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = api.get(name).await.map_err(kube(&what))?;
            field_of(s).ok_or_else(|| Error::SecretKey {
                namespace: ns.into(),
                name: name.into(),
                key: field.into(),
            })
        }
        Err(e) => Err(kube(&format!("creating Secret {ns}/{name}"))(e)),
    }
}

/// The installation's HMAC key for Secrets.
pub async fn hmac_key(client: &Client, ns: &str) -> Result<Vec<u8>> {
    own_secret(client, ns, crate::dump::HMAC_SECRET, "key", random32()?).await
}

/// The sidecar API token (64 hex characters).
pub async fn sidecar_token(client: &Client, ns: &str) -> Result<String> {
    let fresh = hex(&random32()?).into_bytes();
    let bytes = own_secret(client, ns, SIDECAR_TOKEN_SECRET, SIDECAR_TOKEN_KEY, fresh).await?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digest_is_lowercase_hex_sha256() {
        // sha256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
