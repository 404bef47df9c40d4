// compound dashboard: reads the app's JSON API and draws inline SVG charts. No dependencies,
// nothing fetched from anywhere but this server.
"use strict";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
const SVG = "http://www.w3.org/2000/svg";
const state = { key: sessionStorage.getItem("compound-key") || "", timer: null };

function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path) {
  const headers = state.key ? { Authorization: "Bearer " + state.key } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401 || response.status === 403) {
    document.getElementById("key-form").hidden = false;
    const body = await response.json().catch(() => ({}));
    throw new Error((body.error && body.error.message) || "this page needs an API key");
  }
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function fmtTime(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
function fmtNum(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  if (Math.abs(v) >= 1000) return (v / 1000).toFixed(1) + "k";
  return Number(v.toFixed(digits)).toString();
}

// A line chart of several series over shared times; null values leave gaps.
function lineChart(figure, times, series, { unit = "", min = 0 } = {}) {
  const plot = figure.querySelector(".plot");
  plot.replaceChildren();
  const W = 460, H = 180, L = 48, R = 8, T = 8, B = 22;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const values = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const drawn = series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== undefined).length, 0);
  figure.dataset.points = String(drawn);
  const lo = Math.min(min, ...values);
  let hi = Math.max(lo, ...values);
  if (hi - lo < 1e-9) hi = lo + 1; // a flat series (all zero cost) still gets a readable axis
  const x = (i) => L + (times.length > 1 ? (i / (times.length - 1)) * (W - L - R) : (W - L - R) / 2);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    svg.append(el("svg:line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("svg:text", { x: L - 4, y: y(v) + 3, class: "tick", "text-anchor": "end" }, fmtNum(v) + unit));
  }
  const every = Math.max(1, Math.ceil(times.length / 6));
  times.forEach((t, i) => {
    if (i % every === 0) svg.append(el("svg:text", { x: x(i), y: H - 6, class: "tick", "text-anchor": "middle" }, fmtTime(t)));
  });
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length];
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1);
      pen = true;
      const dot = el("svg:circle", { cx: x(i), cy: y(v), r: 2.5, fill: color, class: "dot" });
      dot.append(el("svg:title", {}, `${s.name} ${fmtTime(times[i])}: ${fmtNum(v, 4)}${unit}`));
      svg.append(dot);
    });
    if (d) svg.append(el("svg:path", { d, stroke: color, fill: "none", "stroke-width": 1.8, "data-series": s.name }));
  });
  plot.append(svg);
  const legend = el("div", { class: "legend" });
  series.forEach((s, i) => {
    const item = el("span", { class: "key" }, s.name);
    item.style.setProperty("--c", COLORS[i % COLORS.length]);
    legend.append(item);
  });
  if (!drawn) legend.append(el("span", { class: "muted" }, " no data in this window yet"));
  plot.append(legend);
}

function emptyRow(columns, text) {
  const row = el("tr");
  row.append(el("td", { colspan: columns, class: "muted" }, text));
  return row;
}

function chart(name) { return document.querySelector(`figure[data-chart="${name}"]`); }
function pct(v) { return v === null || v === undefined ? null : v * 100; }
function sum(points, key) { return points.reduce((n, p) => n + (p[key] || 0), 0); }

function drawSeries(data) {
  const points = data.points;
  const times = points.map((p) => p.t);
  const col = (key, f = (v) => v) => points.map((p) => (p.requests || key === "rps" ? f(p[key]) : null));
  lineChart(chart("traffic"), times, [{ name: "runs/s", values: points.map((p) => p.rps) }]);
  lineChart(chart("latency"), times, ["p50_ms", "p95_ms", "p99_ms"].map((k) => ({ name: k.replace("_ms", ""), values: col(k) })), { unit: "" });
  lineChart(chart("errors"), times, [
    { name: "errors", values: col("error_rate", pct) },
    { name: "fallbacks", values: col("fallback_rate", pct) },
  ], { unit: "%" });
  lineChart(chart("cost"), times, [{ name: "USD", values: points.map((p) => p.cost_usd) }]);
  const metrics = [...new Set(points.flatMap((p) => Object.keys(p.quality || {})))];
  lineChart(chart("quality"), times, [
    ...metrics.map((m) => ({ name: m, values: points.map((p) => (p.quality && m in p.quality ? p.quality[m] : null)) })),
    { name: "thumbs up", values: points.map((p) => p.thumbs_up_rate) },
    { name: "rating / 5", values: points.map((p) => (p.mean_rating === null ? null : p.mean_rating / 5)) },
  ], { min: 0 });
  const kinds = [...new Set(points.flatMap((p) => Object.keys(p.feedback || {})))].sort();
  lineChart(chart("feedback"), times, (kinds.length ? kinds : ["signals"]).map((k) => ({
    name: k, values: points.map((p) => (p.feedback || {})[k] || 0),
  })));

  const runs = sum(points, "requests");
  const withLatency = points.filter((p) => p.p50_ms !== null);
  const last = withLatency[withLatency.length - 1];
  document.getElementById("kpi-runs").textContent = fmtNum(runs, 0);
  document.getElementById("kpi-latency").textContent = last ? `${fmtNum(last.p50_ms)} / ${fmtNum(last.p99_ms)} ms` : "-";
  const errors = sum(points, "errors");
  document.getElementById("kpi-errors").textContent = runs ? fmtNum((100 * errors) / runs) + "%" : "-";
  const fallbacks = points.reduce((n, p) => n + (p.fallback_rate || 0) * p.requests, 0);
  document.getElementById("kpi-fallbacks").textContent = runs ? fmtNum((100 * fallbacks) / runs) + "%" : "-";
  document.getElementById("kpi-cost").textContent = "$" + fmtNum(sum(points, "cost_usd"), 4);
  const up = points.reduce((n, p) => n + (p.thumbs_up_rate === null ? 0 : 1), 0);
  const rate = up ? points.reduce((n, p) => n + (p.thumbs_up_rate || 0), 0) / up : null;
  document.getElementById("kpi-thumbs").textContent = rate === null ? "-" : fmtNum(100 * rate, 1) + "%";
}

