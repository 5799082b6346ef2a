//! `kube-emulator`: the Kubernetes API served from memory over HTTPS, with the semantics
//! kube-rs and kubectl rely on, for tests that run real clients and the real operator binary
//! without a cluster. See the README's "Kubernetes API emulator" section for what it does not
//! emulate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub mod admission;
pub mod api;
pub mod apply;
pub mod authz;
pub mod cel;
mod deletion;
pub mod discovery;
pub mod http;
pub mod kubeconfig;
mod objects;
pub mod openapi;
pub mod patch;
pub mod podlog;
pub mod protobuf;
mod reads;
pub mod request;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

pub use reads::LOG_ANNOTATION;

/// Errors that stop the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file or thread could not be created.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The certificate could not be generated.
    #[error("TLS set-up: {0}")]
    Tls(String),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (port 0 picks a free one; the kubeconfigs name the real port).
    pub listen: SocketAddr,
    /// Where kubeconfigs are written.
    pub kubeconfig_dir: PathBuf,
    /// Events kept for watches to resume from; older resourceVersions are 410 Gone.
    pub history: usize,
    /// Bytes (objects' JSON) the kept events may take.
    pub history_bytes: usize,
    /// Events a watch may fall behind before it is closed.
    pub watch_buffer: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Time between BOOKMARK events.
    pub bookmark_interval: Duration,
}

/// Serves until the process ends. The admin kubeconfig is written once the port is bound.
pub async fn run(config: Config) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        what: "reading the bound address".into(),
        source,
    })?;
    let tls = tls::generate(&addr.ip().to_string())?;
    std::fs::create_dir_all(&config.kubeconfig_dir).map_err(|source| Error::Io {
        what: format!("creating {}", config.kubeconfig_dir.display()),
        source,
    })?;
    let kubeconfigs = kubeconfig::Kubeconfigs {
        dir: config.kubeconfig_dir.clone(),
        server: format!("https://{addr}"),
        ca_pem: tls.ca_pem.clone(),
    };
    let store = store::Store::new(config.history, config.history_bytes, config.watch_buffer);
    let api = api::Api::new(store, kubeconfigs, addr.to_string()).map_err(|source| Error::Io {
        what: format!(
            "writing {}",
            config.kubeconfig_dir.join(kubeconfig::ADMIN_FILE).display()
        ),
        source,
    })?;
    let handle = http::spawn_owner(api, 1024).map_err(|source| Error::Io {
        what: "starting the store thread".into(),
        source,
    })?;
    tokio::spawn(handle.clone().tick_every(Duration::from_millis(250)));
    tracing::info!("kube-emulator listening on https://{addr}");
    http::serve(
        listener,
        tls.config,
        handle,
        http::HttpOptions {
            max_body: config.max_body,
            bookmark_interval: config.bookmark_interval,
        },
    )
    .await;
    Ok(())
}
