// pages/servers.js - the server list (status, last heartbeat, CPU/memory/
// disk bars), adding a server (the one-line install command), and one
// server: metrics history, fingerprint, precheck, decommission and remove.
import { get, post, patch, del, enc } from '../api.js';
import { h, fill, s, link, badge, bar, whenEl, bytes, field, errorBox, confirmDialog, copyable } from '../ui.js';
import { can } from '../state.js';

const pct = (used, total) => (total ? (100 * used) / total : null);

function memPct(m) { return m ? pct(m.mem_used, m.mem_total) : null; }
function diskPct(m) { return m ? pct(m.disk_used, m.disk_total) : null; }

export async function serversPage(view, { org, navigate }) {
  const base = '/orgs/' + enc(org);
  const addBox = h('div');
  const listBox = h('div');
  let timer = null, gone = false;
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Servers'),
    can('server:write') ? h('button', { type: 'button', id: 'add-server', onclick: () => addServer(addBox, org, navigate, refresh) }, 'Add server') : null);
  fill(view, head, addBox, listBox);
  // Until the dashboard's event stream exists, a server on its way
  // (PROVISIONING) is re-read every 3 s while this page is open, so it
  // turns ACTIVE on screen without a reload.
  async function refresh() {
    clearTimeout(timer);
    if (gone) return;
    let items = [];
    try { items = await drawList(listBox, org, base); } catch (e) { fill(listBox, errorBox(e)); }
    if (!gone && items.some((sv) => sv.status === 'PROVISIONING')) timer = setTimeout(refresh, 3000);
  }
  await refresh();
  return () => { gone = true; clearTimeout(timer); };
}

async function drawList(box, org, base) {
  const list = await get(base + '/servers');
  const items = list.items || [];
  const rows = items.map((sv) => {
    const cells = {
      cpu: h('td', { class: 'bars' }, bar(null, 'CPU')),
      mem: h('td', { class: 'bars' }, bar(null, 'Memory')),
      disk: h('td', { class: 'bars' }, bar(null, 'Disk')),
    };
    const tr = h('tr', { 'data-id': sv.id },
      h('td', {}, link('/o/' + enc(org) + '/servers/' + sv.id, sv.name)),
      h('td', {}, badge(sv.status), sv.status_reason ? h('div', { class: 'muted small reason' }, sv.status_reason) : null),
      h('td', {}, whenEl(sv.last_seen_at)), cells.cpu, cells.mem, cells.disk);
    return { sv, tr, cells };
  });
  const table = items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'servers' },
    h('thead', {}, h('tr', {}, ['Name', 'Status', 'Last heartbeat', 'CPU', 'Memory', 'Disk'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map((r) => r.tr))))
    : h('div', { class: 'empty' }, h('p', {}, 'No servers yet.'),
      can('server:write') ? h('p', { class: 'muted' }, 'Add one: berth gives you a one-line command to run on the host.') : null);
  // The list carries no metrics: each live server's latest snapshot (the
  // first 50; paging in the API comes with bigger fleets).
  await Promise.all(rows.slice(0, 50).filter((r) => r.sv.status !== 'DECOMMISSIONED').map(async (r) => {
    try {
      const d = await get(base + '/servers/' + r.sv.id);
      const m = d.metrics;
      if (!m) return;
      fill(r.cells.cpu, bar(m.cpu_pct, 'CPU'));
      fill(r.cells.mem, bar(memPct(m), 'Memory'));
      fill(r.cells.disk, bar(diskPct(m), 'Disk'));
    } catch (_) { /* the row keeps its empty bars */ }
  }));
  fill(box, table);
  return items;
}

function addServer(box, org, navigate, refresh) {
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', placeholder: 'web-1' });
  const err = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card', id: 'add-server-form' }, h('h2', {}, 'Add a server'),
    field('Name', name, 'A name for the host, e.g. web-1'), err,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Create'),
      h('button', { type: 'button', class: 'secondary', onclick: () => fill(box) }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(err);
    try {
      const r = await post('/orgs/' + enc(org) + '/servers', { name: name.value.trim() });
      fill(box, h('div', { class: 'card', id: 'install' },
        h('h2', {}, 'Install the runner on ' + r.name),
        h('p', {}, 'Run this on the host as the user that runs Docker. The token in it works once and expires ',
          whenEl(r.registration_expires_at), '.'),
        copyable(r.install_command, 'Install command'),
        h('p', { class: 'muted' }, 'The server shows as PROVISIONING until the runner connects and its precheck passes.'),
        h('div', { class: 'row' }, h('a', { href: '/o/' + enc(org) + '/servers/' + r.id, 'data-link': true }, 'Open ' + r.name),
          h('button', { type: 'button', class: 'secondary', onclick: () => fill(box) }, 'Done'))));
      refresh();
    } catch (e) { fill(err, errorBox(e)); }
  });
  fill(box, form);
  name.focus();
}

