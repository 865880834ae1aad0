// funchost dashboard: a hash-routed page polling the dashboard's JSON API. No build step.
"use strict";

const POLL_MS = 2000;
const PAGE_SIZE = 50;
const KINDS = ["invoke", "topic", "binding", "cron", "actor", "workflow", "activity"];
const main = document.getElementById("main");
let timer = null;
let renderSeq = 0;

// -- helpers ----------------------------------------------------------------------------------
function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function fmtMs(ms) {
  if (ms == null) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7200000) return `${(ms / 60000).toFixed(1)} min`;
  return `${(ms / 3600000).toFixed(1)} h`;
}
function ago(seconds) {
  seconds = Math.max(0, seconds);
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${Math.round(seconds / 86400)}d`;
}
function when(value) {
  if (value == null || value === "") return "";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return isNaN(d) ? String(value) : d.toISOString().replace("T", " ").slice(0, 19);
}
function n(value) {
  return value ? Math.round(value).toString() : "";
}
function pretty(text) {
  if (text == null || text === "") return "";
  try {
    return JSON.stringify(typeof text === "string" ? JSON.parse(text) : text, null, 2);
  } catch (e) {
    return String(text);
  }
}
function flash(message, error = false) {
  const box = document.getElementById("flash");
  box.innerHTML = message ? `<div class="msg${error ? " error" : ""}" data-testid="flash">${esc(message)}</div>` : "";
  if (message && !error) setTimeout(() => { if (box.textContent === message) box.innerHTML = ""; }, 6000);
}
async function api(path, options = {}) {
  const resp = await fetch(path, { credentials: "same-origin", ...options });
  if (resp.status === 401 && !path.startsWith("/login")) {
    window.location = "/login";
    throw new Error("sign in first");
  }
  let doc = null;
  try { doc = await resp.json(); } catch (e) { doc = null; }
  if (!resp.ok) throw new Error((doc && doc.error) || `${resp.status} ${resp.statusText}`);
  return doc;
}
async function post(path, body, method = "POST") {
  return api(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body || {}) });
}
function setLive(ok) {
  const el = document.getElementById("live");
  el.className = "live " + (ok ? "on" : "off");
  el.textContent = ok ? "live" : "unreachable";
}
function spark(series) {
  // calls (blue) and failures (red) between the dashboard's samples (2 s apart, last 2 min)
  if (!series || series.length < 2) return `<span class="muted">…</span>`;
  const max = Math.max(1, ...series.map((p) => Math.max(p[1], p[2])));
  const w = 110, h = 20, step = w / Math.max(1, series.length - 1);
  const line = (k, color) => `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${series.map((p, i) => `${(i * step).toFixed(1)},${(h - 1 - (p[k] / max) * (h - 2)).toFixed(1)}`).join(" ")}"/>`;
  const total = series.reduce((a, p) => a + p[1], 0);
  return `<svg class="spark" width="${w}" height="${h}" role="img" aria-label="${total} calls"><title>${total} calls, ${series.reduce((a, p) => a + p[2], 0)} failures</title>${line(2, "#d64541")}${line(1, "#2f6fde")}</svg>`;
}

