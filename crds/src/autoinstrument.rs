//! `spec.sidecar.otlp.autoInstrument`: zero-code GenAI instrumentation of agents that export no
//! telemetry of their own, in the shape of the OpenTelemetry Operator's `Instrumentation`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the packages are mounted in the app containers (the OpenTelemetry Operator's path).
/// The webhook mounts the volume here; the sidecar recognises the layout on `PYTHONPATH`.
pub const MOUNT_PATH: &str = "/otel-auto-instrumentation-python";
/// Resource attribute naming the agent of the spans (the webhook sets it with `service.name`;
/// the sidecar prefers it to `service.name` when it names the agent of a process).
pub const AGENT_ATTRIBUTE: &str = "agentlens.agent";
/// The file in a layout (and so in the shared volume) naming the CPython ABI its compiled
/// packages are for (`cp311`), written by `scripts/autoinstrument-layout.sh` and read by the
/// sidecar's inventory.
pub const PYTHON_ABI_FILE: &str = ".python-abi";

/// The directory (relative to the layout) whose `sitecustomize.py` starts the provider's SDK.
pub fn bootstrap_dir(provider: InstrumentProvider) -> &'static str {
    match provider {
        // opentelemetry-distro's bootstrap loads every `opentelemetry_instrumentor` entry point,
        // which OpenInference's instrumentors declare too.
        InstrumentProvider::OpenTelemetry | InstrumentProvider::OpenInference => {
            "opentelemetry/instrumentation/auto_instrumentation"
        }
        InstrumentProvider::OpenLit => "openlit/cli/bootstrap",
    }
}

/// `PYTHONPATH` for an app container: the bootstrap first (its `sitecustomize` must win), then
/// the container's own value, then the packages (the app's own versions of shared libraries win).
pub fn python_path(provider: InstrumentProvider, existing: Option<&str>) -> String {
    let bootstrap = format!("{MOUNT_PATH}/{}", bootstrap_dir(provider));
    match existing.filter(|e| !e.is_empty()) {
        Some(e) => format!("{bootstrap}:{e}:{MOUNT_PATH}"),
        None => format!("{bootstrap}:{MOUNT_PATH}"),
    }
}

/// The layout a `PYTHONPATH` of [`python_path`]'s shape loads, wherever it is mounted: the
/// entry `L` such that `L/<bootstrap of a provider>` is an entry too. `None` when no layout is
/// on it. (Not the provider: `opentelemetry` and `openinference` share their bootstrap.)
pub fn layout_on_python_path(python_path: &str) -> Option<String> {
    let entries: Vec<&str> = python_path
        .split(':')
        .map(|e| e.trim_end_matches('/'))
        .filter(|e| !e.is_empty())
        .collect();
    entries.iter().find_map(|e| {
        InstrumentProvider::ALL.into_iter().find_map(|p| {
            let layout = e.strip_suffix(bootstrap_dir(p))?.strip_suffix('/')?;
            entries.contains(&layout).then(|| layout.to_string())
        })
    })
}

/// Zero-code instrumentation of the agents' LLM calls: the webhook adds an init container that
/// copies the provider's instrumentation packages into a shared volume, puts them on the app
/// containers' `PYTHONPATH` and aims their `OTEL_*` settings at the sidecar's OTLP receiver
/// (which then runs even when `otlp.enabled` is false). Variables the pod sets itself win. A pod
/// opts out with the annotation `agentlens.dev/auto-instrument: "false"`. The sidecar reports
/// the CPython ABI the packages were built for (`cp311`) and the ABI of each interpreter that
/// runs with them (from its mapped libpython, its executable's name or its own extension
/// modules); condition `AutoInstrumentationMismatch` names the agents where they differ, which
/// would otherwise fail silently.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoInstrumentSpec {
    /// Whether the agents are instrumented (default true). `false` on an agent turns the
    /// system's instrumentation off for that agent's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The language runtime of the agents' containers (default `python`).
    #[serde(default)]
    pub language: InstrumentLanguage,
    /// Which instrumentation produces the spans (default `opentelemetry`): `opentelemetry` (the
    /// official `opentelemetry-instrumentation-openai-v2` with `opentelemetry-distro`),
    /// `openinference` (Arize OpenInference) or `openlit` (the OpenLIT SDK).
    #[serde(default)]
    pub provider: InstrumentProvider,
    /// The instrumentation image. Unset: the agentlens image of the provider, of the operator's
    /// version (`ghcr.io/agentlens/agentlens-autoinstrument-<provider>`). A custom image must
    /// hold the packages in `/autoinstrumentation` and the `agentlens-sidecar` binary that copies
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
}

impl AutoInstrumentSpec {
    /// Whether this setting instruments (unset `enabled` means yes).
    pub fn is_enabled(&self) -> bool {
        self.enabled != Some(false)
    }
}