// Drift reports, one per workflow: a head (status, window sizes, time), a message, and a
// table of what was compared, one row per item; returns how many workflows drift.
function drawReports(box, reports, { empty, status, message, items, headers, row }) {
  box.replaceChildren();
  if (!reports.length) box.append(el("p", { class: "muted" }, empty));
  let drifting = 0;
  for (const report of reports) {
    if (report.status === "drift") drifting += 1;
    const head = el("div", { class: "drift-head" });
    head.append(el("strong", {}, report.workflow + " "));
    head.append(el("span", { class: "pill " + report.status, [status]: report.status }, report.status));
    head.append(el("span", { class: "muted" }, ` ${report.n_reference} ref / ${report.n_current} current, ${fmtTime(report.checked_at)}`));
    box.append(head);
    if (message(report)) box.append(el("div", { class: "muted" }, report.message));
    if (!items(report).length) continue;
    const table = el("table", { class: "small" });
    const header = el("tr");
    header.append(...headers.map((h) => el("th", {}, h)));
    table.append(header);
    for (const item of items(report)) {
      const [attrs, cells] = row(item);
      const tr = el("tr", attrs);
      cells.forEach((v) => tr.append(el("td", {}, String(v))));
      if (item.drifted) tr.className = "bad";
      table.append(tr);
    }
    box.append(table);
  }
  return drifting;
}

const fmtP = (p) => (p === null ? "-" : p.toExponential(1));

function drawDrift(data) {
  const behaviour = data.behaviour || [];
  let drifting = drawReports(document.getElementById("drift"), data.reports, {
    empty: "no drift check has run yet", status: "data-drift-status",
    message: (r) => r.message, items: (r) => r.fields,
    headers: ["field", "kind", "PSI", "KS", "p", "status"],
    row: (f) => [{ "data-field": f.field }, [f.field, f.kind, fmtNum(f.psi, 3),
      fmtNum(f.ks_statistic, 3), fmtP(f.p_value), f.drifted ? "drift" : "ok"]],
  });
  // what the models do: each signal's reference and current mean, rates in percent
  const mean = (s, v) => (s.signal.endsWith("_rate") ? fmtNum(100 * v, 1) + "%" : fmtNum(v, 3));
  drifting += drawReports(document.getElementById("behaviour"), behaviour, {
    empty: "no behaviour check has run yet", status: "data-behaviour-status",
    message: (r) => r.status === "insufficient_data" && r.message, items: (r) => r.signals,
    headers: ["signal", "model", "reference", "current", "p", "status"],
    row: (s) => [{ "data-signal": s.signal, "data-model": s.model || "" }, [s.signal,
      [s.model || "-", ...(s.versions.current || []).map((v) => "v" + v)].join(" "),
      mean(s, s.reference_mean), mean(s, s.current_mean), fmtP(s.p_value),
      s.drifted ? "drift" : "ok"]],
  });
  const checked = data.reports.length || behaviour.length;
  document.getElementById("kpi-drift").textContent = checked ? (drifting ? `${drifting} drifting` : "ok") : "-";
  const alerts = document.getElementById("alerts");
  alerts.replaceChildren(...data.alerts.slice(0, 10).map((a) => el("li", {}, `${fmtTime(a.ts)} ${a.message}`)));
  if (!data.alerts.length) alerts.append(el("li", { class: "muted" }, "none"));
}

function drawRuns(runs) {
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  for (const run of runs) {
    const row = el("tr", { "data-run-id": run.run_id, class: run.status === "completed" ? "" : "bad" });
    const link = el("a", { href: "#run=" + run.run_id, class: "mono" }, run.run_id.slice(0, 12));
    [fmtTime(run.started), run.workflow, run.status, fmtNum(run.duration_ms, 1)].forEach((v) => row.append(el("td", {}, v)));
    const cell = el("td");
    cell.append(link);
    row.append(cell);
    body.append(row);
  }
  if (!runs.length) body.append(emptyRow(5, "no runs yet"));
}

