// webhookd dashboard: one ES module, no framework, no build step. It reads
// /api/v1 only, with the key kept in sessionStorage. Text from the store
// (payloads, errors, response excerpts: a stranger's bytes) only ever goes
// into the page through textContent; nothing here sets innerHTML.

const KEY = "webhookd.api_key";
const API = "/api/v1";
const PORTAL = "#portal="; // a portal link: /#portal=TOKEN (the fragment never reaches a server or its logs)
const main = document.getElementById("main");
let self = null; // the key's own record: {id, name, scopes, app_id, kind}

// --- DOM --------------------------------------------------------------------

// h("a", {href: "#/", class: "x", onclick: fn}, "text", child, [more]):
// attributes by setAttribute, on* as listeners, children as nodes or text.
function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
const svg = (tag, attrs, ...children) =>
  build(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = "show";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.className = ""), 4000);
}

// --- API --------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, opts = {}) {
  const text = await apiText(path, opts);
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

// The answer's text, for the one place that needs bytes exactly (an event's
// payload, to rebuild the body an attempt sent).
async function apiText(path, { method = "GET", query, body } = {}) {
  const url = new URL(API + path, location.origin);
  for (const [k, v] of Object.entries(query || {}))
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { Authorization: "Bearer " + (sessionStorage.getItem(KEY) || "") };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                 credentials: "omit", cache: "no-store" });
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = null; }
  if (!res.ok) {
    if (res.status === 401 && path !== "/api-keys/self") {
      signOut("The key was refused: " + (doc && doc.detail ? doc.detail : res.status));
    }
    throw new ApiError(res.status, doc && doc.detail ? doc.detail : `HTTP ${res.status}`);
  }
  return text;
}

// The body an attempt sent: the event's payload as stored (its exact bytes),
// alone for body_format data, else inside the envelope DESIGN.md fixes.
function requestBody(eventText, e, format) {
  const at = eventText.indexOf(',"data":'); // the server splices the payload in last, as text
  const data = at < 0 ? JSON.stringify(e.data) : eventText.slice(at + 8, -1);
  if (format === "data") return data;
  return `{"id":"${e.id}","type":"${e.type}","timestamp":"${new Date(e.created_at).toISOString()}","data":${data}}`;
}

const shellQuote = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";

// "Copy as curl": the attempt's request line and headers and the body; a
// masked value stays masked (********), to be filled in by hand.
function curlOf(head, body) {
  const lines = head.split("\n").filter(Boolean);
  const url = lines.length ? lines[0].replace(/^POST /, "") : "";
  const headers = lines.slice(1).map((l) => ` \\\n  -H ${shellQuote(l)}`).join("");
  return `curl -X POST ${shellQuote(url)}${headers} \\\n  --data-raw ${shellQuote(body)}`;
}

function attemptRequest(a, body) {
  if (!a.request_head)
    return h("details", { class: "request" }, h("summary", {}, "Request as sent"),
      h("p", { class: "muted" }, a.status_code >= 200 && a.status_code < 300
        ? "Its headers were not kept: a delivered attempt keeps its answer's status and excerpt (webhookd --attempt-heads all keeps every attempt's headers). The body:"
        : "Its headers were not kept (an attempt recorded before version 10). The body:"),
      h("pre", { class: "request-body" }, body));
  const curl = curlOf(a.request_head, body);
  const copy = h("button", { class: "secondary copy-curl", type: "button", onclick: async () => {
    try { await navigator.clipboard.writeText(curl); toast("Copied as curl"); }
    catch { toast("This page cannot reach the clipboard here: select the command and copy it"); }
  } }, "Copy as curl");
  return h("details", { class: "request" }, h("summary", {}, "Request as sent"),
    h("pre", { class: "request-head" }, a.request_head),
    h("pre", { class: "request-body" }, body),
    h("div", { class: "actions" }, copy),
    h("pre", { class: "curl" }, curl));
}

// A portal session may read, resend, retry and manage its application's
// endpoints (rotation included), never send events or purge: the server
// holds the same list (server.cpp, Who).
const portal = () => !!self && self.kind === "portal";
const tenant = () => !!self && !!self.app_id; // bound to one application: no application column or filter
const can = (scope) => !!self && (portal() ? ["read", "manage", "admin"].includes(scope)
  : self.scopes.includes("admin") || self.scopes.includes(scope) || (scope === "read" && self.scopes.includes("manage")));