// -- views ------------------------------------------------------------------------------------
async function viewOverview() {
  const doc = await api("/api/overview");
  document.getElementById("app-id").textContent = doc.app_id || "";
  const now = Date.now() / 1000;
  const sc = doc.sidecar || {};
  const sum = (rows) => (rows || []).reduce((a, r) => a + r.count, 0);
  const wf = sc.workflows || {};
  const cards = [
    ["functions", doc.functions.length],
    ["pending deliveries", sum(sc.pendingDeliveries)],
    ["deliveries waiting to retry", sc.deliveryRetriesWaiting || 0],
    ["dead letters waiting", sum(sc.deadLetters), sum(sc.deadLetters) > 0],
    ["dead letters kept (Topics)", doc.deadLetters ?? "?", (doc.deadLetters || 0) > 0],
    ["workflows running", (wf.RUNNING || 0) + (wf.PENDING || 0)],
    ["workflows failed", wf.FAILED || 0, (wf.FAILED || 0) > 0],
    ["activities pending", sc.pendingActivities || 0],
    ["workflow timers waiting", sc.workflowTimersWaiting || 0],
    ["reminders (due now)", `${sc.reminders || 0} (${sc.dueReminders || 0})`],
  ];
  let html = `<h1>Overview <span class="muted">${esc(doc.app_id)}</span></h1>`;
  for (const e of doc.errors || []) html += `<div class="panel bad">unreachable: ${esc(e)}</div>`;
  html += `<div class="cards" data-testid="queues">${cards.map(([l, v, bad]) => `<div class="card${bad ? " bad" : ""}"><div class="n">${esc(v)}</div><div class="l">${esc(l)}</div></div>`).join("")}</div>`;
  html += `<h2>Functions</h2><table data-testid="functions"><thead><tr><th>name</th><th>trigger</th><th>file:line</th><th class="num">calls</th><th class="num">failed</th><th class="num">retried</th><th class="num">DLQ</th><th class="num">now</th><th class="num">avg</th><th>last 2 min</th></tr></thead><tbody>`;
  const byKind = {};
  for (const fn of doc.functions) (byKind[fn.kind] = byKind[fn.kind] || []).push(fn);
  const kinds = Object.keys(byKind).sort((a, b) => (KINDS.indexOf(a) + 99) % 99 - (KINDS.indexOf(b) + 99) % 99);
  for (const kind of kinds) {
    html += `<tr class="kind"><td colspan="10">${esc(kind)} (${byKind[kind].length})</td></tr>`;
    for (const fn of byKind[kind]) {
      const st = fn.stats || {};
      const calls = st.invocations || 0;
      const avg = calls ? fmtMs(((st.seconds || 0) / calls) * 1000) : "";
      const file = String(fn.file || "").split("/").slice(-2).join("/");
      html += `<tr data-function="${esc(fn.name)}"><td><b>${esc(fn.name)}</b></td><td class="mono">${esc(fn.trigger)}</td><td class="mono muted" title="${esc(fn.file)}">${esc(file)}:${esc(fn.line)}</td>` +
        `<td class="num">${n(calls)}</td><td class="num bad">${n(st.failures)}</td><td class="num">${n(st.retries)}</td><td class="num">${n(st.dead_letters)}</td><td class="num">${n(st.in_flight)}</td><td class="num">${avg}</td>` +
        `<td>${spark((doc.series || {})[fn.name])}</td></tr>`;
    }
  }
  html += "</tbody></table>";
  const flows = sc.inFlightWorkflows || [];
  html += `<h2>Workflows in flight (${flows.length})</h2>`;
  if (flows.length) {
    const t = sc.now || now;
    html += `<table data-testid="inflight"><thead><tr><th>instance</th><th>workflow</th><th>status</th><th>started</th><th>last change</th></tr></thead><tbody>` +
      flows.map((w) => `<tr><td><a href="#/instance/${encodeURIComponent(w.instanceId)}">${esc(w.instanceId)}</a></td><td>${esc(w.name)}</td><td><span class="badge ${esc(w.status)}">${esc(w.status)}</span></td><td>${ago(t - w.created)} ago</td><td>${ago(t - w.updated)} ago</td></tr>`).join("") +
      "</tbody></table>";
  } else html += `<p class="muted">none</p>`;
  const recent = doc.recent || [];
  html += `<h2>Recent invocations</h2>`;
  if (recent.length) {
    html += `<table><thead><tr><th>ago</th><th>function</th><th>outcome</th><th class="num">took</th><th>try</th><th>error</th></tr></thead><tbody>` +
      recent.slice(0, 15).map((r) => `<tr><td>${ago(doc.now - r.time)}</td><td>${esc(r.function)}</td><td class="${r.outcome === "success" && !r.error ? "" : "bad"}">${esc(r.outcome)}</td><td class="num">${fmtMs((r.seconds || 0) * 1000)}</td><td>${esc(r.attempt)}</td><td class="bad">${esc(r.error || "")}</td></tr>`).join("") +
      "</tbody></table>";
  } else html += `<p class="muted">none yet</p>`;
  return html;
}

