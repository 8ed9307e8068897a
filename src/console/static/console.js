// hookshape console: live refresh, relative times, copy buttons. No dependencies; served
// from this origin (the CSP allows nothing else), and it never inserts text as HTML that
// the server did not render and escape.
"use strict";

const REFRESH_MS = 3000;

function relative(iso) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return null;
  const s = Math.round((Date.now() - then) / 1000);
  const abs = Math.abs(s);
  const [n, unit] = abs < 60 ? [abs, "s"] : abs < 3600 ? [Math.floor(abs / 60), "min"]
    : abs < 86400 ? [Math.floor(abs / 3600), "h"] : [Math.floor(abs / 86400), "d"];
  return s >= 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

function showTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const r = relative(t.getAttribute("datetime"));
    if (r) { t.textContent = r; t.title = t.getAttribute("datetime"); }
  }
}

// Refetches this page and swaps in its #live part: the same server-rendered HTML.
async function refresh() {
  const live = document.getElementById("live");
  if (!live || !live.hasAttribute("data-live") || document.hidden) return;
  try {
    const resp = await fetch(location.href, { credentials: "same-origin" });
    if (!resp.ok) return;
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    const fresh = doc.getElementById("live");
    if (fresh && fresh.tagName === live.tagName) {
      live.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
      showTimes(live);
    }
  } catch (_) { /* offline for a moment: try again next time */ }
}

document.addEventListener("click", (e) => {
  const button = e.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.getAttribute("data-copy"));
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent).then(() => {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1200);
    });
  }
});

document.addEventListener("DOMContentLoaded", () => {
  showTimes(document);
  setInterval(refresh, REFRESH_MS);
});
