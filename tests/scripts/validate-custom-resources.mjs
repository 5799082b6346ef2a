// Validates third-party custom resources against their upstream CRD schemas, compiled in the
// npm packages @kubernetes-models/prometheus-operator and @kubernetes-models/cert-manager
// (installed by `make tools` into .tools/node). Usage:
//   node validate-custom-resources.mjs NODE_PREFIX < objects.jsonl
// One JSON object per line; prints PASS or ERROR per object; exits 1 on any error.
import { createInterface } from "node:readline";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const prefix = process.argv[2];
if (!prefix) {
  console.error("usage: node validate-custom-resources.mjs NODE_PREFIX < objects.jsonl");
  process.exit(2);
}
// The packages' ES modules by path (their "exports" resolve only from a script beside them).
const models = join(prefix, "node_modules", "@kubernetes-models");
const groups = {
  "monitoring.coreos.com/v1": (kind) =>
    join(models, "prometheus-operator", "monitoring.coreos.com", "v1", `${kind}.js`),
  "cert-manager.io/v1": (kind) => join(models, "cert-manager", "cert-manager.io", "v1", `${kind}.mjs`),
};
let failed = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const obj = JSON.parse(line);
  const where = `${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}`;
  const path = groups[obj.apiVersion];
  if (!path || !/^[A-Za-z]+$/.test(obj.kind ?? "")) {
    console.log(`ERROR ${where}: no schema for ${obj.apiVersion}`);
    failed++;
    continue;
  }
  let Model;
  try {
    Model = (await import(pathToFileURL(path(obj.kind)).href))[obj.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    console.log(`ERROR ${where}: no schema for kind ${obj.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`PASS ${where}`);
  } catch (e) {
    console.log(`ERROR ${where}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
