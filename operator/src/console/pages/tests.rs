use super::*;
use crate::console::facts::{Facts, Failure};
use agentlens_crds::AgentDeployment;

fn hostile() -> AgentDeployment {
    let mut ad: AgentDeployment = serde_json::from_str(include_str!(
        "../../../tests/data/inspect/example-consumer-rag.json"
    ))
    .unwrap();
    let s = ad.status.as_mut().unwrap();
    // What a user controls: a prompt's ConfigMap key, a condition message built from names,
    // an agent name seen in spans, an evaluation suite.
    s.prompts[0].key = Some("<script>alert('prompt')</script>".into());
    s.conditions[0].status = "False".into();
    s.conditions[0].message = "pod <img src=x onerror=alert(1)> not ready".into();
    s.agent_graph[0].to = "\"><script>alert('agent')</script>".into();
    s.evaluations[0].suite = "</td><script>alert('suite')</script>".into();
    ad
}

fn snapshot(ad: AgentDeployment) -> Snapshot {
    Snapshot {
        version: 7,
        facts: Facts {
            systems: vec![ad],
            hidden: vec!["models.agentlens.dev in namespace <b>x</b> are not visible".into()],
            ..Facts::default()
        },
        source: SourceState {
            label: "file <dump>.yaml".into(),
            changed_at: Some(Time("2026-11-27T09:00:00Z".parse().unwrap())),
            failing: Some(Failure {
                since: Time("2026-11-27T09:05:00Z".parse().unwrap()),
                message: "<script>alert('error')</script>".into(),
                last_good: None,
            }),
        },
    }
}

#[test]
fn everything_from_the_cluster_is_text_never_markup() {
    let now = Time("2026-11-27T10:00:00Z".parse().unwrap());
    let snap = snapshot(hostile());
    let ad = &snap.facts.systems[0];
    let (ns, name) = (
        ad.metadata.namespace.clone().unwrap(),
        ad.metadata.name.clone().unwrap(),
    );
    for mode in [Mode::Served { refresh_seconds: 5 }, Mode::Exported] {
        let pages = [
            overview_page(&snap, mode, &now).unwrap(),
            system_page(&snap, &ns, &name, mode, &now).unwrap().unwrap(),
            missing_page(&snap, "<ns>", "<name>", mode, &now).unwrap(),
        ];
        for page in pages {
            assert!(!page.contains("<script>alert"), "{page}");
            assert!(!page.contains("<img src=x"), "{page}");
            assert!(!page.contains("<b>x</b>"), "{page}");
            assert_eq!(
                page.contains("<script src=\"/console.js\""),
                mode != Mode::Exported
            );
        }
        let system = system_page(&snap, &ns, &name, mode, &now).unwrap().unwrap();
        // Shown, as text.
        // (askama writes `<` and `>` as numeric references)
        assert!(
            system.contains("&#60;script&#62;alert(&#39;prompt&#39;)&#60;/script&#62;"),
            "{system}"
        );
        assert!(system.contains("&#60;img src=x onerror=alert(1)&#62;"));
    }
}

#[test]
fn pages_have_landmarks_a_skip_link_and_the_version() {
    let now = Time("2026-11-27T10:00:00Z".parse().unwrap());
    let snap = snapshot(hostile());
    let page = overview_page(&snap, Mode::Served { refresh_seconds: 5 }, &now).unwrap();
    for part in [
        "<html lang=\"en\" data-version=\"7\">",
        "<a class=\"skip\" href=\"#main\">",
        "<main id=\"main\"",
        "<header",
        "<nav aria-label=\"Breadcrumb\">",
        "<th scope=\"col\">",
        "role=\"status\"",
        "Cannot read the source since 2026-11-27T09:05:00Z",
        "read every 5 s",
    ] {
        assert!(page.contains(part), "{part}");
    }
}

#[test]
fn the_stylesheet_hash_in_the_policy_is_the_inlined_one() {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let csp = crate::console::server::content_security_policy();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
}

#[test]
fn runtime_shows_tokens_per_model_in_a_table_or_says_none_were_counted() {
    let now = Time("2026-11-27T10:00:00Z".parse().unwrap());
    // (fixture, a token table, what it must contain)
    let cases: &[(&str, bool, &[&str])] = &[
        (
            include_str!("../../../tests/data/inspect/example-consumer-rag.json"),
            true,
            &[
                "<th scope=\"col\" class=\"num\">Input tokens</th>",
                "<th scope=\"row\" data-label=\"Model\"><span class=\"mono\">claude-3-5-sonnet</span></th>",
                "<td class=\"num\" data-label=\"Input tokens\">4,800</td>",
                "<td class=\"num\" data-label=\"Output tokens\">1,200</td>",
            ],
        ),
        (
            include_str!("../../../tests/data/inspect/example-finetuned-gpu.json"),
            false,
            &["LLM tokens: none counted"],
        ),
    ];
    for (text, table, parts) in cases {
        let ad: AgentDeployment = serde_json::from_str(text).unwrap();
        let (ns, name) = (
            ad.metadata.namespace.clone().unwrap(),
            ad.metadata.name.clone().unwrap(),
        );
        let snap = snapshot(ad);
        for mode in [Mode::Served { refresh_seconds: 5 }, Mode::Exported] {
            let page = system_page(&snap, &ns, &name, mode, &now).unwrap().unwrap();
            assert_eq!(
                page.contains("<caption>LLM requests and tokens per model"),
                *table,
                "{name}"
            );
            assert_eq!(!page.contains("LLM tokens: none counted"), *table, "{name}");
            for part in *parts {
                assert!(page.contains(part), "{name}: {part}");
            }
        }
    }
}