// --- formatting ------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");
// The browser's zone, as "UTC" or "UTC+01:00", after every time shown.
function zone(d) {
  const off = -d.getTimezoneOffset();
  return off === 0 ? "UTC" : `UTC${off > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}
function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone(d)}`;
}
// A length of time in words: "850 ms", "4.2 s", "3 min 42 s", "2 h 5 min", "3 d 2 h".
function dur(n) {
  if (n === null || n === undefined) return "—";
  n = Math.max(0, Math.round(n));
  if (n < 1000) return `${n} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 1 : 0)} s`;
  const s = Math.round(n / 1000), m = Math.floor(s / 60), hr = Math.floor(m / 60), d = Math.floor(hr / 24);
  if (m < 60) return `${m} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (hr < 24) return `${hr} h${m % 60 ? ` ${m % 60} min` : ""}`;
  return `${d} d${hr % 24 ? ` ${hr % 24} h` : ""}`;
}
function ago(ms) {
  if (ms === null || ms === undefined) return "—";
  const diff = Date.now() - ms;
  return diff >= 0 ? `${dur(diff)} ago` : `in ${dur(-diff)}`;
}
const num = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));
const ms = (n) => (n === null || n === undefined ? "—" : `${Math.round(n).toLocaleString("en-US")} ms`);
const statusBadge = (s) => h("span", { class: `status s-${s}`, "data-status": s }, s.replace("_", " "));

function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e instanceof Error ? e.message : String(e));
}

// Renders a page's body, or its error in place of it.
async function page(title, render) {
  show(h("h1", {}, title), h("p", { class: "muted" }, "Loading…"));
  try {
    const nodes = await render();
    show(h("h1", {}, title), ...[nodes].flat());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    show(h("h1", {}, title), errorBox(e));
  }
}

// --- sign in ----------------------------------------------------------------

function signOut(why) {
  sessionStorage.removeItem(KEY);
  self = null;
  location.hash = "#/";
  renderLogin(why);
}

function renderLogin(why) {
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("search").hidden = true;
  document.getElementById("who").textContent = "";
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false",
                            placeholder: "whk_…", "aria-label": "API key" });
  const message = h("p", { class: "error", id: "login-error" }, why || "");
  const form = h("form", { class: "card login", onsubmit: async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    try {
      await start();
    } catch (e) {
      sessionStorage.removeItem(KEY);
      message.textContent = e.message;
    }
  } },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Paste an API key (", h("code", {}, "webhookctl api-key create NAME --scope read"),
      "). It stays in this tab only, and goes to this server only."),
    input, h("button", { type: "submit", id: "sign-in" }, "Sign in"), message);
  show(form);
  input.focus();
}

async function start() {
  self = await api("/api-keys/self");
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("search").hidden = false;
  document.body.classList.toggle("tenant", tenant());
  document.getElementById("who").textContent = portal() ? `Portal · ${self.app_id} · until ${when(self.expires_at)}`
    : `${self.name || self.id} · ${self.scopes.join(", ")}${self.app_id ? ` · application ${self.app_id}` : ""}`;
  route();
}

// The search box: an event id (msg_…, the webhook-id header a receiver
// saw), a delivery id, or an idempotency key.
function search(term) {
  term = term.trim();
  if (!term) return;
  if (/^msg_/.test(term)) location.hash = `#/events/${encodeURIComponent(term)}`;
  else if (/^[0-9]+$/.test(term)) location.hash = `#/deliveries/${term}`;
  else location.hash = `#/events?idempotency_key=${encodeURIComponent(term)}`;
}

// --- charts -----------------------------------------------------------------

// Stacked bars of delivered / failed / dead-lettered attempts per step.
function barChart(points, stepMs) {
  const W = 720, H = 200, L = 44, B = 22, T = 8;
  const keys = ["delivered", "failed", "dead_lettered"];
  const max = Math.max(1, ...points.map((p) => keys.reduce((a, k) => a + p[k], 0)));
  const bw = (W - L) / Math.max(1, points.length);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Attempts per step", "data-chart": "attempts" });
  g.append(svg("line", { class: "axis", x1: L, y1: y(0), x2: W, y2: y(0) }));
  g.append(svg("text", { x: 2, y: y(max) + 8 }, num(max)), svg("text", { x: 2, y: y(0) }, "0"));
  points.forEach((p, i) => {
    let base = 0;
    for (const k of keys) {
      if (!p[k]) continue;
      g.append(svg("rect", { class: `c-${k}`, x: L + i * bw + 0.5, width: Math.max(1, bw - 1), y: y(base + p[k]),
                             height: y(base) - y(base + p[k]), "data-t": p.t, "data-kind": k },
                   svg("title", {}, `${when(p.t)}: ${p[k]} ${k.replace("_", " ")}`)));
      base += p[k];
    }
  });
  axisLabels(g, points, L, bw, H);
  return h("div", { class: "chart" }, g,
           h("div", { class: "legend" }, keys.map((k) => h("span", {}, h("i", { class: `c-${k}` }), k.replace("_", " ")))),
           h("p", { class: "muted" }, `Attempts per ${stepMs / 60000} min, by what followed them.`));
}

// p50 and p95 attempt latency per step, as two lines (gaps where no attempts).
function latencyChart(points) {
  const W = 720, H = 200, L = 44, B = 22, T = 8;
  const max = Math.max(1, ...points.map((p) => p.p95_ms || 0));
  const bw = (W - L) / Math.max(1, points.length);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Latency per step", "data-chart": "latency" });
  g.append(svg("line", { class: "axis", x1: L, y1: y(0), x2: W, y2: y(0) }));
  g.append(svg("text", { x: 2, y: y(max) + 8 }, ms(max)), svg("text", { x: 2, y: y(0) }, "0"));
  for (const k of ["p50_ms", "p95_ms"]) {
    let d = "";
    points.forEach((p, i) => {
      if (p[k] === null) return;
      const x = L + i * bw + bw / 2;
      d += `${d && points[i - 1] && points[i - 1][k] !== null ? "L" : "M"}${x.toFixed(1)},${y(p[k]).toFixed(1)}`;
    });
    if (d) g.append(svg("path", { class: `l-${k.slice(0, 3)}`, d }));
    points.forEach((p, i) => {
      if (p[k] === null) return;
      g.append(svg("circle", { class: `l-${k.slice(0, 3)} dot`, cx: L + i * bw + bw / 2, cy: y(p[k]), r: 2.5, "data-t": p.t },
                   svg("title", {}, `${when(p.t)}: ${k.slice(0, 3)} ${ms(p[k])}`)));
    });
  }
  axisLabels(g, points, L, bw, H);
  return h("div", { class: "chart" }, g,
           h("div", { class: "legend" }, h("span", {}, h("i", { class: "k-p50" }), "p50"),
             h("span", {}, h("i", { class: "k-p95" }), "p95")),
           h("p", { class: "muted" }, "Attempt duration, from the per-minute histogram."));
}

