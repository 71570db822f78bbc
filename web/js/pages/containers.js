// pages/containers.js - a server's containers through its runner
// (docs/containers.md): every container with its app, state, image,
// ports, CPU and memory; start, stop, restart, remove; a shell into a
// running one; and prune as preview -> run, where the run removes exactly
// the list the preview showed.
import { get, post, del, enc } from '../api.js';
import { h, fill, link, badge, bytes, errorBox, confirmDialog } from '../ui.js';
import { can } from '../state.js';

const ports = (c) => (c.ports || []).filter((p) => p.public).map((p) => (p.ip && p.ip !== '0.0.0.0' ? p.ip + ':' : '') + p.public + '→' + p.private + '/' + p.proto).join(', ');
const CANCELLED = Symbol('cancelled');
const cname = (c) => ((c.names || [])[0] || c.id.slice(0, 12)).replace(/^\//, '');

export async function containersPage(view, { org, navigate }, id) {
  const sbase = '/orgs/' + enc(org) + '/servers/' + enc(id);
  const base = sbase + '/containers';
  const msg = h('div', { 'aria-live': 'polite', id: 'containers-msg' });
  const body = h('div', {}, h('p', { class: 'muted' }, 'asking the runner…'));
  const sv = await get(sbase);
  const write = can('server:write');
  const act = (c, label, fn) => h('button', { type: 'button', class: label === 'Remove' ? 'danger small' : 'secondary small', onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      if (await fn() === CANCELLED) { ev.target.disabled = false; return; }
      fill(msg, h('p', { class: 'ok', role: 'status' }, label + ': ' + cname(c) + ' done.'));
      await load();
    }
    catch (e) { fill(msg, errorBox(e)); ev.target.disabled = false; }
  } }, label);
  async function load() {
    let r;
    try { r = await get(base); } catch (e) { fill(body, errorBox(e)); return; }
    const items = r.items || [];
    fill(body, items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'containers' },
      h('thead', {}, h('tr', {}, ['Name', 'App', 'State', 'Image', 'Ports', 'CPU', 'Memory', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((c) => {
        const name = cname(c);
        const cb = base + '/' + enc(c.id.slice(0, 64));
        const running = c.state === 'running';
        return h('tr', { 'data-name': name },
          h('td', { class: 'mono small' }, name),
          h('td', {}, c.app ? [link('/o/' + enc(org) + '/apps/' + enc(c.app.name), c.app.name), c.app.serving ? h('span', { class: 'badge st-current' }, 'serving') : null] : h('span', { class: 'muted' }, '—')),
          h('td', {}, badge(c.state), h('div', { class: 'muted small' }, c.status || '')),
          h('td', { class: 'mono small' }, c.image || ''),
          h('td', { class: 'mono small' }, ports(c)),
          h('td', {}, c.cpu_percent == null ? '—' : c.cpu_percent.toFixed(1) + ' %'),
          h('td', {}, c.memory_bytes == null ? '—' : bytes(c.memory_bytes) + (c.memory_limit ? ' / ' + bytes(c.memory_limit) : '')),
          h('td', { class: 'row' },
            running && can('container:exec') ? link('/o/' + enc(org) + '/servers/' + enc(sv.id) + '/terminal?container=' + enc(name), h('span', { class: 'button secondary small' }, 'Shell')) : null,
            write && !running ? act(c, 'Start', () => post(cb + '/start')) : null,
            write && running ? act(c, 'Stop', async () => {
              if (c.app && c.app.serving && !await confirmDialog('Stop ' + name + '?', 'It serves ' + c.app.name + ' now: the app is down until it is started again or deployed.', 'Stop')) return CANCELLED;
              return post(cb + '/stop');
            }) : null,
            write && running ? act(c, 'Restart', () => post(cb + '/restart')) : null,
            write ? act(c, 'Remove', async () => {
              if (!await confirmDialog('Remove ' + name + '?', running ? 'It is running: it is killed, then removed.' : 'The container and its writable layer are deleted.', 'Remove')) return CANCELLED;
              return del(cb);
            }) : null));
      }))), r.truncated ? h('p', { class: 'muted small' }, 'The first 2,000 containers are shown.') : null)
      : h('p', { class: 'muted' }, 'No containers on this server.'));
  }
  const pruneBtn = write ? h('button', { type: 'button', class: 'secondary', id: 'prune', onclick: async () => {
    fill(msg);
    let p;
    try { p = await post(base + '/prune', { dry_run: true }); } catch (e) { fill(msg, errorBox(e)); return; }
    if (!(p.items || []).length) { fill(msg, h('p', { class: 'ok', role: 'status' }, 'Nothing to prune.')); return; }
    const list = h('ul', { class: 'small', id: 'prune-preview' }, p.items.map((it) =>
      h('li', {}, it.kind + ' ', h('span', { class: 'mono' }, it.name || it.id.slice(0, 19)), ' · ' + bytes(it.bytes || 0) + ' · ' + (it.why || ''))));
    fill(msg, h('div', { class: 'card' }, h('p', {}, 'A prune would remove these ' + p.items.length + ' (' + bytes(p.total_bytes || 0) + '); nothing else, and nothing that appears meanwhile:'), list));
    if (!await confirmDialog('Prune ' + p.items.length + ' items?', 'Exactly the list shown is removed (each is checked again first: what runs now is skipped).', 'Prune')) return;
    try {
      const r = await post(base + '/prune', { preview: p.preview });
      fill(msg, h('p', { class: 'ok', role: 'status', id: 'prune-result' }, 'Removed ' + (r.removed || []).length + ', skipped ' + (r.skipped || []).length +
        ', failed ' + (r.failed || []).length + '; freed ' + bytes(r.bytes_freed || 0) + '.'));
      await load();
    } catch (e) { fill(msg, errorBox(e)); }
  } }, 'Prune…') : null;
  fill(view,
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/servers', 'Servers'), ' / ', link('/o/' + enc(org) + '/servers/' + enc(sv.id), sv.name), ' / containers'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Containers on ' + sv.name), badge(sv.status),
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', onclick: () => load() }, 'Refresh'), pruneBtn)),
    msg, body);
  await load();
}
