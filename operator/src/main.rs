//! `agentlens-operator`: thin entry point; the logic lives in the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use agentlens_operator::inject::InjectConfig;
use agentlens_operator::webhook::{WebhookState, router, serve_tls};
use clap::{Parser, Subcommand, ValueEnum};

/// The agentlens operator.
///
/// `run` (controllers, webhook, metrics), `webhook` (the webhook alone), `status --from` (the
/// status computation on a dump), `crds`.
#[derive(Parser)]
#[command(name = "agentlens-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum NativeSidecars {
    /// true for the standalone webhook (no cluster to ask): Kubernetes 1.29+ assumed.
    Auto,
    True,
    False,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Json,
    Yaml,
}

// Parsed once at start-up: the size of the `run` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the operator in a cluster: controllers (while leading), the webhook, /metrics.
    Run {
        /// Webhook address.
        #[arg(long, default_value = "0.0.0.0:9443")]
        webhook_listen: SocketAddr,
        /// Webhook certificate (PEM; re-read when it changes).
        #[arg(long, default_value = "/tls/tls.crt")]
        tls_cert: PathBuf,
        /// Webhook key (PEM).
        #[arg(long, default_value = "/tls/tls.key")]
        tls_key: PathBuf,
        /// Address of /metrics, /healthz and /readyz.
        #[arg(long, default_value = "0.0.0.0:8080")]
        metrics_listen: SocketAddr,
        /// Native sidecars: auto discovers Kubernetes 1.29+ from the API server.
        #[arg(long, value_enum, default_value = "auto")]
        native_sidecars: NativeSidecars,
        /// The sidecar image.
        #[arg(long)]
        sidecar_image: Option<String>,
        /// The operator's namespace (leader lease, HMAC key Secret).
        #[arg(long, env = "POD_NAMESPACE", default_value = "agentlens-system")]
        namespace: String,
        /// This replica's identity in the leader lease.
        #[arg(long, env = "POD_NAME", default_value = "agentlens-operator")]
        identity: String,
        /// Read ConfigMaps and Secrets only in these namespaces (comma-separated); default: the
        /// namespaces that hold AgentDeployments, followed as they come and go.
        #[arg(long, value_delimiter = ',')]
        config_namespaces: Option<Vec<String>>,
        /// Seconds between pulls of the sidecars' live figures (and full reconciles).
        #[arg(long, default_value_t = 60)]
        refresh_seconds: u64,
        /// Port of the sidecars' API on the pod IPs.
        #[arg(long, default_value_t = 9477)]
        sidecar_port: u16,
        /// Keep the webhook's certificate in this Secret of the operator's namespace: the
        /// leader creates and renews it and keeps --webhook-configuration's caBundle current;
        /// every replica serves it (--tls-cert/--tls-key are then not read).
        #[arg(long)]
        webhook_cert_secret: Option<String>,
        /// The MutatingWebhookConfiguration whose caBundle follows the managed certificate.
        #[arg(long, default_value = agentlens_operator::certs::DEFAULT_WEBHOOK_CONFIGURATION)]
        webhook_configuration: String,
        /// The webhook's Service: the managed certificate's DNS names.
        #[arg(long, default_value = agentlens_operator::certs::DEFAULT_SERVICE)]
        webhook_service: String,
        /// Validity of each managed CA and certificate (e.g. 8760h, 90m); renewed when a third
        /// is left.
        #[arg(long, default_value = "8760h", value_parser = agentlens_operator::certs::parse_duration)]
        webhook_cert_validity: std::time::Duration,
        /// Bind the service accounts of each AgentDeployment's pods to this ClusterRole (pods
        /// and pods/log `get`, for their sidecars) with a RoleBinding in its namespace.
        #[arg(long)]
        sidecar_cluster_role: Option<String>,
        /// Add `prometheus.io/scrape|port|path` annotations to injected pods; `false` when a
        /// PodMonitor scrapes them (selecting the `agentlens.dev/sidecar` label), so each pod
        /// is scraped once.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        scrape_annotations: bool,
    },
    /// Print, as a v1 List, every AgentDeployment and Model of a dump with the status the
    /// operator would write (the dump: `kubectl get pods,configmaps,secrets,agentdeployments.agentlens.dev,models.agentlens.dev,evaluations.agentlens.dev -A -o yaml`).
    Status {
        /// The dump (YAML or JSON; `-` for stdin).
        #[arg(long)]
        from: PathBuf,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "yaml")]
        output: Output,
        /// Directory of sidecar snapshots (`<pod name>.json`, from `GET /v1/snapshot`).
        #[arg(long)]
        snapshots: Option<PathBuf>,
        /// File with the installation's HMAC key for Secrets (default: the dump's `agentlens-hmac-key` Secret).
        #[arg(long)]
        hmac_key_file: Option<PathBuf>,
        /// The time to compute for (RFC 3339; default now): makes the output reproducible.
        #[arg(long)]
        now: Option<String>,
    },
    /// Print the agentlens CustomResourceDefinitions (apply with `kubectl apply -f -`).
    Crds,
    /// Print the RBAC roles the operator and the sidecar need: every API call they make.
    Rbac,
    /// Run the admission webhook alone (no cluster needed): POST /mutate-pods over HTTPS.
    Webhook {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:9443")]
        listen: SocketAddr,
        /// PEM certificate chain; re-read when it changes.
        #[arg(long)]
        tls_cert: PathBuf,
        /// PEM private key; re-read when it changes.
        #[arg(long)]
        tls_key: PathBuf,
        /// Directory of YAML files with the AgentDeployments whose selectors decide injection.
        #[arg(long)]
        agentdeployments: Option<PathBuf>,
        /// Inject as a native sidecar (init container with restartPolicy Always, Kubernetes 1.29+).
        #[arg(long, value_enum, default_value = "auto")]
        native_sidecars: NativeSidecars,
        /// The sidecar image.
        #[arg(long)]
        sidecar_image: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One TLS provider for the process (kube, the webhook), whatever else is linked.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTLENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run {
            webhook_listen,
            tls_cert,
            tls_key,
            metrics_listen,
            native_sidecars,
            sidecar_image,
            namespace,
            identity,
            config_namespaces,
            refresh_seconds,
            sidecar_port,
            webhook_cert_secret,
            webhook_configuration,
            webhook_service,
            webhook_cert_validity,
            sidecar_cluster_role,
            scrape_annotations,
        } => {
            let managed_cert = webhook_cert_secret.map(|secret| {
                agentlens_operator::controller::webhook_cert::ManagedCert {
                    secret,
                    namespace: namespace.clone(),
                    service: webhook_service,
                    webhook_configuration,
                    validity: webhook_cert_validity,
                }
            });
            let opts = agentlens_operator::controller::run::RunOptions {
                webhook_listen,
                tls_cert,
                tls_key,
                metrics_listen,
                native_sidecars: match native_sidecars {
                    NativeSidecars::Auto => None,
                    NativeSidecars::True => Some(true),
                    NativeSidecars::False => Some(false),
                },
                sidecar_image,
                namespace,
                identity,
                snapshot_port: sidecar_port,
                config_namespaces: config_namespaces.map(|v| v.into_iter().collect()),
                refresh: std::time::Duration::from_secs(refresh_seconds.max(1)),
                managed_cert,
                sidecar_cluster_role,
                scrape_annotations,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(agentlens_operator::controller::run::run(opts))?;
        }
        Command::Status {
            from,
            output,
            snapshots,
            hmac_key_file,
            now,
        } => {
            let text = if from.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&from)?
            };
            let dump = agentlens_operator::dump::read(&text)?;
            let mut snaps = std::collections::BTreeMap::new();
            if let Some(dir) = snapshots {
                for entry in std::fs::read_dir(dir)? {
                    let path = entry?.path();
                    if path.extension().is_some_and(|e| e == "json") {
                        let pod = path
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        snaps.insert(pod, serde_json::from_str(&std::fs::read_to_string(&path)?)?);
                    }
                }
            }
            let key = match hmac_key_file {
                Some(f) => Some(std::fs::read(f)?),
                None => agentlens_operator::dump::hmac_key(&dump),
            };
            if key.is_none() && !dump.secrets.is_empty() {
                eprintln!(
                    "agentlens-operator: no HMAC key (--hmac-key-file or an agentlens-hmac-key Secret): Secrets are listed without a hash"
                );
            }
            let now = match now {
                Some(n) => k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(n.parse()?),
                None => k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::now(),
                ),
            };
            let list = agentlens_operator::dump::statuses(&dump, &snaps, key.as_deref(), &now)?;
            let text = match output {
                Output::Json => serde_json::to_string_pretty(&list)? + "\n",
                Output::Yaml => serde_saphyr::to_string(&list)?,
            };
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
        Command::Crds => {
            let yaml = agentlens_operator::crds_yaml()?;
            match std::io::stdout().lock().write_all(yaml.as_bytes()) {
                // `| head` closing the pipe is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
        Command::Rbac => {
            let mut text = String::new();
            for role in agentlens_operator::rbac::roles() {
                text.push_str("---\n");
                text.push_str(&serde_saphyr::to_string(&role)?);
            }
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
        Command::Webhook {
            listen,
            tls_cert,
            tls_key,
            agentdeployments,
            native_sidecars,
            sidecar_image,
        } => {
            let ads = match &agentdeployments {
                Some(dir) => agentlens_operator::agentdeployments::load_dir(dir)?,
                None => Vec::new(),
            };
            let mut config = InjectConfig {
                native_sidecars: !matches!(native_sidecars, NativeSidecars::False),
                ..InjectConfig::default()
            };
            if let Some(image) = sidecar_image {
                config.image = image;
            }
            tracing::info!(
                agentdeployments = ads.len(),
                native = config.native_sidecars,
                "webhook on {listen}"
            );
            let tls = agentlens_operator::tls::server_config(&tls_cert, &tls_key)?;
            let state = Arc::new(WebhookState::fixed(ads, config));
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen).await?;
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                let shutdown = async move {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                };
                serve_tls(listener, router(state), tls, shutdown).await;
                anyhow::Ok(())
            })?;
        }
    }
    Ok(())
}
