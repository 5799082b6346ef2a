//! `kubectl agentlens console` as a user runs it: served from the invoice-rpa dump and the
//! three example systems as observed running, and exported; the pages carry the status facts,
//! the served and exported pages say the same, the pages follow the file and say when it cannot
//! be read, only loopback is served, and (with Chromium and axe-core from `make tools`) every
//! page opens without console errors or failed requests, offline from `file://` for the export,
//! with no serious or critical accessibility violation in light and dark.
//! `AGENTLENS_SCREENSHOTS_DIR=docs` also writes the README's screenshots
//! (`scripts/console-screenshots.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_crds::AgentDeployment;
use agentlens_operator::console::source::read_file;
use agentlens_operator::console::view::{Links, count, problem_title};
use agentlens_operator::status::conditions::is_problem;
use agentlens_tests::tools::{browser_modules, chromium};
use serde_json::Value;

mod observed;
use observed::systems::systems;

const DEADLINE: Duration = Duration::from_secs(60);

/// The dumps the console is run on: the real-pods dump alone, and the three examples in one
/// file (they live in different namespaces), so the overview shows three systems.
fn dumps(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut examples: Vec<Value> = Vec::new();
    for (name, file) in systems(dir) {
        let list: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if name.starts_with("example-") {
            examples.extend(list["items"].as_array().unwrap().iter().cloned());
        } else {
            out.push((name, file));
        }
    }
    let file = dir.join("examples.json");
    std::fs::write(
        &file,
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": examples}).to_string(),
    )
    .unwrap();
    out.push(("examples".into(), file));
    out
}

fn systems_of(file: &Path) -> Vec<AgentDeployment> {
    let list: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    agentlens_tests::agent_deployments(list["items"].as_array().unwrap()).unwrap()
}

/// A running `kubectl-agentlens console`, killed when dropped.
struct Console {
    child: Child,
    base: String,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dump at `path` with its first AgentDeployment's maturity score set to 99: that system's
/// namespace and name, and the changed dump's text.
fn with_score_99(path: &Path) -> (String, String, String) {
    let mut list: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ad = list["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["kind"] == "AgentDeployment")
        .unwrap();
    ad["status"]["maturity"]["score"] = serde_json::json!(99);
    let (ns, name) = (
        ad["metadata"]["namespace"].as_str().unwrap().to_string(),
        ad["metadata"]["name"].as_str().unwrap().to_string(),
    );
    (ns, name, list.to_string())
}

fn console(args: &[&str], kubeconfig: Option<&Path>) -> Console {
    console_in(None, args, kubeconfig)
}

/// The console started in `cwd` (a dump named relative to it reads as `file NAME` on the page).
fn console_in(cwd: Option<&Path>, args: &[&str], kubeconfig: Option<&Path>) -> Console {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-agentlens"));
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.arg("console")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--refresh-seconds", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_remove("KUBERNETES_SERVICE_HOST");
    match kubeconfig {
        Some(k) => cmd.env("KUBECONFIG", k),
        None => cmd.env("KUBECONFIG", "/nonexistent/agentlens-test-kubeconfig"),
    };
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    // The address is announced on stderr after the first read; read it on a thread so a
    // console that never announces fails the test at the deadline instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(url) = line.split("agentlens console: ").nth(1) {
                let _ = tx.send(url.split(' ').next().unwrap_or_default().to_string());
                sent = true;
            }
            eprintln!("console: {line}");
        }
    });
    let url = rx
        .recv_timeout(DEADLINE)
        .expect("the console announced its address");
    Console {
        child,
        base: url.trim_end_matches('/').to_string(),
    }
}

/// A GET with an optional Host header: (status, headers, body, time to the full answer).
fn get_as(url: &str, host: Option<&str>) -> (u16, String, String, Duration) {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        host.unwrap_or(addr)
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let took = start.elapsed();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string(), took)
}

fn get(url: &str) -> (u16, String) {
    let (status, _, body, _) = get_as(url, None);
    (status, body)
}

