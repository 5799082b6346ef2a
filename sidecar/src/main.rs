//! `agentlens-sidecar`: thin entry point; the logic lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agentlens_crds::snapshot::PodIdentity;
use agentlens_sidecar::gpu::GpuMode;
use agentlens_sidecar::inventory::worker::InventoryOptions;
use agentlens_sidecar::listeners::Listeners;
use agentlens_sidecar::otlp::OtlpConfig;
use agentlens_sidecar::proxy::ProxyConfig;
use agentlens_sidecar::run::{RunOptions, run};
use agentlens_sidecar::serve::{ServeOptions, serve};
use clap::{Args, Parser, Subcommand};

/// The agentlens sidecar: measures an agent's processes (CPU and GPU memory, logs, tracebacks,
/// GPU out-of-memory errors) and serves what it saw on /metrics and /v1/snapshot.
#[derive(Parser)]
#[command(name = "agentlens-sidecar", version = agentlens_sidecar::VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run COMMAND and observe it: its output is passed through unchanged, its process tree is
    /// measured, and agentlens-sidecar exits with COMMAND's exit code.
    Run(RunArgs),
    /// Observe the agent containers of the pod this sidecar runs in (configured by flags or
    /// AGENTLENS_* environment variables; POD_NAME, POD_NAMESPACE, NODE_NAME and
    /// AGENTLENS_AGENT come from the downward API).
    Serve(ServeArgs),
    /// Print the fingerprint of a model artifact (a file or a model directory), the value for
    /// `Model.spec.artifact.digest` that the sidecar compares with what pods serve.
    Fingerprint {
        /// The file or directory.
        path: std::path::PathBuf,
        /// Print the name, format, size and file count too, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the CycloneDX 1.5 inventory of a root filesystem (an unpacked image, a chroot):
    /// its OS and its dpkg, apk and RPM packages, the CUDA stack, as `/v1/inventory` reads an
    /// agent container's. `make images` writes each image's SBOM with it.
    Inventory {
        /// The root directory.
        #[arg(long)]
        root: std::path::PathBuf,
        /// The name the document gives the root (an image reference).
        #[arg(long, default_value = "rootfs")]
        name: String,
    },
    /// Copy the contents of directory SRC into DST (as `cp -r SRC/. DST`): the
    /// auto-instrumentation images' init container fills the pod's shared volume with it.
    CopyTree {
        /// The directory to copy from.
        src: PathBuf,
        /// The directory to copy into (created when missing).
        dst: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Do not use the Kubernetes API (container names and logs are then not collected).
    #[arg(long, env = "AGENTLENS_NO_KUBE_API")]
    no_kube_api: bool,
    /// Where the pod's /proc is (the default is right in a pod).
    #[arg(long, default_value = "/proc", hide = true)]
    proc_root: PathBuf,
    /// Name of the pod.
    #[arg(long, env = "POD_NAME", default_value = "")]
    pod_name: String,
    /// Namespace of the pod.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pod_namespace: String,
    /// Node of the pod.
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// The AgentDeployment the pod belongs to.
    #[arg(long, env = "AGENTLENS_AGENT")]
    agent: Option<String>,
}

#[derive(Args)]
struct Common {
    /// Address of the metrics and API server (/metrics, /v1/snapshot, /v1/tracebacks).
    #[arg(long, env = "AGENTLENS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Follow this log file too (repeatable); rotation and truncation are handled.
    #[arg(long = "log-file", env = "AGENTLENS_LOG_FILES", value_delimiter = ',')]
    log_files: Vec<PathBuf>,
    /// GPU measurement through NVML: auto (when a GPU and NVML are present) or off.
    #[arg(long, value_enum, default_value = "auto", env = "AGENTLENS_GPU")]
    gpu: GpuMode,
    /// Sampling interval of memory, CPU and GPU, in milliseconds.
    #[arg(long, default_value_t = 1000, env = "AGENTLENS_INTERVAL_MS")]
    interval_ms: u64,
    /// Run the latency proxy on this address (15080 in a pod); needs --proxy-upstream.
    #[arg(long, env = "AGENTLENS_PROXY_LISTEN", requires = "proxy_upstream")]
    proxy_listen: Option<SocketAddr>,
    /// The agent's HTTP address the proxy forwards to, HOST:PORT (127.0.0.1:8080 in a pod).
    #[arg(long, env = "AGENTLENS_PROXY_UPSTREAM", requires = "proxy_listen")]
    proxy_upstream: Option<String>,
    /// The container that serves --proxy-upstream's port (`agentlens_proxy_upstream_info`, for
    /// the latency alert's `container`); the webhook sets it from the pod's container ports.
    /// `run`: the command's --name.
    #[arg(long, env = "AGENTLENS_PROXY_CONTAINER", requires = "proxy_listen")]
    proxy_container: Option<String>,
    /// Route template for the `route` label, `*` one segment, trailing `**` the rest
    /// (repeatable, e.g. /v1/chat/*); other paths are labelled by their first segment.
    #[arg(
        long = "proxy-route",
        env = "AGENTLENS_PROXY_ROUTES",
        value_delimiter = ','
    )]
    proxy_routes: Vec<String>,
    /// Seconds the upstream has to send response headers before the client gets a 504.
    #[arg(long, default_value_t = 300, env = "AGENTLENS_PROXY_TIMEOUT_SECONDS")]
    proxy_timeout_seconds: u64,
    /// Run the OTLP/HTTP receiver (/v1/traces, /v1/logs) on this address (4318 in a pod).
    #[arg(long, env = "AGENTLENS_OTLP_LISTEN")]
    otlp_listen: Option<SocketAddr>,
    /// Pass every OTLP request on, unchanged, to this collector (http://HOST:4318).
    #[arg(long, env = "AGENTLENS_OTLP_FORWARD", requires = "otlp_listen")]
    otlp_forward: Option<hyper::Uri>,
    /// Keep prompt template text from spans, with secrets, keys, e-mail addresses and card
    /// numbers redacted (default: hashes only).
    #[arg(long, env = "AGENTLENS_CAPTURE_CONTENT")]
    capture_content: bool,
    /// Fingerprint the model artifact at this path (a file or a model directory, as the app
    /// sees it) in the inventory (repeatable).
    #[arg(
        long = "model-path",
        env = "AGENTLENS_MODEL_PATHS",
        value_delimiter = ','
    )]
    model_paths: Vec<String>,
    /// SHA-256 (hex) of the bearer token /v1/* requires (the webhook writes it; the token
    /// stays in the operator's Secret). Without it /v1/* is open on a loopback address only.
    #[arg(long, env = "AGENTLENS_API_TOKEN_SHA256")]
    api_token_sha256: Option<String>,
    /// How often the inventory compares the process set, in milliseconds.
    #[arg(
        long,
        default_value_t = 5000,
        env = "AGENTLENS_INVENTORY_CHECK_MS",
        hide = true
    )]
    inventory_check_ms: u64,
}

