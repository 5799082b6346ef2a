//! `kubectl agentlens`: a kubectl plugin (put `kubectl-agentlens` on PATH) that shows what the
//! operator knows about an agent system, from the cluster or from a dumped object.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use agentlens_crds::{AgentDeployment, Model};
use agentlens_operator::console::facts::{Snapshot, SourceState};
use agentlens_operator::console::source::{Scope, Source};
use agentlens_operator::console::{export, server};
use agentlens_operator::inspect::{self, Style};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use kube::Api;
use kube::config::KubeConfigOptions;

#[derive(Parser)]
#[command(
    name = "kubectl-agentlens",
    version,
    about = "Inspect agent systems observed by agentlens"
)]
struct Cli {
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Subcommand)]
enum Command {
    /// One page about an AgentDeployment: images, models and lineage, configs and prompts,
    /// runtime, evaluations, the maturity checklist with the next steps first.
    Inspect {
        /// The AgentDeployment (omit with -f).
        name: Option<String>,
        /// Read the object from a file (`kubectl get agd NAME -o yaml`) instead of the cluster.
        #[arg(short = 'f', long)]
        file: Option<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
    },
    /// The maturity checklist alone.
    Maturity {
        /// The AgentDeployment (omit with -f).
        name: Option<String>,
        /// Read the object from a file instead of the cluster.
        #[arg(short = 'f', long)]
        file: Option<PathBuf>,
        /// Output format (`table` or `json`).
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
    },
    /// A read-only web console of every agent system: an overview and one page per system,
    /// live from the cluster (read with your kubeconfig, so your RBAC decides what you see) or
    /// from a dump (-f); or the same pages as static files (--export DIR).
    Console {
        /// Every namespace (the default without -n; when RBAC forbids listing across
        /// namespaces, the context's namespace, and the page says so).
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Read a dump (`kubectl get pods,configmaps,secrets,agentdeployments.agentlens.dev,models.agentlens.dev,evaluations.agentlens.dev -A -o yaml`) instead of the cluster; re-read when it changes.
        #[arg(short = 'f', long)]
        file: Option<PathBuf>,
        /// Address to serve on. Loopback only unless --allow-non-loopback.
        #[arg(long, default_value = "127.0.0.1:9480")]
        listen: SocketAddr,
        /// Serve on a non-loopback address (anyone who reaches it reads with your credentials).
        #[arg(long)]
        allow_non_loopback: bool,
        /// Open the overview in the default browser.
        #[arg(long)]
        open: bool,
        /// Write the pages as static, self-contained HTML into this directory and exit.
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// Seconds between reads of the cluster or the file.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=3600))]
        refresh_seconds: u64,
    },
    /// The lineage tree of a Model with datasets and preprocessing.
    Lineage {
        /// The Model.
        model: String,
        /// Read the Models from a file (`kubectl get models.agentlens.dev -o yaml`) instead of the cluster.
        #[arg(short = 'f', long)]
        file: Option<PathBuf>,
    },
}

fn read_objects<T: serde::de::DeserializeOwned>(file: &PathBuf, kind: &str) -> Result<Vec<T>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| anyhow!("{}: not YAML or JSON: {e}", file.display()))?;
    let mut out = Vec::new();
    for d in docs {
        let items = if d["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
            d["items"].as_array().cloned().unwrap_or_default()
        } else {
            vec![d]
        };
        for i in items.into_iter().filter(|i| i["kind"] == kind) {
            out.push(
                serde_json::from_value(i)
                    .with_context(|| format!("{}: a {kind} that does not parse", file.display()))?,
            );
        }
    }
    Ok(out)
}

/// A client and the namespace to use, like kubectl: KUBECONFIG, --context, -n.
async fn client(cli_ns: Option<&str>, context: Option<&str>) -> Result<(kube::Client, String)> {
    let opts = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = match kube::Config::from_kubeconfig(&opts).await {
        Ok(c) => c,
        Err(e) if context.is_none() => kube::Config::incluster()
            .map_err(|_| anyhow!("no usable kubeconfig ({e}); set KUBECONFIG or use -f FILE"))?,
        Err(e) => bail!("kubeconfig context {}: {e}", context.unwrap_or_default()),
    };
    // kube takes the default namespace from the context, else `default`, as kubectl does.
    let ns = cli_ns.map_or_else(|| config.default_namespace.clone(), str::to_string);
    Ok((kube::Client::try_from(config)?, ns))
}