/// The `<main>` element of a page, the part served and exported pages share.
fn main_of(page: &str) -> &str {
    let start = page.find("<main id=\"main\"").expect("a <main>");
    let end = page.find("</main>").expect("a </main>");
    &page[start..end]
}

/// The facts of the status that a page must show: names, maturity, digests, checks, problems.
fn assert_shows_status(page: &str, ad: &AgentDeployment) {
    let name = ad.metadata.name.as_deref().unwrap();
    let s = ad.status.as_ref().unwrap();
    let m = s.maturity.as_ref().unwrap();
    assert!(
        page.contains(&format!("level {} (score {} / 100)", m.level, m.score)),
        "{name}: maturity"
    );
    for i in &s.images {
        if let Some(d) = &i.digest {
            assert!(page.contains(d.as_str()), "{name}: image digest {d}");
        }
    }
    for model in &s.models {
        assert!(page.contains(&model.name), "{name}: model {}", model.name);
        if let Some(d) = &model.digest {
            assert!(page.contains(d.as_str()), "{name}: model digest {d}");
        }
    }
    for c in &m.checks {
        assert!(page.contains(&c.id), "{name}: check {}", c.id);
    }
    for c in s
        .conditions
        .iter()
        .filter(|c| is_problem(&c.type_, &c.status))
    {
        assert!(
            page.contains(&problem_title(&c.type_)),
            "{name}: problem {}",
            c.type_
        );
    }
    for e in &s.agent_graph {
        assert!(
            page.contains(&e.from) && page.contains(&e.to),
            "{name}: edge"
        );
    }
    // LLM tokens per model: a row each, or the sentence that none were counted.
    let tokens = s.runtime.as_ref().map_or(&[][..], |r| &r.tokens[..]);
    assert_eq!(
        page.contains("LLM tokens: none counted"),
        s.runtime.is_some() && tokens.is_empty(),
        "{name}: tokens"
    );
    for t in tokens {
        assert!(
            page.contains(&format!(
                "<span class=\"mono\">{}</span></th><td class=\"num\" data-label=\"Requests\">{}</td><td class=\"num\" data-label=\"Input tokens\">{}</td><td class=\"num\" data-label=\"Output tokens\">{}</td>",
                t.model,
                count(t.requests),
                count(t.input_tokens),
                count(t.output_tokens)
            )),
            "{name}: tokens of {}",
            t.model
        );
    }
}