/// The language runtime to instrument. Only CPython for now; Node.js is planned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum InstrumentLanguage {
    /// CPython 3 (glibc), through `PYTHONPATH` and a `sitecustomize` bootstrap.
    #[serde(rename = "python")]
    #[default]
    Python,
}

impl InstrumentLanguage {
    /// The name as written in the resource.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
        }
    }
}

/// The instrumentation that produces the agents' GenAI spans.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum InstrumentProvider {
    /// The OpenTelemetry project's GenAI instrumentation (`gen_ai.*` semantic conventions).
    #[serde(rename = "opentelemetry")]
    #[default]
    OpenTelemetry,
    /// Arize OpenInference (`llm.*` and `openinference.span.kind` attributes).
    #[serde(rename = "openinference")]
    OpenInference,
    /// The OpenLIT SDK (`gen_ai.*` attributes).
    #[serde(rename = "openlit")]
    OpenLit,
}

impl InstrumentProvider {
    /// Every provider, in the order of the enum.
    pub const ALL: [Self; 3] = [Self::OpenTelemetry, Self::OpenInference, Self::OpenLit];

    /// The name as written in the resource (and in image names).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenTelemetry => "opentelemetry",
            Self::OpenInference => "openinference",
            Self::OpenLit => "openlit",
        }
    }
}

/// How the sidecar determined a running interpreter's CPython ABI, the most direct first.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum AbiEvidence {
    /// The process maps `libpython3.X.so` (a shared libpython: the `python:3.x` images, pyenv,
    /// most builds from source).
    Libpython,
    /// The executable is named `python3.X` (the kernel resolves a venv's symlinks to it: Debian's
    /// `/usr/bin/python3.11`, whose libpython is linked in statically).
    Executable,
    /// The process maps an extension module tagged `*.cpython-3X-<platform>.so` outside the
    /// layout (an interpreter only imports its own tag).
    Extension,
    /// The `version` of the venv's `pyvenv.cfg` or the installation's `lib/python3.X` (an
    /// executable copied as plain `python3`, nothing of its own mapped yet).
    Installation,
    /// Evidence this version does not know (written by a newer sidecar): the ABI it names is
    /// still the interpreter's. Never written.
    #[serde(other)]
    Unknown,
}

/// The Python processes of one CPython ABI that run with the layout on `PYTHONPATH`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InterpreterSeen {
    /// The interpreter's ABI tag (`cp311`; `cp313t` for a free-threaded build).
    pub abi: String,
    /// How it was determined (for the first such process).
    pub evidence: AbiEvidence,
    /// Processes running it.
    pub processes: u32,
    /// Of those, the processes that map a shared object from the layout: proof the
    /// instrumentation was imported (each pinned provider loads compiled extensions at start:
    /// `wrapt`, `charset_normalizer`, protobuf's `upb`). 0 proves nothing on its own: an import
    /// that fails early, or one still to come, maps nothing either.
    pub loaded: u32,
}

/// The zero-code instrumentation as the sidecar found it in one container, read through
/// `/proc`: which layout its Python processes have on `PYTHONPATH`, which CPython ABI that
/// layout was built for, and which interpreters run with it. A layout built for another ABI does
/// not fail loudly: its compiled extensions are simply not found, pure-Python fallbacks or
/// nothing load, and no spans come.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AutoInstrumentSeen {
    /// The layout's directory as the container sees it (the webhook mounts it at
    /// [`MOUNT_PATH`]; found by [`layout_on_python_path`]).
    pub path: String,
    /// The ABI the layout's compiled packages are for (its [`PYTHON_ABI_FILE`]); absent when
    /// that file cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout_abi: Option<String>,
    /// The interpreters running with it, one entry per ABI (at most 4).
    #[serde(default)]
    pub interpreters: Vec<InterpreterSeen>,
    /// Python processes with the layout on `PYTHONPATH` whose ABI could not be determined.
    #[serde(default)]
    pub unidentified: u32,
}

/// Whether the layout fits the interpreters that load it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiCheck {
    /// The layout's ABI is every identified interpreter's (at least one).
    Match,
    /// An interpreter of another ABI runs with the layout.
    Mismatch,
    /// The layout's ABI is unreadable, or no interpreter was identified.
    Unknown,
}

impl AbiCheck {
    /// The word used in documents (`match`, `mismatch`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::Mismatch => "mismatch",
            Self::Unknown => "unknown",
        }
    }
}

impl AutoInstrumentSeen {
    /// Most interpreter entries kept (one per ABI: more than two is already odd).
    pub const MAX_INTERPRETERS: usize = 4;

    /// Compares the layout's ABI with the interpreters'.
    pub fn abi_check(&self) -> AbiCheck {
        match &self.layout_abi {
            Some(layout) if self.interpreters.iter().any(|i| i.abi != *layout) => {
                AbiCheck::Mismatch
            }
            Some(_) if !self.interpreters.is_empty() => AbiCheck::Match,
            _ => AbiCheck::Unknown,
        }
    }

