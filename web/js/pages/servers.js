// pages/servers.js - the server list (status, last heartbeat, CPU/memory/
// disk bars; paged, filtered and sorted by the API), adding a server (the one-line install command), and one
// server: metrics history, fingerprint, precheck, decommission and remove.
import { get, post, patch, del, enc } from '../api.js';
import { h, fill, s, link, badge, bar, whenEl, bytes, field, errorBox, confirmDialog, copyable } from '../ui.js';
import { can } from '../state.js';
import { on } from '../events.js';

const pct = (used, total) => (total ? (100 * used) / total : null);

function memPct(m) { return m ? pct(m.mem_used, m.mem_total) : null; }
function diskPct(m) { return m ? pct(m.disk_used, m.disk_total) : null; }

// The list is the API's pages (GET .../servers?limit&sort&status&q&cursor):
// only one page of rows is ever in the DOM, whatever the fleet's size.
// The URL holds what is shown (?q=&status=&sort=&cursor=), so a view is
// bookmarkable; each page turned is a history entry (Back goes back a
// page), typing in the filter replaces the entry it is on.
const PAGE = 50;
const STATES = ['PROVISIONING', 'ACTIVE', 'UNREACHABLE', 'DECOMMISSIONED'];
const COLUMNS = [
  ['Name', 'name'], ['Status', 'status'], ['Last heartbeat', 'last_heartbeat'], ['Added', 'created', 'wide'],
  ['CPU'], ['Memory'], ['Disk'],
];
const DEFAULT_SORT = 'name';

function readQuery() {
  const p = new URLSearchParams(location.search);
  const sort = p.get('sort') || DEFAULT_SORT;
  const key = sort.replace(/^-/, '');
  return {
    q: (p.get('q') || '').slice(0, 100),
    status: STATES.includes(p.get('status')) ? p.get('status') : '',
    sort: COLUMNS.some((c) => c[1] === key) ? sort : DEFAULT_SORT,
    cursor: p.get('cursor') || '',
  };
}

function queryString(v, withCursor) {
  const p = new URLSearchParams();
  if (v.q) p.set('q', v.q);
  if (v.status) p.set('status', v.status);
  if (v.sort !== DEFAULT_SORT) p.set('sort', v.sort);
  if (withCursor && v.cursor) p.set('cursor', v.cursor);
  return p.toString();
}

