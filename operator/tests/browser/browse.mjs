// Opens pages in headless Chromium through the DevTools protocol (puppeteer-core) and reports,
// per page: console errors, failed or foreign requests, axe-core violations (light and dark),
// whether the first Tab reaches the skip link, horizontal overflow on a phone, the text of
// <main>, and optional screenshots. A page with `update` has its source file rewritten after
// the skip link moved focus to <main>; the script waits for the live page to show the change
// and reports where focus is then. Input: a JSON file (argv[2]); output: JSON on stdout.
//   {"chromium": PATH, "modules": DIR with node_modules, "pages": [{"name", "url",
//    "offline": bool, "screenshot": PATH?, "update": {"path", "content"}?}]}
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const require = createRequire(input.modules.replace(/\/?$/, "/"));
const { default: puppeteer } = await import(pathToFileURL(require.resolve("puppeteer-core")).href);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const browser = await puppeteer.launch({
  executablePath: input.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});

async function axe(page) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }));
  return r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
  }));
}

const results = [];
for (const p of input.pages) {
  const page = await browser.newPage();
  const out = { name: p.name, url: p.url, consoleErrors: [], failedRequests: [], foreignRequests: [] };
  let recording = true;
  page.on("console", (m) => { if (recording && m.type() === "error") out.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => { if (recording) out.consoleErrors.push(String(e)); });
  page.on("requestfailed", (r) => {
    if (recording) out.failedRequests.push(`${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => {
    if (recording && r.status() >= 400) out.failedRequests.push(`${r.url()} HTTP ${r.status()}`);
  });
  if (p.offline) {
    // The exported report must not reach anything: every request but file: and data: is
    // recorded and refused.
    await page.setRequestInterception(true);
    page.on("request", (r) => {
      const u = r.url();
      if (u.startsWith("file:") || u.startsWith("data:")) { r.continue(); }
      else { out.foreignRequests.push(u); r.abort(); }
    });
  }
  await page.setViewport({ width: 1280, height: 900 });
  const t0 = Date.now();
  const resp = await page.goto(p.url, { waitUntil: "load" });
  out.loadMs = Date.now() - t0;
  out.status = resp ? resp.status() : 0;
  out.title = await page.title();
  out.mainText = await page.evaluate(() => document.querySelector("main")?.innerText ?? "");
  if (p.screenshot) await page.screenshot({ path: p.screenshot, fullPage: true });
  // Keyboard: the first Tab lands on the skip link, Enter moves focus to <main>.
  await page.keyboard.press("Tab");
  out.firstTab = await page.evaluate(() => document.activeElement?.textContent ?? "");
  await page.keyboard.press("Enter");
  out.afterSkip = await page.evaluate(() => document.activeElement?.id ?? "");
  if (p.update) {
    const mainText = () => document.querySelector("main")?.innerText ?? "";
    const before = await page.evaluate(mainText);
    writeFileSync(p.update.path, p.update.content);
    try {
      await page.waitForFunction(
        (b) => (document.querySelector("main")?.innerText ?? "") !== b,
        { timeout: 30000, polling: 200 }, before);
      out.updatedText = await page.evaluate(mainText);
      out.afterUpdate = await page.evaluate(() => document.activeElement?.id ?? "");
    } catch (e) {
      out.updatedText = "";
      out.afterUpdate = `no update shown: ${e}`;
    }
  }
  out.axeLight = await axe(page);
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
  out.axeDark = await axe(page);
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  out.phoneOverflowPx = await page.evaluate(
    () => document.documentElement.scrollWidth - window.innerWidth);
  recording = false;
  await page.close();
  results.push(out);
}
await browser.close();
process.stdout.write(JSON.stringify(results));