    /// Processes that map a shared object from the layout.
    pub fn loaded(&self) -> u32 {
        self.interpreters.iter().map(|i| i.loaded).sum()
    }

    /// Python processes running with the layout.
    pub fn processes(&self) -> u32 {
        self.interpreters.iter().map(|i| i.processes).sum::<u32>() + self.unidentified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialized_form() {
        for p in InstrumentProvider::ALL {
            assert_eq!(
                serde_json::to_value(p).ok(),
                Some(serde_json::Value::String(p.as_str().into()))
            );
        }
        let l = InstrumentLanguage::Python;
        assert_eq!(
            serde_json::to_value(l).ok(),
            Some(serde_json::Value::String(l.as_str().into()))
        );
    }

    #[test]
    fn the_layout_is_found_on_the_python_path_the_webhook_writes() {
        for p in InstrumentProvider::ALL {
            // (case, PYTHONPATH, layout)
            let own = python_path(p, Some("/app:/srv/lib"));
            let cases = [
                ("webhook_alone", python_path(p, None), Some(MOUNT_PATH)),
                ("webhook_with_the_pods_own", own, Some(MOUNT_PATH)),
                (
                    "trailing_slashes",
                    format!("{MOUNT_PATH}/{}/:{MOUNT_PATH}/", bootstrap_dir(p)),
                    Some(MOUNT_PATH),
                ),
                (
                    "bootstrap_without_the_packages",
                    format!("{MOUNT_PATH}/{}", bootstrap_dir(p)),
                    None,
                ),
                (
                    "packages_without_the_bootstrap",
                    format!("/app:{MOUNT_PATH}"),
                    None,
                ),
                (
                    "elsewhere_in_run_mode",
                    format!("/tmp/l/{}:/tmp/l", bootstrap_dir(p)),
                    Some("/tmp/l"),
                ),
                ("empty", String::new(), None),
            ];
            for (case, pp, want) in cases {
                let got = layout_on_python_path(&pp);
                assert_eq!(got.as_deref(), want, "{case} {p:?}");
            }
        }
    }

    #[test]
    fn the_scripts_write_and_read_the_abi_file_by_its_one_name() {
        // (script, how it names the file)
        let scripts = [
            (
                include_str!("../../scripts/autoinstrument-layout.sh"),
                "\"$dir/",
            ),
            (include_str!("../../scripts/images.sh"), "\"$layout/"),
            (include_str!("../../scripts/release.sh"), "/$p/"),
        ];
        for (text, before) in scripts {
            assert!(
                text.contains(&format!("{before}{PYTHON_ABI_FILE}\"")),
                "{before}"
            );
        }
    }

    #[test]
    fn the_abi_check() {
        let seen = |layout: Option<&str>, abis: &[&str]| AutoInstrumentSeen {
            path: MOUNT_PATH.into(),
            layout_abi: layout.map(Into::into),
            interpreters: abis
                .iter()
                .map(|a| InterpreterSeen {
                    abi: (*a).into(),
                    evidence: AbiEvidence::Executable,
                    processes: 1,
                    loaded: 0,
                })
                .collect(),
            unidentified: 0,
        };
        // (case, layout ABI, interpreter ABIs, check)
        let cases = [
            (
                "debian12_cp311_layout",
                Some("cp311"),
                vec!["cp311"],
                AbiCheck::Match,
            ),
            (
                "python312_slim_with_the_cp311_layout",
                Some("cp311"),
                vec!["cp312"],
                AbiCheck::Mismatch,
            ),
            (
                "one_of_two_interpreters_differs",
                Some("cp311"),
                vec!["cp311", "cp312"],
                AbiCheck::Mismatch,
            ),
            (
                "free_threaded_is_another_abi",
                Some("cp313"),
                vec!["cp313t"],
                AbiCheck::Mismatch,
            ),
            (
                "no_interpreter_identified",
                Some("cp311"),
                vec![],
                AbiCheck::Unknown,
            ),
            (
                "layout_abi_unreadable",
                None,
                vec!["cp311"],
                AbiCheck::Unknown,
            ),
        ];
        for (case, layout, abis, want) in cases {
            assert_eq!(seen(layout, &abis).abi_check(), want, "{case}");
        }
    }

    #[test]
    fn an_empty_setting_is_python_opentelemetry_and_enabled() {
        let s: AutoInstrumentSpec = serde_json::from_str("{}").unwrap_or_default();
        assert!(s.is_enabled());
        assert_eq!(s.language, InstrumentLanguage::Python);
        assert_eq!(s.provider, InstrumentProvider::OpenTelemetry);
        let off: Result<AutoInstrumentSpec, _> = serde_json::from_str(r#"{"enabled": false}"#);
        assert!(off.is_ok_and(|o| !o.is_enabled()));
        assert!(serde_json::from_str::<AutoInstrumentSpec>(r#"{"provider": "langfuse"}"#).is_err());
    }
}
