//! The committed CRD manifests are exactly what the Rust types generate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use agentlens_crds::manifests::{MANIFEST_DIRS, render};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn committed_manifests_match_the_types() {
    let rendered = render().unwrap();
    assert_eq!(rendered.len(), 3);
    for dir in MANIFEST_DIRS {
        let dir = root().join(dir);
        for (file, yaml) in &rendered {
            let path = dir.join(file);
            let committed = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}; run `make crds`", path.display()));
            assert!(
                committed == *yaml,
                "{} differs from what the types generate; run `make crds` and commit",
                path.display()
            );
        }
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        let mut expected: Vec<String> = rendered.iter().map(|(f, _)| f.clone()).collect();
        expected.sort();
        assert_eq!(on_disk, expected, "stale manifests in {}", dir.display());
    }
}
