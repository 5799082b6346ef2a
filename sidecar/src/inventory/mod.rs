//! The environment inventory: what the agent processes run with, read live from their root
//! filesystem through `/proc/<pid>/root` (shared process namespace, same UID): the OS, Debian,
//! Alpine and RPM packages, the Python packages each running interpreter can import, the
//! Node.js packages of running Node processes, the CUDA toolkit, cuDNN and the NVIDIA driver,
//! the names (never the values) of the processes' environment variables, fingerprints of
//! model artifacts under configured paths, and the zero-code instrumentation's CPython ABI
//! against the running interpreter's (`autoinstrument.rs`).
//!
//! Reading is bounded (entries per directory, bytes per file) and every failure (permission
//! denied, a process that exits mid-scan, a directory too large) becomes a note in the
//! inventory, never an error that stops it; how the processes' own `/proc` entries could be
//! read is also counted (`reads.rs`), for the operator. Served as CycloneDX 1.5 (`cyclonedx.rs`) on
//! `GET /v1/inventory`; the snapshot carries each container's digest and counts.

pub mod autoinstrument;
pub mod collect;
pub mod cyclonedx;
pub mod gpu_stack;
pub mod models;
pub mod node;
pub mod os;
pub mod packages;
pub mod purl;
pub mod python;
pub mod reads;
pub mod root;
pub mod worker;

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// What kind of thing a component is (the CycloneDX type and the purl type follow from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A Debian or Ubuntu package (dpkg).
    Deb,
    /// An Alpine package (apk).
    Apk,
    /// An RPM package.
    Rpm,
    /// A Python distribution importable by a running interpreter.
    Python,
    /// A Node.js package of a running Node process.
    Npm,
    /// A language runtime seen running (a Python interpreter, Node.js).
    Runtime,
    /// The CUDA toolkit.
    Cuda,
    /// cuDNN.
    Cudnn,
    /// The NVIDIA kernel driver.
    Driver,
}

impl Kind {
    /// Label for counts (`deb`, `pypi`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deb => "deb",
            Kind::Apk => "apk",
            Kind::Rpm => "rpm",
            Kind::Python => "pypi",
            Kind::Npm => "npm",
            Kind::Runtime => "runtime",
            Kind::Cuda => "cuda",
            Kind::Cudnn => "cudnn",
            Kind::Driver => "driver",
        }
    }
}

/// One package or piece of software.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    /// What it is.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Package URL, when the ecosystem has a purl type.
    pub purl: Option<String>,
    /// Where it was found (a site-packages directory, `node_modules`), for the document.
    pub location: Option<String>,
}

/// The OS of a root filesystem (`/etc/os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsInfo {
    /// `ID` (debian, ubuntu, alpine, rhel, …).
    pub id: String,
    /// `VERSION_ID`.
    pub version_id: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
}

/// A model artifact under a configured path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelArtifact {
    /// The path as configured (as the app container sees it).
    pub path: String,
    /// `sha256:…` fingerprint (see `models.rs`; `agentlens-sidecar fingerprint PATH` prints it).
    pub fingerprint: String,
    /// Files fingerprinted.
    pub files: u32,
    /// Their total size.
    pub bytes: u64,
    /// The model's own name (GGUF `general.name`, HF `config.json` `_name_or_path`).
    pub name: Option<String>,
    /// `safetensors`, `gguf`, `pytorch`, `onnx`, … of the largest file.
    pub format: Option<String>,
    /// Architecture (GGUF `general.architecture`, HF `architectures[0]`).
    pub architecture: Option<String>,
}

/// One container's inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInventory {
    /// Container name.
    pub container: String,
    /// Its OS.
    pub os: Option<OsInfo>,
    /// Packages and software, sorted.
    pub components: Vec<Component>,
    /// Names of the app processes' environment variables.
    pub env_names: BTreeSet<String>,
    /// Model artifacts.
    pub models: Vec<ModelArtifact>,
    /// What could not be read, and why (permission, a process gone, a bound reached).
    pub notes: Vec<String>,
    /// The zero-code instrumentation its Python processes run with (`autoinstrument.rs`); not
    /// part of the digest, which is about what is installed.
    pub auto_instrument: Option<agentlens_crds::autoinstrument::AutoInstrumentSeen>,
    /// How reading its processes' `/proc/<pid>/…` went (`reads.rs`): what the notes say of
    /// them, counted for programs. Not part of the digest.
    pub process_reads: agentlens_crds::snapshot::ProcessReads,
    /// When it was collected (ms since the epoch).
    pub collected_ms: u64,
    /// [`ContainerInventory::compute_digest`], computed once when the inventory is complete
    /// (the snapshot and `/v1/inventory` read it on every request).
    pub digest: String,
}

impl ContainerInventory {
    /// Packages counted in `packages` (OS and language packages, not runtimes or drivers).
    pub fn package_count(&self) -> usize {
        self.components
            .iter()
            .filter(|c| {
                matches!(
                    c.kind,
                    Kind::Deb | Kind::Apk | Kind::Rpm | Kind::Python | Kind::Npm
                )
            })
            .count()
    }

    /// The digest computed when the inventory was completed.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Completes the inventory: computes its digest.
    pub fn sealed(mut self) -> Self {
        self.digest = self.compute_digest();
        self
    }

    /// `sha256:` over what the container runs with: OS, components, environment variable names
    /// and model fingerprints (not notes or times), so it changes exactly when those do.
    pub fn compute_digest(&self) -> String {
        let mut h = Sha256::new();
        if let Some(os) = &self.os {
            h.update(format!(
                "os\t{}\t{}\n",
                os.id,
                os.version_id.as_deref().unwrap_or("")
            ));
        }
        for c in &self.components {
            h.update(format!(
                "{}\t{}\t{}\t{}\n",
                c.kind.as_str(),
                c.name,
                c.version,
                c.location.as_deref().unwrap_or("")
            ));
        }
        for e in &self.env_names {
            h.update(format!("env\t{e}\n"));
        }
        for m in &self.models {
            h.update(format!("model\t{}\t{}\n", m.path, m.fingerprint));
        }
        format!("sha256:{:x}", h.finalize())
    }

    /// Component counts by kind label.
    pub fn counts(&self) -> std::collections::BTreeMap<String, u32> {
        let mut out = std::collections::BTreeMap::new();
        for c in &self.components {
            *out.entry(c.kind.as_str().to_string()).or_insert(0) += 1;
        }
        out
    }
}