function parseQuery(query) {
  const out = {};
  for (const [k, v] of new URLSearchParams(query || "")) out[k] = v;
  return out;
}

async function viewWorkflows(query) {
  const q = parseQuery(query);
  const page = Math.max(1, parseInt(q.page || "1", 10));
  const params = new URLSearchParams({ status: q.status || "", q: q.q || "", offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  const doc = await api(`/api/workflows?${params}`);
  const pages = Math.max(1, Math.ceil(doc.total / PAGE_SIZE));
  const statuses = ["", "RUNNING", "PENDING", "SUSPENDED", "COMPLETED", "FAILED", "TERMINATED"];
  let html = `<h1>Workflows</h1><form class="toolbar" id="wf-filter">
    <select name="status" aria-label="status">${statuses.map((s) => `<option value="${s}"${s === (q.status || "") ? " selected" : ""}>${s || "any status"}</option>`).join("")}</select>
    <input name="q" placeholder="search instance id or workflow" value="${esc(q.q || "")}" size="34" aria-label="search">
    <button class="primary" type="submit">Filter</button>
    <span class="muted" data-testid="wf-total">${doc.total} instance(s)</span></form>`;
  html += `<table data-testid="wf-list"><thead><tr><th>instance</th><th>workflow</th><th>status</th><th>created (UTC)</th><th>last change (UTC)</th></tr></thead><tbody>`;
  html += doc.items.map((w) => `<tr><td><a class="mono" href="#/instance/${encodeURIComponent(w.instanceID)}">${esc(w.instanceID)}</a>${w.parentInstanceID ? ` <span class="muted">child of ${esc(w.parentInstanceID)}</span>` : ""}</td><td>${esc(w.workflowName)}</td><td><span class="badge ${esc(w.runtimeStatus)}">${esc(w.runtimeStatus)}</span></td><td>${when(w.createdAt)}</td><td>${when(w.lastUpdatedAt)}</td></tr>`).join("");
  if (!doc.items.length) html += `<tr><td colspan="5" class="muted">no instances match</td></tr>`;
  html += "</tbody></table>";
  const link = (p) => `#/workflows?${new URLSearchParams({ status: q.status || "", q: q.q || "", page: p })}`;
  html += `<div class="pager" data-testid="pager"><a href="${link(1)}">« first</a><a href="${link(Math.max(1, page - 1))}">‹ prev</a>
    <span data-testid="page">page ${page} of ${pages}</span><a href="${link(Math.min(pages, page + 1))}">next ›</a><a href="${link(pages)}">last »</a></div>`;
  return html;
}

function bindWorkflows() {
  const form = document.getElementById("wf-filter");
  if (!form) return;
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    window.location.hash = `#/workflows?${new URLSearchParams({ status: data.get("status"), q: data.get("q"), page: 1 })}`;
  };
}

function timelineHtml(tl, depth = 0) {
  if (tl.error) return `<p class="bad">${esc(tl.error)}</p>`;
  const span = Math.max(1, tl.span || 1);
  const pct = (ms) => `${Math.min(100, Math.max(0, (ms / span) * 100)).toFixed(3)}%`;
  let html = `<div class="tl" data-testid="timeline">`;
  const rows = [];
  for (const m of tl.markers) rows.push({ at: m.at, html: `<div class="tl-row" data-kind="${esc(m.kind)}"><div class="tl-label"><span class="k">event</span>${esc(m.label)}${m.name ? ` <b>${esc(m.name)}</b>` : ""}</div><div class="tl-track"><div class="tl-mark ${esc(m.kind)}${/FAILED|TERMINATED/.test(m.detail) ? " failed" : ""}" style="left:${pct(m.at)}" title="${esc(m.detail)}"></div></div><div class="tl-took">${fmtMs(m.at)}</div></div>` });
  for (const b of tl.bars) {
    const label = b.kind === "activity" && b.attempt > 1 ? `${b.name} <span class="muted">(retry ${b.attempt - 1})</span>` : esc(b.name);
    const title = `${b.kind} ${b.name}: ${b.status}${b.detail ? "\ninput: " + b.detail : ""}${b.result ? "\n" + b.result : ""}`;
    let row = `<div class="tl-row" data-kind="${esc(b.kind)}" data-name="${esc(b.name)}" data-status="${esc(b.status)}"><div class="tl-label" title="${esc(title)}"><span class="k">${esc(b.kind)}</span>${label}</div>` +
      `<div class="tl-track"><div class="tl-bar ${esc(b.kind)} ${esc(b.status)}" style="left:${pct(b.start)};width:calc(${pct(b.end - b.start)} + 3px)" title="${esc(title)}"></div></div>` +
      `<div class="tl-took">${b.open ? "…" : fmtMs(b.end - b.start)}</div></div>`;
    if (b.child) {
      row += `<div class="tl-child"><div class="muted">child <a href="#/instance/${encodeURIComponent(b.childInstanceId)}">${esc(b.childInstanceId)}</a></div>${timelineHtml(b.child, depth + 1)}</div>`;
    }
    rows.push({ at: b.start, html: row });
  }
  rows.sort((a, b) => a.at - b.at);
  html += rows.map((r) => r.html).join("") + "</div>";
  return html;
}

async function viewInstance(id) {
  const doc = await api(`/api/workflows/${encodeURIComponent(id)}`);
  const p = doc.properties || {};
  const status = doc.runtimeStatus;
  const live = ["RUNNING", "PENDING", "SUSPENDED"].includes(status);
  let html = `<h1>${esc(doc.workflowName)} <span class="mono muted">${esc(doc.instanceID)}</span> <span class="badge ${esc(status)}" data-testid="status">${esc(status)}</span></h1>`;
  html += `<div class="panel actions" data-testid="actions">
    <input id="ev-name" placeholder="event name" size="16" aria-label="event name"><input id="ev-data" placeholder='data (JSON), e.g. {"ok": true}' size="28" aria-label="event data">
    <button data-action="raise" ${live ? "" : "disabled"}>Raise event</button>
    <button data-action="suspend" ${status === "RUNNING" || status === "PENDING" ? "" : "disabled"}>Suspend</button>
    <button data-action="resume" ${status === "SUSPENDED" ? "" : "disabled"}>Resume</button>
    <button data-action="terminate" class="danger" ${live ? "" : "disabled"}>Terminate</button>
    <button data-action="purge" class="danger">Purge</button></div>`;
  html += `<div class="panel kv"><div>created</div><div>${when(doc.createdAt)}</div><div>last change</div><div>${when(doc.lastUpdatedAt)}</div>
    <div>custom status</div><div class="mono" data-testid="custom-status">${esc(p["dapr.workflow.custom_status"] || "")}</div>
    <div>input</div><div><pre>${esc(pretty(p["dapr.workflow.input"]))}</pre></div>
    <div>output</div><div><pre data-testid="output">${esc(pretty(p["dapr.workflow.output"]))}</pre></div>
    ${p["dapr.workflow.failure.error_type"] ? `<div>failure</div><div class="bad" data-testid="failure">${esc(p["dapr.workflow.failure.error_type"])}: ${esc(p["dapr.workflow.failure.error_message"])}</div>` : ""}</div>`;
  const tl = doc.timeline;
  html += `<h2>Timeline <span class="muted">${fmtMs(tl.span)} from first to last event</span></h2><div class="panel">${timelineHtml(tl)}</div>`;
  html += `<h2>History</h2><table data-testid="history"><thead><tr><th class="num">since start</th><th>event</th><th>name</th><th>detail</th><th class="num">took</th></tr></thead><tbody>` +
    tl.rows.map((r) => `<tr data-event="${esc(r.event)}"><td class="num mono">+${fmtMs(r.at)}</td><td class="nowrap${/failed|terminated/.test(r.label) || /FAILED|TERMINATED/.test(r.detail) ? " bad" : ""}">${esc(r.label)}</td><td>${esc(r.name)}</td><td class="mono">${esc(r.detail)}</td><td class="num">${r.took == null ? "" : fmtMs(r.took * 1000)}</td></tr>`).join("") +
    "</tbody></table>";
  return { html, poll: live };
}

function bindInstance(id) {
  for (const button of document.querySelectorAll("[data-action]")) {
    button.onclick = async () => {
      const action = button.dataset.action;
      const body = {};
      if (action === "raise") {
        body.event = document.getElementById("ev-name").value;
        body.data = document.getElementById("ev-data").value;
        if (!body.event.trim()) return flash("name the event to raise", true);
      }
      const what = action === "raise" ? `raise event '${body.event}' on` : action;
      if (!window.confirm(`Really ${what} workflow ${id}?`)) return;
      try {
        await post(`/api/workflows/${encodeURIComponent(id)}/${action}`, body);
        if (action === "purge") {
          flash(`workflow ${id} purged`);
          window.location.hash = "#/workflows";
          return;
        }
        flash(action === "raise"
          ? `event '${body.event}' raised on ${id}: the workflow receives it when it waits for it (kept until then)`
          : `${action}: done for ${id}`);
        route();
      } catch (e) {
        flash(e.message, true);
      }
    };
  }
}

async function viewTopics() {
  const doc = await api("/api/topics");
  let html = `<h1>Topics</h1>`;
  html += `<table data-testid="topics"><thead><tr><th>pub/sub / topic</th><th>subscriber</th><th>dead-letter topic</th><th class="num">pending</th><th class="num">in flight</th><th class="num">retrying</th><th class="num">dead letters</th></tr></thead><tbody>`;
  for (const t of doc.topics) {
    const s = t.subscriber;
    const routes = s ? s.routes.map((r) => (r.match ? `${esc(r.match)} → ${esc(r.path)}` : esc(r.path))).join("<br>") : `<span class="muted">none</span>`;
    html += `<tr data-topic="${esc(t.topic)}"><td class="mono">${esc(t.pubsub)}/<b>${esc(t.topic)}</b></td><td class="mono">${routes}${s && s.stream ? " (stream)" : ""}${s && s.bulk ? " (bulk)" : ""}</td><td class="mono">${esc(s ? s.deadLetterTopic : "")}</td>` +
      `<td class="num">${t.pending}</td><td class="num">${s ? s.inFlight : ""}</td><td class="num">${t.retriesWaiting || ""}</td><td class="num${t.deadLetters ? " bad" : ""}">${t.deadLetters || ""}</td></tr>`;
    if (t.messages.length) {
      html += `<tr><td colspan="7"><details data-key="pending-${esc(t.pubsub)}-${esc(t.topic)}"><summary>${t.pending} pending deliver${t.pending === 1 ? "y" : "ies"} on ${esc(t.topic)}${t.pending > t.messages.length ? ` (first ${t.messages.length})` : ""}</summary>` +
        t.messages.map((m) => `<div class="muted">#${m.id} queued ${when(m.created)}</div><pre>${esc(pretty(m.event || m.data || m.data_base64))}</pre>`).join("") + "</details></td></tr>";
    }
  }
  if (!doc.topics.length) html += `<tr><td colspan="7" class="muted">no topics</td></tr>`;
  html += "</tbody></table>";
  html += `<h2>Dead letters (${doc.deadLetters.length})</h2>`;
  if (!doc.deadLetters.length) return html + `<p class="muted">none: every message was delivered or is still pending</p>`;
  html += `<table data-testid="deadletters"><thead><tr><th>id</th><th>topic</th><th>reason</th><th>when (UTC)</th><th>payload</th><th></th></tr></thead><tbody>`;
  for (const d of doc.deadLetters) {
    const payload = d.event && typeof d.event === "object" && "data" in d.event ? d.event.data : d.event || d.data || d.data_base64;
    html += `<tr data-dead-letter="${d.id}"><td>${d.id}</td><td class="mono">${esc(d.pubsub)}/${esc(d.topic)}${d.deadLetterTopic ? `<div class="muted">→ ${esc(d.deadLetterTopic)}</div>` : ""}</td><td class="bad">${esc(d.reason)}</td><td>${when(d.created)}</td>` +
      `<td><pre>${esc(pretty(payload))}</pre>${d.event ? `<details data-key="dead-${d.id}"><summary>whole event</summary><pre>${esc(pretty(d.event))}</pre></details>` : ""}</td>` +
      `<td><div class="actions"><button data-redrive="${d.id}">Re-drive</button><button class="danger" data-discard="${d.id}">Discard</button></div></td></tr>`;
  }
  return html + "</tbody></table>";
}

function bindTopics() {
  for (const b of document.querySelectorAll("[data-redrive]")) {
    b.onclick = async () => {
      const id = b.dataset.redrive;
      if (!window.confirm(`Publish dead letter ${id} again to its topic?`)) return;
      try {
        const r = await post(`/api/deadletters/${id}/redrive`);
        flash(`dead letter ${id} published again to ${r.pubsub}/${r.topic}`);
      } catch (e) { flash(e.message, true); }
      route();
    };
  }
  for (const b of document.querySelectorAll("[data-discard]")) {
    b.onclick = async () => {
      const id = b.dataset.discard;
      if (!window.confirm(`Discard dead letter ${id}? It is gone for good.`)) return;
      try {
        await api(`/api/deadletters/${id}`, { method: "DELETE" });
        flash(`dead letter ${id} discarded`);
      } catch (e) { flash(e.message, true); }
      route();
    };
  }
}

async function viewActors() {
  const doc = await api("/api/actors");
  let html = `<h1>Actors</h1>`;
  if (!doc.types.length) return html + `<p class="muted">no actor types</p>`;
  for (const t of doc.types) {
    html += `<div class="panel" data-actor-type="${esc(t.type)}"><h2 style="margin-top:0">${esc(t.type)} <span class="muted">${t.activeCount} active, ${t.actors.length} known${t.hosted ? "" : " (not hosted by this app)"}</span></h2>`;
    if (!t.actors.length) { html += `<p class="muted">none yet</p></div>`; continue; }
    html += `<table><thead><tr><th>id</th><th>active</th><th>state keys</th><th>reminders (next due)</th><th>timers (next due)</th></tr></thead><tbody>`;
    for (const a of t.actors) {
      const due = (x) => { const d = x.nextDue - doc.now; return d <= 0 ? `<b class="bad">due now</b>` : `in ${ago(d)}`; };
      html += `<tr><td class="mono">${esc(a.id)}</td><td>${a.active ? `yes <span class="muted">(used ${ago(doc.now - a.lastUsed)} ago)</span>` : `<span class="muted">no</span>`}</td><td class="mono">${a.stateKeys.map(esc).join("<br>")}</td>` +
        `<td>${a.reminders.map((r) => `<span class="mono">${esc(r.name)}</span> ${due(r)} <span class="muted">${r.period ? "every " + esc(r.period) : ""} at ${when(r.nextDue)}</span>`).join("<br>")}</td>` +
        `<td>${a.timers.map((r) => `<span class="mono">${esc(r.name)}</span> ${due(r)}`).join("<br>")}</td></tr>`;
    }
    html += "</tbody></table></div>";
  }
  return html;
}

async function viewBindings() {
  const doc = await api("/api/bindings");
  let html = `<h1>Bindings</h1><div class="panel"><h2 style="margin-top:0">Send to an input binding</h2><form id="send-binding" class="toolbar">
    <select name="name" aria-label="binding">${doc.components.map((c) => `<option value="${esc(c.name)}">${esc(c.name)} (${esc(c.type)})</option>`).join("")}</select>
    <input name="data" size="50" placeholder='data, e.g. {"task_id": "task-9"}' aria-label="data"><button class="primary" type="submit">Send</button></form></div>`;
  html += `<h2>Outbox: what output bindings received locally (${doc.outbox.length})</h2>`;
  if (!doc.outbox.length) return html + `<p class="muted">nothing sent yet</p>`;
  html += `<table data-testid="outbox"><thead><tr><th>id</th><th>binding</th><th>operation</th><th>when (UTC)</th><th>data</th><th>metadata</th></tr></thead><tbody>` +
    doc.outbox.map((o) => `<tr><td>${o.id}</td><td class="mono">${esc(o.binding)} <span class="muted">${esc(o.type)}</span></td><td>${esc(o.operation)}</td><td>${when(o.created)}</td><td><pre>${esc(pretty(o.data ?? o.data_base64))}</pre></td><td><pre>${esc(pretty(o.metadata))}</pre></td></tr>`).join("") +
    "</tbody></table>";
  return html;
}

function bindBindings() {
  const form = document.getElementById("send-binding");
  if (!form) return;
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    try {
      const r = await post(`/api/bindings/${encodeURIComponent(data.get("name"))}`, { data: data.get("data") });
      flash(`sent to ${data.get("name")}: the app answered ${r.status} ${r.body}`);
    } catch (e) { flash(e.message, true); }
  };
}