export async function serversPage(view, { org, navigate }) {
  const base = '/orgs/' + enc(org);
  const v = readQuery();
  // the cursors of the pages before this one and this page's first row's
  // number: kept in the history entry (a bookmark starts without them)
  const hs = history.state && history.state.servers;
  let back = hs && Array.isArray(hs.back) ? hs.back.slice() : [];
  let start = hs && typeof hs.start === 'number' ? hs.start : (v.cursor ? null : 0);
  let timer = null, gone = false, seq = 0, typing = null;

  const addBox = h('div');
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Servers'),
    can('server:write') ? h('button', { type: 'button', id: 'add-server', onclick: () => addServer(addBox, org, navigate, refresh) }, 'Add server') : null);
  const filter = h('input', { type: 'search', id: 'server-filter', name: 'q', value: v.q, maxlength: 100,
    placeholder: 'part of a name', autocomplete: 'off', spellcheck: 'false' });
  const status = h('select', { id: 'server-status', name: 'status' },
    h('option', { value: '' }, 'Any status'), STATES.map((st) => h('option', { value: st, selected: st === v.status ? true : null }, st)));
  const controls = h('form', { class: 'inline list-controls', id: 'server-controls', role: 'search' },
    field('Filter by name', filter), field('Status', status));
  controls.addEventListener('submit', (ev) => { ev.preventDefault(); clearTimeout(typing); changed(); });
  const sortBtns = {};
  const ths = COLUMNS.map(([label, key, cls]) => {
    if (!key) return h('th', { scope: 'col' }, label);
    const b = h('button', { type: 'button', class: 'sort', 'data-sort': key, onclick: () => sortBy(key) }, label, h('span', { class: 'sort-arrow', 'aria-hidden': 'true' }));
    sortBtns[key] = b;
    return h('th', { scope: 'col', class: cls || null }, b);
  });
  const body = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'servers' },
    h('caption', { class: 'visually-hidden' }, 'Servers; the column buttons sort'),
    h('thead', {}, h('tr', {}, ths)), body));
  const count = h('p', { class: 'muted small', id: 'server-count', 'aria-live': 'polite' });
  const first = h('button', { type: 'button', class: 'secondary', id: 'page-first' }, 'First page');
  const prev = h('button', { type: 'button', class: 'secondary', id: 'page-prev' }, 'Previous');
  const next = h('button', { type: 'button', class: 'secondary', id: 'page-next' }, 'Next');
  const pager = h('nav', { class: 'row pager', 'aria-label': 'Pages' }, first, prev, next);
  const msg = h('div', { 'aria-live': 'polite' });
  const listBox = h('div', {}, controls, count, table, pager);
  const empty = h('div', { class: 'empty', hidden: true }, h('p', {}, 'No servers yet.'),
    can('server:write') ? h('p', { class: 'muted' }, 'Add one: berth gives you a one-line command to run on the host.') : null);
  fill(view, head, addBox, msg, empty, listBox);

  function remember(push) {
    const qs = queryString(v, true);
    const url = location.pathname + (qs ? '?' + qs : '');
    const st = { servers: { back, start } };
    if (push) history.pushState(st, '', url); else history.replaceState(st, '', url);
  }
  function changed() { // the filter or the sort: back to the first page
    v.q = filter.value.trim().slice(0, 100);
    v.status = status.value;
    v.cursor = ''; back = []; start = 0;
    remember(false);
    refresh();
  }
  function sortBy(key) {
    v.sort = v.sort === key ? '-' + key : key;
    v.cursor = ''; back = []; start = 0;
    remember(false);
    refresh();
  }
  filter.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(changed, 250); });
  status.addEventListener('change', changed);
  let shown = 0, nextCursor = null;
  next.addEventListener('click', () => {
    if (!nextCursor) return;
    back.push(v.cursor);
    if (start !== null) start += shown;
    v.cursor = nextCursor;
    remember(true);
    refresh();
  });
  prev.addEventListener('click', () => {
    if (!back.length) return;
    v.cursor = back.pop();
    if (start !== null) start = Math.max(0, start - PAGE);
    remember(true);
    refresh();
  });
  first.addEventListener('click', () => { v.cursor = ''; back = []; start = 0; remember(true); refresh(); });

  function drawSort() {
    const key = v.sort.replace(/^-/, ''), desc = v.sort.startsWith('-');
    for (const [k, b] of Object.entries(sortBtns)) {
      const th = b.parentNode;
      if (k === key) th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
      b.lastChild.textContent = k === key ? (desc ? ' ▼' : ' ▲') : '';
    }
  }

  // Live (events.js): a `server` event (a status changed, anywhere in
  // the org: it may move rows in or out of this page) re-reads the page,
  // at most once a second; `server.metrics` redraws a shown row's bars
  // and heartbeat in place; `resync` (events missed) re-reads.
  let soonTimer = null;
  const soon = () => { if (!soonTimer) soonTimer = setTimeout(() => { soonTimer = null; refresh(); }, 1000); };
  const offs = [on('server', soon), on('resync', soon), on('server.metrics', (e) => {
    const r = shownRows.get(String(e.id));
    if (!r) return;
    fill(r.cpu, bar(e.cpu_pct, 'CPU'));
    fill(r.mem, bar(e.mem_pct, 'Memory'));
    fill(r.disk, bar(e.disk_pct, 'Disk'));
    if (e.last_seen > 0) fill(r.seen, whenEl(new Date(e.last_seen * 1000).toISOString()));
  })];
  let shownRows = new Map();

  // Re-read the page shown (on events, above; and once a minute while the
  // tab is visible, for the relative times).
  async function refresh() {
    clearTimeout(timer);
    if (gone) return;
    const mine = ++seq;
    let d = null;
    drawSort();
    try {
      const p = new URLSearchParams({ limit: String(PAGE), sort: v.sort });
      if (v.q) p.set('q', v.q);
      if (v.status) p.set('status', v.status);
      if (v.cursor) p.set('cursor', v.cursor);
      d = await get(base + '/servers?' + p);
    } catch (e) {
      if (mine !== seq || gone) return;
      if (e.status === 400 && v.cursor) { // a stale or hand-made cursor: the first page
        v.cursor = ''; back = []; start = 0; remember(false); refresh(); return;
      }
      fill(msg, errorBox(e));
    }
    if (mine !== seq || gone) return;
    if (d) {
      fill(msg);
      draw(d);
    }
    timer = setTimeout(function tick() {
      if (gone) return;
      if (document.visibilityState !== 'visible') { timer = setTimeout(tick, 60000); return; }
      refresh();
    }, 60000);
  }

  function draw(d) {
    const filtered = !!(v.q || v.status);
    const none = d.total === 0 && !filtered && !v.cursor;
    empty.hidden = !none;
    listBox.hidden = none;
    shown = d.items.length;
    nextCursor = d.next_cursor;
    shownRows = new Map();
    fill(body, d.items.length ? d.items.map((sv) => { const r = row(sv, org); shownRows.set(String(sv.id), r); return r.tr; })
      : h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' }, filtered ? 'No servers match.' : 'No more servers.')));
    const n = d.total.toLocaleString('en-US');
    fill(count, shown === 0 ? (filtered ? 'No match among the servers' : '') :
      start !== null ? `${(start + 1).toLocaleString('en-US')}–${(start + shown).toLocaleString('en-US')} of ${n}${filtered ? ' matching' : ''}`
        : `${shown} shown of ${n}${filtered ? ' matching' : ''}`);
    next.disabled = !nextCursor;
    prev.disabled = !back.length;
    first.hidden = !v.cursor;
    pager.hidden = !nextCursor && !v.cursor;
  }

  await refresh();
  return () => { gone = true; clearTimeout(timer); clearTimeout(typing); clearTimeout(soonTimer); offs.forEach((off) => off()); };
}

