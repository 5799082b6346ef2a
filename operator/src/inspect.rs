//! What `kubectl agentlens` prints (pure): one page per AgentDeployment that answers the
//! design's questions from its status, the maturity checklist with the next steps first, and a
//! Model's lineage tree. Text only; the binary decides about colour.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use agentlens_crds::agentdeployment_status::{AgentDeploymentStatus, ConfigKind, ConfigStatus};
use agentlens_crds::maturity::{MaturityArea, MaturityCheck, MaturityStatus};
use agentlens_crds::{AgentDeployment, Model};

/// Styling of headings: plain for pipes and files, bold on a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// No escape sequences.
    Plain,
    /// ANSI bold headings and red/green check marks.
    Terminal,
}

impl Style {
    fn heading(self, s: &str) -> String {
        match self {
            Self::Plain => s.to_string(),
            Self::Terminal => format!("\x1b[1m{s}\x1b[0m"),
        }
    }
    fn mark(self, passed: bool, applicable: bool) -> String {
        let word = match (applicable, passed) {
            (false, _) => "n/a ",
            (true, true) => "PASS",
            (true, false) => "FAIL",
        };
        match (self, applicable, passed) {
            (Self::Terminal, true, true) => format!("\x1b[32m{word}\x1b[0m"),
            (Self::Terminal, true, false) => format!("\x1b[31m{word}\x1b[0m"),
            _ => word.to_string(),
        }
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
/// A cell as the terminal gets it: control characters (escape sequences, newlines) in names
/// that agents or users chose (models, agents, prompts) shown escaped, so they can neither
/// move the cursor nor break the table.
fn printable(c: &str) -> std::borrow::Cow<'_, str> {
    if c.chars().any(char::is_control) {
        c.chars()
            .map(|ch| {
                if ch.is_control() {
                    ch.escape_default().to_string()
                } else {
                    ch.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        c.into()
    }
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                s.push_str(c);
            } else {
                let pad = widths[i].saturating_sub(c.chars().count());
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
}

/// `algorithm:` and the first 12 hex digits (`sha256:…`, `hmac-sha256:…`).
pub fn short_digest(d: Option<&str>) -> String {
    match d {
        Some(d) => match d.split_once(':') {
            Some((alg, hex)) => format!("{alg}:{}", hex.chars().take(12).collect::<String>()),
            None => d.chars().take(19).collect(),
        },
        None => "-".into(),
    }
}

/// A byte count in MiB or GiB, `-` when unknown.
pub fn bytes(b: Option<u64>) -> String {
    match b {
        None => "-".into(),
        Some(b) => {
            let gib = b as f64 / f64::from(1u32 << 30);
            if gib >= 1.0 {
                format!("{gib:.1} GiB")
            } else {
                format!("{:.0} MiB", b as f64 / f64::from(1u32 << 20))
            }
        }
    }
}

/// The rubric area's name as the docs spell it.
pub fn area(a: MaturityArea) -> &'static str {
    match a {
        MaturityArea::Environment => "environment",
        MaturityArea::Observability => "observability",
        MaturityArea::Models => "models",
        MaturityArea::Agent => "agent",
    }
}

/// The checks in reading order: failing applicable checks first, then the passing ones, then
/// those that do not apply (stable within each group).
pub fn checks_next_steps_first(m: &MaturityStatus) -> Vec<&MaturityCheck> {
    let mut checks: Vec<_> = m.checks.iter().collect();
    checks.sort_by_key(|c| match (c.applicable, c.passed) {
        (true, false) => 0,
        (true, true) => 1,
        (false, _) => 2,
    });
    checks
}

/// The maturity checklist: failing applicable checks first (with their next step), then the
/// passing ones, then those that do not apply.
pub fn checklist(m: &MaturityStatus, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  score {} / 100, level {}", m.score, m.level);
    let checks = checks_next_steps_first(m);
    let mut previous_next: Option<&str> = None;
    for c in checks {
        let _ = writeln!(
            out,
            "  {} {:<5} {:<13} {}",
            style.mark(c.passed, c.applicable),
            c.id,
            area(c.area),
            c.evidence
        );
        if c.applicable && !c.passed && !c.next.is_empty() {
            // The same step for several checks (typically "no sidecar snapshot") once.
            let text = if previous_next == Some(c.next.as_str()) {
                "the same as above"
            } else {
                c.next.as_str()
            };
            let _ = writeln!(out, "{}next: {text}", " ".repeat(29));
            previous_next = Some(c.next.as_str());
        }
    }
    out
}

fn configs_table(out: &mut String, rows: &[ConfigStatus]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                match c.kind {
                    ConfigKind::ConfigMap => "ConfigMap".into(),
                    ConfigKind::Secret => "Secret".into(),
                },
                match &c.key {
                    Some(k) => format!("{}/{k}", c.name),
                    None => c.name.clone(),
                },
                short_digest(c.hash.as_deref()),
                c.changed_at
                    .as_ref()
                    .map_or("-".into(), |t| t.0.to_string()),
                c.history.len().to_string(),
                c.stale_pods.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &["KIND", "NAME", "HASH", "CHANGED", "REVISIONS", "STALE-PODS"],
        &rows,
    );
}

/// The one-page view of an AgentDeployment from its status.
pub fn page(ad: &AgentDeployment, style: Style) -> String {
    let mut out = String::new();
    let name = ad.metadata.name.as_deref().unwrap_or_default();
    let ns = ad.metadata.namespace.as_deref().unwrap_or_default();
    let empty = AgentDeploymentStatus::default();
    let s = ad.status.as_ref().unwrap_or(&empty);
    let _ = writeln!(
        out,
        "{}",
        style.heading(&format!("AgentDeployment {ns}/{name}"))
    );
    if ad.status.is_none() {
        let _ = writeln!(
            out,
            "  no status yet: the operator has not reconciled this system (is it running?)"
        );
        return out;
    }
    if let Some(m) = &s.maturity {
        let target = ad.spec.maturity.as_ref().map_or(String::new(), |t| {
            let met = if m.level >= t.target_level {
                "met"
            } else {
                "not met"
            };
            format!(", target {} {met}", t.target_level)
        });
        let _ = writeln!(
            out,
            "  maturity: level {} (score {}){target}",
            m.level, m.score
        );
    }
    if let Some(p) = &s.pods {
        let _ = writeln!(
            out,
            "  pods: {} matched, {} with the sidecar, {} ready{}",
            p.matched,
            p.injected,
            p.ready,
            if p.uninjected_count > 0 {
                format!("; without the sidecar: {}", p.uninjected.join(", "))
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(out, "\n{}", style.heading("Conditions"));
    let rows: Vec<Vec<String>> = s
        .conditions
        .iter()
        .map(|c| {
            vec![
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
            ]
        })
        .collect();
    table(&mut out, &["TYPE", "STATUS", "REASON", "MESSAGE"], &rows);

    let _ = writeln!(out, "\n{}", style.heading("Images"));
    let rows: Vec<Vec<String>> = s
        .images
        .iter()
        .map(|i| {
            vec![
                i.container.clone(),
                i.image.clone(),
                short_digest(i.digest.as_deref()),
                i.pods.to_string(),
            ]
        })
        .collect();
    table(&mut out, &["CONTAINER", "IMAGE", "DIGEST", "PODS"], &rows);

    let _ = writeln!(out, "\n{}", style.heading("Inventory"));
    let rows: Vec<Vec<String>> = s
        .inventory
        .iter()
        .map(|i| {
            let counts = i
                .counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                i.container.clone(),
                i.os.clone().unwrap_or_else(|| "-".into()),
                if counts.is_empty() {
                    i.packages.to_string()
                } else {
                    format!("{} ({counts})", i.packages)
                },
                short_digest(i.digest.as_deref()),
                i.changed_at
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |t| t.0.to_string()),
                if i.variants > 1 {
                    format!("{} ({} variants)", i.pods, i.variants)
                } else {
                    i.pods.to_string()
                },
            ]
        })
        .collect();
    table(
        &mut out,
        &["CONTAINER", "OS", "PACKAGES", "DIGEST", "CHANGED", "PODS"],
        &rows,
    );
    for i in &s.inventory {
        for m in &i.models {
            let _ = writeln!(
                out,
                "  {}: serves {} {} {}",
                i.container,
                m.path,
                short_digest(Some(&m.fingerprint)),
                match &m.model {
                    Some(model) => format!("= Model {model}"),
                    None => "(matches no declared Model digest)".to_string(),
                }
            );
        }
        for n in &i.notes {
            let _ = writeln!(out, "  {}: {n}", i.container);
        }
        for h in i.history.iter().take(3) {
            let _ = writeln!(
                out,
                "  {}: changed at {}: {}{}",
                i.container,
                h.at.0,
                h.changes
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; "),
                match h.changes.len().saturating_sub(5) + h.omitted as usize {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                }
            );
        }
    }

    let _ = writeln!(out, "\n{}", style.heading("Models"));
    let rows: Vec<Vec<String>> = s
        .models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.version.clone().unwrap_or_else(|| "-".into()),
                short_digest(m.digest.as_deref()),
                if m.lineage.is_empty() {
                    "-".into()
                } else {
                    m.lineage.join(" -> ")
                },
            ]
        })
        .collect();
    table(
        &mut out,
        &["NAME", "VERSION", "DIGEST", "LINEAGE (root first)"],
        &rows,
    );

