//! AgentDeployments for the standalone webhook: read from a directory of YAML files (as
//! written for `kubectl apply`), other kinds in the files ignored.

use std::path::Path;

use agentlens_crds::AgentDeployment;

use crate::error::{Error, Result};

/// Every AgentDeployment in the `*.yaml`/`*.yml` files of `dir` (not recursive).
pub fn load_dir(dir: &Path) -> Result<Vec<AgentDeployment>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| Error::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        for doc in docs {
            if doc.get("kind").and_then(|k| k.as_str()) != Some("AgentDeployment") {
                continue;
            }
            let ad: AgentDeployment = serde_json::from_value(doc).map_err(|e| Error::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
            out.push(ad);
        }
    }
    Ok(out)
}
