//! `spec.sidecar.otlp.autoInstrument`: zero-code GenAI instrumentation of agents that export no
//! telemetry of their own, in the shape of the OpenTelemetry Operator's `Instrumentation`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Zero-code instrumentation of the agents' LLM calls: the webhook adds an init container that
/// copies the provider's instrumentation packages into a shared volume, puts them on the app
/// containers' `PYTHONPATH` and aims their `OTEL_*` settings at the sidecar's OTLP receiver
/// (which then runs even when `otlp.enabled` is false). Variables the pod sets itself win. A pod
/// opts out with the annotation `agentlens.dev/auto-instrument: "false"`.
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