function axisLabels(g, points, L, bw, H) {
  const every = Math.max(1, Math.ceil(points.length / 6));
  points.forEach((p, i) => {
    if (i % every) return;
    const d = new Date(p.t);
    g.append(svg("text", { x: L + i * bw, y: H - 6 }, `${pad(d.getHours())}:${pad(d.getMinutes())}`));
  });
}

// --- pages ------------------------------------------------------------------

const SPANS = { "1h": "1m", "6h": "5m", "24h": "15m" };

function needsAttention(t) {
  const now = Date.now();
  const why = [];
  if (!t.enabled) why.push("disabled" + (t.disabled_reason ? `: ${t.disabled_reason}` : ""));
  if (t.paused_until && t.paused_until > now) why.push(`breaker open until ${when(t.paused_until)}`);
  if (t.rate_current !== null && t.rate_current !== undefined) why.push(`throttled to ${t.rate_current}/s (${t.rate_signal || "signal"})`);
  if (t.consecutive_failures > 0) why.push(`${t.consecutive_failures} failures in a row`);
  return why;
}

async function overview(params) {
  const span = SPANS[params.get("span")] ? params.get("span") : "1h";
  const [stats, series, targets] = await Promise.all([
    // Statistics read the deliveries they count: over the chart's span only
    // (a second or two for a million; the charts come from the rollup).
    api("/stats", { query: { since: span } }),
    api("/stats/timeseries", { query: { since: span, step: SPANS[span] } }),
    allTargets(),
  ]);
  const depth = stats.queue_depth || {};
  const tiles = h("div", { class: "tiles", id: "queue-depth" },
    STATUSES.filter((s) => s in depth).map((s) => [s, depth[s]]).map(([s, n]) => h("a", { class: "tile", href: `#/deliveries?status=${s}&since=${span}`, "data-status": s },
                                            h("b", {}, num(n)), h("span", {}, s.replace("_", " ")))));
  const attention = targets.map((t) => [t, needsAttention(t)]).filter(([, w]) => w.length);
  const totals = series.points.reduce((a, p) => ({ attempts: a.attempts + p.attempts, delivered: a.delivered + p.delivered }),
                                      { attempts: 0, delivered: 0 });
  return [
    h("div", { class: "actions" }, Object.keys(SPANS).map((s) =>
      h("a", { class: "button" + (s === span ? "" : " secondary"), href: `#/?span=${s}` }, `last ${s}`))),
    h("h2", {}, `Deliveries created in the last ${span}, by status`), tiles,
    h("p", { class: "muted" }, `Oldest due delivery waiting: ${stats.oldest_due_age_ms === null ? "none" : dur(stats.oldest_due_age_ms)}. `,
      `Last ${span}: ${num(totals.attempts)} attempts, ${num(totals.delivered)} delivered.`),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h2", {}, "Attempts"), barChart(series.points, series.step_ms)),
      h("div", { class: "card" }, h("h2", {}, "Latency"), latencyChart(series.points))),
    h("h2", {}, "Targets needing attention"),
    attention.length
      ? h("ul", { id: "attention" }, attention.map(([t, why]) =>
          h("li", {}, h("a", { href: `#/targets/${encodeURIComponent(t.id)}` }, t.id), ": ", why.join("; "))))
      : h("p", { class: "muted", id: "attention" }, "None: every target is enabled, closed and unthrottled."),
  ];
}

async function allTargets() {
  const out = [];
  let iterator;
  for (let i = 0; i < 40; i++) { // 40 pages of 250: the dashboard lists at most 10,000 targets
    const p = await api("/targets", { query: { limit: 250, iterator } });
    out.push(...p.data);
    if (p.done || !p.iterator) break;
    iterator = p.iterator;
  }
  return out;
}

// A list with filters, and "older" pages through the API's iterator; the
// iterators of the pages before are kept for "newer".
function pager(params, nextIterator, base) {
  const trail = (params.get("trail") || "").split(",").filter(Boolean);
  const here = params.get("iterator") || "";
  const link = (it, tr) => {
    const q = new URLSearchParams(params);
    if (it) q.set("iterator", it); else q.delete("iterator");
    if (tr.length) q.set("trail", tr.join(",")); else q.delete("trail");
    return `#/${base}?${q}`;
  };
  const newer = here ? link(trail[trail.length - 1] === "-" ? "" : trail[trail.length - 1], trail.slice(0, -1)) : null;
  const older = nextIterator ? link(nextIterator, [...trail, here || "-"]) : null;
  return h("div", { class: "pager" },
    newer ? h("a", { class: "button secondary", href: newer, id: "newer" }, "← Newer") : null,
    older ? h("a", { class: "button secondary", href: older, id: "older" }, "Older →") : null,
    !newer && !older ? h("span", { class: "muted" }, "One page.") : null);
}

function filterForm(params, base, fields) {
  const inputs = fields.map(([name, label, options]) => {
    const value = params.get(name) || "";
    const el = options
      ? h("select", { name }, h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o, selected: o === value }, o)))
      : h("input", { name, value, placeholder: PLACEHOLDERS[name] || "" });
    return h("label", {}, label, el);
  });
  return h("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const el of ev.target.elements) if (el.name && el.value) q.set(el.name, el.value);
    location.hash = `#/${base}?${q}`;
  } }, inputs, h("button", { type: "submit" }, "Filter"));
}