impl Common {
    fn inventory(&self) -> InventoryOptions {
        InventoryOptions {
            model_paths: self.model_paths.clone(),
            check_every: Duration::from_millis(self.inventory_check_ms.max(100)),
        }
    }

    /// The listeners; `container` names the data of unknown origin (OTLP), `served` the
    /// container the proxy forwards to when no --proxy-container says.
    fn listeners(&self, container: &str, served: Option<&str>) -> anyhow::Result<Listeners> {
        if let Some(u) = &self.otlp_forward
            && u.scheme_str() != Some("http")
        {
            anyhow::bail!("--otlp-forward {u}: only http:// collectors are supported");
        }
        let proxy = match (self.proxy_listen, &self.proxy_upstream) {
            (Some(addr), Some(upstream)) => {
                let upstream = upstream
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string();
                if upstream.parse::<hyper::http::uri::Authority>().is_err() {
                    anyhow::bail!("--proxy-upstream {upstream}: expected HOST:PORT");
                }
                Some((
                    addr,
                    ProxyConfig {
                        upstream,
                        routes: self.proxy_routes.clone(),
                        response_timeout: Duration::from_secs(self.proxy_timeout_seconds.max(1)),
                    },
                ))
            }
            _ => None,
        };
        Ok(Listeners {
            otlp: self.otlp_listen.map(|addr| {
                (
                    addr,
                    OtlpConfig {
                        default_container: container.to_string(),
                        capture_content: self.capture_content,
                        forward: self.otlp_forward.clone(),
                        latency_from_spans: proxy.is_none(),
                    },
                )
            }),
            proxy_container: proxy.as_ref().and(
                self.proxy_container
                    .clone()
                    .or_else(|| served.map(str::to_string)),
            ),
            proxy,
        })
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Container name the command's processes are reported under.
    #[arg(long, default_value = "main")]
    name: String,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("AGENTLENS_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn fingerprint(path: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let shown = path.display().to_string();
    let m = agentlens_sidecar::inventory::models::fingerprint(path, &shown)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "path": m.path, "fingerprint": m.fingerprint, "files": m.files,
                "bytes": m.bytes, "name": m.name, "format": m.format,
                "architecture": m.architecture,
            })
        );
    } else {
        println!("{}", m.fingerprint);
    }
    Ok(())
}