const RANGES = [['1 h', 3600], ['24 h', 86400], ['7 d', 7 * 86400]];

function chart(points, key, label, unit) {
  const W = 600, H = 120;
  const vals = points.map((p) => p[key]).filter((v) => typeof v === 'number' && v >= 0);
  const max = unit === '%' ? 100 : Math.max(1, ...vals);
  const t0 = points.length ? Date.parse(points[0].t) : 0;
  const t1 = points.length ? Date.parse(points[points.length - 1].t) : 1;
  const xs = (t) => (t1 > t0 ? ((Date.parse(t) - t0) / (t1 - t0)) * W : 0);
  const ys = (v) => H - (v / max) * (H - 4) - 2;
  const pts = points.filter((p) => typeof p[key] === 'number' && p[key] >= 0)
    .map((p) => xs(p.t).toFixed(1) + ',' + ys(p[key]).toFixed(1)).join(' ');
  const last = vals.length ? vals[vals.length - 1] : null;
  const fmt = (v) => (v === null ? '—' : unit === '%' ? v.toFixed(0) + '%' : bytes(v) + '/s');
  return h('figure', { class: 'chart' },
    h('figcaption', {}, label, h('span', { class: 'muted' }, ' now ' + fmt(last) + ', max ' + fmt(vals.length ? Math.max(...vals) : null))),
    s('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label + ' over time' },
      s('line', { class: 'grid', x1: 0, y1: H / 2, x2: W, y2: H / 2 }),
      s('rect', { class: 'frame', x: 0, y: 0, width: W, height: H }),
      pts ? s('polyline', { class: 'line', points: pts }) : null,
      pts ? s('circle', { class: 'dot', r: 3, cx: pts.split(' ').pop().split(',')[0], cy: pts.split(' ').pop().split(',')[1] }) : null,
      pts ? null : s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata' }, 'no data')));
}

// One entry of a fingerprint or precheck list, as a person reads it.
function item(x) {
  if (!x || typeof x !== 'object') return String(x);
  if ('port' in x) return (x.proto || '') + ' ' + (String(x.addr).includes(':') ? '[' + x.addr + ']' : x.addr) + ':' + x.port;
  if ('name' in x && 'ok' in x) return x.name + (x.ok ? ' ✓' : ' ✗') + (x.detail ? ' (' + x.detail + ')' : '');
  return JSON.stringify(x);
}

function fingerprintView(fp) {
  if (!fp) return h('p', { class: 'muted' }, 'No fingerprint yet (the runner sends one when it connects).');
  const rows = [];
  for (const [k, v] of Object.entries(fp)) {
    let text;
    if (Array.isArray(v)) text = v.map(item).join(', ');
    else if (v && typeof v === 'object') text = JSON.stringify(v);
    else text = v === null ? '—' : String(v);
    rows.push(h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, text)));
  }
  return h('table', { class: 'kv', id: 'fingerprint' }, h('tbody', {}, rows));
}