const STATUSES = ["pending", "in_progress", "delivered", "failed", "rate_limited", "dead_letter", "waiting"];
const PLACEHOLDERS = { since: "1h, 7d or ISO time", type: "order.created or order.*", app_id: "any application",
                       idempotency_key: "exact key" };

// The filters every listing shares: a target picked from the list, a type or
// a pattern ending in *, and for an operator the application, picked from
// those the targets name.
function commonFilters(targetList) {
  return [["target_id", "Target", targetList.map((t) => t.id)], ["type", "Type"], ...appFilter(targetList)];
}
function appFilter(targetList) {
  if (tenant()) return [];
  const apps = [...new Set(targetList.map((t) => t.app_id).filter(Boolean))].sort();
  return [["app_id", "Application", apps]];
}

// Why an unfinished delivery has not gone yet, in words, from its target's
// state: what the delivery page and the list say for pending rows.
function whyWaiting(d, t) {
  const now = Date.now();
  if (d.status === "waiting")
    return d.waiting_behind !== undefined ? `waits behind delivery ${d.waiting_behind} of its ordering group` : "waits for its ordering group";
  if (d.completed_at || d.status === "delivered" || d.status === "dead_letter") return null;
  if (d.status === "in_progress") return "an attempt is in flight now";
  if (t && !t.enabled) return `its target is disabled${t.disabled_reason ? ` (${t.disabled_reason})` : ""}`;
  if (t && t.paused_until && t.paused_until > now)
    return `the target's breaker is open until ${when(t.paused_until)} (${ago(t.paused_until)})${t.paused_reason ? `: ${t.paused_reason}` : ""}`;
  const why = [];
  if (d.status === "rate_limited") why.push("the receiver asked to wait (429 or Retry-After)");
  if (t && t.rate_current !== null && t.rate_current !== undefined) why.push(`the target is throttled to ${t.rate_current}/s`);
  else if (t && t.rate_limit_enabled && t.rate_per_second) why.push(`the target sends at most ${t.rate_per_second}/s`);
  why.push(d.next_attempt_at > now ? `next attempt ${ago(d.next_attempt_at)}, at ${when(d.next_attempt_at)}` : "due now: a worker takes it next");
  return why.join("; ");
}

