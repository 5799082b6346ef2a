//! The console's pages: askama templates (compiled and checked at build time, HTML-escaped by
//! default) filled from the view models. The stylesheet is inlined in every page, so a page is
//! one self-contained file; the served pages add one small script for live updates.

use askama::Template;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::facts::{Snapshot, SourceState};
use super::layout::{NODE_H, NODE_W};
use super::overview::{self, Overview};
use super::view::{self, Links, SystemView, when};
use crate::error::{Error, Result};

/// The stylesheet, inlined in every page.
pub const CSS: &str = include_str!("../../templates/console/console.css");
/// The served pages' script: waits for a new snapshot version, then swaps the page's content.
pub const SCRIPT: &str = include_str!("../../templates/console/console.js");

/// Served (live, with the script) or exported (static, no script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the console's server, refreshed every `refresh_seconds`.
    Served {
        /// How often the source is read.
        refresh_seconds: u64,
    },
    /// Written to files at `at`.
    Exported,
}

impl Mode {
    fn links(self) -> Links {
        match self {
            Self::Served { .. } => Links::Served,
            Self::Exported => Links::Exported,
        }
    }
}

/// The source line above every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// `Live from …` or `Exported from …`.
    pub line: String,
    /// When the source cannot be read: since when and why.
    pub failing: Option<String>,
}

fn source_line(source: &SourceState, mode: Mode, now: &Time) -> SourceLine {
    let changed = source
        .changed_at
        .as_ref()
        .map_or_else(|| "never".to_string(), when);
    SourceLine {
        line: match mode {
            Mode::Served { refresh_seconds } => format!(
                "Live from {}, read every {refresh_seconds} s; last change seen {changed}.",
                source.label
            ),
            Mode::Exported => format!(
                "Exported {} from {}; a static copy (last change seen {changed}).",
                when(now),
                source.label
            ),
        },
        failing: source.failing.as_ref().map(|f| {
            format!(
                "Cannot read the source since {}: {}. Showing the last good read ({}).",
                when(&f.since),
                f.message,
                f.last_good
                    .as_ref()
                    .map_or_else(|| "none".to_string(), when)
            )
        }),
    }
}

/// What every page has around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// `<title>`.
    pub title: String,
    /// The snapshot version (the script compares it).
    pub version: u64,
    /// The inlined stylesheet.
    pub css: &'static str,
    /// Whether to load the live script.
    pub live: bool,
    /// Link to the overview.
    pub overview_href: &'static str,
    /// The current page's breadcrumb (text, link), below the overview.
    pub here: Option<(String, String)>,
    /// Source line.
    pub source: SourceLine,
    /// What the reader could not see.
    pub hidden: Vec<String>,
    /// Footer text.
    pub footer: String,
}

fn chrome(snapshot: &Snapshot, mode: Mode, now: &Time, title: String) -> Chrome {
    Chrome {
        title,
        version: snapshot.version,
        css: CSS,
        live: matches!(mode, Mode::Served { .. }),
        overview_href: mode.links().overview(),
        here: None,
        source: source_line(&snapshot.source, mode, now),
        hidden: snapshot.facts.hidden.clone(),
        footer: format!("agentlens {}.", env!("CARGO_PKG_VERSION")),
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage<'a> {
    chrome: Chrome,
    overview: &'a Overview,
}

#[derive(Template)]
#[template(path = "console/system.html")]
struct SystemPage<'a> {
    chrome: Chrome,
    v: &'a SystemView,
    node_w: u32,
    node_h: u32,
}

#[derive(Template)]
#[template(path = "console/missing.html")]
struct MissingPage<'a> {
    chrome: Chrome,
    namespace: &'a str,
    name: &'a str,
}

fn render(t: &impl Template, page: &str) -> Result<String> {
    t.render().map_err(|source| Error::Render {
        page: page.to_string(),
        source,
    })
}

/// The overview page.
pub fn overview_page(snapshot: &Snapshot, mode: Mode, now: &Time) -> Result<String> {
    let o = overview::overview(&snapshot.facts, mode.links());
    render(
        &OverviewPage {
            chrome: chrome(snapshot, mode, now, "Agent systems".into()),
            overview: &o,
        },
        "overview",
    )
}

/// The page of system `namespace/name`; `None` when the snapshot has no such system.
pub fn system_page(
    snapshot: &Snapshot,
    namespace: &str,
    name: &str,
    mode: Mode,
    now: &Time,
) -> Result<Option<String>> {
    let Some(ad) = snapshot.facts.system(namespace, name) else {
        return Ok(None);
    };
    let v = view::system(ad, &snapshot.facts);
    let mut c = chrome(snapshot, mode, now, format!("{name} ({namespace})"));
    c.here = Some((name.to_string(), mode.links().system(namespace, name)));
    render(
        &SystemPage {
            chrome: c,
            v: &v,
            node_w: NODE_W,
            node_h: NODE_H,
        },
        &format!("{namespace}/{name}"),
    )
    .map(Some)
}

/// The page for a system that is not (or no longer) there: it says so; the live script keeps
/// waiting, so the page fills in if the system appears.
pub fn missing_page(
    snapshot: &Snapshot,
    namespace: &str,
    name: &str,
    mode: Mode,
    now: &Time,
) -> Result<String> {
    let mut c = chrome(snapshot, mode, now, format!("{name} ({namespace})"));
    c.here = Some((name.to_string(), mode.links().system(namespace, name)));
    render(
        &MissingPage {
            chrome: c,
            namespace,
            name,
        },
        "missing",
    )
}

#[cfg(test)]
mod tests;
