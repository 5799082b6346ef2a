#!/usr/bin/env python3
"""Generates charts/agentlens/README.md from the chart's values.yaml comments.

    scripts/chart-readme.py [--chart DIR] [--stdout]

The chart README is charts/agentlens/README.tmpl.md with its `@@VALUES@@` line replaced by a
table of every value: its key, type, default and the `# --` comment above it (helm-docs'
convention: a comment block starting with `# --` describes the key that follows it; a mapping
with such a comment is documented as a whole, others are walked to their leaves). helm-docs is
a Go binary that no package registry reachable here carries, so this is a small generator with
Python's standard library only (no YAML library: it reads values.yaml's own layout, block
mappings and lists with scalar or flow values, which is what a chart's values file holds).
`make chart-readme` runs it; tests/tests/chart_readme.rs fails when the README is stale.
"""

import argparse
import json
import pathlib
import re
import sys

MARKER = "@@VALUES@@"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-/\"']+):(?: +(?P<value>.*))?$")
ITEM = re.compile(r"^(?P<indent> *)- ?(?P<value>.*)$")


class ValuesError(Exception):
    """values.yaml has a line this reader does not understand."""


def scalar(text):
    """The value of a YAML scalar or flow collection written on one line."""
    text = strip_comment(text).strip()
    if text == "":
        return None
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if text[0] in "\"'":
        return text[1:-1]
    if text[0] in "[{":
        try:
            return json.loads(re.sub(r"([A-Za-z_][\w.\-/]*)", r'"\1"', text))
        except json.JSONDecodeError:
            return text
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def strip_comment(text):
    """`value  # comment` -> `value`, leaving `#` inside quotes alone."""
    quote = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text


def parse(lines):
    """values.yaml as rows (path, value, description) in file order, and as a dict."""
    rows = []
    stack = []  # (indent, key, node) of the open mappings
    root = {}
    pending = None  # description lines of a `# --` block, waiting for their key
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\n")
        stripped = line.strip()
        i += 1
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        if stripped == "" or stripped == "---":
            pending = None if stripped == "---" else pending
            continue
        m = KEY.match(line)
        if not m:
            raise ValuesError(f"line {i}: {line!r}")
        indent = len(m.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][2] if stack else root
        key = m.group("key").strip("\"'")
        path = [s[1] for s in stack] + [key]
        description = " ".join(p for p in pending if p) if pending is not None else None
        pending = None
        value_text = m.group("value")
        if value_text is not None and strip_comment(value_text).strip() != "":
            value = scalar(value_text)
            parent[key] = value
            rows.append((path, value, description))
            continue
        # A block: a list when the next content line is an item, a mapping otherwise.
        j = i
        while j < len(lines) and (lines[j].strip() == "" or lines[j].strip().startswith("#")):
            j += 1
        first = ITEM.match(lines[j]) if j < len(lines) else None
        if first and len(first.group("indent")) >= indent:
            items, i = list_items(lines, j, len(first.group("indent")))
            parent[key] = items
            rows.append((path, items, description))
            continue
        node = {}
        parent[key] = node
        stack.append((indent, key, node))
        rows.append((path, node, description))
    return rows, root


def list_items(lines, j, dash):
    """The items of a block list whose dashes are at column `dash`, from line `j`: scalars, or
    mappings read like the file itself. Returns them and the line after the list."""
    items = []
    while j < len(lines):
        m = ITEM.match(lines[j])
        if not m or len(m.group("indent")) != dash:
            break
        block = [" " * (dash + 2) + m.group("value")]
        j += 1
        while j < len(lines):
            line = lines[j]
            indent = len(line) - len(line.lstrip(" "))
            if line.strip() and indent <= dash:
                break
            block.append(line)
            j += 1
        if KEY.match(block[0]):
            _, item = parse([b[dash + 2:] if len(b) > dash + 2 else b.strip() for b in block])
            items.append(item)
        else:
            items.append(scalar(m.group("value")))
    return items, j


def type_of(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"


def shown(value):
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(", ", ": "))


def cell(text):
    return text.replace("|", "\\|")


def table(rows):
    out = ["| key | type | default | description |", "|---|---|---|---|"]
    documented_maps = []
    for path, value, description in rows:
        if any(path[: len(p)] == p for p in documented_maps):
            continue  # inside a mapping documented as a whole
        if isinstance(value, dict) and value and description is None:
            continue  # walked to its leaves
        if isinstance(value, dict) and description is not None:
            documented_maps.append(path)
        key = ".".join(path)
        out.append(
            f"| `{cell(key)}` | {type_of(value)} | `{cell(shown(value))}` | {cell(description or '')} |"
        )
    return "\n".join(out) + "\n"


def render(chart):
    template = (chart / "README.tmpl.md").read_text()
    if MARKER not in template:
        raise ValuesError(f"{chart / 'README.tmpl.md'} has no {MARKER} line")
    rows, _ = parse((chart / "values.yaml").read_text().splitlines())
    return template.replace(MARKER + "\n", table(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = pathlib.Path(__file__).resolve().parent.parent
    parser.add_argument("--chart", type=pathlib.Path, default=root / "charts" / "agentlens")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing README.md")
    args = parser.parse_args()
    try:
        readme = render(args.chart)
    except (OSError, ValuesError) as e:
        print(f"chart-readme: {e}", file=sys.stderr)
        return 2
    if args.stdout:
        sys.stdout.write(readme)
    else:
        (args.chart / "README.md").write_text(readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
