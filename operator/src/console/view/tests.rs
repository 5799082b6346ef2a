use super::*;

/// The statuses `kubectl agentlens inspect -o json` prints for the real-pods dump and the three
/// examples as observed running (the plugin's golden outputs).
fn fixture(name: &str) -> AgentDeployment {
    let text = match name {
        "invoice-rpa-dump" => include_str!("../../../tests/data/inspect/invoice-rpa-dump.json"),
        "example-invoice-rpa" => {
            include_str!("../../../tests/data/inspect/example-invoice-rpa.json")
        }
        "example-consumer-rag" => {
            include_str!("../../../tests/data/inspect/example-consumer-rag.json")
        }
        "example-finetuned-gpu" => {
            include_str!("../../../tests/data/inspect/example-finetuned-gpu.json")
        }
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn cond(type_: &str, status: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: "R".into(),
        message: format!("{type_} message"),
        last_transition_time: Time("2026-11-27T09:00:00Z".parse().unwrap()),
        observed_generation: None,
    }
}

#[test]
fn conditions_that_are_not_fine_in_plain_words() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (types::GPU_OUT_OF_MEMORY, "True", Some("GPU out of memory")),
        (types::GPU_OUT_OF_MEMORY, "False", None),
        (types::DIGEST_DRIFT, "True", Some("Image digest drift")),
        (
            types::CONFIG_CURRENT,
            "False",
            Some("Pods run a stale config or prompt"),
        ),
        (types::CONFIG_CURRENT, "True", None),
        (
            types::SIDECARS_INJECTED,
            "False",
            Some("Pods without the sidecar"),
        ),
        (
            types::LINEAGE_COMPLETE,
            "False",
            Some("Model lineage incomplete"),
        ),
        (types::READY, "Unknown", Some("Pods not ready")),
        (types::MODEL_ARTIFACT_MISMATCH, "False", None),
        (
            types::AUTO_INSTRUMENTATION_MISMATCH,
            "True",
            Some("Instrumentation built for another Python version"),
        ),
        (types::AUTO_INSTRUMENTATION_MISMATCH, "False", None),
        ("SomethingNew", "False", Some("SomethingNew is not fine")),
    ];
    for (type_, status, title) in cases {
        let p = problems(&[cond(type_, status)]);
        assert_eq!(
            p.first().map(|p| p.title.as_str()),
            *title,
            "{type_}={status}"
        );
        if let Some(p) = p.first() {
            assert_eq!(p.detail, format!("{type_} message"));
            assert_eq!(p.since, "2026-11-27T09:00:00Z");
        }
    }
}

/// (fixture, problems in plain words, maturity line, edges drawn)
#[test]
fn system_views_of_the_observed_examples() {
    let cases: &[(&str, &[&str], &str, usize)] = &[
        (
            "invoice-rpa-dump",
            &[
                "Pods not ready",
                "Pods without the sidecar",
                "Models run without a passed pre-deployment evaluation",
                "Image digest drift",
                "Below the maturity target",
            ],
            "level 1 (score 33 / 100), target 3 not met",
            2,
        ),
        ("example-finetuned-gpu", &[], "level 4 (score 100 / 100)", 0),
        (
            "example-consumer-rag",
            &["Below the maturity target"],
            "level 3 (score 87 / 100)",
            2,
        ),
    ];
    for (name, titles, maturity, edges) in cases {
        let ad = fixture(name);
        let s = ad.status.as_ref().unwrap();
        let v = system(&ad, &Facts::default());
        assert_eq!(
            v.problems
                .iter()
                .map(|p| p.title.as_str())
                .collect::<Vec<_>>(),
            *titles,
            "{name}"
        );
        assert!(
            v.maturity.as_deref().unwrap().starts_with(maturity),
            "{name}: {:?}",
            v.maturity
        );
        assert_eq!(v.edges.len(), *edges, "{name}");
        assert_eq!(
            v.graph.as_ref().map_or(0, |g| g.edges.len()),
            *edges,
            "{name}"
        );
        // Every image and model digest in full, every check once, failing ones first.
        assert_eq!(
            v.images
                .iter()
                .map(|i| i.digest.clone())
                .collect::<Vec<_>>(),
            s.images
                .iter()
                .map(|i| i.digest.clone().unwrap_or_else(|| "-".into()))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            v.models
                .iter()
                .map(|m| m.digest.clone())
                .collect::<Vec<_>>(),
            s.models
                .iter()
                .map(|m| m.digest.clone().unwrap_or_else(|| "-".into()))
                .collect::<Vec<_>>()
        );
        let m = s.maturity.as_ref().unwrap();
        assert_eq!(v.checks.len(), m.checks.len());
        let first_pass = v
            .checks
            .iter()
            .position(|c| c.state != "fail")
            .unwrap_or(v.checks.len());
        assert!(
            v.checks[first_pass..].iter().all(|c| c.state != "fail"),
            "{name}"
        );
        assert_eq!(
            v.checks.iter().filter(|c| c.state == "fail").count(),
            m.checks
                .iter()
                .filter(|c| c.applicable && !c.passed)
                .count()
        );
        assert_eq!(v.last_change, when(&last_change(s).unwrap()));
    }
}

