// vitalstream dashboard: vanilla JS, no build step, no external resources.
// Ward view (tiles sickest first, live) and patient view (bucketed charts, alert history).
"use strict";

const TOKEN_KEY = "vitalstream.token";
const VITALS = [
  { key: "hr", label: "HR", unit: "/min", digits: 0 },
  { key: "spo2", label: "SpO₂", unit: "%", digits: 0 },
  { key: "rr", label: "RR", unit: "/min", digits: 0 },
  { key: "temp", label: "Temp", unit: "°C", digits: 1 },
  { key: "sbp", label: "BP", unit: "mmHg", digits: 0 },
];
const CHARTS = [
  { key: "hr", label: "Heart rate (/min)" }, { key: "spo2", label: "SpO₂ (%)" },
  { key: "rr", label: "Respiratory rate (/min)" }, { key: "temp", label: "Temperature (°C)" },
  { key: "sbp", label: "Systolic BP (mmHg)" }, { key: "dbp", label: "Diastolic BP (mmHg)" },
];
// Same acuity scale as api/ward.py (NEWS2 risk bands, RCP 2017 chart 4; alert severity).
const NEWS2_ACUITY = { high: 3, medium: 2, "low-medium": 1, low: 0 };
const ALERT_ACUITY = { high: 3, medium: 2, low: 1 };
const RANGES = { "1h": [3600e3, "1m"], "6h": [6 * 3600e3, "5m"], "24h": [24 * 3600e3, "5m"], "7d": [7 * 24 * 3600e3, "1h"] };

const state = { tiles: [], ward: "", ws: null, wsRetry: 0, view: "ward", patientId: null, refreshTimer: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c.nodeType ? c : String(c));
  return node;
}
const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

// --- API ---------------------------------------------------------------------------
function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path, options = {}) {
  const resp = await fetch(path, { ...options, headers: { Authorization: `Bearer ${token()}`, ...(options.headers || {}) } });
  if (resp.status === 401) { logout("Your session has ended: sign in again."); throw new Error("unauthorized"); }
  const body = resp.status === 204 ? null : await resp.json();
  if (!resp.ok) throw new Error((body && body.error && body.error.message) || `HTTP ${resp.status}`);
  return body;
}

// --- login -------------------------------------------------------------------------
async function login(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  $("login-error").textContent = "";
  const resp = await fetch("/api/v1/ward", { headers: { Authorization: `Bearer ${value}` } });
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    $("login-error").textContent = resp.status === 401 ? "That token is not valid (or expired/revoked)."
      : (body.error && body.error.message) || `Refused (HTTP ${resp.status})`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token").value = "";
  start();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  clearInterval(state.refreshTimer);
  $("nav").hidden = true; $("ward").hidden = true; $("patient").hidden = true; $("login").hidden = false;
  $("login-error").textContent = message || "";
}

function start() {
  $("login").hidden = true; $("nav").hidden = false;
  showWard();
  connectLive();
  clearInterval(state.refreshTimer);
  state.refreshTimer = setInterval(() => { if (state.view === "ward") loadWard(); }, 30000);  // safety net
}

// --- ward view ---------------------------------------------------------------------
function acuity(tile) {
  const fromScore = tile.news2 ? NEWS2_ACUITY[tile.news2.risk] || 0 : 0;
  const fromAlerts = Math.max(0, ...(tile.alerts || []).filter((a) => a.status === "open").map((a) => ALERT_ACUITY[a.severity] || 0));
  return Math.max(fromScore, fromAlerts);
}
function sortTiles() {
  state.tiles.sort((a, b) => (acuity(b) - acuity(a))
    || ((b.news2 ? b.news2.total : -1) - (a.news2 ? a.news2.total : -1))
    || ((b.alerts || []).length - (a.alerts || []).length)
    || String(a.ward || "").localeCompare(String(b.ward || "")) || String(a.bed || "").localeCompare(String(b.bed || ""), undefined, { numeric: true }));
}