/// kubectl-like messages for the errors people hit.
fn explain(e: kube::Error, kind: &str, plural: &str, name: &str, ns: &str) -> anyhow::Error {
    match &e {
        kube::Error::Api(s)
            if s.code == 404 && s.message.contains("could not find the requested resource") =>
        {
            anyhow!(
                "the {kind} CRD is not installed in this cluster (helm install agentlens charts/agentlens, or kubectl apply -f crds/manifests/)"
            )
        }
        kube::Error::Api(s) if s.code == 404 => {
            anyhow!("{plural} \"{name}\" not found in namespace {ns}")
        }
        kube::Error::Api(s) if s.code == 403 => anyhow!(
            "forbidden: you cannot get {plural} in namespace {ns} (check: kubectl auth can-i get {plural} -n {ns})"
        ),
        _ => anyhow!("{kind} {ns}/{name}: {e}"),
    }
}

async fn fetch_ad(
    cli: &Cli,
    name: Option<&String>,
    file: Option<&PathBuf>,
) -> Result<AgentDeployment> {
    if let Some(f) = file {
        let mut ads: Vec<AgentDeployment> = read_objects(f, "AgentDeployment")?;
        return match (name, ads.len()) {
            (_, 0) => bail!("{}: no AgentDeployment in the file", f.display()),
            (Some(n), _) => {
                let i = ads
                    .iter()
                    .position(|a| a.metadata.name.as_ref() == Some(n))
                    .ok_or_else(|| anyhow!("{}: no AgentDeployment named {n}", f.display()))?;
                Ok(ads.swap_remove(i))
            }
            (None, 1) => Ok(ads.swap_remove(0)),
            (None, k) => bail!(
                "{}: {k} AgentDeployments; name the one to show",
                f.display()
            ),
        };
    }
    let name = name.ok_or_else(|| anyhow!("name an AgentDeployment, or read one with -f FILE"))?;
    let (client, ns) = client(cli.namespace.as_deref(), cli.context.as_deref()).await?;
    let api: Api<AgentDeployment> = Api::namespaced(client, &ns);
    api.get(name)
        .await
        .map_err(|e| explain(e, "AgentDeployment", "agentdeployments", name, &ns))
}

async fn fetch_models(cli: &Cli, file: Option<&PathBuf>) -> Result<Vec<Model>> {
    if let Some(f) = file {
        return read_objects(f, "Model");
    }
    let (client, ns) = client(cli.namespace.as_deref(), cli.context.as_deref()).await?;
    let api: Api<Model> = Api::namespaced(client, &ns);
    Ok(api
        .list(&Default::default())
        .await
        .map_err(|e| explain(e, "Model", "models.agentlens.dev", "", &ns))?
        .items)
}