export async function serverPage(view, { org, navigate }, id) {
  const base = '/orgs/' + enc(org) + '/servers/' + enc(id);
  const sv = await get(base);
  const m = sv.metrics;
  const actions = h('div', { class: 'row' });
  const msg = h('div', { 'aria-live': 'polite' });
  if (can('server:write')) {
    if (sv.status !== 'DECOMMISSIONED') {
      actions.append(
        h('button', { type: 'button', class: 'secondary', onclick: async () => {
          try {
            const r = await post(base + '/registration-token');
            fill(msg, h('div', { class: 'card' }, h('p', {}, 'New install command (for a reinstall; shown once):'), copyable(r.install_command)));
          } catch (e) { fill(msg, errorBox(e)); }
        } }, 'New install command'),
        h('button', { type: 'button', class: 'danger', id: 'decommission', onclick: async () => {
          if (!await confirmDialog('Decommission ' + sv.name + '?', 'Its runner is disconnected and its credential refused; it stays in the list for the audit trail. This cannot be undone.', 'Decommission')) return;
          try { await post(base + '/decommission'); navigate(location.pathname, true); } catch (e) { fill(msg, errorBox(e)); }
        } }, 'Decommission'));
    } else {
      actions.append(h('button', { type: 'button', class: 'danger', id: 'remove', onclick: async () => {
        if (!await confirmDialog('Remove ' + sv.name + '?', 'The record, its jobs and their logs are deleted.', 'Remove', sv.name)) return;
        try { await del(base); navigate('/o/' + enc(org) + '/servers', true); } catch (e) { fill(msg, errorBox(e)); }
      } }, 'Remove'));
    }
  }
  const charts = h('div', { class: 'charts' });
  const rangeBtns = RANGES.map(([label, secs]) => h('button', { type: 'button', class: 'secondary small', 'aria-pressed': secs === 3600 ? 'true' : 'false',
    onclick: (ev) => { for (const b of rangeBtns) b.setAttribute('aria-pressed', b === ev.target ? 'true' : 'false'); loadCharts(secs); } }, label));
  async function loadCharts(secs) {
    try {
      const since = Math.floor(Date.now() / 1000) - secs;
      const r = await get(base + '/metrics?since=' + since);
      const pts = r.points || [];
      fill(charts, chart(pts, 'cpu_pct', 'CPU', '%'), chart(pts, 'mem_pct', 'Memory', '%'),
        chart(pts, 'disk_pct', 'Disk', '%'), chart(pts, 'rx_bps', 'Network in', 'B'), chart(pts, 'tx_bps', 'Network out', 'B'));
    } catch (e) { fill(charts, errorBox(e)); }
  }
  const summary = h('div', { class: 'cards' },
    h('div', { class: 'card stat' }, h('h3', {}, 'CPU'), bar(m ? m.cpu_pct : null, 'CPU'), m ? h('p', { class: 'muted small' }, 'load ' + [m.load1, m.load5, m.load15].map((x) => x.toFixed(2)).join(' ')) : null),
    h('div', { class: 'card stat' }, h('h3', {}, 'Memory'), bar(memPct(m), 'Memory'), m ? h('p', { class: 'muted small' }, bytes(m.mem_used) + ' of ' + bytes(m.mem_total)) : null),
    h('div', { class: 'card stat' }, h('h3', {}, 'Disk'), bar(diskPct(m), 'Disk'), m ? h('p', { class: 'muted small' }, bytes(m.disk_used) + ' of ' + bytes(m.disk_total)) : null),
    h('div', { class: 'card stat' }, h('h3', {}, 'Network'), m && m.net ? h('p', { class: 'small' }, 'v4 in ' + bytes(m.net.rx_v4) + ', out ' + bytes(m.net.tx_v4), h('br'), 'v6 in ' + bytes(m.net.rx_v6) + ', out ' + bytes(m.net.tx_v6)) : h('p', { class: 'muted' }, '—')));
  fill(view, 
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/servers', 'Servers'), ' / ', sv.name),
    h('div', { class: 'page-head' }, h('h1', {}, sv.name), badge(sv.status), actions),
    sv.status_reason ? h('p', { class: 'muted' }, sv.status_reason) : null,
    h('p', { class: 'muted small' }, 'id ' + sv.id + ' · last heartbeat ', whenEl(sv.last_seen_at), ' · ', sv.connected ? 'connected' : 'not connected', ' · added ', whenEl(sv.created_at)),
    msg, summary,
    h('section', {}, h('div', { class: 'page-head' }, h('h2', {}, 'Metrics'), h('div', { class: 'row', role: 'group', 'aria-label': 'Range' }, rangeBtns)), charts),
    h('section', {}, h('h2', {}, 'Fingerprint'), fingerprintView(sv.fingerprint)),
    sv.precheck ? h('section', {}, h('h2', {}, 'Precheck'), fingerprintView(sv.precheck)) : null);
  if (can('server:write') && sv.status !== 'DECOMMISSIONED') {
    // rename in place
    const h1 = view.querySelector('h1');
    h1.title = 'Rename';
    h1.tabIndex = 0;
    const rename = async () => {
      const name = prompt('New name for ' + sv.name, sv.name);
      if (!name || name === sv.name) return;
      try { await patch(base, { name }); navigate(location.pathname, true); } catch (e) { fill(msg, errorBox(e)); }
    };
    h1.addEventListener('dblclick', rename);
  }
  loadCharts(3600);
}
