//! `agentlens-operator`: thin entry point; the logic lives in the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use agentlens_operator::inject::InjectConfig;
use agentlens_operator::webhook::{WebhookState, router, serve_tls};
use clap::{Parser, Subcommand, ValueEnum};

/// The agentlens operator.
///
/// Implemented today: `crds` and `webhook`. The controllers (`run`) and `status --from` are
/// not implemented yet.
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

#[derive(Subcommand)]
enum Command {
    /// Print the agentlens CustomResourceDefinitions (apply with `kubectl apply -f -`).
    Crds,
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTLENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Crds => {
            let yaml = agentlens_operator::crds_yaml()?;
            match std::io::stdout().lock().write_all(yaml.as_bytes()) {
                // `| head` closing the pipe is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
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
            let state = Arc::new(WebhookState {
                agent_deployments: RwLock::new(ads),
                config,
            });
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
