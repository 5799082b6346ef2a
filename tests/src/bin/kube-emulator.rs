//! `kube-emulator --listen ADDR --kubeconfig-dir DIR`: the Kubernetes API from memory over
//! HTTPS, for tests (see `agentlens_tests::emulator`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "kube-emulator",
    about = "A Kubernetes API server emulator for tests"
)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the kubeconfigs name it).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory for `admin.kubeconfig` and `<namespace>.<serviceaccount>.kubeconfig`.
    #[arg(long)]
    kubeconfig_dir: PathBuf,
    /// Watch events kept; a watch from an older resourceVersion gets 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// Bytes of objects the kept watch events may take (JSON size).
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    history_bytes: usize,
    /// Events a watch may fall behind before the server closes it.
    #[arg(long, default_value_t = 10_000)]
    watch_buffer: usize,
    /// Largest request body in bytes (the real server's limit is 3 MiB).
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    max_body: usize,
    /// Seconds between BOOKMARK events on watches that allow them.
    #[arg(long, default_value_t = 10)]
    bookmark_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = agentlens_tests::emulator::Config {
        listen: args.listen,
        kubeconfig_dir: args.kubeconfig_dir,
        history: args.history,
        history_bytes: args.history_bytes,
        watch_buffer: args.watch_buffer,
        max_body: args.max_body,
        bookmark_interval: Duration::from_secs(args.bookmark_seconds.max(1)),
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = agentlens_tests::emulator::run(config) => r?,
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
