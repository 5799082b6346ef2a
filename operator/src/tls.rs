//! TLS for the webhook: the serving certificate and key from files, re-read when they change
//! (cert-manager or the chart rotates them) without a restart or a dropped request. A
//! half-written pair during rotation keeps the previous certificate until the next check.
//! Or, when the operator manages the certificate, from a watch channel fed from its Secret.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// How often the files are checked for changes (on handshakes, at most this often).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: (Option<SystemTime>, Option<SystemTime>, u64, u64),
    checked: Instant,
}

/// A certificate resolver that reloads its files when they change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    state: RwLock<Loaded>,
}

fn stamp(cert: &Path, key: &Path) -> (Option<SystemTime>, Option<SystemTime>, u64, u64) {
    let m = |p: &Path| std::fs::metadata(p).ok();
    let (c, k) = (m(cert), m(key));
    (
        c.as_ref().and_then(|m| m.modified().ok()),
        k.as_ref().and_then(|m| m.modified().ok()),
        c.map_or(0, |m| m.len()),
        k.map_or(0, |m| m.len()),
    )
}

/// Reads a PEM certificate chain and private key into a signing key.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| Error::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    certified_key(
        &read(cert)?,
        &read(key)?,
        &cert.display().to_string(),
        &key.display().to_string(),
    )
}

/// A PEM certificate chain and private key (named `cert_name`, `key_name` in errors) as a
/// signing key.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<CertifiedKey> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Tls(format!("{cert_name}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("{cert_name}: no certificate")));
    }
    let key_der = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| Error::Tls(format!("{key_name}: {e}")))?;
    let signing =
        any_supported_type(&key_der).map_err(|e| Error::Tls(format!("{key_name}: {e}")))?;
    let ck = CertifiedKey::new(certs, signing);
    ck.keys_match()
        .map_err(|e| Error::Tls(format!("certificate and key do not match: {e}")))?;
    Ok(ck)
}

/// The certificate the operator keeps in a Secret (`controller::webhook_cert`), handed to the
/// webhook through a watch channel: the task that reads the Secret owns it, handshakes borrow
/// the latest. `None` until the first one is read: handshakes fail until then (the webhook's
/// `failurePolicy: Ignore` admits pods meanwhile, which show up as uninjected).
#[derive(Debug)]
pub struct SharedCert(pub tokio::sync::watch::Receiver<Option<Arc<CertifiedKey>>>);

impl ResolvesServerCert for SharedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.borrow().clone()
    }
}

impl ReloadingCert {
    /// Loads the pair now (an error here is fatal at start-up: there is nothing to serve).
    pub fn new(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let key = Arc::new(load(cert_path, key_path)?);
        Ok(Self {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            state: RwLock::new(Loaded {
                key,
                stamp: stamp(cert_path, key_path),
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let due = self
            .state
            .read()
            .ok()
            .is_some_and(|s| s.checked.elapsed() >= CHECK_EVERY);
        if due && let Ok(mut s) = self.state.write() {
            s.checked = Instant::now();
            let now = stamp(&self.cert_path, &self.key_path);
            if now != s.stamp {
                match load(&self.cert_path, &self.key_path) {
                    Ok(k) => {
                        s.key = Arc::new(k);
                        s.stamp = now;
                        tracing::info!("reloaded the webhook certificate");
                    }
                    // Mid-rotation (one file new, one old): try again on a later handshake.
                    Err(e) => tracing::warn!(
                        "keeping the previous certificate: {}",
                        crate::error::chain(&e)
                    ),
                }
            }
        }
        self.state.read().ok().map(|s| s.key.clone())
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

/// A rustls server configuration (ring provider, HTTP/1.1 and h2) over the reloading resolver.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>> {
    server_config_with(Arc::new(ReloadingCert::new(cert_path, key_path)?))
}

/// A rustls server configuration (ring provider, HTTP/1.1 and h2) over any certificate
/// resolver.
pub fn server_config_with(resolver: Arc<dyn ResolvesServerCert>) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
