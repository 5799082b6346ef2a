//! Two promises README.md and the fixture READMEs make about the test suite, checked against
//! the files themselves:
//!
//! - every test file that can skip is named in README.md's skip table (so the table says what
//!   each skip does under `make test`), and every file the table names exists;
//! - every file in a fixture folder is named, with its source, in a README.md of that folder or
//!   of a folder above it inside the fixture tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use agentlens_tests::workspace_root;

/// Where the tests and their helpers live.
const TEST_DIRS: &[&str] = &[
    "crds/tests",
    "operator/tests",
    "sidecar/tests",
    "tests/tests",
    "tests/src",
];

/// The fixture folders; each file under one is named in a README.md at or above it.
const FIXTURE_DIRS: &[&str] = &[
    "crds/tests/fixtures",
    "operator/tests/data",
    "sidecar/tests/data",
    "tests/tests/fixtures",
];

/// The calls through which a test skips (the shared helpers of `tests/src/tools.rs` and
/// `sidecar/tests/common`), and the texts of a skip handled in place.
const SKIP_CALLS: &[&str] = &[
    "or_skip",
    "missing",
    "venv_python",
    "promtool_check_metrics",
    "tool",
];
const SKIP_TEXTS: &[&str] = &["Tool::Skip", "\"skipped", "\"skipping"];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Whether `src` calls `name(` (not as the end of a longer name, nor as its definition).
fn calls(src: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    src.match_indices(&pattern).any(|(i, _)| {
        let before = src[..i].chars().next_back();
        let ident = before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident && !src[..i].ends_with("fn ")
    })
}

/// The rows of README.md's skip table.
fn skip_table() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme
        .find("Every place a test can skip")
        .expect("README.md has the skip table");
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a table names: backticked `dir/file.rs` and `dir/{a,b}.rs`.
fn named_paths(table: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, quoted) in table.split('`').enumerate() {
        if i % 2 == 0 || !quoted.ends_with(".rs") || !quoted.contains('/') {
            continue;
        }
        match (quoted.find('{'), quoted.find('}')) {
            (Some(a), Some(b)) => {
                let (head, tail) = (&quoted[..a], &quoted[b + 1..]);
                out.extend(
                    quoted[a + 1..b]
                        .split(',')
                        .map(|name| format!("{head}{name}{tail}")),
                );
            }
            _ => out.push(quoted.to_string()),
        }
    }
    out
}

#[test]
fn every_test_file_that_can_skip_is_in_the_readmes_skip_table() {
    let mut files = Vec::new();
    for dir in TEST_DIRS {
        files_under(&workspace_root().join(dir), &mut files);
    }
    let this = file!().rsplit('/').next().unwrap();
    let can_skip: Vec<String> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .filter(|f| !f.ends_with(this))
        .filter(|f| {
            let src = std::fs::read_to_string(f).unwrap();
            SKIP_CALLS.iter().any(|c| calls(&src, c)) || SKIP_TEXTS.iter().any(|t| src.contains(t))
        })
        .map(|f| relative(f))
        .collect();
    assert!(
        can_skip.contains(&"tests/src/tools.rs".to_string()),
        "the skip helpers themselves are found: {can_skip:?}"
    );
    let named = named_paths(&skip_table());
    let unnamed: Vec<&String> = can_skip.iter().filter(|f| !named.contains(f)).collect();
    assert!(
        unnamed.is_empty(),
        "test files that can skip but are not in README.md's skip table: {unnamed:?}"
    );
    let gone: Vec<&String> = named
        .iter()
        .filter(|f| !workspace_root().join(f).is_file())
        .collect();
    assert!(
        gone.is_empty(),
        "the skip table names missing files: {gone:?}"
    );
}

#[test]
fn every_fixture_file_is_named_in_a_readme_with_its_source() {
    let mut unnamed = Vec::new();
    let mut checked = 0;
    for root in FIXTURE_DIRS {
        let root = workspace_root().join(root);
        let mut files = Vec::new();
        files_under(&root, &mut files);
        for file in files.iter().filter(|f| !f.ends_with("README.md")) {
            checked += 1;
            // The READMEs from the file's folder up to the fixture root, each with the file's
            // path relative to it: named exactly, or by a `dir/*.ext` pattern.
            let named = file
                .ancestors()
                .skip(1)
                .take_while(|d| d.starts_with(&root))
                .any(|dir| {
                    let Ok(readme) = std::fs::read_to_string(dir.join("README.md")) else {
                        return false;
                    };
                    let rel = file
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    let pattern = match (rel.rsplit_once('/'), rel.rsplit_once('.')) {
                        (Some((folder, _)), Some((_, ext))) => format!("`{folder}/*.{ext}`"),
                        _ => String::new(),
                    };
                    readme.contains(&rel) || (!pattern.is_empty() && readme.contains(&pattern))
                });
            if !named {
                unnamed.push(relative(file));
            }
        }
    }
    assert!(
        checked > 50,
        "the fixture folders were read ({checked} files)"
    );
    assert!(
        unnamed.is_empty(),
        "fixture files no README.md names: {unnamed:?}"
    );
}