async function deliveries(params) {
  const query = Object.fromEntries(["status", "target_id", "type", "since", "app_id", "iterator"].map((k) => [k, params.get(k)]));
  const [p, targetList] = await Promise.all([api("/deliveries", { query: { ...query, limit: 50 } }), allTargets()]);
  const byId = new Map(targetList.map((t) => [t.id, t]));
  const rows = p.data.map((d) => {
    const t = byId.get(d.target_id), why = whyWaiting(d, t);
    const answer = d.last_status_code === null ? d.last_error : `HTTP ${d.last_status_code}`;
    return h("tr", { class: "clickable", "data-id": d.id, onclick: () => (location.hash = `#/deliveries/${d.id}`) },
      h("td", { class: "num" }, h("a", { href: `#/deliveries/${d.id}` }, d.id)),
      h("td", {}, statusBadge(d.status)),
      h("td", {}, d.target_id), h("td", {}, d.type),
      tenant() ? null : h("td", { class: "hide-narrow app" }, (t || {}).app_id || "—"),
      h("td", { class: "num" }, d.attempt_count),
      h("td", { class: "hide-narrow why" }, [answer, why].filter(Boolean).join(" · ") || "—"),
      h("td", { title: when(d.created_at) }, ago(d.created_at)));
  });
  return [
    filterForm(params, "deliveries", [["status", "Status", STATUSES], ...commonFilters(targetList), ["since", "Since"]]),
    h("div", { class: "table-wrap" }, h("table", { id: "deliveries" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "ID"), h("th", {}, "Status"), h("th", {}, "Target"), h("th", {}, "Type"),
        tenant() ? null : h("th", { class: "hide-narrow" }, "Application"),
        h("th", { class: "num" }, "Attempts"), h("th", { class: "hide-narrow" }, "Last answer, or why it waits"), h("th", {}, "Created"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No deliveries match."))))),
    pager(params, p.done ? null : p.iterator, "deliveries"),
  ];
}

function prettyJson(value) {
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

async function delivery(id) {
  const d = await api(`/deliveries/${encodeURIComponent(id)}`);
  let event = null, eventText = "", t = null;
  try {
    eventText = await apiText(`/events/${encodeURIComponent(d.event_uid)}`);
    event = JSON.parse(eventText);
  } catch (e) { event = { error: e.message }; }
  try { t = await api(`/targets/${encodeURIComponent(d.target_id)}`); } catch { t = null; }
  const why = whyWaiting(d, t);
  const resend = can("manage") && (d.status === "delivered" || d.status === "dead_letter")
    ? h("button", { id: "resend", title: "Send it again as a new series of attempts, with a fresh attempt budget", onclick: async () => {
        await api("/deliveries/resend", { method: "POST", body: { ids: [d.id] } });
        toast(`Delivery ${d.id} queued again`);
        route();
      } }, "Resend") : null;
  const retry = can("manage") && d.status === "dead_letter"
    ? h("button", { id: "retry", title: "Take it out of the dead-letter queue and try again (for an ordered target: at the head of its group)", onclick: async () => {
        await api("/dead-letters/retry", { method: "POST", body: { ids: [d.id] } });
        toast(`Dead letter ${d.id} retried`);
        route();
      } }, "Retry dead letter") : null;
  const release = can("manage") && d.blocks_group
    ? h("button", { id: "release", onclick: async () => {
        await api(`/dead-letters/${d.id}/release`, { method: "POST" });
        toast(`The group of dead letter ${d.id} goes on`);
        route();
      } }, "Release its group") : null;
  const ordering = d.ordering_group === undefined ? null : [
    h("dt", {}, "Ordering group"), h("dd", {}, d.ordering_group === "" ? "the whole target (fifo)" : `key ${d.ordering_group}`),
    d.waiting_behind !== undefined ? [h("dt", {}, "Waits behind"), h("dd", { id: "waiting-behind" },
      h("a", { href: `#/deliveries/${d.waiting_behind}` }, `delivery ${d.waiting_behind}`),
      " (it goes when that one is delivered or dead-lettered)")] : null,
    d.blocks_group ? [h("dt", {}, "Blocks"), h("dd", { id: "blocks-group" }, "its group, until released or retried")] : null];
  return [
    h("div", { class: "card" }, h("dl", { class: "kv", id: "delivery" },
      h("dt", {}, "Status"), h("dd", {}, statusBadge(d.status)),
      h("dt", {}, "Target"), h("dd", {}, h("a", { href: `#/targets/${encodeURIComponent(d.target_id)}` }, d.target_id)),
      h("dt", {}, "Event"), h("dd", {}, h("a", { href: `#/events/${encodeURIComponent(d.event_uid)}`, id: "event-link" }, d.event_uid),
        ` (${d.type}; the webhook-id header the receiver saw)`),
      why ? [h("dt", {}, "Why it waits"), h("dd", { id: "why-waiting" }, why)] : null,
      h("dt", {}, "Created"), h("dd", {}, when(d.created_at)),
      h("dt", {}, "Next attempt"), h("dd", {}, d.completed_at || d.status === "waiting" ? "—" : when(d.next_attempt_at)),
      h("dt", {}, "Completed"), h("dd", {}, when(d.completed_at)),
      d.dead_letter_reason ? [h("dt", {}, "Dead-letter reason"), h("dd", {}, d.dead_letter_reason)] : null,
      ordering,
      h("dt", {}, "Last error"), h("dd", {}, d.last_error || "—")),
      h("div", { class: "actions" }, resend, retry, release),
      resend && retry ? h("p", { class: "muted" }, "Retry takes the dead letter out of the queue; Resend does the same and counts as a new series of attempts for a delivered one too.") : null),
    h("h2", {}, "Payload"),
    h("pre", { id: "payload" }, event.error ? `(could not read the event: ${event.error})` : prettyJson(event.data)),
    h("h2", {}, `Attempts (${d.attempts.length})`),
    d.attempts.length ? h("div", { id: "attempts" }, [...d.attempts].reverse().map((a) => h("div", { class: "card attempt", "data-number": a.number },
      h("dl", { class: "kv" },
        h("dt", {}, "Attempt"), h("dd", {}, `#${a.number} at ${when(a.started_at)}`),
        h("dt", {}, "Answer"), h("dd", {}, a.status_code === null ? "no response" : `HTTP ${a.status_code}`),
        h("dt", {}, "Duration"), h("dd", {}, dur(a.duration_ms)),
        a.error_type ? [h("dt", {}, "Error"), h("dd", {}, `${a.error_type}: ${a.error_message || ""}`)] : null,
        a.retry_after_ms !== null ? [h("dt", {}, "Retry-After"), h("dd", {}, dur(a.retry_after_ms))] : null),
      attemptRequest(a, event.error ? "" : requestBody(eventText, event, t ? t.body_format : "envelope")),
      a.response_head ? h("details", { class: "response", open: true }, h("summary", {}, "Answer headers"),
        h("pre", { class: "response-head" }, a.response_head)) : null,
      h("div", { class: "muted" }, "Response excerpt"),
      h("pre", { class: "excerpt" }, a.response_excerpt || "(empty)")))) : h("p", { class: "muted" }, "No attempt yet."),
  ];
}

async function deadLetters(params) {
  const query = Object.fromEntries(["target_id", "type", "since", "app_id", "iterator"].map((k) => [k, params.get(k)]));
  const [p, targetList] = await Promise.all([api("/dead-letters", { query: { ...query, limit: 50 } }), allTargets()]);
  const manage = can("manage");
  const retryOne = (id) => async (ev) => {
    ev.stopPropagation();
    const r = await api("/dead-letters/retry", { method: "POST", body: { ids: [id] } });
    toast(`Retried ${r.requeued}`);
    route();
  };
  const retryAll = async () => {
    const body = { all: true };
    for (const k of ["target_id", "type", "since", "app_id"]) if (params.get(k)) body[k] = params.get(k);
    const r = await api("/dead-letters/retry", { method: "POST", body });
    toast(`Retried ${r.requeued}`);
    route();
  };
  const rows = p.data.map((d) => h("tr", { class: "clickable", "data-id": d.id, onclick: () => (location.hash = `#/deliveries/${d.id}`) },
    h("td", { class: "num" }, h("a", { href: `#/deliveries/${d.id}` }, d.id)),
    h("td", {}, d.target_id), h("td", {}, d.type),
    h("td", {}, d.dead_letter_reason || d.last_error || "—"),
    h("td", { class: "hide-narrow", title: when(d.updated_at) }, ago(d.updated_at)),
    manage ? h("td", {}, h("button", { class: "secondary retry-one", onclick: retryOne(d.id) }, "Retry")) : null));
  return [
    filterForm(params, "dead-letters", [...commonFilters(targetList), ["since", "Since"]]),
    manage && p.data.length ? h("p", {}, h("button", { id: "retry-all", onclick: retryAll }, "Retry all that match")) : null,
    h("div", { class: "table-wrap" }, h("table", { id: "dead-letters" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "ID"), h("th", {}, "Target"), h("th", {}, "Type"), h("th", {}, "Reason"),
        h("th", { class: "hide-narrow" }, "Moved"), manage ? h("th", {}, "") : null)),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "The dead-letter queue is empty."))))),
    pager(params, p.done ? null : p.iterator, "dead-letters"),
  ];
}

