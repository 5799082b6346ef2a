//! The generated CRDs: what `kubectl explain` and `kubectl get` show, what the API server
//! enforces, and that the schema is structural (the API server rejects a CRD otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentlens_crds::manifests::crds;
use agentlens_tests::crd_schema::{CrdValidators, walk_properties};
use agentlens_tests::{read_documents, workspace_root};
use serde_json::{Value, json};

fn schema_of(kind: &str) -> Value {
    let crd = crds()
        .unwrap()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn every_field_has_a_description_for_kubectl_explain() {
    let mut missing = Vec::new();
    for kind in ["AgentDeployment", "Model", "Evaluation"] {
        walk_properties(&schema_of(kind), kind, &mut |path, node| {
            let described = node
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.trim().is_empty());
            // Fields of embedded Kubernetes types (LabelSelector, ResourceRequirements,
            // Condition) carry upstream descriptions; a few upstream leaves have none.
            let upstream = path.contains(".selector.")
                || path.contains(".resources.")
                || path.contains(".conditions[]");
            if !described && !upstream {
                missing.push(path.to_string());
            }
        });
    }
    assert!(
        missing.is_empty(),
        "fields without description:\n{}",
        missing.join("\n")
    );
}

#[test]
fn schemas_are_structural() {
    // Every node states its type (or is int-or-string / preserve-unknown), and no $ref or
    // type-bearing anyOf/oneOf appear: the API server's structural-schema rules.
    fn check(node: &Value, path: &str, errors: &mut Vec<String>) {
        let Some(obj) = node.as_object() else { return };
        let exempt = obj.contains_key("x-kubernetes-int-or-string")
            || obj.contains_key("x-kubernetes-preserve-unknown-fields");
        if !exempt && !obj.contains_key("type") {
            errors.push(format!("{path}: no type"));
        }
        if obj.contains_key("$ref") || obj.contains_key("definitions") || obj.contains_key("$defs")
        {
            errors.push(format!("{path}: $ref/definitions"));
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
                if branch.get("type").is_some() && !exempt {
                    errors.push(format!("{path}: {key} branch with a type"));
                }
            }
        }
        for (k, child) in obj {
            match k.as_str() {
                "properties" => {
                    for (name, c) in child.as_object().unwrap() {
                        check(c, &format!("{path}.{name}"), errors);
                    }
                }
                "items" => check(child, &format!("{path}[]"), errors),
                "additionalProperties" if child.is_object() => {
                    check(child, &format!("{path}{{}}"), errors)
                }
                _ => {}
            }
        }
    }
    let mut errors = Vec::new();
    for kind in ["AgentDeployment", "Model", "Evaluation"] {
        check(&schema_of(kind), kind, &mut errors);
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn names_scope_and_printer_columns() {
    let crds = crds().unwrap();
    let columns = |kind: &str| -> Vec<(String, String)> {
        let crd = crds.iter().find(|c| c.spec.names.kind == kind).unwrap();
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["agentlens".to_string()][..])
        );
        let v = &crd.spec.versions[0];
        assert!(v.served && v.storage);
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{kind}: status subresource"
        );
        v.additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.clone(), c.json_path.clone()))
            .collect()
    };
    let short = |kind: &str| {
        crds.iter()
            .find(|c| c.spec.names.kind == kind)
            .unwrap()
            .spec
            .names
            .short_names
            .clone()
            .unwrap()
    };
    assert_eq!(short("AgentDeployment"), ["agd"]);
    assert_eq!(short("Model"), ["aimodel"]);
    assert_eq!(short("Evaluation"), ["aieval"]);
    let names = |cols: Vec<(String, String)>| cols.into_iter().map(|c| c.0).collect::<Vec<_>>();
    assert_eq!(
        names(columns("AgentDeployment")),
        ["Ready", "Injected", "Maturity", "GPU-OOM", "Age"]
    );
    assert_eq!(
        names(columns("Model")),
        ["Version", "Base", "Lineage", "Age"]
    );
    assert_eq!(
        names(columns("Evaluation")),
        ["Suite", "Phase", "Passed", "Age"]
    );
    // Printer columns must point at fields that exist in the schema.
    for kind in ["AgentDeployment", "Model", "Evaluation"] {
        let schema = schema_of(kind);
        for (name, path) in columns(kind) {
            if path.starts_with(".metadata") {
                continue;
            }
            // `.a.b[?(@.type=="Ready")].c` -> segments a, b[], c
            let mut plain = String::new();
            let mut depth = 0;
            for ch in path.chars() {
                match ch {
                    '[' => {
                        depth += 1;
                        if depth == 1 {
                            plain.push('[');
                        }
                    }
                    ']' => {
                        depth -= 1;
                        if depth == 0 {
                            plain.push(']');
                        }
                    }
                    c if depth == 0 => plain.push(c),
                    _ => {}
                }
            }
            let mut node = &schema;
            for seg in plain.trim_start_matches('.').split('.') {
                let field = seg.split('[').next().unwrap();
                node = &node["properties"][field];
                if seg.contains('[') {
                    node = &node["items"];
                }
                assert!(
                    !node.is_null(),
                    "{kind} column {name}: {path} not in schema"
                );
            }
        }
    }
}