// -- router -----------------------------------------------------------------------------------
async function route() {
  clearTimeout(timer);
  const seq = ++renderSeq;
  const hash = window.location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const view = parts[0] || "overview";
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.dataset.view === (view === "instance" ? "workflows" : view));
  }
  let html = "";
  let poll = true;
  let bind = () => {};
  try {
    if (view === "overview") html = await viewOverview();
    else if (view === "workflows") { html = await viewWorkflows(query); bind = bindWorkflows; poll = false; }
    else if (view === "instance") {
      const id = decodeURIComponent(parts.slice(1).join("/"));
      const r = await viewInstance(id);
      html = r.html; poll = r.poll; bind = () => bindInstance(id);
    } else if (view === "topics") { html = await viewTopics(); bind = bindTopics; }
    else if (view === "actors") html = await viewActors();
    else if (view === "bindings") { html = await viewBindings(); bind = bindBindings; poll = false; }
    else html = `<p>No page ${esc(view)}: pick one above.</p>`;
    setLive(true);
  } catch (e) {
    if (seq !== renderSeq) return;
    setLive(false);
    html = `<div class="panel bad" data-testid="error">${esc(e.message)}</div>`;
    poll = view === "overview";
  }
  if (seq !== renderSeq) return;
  // keep what the user is typing: do not re-render a page whose inputs have focus
  const focused = document.activeElement;
  if (!(focused && main.contains(focused) && /INPUT|SELECT|TEXTAREA/.test(focused.tagName))) {
    // a refresh keeps what the user opened
    const opened = new Set([...main.querySelectorAll("details[open][data-key]")].map((d) => d.dataset.key));
    main.innerHTML = html;
    for (const d of main.querySelectorAll("details[data-key]")) if (opened.has(d.dataset.key)) d.open = true;
    bind();
  }
  main.dataset.view = view;
  main.dataset.rendered = String(seq);
  if (poll) timer = setTimeout(route, POLL_MS);
}

window.addEventListener("hashchange", route);
route();
if (!(window.location.hash || "#/").match(/^#\/?(overview)?($|\?)/)) {
  // another page first: the overview is what names the app in the header
  api("/api/overview").then((d) => { document.getElementById("app-id").textContent = d.app_id || ""; }).catch(() => {});
}
