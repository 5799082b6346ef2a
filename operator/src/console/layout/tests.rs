use super::*;

fn edge(from: &str, to: &str) -> EdgeIn {
    EdgeIn {
        from: from.into(),
        to: to.into(),
        label: "1 call".into(),
        observed: true,
        errors: false,
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn at<'a>(g: &'a Graph, name: &str) -> &'a NodeBox {
    g.nodes.iter().find(|n| n.name == name).unwrap()
}

/// (case, declared agents, edges, expected column of each node by name)
type Case = (
    &'static str,
    Vec<&'static str>,
    Vec<EdgeIn>,
    Vec<(&'static str, u32)>,
);

#[test]
fn columns_follow_the_calls() {
    let col = NODE_W + COL_GAP;
    let cases: Vec<Case> = vec![
        (
            "invoice_rpa_chain",
            vec!["email-triage", "pdf-parser", "erp-writer"],
            vec![
                edge("email-triage", "pdf-parser"),
                edge("pdf-parser", "erp-writer"),
            ],
            vec![("email-triage", 0), ("pdf-parser", 1), ("erp-writer", 2)],
        ),
        (
            "fan_out_to_a_tool_not_declared",
            vec!["planner"],
            vec![edge("planner", "search"), edge("planner", "qdrant")],
            vec![("planner", 0), ("search", 1), ("qdrant", 1)],
        ),
        (
            "cycle_does_not_hang",
            vec!["a", "b"],
            vec![edge("a", "b"), edge("b", "a")],
            vec![("a", 0), ("b", 1)],
        ),
        (
            "self_loop",
            vec!["retry"],
            vec![edge("retry", "retry")],
            vec![("retry", 0)],
        ),
        (
            "agents_without_calls",
            vec!["solo", "other"],
            vec![],
            vec![("solo", 0), ("other", 0)],
        ),
    ];
    for (case, declared, edges, expected) in cases {
        let g = layout(&names(&declared), &edges);
        assert_eq!(g.edges.len(), edges.len(), "{case}");
        for (name, column) in expected {
            assert_eq!(at(&g, name).x, PAD + column * col, "{case}: {name}");
        }
        // Everything inside the viewBox.
        for n in &g.nodes {
            assert!(
                n.x + NODE_W <= g.width && n.y + NODE_H <= g.height,
                "{case}: {n:?}"
            );
        }
        for e in &g.edges {
            assert!(
                e.label_x <= g.width + 60 && e.label_y <= g.height,
                "{case}: {e:?}"
            );
        }
        // Declared agents are marked, endpoints seen only in calls are not.
        for n in &g.nodes {
            assert_eq!(n.declared, declared.contains(&n.name.as_str()), "{case}");
        }
    }
}

#[test]
fn back_edges_go_below_the_boxes() {
    let g = layout(&names(&["a", "b"]), &[edge("a", "b"), edge("b", "a")]);
    let lowest = g.nodes.iter().map(|n| n.y + NODE_H).max().unwrap();
    assert!(g.edges[1].label_y > lowest, "{g:?}");
    assert!(g.height >= lowest + BACK_ROOM);
}

#[test]
fn long_names_are_shortened_in_the_box_only() {
    let long = "a-very-long-agent-name-from-otel-service-name";
    let g = layout(&names(&[long]), &[]);
    assert_eq!(g.nodes[0].name, long);
    assert_eq!(g.nodes[0].label.chars().count(), LABEL_CHARS);
    assert!(g.nodes[0].label.ends_with('…'));
}