/// A real example object, a change to it, and whether the API server must refuse it.
struct Case {
    name: &'static str,
    file: &'static str,
    kind: &'static str,
    mutate: fn(&mut Value),
}

const REJECTED: &[Case] = &[
    Case {
        name: "unknown_spec_field_is_refused",
        file: "invoice-rpa/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["replicas"] = json!(3),
    },
    Case {
        name: "typo_in_nested_field_is_refused",
        file: "invoice-rpa/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["agents"][0]["talkTo"] = json!(["pdf-parser"]),
    },
    Case {
        name: "missing_selector",
        file: "invoice-rpa/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| {
            v["spec"].as_object_mut().unwrap().remove("selector");
        },
    },
    Case {
        name: "agent_name_not_a_dns_label",
        file: "invoice-rpa/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["agents"][0]["name"] = json!("Email_Triage"),
    },
    Case {
        name: "maturity_level_above_4",
        file: "invoice-rpa/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["maturity"]["targetLevel"] = json!(7),
    },
    Case {
        name: "guardrail_stage_not_in_enum",
        file: "invoice-rpa/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["guardrails"][0]["stage"] = json!("egress"),
    },
    Case {
        name: "memory_pressure_ratio_above_1",
        file: "finetuned-gpu/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["sidecar"]["gpu"]["memoryPressureRatio"] = json!(95),
    },
    Case {
        name: "proxy_port_out_of_range",
        file: "consumer-rag/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["sidecar"]["proxy"]["targetPort"] = json!(70000),
    },
    Case {
        name: "autoinstrument_provider_not_in_enum",
        file: "consumer-rag/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| {
            v["spec"]["sidecar"]["otlp"]["autoInstrument"] = json!({"provider": "langfuse"})
        },
    },
    Case {
        name: "autoinstrument_language_not_in_enum_on_an_agent",
        file: "consumer-rag/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| v["spec"]["agents"][0]["autoInstrument"] = json!({"language": "ruby"}),
    },
    Case {
        name: "more_than_50_agents",
        file: "invoice-rpa/agentdeployment.yaml",
        kind: "AgentDeployment",
        mutate: |v| {
            let a = v["spec"]["agents"][0].clone();
            v["spec"]["agents"] = json!(vec![a; 51]);
        },
    },
    Case {
        name: "artifact_digest_uppercase_hex",
        file: "finetuned-gpu/models.yaml",
        kind: "Model",
        mutate: |v| v["spec"]["artifact"]["digest"] = json!(format!("sha256:{}", "AB".repeat(32))),
    },
    Case {
        name: "artifact_digest_md5",
        file: "finetuned-gpu/models.yaml",
        kind: "Model",
        mutate: |v| v["spec"]["artifact"]["digest"] = json!("md5:0cc175b9c0f1b6a831c399e269772661"),
    },
    Case {
        name: "artifact_digest_too_short",
        file: "finetuned-gpu/models.yaml",
        kind: "Model",
        mutate: |v| v["spec"]["artifact"]["digest"] = json!("sha256:abc123"),
    },
    Case {
        name: "version_as_number",
        file: "finetuned-gpu/models.yaml",
        kind: "Model",
        mutate: |v| v["spec"]["version"] = json!(1.0),
    },
    Case {
        name: "missing_version",
        file: "finetuned-gpu/models.yaml",
        kind: "Model",
        mutate: |v| {
            v["spec"].as_object_mut().unwrap().remove("version");
        },
    },
    Case {
        name: "phase_not_in_enum",
        file: "invoice-rpa/evaluations.yaml",
        kind: "Evaluation",
        mutate: |v| v["spec"]["phase"] = json!("Offline"),
    },
    Case {
        name: "missing_passed",
        file: "invoice-rpa/evaluations.yaml",
        kind: "Evaluation",
        mutate: |v| {
            v["spec"].as_object_mut().unwrap().remove("passed");
        },
    },
    Case {
        name: "completed_at_not_a_timestamp",
        file: "invoice-rpa/evaluations.yaml",
        kind: "Evaluation",
        mutate: |v| v["spec"]["completedAt"] = json!("yesterday"),
    },
    Case {
        name: "result_value_as_string",
        file: "invoice-rpa/evaluations.yaml",
        kind: "Evaluation",
        mutate: |v| v["spec"]["results"][0]["value"] = json!("0.97"),
    },
];

