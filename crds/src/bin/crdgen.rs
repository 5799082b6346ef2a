//! Writes the CRD manifests generated from the Rust types to `crds/manifests/` and
//! `charts/agentlens/crds/`. Run from anywhere in the workspace:
//! `cargo run -p agentlens-crds --bin crdgen`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn workspace_root() -> PathBuf {
    // CARGO_MANIFEST_DIR is crds/; its parent is the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    let rendered = match agentlens_crds::manifests::render() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crdgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = workspace_root();
    for dir in agentlens_crds::manifests::MANIFEST_DIRS {
        let dir = root.join(dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("crdgen: creating {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        for (file, yaml) in &rendered {
            let path = dir.join(file);
            if let Err(e) = std::fs::write(&path, yaml) {
                eprintln!("crdgen: writing {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("wrote {}", path.display());
        }
    }
    ExitCode::SUCCESS
}