async function loadWard() {
  const query = state.ward ? `?ward=${encodeURIComponent(state.ward)}` : "";
  const body = await api(`/api/v1/ward${query}`);
  state.tiles = body.tiles;
  const wards = new Set([...$("ward-filter").options].map((o) => o.value));
  for (const t of body.tiles) if (t.ward && !wards.has(t.ward)) { $("ward-filter").append(el("option", { value: t.ward }, t.ward)); wards.add(t.ward); }
  renderWard();
}

function renderWard() {
  sortTiles();
  const box = $("tiles");
  box.replaceChildren(...state.tiles.map(renderTile));
  $("ward-status").textContent = `${state.tiles.length} patient(s) monitored · sickest first · updated ${new Date().toLocaleTimeString()}`;
}

function worstOpenSeverity(tile) {
  const open = (tile.alerts || []).filter((a) => a.status !== "resolved");
  for (const s of ["high", "medium", "low"]) if (open.some((a) => a.severity === s)) return s;
  return null;
}

function fmt(value, digits) { return value === null || value === undefined ? "–" : Number(value).toFixed(digits); }

function renderTile(tile) {
  const s = tile.latest || {};
  const scores = (tile.news2 && tile.news2.parameters) || {};
  const sev = worstOpenSeverity(tile);
  const risk = tile.news2 ? tile.news2.risk : "none";
  const vitals = VITALS.map((v) => el("div", { class: `vital score-${scores[v.key] || 0}`, "data-vital": v.key },
    el("div", { class: "v" }, v.key === "sbp" ? `${fmt(s.sbp, 0)}/${fmt(s.dbp, 0)}` : fmt(s[v.key], v.digits)),
    el("div", { class: "k" }, `${v.label} ${v.unit}`)));
  const ageS = s.ts ? (Date.now() - Date.parse(s.ts)) / 1000 : null;
  return el("article", { class: `tile${sev ? " sev-" + sev : ""}`, "data-patient-id": tile.patient_id, "data-device-id": tile.device_id,
    onclick: () => showPatient(tile.patient_id) },
    el("div", { class: "tile-head" },
      el("div", {}, el("div", { class: "name" }, tile.name || tile.external_id || `Patient ${tile.patient_id}`),
        el("div", { class: "where" }, `${tile.ward || "?"} · bed ${tile.bed || "?"} · ${tile.device_id}`)),
      el("span", { class: `news2 risk-${risk}`, "data-news2": tile.news2 ? tile.news2.total : "",
        title: tile.news2 && tile.news2.missing.length ? `partial NEWS2 (not measured: ${tile.news2.missing.join(", ")})` : "NEWS2" },
        `NEWS2 ${tile.news2 ? tile.news2.total : "–"}`)),
    el("div", { class: "vitals" }, vitals),
    sparkline(tile.trend || []),
    ageS !== null && ageS > 300 ? el("div", { class: "stale" }, `last sample ${Math.round(ageS / 60)} min ago`) : null,
    el("ul", { class: "alerts" }, (tile.alerts || []).filter((a) => a.status !== "resolved").map((a) =>
      el("li", { class: `${a.severity} ${a.status}`, "data-alert-id": a.id }, `${a.severity.toUpperCase()} · ${a.kind}${a.status === "acknowledged" ? " (ack)" : ""} — ${a.summary}`))));
}

function sparkline(points) {
  const svg = svgEl("svg", { class: "spark", viewBox: "0 0 300 48", preserveAspectRatio: "none", "aria-label": "30-minute trend" });
  for (const key of ["hr", "spo2"]) {
    const values = points.map((p) => p[key]).filter((v) => v !== null && v !== undefined);
    if (values.length < 2) continue;
    let lo = Math.min(...values), hi = Math.max(...values);
    if (hi - lo < 1) { lo -= 1; hi += 1; }
    const step = 300 / (points.length - 1);
    const d = points.map((p, i) => (p[key] === null || p[key] === undefined) ? null
      : `${i * step},${46 - ((p[key] - lo) / (hi - lo)) * 44}`).filter(Boolean).join(" ");
    svg.append(svgEl("polyline", { class: key, points: d, fill: "none", "stroke-width": 1.5 }));
  }
  return svg;
}

