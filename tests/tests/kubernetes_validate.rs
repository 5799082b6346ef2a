//! The CRD manifests and every built-in object under `examples/` validate with
//! `kubernetes-validate --strict` (PyPI; installed into `.tools/` by `make test`) against the
//! Kubernetes versions we support. Custom resources are checked by `examples.rs` instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use agentlens_tests::tools::{kubernetes_validate, python_tool};
use agentlens_tests::{read_documents, workspace_root, yaml_files};

/// The oldest supported Kubernetes version (the k8s-openapi feature) and kubectl's (v1.35).
const KUBERNETES_VERSIONS: [&str; 2] = ["1.32.0", "1.35.0"];

fn validate(files: &[PathBuf], expected_passes: usize) {
    let Some(bin) = python_tool("kubernetes-validate").or_skip() else {
        return;
    };
    for version in KUBERNETES_VERSIONS {
        let v = kubernetes_validate(&bin, version, files);
        let text = v.report;
        assert!(v.ok, "kubernetes-validate {version} failed:\n{text}");
        let passed = v.passed;
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("ERROR")).collect();
        assert!(errors.is_empty(), "{version}:\n{}", errors.join("\n"));
        assert_eq!(
            passed, expected_passes,
            "{version}: every built-in object must be validated, output:\n{text}"
        );
    }
}

#[test]
fn crd_manifests_are_valid_custom_resource_definitions() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in agentlens_crds::manifests::MANIFEST_DIRS {
        files.extend(yaml_files(&root.join(dir)).unwrap());
    }
    assert_eq!(files.len(), 6);
    validate(&files, 6);
}

#[test]
fn built_in_objects_of_the_examples_are_valid() {
    let files = yaml_files(&workspace_root().join("examples")).unwrap();
    let built_in = files
        .iter()
        .flat_map(|f| read_documents(f).unwrap())
        .filter(|d| !d.is_agentlens())
        .count();
    assert!(
        built_in >= 20,
        "only {built_in} built-in objects in examples/"
    );
    validate(&files, built_in);
}