/// Served pages carry the status facts; the exported pages' `<main>` is the same, byte for byte
/// apart from the links; page sizes and render times are printed.
#[test]
fn served_and_exported_pages_show_the_same_status_facts() {
    let dir = tempfile::tempdir().unwrap();
    for (dump, file) in dumps(dir.path()) {
        let ads = systems_of(&file);
        assert!(!ads.is_empty());
        let c = console(&["-f", file.to_str().unwrap()], None);
        let out = dir.path().join(format!("export-{dump}"));
        let status = Command::new(env!("CARGO_BIN_EXE_kubectl-agentlens"))
            .args([
                "console",
                "-f",
                file.to_str().unwrap(),
                "--export",
                out.to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(status.success());

        let (code, _, overview, took) = get_as(&format!("{}/", c.base), None);
        assert_eq!(code, 200);
        eprintln!("{dump}: overview {} bytes in {took:?}", overview.len());
        let exported = std::fs::read_to_string(out.join(Links::Exported.overview())).unwrap();
        assert!(
            same_but_links(main_of(&overview), main_of(&exported)),
            "{dump}: served and exported overviews differ:\n{}\n{}",
            main_of(&overview),
            main_of(&exported)
        );
        for ad in &ads {
            let (ns, name) = (
                ad.metadata.namespace.as_deref().unwrap(),
                ad.metadata.name.as_deref().unwrap(),
            );
            let m = ad.status.as_ref().unwrap().maturity.as_ref().unwrap();
            assert!(
                overview.contains(&format!(">{name}</a>")),
                "{dump}: {name} listed"
            );
            assert!(
                overview.contains(&format!("data-label=\"Score\">{}<", m.score)),
                "{dump}: score"
            );
            let (code, _, page, took) = get_as(
                &format!("{}{}", c.base, Links::Served.system(ns, name)),
                None,
            );
            assert_eq!(code, 200, "{ns}/{name}");
            eprintln!("{dump}: {ns}/{name} {} bytes in {took:?}", page.len());
            assert_shows_status(&page, ad);
            let file = out.join(Links::Exported.system(ns, name));
            let exported = std::fs::read_to_string(&file).unwrap();
            assert_shows_status(&exported, ad);
            assert_eq!(
                main_of(&page),
                main_of(&exported),
                "{ns}/{name}: served and exported differ"
            );
            // Self-contained: no script, nothing fetched from anywhere.
            assert!(!exported.contains("<script"), "{}", file.display());
            for fetch in [
                "src=\"http",
                "href=\"http",
                "url(http",
                "url(//",
                "@import",
                "<link rel=\"stylesheet",
            ] {
                assert!(!exported.contains(fetch), "{}: {fetch}", file.display());
            }
        }
        // A system that is not there: a page that says so, not an error page.
        let (code, page) = get(&format!(
            "{}{}",
            c.base,
            Links::Served.system("nowhere", "nothing")
        ));
        assert_eq!(code, 404);
        assert!(page.contains("is visible here"), "{page}");
    }
}

/// The overview's links differ between served and exported pages; everything else is equal.
fn same_but_links(served: &str, exported: &str) -> bool {
    let s = served.replace("href=\"/systems/", "href=\"@");
    let e = exported.replace(".html\"", "\"");
    // `/systems/NS/NAME` against `NS.NAME`.
    let s = s
        .split("href=\"@")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_string()
            } else {
                part.replacen('/', ".", 1)
            }
        })
        .collect::<Vec<_>>()
        .join("href=\"");
    s == e
}

#[test]
fn live_pages_follow_the_file_and_say_when_it_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = dumps(dir.path()).remove(0);
    let live = dir.path().join("live.json");
    std::fs::copy(&file, &live).unwrap();
    let c = console(&["-f", live.to_str().unwrap()], None);
    let (_, v) = get(&format!("{}/api/version?after=0", c.base));
    assert_eq!(v, "1");
    // An unchanged file: the long poll answers the same version (after its wait, a dozen reads
    // at `--refresh-seconds 2`), no refresh. The dump as `kubectl get` writes it, without
    // statuses, so the console computes them: computed as of each read, they changed the facts
    // every read, and every open page swapped its content every refresh.
    let raw = dir.path().join("raw.yaml");
    std::fs::write(&raw, RAW_DUMP).unwrap();
    let unchanged = console(&["-f", raw.to_str().unwrap()], None);
    let (_, v) = get(&format!("{}/api/version?after=0", unchanged.base));
    assert_eq!(v, "1");
    let (_, v) = get(&format!("{}/api/version?after=1", unchanged.base));
    assert_eq!(
        v, "1",
        "an unchanged dump without statuses is a new version"
    );
    // A changed score: the next version, and the page shows it.
    let (ns, name, changed) = with_score_99(&live);
    std::fs::write(&live, changed).unwrap();
    let (_, v) = get(&format!("{}/api/version?after=1", c.base));
    assert_eq!(v, "2");
    let (_, page) = get(&format!("{}{}", c.base, Links::Served.system(&ns, &name)));
    assert!(
        page.contains("(score 99 / 100)"),
        "the page follows the file"
    );
    // An unreadable source: the page says since when and why, and keeps the last good read.
    std::fs::write(&live, "{not json").unwrap();
    let (_, v) = get(&format!("{}/api/version?after=2", c.base));
    assert_eq!(v, "3");
    let (code, page) = get(&format!("{}/", c.base));
    assert_eq!(code, 200);
    assert!(page.contains("Cannot read the source since"), "{page}");
    assert!(
        page.contains(&format!(">{name}</a>")),
        "the last good read stays"
    );
}

