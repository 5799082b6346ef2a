//! charts/agentlens/README.md is what `scripts/chart-readme.py` (`make chart-readme`) makes of
//! the chart's `values.yaml` comments and `README.tmpl.md`: stale when a value changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use agentlens_tests::workspace_root;

const CHART: &str = "charts/agentlens";

/// The generator's output for the chart in `chart`.
fn generate(chart: &Path) -> String {
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/chart-readme.py"))
        .arg("--chart")
        .arg(chart)
        .arg("--stdout")
        .output()
        .expect("python3 runs (make test needs it)");
    assert!(
        out.status.success(),
        "chart-readme.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_chart_readme_is_generated_from_the_current_values() {
    let chart = workspace_root().join(CHART);
    let committed = std::fs::read_to_string(chart.join("README.md")).unwrap();
    assert!(
        committed == generate(&chart),
        "{CHART}/README.md is stale: run `make chart-readme` and commit it"
    );
}

#[test]
fn every_value_of_values_yaml_has_a_row_with_its_comment() {
    // A changed comment and a new value show in the table: a stale README would differ.
    let chart = workspace_root().join(CHART);
    let dir = tempfile::tempdir().unwrap();
    for file in ["values.yaml", "README.tmpl.md"] {
        std::fs::copy(chart.join(file), dir.path().join(file)).unwrap();
    }
    let mut values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    values.push_str("\nextra:\n  # -- A value added after the README was made.\n  limit: 3\n");
    std::fs::write(dir.path().join("values.yaml"), values).unwrap();
    let readme = generate(dir.path());
    assert!(
        readme.contains("| `extra.limit` | int | `3` | A value added after the README was made. |"),
        "{readme}"
    );
    assert_ne!(readme, generate(&chart));
    // Every top-level key of the real values file is in the real README's table.
    let values: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
            .unwrap();
    let readme = generate(&chart);
    for key in values.as_object().unwrap().keys() {
        assert!(readme.contains(&format!("| `{key}")), "{key} missing");
    }
}