    let _ = writeln!(out, "\n{}", style.heading("Configs"));
    configs_table(&mut out, &s.configs);
    let _ = writeln!(out, "\n{}", style.heading("Prompts"));
    configs_table(&mut out, &s.prompts);
    for p in s.prompts.iter().filter(|p| p.history.len() > 1) {
        let revs: Vec<String> = p
            .history
            .iter()
            .rev()
            .take(3)
            .map(|r| format!("{} at {}", short_digest(Some(&r.hash)), r.changed_at.0))
            .collect();
        let _ = writeln!(out, "  {} history: {}", p.name, revs.join("; "));
    }

    let _ = writeln!(out, "\n{}", style.heading("Runtime"));
    match &s.runtime {
        None => {
            let _ = writeln!(out, "  no runtime figures yet");
        }
        Some(r) => {
            let _ = writeln!(
                out,
                "  GPU memory {} of {}; RSS {}",
                bytes(r.gpu_memory_used_bytes),
                bytes(r.gpu_memory_total_bytes),
                bytes(r.rss_bytes)
            );
            let q = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3} s"));
            let _ = writeln!(
                out,
                "  latency p50 {} p95 {} p99 {}",
                q(r.latency_p50_seconds),
                q(r.latency_p95_seconds),
                q(r.latency_p99_seconds)
            );
            let _ = writeln!(
                out,
                "  GPU out-of-memory events {}; OOMKilled containers {}; tracebacks {}{}",
                r.gpu_oom_events,
                r.oom_kills,
                r.tracebacks,
                r.last_traceback.as_ref().map_or(String::new(), |t| format!(
                    " (last: {} in {}/{} at {})",
                    t.exception, t.pod, t.container, t.at.0
                ))
            );
            // Only when some GenAI span carried a model: no empty table.
            if !r.tokens.is_empty() {
                let _ = writeln!(out, "  LLM requests and tokens per model (GenAI spans):");
                let rows: Vec<Vec<String>> = r
                    .tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.model.clone(),
                            t.requests.to_string(),
                            t.input_tokens.to_string(),
                            t.output_tokens.to_string(),
                        ]
                    })
                    .collect();
                table(
                    &mut out,
                    &["MODEL", "REQUESTS", "INPUT-TOKENS", "OUTPUT-TOKENS"],
                    &rows,
                );
            }
        }
    }
    if !s.agent_graph.is_empty() {
        let _ = writeln!(out, "\n{}", style.heading("Agent calls"));
        let rows: Vec<Vec<String>> = s
            .agent_graph
            .iter()
            .map(|e| {
                vec![
                    e.from.clone(),
                    e.to.clone(),
                    e.calls.to_string(),
                    e.errors.to_string(),
                    e.latency_p95_seconds
                        .map_or_else(|| "-".to_string(), |p| format!("{p:.3} s")),
                ]
            })
            .collect();
        table(&mut out, &["FROM", "TO", "CALLS", "ERRORS", "P95"], &rows);
    }

    if let Some(r) = &s.rag {
        let _ = writeln!(out, "\n{}", style.heading("RAG"));
        for (i, rev) in std::iter::once(&r.current).chain(&r.history).enumerate() {
            let _ = writeln!(
                out,
                "  {} {} collection {} index {} embedding {} {}{}",
                if i == 0 { "now " } else { "was " },
                rev.vector_store,
                rev.collection.as_deref().unwrap_or("-"),
                rev.index_version.as_deref().unwrap_or("-"),
                rev.embedding_model.as_deref().unwrap_or("-"),
                short_digest(rev.embedding_digest.as_deref()),
                rev.since
                    .as_ref()
                    .map(|t| format!(" since {}", t.0))
                    .unwrap_or_default()
            );
        }
    }

    let _ = writeln!(out, "\n{}", style.heading("Evaluations"));
    let rows: Vec<Vec<String>> = s
        .evaluations
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.suite.clone(),
                format!("{:?}", e.phase),
                if e.passed { "yes".into() } else { "no".into() },
                e.at.as_ref().map_or("-".into(), |t| t.0.to_string()),
            ]
        })
        .collect();
    table(&mut out, &["NAME", "SUITE", "PHASE", "PASSED", "AT"], &rows);

    if let Some(m) = &s.maturity {
        let _ = writeln!(out, "\n{}", style.heading("Maturity (next steps first)"));
        out.push_str(&checklist(m, style));
    }
    if !s.omitted.is_empty() {
        let parts: Vec<String> = s.omitted.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            out,
            "\n  not listed (status lists are bounded): {}",
            parts.join(", ")
        );
    }
    out
}