function health(t) {
  const now = Date.now();
  if (!t.enabled) return h("span", { class: "status s-disabled" }, "disabled");
  if (t.paused_until && t.paused_until > now) return h("span", { class: "status s-paused" }, "breaker open");
  if (t.rate_current !== null && t.rate_current !== undefined) return h("span", { class: "status s-throttled" }, "throttled");
  return h("span", { class: "status s-enabled" }, "healthy");
}

function rate(t) {
  if (t.rate_current !== null && t.rate_current !== undefined) return `${t.rate_current}/s (adaptive)`;
  return t.rate_limit_enabled && t.rate_per_second ? `${t.rate_per_second}/s` : "unlimited";
}

function targetActions(t) {
  const out = [];
  if (can("manage"))
    out.push(h("button", { class: "secondary toggle", "data-target": t.id, onclick: async (ev) => {
      ev.stopPropagation();
      await api(`/targets/${encodeURIComponent(t.id)}/${t.enabled ? "disable" : "enable"}`, { method: "POST" });
      toast(`${t.id} ${t.enabled ? "disabled" : "enabled"}`);
      route();
    } }, t.enabled ? "Disable" : "Enable"));
  if (can("admin"))
    out.push(h("button", { class: "secondary rotate", "data-target": t.id, onclick: async (ev) => {
      ev.stopPropagation();
      if (!confirm(`Rotate the signing secret of ${t.id}? The old one keeps signing for 24 h.`)) return;
      const r = await api(`/targets/${encodeURIComponent(t.id)}/secret/rotate`, { method: "POST", body: {} });
      const box = h("div", { class: "card", id: "new-secret" }, h("p", {}, `New secret of ${t.id} (shown once; the previous one works until ${when(r.previous_secret_expires_at)}):`),
                    h("pre", {}, r.secret));
      main.prepend(box);
    } }, "Rotate secret"));
  return h("div", { class: "actions" }, out);
}

