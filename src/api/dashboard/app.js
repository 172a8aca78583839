// webhookd dashboard: one ES module, no framework, no build step. It reads
// /api/v1 only, with the key kept in sessionStorage. Text from the store
// (payloads, errors, response excerpts: a stranger's bytes) only ever goes
// into the page through textContent; nothing here sets innerHTML.

const KEY = "webhookd.api_key";
const API = "/api/v1";
const main = document.getElementById("main");
let self = null; // the key's own record: {id, name, scopes}

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

async function api(path, { method = "GET", query, body } = {}) {
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
  return doc;
}

const can = (scope) => !!self && (self.scopes.includes("admin") || self.scopes.includes(scope) ||
                                  (scope === "read" && self.scopes.includes("manage")));

// --- formatting ------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");
function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function ago(ms) {
  if (ms === null || ms === undefined) return "—";
  const s = Math.round((Date.now() - ms) / 1000);
  const a = Math.abs(s), f = a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return s >= 0 ? `${f} ago` : `in ${f}`;
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
  document.getElementById("who").textContent = `${self.name || self.id} · ${self.scopes.join(", ")}`;
  route();
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
    Object.entries(depth).map(([s, n]) => h("a", { class: "tile", href: `#/deliveries?status=${s}&since=${span}`, "data-status": s },
                                            h("b", {}, num(n)), h("span", {}, s.replace("_", " ")))));
  const attention = targets.map((t) => [t, needsAttention(t)]).filter(([, w]) => w.length);
  const totals = series.points.reduce((a, p) => ({ attempts: a.attempts + p.attempts, delivered: a.delivered + p.delivered }),
                                      { attempts: 0, delivered: 0 });
  return [
    h("div", { class: "actions" }, Object.keys(SPANS).map((s) =>
      h("a", { class: "button" + (s === span ? "" : " secondary"), href: `#/?span=${s}` }, `last ${s}`))),
    h("h2", {}, `Deliveries created in the last ${span}, by status`), tiles,
    h("p", { class: "muted" }, `Oldest due delivery waiting: ${stats.oldest_due_age_ms === null ? "none" : ms(stats.oldest_due_age_ms)}. `,
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
      : h("input", { name, value, placeholder: label === "Since" ? "1h, 7d or ISO time" : "" });
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

async function deliveries(params) {
  const query = Object.fromEntries(["status", "target_id", "type", "since", "iterator"].map((k) => [k, params.get(k)]));
  const p = await api("/deliveries", { query: { ...query, limit: 50 } });
  const rows = p.data.map((d) => h("tr", { class: "clickable", "data-id": d.id, onclick: () => (location.hash = `#/deliveries/${d.id}`) },
    h("td", { class: "num" }, h("a", { href: `#/deliveries/${d.id}` }, d.id)),
    h("td", {}, statusBadge(d.status)),
    h("td", {}, d.target_id), h("td", {}, d.type),
    h("td", { class: "num" }, d.attempt_count),
    h("td", { class: "hide-narrow" }, d.last_status_code === null ? (d.last_error || "—") : `HTTP ${d.last_status_code}`),
    h("td", { title: when(d.created_at) }, ago(d.created_at))));
  return [
    filterForm(params, "deliveries", [["status", "Status", STATUSES], ["target_id", "Target"], ["type", "Type"], ["since", "Since"]]),
    h("div", { class: "table-wrap" }, h("table", { id: "deliveries" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "ID"), h("th", {}, "Status"), h("th", {}, "Target"), h("th", {}, "Type"),
        h("th", { class: "num" }, "Attempts"), h("th", { class: "hide-narrow" }, "Last answer"), h("th", {}, "Created"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No deliveries match."))))),
    pager(params, p.done ? null : p.iterator, "deliveries"),
  ];
}

function prettyJson(value) {
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

async function delivery(id) {
  const d = await api(`/deliveries/${encodeURIComponent(id)}`);
  let event = null;
  try { event = await api(`/events/${encodeURIComponent(d.event_uid)}`); } catch (e) { event = { error: e.message }; }
  const resend = can("manage") && (d.status === "delivered" || d.status === "dead_letter")
    ? h("button", { id: "resend", onclick: async () => {
        await api("/deliveries/resend", { method: "POST", body: { ids: [d.id] } });
        toast(`Delivery ${d.id} queued again`);
        route();
      } }, "Resend") : null;
  const retry = can("manage") && d.status === "dead_letter"
    ? h("button", { id: "retry", onclick: async () => {
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
      h("dt", {}, "Event"), h("dd", {}, `${d.event_uid} (${d.type})`),
      h("dt", {}, "Created"), h("dd", {}, when(d.created_at)),
      h("dt", {}, "Next attempt"), h("dd", {}, d.completed_at || d.status === "waiting" ? "—" : when(d.next_attempt_at)),
      h("dt", {}, "Completed"), h("dd", {}, when(d.completed_at)),
      d.dead_letter_reason ? [h("dt", {}, "Dead-letter reason"), h("dd", {}, d.dead_letter_reason)] : null,
      ordering,
      h("dt", {}, "Last error"), h("dd", {}, d.last_error || "—")),
      h("div", { class: "actions" }, resend, retry, release)),
    h("h2", {}, "Payload"),
    h("pre", { id: "payload" }, event.error ? `(could not read the event: ${event.error})` : prettyJson(event.data)),
    h("h2", {}, `Attempts (${d.attempts.length})`),
    d.attempts.length ? h("div", { id: "attempts" }, [...d.attempts].reverse().map((a) => h("div", { class: "card attempt", "data-number": a.number },
      h("dl", { class: "kv" },
        h("dt", {}, "Attempt"), h("dd", {}, `#${a.number} at ${when(a.started_at)}`),
        h("dt", {}, "Answer"), h("dd", {}, a.status_code === null ? "no response" : `HTTP ${a.status_code}`),
        h("dt", {}, "Duration"), h("dd", {}, ms(a.duration_ms)),
        a.error_type ? [h("dt", {}, "Error"), h("dd", {}, `${a.error_type}: ${a.error_message || ""}`)] : null,
        a.retry_after_ms !== null ? [h("dt", {}, "Retry-After"), h("dd", {}, ms(a.retry_after_ms))] : null),
      h("div", { class: "muted" }, "Response excerpt"),
      h("pre", { class: "excerpt" }, a.response_excerpt || "(empty)")))) : h("p", { class: "muted" }, "No attempt yet."),
  ];
}

async function deadLetters(params) {
  const query = Object.fromEntries(["target_id", "type", "since", "iterator"].map((k) => [k, params.get(k)]));
  const p = await api("/dead-letters", { query: { ...query, limit: 50 } });
  const manage = can("manage");
  const retryOne = (id) => async (ev) => {
    ev.stopPropagation();
    const r = await api("/dead-letters/retry", { method: "POST", body: { ids: [id] } });
    toast(`Retried ${r.requeued}`);
    route();
  };
  const retryAll = async () => {
    const body = { all: true };
    for (const k of ["target_id", "type", "since"]) if (params.get(k)) body[k] = params.get(k);
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
    filterForm(params, "dead-letters", [["target_id", "Target"], ["type", "Type"], ["since", "Since"]]),
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

async function targets() {
  const list = await allTargets();
  const rows = list.map((t) => h("tr", { class: "clickable", "data-id": t.id, onclick: () => (location.hash = `#/targets/${encodeURIComponent(t.id)}`) },
    h("td", {}, h("a", { href: `#/targets/${encodeURIComponent(t.id)}` }, t.id)),
    h("td", {}, health(t)),
    h("td", { class: "hide-narrow" }, t.url),
    h("td", { class: "num" }, t.consecutive_failures),
    h("td", {}, rate(t)),
    h("td", {}, targetActions(t))));
  return h("div", { class: "table-wrap" }, h("table", { id: "targets" },
    h("thead", {}, h("tr", {}, h("th", {}, "Target"), h("th", {}, "Health"), h("th", { class: "hide-narrow" }, "URL"),
      h("th", { class: "num" }, "Failures in a row"), h("th", {}, "Rate"), h("th", {}, ""))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No targets yet.")))));
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
      h("dt", {}, "Attempts"), h("dd", {}, `${t.max_attempts} (${t.retry_schedule_name || "backoff"})`)),
      targetActions(t)),
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
  if (name === "deliveries" && parts[1]) return page(`Delivery ${parts[1]}`, () => delivery(parts[1]));
  if (name === "deliveries") return page("Deliveries", () => deliveries(params));
  if (name === "dead-letters") return page("Dead letters", () => deadLetters(params));
  if (name === "targets" && parts[1]) return page(`Target ${parts[1]}`, () => target(parts[1]));
  if (name === "targets") return page("Targets", () => targets());
  return page("Overview", () => overview(params));
}

window.addEventListener("hashchange", route);
document.getElementById("logout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("unhandledrejection", (ev) => {
  if (ev.reason instanceof ApiError && ev.reason.status === 401) return;
  toast(ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason));
});

if (sessionStorage.getItem(KEY)) start().catch((e) => renderLogin(e.message));
else renderLogin();