function drawReview(items) {
  const body = document.querySelector("#review tbody");
  body.replaceChildren();
  for (const item of items) {
    const row = el("tr", { "data-review-id": item.key });
    const run = item.run_id ? el("a", { href: "#run=" + item.run_id, class: "mono" }, item.run_id.slice(0, 12)) : el("span", {}, "-");
    const cell = el("td");
    cell.append(run);
    const input = typeof item.input === "string" ? item.input : JSON.stringify(item.input);
    const proposed = item.proposed === null || item.proposed === undefined ? "-" : String(item.proposed);
    const confidence = item.confidence === null || item.confidence === undefined ? "" : ` (${fmtNum(item.confidence, 2)})`;
    row.append(el("td", {}, item.created_at ? fmtTime(item.created_at) : "-"), el("td", {}, item.queue || "-"),
      el("td", {}, (input || "").slice(0, 80)), el("td", {}, proposed + confidence), el("td", {}, item.reason || ""), cell);
    body.append(row);
  }
  if (!items.length) body.append(emptyRow(6, "nothing waiting for review"));
}

async function showTrace(runId) {
  const panel = document.getElementById("trace-panel");
  panel.hidden = false;
  document.getElementById("trace-id").textContent = runId;
  const detail = await api("/v1/runs/" + encodeURIComponent(runId));
  const record = document.getElementById("trace-record");
  record.replaceChildren();
  for (const key of ["workflow", "status", "input", "output", "error"]) {
    if (detail.record[key] === undefined) continue;
    const line = el("div");
    line.append(el("b", {}, key + ": "), el("code", {}, JSON.stringify(detail.record[key]).slice(0, 400)));
    record.append(line);
  }
  const spans = detail.spans;
  const box = document.getElementById("trace");
  box.replaceChildren();
  if (!spans.length) { box.append(el("p", { class: "muted" }, "no spans recorded")); return; }
  const t0 = Math.min(...spans.map((s) => s.start_ns));
  const t1 = Math.max(...spans.map((s) => s.end_ns));
  const byId = Object.fromEntries(spans.map((s) => [s.span_id, s]));
  const depth = (s) => (s.parent_id && byId[s.parent_id] ? 1 + depth(byId[s.parent_id]) : 0);
  for (const span of spans) {
    const row = el("div", { class: "span-row " + span.status, "data-span": span.name, "data-kind": span.kind });
    const label = el("div", { class: "span-label" }, span.name);
    label.style.paddingLeft = depth(span) * 14 + "px";
    const track = el("div", { class: "span-track" });
    const bar = el("div", { class: "span-bar" });
    bar.style.left = ((100 * (span.start_ns - t0)) / Math.max(1, t1 - t0)).toFixed(2) + "%";
    bar.style.width = Math.max(0.5, (100 * (span.end_ns - span.start_ns)) / Math.max(1, t1 - t0)).toFixed(2) + "%";
    bar.title = span.error || JSON.stringify(span.attributes).slice(0, 300);
    track.append(bar);
    row.append(label, track, el("div", { class: "span-ms" }, fmtNum((span.end_ns - span.start_ns) / 1e6, 2) + " ms"));
    box.append(row);
  }
  const feedback = document.getElementById("trace-feedback");
  feedback.replaceChildren(...detail.feedback.map((f) => el("li", {}, `${f.kind}: ${f.value === undefined ? "" : f.value}`)));
  if (!detail.feedback.length) feedback.append(el("li", { class: "muted" }, "none"));
  panel.scrollIntoView({ block: "start" });
}

async function refresh() {
  const banner = document.getElementById("banner");
  const windowS = document.getElementById("window").value;
  try {
    const [series, drift, runs, review] = await Promise.all([
      api(`/v1/monitoring/series?window_s=${windowS}&points=60`), api("/v1/drift"),
      api("/v1/runs?limit=25"), api("/v1/review?limit=25"),
    ]);
    drawSeries(series);
    drawDrift(drift);
    drawRuns(runs);
    drawReview(review);
    banner.hidden = true;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (error) {
    banner.textContent = error.message;
    banner.hidden = false;
  }
}

function route() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("key")) {
    state.key = hash.get("key");
    sessionStorage.setItem("compound-key", state.key);
    history.replaceState(null, "", location.pathname);
  }
  const run = hash.get("run");
  if (run) showTrace(run).catch((e) => { document.getElementById("trace").textContent = e.message; });
}

async function start() {
  fetch("/v1/info").then((r) => r.json()).then((info) => {
    document.getElementById("system-name").textContent = info.name;
    document.title = info.name + " · compound";
  }).catch(() => {});
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = document.getElementById("key").value.trim();
    sessionStorage.setItem("compound-key", state.key);
    refresh();
  });
  document.getElementById("window").addEventListener("change", refresh);
  document.getElementById("trace-close").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("trace-panel").hidden = true;
    history.replaceState(null, "", location.pathname);
  });
  window.addEventListener("hashchange", route);
  route();
  await refresh();
  state.timer = setInterval(refresh, 5000);
}

start();
