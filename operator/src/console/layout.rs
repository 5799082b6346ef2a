//! Geometry of the agent call graph, computed here so the page is a plain SVG (no script, no
//! layout engine in the browser): layers by longest path from the callers, rows ordered by the
//! callers' rows, cubic edges between the boxes, edges that go back drawn below.

use std::collections::BTreeMap;

/// Width of a node box.
pub const NODE_W: u32 = 176;
/// Height of a node box.
pub const NODE_H: u32 = 40;
const COL_GAP: u32 = 150;
const ROW_GAP: u32 = 44;
const PAD: u32 = 16;
/// Room below the boxes for edges that point back to an earlier layer.
const BACK_ROOM: u32 = 56;
/// Characters of a name shown in a box (the full name is in the box's `<title>`).
const LABEL_CHARS: usize = 22;

/// An edge to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeIn {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Short text beside the edge (`1,204 calls · 3 errors`).
    pub label: String,
    /// Whether calls were observed (else it is only declared in `talksTo`).
    pub observed: bool,
    /// Whether some calls failed.
    pub errors: bool,
}

/// A positioned node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBox {
    /// Full name.
    pub name: String,
    /// The name as it fits in the box.
    pub label: String,
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Whether the AgentDeployment declares it as an agent (else only seen in calls: a tool or
    /// an outside service).
    pub declared: bool,
}

/// A positioned edge.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgePath {
    /// SVG path data.
    pub d: String,
    /// Where the label goes.
    pub label_x: u32,
    /// Where the label goes.
    pub label_y: u32,
    /// Label text.
    pub label: String,
    /// `from → to: label`, for the edge's `<title>`.
    pub title: String,
    /// Observed calls (solid) or declared only (dashed).
    pub observed: bool,
    /// Some calls failed.
    pub errors: bool,
}

/// The laid-out graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// viewBox width.
    pub width: u32,
    /// viewBox height.
    pub height: u32,
    /// Boxes.
    pub nodes: Vec<NodeBox>,
    /// Edges.
    pub edges: Vec<EdgePath>,
}

fn label(name: &str) -> String {
    if name.chars().count() <= LABEL_CHARS {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(LABEL_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// Lays out `declared` agents (in their order) and every endpoint of `edges`.
pub fn layout(declared: &[String], edges: &[EdgeIn]) -> Graph {
    // Nodes: the declared agents first, then endpoints in order of appearance.
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut add = |n: &str, names: &mut Vec<String>| -> usize {
        *index.entry(n.to_string()).or_insert_with(|| {
            names.push(n.to_string());
            names.len() - 1
        })
    };
    for d in declared {
        add(d, &mut names);
    }
    let pairs: Vec<(usize, usize)> = edges
        .iter()
        .map(|e| (add(&e.from, &mut names), add(&e.to, &mut names)))
        .collect();
    let n = names.len();

    // Back edges: those closing a cycle in a depth-first walk (in node order).
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, &(f, _)) in pairs.iter().enumerate() {
        out[f].push(i);
    }
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    let mut back = vec![false; pairs.len()];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        // Iterative DFS: (node, next outgoing edge to look at).
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if let Some(&e) = out[v].get(*k) {
                *k += 1;
                let w = pairs[e].1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }

    // Layers: longest path over the forward edges (a DAG now), by relaxation in at most n rounds.
    let mut layer = vec![0usize; n];
    for _ in 0..n {
        let mut changed = false;
        for (i, &(f, t)) in pairs.iter().enumerate() {
            if !back[i] && layer[t] < layer[f] + 1 {
                layer[t] = layer[f] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // Rows: in each layer, by the mean row of the callers already placed, then by node order.
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let mut row = vec![0usize; n];
    let mut per_layer: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (l, placed) in per_layer.iter_mut().enumerate() {
        let mut members: Vec<(u64, usize)> = (0..n)
            .filter(|&v| layer[v] == l)
            .map(|v| {
                let callers: Vec<usize> = pairs
                    .iter()
                    .enumerate()
                    .filter(|(i, (_, t))| *t == v && !back[*i])
                    .map(|(_, (f, _))| row[*f])
                    .collect();
                let mean = if callers.is_empty() {
                    v as u64 * 1000
                } else {
                    callers.iter().sum::<usize>() as u64 * 1000 / callers.len() as u64
                };
                (mean, v)
            })
            .collect();
        members.sort();
        for (r, (_, v)) in members.iter().enumerate() {
            row[*v] = r;
        }
        *placed = members.into_iter().map(|(_, v)| v).collect();
    }
    let rows = per_layer.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let pitch = NODE_H + ROW_GAP;
    let has_back = back.iter().any(|b| *b);
    let width = PAD * 2 + layers as u32 * NODE_W + (layers as u32).saturating_sub(1) * COL_GAP;
    let height = PAD * 2
        + rows * NODE_H
        + rows.saturating_sub(1) * ROW_GAP
        + if has_back { BACK_ROOM } else { 0 };
    // Columns with fewer rows are centred.
    let pos = |v: usize| -> (u32, u32) {
        let l = layer[v];
        let offset = (rows - per_layer[l].len() as u32) * pitch / 2;
        (
            PAD + l as u32 * (NODE_W + COL_GAP),
            PAD + offset + row[v] as u32 * pitch,
        )
    };
    let nodes = (0..n)
        .map(|v| {
            let (x, y) = pos(v);
            NodeBox {
                name: names[v].clone(),
                label: label(&names[v]),
                x,
                y,
                declared: v < declared.len(),
            }
        })
        .collect();
    let bottom = PAD + rows * NODE_H + rows.saturating_sub(1) * ROW_GAP;
    let edges = pairs
        .iter()
        .zip(edges)
        .enumerate()
        .map(|(i, (&(f, t), e))| {
            let (fx, fy) = pos(f);
            let (tx, ty) = pos(t);
            let (d, lx, ly) = if f == t {
                // A loop on the right side of the box.
                let x = fx + NODE_W;
                let y = fy + NODE_H / 2;
                (
                    format!(
                        "M{x} {} C{} {}, {} {}, {x} {}",
                        y - 8,
                        x + 40,
                        y - 30,
                        x + 40,
                        y + 30,
                        y + 8
                    ),
                    x + 44,
                    y + 4,
                )
            } else if back[i] || layer[t] <= layer[f] {
                // Below the boxes, from the caller's bottom to the callee's bottom.
                let (sx, sy) = (fx + NODE_W / 2, fy + NODE_H);
                let (ex, ey) = (tx + NODE_W / 2, ty + NODE_H);
                let low = bottom + BACK_ROOM - 12;
                (
                    format!("M{sx} {sy} C{sx} {low}, {ex} {low}, {ex} {ey}"),
                    (sx + ex) / 2,
                    low - 4,
                )
            } else {
                let (sx, sy) = (fx + NODE_W, fy + NODE_H / 2);
                let (ex, ey) = (tx, ty + NODE_H / 2);
                let mx = (sx + ex) / 2;
                (
                    format!("M{sx} {sy} C{mx} {sy}, {mx} {ey}, {ex} {ey}"),
                    mx,
                    (sy + ey) / 2 - 6,
                )
            };
            EdgePath {
                d,
                label_x: lx,
                label_y: ly,
                label: e.label.clone(),
                title: format!("{} → {}: {}", e.from, e.to, e.label),
                observed: e.observed,
                errors: e.errors,
            }
        })
        .collect();
    Graph {
        width,
        height,
        nodes,
        edges,
    }
}

#[cfg(test)]
mod tests;
