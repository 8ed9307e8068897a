// hookshape console, the studio: checks the editors as one types (400 ms after the last
// key) with POST /console/studio/check, and shows the problems by line, the diffs and the
// rendered requests. Every value goes in as text (textContent), never as HTML. Downloads
// are data: links made here; nothing is written on the server.
"use strict";

const DEBOUNCE_MS = 400;

const form = document.getElementById("studio");
const status = document.getElementById("studio-status");
let timer = null;
let sent = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// The line `line` (1-based) of a textarea selected and in view, for "Go to line".
function goToLine(area, line) {
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  const end = start + (lines[line - 1] || "").length;
  area.focus();
  area.setSelectionRange(start, end);
  const height = area.scrollHeight / Math.max(lines.length, 1);
  area.scrollTop = Math.max(0, (line - 3) * height);
}

function showProblems(problems) {
  const lists = { yaml: "yaml-problems", template: "template-problems", other: "other-problems" };
  for (const id of Object.values(lists)) {
    const list = document.getElementById(id);
    if (list) list.replaceChildren();
  }
  for (const editor of ["yaml", "template"]) {
    const area = document.getElementById(editor);
    if (area) area.setAttribute("aria-invalid", String(problems.some((p) => p.editor === editor)));
  }
  for (const p of problems) {
    const list = document.getElementById(lists[p.editor]) || document.getElementById("other-problems");
    const where = p.line ? `${p.file}:${p.line}` : p.file;
    const item = el("li", { "data-line": p.line || "" }, el("strong", {}, where), ": ", p.message);
    const area = document.getElementById(p.editor);
    if (p.line && area && p.editor !== "other") {
      const go = el("button", { type: "button", class: "go-to-line" }, `Go to line ${p.line}`);
      go.addEventListener("click", () => goToLine(area, p.line));
      item.append(go);
    }
    list.append(item);
  }
}

function diffLines(diff) {
  const box = el("div", { class: "diff-lines" });
  diff.hunks.forEach((hunk, i) => {
    if (i > 0) box.append(el("div", { class: "diff-gap" }, "…"));
    for (const l of hunk) {
      const kind = l.op === "+" ? "ins" : l.op === "-" ? "del" : "same";
      box.append(el("div", { class: `diff-line ${kind}` },
        el("span", { class: "ln" }, l.old ?? ""), el("span", { class: "ln" }, l.new ?? ""),
        el("span", { "aria-hidden": "true" }, l.op),
        el("span", {}, el("span", { class: "sr-only" }, kind === "ins" ? "added: " : kind === "del" ? "removed: " : ""), l.text)));
    }
  });
  return box;
}

function showFileDiff(id, diff) {
  const box = document.getElementById(id);
  if (!box) return;
  const name = box.getAttribute("data-name");
  if (!diff || !diff.changed) {
    box.replaceChildren(el("p", { class: "muted" }, `${name}: unchanged.`));
    return;
  }
  box.replaceChildren(el("h3", {}, name), diffLines(diff));
}

function request(outcome) {
  const side = el("div", {});
  if (!outcome) return el("p", { class: "muted" }, "This version does not compile.");
  if (outcome.kind === "skipped") return el("p", { class: "muted skipped" }, `Not sent: ${outcome.reason}.`);
  if (outcome.kind === "failed") return el("p", { class: "alert error failed" }, `Render failed: ${outcome.error}`);
  side.append(el("p", { class: "mono studio-request-line" }, el("strong", {}, outcome.method), " ", outcome.url));
  const rows = outcome.headers.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", { class: "mono" }, v)));
  side.append(el("table", { class: "headers" }, el("tbody", {}, ...rows)));
  if (outcome.body != null) side.append(el("pre", { class: "body" }, pretty(outcome.body)));
  return side;
}

function pretty(body) {
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch (_) { return body; }
}