function onLiveVitals(msg) {
  const tile = state.tiles.find((t) => t.device_id === msg.device_id || (t.other_devices || []).includes(msg.device_id));
  if (!tile || tile.device_id !== msg.device_id) return;
  tile.latest = msg.sample;
  tile.news2 = msg.news2;
  const minute = msg.sample.ts.slice(0, 16);
  const last = tile.trend[tile.trend.length - 1];
  const point = { bucket: msg.sample.ts, ...msg.sample };
  if (last && String(last.bucket).slice(0, 16) === minute) tile.trend[tile.trend.length - 1] = point; else tile.trend.push(point);
  if (tile.trend.length > 40) tile.trend.shift();
  if (state.view === "ward") {
    renderWard();
    const node = document.querySelector(`.tile[data-patient-id="${tile.patient_id}"]`);
    if (node) node.classList.add("flash");
  }
}

let alertReload = null;
function onLiveAlert(msg) {
  clearTimeout(alertReload);
  alertReload = setTimeout(() => {
    if (state.view === "ward") loadWard();
    else if (state.patientId !== null && msg.patient_id === state.patientId) loadAlertHistory(state.patientId);
  }, 300);
}

// --- live feed ---------------------------------------------------------------------
function connectLive() {
  if (state.ws) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/live`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: token() }));  // never in the URL
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "ready") {
      state.wsRetry = 0;
      ws.send(JSON.stringify(state.ward ? { type: "subscribe", wards: [state.ward] } : { type: "subscribe", all: true }));
    } else if (msg.type === "subscribed") {
      $("live-state").textContent = "live"; $("live-state").classList.add("on");
    } else if (msg.type === "vitals") onLiveVitals(msg);
    else if (msg.type === "alert") onLiveAlert(msg);
  };
  ws.onclose = (event) => {
    state.ws = null;
    $("live-state").textContent = "offline"; $("live-state").classList.remove("on");
    if (event.code === 4401) { logout("Your session has ended: sign in again."); return; }
    if (!token()) return;
    state.wsRetry = Math.min(state.wsRetry + 1, 6);
    setTimeout(connectLive, 500 * 2 ** state.wsRetry);  // back off, cap ~30 s
  };
}

// --- patient view ------------------------------------------------------------------
function showWard() {
  state.view = "ward"; state.patientId = null;
  $("patient").hidden = true; $("ward").hidden = false;
  loadWard().catch((e) => { $("ward-status").textContent = `Could not load the ward: ${e.message}`; });
}

async function showPatient(patientId) {
  state.view = "patient"; state.patientId = patientId;
  $("ward").hidden = true; $("patient").hidden = false;
  const p = await api(`/api/v1/patients/${patientId}`);
  state.patient = p;
  $("patient-title").textContent = `${p.name || p.external_id || "Patient " + p.id} · ${p.ward || "?"} bed ${p.bed || "?"}`;
  await Promise.all([loadCharts(), loadAlertHistory(patientId)]);
}

async function loadCharts() {
  const p = state.patient;
  const box = $("charts");
  if (!p.devices.length) { box.replaceChildren(el("p", { class: "muted" }, "No device assigned.")); return; }
  const [span, bucket] = RANGES[$("range").value];
  const to = new Date(), from = new Date(to.getTime() - span);
  const device = p.devices[0].device_id;
  const body = await api(`/api/v1/devices/${encodeURIComponent(device)}/vitals?from=${from.toISOString()}&to=${to.toISOString()}&bucket=${bucket}`);
  box.replaceChildren(...CHARTS.map((c) => chart(c, body.items, from, to, bucket)));
}

function chart(spec, items, from, to, bucket) {
  const W = 400, H = 160, L = 34, B = 16;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "data-chart": spec.key });
  const pts = items.filter((b) => b[spec.key]).map((b) => ({ t: Date.parse(b.bucket), ...b[spec.key] }));
  if (pts.length) {
    let lo = Math.min(...pts.map((p) => p.min)), hi = Math.max(...pts.map((p) => p.max));
    if (hi - lo < 1) { lo -= 1; hi += 1; }
    const x = (t) => L + ((t - from) / (to - from)) * (W - L - 4);
    const y = (v) => 4 + (1 - (v - lo) / (hi - lo)) * (H - B - 8);
    const band = pts.map((p) => `${x(p.t)},${y(p.max)}`).concat(pts.slice().reverse().map((p) => `${x(p.t)},${y(p.min)}`));
    svg.append(svgEl("polygon", { class: "band", points: band.join(" ") }));
    svg.append(svgEl("polyline", { class: "line", points: pts.map((p) => `${x(p.t)},${y(p.avg)}`).join(" ") }));
    for (const v of [lo, hi]) { const t = svgEl("text", { class: "axis", x: 2, y: y(v) + 4 }); t.textContent = v.toFixed(spec.key === "temp" ? 1 : 0); svg.append(t); }
  }
  const label = svgEl("text", { class: "axis", x: L, y: H - 2 });
  label.textContent = `${from.toLocaleString()} → ${to.toLocaleTimeString()} · ${bucket} buckets (avg, min–max)`;
  svg.append(label);
  return el("div", { class: "chart" }, el("h4", {}, spec.label), pts.length ? svg : el("p", { class: "muted" }, "no data in this range"));
}

async function loadAlertHistory(patientId) {
  const body = await api(`/api/v1/alerts?patient_id=${patientId}&limit=50`);
  const rows = body.items.map((a) => el("tr", { "data-alert-id": a.id, "data-status": a.status },
    el("td", {}, new Date(a.opened_at).toLocaleString()),
    el("td", { class: `sev-${a.severity}` }, a.severity),
    el("td", {}, a.kind, el("br"), a.summary),
    el("td", { class: "status" }, a.status, a.acknowledged_by ? el("div", { class: "muted" }, `ack: ${a.acknowledged_by}`) : null),
    el("td", {}, el("pre", { class: "evidence" }, JSON.stringify(a.evidence, null, 1))),
    el("td", {},
      el("button", { class: "ack", type: "button", "data-action": "ack", "data-alert-id": a.id, disabled: a.status !== "open",
        onclick: () => act(a.id, "ack") }, "Acknowledge"), " ",
      el("button", { class: "resolve", type: "button", "data-action": "resolve", "data-alert-id": a.id, disabled: a.status === "resolved",
        onclick: () => act(a.id, "resolve") }, "Resolve"))));
  $("alert-history").replaceChildren(rows.length
    ? el("table", { class: "history" }, el("thead", {}, el("tr", {}, ["Opened", "Severity", "Alert", "Status", "Evidence", ""].map((h) => el("th", {}, h)))), el("tbody", {}, rows))
    : el("p", { class: "muted" }, "No alerts."));
}

async function act(alertId, verb) {
  for (const b of document.querySelectorAll(`button[data-alert-id="${alertId}"]`)) b.disabled = true;
  try { await api(`/api/v1/alerts/${alertId}/${verb}`, { method: "POST" }); }
  catch (e) { alert(`Could not ${verb === "ack" ? "acknowledge" : "resolve"}: ${e.message}`); }
  await loadAlertHistory(state.patientId);
}

// --- wiring ------------------------------------------------------------------------
$("login-form").addEventListener("submit", login);
$("logout").addEventListener("click", () => logout());
$("nav-ward").addEventListener("click", showWard);
$("range").addEventListener("change", () => loadCharts());
$("ward-filter").addEventListener("change", (e) => {
  state.ward = e.target.value;
  if (state.ws && state.ws.readyState === WebSocket.OPEN)
    state.ws.send(JSON.stringify(state.ward ? { type: "subscribe", wards: [state.ward] } : { type: "subscribe", all: true }));
  showWard();
});
if (token()) start();