/// The dump the invoice-rpa pods were observed in, without statuses (as `kubectl get` writes
/// it before the operator ran).
const RAW_DUMP: &str = include_str!("data/dumps/invoice-rpa.yaml");

/// A dump without statuses read twice, a second apart, is the same facts: the statuses the
/// console computes for it are as of the file's last change, not of the read.
#[test]
fn a_dump_without_statuses_reads_the_same_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.yaml");
    std::fs::write(&raw, RAW_DUMP).unwrap();
    let first = read_file(&raw).unwrap();
    assert!(
        first.systems.iter().all(|a| a.status.is_some()),
        "every system gets a computed status"
    );
    // Not a wait for a condition: transition times are kept to the second, so the clock must
    // move a second for a read-time status to differ at all.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(read_file(&raw).unwrap() == first, "same file, same facts");
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&raw)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert!(
        read_file(&raw).unwrap() != first,
        "a touched file is read as of its new modification time"
    );
}

#[test]
fn only_loopback_is_served_and_pages_are_locked_down() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-agentlens"))
        .args([
            "console",
            "-f",
            "/nonexistent.yaml",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("refusing to listen on 0.0.0.0:0"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (_, file) = dumps(dir.path()).remove(0);
    let c = console(&["-f", file.to_str().unwrap()], None);
    // DNS rebinding: a page from elsewhere whose name resolves to 127.0.0.1 gets nothing.
    let (code, _, _, _) = get_as(&format!("{}/", c.base), Some("attacker.example:80"));
    assert_eq!(code, 421);
    let (code, _, _, _) = get_as(&format!("{}/", c.base), Some("localhost"));
    assert_eq!(code, 200);
    let (_, head, _, _) = get_as(&format!("{}/", c.base), None);
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    // Read-only.
    let addr = c.base.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
}

/// Headless Chromium on every served page and every exported page (from `file://`, every
/// other request refused): no console error, no failed request, no serious or critical axe-core
/// violation in light or dark, the skip link first in the tab order, no sideways scrolling on a
/// phone, the same text in `<main>` served and exported, and focus kept in `<main>` when a live
/// page swaps in a change.
#[test]
fn chromium_and_axe_find_no_errors_on_any_page() {
    const UPDATED: &str = "updated";
    let (Some(chromium), Some(modules)) = (chromium().or_skip(), browser_modules().or_skip())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shots = std::env::var_os("AGENTLENS_SCREENSHOTS_DIR").map(PathBuf::from);
    let mut consoles = Vec::new();
    let mut pages = Vec::new();
    let all = dumps(dir.path());
    // The finetuned-gpu example (`systems` wrote it as `finetuned-gpu.json`).
    let gpu = systems_of(&dir.path().join("finetuned-gpu.json"))
        .into_iter()
        .map(|a| (a.metadata.namespace.unwrap(), a.metadata.name.unwrap()))
        .next()
        .unwrap();
    for (dump, file) in all.clone() {
        let c = console_in(
            file.parent(),
            &["-f", file.file_name().unwrap().to_str().unwrap()],
            None,
        );
        let out = dir.path().join(format!("export-{dump}"));
        assert!(
            Command::new(env!("CARGO_BIN_EXE_kubectl-agentlens"))
                .args([
                    "console",
                    "-f",
                    file.to_str().unwrap(),
                    "--export",
                    out.to_str().unwrap()
                ])
                .status()
                .unwrap()
                .success()
        );
        let mut add = |name: String, served: String, exported: PathBuf, shot: Option<PathBuf>| {
            pages.push(
                serde_json::json!({"name": format!("served {name}"), "url": served,
                "screenshot": shot}),
            );
            pages.push(
                serde_json::json!({"name": format!("exported {name}"), "offline": true,
                "url": format!("file://{}", exported.display())}),
            );
        };
        let overview_shot = (dump == "examples")
            .then(|| shots.as_ref().map(|d| d.join("console-overview.png")))
            .flatten();
        add(
            format!("{dump} overview"),
            format!("{}/", c.base),
            out.join("index.html"),
            overview_shot,
        );
        for ad in systems_of(&file) {
            let (ns, name) = (
                ad.metadata.namespace.clone().unwrap(),
                ad.metadata.name.clone().unwrap(),
            );
            let shot = (dump == "examples"
                && (ns.as_str(), name.as_str()) == (gpu.0.as_str(), gpu.1.as_str()))
                .then(|| shots.as_ref().map(|d| d.join("console-finetuned-gpu.png")))
                .flatten();
            add(
                format!("{dump} {ns}/{name}"),
                format!("{}{}", c.base, Links::Served.system(&ns, &name)),
                out.join(Links::Exported.system(&ns, &name)),
                shot,
            );
        }
        consoles.push(c);
    }
    // A live page whose file changes while focus is in <main> (after the skip link): the page
    // shows the change and focus stays where the user put it.
    let (dump, file) = all.first().cloned().unwrap();
    let updated = dir.path().join("updated.json");
    std::fs::copy(&file, &updated).unwrap();
    let (ns, name, changed) = with_score_99(&updated);
    let c = console(&["-f", updated.to_str().unwrap()], None);
    pages.push(serde_json::json!({
        "name": format!("{UPDATED} {dump} {ns}/{name}"),
        "url": format!("{}{}", c.base, Links::Served.system(&ns, &name)),
        "update": {"path": updated, "content": changed},
    }));
    consoles.push(c);
    let input = dir.path().join("browse.json");
    std::fs::write(
        &input,
        serde_json::json!({"chromium": chromium, "modules": modules, "pages": pages}).to_string(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/browse.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), pages.len());
    let mut texts = std::collections::BTreeMap::new();
    for r in &results {
        let name = r["name"].as_str().unwrap();
        eprintln!(
            "{name}: load {} ms, axe light {} dark {} (all impacts), phone overflow {} px",
            r["loadMs"],
            r["axeLight"].as_array().unwrap().len(),
            r["axeDark"].as_array().unwrap().len(),
            r["phoneOverflowPx"]
        );
        for v in r["axeLight"]
            .as_array()
            .unwrap()
            .iter()
            .chain(r["axeDark"].as_array().unwrap())
        {
            eprintln!("  axe {}: {} ({})", v["impact"], v["id"], v["help"]);
        }
        assert_eq!(r["consoleErrors"], serde_json::json!([]), "{name}");
        assert_eq!(r["failedRequests"], serde_json::json!([]), "{name}");
        assert_eq!(r["foreignRequests"], serde_json::json!([]), "{name}");
        for v in r["axeLight"]
            .as_array()
            .unwrap()
            .iter()
            .chain(r["axeDark"].as_array().unwrap())
        {
            assert!(
                !matches!(v["impact"].as_str(), Some("serious" | "critical")),
                "{name}: {v}"
            );
        }
        assert_eq!(r["firstTab"], "Skip to content", "{name}");
        assert_eq!(r["afterSkip"], "main", "{name}");
        assert!(
            r["phoneOverflowPx"].as_i64().unwrap() <= 0,
            "{name}: scrolls sideways on a phone"
        );
        if name.starts_with(UPDATED) {
            assert_eq!(
                r["afterUpdate"], "main",
                "{name}: focus after the live update"
            );
            assert!(
                r["updatedText"]
                    .as_str()
                    .unwrap()
                    .contains("(score 99 / 100)"),
                "{name}: the live page shows the change"
            );
            continue;
        }
        let key = name.split_once(' ').unwrap().1.to_string();
        texts
            .entry(key)
            .or_insert_with(Vec::new)
            .push(r["mainText"].as_str().unwrap().to_string());
    }
    for (page, t) in texts {
        assert_eq!(t.len(), 2, "{page}");
        assert!(!t[0].is_empty(), "{page}");
        assert_eq!(
            t[0], t[1],
            "{page}: served and exported show different text"
        );
    }
}

fn kubectl_ok(kubectl: &Path, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(observed::systems::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubectl {}: {text}", args.join(" "));
    text
}

/// A user whose RBAC reads one namespace (kube-emulator enforces the Role): the console shows
/// that namespace's system, says the other namespaces are not visible, and never answers with
/// an error page.
#[test]
fn a_user_who_may_read_one_namespace_sees_it_and_is_told_about_the_rest() {
    use agentlens_tests::emulator_process::{self, Emulator};
    use agentlens_tests::tools::kubectl;
    let Some(kubectl) = kubectl().or_skip() else {
        return;
    };
    if let Err(e) = emulator_process::binary() {
        agentlens_tests::tools::missing(&e.to_string());
        return;
    }
    let emu = Emulator::start().unwrap();
    let admin = emu.admin_kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let file = dumps(dir.path()).pop().unwrap().1;
    let ads = systems_of(&file);
    kubectl_ok(&kubectl, &admin, &["apply", "-f", "crds/manifests/"], None);
    for ad in &ads {
        let ns = ad.metadata.namespace.as_deref().unwrap();
        let name = ad.metadata.name.as_deref().unwrap();
        let ns_doc =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        kubectl_ok(
            &kubectl,
            &admin,
            &["apply", "-f", "-"],
            Some(&ns_doc.to_string()),
        );
        let mut applied = serde_json::to_value(ad).unwrap();
        let status = applied.as_object_mut().unwrap().remove("status").unwrap();
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            applied["metadata"].as_object_mut().unwrap().remove(k);
        }
        kubectl_ok(
            &kubectl,
            &admin,
            &["apply", "-f", "-"],
            Some(&applied.to_string()),
        );
        let patch = serde_json::json!({ "status": status }).to_string();
        kubectl_ok(
            &kubectl,
            &admin,
            &[
                "patch",
                "agentdeployments.agentlens.dev",
                name,
                "-n",
                ns,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ],
            None,
        );
    }
    // A viewer of one namespace: list on the three kinds there, nothing elsewhere.
    let (ns, name) = (
        ads[0].metadata.namespace.clone().unwrap(),
        ads[0].metadata.name.clone().unwrap(),
    );
    let rbac = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer", "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "agentlens-viewer", "namespace": ns},
         "rules": [{"apiGroups": [agentlens_crds::GROUP], "resources": ["agentdeployments", "models", "evaluations"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "agentlens-viewer", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "agentlens-viewer"},
         "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": ns}]}
    ]});
    kubectl_ok(
        &kubectl,
        &admin,
        &["apply", "-f", "-"],
        Some(&rbac.to_string()),
    );
    let viewer = emu.kubeconfig_for(&ns, "viewer");
    agentlens_tests::net::wait_for(
        || "the emulator wrote the viewer's kubeconfig".into(),
        DEADLINE,
        || viewer.is_file().then_some(()),
    );
    let c = console(&[], Some(&viewer));
    let (code, page) = get(&format!("{}/", c.base));
    assert_eq!(code, 200, "{page}");
    assert!(page.contains(&format!(">{name}</a>")), "{page}");
    assert!(
        page.contains("the other namespaces are not visible to you"),
        "{page}"
    );
    for other in &ads[1..] {
        assert!(!page.contains(&format!(">{}</a>", other.metadata.name.as_deref().unwrap())));
    }
    let (code, page) = get(&format!("{}{}", c.base, Links::Served.system(&ns, &name)));
    assert_eq!(code, 200);
    assert_shows_status(&page, &ads[0]);
    let other = &ads[1];
    let (code, page) = get(&format!(
        "{}{}",
        c.base,
        Links::Served.system(
            other.metadata.namespace.as_deref().unwrap(),
            other.metadata.name.as_deref().unwrap()
        )
    ));
    assert_eq!(code, 404);
    assert!(page.contains("you may not read it"), "{page}");
}