fn inventory(root: &std::path::Path, name: &str) -> anyhow::Result<()> {
    if !root.is_dir() {
        anyhow::bail!("--root {}: not a directory", root.display());
    }
    let inv = agentlens_sidecar::inventory::collect::collect_root(name, root);
    println!(
        "{}",
        serde_json::to_string_pretty(&agentlens_sidecar::inventory::cyclonedx::container_bom(
            &inv
        ))?
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();

    // One TLS provider for the process (kube, the webhook), whatever else is linked.
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_tracing();
    // One thread is plenty for a sidecar; blocking work runs on its own threads.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Fingerprint { path, json } => fingerprint(&path, json),
        Command::Inventory { root, name } => inventory(&root, &name),
        Command::CopyTree { src, dst } => {
            let c = agentlens_sidecar::copytree::copy_tree(&src, &dst)?;
            eprintln!(
                "agentlens-sidecar: copied {} files ({} bytes) and {} links into {}{}",
                c.files,
                c.bytes,
                c.links,
                dst.display(),
                if c.skipped > 0 {
                    format!(", skipped {} special files", c.skipped)
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        Command::Serve(a) => {
            // OTLP data that names no container of the pod is reported under "otlp".
            let listeners = a.common.listeners("otlp", None)?;
            let opts = ServeOptions {
                listeners,
                api_token_sha256: a.common.api_token_sha256.clone(),
                inventory: a.common.inventory(),
                listen: a
                    .common
                    .listen
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 9477))),
                gpu: a.common.gpu,
                interval: Duration::from_millis(a.common.interval_ms.max(100)),
                log_files: a.common.log_files,
                kube_api: !a.no_kube_api,
                proc_root: a.proc_root,
                pod: PodIdentity {
                    namespace: a.pod_namespace,
                    name: a.pod_name,
                    node: a.node_name,
                    agent: a.agent,
                },
            };
            if let Err(e) = rt.block_on(serve(opts)) {
                let chain: Vec<String> = anyhow::Error::new(e)
                    .chain()
                    .map(ToString::to_string)
                    .collect();
                eprintln!("agentlens-sidecar: {}", chain.join(": "));
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Run(a) => {
            let listeners = a.common.listeners(&a.name, Some(&a.name))?;
            let opts = RunOptions {
                listeners,
                api_token_sha256: a.common.api_token_sha256.clone(),
                inventory: a.common.inventory(),
                listen: a
                    .common
                    .listen
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9477))),
                name: a.name,
                log_files: a.common.log_files,
                gpu: a.common.gpu,
                interval: Duration::from_millis(a.common.interval_ms.max(100)),
                command: a.command,
            };
            match rt.block_on(run(opts)) {
                Ok(outcome) => std::process::exit(outcome.exit_code),
                Err(e) => {
                    let code = e.exit_code();
                    let chain: Vec<String> = anyhow::Error::new(e)
                        .chain()
                        .map(ToString::to_string)
                        .collect();
                    eprintln!("agentlens-sidecar: {}", chain.join(": "));
                    std::process::exit(code);
                }
            }
        }
    }
}
