//! `agentlens-sidecar run -- COMMAND`: starts COMMAND, passes its output through, observes its
//! process tree, serves the endpoints, and exits with COMMAND's exit code.
//!
//! A good PID 1: the signal handlers are installed before COMMAND starts (a SIGTERM sent
//! meanwhile is held and forwarded, not lost); the sidecar is a child subreaper, so a
//! descendant orphaned by its parent is re-parented to it, still measured, and reaped when it
//! exits (no zombies).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agentlens_crds::snapshot::SidecarMode;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use crate::auth::ApiAuth;
use crate::error::{Error, Result};
use crate::gpu::GpuMode;
use crate::logs::{StreamSink, follow_file, pass_through};
use crate::logscan::ScanConfig;
use crate::sample::{self, SamplerConfig, Target};
use crate::shared::Shared;

/// Options of `run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Address of the metrics/API server.
    pub listen: SocketAddr,
    /// Container name for the child's process tree.
    pub name: String,
    /// Extra log files to follow.
    pub log_files: Vec<PathBuf>,
    /// GPU measurement.
    pub gpu: GpuMode,
    /// Sampling interval.
    pub interval: Duration,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// The latency proxy and the OTLP receiver, when configured.
    pub listeners: crate::listeners::Listeners,
    /// The environment inventory.
    pub inventory: crate::inventory::worker::InventoryOptions,
    /// SHA-256 (hex) of the token `/v1/*` requires (none: open on loopback only).
    pub api_token_sha256: Option<String>,
}

/// What `run` ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code to exit with: the child's, or 128 + signal when it was killed.
    pub exit_code: i32,
}

/// The exit code a shell would report for `status`.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    }
}

/// Runs the child under observation.
pub async fn run(opts: RunOptions) -> Result<Outcome> {
    // Before anything starts: signals are held from now on, and orphans come to us.
    let signals = hold_signals();
    let mut sigchld = signal(SignalKind::child()).map_err(|source| Error::Io {
        what: "installing the SIGCHLD handler".into(),
        source,
    })?;
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!("not a child subreaper, orphans are neither measured nor reaped: {e}");
    }
    let auth =
        ApiAuth::new(opts.api_token_sha256.as_deref(), opts.listen).map_err(Error::ApiToken)?;
    let shared = Shared::new(SidecarMode::Run, None)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| Error::Io {
            what: format!("listening on {}", opts.listen),
            source,
        })?;
    let extra = opts.listeners.clone().bind().await?;
    let (program, args) = opts.command.split_first().ok_or(Error::NoCommand)?;
    shared.analysis.container(&opts.name);

    // Log files first, so lines the child writes right away are not missed.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut followers = Vec::new();
    for path in &opts.log_files {
        let sink = StreamSink::new(shared.clone(), &opts.name, "file", ScanConfig::default());
        followers.push(tokio::spawn(follow_file(
            path.clone(),
            sink,
            stop_rx.clone(),
        )));
    }

    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
    let pid = child.id().ok_or(Error::NoPid)?;

    let stopping = Arc::new(AtomicBool::new(false));
    let sampler = sample::spawn(
        shared.clone(),
        SamplerConfig {
            proc_root: PathBuf::from("/proc"),
            interval: opts.interval,
            gpu: opts.gpu,
            target: Target::Tree {
                root: pid,
                container: opts.name.clone(),
                adopter: Some(std::process::id()),
            },
        },
        stopping.clone(),
    )
    .map_err(|source| Error::Io {
        what: "starting the sampler thread".into(),
        source,
    })?;
    let inventory = crate::inventory::worker::start(
        &shared,
        PathBuf::from("/proc"),
        &opts.inventory,
        &stopping,
    )?;

    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let sink = StreamSink::new(shared.clone(), &opts.name, "stdout", ScanConfig::default());
        readers.push(tokio::spawn(pass_through(out, tokio::io::stdout(), sink)));
    }
    if let Some(err) = child.stderr.take() {
        let sink = StreamSink::new(shared.clone(), &opts.name, "stderr", ScanConfig::default());
        readers.push(tokio::spawn(pass_through(err, tokio::io::stderr(), sink)));
    }

    let server = crate::http::spawn(listener, shared.clone(), auth, stop_rx.clone());
    let extra_tasks = extra.spawn(&shared, &stop_rx);

    let forwarder = tokio::spawn(forward_signals(signals, pid));
    let exit_code = reap_until_exit(pid, &mut sigchld).await?;
    forwarder.abort();
    // Reaped above: tokio's handle has nothing left to wait for.
    drop(child);

    // Output already written by the child is read to the end; a grandchild that keeps the
    // pipe open does not hold us forever.
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
    }
    let _ = stop_tx.send(true);
    for f in followers {
        let _ = tokio::time::timeout(Duration::from_secs(2), f).await;
    }
    stopping.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    for t in extra_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }
    let _ = tokio::task::spawn_blocking(move || (sampler.join(), inventory.join())).await;
    Ok(Outcome { exit_code })
}

/// Reaps every exited child (the command and any orphan re-parented to us) until the command
/// itself exits; returns its exit code as a shell reports it.
async fn reap_until_exit(pid: u32, sigchld: &mut tokio::signal::unix::Signal) -> Result<i32> {
    let child = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    loop {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == child => return Ok(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p == child => return Ok(128 + sig as i32),
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) | Err(Errno::EINTR) => {} // an orphan reaped; look again
                Err(e) => {
                    return Err(Error::Io {
                        what: "waiting for the command".into(),
                        source: std::io::Error::from(e),
                    });
                }
            }
        }
        // Signals coalesce: a periodic look catches an exit whose SIGCHLD merged with another.
        tokio::select! {
            _ = sigchld.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The termination signals we forward, as they arrive from now on (held until forwarded).
fn hold_signals() -> tokio::sync::mpsc::Receiver<Signal> {
    let kinds = [
        (SignalKind::terminate(), Signal::SIGTERM),
        (SignalKind::interrupt(), Signal::SIGINT),
        (SignalKind::hangup(), Signal::SIGHUP),
        (SignalKind::quit(), Signal::SIGQUIT),
        (SignalKind::user_defined1(), Signal::SIGUSR1),
        (SignalKind::user_defined2(), Signal::SIGUSR2),
    ];
    let (tx, rx) = tokio::sync::mpsc::channel::<Signal>(16);
    for (kind, sig) in kinds {
        // Registered here, synchronously: from this point the signal no longer kills us.
        let Ok(mut stream) = signal(kind) else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(sig).await.is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Forwards the held termination signals to the child. SIGINT from an interactive terminal
/// already reaches the child (same process group), so it is forwarded only when stdin is not
/// a tty.
async fn forward_signals(mut rx: tokio::sync::mpsc::Receiver<Signal>, pid: u32) {
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let child = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    while let Some(sig) = rx.recv().await {
        if sig == Signal::SIGINT && interactive {
            continue;
        }
        let _ = kill(child, sig);
    }
}