#[test]
fn the_schema_refuses_what_the_api_server_must_refuse() {
    let validators = CrdValidators::generate().unwrap();
    let mut not_refused = Vec::new();
    for case in REJECTED {
        let path = workspace_root().join("examples").join(case.file);
        let doc = read_documents(&path)
            .unwrap()
            .into_iter()
            .find(|d| d.kind() == case.kind)
            .unwrap();
        assert!(
            validators.violations(&doc.value).is_empty(),
            "{}: fixture itself invalid",
            case.name
        );
        let mut v = doc.value.clone();
        (case.mutate)(&mut v);
        if validators.violations(&v).is_empty() {
            not_refused.push(case.name);
        }
    }
    assert!(
        not_refused.is_empty(),
        "accepted but must be refused: {not_refused:?}"
    );
}

/// Every CEL rule of every generated CRD, compiled and evaluated by the `cel` crate (cel-rust,
/// as `kube-emulator` evaluates them) on values written from the rule's message: one that must
/// pass and ones that must be refused. A new rule without cases here fails the test.
#[test]
fn every_cel_rule_accepts_and_refuses_what_its_message_says() {
    use agentlens_tests::emulator::cel::{evaluate, rules};
    // (kind, message, values that pass, values that are refused)
    let cases: [(&str, &str, Vec<Value>, Vec<Value>); 1] = [(
        "AgentDeployment",
        "set exactly one of configMap and secret",
        vec![
            json!({"configMap": "settings"}),
            json!({"secret": "credentials"}),
        ],
        vec![
            json!({"configMap": "settings", "secret": "credentials"}),
            json!({}),
        ],
    )];
    let mut seen = 0;
    for kind in ["AgentDeployment", "Model", "Evaluation"] {
        for rule in rules(&schema_of(kind), kind).unwrap() {
            seen += 1;
            let (_, _, pass, refuse) = cases
                .iter()
                .find(|(k, m, _, _)| *k == kind && *m == rule.message)
                .unwrap_or_else(|| panic!("{kind}: no cases for rule {:?}", rule.rule));
            for v in pass {
                assert_eq!(evaluate(&rule.rule, v), Ok(true), "{}: {v}", rule.rule);
            }
            for v in refuse {
                assert_eq!(evaluate(&rule.rule, v), Ok(false), "{}: {v}", rule.rule);
            }
        }
    }
    assert_eq!(seen, cases.len(), "every case belongs to a rule");
}

#[test]
fn auto_instrument_settings_are_accepted_per_system_and_per_agent() {
    let validators = CrdValidators::generate().unwrap();
    let path = workspace_root().join("examples/consumer-rag/agentdeployment.yaml");
    let doc = read_documents(&path)
        .unwrap()
        .into_iter()
        .find(|d| d.kind() == "AgentDeployment")
        .unwrap();
    let mut v = doc.value.clone();
    v["spec"]["sidecar"]["otlp"]["autoInstrument"] =
        json!({"language": "python", "provider": "openlit", "image": "registry.local/openlit:1"});
    v["spec"]["agents"][0]["autoInstrument"] = json!({"provider": "openinference"});
    v["spec"]["agents"][1]["autoInstrument"] = json!({"enabled": false});
    let violations = validators.violations(&v);
    assert!(violations.is_empty(), "{violations:?}");
}
