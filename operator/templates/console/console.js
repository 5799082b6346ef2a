// agentlens console: live updates without a reload storm. The server answers
// /api/version?after=N when its snapshot version differs from N (or after a while with the same
// N); only then is the page fetched again and its source line and content swapped in place.
(() => {
  "use strict";
  let version = document.documentElement.dataset.version;
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  const say = (text) => {
    const s = document.getElementById("source");
    if (s) { s.textContent = text; s.classList.add("failing"); }
  };
  // Where keyboard focus goes after a swap: the same element in the fresh content (by id, or a
  // link by its address), else the swapped container itself. Without this, focus fell back to
  // <body> on every update and a keyboard or screen-reader user lost their place.
  function refocus(active, container) {
    let target = null;
    if (active.id) target = document.getElementById(active.id);
    const href = active.getAttribute && active.getAttribute("href");
    if (!target && href) {
      target = [...container.querySelectorAll("a[href]")]
        .find((a) => a.getAttribute("href") === href) || null;
    }
    if (target) target.focus({ preventScroll: true });
    if (document.activeElement !== target) container.focus({ preventScroll: true });
  }
  async function swap() {
    const r = await fetch(location.pathname, { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    // The source line is a live region (role=status): its text is changed in place, so screen
    // readers announce it; a replaced node would not be.
    const fresh = doc.getElementById("source");
    const line = document.getElementById("source");
    if (fresh && line && !fresh.isEqualNode(line)) {
      line.className = fresh.className;
      line.replaceChildren(...fresh.childNodes);
    }
    // <main> is swapped only when it changed (an identical swap would make screen readers read
    // the focused element again).
    const main = doc.getElementById("main");
    const old = document.getElementById("main");
    if (main && old && !main.isEqualNode(old)) {
      const active = document.activeElement;
      const had = active && old.contains(active);
      old.replaceWith(main);
      if (had) refocus(active, main);
    }
    version = doc.documentElement.dataset.version;
  }
  async function loop() {
    let failed = false;
    for (;;) {
      try {
        const r = await fetch("/api/version?after=" + encodeURIComponent(version), { cache: "no-store" });
        if (!r.ok) throw new Error("HTTP " + r.status);
        const next = (await r.text()).trim();
        // After an outage the page is fetched again even at the same version: the source line
        // must stop saying the server is gone.
        if (next !== version || failed) await swap();
        failed = false;
      } catch (e) {
        failed = true;
        say("The console server does not answer (" + e.message + "); retrying. What you see may be out of date.");
        await pause(5000);
      }
    }
  }
  loop();
})();
