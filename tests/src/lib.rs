//! Helpers shared by the cross-crate tests: reading the YAML under `examples/`, validating
//! custom resources against the generated CRD schemas the way the API server does, and finding
//! the external tools `make test` installs.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub mod crd_schema;
pub mod emulator;
pub mod emulator_process;
pub mod fake_api;
pub mod kubernetes_sd;
pub mod net;
pub mod pods;
pub mod promcfg;
pub mod tools;

/// The AgentDeployments among `docs` (a `v1 List`'s items, or a manifest's documents), typed.
pub fn agent_deployments(
    docs: &[Value],
) -> Result<Vec<agentlens_crds::AgentDeployment>, serde_json::Error> {
    docs.iter()
        .filter(|d| d["kind"] == "AgentDeployment")
        .map(|d| serde_json::from_value(d.clone()))
        .collect()
}

/// Errors of the test helpers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("parsing YAML in {path}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A generated CRD could not be turned into a validator.
    #[error("CRD schema of {kind}: {message}")]
    Schema {
        /// The kind.
        kind: String,
        /// What was wrong.
        message: String,
    },
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file it came from.
    pub path: PathBuf,
    /// Its position in the file (0-based).
    pub index: usize,
    /// Its content.
    pub value: Value,
}

impl Document {
    /// `apiVersion` of the object, or "" when missing.
    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }
    /// `kind` of the object, or "" when missing.
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    /// `metadata.name` of the object, or "" when missing.
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    /// `metadata.namespace` of the object, or "" when missing.
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }
    /// Whether the object belongs to the agentlens API group.
    pub fn is_agentlens(&self) -> bool {
        self.api_version()
            .starts_with(&format!("{}/", agentlens_crds::GROUP))
    }
    /// `file#index kind/name`, for failure messages.
    pub fn label(&self) -> String {
        format!(
            "{}#{} {}/{}",
            self.path.display(),
            self.index,
            self.kind(),
            self.name()
        )
    }
}

/// Every non-empty YAML document in one file.
pub fn read_documents(path: &Path) -> Result<Vec<Document>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let values: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|source| Error::Yaml {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    Ok(values
        .into_iter()
        .filter(|v| !v.is_null())
        .enumerate()
        .map(|(index, value)| Document {
            path: path.to_path_buf(),
            index,
            value,
        })
        .collect())
}

/// Every `*.yaml`/`*.yml` file below `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| Error::Read {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Read {
                path: d.clone(),
                source,
            })?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
