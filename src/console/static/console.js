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

// What the server sent for each part of a live region, before `showTimes` changed its
// times: a part is replaced only when the server sends something different for it.
const served = new WeakMap();

function remember(part) {
  served.set(part, part.outerHTML);
  return part;
}

// Whether the person is working in `node`: focus or a text selection inside it.
function inUse(node) {
  if (node.contains(document.activeElement) && document.activeElement !== document.body) return true;
  const sel = document.getSelection();
  return !!sel && sel.rangeCount > 0 && !sel.isCollapsed && sel.containsNode(node, true);
}

// A list (rows with data-id, newest first): the rows not shown yet go on top, in order;
// the rows shown stay untouched, so focus, selection and what is on screen stay put.
function addNewRows(live, fresh) {
  const shown = new Set(Array.from(live.querySelectorAll("tr[data-id]"), (r) => r.dataset.id));
  const added = Array.from(fresh.querySelectorAll("tr[data-id]")).filter((r) => !shown.has(r.dataset.id));
  if (added.length === 0) return;
  const first = live.querySelector("tr[data-id]");
  const before = first ? first.getBoundingClientRect().top : 0;
  for (const row of added) {
    const node = document.importNode(row, true);
    showTimes(node);
    live.insertBefore(node, first);
  }
  for (const placeholder of live.querySelectorAll("tr.empty-row")) placeholder.remove();
  // Scrolled down: keep the rows being read where they were (where the browser's own
  // scroll anchoring has not done so already).
  const moved = first ? first.getBoundingClientRect().top - before : 0;
  if (window.scrollY > 0 && moved !== 0) window.scrollBy(0, moved);
}

// Any other live region: each part the server now renders differently is swapped, unless
// the person is working in it (then it waits for the next round).
function updateParts(live, fresh) {
  const now = Array.from(live.children);
  const next = Array.from(fresh.children);
  if (now.length !== next.length) {
    if (inUse(live)) return;
    live.replaceChildren(...next.map((n) => remember(document.importNode(n, true))));
    showTimes(live);
    return;
  }
  next.forEach((part, i) => {
    if (served.get(now[i]) === part.outerHTML || inUse(now[i])) return;
    const node = remember(document.importNode(part, true));
    now[i].replaceWith(node);
    showTimes(node);
  });
}

// Refetches this page and brings in what changed in its #live part: the same
// server-rendered HTML. Nothing changed, nothing is touched.
async function refresh() {
  const live = document.getElementById("live");
  if (!live || !live.hasAttribute("data-live") || document.hidden) return;
  let fresh;
  try {
    const resp = await fetch(location.href, { credentials: "same-origin" });
    if (!resp.ok) return;
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    fresh = doc.getElementById("live");
  } catch (_) { return; /* offline for a moment: try again next time */ }
  if (!fresh || fresh.tagName !== live.tagName) return;
  if (live.tagName === "TBODY") addNewRows(live, fresh);
  else updateParts(live, fresh);
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
  const live = document.getElementById("live");
  if (live && live.tagName !== "TBODY") Array.from(live.children).forEach(remember);
  showTimes(document);
  setInterval(refresh, REFRESH_MS);
});