function changes(c) {
  const list = el("ul", { class: "studio-changes" });
  if (c.method) list.append(el("li", {}, `Method: ${c.method[0]} → ${c.method[1]}`));
  if (c.url) list.append(el("li", {}, `URL: ${c.url[0]} → ${c.url[1]}`));
  for (const h of c.headers) {
    const text = h.before == null ? `added: ${h.after}` : h.after == null ? `removed (was ${h.before})` : `${h.before} → ${h.after}`;
    list.append(el("li", {}, `Header ${h.name}: ${text}`));
  }
  return list;
}

function showRenders(answer) {
  const error = document.getElementById("events-error");
  error.hidden = !answer.events_error;
  error.textContent = answer.events_error || "";
  const box = document.getElementById("renders");
  box.replaceChildren(...answer.renders.map((r, i) => {
    const title = r.stored
      ? el("a", { href: `/console/events/${encodeURIComponent(r.uuid)}` }, r.uuid) : el("span", {}, r.label || r.uuid);
    const what = r.changes.any ? "changed" : "no change";
    const article = el("article", { class: "studio-render", id: `render-${i}`, "data-changed": String(r.changes.any) },
      el("h3", {}, "Event ", title, ` (${r.topic}): ${what}`));
    if (r.changes.any) {
      article.append(changes(r.changes));
      if (r.changes.body.changed) article.append(el("h4", {}, "Body"), el("div", { class: "body-diff" }, diffLines(r.changes.body)));
    }
    article.append(el("div", { class: "studio-sides" },
      el("div", { class: "loaded" }, el("h4", {}, "Loaded version"), request(r.loaded)),
      el("div", { class: "edited" }, el("h4", {}, "Edited version"), request(r.edited))));
    return article;
  }));
}

async function check() {
  const mine = ++sent;
  status.textContent = "Checking…";
  const body = new URLSearchParams(new FormData(form));
  let answer;
  try {
    const resp = await fetch(form.getAttribute("data-check"), {
      method: "POST", credentials: "same-origin", body,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    if (mine !== sent) return;
    if (!resp.ok) {
      status.textContent = resp.status === 403
        ? "The page's security token is stale: reload the page (your edits are lost on reload; copy them first)."
        : `The check failed (HTTP ${resp.status}).`;
      return;
    }
    answer = await resp.json();
  } catch (_) {
    if (mine === sent) status.textContent = "The server cannot be reached; the check runs again on the next edit.";
    return;
  }
  if (mine !== sent) return;
  showProblems(answer.problems);
  showFileDiff("yaml-diff", answer.diff.yaml);
  showFileDiff("template-diff", answer.diff.template);
  showRenders(answer);
  const n = answer.problems.length;
  const changed = answer.renders.filter((r) => r.changes.any).length;
  status.textContent = (n === 0 ? "Valid." : `${n} problem${n === 1 ? "" : "s"}.`)
    + ` ${answer.renders.length} event${answer.renders.length === 1 ? "" : "s"} rendered, ${changed} changed.`;
  form.setAttribute("data-checked", String(mine));
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(check, DEBOUNCE_MS);
}

// The download links always hold the editors' text as it is now.
function refreshDownloads() {
  for (const editor of ["yaml", "template"]) {
    const area = document.getElementById(editor);
    const link = document.getElementById(`download-${editor}`);
    if (area && link) link.href = "data:text/plain;charset=utf-8," + encodeURIComponent(area.value);
  }
}

async function copy(button) {
  const area = document.getElementById(button.getAttribute("data-copy-editor"));
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(area.value);
    button.textContent = "Copied";
  } catch (_) {
    area.focus();
    area.select();
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = label; }, 1500);
}

if (form) {
  form.addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(timer); check(); });
  for (const editor of ["yaml", "template"]) {
    const area = document.getElementById(editor);
    if (area) area.addEventListener("input", () => { refreshDownloads(); schedule(); });
  }
  for (const radio of form.querySelectorAll("input[name=events]")) radio.addEventListener("change", schedule);
  // Choosing an example means rendering it: the radio follows the list.
  const example = document.getElementById("example");
  if (example) example.addEventListener("change", () => { document.getElementById("events-example").checked = true; schedule(); });
  for (const button of form.querySelectorAll("[data-copy-editor]")) button.addEventListener("click", () => copy(button));
  refreshDownloads();
  check();
}