#[test]
fn declared_talks_to_without_calls_is_drawn_dashed() {
    // The real-pods dump declares email-triage → pdf-parser → sap-writer and saw no calls.
    let ad = fixture("invoice-rpa-dump");
    let v = system(&ad, &Facts::default());
    let g = v.graph.unwrap();
    assert!(g.edges.iter().all(|e| !e.observed));
    assert_eq!(v.edges[0].calls, "-");
    // The consumer-rag example saw calls on one edge: solid, with its counts.
    let ad = fixture("example-consumer-rag");
    let s = ad.status.as_ref().unwrap();
    let v = system(&ad, &Facts::default());
    let observed: Vec<_> = v
        .graph
        .unwrap()
        .edges
        .into_iter()
        .filter(|e| e.observed)
        .collect();
    assert_eq!(observed.len(), s.agent_graph.len());
    assert_eq!(v.edges[0].calls, count(s.agent_graph[0].calls));
    assert!(v.graph_desc.contains(&s.agent_graph[0].from));
}

#[test]
fn lineage_uses_the_models_when_visible_else_the_status_chain() {
    let ad = fixture("example-finetuned-gpu");
    let s = ad.status.as_ref().unwrap();
    // Without Model objects: the status's chain, labels only.
    let v = system(&ad, &Facts::default());
    let fine_tuned = v.models.iter().find(|m| m.lineage.len() > 1).unwrap();
    let status_chain = &s
        .models
        .iter()
        .find(|m| m.name == fine_tuned.name)
        .unwrap()
        .lineage;
    assert_eq!(
        &fine_tuned
            .lineage
            .iter()
            .map(|l| l.label.clone())
            .collect::<Vec<_>>(),
        status_chain
    );
    assert!(fine_tuned.lineage.iter().all(|l| l.datasets.is_empty()));
}

#[test]
fn numbers_read_like_numbers() {
    for (n, text) in [
        (0, "0"),
        (999, "999"),
        (1204, "1,204"),
        (1_000_000, "1,000,000"),
    ] {
        assert_eq!(count(n), text);
    }
    assert_eq!(seconds(Some(2.1)), "2.100 s");
    assert_eq!(seconds(None), "-");
}

/// (fixture, token rows: model, requests, input, output). The examples with OTLP on carry the
/// two models of the OTLP fixture on two pods each; the GPU example has OTLP off and the
/// real-pods dump has no snapshot: runtime figures, but no token rows.
#[test]
fn token_rows_of_the_observed_examples() {
    type Rows = &'static [(&'static str, &'static str, &'static str, &'static str)];
    let two_models: Rows = &[
        ("claude-3-5-sonnet", "6", "4,800", "1,200"),
        ("gpt-4o-mini-2024-07-18", "6", "720", "180"),
    ];
    let cases: &[(&str, Rows)] = &[
        ("invoice-rpa-dump", &[]),
        ("example-finetuned-gpu", &[]),
        ("example-consumer-rag", two_models),
        ("example-invoice-rpa", two_models),
    ];
    for (name, want) in cases {
        let ad = fixture(name);
        let s = ad.status.as_ref().unwrap();
        let v = system(&ad, &Facts::default());
        let r = v
            .runtime
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: runtime"));
        let got: Vec<(&str, &str, &str, &str)> = r
            .tokens
            .iter()
            .map(|t| {
                (
                    t.model.as_str(),
                    t.requests.as_str(),
                    t.input.as_str(),
                    t.output.as_str(),
                )
            })
            .collect();
        assert_eq!(got, *want, "{name}");
        // The status's order (most tokens first), one row per model.
        let models: Vec<&str> = s
            .runtime
            .as_ref()
            .unwrap()
            .tokens
            .iter()
            .map(|t| t.model.as_str())
            .collect();
        assert_eq!(
            got.iter().map(|t| t.0).collect::<Vec<_>>(),
            models,
            "{name}"
        );
    }
}
