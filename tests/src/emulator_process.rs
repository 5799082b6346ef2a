//! Starting `kube-emulator` from tests: a temporary kubeconfig directory, a free loopback
//! port, a wait (with a deadline) until `/version` answers over TLS with the admin token, and
//! the process killed when the handle is dropped.
//!
//! Tests of this crate pass `env!("CARGO_BIN_EXE_kube-emulator")` to [`Emulator::start_binary`];
//! other crates' tests call [`Emulator::start`], which finds the binary with [`binary`]
//! (`$KUBE_EMULATOR`, else `kube-emulator` beside the test executable's `target/<profile>/`).
//! Cargo does not build other packages' binaries for a test, so those run
//! `cargo build -p agentlens-tests --bin kube-emulator` first (same profile).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

/// How long a start may take before it is an error.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Errors of starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The binary is not where it was looked for.
    #[error(
        "kube-emulator binary not found (looked at {0}); run `cargo build -p agentlens-tests --bin kube-emulator` or set KUBE_EMULATOR"
    )]
    NotBuilt(String),
    /// A file or process operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It did not answer in time.
    #[error("kube-emulator did not answer /version within {0:?}: {1}")]
    Timeout(Duration, String),
}

/// Where the `kube-emulator` binary is: `$KUBE_EMULATOR`, or beside the running test's
/// `target/<profile>/` directory (tests run from `target/<profile>/deps/`).
pub fn binary() -> Result<PathBuf, StartError> {
    if let Some(p) = std::env::var_os("KUBE_EMULATOR") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|source| StartError::Io {
        what: "locating the test executable".into(),
        source,
    })?;
    let mut looked = Vec::new();
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("kube-emulator");
        if candidate.is_file() {
            return Ok(candidate);
        }
        looked.push(candidate.display().to_string());
    }
    Err(StartError::NotBuilt(looked.join(", ")))
}

/// A running emulator; killed on drop.
pub struct Emulator {
    child: Child,
    dir: tempfile::TempDir,
    server: String,
}

/// What a kubeconfig written by the emulator says.
#[derive(Debug, Clone)]
pub struct KubeconfigParts {
    /// `https://host:port`.
    pub server: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The bearer token.
    pub token: String,
}

/// Reads the server, CA and token of a kubeconfig the emulator wrote.
pub fn read_kubeconfig(path: &Path) -> Option<KubeconfigParts> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_saphyr::from_str(&text).ok()?;
    let cluster = &v["clusters"][0]["cluster"];
    let ca = base64::engine::general_purpose::STANDARD
        .decode(cluster["certificate-authority-data"].as_str()?)
        .ok()?;
    Some(KubeconfigParts {
        server: cluster["server"].as_str()?.to_string(),
        ca_pem: String::from_utf8(ca).ok()?,
        token: v["users"][0]["user"]["token"].as_str()?.to_string(),
    })
}

/// `GET path` over TLS with the kubeconfig's CA and token (blocking, one connection): the
/// status code and body.
pub fn get(parts: &KubeconfigParts, path: &str) -> Result<(u16, String), String> {
    let hostport = parts.server.trim_start_matches("https://");
    let host = hostport
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(hostport)
        .to_string();
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certs(parts.ca_pem.as_bytes())? {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(hostport).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        parts.token
    );
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // The server closes after the answer; a TLS close without notify still leaves the data.
    if let Err(e) = tls.read_to_end(&mut raw)
        && raw.is_empty()
    {
        return Err(e.to_string());
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

fn pem_certs(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

impl Emulator {
    /// Starts the binary [`binary`] finds, with default options.
    pub fn start() -> Result<Self, StartError> {
        Self::start_binary(&binary()?, &[])
    }

    /// Starts the binary [`binary`] finds with extra arguments (`--history 50`).
    pub fn start_with(args: &[&str]) -> Result<Self, StartError> {
        Self::start_binary(&binary()?, args)
    }

    /// Starts `bin` with extra arguments (`--history 50`, `--bookmark-seconds 1`) on a free
    /// loopback port and waits until `/version` answers.
    pub fn start_binary(bin: &Path, args: &[&str]) -> Result<Self, StartError> {
        if !bin.is_file() {
            return Err(StartError::NotBuilt(bin.display().to_string()));
        }
        let dir = tempfile::tempdir().map_err(|source| StartError::Io {
            what: "creating a temp dir".into(),
            source,
        })?;
        let mut command = Command::new(bin);
        if std::env::var_os("RUST_LOG").is_none() {
            // Quiet unless asked: the test output is for the test.
            command.env("RUST_LOG", "warn");
        }
        let child = command
            .args(["--listen", "127.0.0.1:0", "--kubeconfig-dir"])
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|source| StartError::Io {
                what: format!("starting {}", bin.display()),
                source,
            })?;
        let mut emulator = Self {
            child,
            dir,
            server: String::new(),
        };
        let deadline = Instant::now() + START_DEADLINE;
        let mut last = String::from("no admin.kubeconfig yet");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                return Err(StartError::Timeout(
                    START_DEADLINE,
                    format!("kube-emulator exited: {status}"),
                ));
            }
            if let Some(parts) = read_kubeconfig(&emulator.admin_kubeconfig()) {
                match get(&parts, "/version") {
                    Ok((200, body)) if body.contains("gitVersion") => {
                        emulator.server = parts.server;
                        return Ok(emulator);
                    }
                    Ok((code, body)) => last = format!("{code} {body}"),
                    Err(e) => last = e,
                }
            }
            // Polling a child process's start-up: there is nothing to wait on but the file.
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(StartError::Timeout(START_DEADLINE, last))
    }

    /// `DIR/admin.kubeconfig`: everything allowed.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir
            .path()
            .join(crate::emulator::kubeconfig::ADMIN_FILE)
    }

    /// `DIR/<namespace>.<serviceaccount>.kubeconfig`, written once RBAC names the account (it
    /// exists when the apply that named it has returned).
    pub fn kubeconfig_for(&self, namespace: &str, service_account: &str) -> PathBuf {
        self.dir
            .path()
            .join(crate::emulator::kubeconfig::account_file(
                namespace,
                service_account,
            ))
    }

    /// The kubeconfig directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Already gone is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