/// `console`: export once, or serve with a poller feeding the pages.
#[allow(clippy::too_many_arguments)]
async fn console(
    cli: &Cli,
    all_namespaces: bool,
    file: Option<&PathBuf>,
    listen: SocketAddr,
    allow_non_loopback: bool,
    open: bool,
    export_dir: Option<&PathBuf>,
    refresh_seconds: u64,
) -> Result<()> {
    if all_namespaces && cli.namespace.is_some() {
        bail!("-A and -n exclude each other");
    }
    let source = match file {
        Some(f) => Source::File(f.clone()),
        None => {
            let (client, ns) = client(cli.namespace.as_deref(), cli.context.as_deref()).await?;
            let context = cli
                .context
                .clone()
                .or_else(|| kube::config::Kubeconfig::read().ok()?.current_context)
                .map_or_else(|| "in-cluster".to_string(), |c| format!("context {c}"));
            let scope = match &cli.namespace {
                Some(n) => Scope::Namespace(n.clone()),
                None => Scope::All { fallback: ns },
            };
            Source::Cluster {
                client,
                scope,
                context,
            }
        }
    };
    let initial = Snapshot {
        source: SourceState {
            label: source.label(),
            ..SourceState::default()
        },
        ..Snapshot::default()
    };
    if let Some(dir) = export_dir {
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        );
        let facts = source.read().await?;
        let snapshot = initial
            .advance(Ok(facts), &now, Some(&now))
            .unwrap_or(initial);
        let (written, skipped) = export::export(&snapshot, dir, &now)?;
        for s in &skipped {
            eprintln!("skipped {s}: its name cannot be a file name");
        }
        eprintln!(
            "wrote {} pages to {} (open {})",
            written.len(),
            dir.display(),
            dir.join("index.html").display()
        );
        return Ok(());
    }
    // The poller's and the server's log lines (a failing source, a page that did not render).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let listener = server::bind(listen, allow_non_loopback).await?;
    let addr = listener.local_addr()?;
    let (tx, mut rx) = tokio::sync::watch::channel(Arc::new(initial));
    let app = server::router(rx.clone(), refresh_seconds, allow_non_loopback)?;
    tokio::spawn(server::poll(
        source,
        std::time::Duration::from_secs(refresh_seconds),
        tx,
    ));
    // The first read (good or not) before the address is announced: the first page has content.
    rx.changed().await?;
    let url = format!("http://{addr}/");
    eprintln!("agentlens console: {url} (read-only; Ctrl-C stops it)");
    if open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        match std::process::Command::new(opener).arg(&url).spawn() {
            // Reaped on its own thread: the opener exits at once, the console keeps running.
            Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
            Err(e) => eprintln!("could not start {opener} ({e}); open {url} yourself"),
        }
    }
    server::serve(listener, app).await?;
    Ok(())
}

fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let style = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Style::Terminal
    } else {
        Style::Plain
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match &cli.command {
            Command::Inspect { name, file, output } => {
                let ad = fetch_ad(&cli, name.as_ref(), file.as_ref()).await?;
                match output {
                    Output::Table => print!("{}", inspect::page(&ad, style)),
                    Output::Json => println!("{}", serde_json::to_string_pretty(&ad)?),
                    Output::Yaml => print!(
                        "{}",
                        serde_saphyr::to_string(&ad).map_err(|e| anyhow!("YAML: {e}"))?
                    ),
                }
            }
            Command::Maturity { name, file, output } => {
                let ad = fetch_ad(&cli, name.as_ref(), file.as_ref()).await?;
                let m = ad
                    .status
                    .as_ref()
                    .and_then(|s| s.maturity.as_ref())
                    .ok_or_else(|| anyhow!("no maturity in the status yet: the operator has not reconciled this system"))?;
                match output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(m)?),
                    Output::Yaml => print!(
                        "{}",
                        serde_saphyr::to_string(m).map_err(|e| anyhow!("YAML: {e}"))?
                    ),
                    Output::Table => print!("{}", inspect::checklist(m, style)),
                }
            }
            Command::Console {
                all_namespaces,
                file,
                listen,
                allow_non_loopback,
                open,
                export,
                refresh_seconds,
            } => {
                console(
                    &cli,
                    *all_namespaces,
                    file.as_ref(),
                    *listen,
                    *allow_non_loopback,
                    *open,
                    export.as_ref(),
                    *refresh_seconds,
                )
                .await?;
            }
            Command::Lineage { model, file } => {
                let models = fetch_models(&cli, file.as_ref()).await?;
                let by_name: BTreeMap<String, &Model> = models
                    .iter()
                    .map(|m| (m.metadata.name.clone().unwrap_or_default(), m))
                    .collect();
                if !by_name.contains_key(model) {
                    bail!("models.agentlens.dev \"{model}\" not found");
                }
                print!("{}", inspect::lineage(model, &by_name));
            }
        }
        Ok(())
    })
}
