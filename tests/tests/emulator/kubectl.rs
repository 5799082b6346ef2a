//! kubectl 1.35 against the emulator: apply, re-apply, get, delete, and the errors it shows.

use super::*;

#[test]
fn other_crates_find_the_binary_cargo_built_for_this_one() {
    let found = binary().unwrap().canonicalize().unwrap();
    // `make test` names the release binary in `KUBE_EMULATOR`; otherwise the one cargo built
    // for this test profile is found next to the test executable.
    let built = match std::env::var_os("KUBE_EMULATOR") {
        Some(p) => std::path::PathBuf::from(p),
        None => Path::new(env!("CARGO_BIN_EXE_kube-emulator")).to_path_buf(),
    }
    .canonicalize()
    .unwrap();
    assert_eq!(found, built);
    let emu = Emulator::start().unwrap();
    assert!(emu.server().starts_with("https://127.0.0.1:"));
    let admin = read_kubeconfig(&emu.admin_kubeconfig()).unwrap();
    let (code, body) = get(&admin, "/version").unwrap();
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["minor"], "35");
    let anonymous = agentlens_tests::emulator_process::KubeconfigParts {
        token: "wrong".into(),
        ..admin
    };
    assert_eq!(get(&anonymous, "/api/v1/pods").unwrap().0, 401);
}

#[test]
fn kubectl_applies_gets_and_deletes_the_crds_and_examples() {
    let emu = start(&[]);
    let Some(k) = Kubectl::find(emu.admin_kubeconfig()) else {
        return;
    };
    let out = k.ok(&["apply", "-f", "crds/manifests/"]);
    assert_eq!(out.matches(" created").count(), 3, "{out}");
    // Every example directory, every object of every file in it (kubectl reads the whole
    // directory): each one created, none refused by the server's validation.
    let root = agentlens_tests::workspace_root();
    let mut examples: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    examples.sort();
    // The three reference systems and the demo, at least.
    assert!(examples.len() >= 4, "{examples:?}");
    for dir in &examples {
        let objects: usize = agentlens_tests::yaml_files(dir)
            .unwrap()
            .iter()
            .map(|f| agentlens_tests::read_documents(f).unwrap().len())
            .sum();
        let example = dir.strip_prefix(&root).unwrap().to_str().unwrap();
        let out = k.ok(&["apply", "-f", example]);
        assert_eq!(out.matches(" created").count(), objects, "{out}");
        assert!(out.contains("agentdeployment.agentlens.dev/"), "{out}");
        // A second apply computes a patch against last-applied and changes nothing.
        let again = k.ok(&["apply", "-f", example]);
        assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");
    }
    let all: Value =
        serde_json::from_str(&k.ok(&["get", "agentdeployments", "-A", "-o", "json"])).unwrap();
    let items = all["items"].as_array().unwrap();
    // One AgentDeployment per example.
    assert_eq!(items.len(), examples.len());
    for item in items {
        assert_eq!(item["metadata"]["generation"], 1);
        assert!(item["metadata"]["uid"].as_str().unwrap().len() == 36);
        assert!(
            item["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }
    let yaml = k.ok(&[
        "get",
        "agd",
        "invoice-rpa",
        "-n",
        "invoice-rpa",
        "-o",
        "yaml",
    ]);
    assert!(
        yaml.contains("kind: AgentDeployment") && yaml.contains("name: invoice-rpa"),
        "{yaml}"
    );
    // The category lists every agentlens kind with the CRDs' printer columns.
    let table = k.ok(&["get", "agentlens", "-n", "invoice-rpa"]);
    for row in [
        "agentdeployment.agentlens.dev/invoice-rpa",
        "model.agentlens.dev/invoice-extractor",
        "evaluation.agentlens.dev/invoice-extractor-3.0.0-golden",
    ] {
        assert!(table.contains(row), "{table}");
    }
    let models = k.ok(&["get", "aimodel", "-n", "invoice-rpa"]);
    assert!(
        models.lines().next().unwrap().contains("VERSION"),
        "{models}"
    );
    assert!(models.contains("3.0.0"), "{models}");
    k.ok(&["delete", "-f", "examples/invoice-rpa"]);
    let gone = k.run(&["get", "agd", "-n", "invoice-rpa", "invoice-rpa"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"));
    let left = k.ok(&["get", "agd", "-A", "-o", "name"]);
    assert_eq!(left.lines().count(), examples.len() - 1, "{left}");
}

#[test]
fn kubectl_apply_shows_the_schema_violations_the_server_finds() {
    let emu = start(&[]);
    let Some(k) = Kubectl::find(emu.admin_kubeconfig()) else {
        return;
    };
    // Before the CRDs: kubectl's own mapping error; before the namespace: the server's 404.
    let no_crd = k.fails(&["apply", "-f", "examples/invoice-rpa/models.yaml"]);
    assert!(
        no_crd.contains("no matches for kind \"Model\" in version \"agentlens.dev/v1alpha1\""),
        "{no_crd}"
    );
    let no_ns = k.fails(&["apply", "-f", "examples/invoice-rpa/deployments.yaml"]);
    assert!(
        no_ns.contains("namespaces \"invoice-rpa\" not found"),
        "{no_ns}"
    );
    k.ok(&["apply", "-f", "crds/manifests/"]);
    let wrong_type = k.fails(&[
        "apply",
        "-f",
        "tests/tests/fixtures/emulator/invalid-model.yaml",
    ]);
    assert!(
        wrong_type.contains(
            "The Model \"broken\" is invalid: spec.version: Invalid value: \"array\": spec.version in body must be of type string: \"array\""
        ),
        "{wrong_type}"
    );
    let unknown = k.fails(&[
        "apply",
        "-f",
        "tests/tests/fixtures/emulator/unknown-field-model.yaml",
    ]);
    assert!(
        unknown.contains("strict decoding error: unknown field \"spec.verison\""),
        "{unknown}"
    );
    // The CRD's CEL rule, evaluated by the emulator with a CEL implementation: the message
    // is the one the generated CRD carries.
    let crd = agentlens_tests::read_documents(
        &agentlens_tests::workspace_root()
            .join("crds/manifests/agentdeployments.agentlens.dev.yaml"),
    )
    .unwrap();
    let rule = &crd[0].value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["configs"]["items"]["x-kubernetes-validations"][0];
    let message = rule["message"].as_str().unwrap();
    let cel = k.fails(&[
        "apply",
        "-f",
        "tests/tests/fixtures/emulator/config-sources-cel.yaml",
    ]);
    for item in [1, 2] {
        assert!(
            cel.contains(&format!(
                "spec.configs[{item}]: Invalid value: \"object\": {message}"
            )),
            "{cel}"
        );
    }
    assert!(!cel.contains("spec.configs[0]"), "{cel}");
    let none = k.run(&["get", "models,agd", "-n", "default", "-o", "name"]);
    assert_eq!(String::from_utf8_lossy(&none.stdout), "");
}