async function targets(params) {
  const app = tenant() ? null : params.get("app_id");
  const everyTarget = await allTargets();
  const list = everyTarget.filter((t) => !app || t.app_id === app);
  const rows = list.map((t) => h("tr", { class: "clickable", "data-id": t.id, onclick: () => (location.hash = `#/targets/${encodeURIComponent(t.id)}`) },
    h("td", {}, h("a", { href: `#/targets/${encodeURIComponent(t.id)}` }, t.id)),
    tenant() ? null : h("td", { class: "hide-narrow app" }, t.app_id || "—"),
    h("td", {}, health(t)),
    h("td", { class: "hide-narrow" }, t.url),
    h("td", { class: "num" }, t.consecutive_failures),
    h("td", {}, rate(t)),
    h("td", {}, targetActions(t))));
  return [
    h("div", { class: "actions" },
      can("manage") ? h("a", { class: "button", href: "#/targets/new", id: "new-target" }, "New target") : null,
      tenant() ? null : filterForm(params, "targets", appFilter(everyTarget))),
    h("div", { class: "table-wrap" }, h("table", { id: "targets" },
      h("thead", {}, h("tr", {}, h("th", {}, "Target"), tenant() ? null : h("th", { class: "hide-narrow" }, "Application"),
        h("th", {}, "Health"), h("th", { class: "hide-narrow" }, "URL"),
        h("th", { class: "num" }, "Failures in a row"), h("th", {}, "Rate"), h("th", {}, ""))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No targets yet."))))),
  ];
}

// Target create and edit: the settings people change most, sent as the
// API's JSON; the server checks every rule and its sentence shows here.
async function targetForm(id) {
  const t = id ? await api(`/targets/${encodeURIComponent(id)}`) : null;
  const field = (name, label, value, attrs = {}, hint = "") => h("label", { class: "field" }, label,
    h("input", { name, value: value === null || value === undefined ? "" : value, ...attrs }), hint ? h("small", { class: "muted" }, hint) : null);
  const headers = t ? Object.entries(t.headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n") : "";
  const message = h("p", { class: "error", id: "form-error", role: "alert" });
  const form = h("form", { class: "card target-form", id: "target-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements, body = {};
    const text = (n) => f[n].value.trim();
    if (!t) body.id = text("id");
    if (!t || text("url") !== t.url) body.url = text("url"); // a URL shown masked is sent back only when changed
    if (text("name") || t) body.name = text("name");
    body.event_filters = text("event_filters") ? text("event_filters").split(/[\s,]+/).filter(Boolean) : [];
    body.headers = {};
    for (const line of f.headers.value.split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf(":");
      if (at < 1) { message.textContent = `A header line is "Name: value": ${line}`; return; }
      body.headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    if (text("max_attempts")) body.max_attempts = Number(text("max_attempts"));
    if (text("retry_schedule")) {
      const s = text("retry_schedule");
      body.retry_schedule = /^[0-9,\s]+$/.test(s) ? s.split(/[\s,]+/).filter(Boolean).map(Number) : s;
    }
    if (text("rate_per_second")) { body.rate_per_second = Number(text("rate_per_second")); body.rate_limit_enabled = true; }
    else if (t && t.rate_limit_enabled) body.rate_limit_enabled = false;
    if (text("max_in_flight")) body.max_in_flight = Number(text("max_in_flight"));
    else if (t && t.max_in_flight !== null) body.max_in_flight = null;
    if (!t && f.app_id && text("app_id")) body.app_id = text("app_id");
    try {
      const saved = await api(t ? `/targets/${encodeURIComponent(t.id)}` : "/targets", { method: t ? "PATCH" : "POST", body });
      toast(`${saved.id} ${t ? "saved" : "created"}`);
      if (!t && saved.secret) { // generated: shown this once, before leaving the form
        show(h("h1", {}, `Target ${saved.id} created`),
             h("div", { class: "card", id: "new-secret" }, h("p", {}, "Its signing secret, shown only now: give it to the receiver."),
               h("pre", {}, saved.secret), h("a", { class: "button", href: `#/targets/${encodeURIComponent(saved.id)}` }, "Go to the target")));
        return;
      }
      location.hash = `#/targets/${encodeURIComponent(saved.id)}`;
    } catch (e) {
      message.textContent = e.message;
    }
  } },
    t ? null : field("id", "ID", "", { required: true, pattern: "[A-Za-z0-9_.\\-]+", placeholder: "billing-prod" }),
    field("url", "URL", t && t.url, { required: true, type: "url", placeholder: "https://example.com/webhooks" }),
    field("name", "Name", t && t.name),
    field("event_filters", "Events", t ? t.event_filters.join(", ") : "", { placeholder: "all, or order.*, invoice.paid" },
          "Event types or patterns with *, separated by commas; empty for every type."),
    h("label", { class: "field" }, "Headers", h("textarea", { name: "headers", rows: 3, placeholder: "X-Team: billing" }, headers),
      h("small", { class: "muted" }, "One per line, Name: value; sent with every request.")),
    field("max_attempts", "Attempts", t && t.max_attempts, { type: "number", min: 1, max: 100 }),
    field("retry_schedule", "Retry schedule", t && (t.retry_schedule_name || (Array.isArray(t.retry_schedule) ? t.retry_schedule.join(", ") : "")), {
      placeholder: "a schedule's name, or delays in ms: 1000, 5000, 60000" }, "Empty keeps the exponential backoff."),
    field("rate_per_second", "Rate", t && t.rate_limit_enabled ? t.rate_per_second : "", { type: "number", min: 0, step: "any", placeholder: "unlimited" },
          "Requests a second at most; empty for no limit."),
    field("max_in_flight", "In flight at most", t && t.max_in_flight, { type: "number", min: 1, placeholder: "no cap" }),
    !t && !tenant() ? field("app_id", "Application", "", { placeholder: "none" }) : null,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-target" }, t ? "Save" : "Create"),
      h("a", { class: "button secondary", href: t ? `#/targets/${encodeURIComponent(t.id)}` : "#/targets" }, "Cancel")),
    message);
  return form;
}

async function sendTest(t) {
  const r = await api(`/targets/${encodeURIComponent(t.id)}/test`, { method: "POST", body: {} });
  toast(`Test event ${r.id} sent to ${t.id}`);
  location.hash = `#/events/${encodeURIComponent(r.id)}`;
}

async function events(params) {
  const query = Object.fromEntries(["type", "since", "app_id", "idempotency_key", "iterator"].map((k) => [k, params.get(k)]));
  const [p, targetList] = await Promise.all([api("/events", { query: { ...query, limit: 50 } }), allTargets()]);
  const rows = p.data.map((e) => h("tr", { class: "clickable", "data-id": e.id, onclick: () => (location.hash = `#/events/${encodeURIComponent(e.id)}`) },
    h("td", {}, h("a", { href: `#/events/${encodeURIComponent(e.id)}` }, e.id)),
    h("td", {}, e.type),
    tenant() ? null : h("td", { class: "hide-narrow app" }, e.app_id || "—"),
    h("td", { class: "hide-narrow" }, e.idempotency_key || "—"),
    h("td", { title: when(e.created_at) }, ago(e.created_at))));
  return [
    filterForm(params, "events", [["type", "Type"], ...appFilter(targetList),
                                  ["idempotency_key", "Idempotency key"], ["since", "Since"]]),
    h("div", { class: "table-wrap" }, h("table", { id: "events" },
      h("thead", {}, h("tr", {}, h("th", {}, "Event (webhook-id)"), h("th", {}, "Type"), tenant() ? null : h("th", { class: "hide-narrow" }, "Application"),
        h("th", { class: "hide-narrow" }, "Idempotency key"), h("th", {}, "Created"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No events match."))))),
    pager(params, p.done ? null : p.iterator, "events"),
  ];
}

// One event and its fan-out: a delivery per target, with where each stands.
async function event(uid) {
  const e = await api(`/events/${encodeURIComponent(uid)}`);
  const rows = e.deliveries.map((d) => h("tr", { class: "clickable", "data-id": d.id, onclick: () => (location.hash = `#/deliveries/${d.id}`) },
    h("td", { class: "num" }, h("a", { href: `#/deliveries/${d.id}` }, d.id)),
    h("td", {}, h("a", { href: `#/targets/${encodeURIComponent(d.target_id)}` }, d.target_id)),
    h("td", {}, statusBadge(d.status)),
    h("td", { class: "num" }, d.attempt_count),
    h("td", {}, d.last_status_code === null ? (d.last_error || "—") : `HTTP ${d.last_status_code}`)));
  return [
    h("div", { class: "card" }, h("dl", { class: "kv", id: "event" },
      h("dt", {}, "Event id"), h("dd", {}, e.id, h("span", { class: "muted" }, " (the webhook-id header)")),
      h("dt", {}, "Type"), h("dd", {}, e.type),
      tenant() ? null : [h("dt", {}, "Application"), h("dd", {}, e.app_id || "none")],
      h("dt", {}, "Created"), h("dd", {}, when(e.created_at)),
      h("dt", {}, "Idempotency key"), h("dd", {}, e.idempotency_key || "—"),
      e.ordering_key ? [h("dt", {}, "Ordering key"), h("dd", {}, e.ordering_key)] : null)),
    h("h2", {}, `Fan-out (${e.deliveries.length} ${e.deliveries.length === 1 ? "target" : "targets"})`),
    h("div", { class: "table-wrap" }, h("table", { id: "fan-out" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Delivery"), h("th", {}, "Target"), h("th", {}, "Status"),
        h("th", { class: "num" }, "Attempts"), h("th", {}, "Last answer"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No target took this event."))))),
    h("h2", {}, "Payload"),
    h("pre", { id: "event-payload" }, prettyJson(e.data)),
  ];
}

async function target(id) {
  const [t, series] = await Promise.all([
    api(`/targets/${encodeURIComponent(id)}`),
    api("/stats/timeseries", { query: { since: "6h", step: "5m", target_id: id } }),
  ]);
  const why = needsAttention(t);
  return [
    h("div", { class: "card" }, h("dl", { class: "kv", id: "target" },
      h("dt", {}, "Health"), h("dd", {}, health(t), why.length ? ` ${why.join("; ")}` : ""),
      h("dt", {}, "URL"), h("dd", {}, t.url),
      h("dt", {}, "Secret"), h("dd", {}, t.secret),
      h("dt", {}, "Events"), h("dd", {}, t.event_filters.length ? t.event_filters.join(", ") : "all"),
      h("dt", {}, "Ordering"), h("dd", { id: "target-ordering" }, t.ordering === "none" ? "none" : `${t.ordering}, a dead letter ${t.ordering_dead_letter === "block" ? "blocks its group" : "lets its group go on"}`),
      h("dt", {}, "Payload filter"), h("dd", {}, t.filter ? h("code", { id: "target-filter" }, JSON.stringify(t.filter)) : "none: every payload"),
      h("dt", {}, "Rate"), h("dd", {}, rate(t)),
      h("dt", {}, "In flight at most"), h("dd", {}, t.max_in_flight === null ? "no cap" : t.max_in_flight),
      h("dt", {}, "Breaker"), h("dd", {}, t.paused_until ? `open until ${when(t.paused_until)} (${t.paused_reason || ""})` : "closed"),
      h("dt", {}, "Attempts"), h("dd", {}, `${t.max_attempts} (${t.retry_schedule_name || "backoff"})`),
      tenant() ? null : [h("dt", {}, "Application"), h("dd", {}, t.app_id || "none")]),
      targetActions(t),
      can("manage") ? h("div", { class: "actions" },
        h("a", { class: "button secondary", href: `#/targets/${encodeURIComponent(t.id)}/edit`, id: "edit-target" }, "Edit"),
        h("button", { class: "secondary", id: "send-test", onclick: () => sendTest(t) }, "Send test event")) : null),
    h("p", {}, h("a", { href: `#/deliveries?target_id=${encodeURIComponent(t.id)}` }, "Its deliveries"), " · ",
      h("a", { href: `#/dead-letters?target_id=${encodeURIComponent(t.id)}` }, "Its dead letters")),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h2", {}, "Attempts, last 6 h"), barChart(series.points, series.step_ms)),
      h("div", { class: "card" }, h("h2", {}, "Latency, last 6 h"), latencyChart(series.points))),
  ];
}

// --- router -----------------------------------------------------------------

function route() {
  if (!sessionStorage.getItem(KEY) || !self) return renderLogin();
  const [path, q] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(q || "");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || "overview";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
  if (name === "events" && parts[1]) return page(`Event ${parts[1]}`, () => event(parts[1]));
  if (name === "events") return page("Events", () => events(params));
  if (name === "deliveries" && parts[1]) return page(`Delivery ${parts[1]}`, () => delivery(parts[1]));
  if (name === "deliveries") return page("Deliveries", () => deliveries(params));
  if (name === "dead-letters") return page("Dead letters", () => deadLetters(params));
  if (name === "targets" && parts[1] === "new") return page("New target", () => targetForm(null));
  if (name === "targets" && parts[1] && parts[2] === "edit") return page(`Edit ${parts[1]}`, () => targetForm(parts[1]));
  if (name === "targets" && parts[1]) return page(`Target ${parts[1]}`, () => target(parts[1]));
  if (name === "targets") return page("Targets", () => targets(params));
  return page("Overview", () => overview(params));
}

// A portal link: the token moves from the fragment to this tab's storage,
// and the fragment is replaced, so it stays out of history and bookmarks.
// Also when the link is opened in a tab that shows the dashboard already.
function takePortalLink() {
  if (!location.hash.startsWith(PORTAL)) return false;
  sessionStorage.setItem(KEY, decodeURIComponent(location.hash.slice(PORTAL.length)));
  history.replaceState(null, "", location.pathname + location.search + "#/");
  self = null;
  return true;
}

window.addEventListener("hashchange", () => {
  if (takePortalLink()) start().catch((e) => renderLogin(e.message));
  else route();
});
document.getElementById("logout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("unhandledrejection", (ev) => {
  if (ev.reason instanceof ApiError && ev.reason.status === 401) return;
  toast(ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason));
});

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const box = document.getElementById("search-input");
  search(box.value);
  box.value = "";
});

takePortalLink();
if (sessionStorage.getItem(KEY)) start().catch((e) => renderLogin(e.message));
else renderLogin();
