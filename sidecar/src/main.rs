//! `agentlens-sidecar`: thin entry point; the logic lives in the library.

use clap::Parser;

/// The agentlens sidecar.
///
/// Not implemented yet: `run -- COMMAND` (standalone) and `serve` (in a pod). This build only
/// reports its version.
#[derive(Parser)]
#[command(name = "agentlens-sidecar", version = agentlens_sidecar::VERSION, about, long_about = None)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    eprintln!(
        "agentlens-sidecar {}: `run` and `serve` are not implemented yet; see README.md",
        agentlens_sidecar::VERSION
    );
    std::process::exit(2)
}
