// The operator dashboard: reads the REST API with the operator token kept in this tab's
// sessionStorage; no request leaves for anywhere but this server.
'use strict';
const $ = (s) => document.querySelector(s);
const colors = ['#0969da', '#cf222e', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0a3069', '#6e7781'];
let token = sessionStorage.getItem('cloudlet-token') || '';

// A token may arrive in the fragment (never sent to the server): keep it, then drop it from the URL.
if (location.hash.startsWith('#token=')) {
  token = decodeURIComponent(location.hash.slice(7));
  sessionStorage.setItem('cloudlet-token', token);
  history.replaceState(null, '', location.pathname);
}

async function api(path, asText) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
    const err = new Error(path + ': ' + detail);
    err.status = r.status;
    throw err;
  }
  return asText ? r.text() : r.json();
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function fill(tableId, rows, render) {
  const body = $(tableId + ' tbody');
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement('tr');
    render(tr, row);
    body.appendChild(tr);
  }
}

function day(d) { return d.toISOString().slice(0, 10); }

// How long ago an RFC 3339 time was, in whole seconds.
function age(when) {
  const ms = Date.now() - Date.parse(when);
  return Number.isFinite(ms) ? Math.max(0, Math.round(ms / 1000)) + ' s ago' : '';
}

function renderFleet(list) {
  fill('#fleet', list, (tr, c) => {
    cell(tr, c.id);
    cell(tr, c.name);
    cell(tr, c.endpoint);
    cell(tr, c.state, 'state-' + c.state);
    cell(tr, c.last_heartbeat ? age(c.last_heartbeat) : '', 'num');
    cell(tr, Math.round(c.load * 100) + '%', 'num');
    cell(tr, c.free.cpu_millis + ' / ' + c.capacity.cpu_millis, 'num');
    cell(tr, c.free.mem_mb + ' / ' + c.capacity.mem_mb, 'num');
    cell(tr, String(c.base_vms.length), 'num');
  });
}

// Live figures come from the cloudlet's agent, which reads them from the runtime every meter interval.
function renderPlacements(list) {
  fill('#placements', list, (tr, p) => {
    cell(tr, p.placement_id || p.id);
    cell(tr, (p.owner || '').startsWith('operator:') ? 'operator' : p.owner || '');
    cell(tr, p.cloudlet || (p.chosen && p.chosen.cloudlet) || '');
    cell(tr, p.state, 'state-' + p.state);
    cell(tr, p.state === 'running' ? p.endpoint : '');
    cell(tr, p.live ? String(Math.round(p.live.cpu_millis)) : '', 'num live-cpu');
    cell(tr, p.live ? p.live.mem_mib.toFixed(1) : '', 'num live-mem');
    cell(tr, (p.request && p.request.app && p.request.app.name) || '');
    cell(tr, p.created_at || '');
  });
}