// A row and the cells live metrics redraw.
function row(sv, org) {
  const m = sv.metrics;
  const r = {
    seen: h('td', {}, whenEl(sv.last_seen_at)),
    cpu: h('td', { class: 'bars' }, bar(m ? m.cpu_pct : null, 'CPU')),
    mem: h('td', { class: 'bars' }, bar(memPct(m), 'Memory')),
    disk: h('td', { class: 'bars' }, bar(diskPct(m), 'Disk')),
  };
  r.tr = h('tr', { 'data-id': sv.id },
    h('td', {}, link('/o/' + enc(org) + '/servers/' + sv.id, sv.name)),
    h('td', {}, badge(sv.status), sv.status_reason ? h('div', { class: 'muted small reason' }, sv.status_reason) : null),
    r.seen, h('td', { class: 'wide' }, whenEl(sv.created_at)), r.cpu, r.mem, r.disk);
  return r;
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
  if (sv.status !== 'DECOMMISSIONED') {
    actions.append(link('/o/' + enc(org) + '/servers/' + enc(sv.id) + '/containers', h('span', { class: 'button secondary', id: 'containers-link' }, 'Containers')));
    if (can('terminal:open'))
      actions.append(link('/o/' + enc(org) + '/servers/' + enc(sv.id) + '/terminal', h('span', { class: 'button secondary', id: 'terminal-link' }, 'Terminal')));
  }
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
