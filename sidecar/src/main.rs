//! `agentlens-sidecar`: thin entry point; the logic lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agentlens_crds::snapshot::PodIdentity;
use agentlens_sidecar::gpu::GpuMode;
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
        Command::Serve(a) => {
            let opts = ServeOptions {
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
            let opts = RunOptions {
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