const svgNs = 'http://www.w3.org/2000/svg';
function el(name, attrs, parent) {
  const e = document.createElementNS(svgNs, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// Cost per tenant per day as grouped bars, one chart, its y-axis in the report's currency per day.
function renderCostChart(report, from, to) {
  const days = [];
  for (let d = new Date(from + 'T00:00:00Z'); day(d) < to; d.setUTCDate(d.getUTCDate() + 1)) days.push(day(d));
  const tenants = [...new Set(report.lines.map((l) => l.tenant))].sort();
  const cost = {};
  for (const l of report.lines) cost[l.tenant + '|' + l.period] = l.cost;
  const max = Math.max(0.01, ...report.lines.map((l) => l.cost));
  const W = 900, H = 260, L = 64, B = 30, T = 10, R = 10;
  const svg = el('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'cost per tenant per day' });
  const band = (W - L - R) / Math.max(1, days.length);
  const bar = Math.max(1, (band * 0.8) / Math.max(1, tenants.length));
  const y = (v) => H - B - (v / max) * (H - B - T);
  el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#8c959f' }, svg);
  el('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#8c959f' }, svg);
  for (const f of [0, 0.5, 1]) {
    el('text', { x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end' }, svg).textContent = (max * f).toFixed(2);
  }
  const unit = el('text', { x: 12, y: (H - B) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${(H - B) / 2})` }, svg);
  unit.textContent = `${report.currency} per day`;
  const step = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((d, i) => {
    if (i % step === 0) el('text', { x: L + (i + 0.5) * band, y: H - B + 16, 'text-anchor': 'middle' }, svg).textContent = d.slice(5);
  });
  const legend = document.createElement('div');
  legend.className = 'legend';
  tenants.forEach((t, k) => {
    const color = colors[k % colors.length];
    const group = el('g', { fill: color, 'data-tenant': t }, svg);
    days.forEach((d, i) => {
      const v = cost[t + '|' + d] || 0;
      if (v <= 0) return;
      const rect = el('rect', { x: L + i * band + band * 0.1 + k * bar, y: y(v), width: bar, height: H - B - y(v) }, group);
      el('title', {}, rect).textContent = `${t} ${d}: ${v.toFixed(2)} ${report.currency}`;
    });
    const item = document.createElement('span');
    item.innerHTML = `<i style="background:${color}"></i>`;
    item.appendChild(document.createTextNode(t));
    legend.appendChild(item);
  });
  $('#charts').replaceChildren(svg, legend);
}

function renderTotals(report) {
  fill('#totals', report.lines, (tr, l) => {
    const q = l.quantities;
    cell(tr, l.tenant);
    cell(tr, (q.cpu_core_s / 3600).toFixed(2), 'num');
    cell(tr, (q.mem_mib_s / 1024 / 3600).toFixed(2), 'num');
    cell(tr, (q.net_out_bytes / 2 ** 30).toFixed(2), 'num');
    cell(tr, (q.instance_s / 3600).toFixed(2), 'num');
    cell(tr, l.cost.toFixed(2) + ' ' + report.currency, 'num');
  });
}

async function showUsage() {
  const from = $('#from').value, to = $('#to').value;
  const q = `from=${from}&to=${to}`;
  const [byDay, byTenant] = await Promise.all([
    api(`/v1/reports/usage?${q}&group_by=tenant,day`),
    api(`/v1/reports/usage?${q}&group_by=tenant`),
  ]);
  renderCostChart(byDay, from, to);
  renderTotals(byTenant);
}

// A national fleet is 100,000 cloudlets: the table shows a page of it, the first by id or the
// nearest to a position (the registry's spatial index answers those without reading the rest).
const kFleetPage = 200;
function fleetPath() {
  const near = $('#near').value.trim();
  return `/v1/cloudlets?limit=${kFleetPage}` + (near ? `&near=${encodeURIComponent(near)}` : '');
}
function fleetNote(shown) {
  const near = $('#near').value.trim();
  if (near) return `The ${shown} cloudlets nearest to ${near}.`;
  if (shown < kFleetPage) return shown === 1 ? 'The one cloudlet.' : `All ${shown} cloudlets.`;
  return `The first ${shown} cloudlets by id; give a position to see those nearest to it.`;
}

async function refresh() {
  $('#error').textContent = '';
  try {
    const [fleet, placements] = await Promise.all([api(fleetPath()), api('/v1/placements?limit=200')]);
    renderFleet(fleet.cloudlets);
    $('#fleet-note').textContent = fleetNote(fleet.cloudlets.length);
    renderPlacements(placements.placements);
    await showUsage();
    document.body.dataset.ready = '1';
  } catch (e) {
    $('#error').textContent = e.message;
    if (e.status === 401 || e.status === 403) logout('That token cannot read the dashboard: ' + e.message);
  }
}

async function start() {
  const now = new Date();
  $('#to').value = day(new Date(now.getTime() + 86400000));
  $('#from').value = day(new Date(now.getTime() - 29 * 86400000));
  if (!token) return logout('');
  try {
    await api('/v1/tenants');  // operators only
  } catch (e) {
    return logout(e.status === 401 || e.status === 403 ? 'Not an operator token.' : e.message);
  }
  $('#login').hidden = true;
  $('#board').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = 'operator';
  await refresh();
}

function logout(message) {
  token = '';
  sessionStorage.removeItem('cloudlet-token');
  $('#board').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
  $('#login').hidden = false;
  $('#login-error').textContent = message || '';
}

$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('#token').value.trim();
  sessionStorage.setItem('cloudlet-token', token);
  start();
});
$('#logout').addEventListener('click', () => logout(''));
$('#fleet-near').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const fleet = await api(fleetPath());
    renderFleet(fleet.cloudlets);
    $('#fleet-note').textContent = fleetNote(fleet.cloudlets.length);
    $('#error').textContent = '';
  } catch (e) {
    $('#error').textContent = e.message;
  }
});
$('#period').addEventListener('submit', (ev) => {
  ev.preventDefault();
  showUsage().catch((e) => { $('#error').textContent = e.message; });
});
$('#csv').addEventListener('click', async () => {
  try {
    const csv = await api(`/v1/reports/usage?from=${$('#from').value}&to=${$('#to').value}&group_by=tenant,cloudlet,day&format=csv`, true);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    a.download = `usage-${$('#from').value}-${$('#to').value}.csv`;
    a.click();
  } catch (e) {
    $('#error').textContent = e.message;
  }
});
start();