/// A Model's lineage tree, root first, with datasets and preprocessing of each step.
pub fn lineage(name: &str, models: &BTreeMap<String, &Model>) -> String {
    let mut out = String::new();
    let l = crate::status::lineage::resolve(name, models);
    let chain = l.labels();
    for (depth, label) in chain.iter().enumerate() {
        let indent = "  ".repeat(depth);
        let prefix = if depth == 0 { "" } else { "└─ " };
        let _ = writeln!(out, "{indent}{prefix}{label}");
        let model_name = label.split('@').next().unwrap_or(label);
        if let Some(t) = models
            .get(model_name)
            .and_then(|m| m.spec.training.as_ref())
        {
            let pad = "  ".repeat(depth + 2);
            if let Some(method) = &t.method {
                let _ = writeln!(out, "{pad}method: {method}");
            }
            for d in &t.datasets {
                let _ = writeln!(
                    out,
                    "{pad}dataset: {} {}{}",
                    d.name,
                    short_digest(d.digest.as_deref()),
                    d.split
                        .as_ref()
                        .map_or(String::new(), |s| format!(" ({s})"))
                );
            }
            if !t.preprocessing.is_empty() {
                let _ = writeln!(out, "{pad}preprocessing: {}", t.preprocessing.join(" -> "));
            }
            if let Some(c) = &t.code {
                let _ = writeln!(
                    out,
                    "{pad}code: {}{}",
                    c.repository,
                    c.commit.as_ref().map_or(String::new(), |x| format!("@{x}"))
                );
            }
        }
    }
    if let Some(i) = &l.incomplete {
        let _ = writeln!(out, "lineage incomplete: {}", i.message());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_control_characters_cannot_move_the_cursor_or_break_the_table() {
        let mut out = String::new();
        table(
            &mut out,
            &["MODEL", "REQUESTS"],
            &[
                vec!["\u{1b}[2Jgpt\nfake-row".to_string(), "3".to_string()],
                vec!["plain".to_string(), "1".to_string()],
            ],
        );
        assert_eq!(
            out,
            "  MODEL                   REQUESTS\n  \\u{1b}[2Jgpt\\nfake-row  3\n  plain                   1\n"
        );
        assert!(!out.contains('\u{1b}'));
    }
}
