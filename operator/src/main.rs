//! `agentlens-operator`: thin entry point; the logic lives in the library.

use std::io::Write;

use clap::{Parser, Subcommand};

/// The agentlens operator.
///
/// Implemented today: `crds`. The controllers (`run`), the admission webhook (`webhook`) and
/// `status --from` are not implemented yet.
#[derive(Parser)]
#[command(name = "agentlens-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the agentlens CustomResourceDefinitions (apply with `kubectl apply -f -`).
    Crds,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            let yaml = agentlens_operator::crds_yaml()?;
            match std::io::stdout().lock().write_all(yaml.as_bytes()) {
                // `| head` closing the pipe is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
    }
    Ok(())
}
