// pages/apps.js - applications: the list, one app (what serves now, deploy
// / rollback, its deployments, env var names with write-only values) and
// the create/edit form, which shows the API's own validation errors.
import { get, post, patch, put, del, enc } from '../api.js';
import { h, fill, link, badge, whenEl, field, errorBox, confirmDialog } from '../ui.js';
import { can } from '../state.js';

export async function appsPage(view, { org }) {
  const list = await get('/orgs/' + enc(org) + '/apps');
  const items = list.items || [];
  fill(view, 
    h('div', { class: 'page-head' }, h('h1', {}, 'Applications'),
      can('app:write') ? link('/o/' + enc(org) + '/apps/new', h('span', { class: 'button', id: 'new-app' }, 'New application')) : null),
    items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'apps' },
      h('thead', {}, h('tr', {}, ['Name', 'Server', 'Repository', 'Serving now', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((a) => h('tr', {},
        h('td', {}, link('/o/' + enc(org) + '/apps/' + enc(a.name), a.name)),
        h('td', {}, a.server ? [a.server.name, ' ', badge(a.server.status)] : '—'),
        h('td', { class: 'mono small' }, a.repo_url + ' @ ' + a.branch),
        h('td', {}, a.current_deployment ? link('/o/' + enc(org) + '/deployments/' + a.current_deployment.id, '#' + a.current_deployment.id + ' ' + (a.current_deployment.commit || '').slice(0, 10)) : h('span', { class: 'muted' }, 'nothing yet')),
        h('td', {}, whenEl(a.updated_at)))))))
      : h('div', { class: 'empty' }, h('p', {}, 'No applications yet.')));
}

export function deploymentsTable(org, items) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'deployments' },
    h('thead', {}, h('tr', {}, ['#', 'Kind', 'Status', 'Commit', 'Summary', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, items.map((d) => h('tr', {},
      h('td', {}, link('/o/' + enc(org) + '/deployments/' + d.id, '#' + d.id)),
      h('td', {}, d.kind),
      h('td', {}, badge(d.status), d.current ? h('span', { class: 'badge st-current' }, 'serving') : null),
      h('td', { class: 'mono' }, (d.resolved_commit || d.commit || '').slice(0, 12) || '—'),
      h('td', { class: 'small' }, d.summary && d.summary !== d.status ? d.summary : ''),
      h('td', {}, whenEl(d.created_at)))))));
}

export async function appPage(view, { org, navigate }, name) {
  const base = '/orgs/' + enc(org) + '/apps/' + enc(name);
  const [app, deps, env] = await Promise.all([get(base),
    can('deploy:read') ? get(base + '/deployments') : Promise.resolve({ items: [] }),
    get(base + '/env')]);
  const msg = h('div', { 'aria-live': 'polite' });
  const actions = h('div', { class: 'row' });
  if (can('deploy:write')) {
    const commit = h('input', { type: 'text', name: 'commit', placeholder: 'branch head', pattern: '[0-9a-f]{4,64}', size: 14, 'aria-label': 'Commit (optional)' });
    const form = h('form', { class: 'inline', id: 'deploy-form' }, commit, h('button', { type: 'submit', id: 'deploy' }, 'Deploy'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const body = commit.value.trim() ? { commit: commit.value.trim() } : {};
        const d = await post(base + '/deployments', body);
        navigate('/o/' + enc(org) + '/deployments/' + d.id);
      } catch (e) { fill(msg, errorBox(e)); }
    });
    actions.append(form, h('button', { type: 'button', class: 'secondary', id: 'rollback', onclick: async () => {
      if (!await confirmDialog('Roll back ' + app.name + '?', 'The newest successful deployment before the one serving now is deployed again.', 'Roll back')) return;
      try { const d = await post(base + '/rollback'); navigate('/o/' + enc(org) + '/deployments/' + d.id); }
      catch (e) { fill(msg, errorBox(e)); }
    } }, 'Roll back'));
  }
  if (can('deploy:read')) {
    actions.append(link('/o/' + enc(org) + '/apps/' + enc(app.name) + '/logs', h('span', { class: 'button secondary', id: 'app-logs' }, 'Logs')));
  }
  if (can('container:exec') && app.server && app.current_deployment) {
    actions.append(link('/o/' + enc(org) + '/servers/' + enc(app.server.id || app.server.name) + '/terminal?app=' + enc(app.name),
      h('span', { class: 'button secondary', id: 'shell' }, 'Shell')));
  }
  if (can('app:write')) {
    actions.append(link('/o/' + enc(org) + '/apps/' + enc(app.name) + '/edit', h('span', { class: 'button secondary' }, 'Edit')),
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!await confirmDialog('Delete ' + app.name + '?', 'Its settings, env and deployment history are deleted (its container keeps running on the server).', 'Delete', app.name)) return;
        try { await del(base + '?confirm=' + enc(app.name)); navigate('/o/' + enc(org) + '/apps', true); }
        catch (e) { fill(msg, errorBox(e)); }
      } }, 'Delete'));
  }
  const cur = app.current_deployment;
  const facts = [
    ['Server', app.server ? [app.server.name, ' ', badge(app.server.status)] : '—'],
    ['Repository', h('span', { class: 'mono' }, app.repo_url)], ['Branch', app.branch],
    ['Dockerfile', app.dockerfile + ' (context ' + app.context + ')'],
    ['Container port', app.container_port], ['Public port', app.public_port == null ? 'none' : app.public_port],
    ['Health path', app.health_path], ['Domains', (app.domains || []).join(', ') || '—'],
    ['Auto deploy', app.auto_deploy ? 'on push to ' + app.branch : 'off'],
    ['Serving now', cur ? [link('/o/' + enc(org) + '/deployments/' + cur.id, '#' + cur.id), ' ', (cur.commit || '').slice(0, 12), ' ', badge(cur.status)] : 'nothing yet'],
  ];
  fill(view, 
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/apps', 'Applications'), ' / ', app.name),
    h('div', { class: 'page-head' }, h('h1', {}, app.name), actions), msg,
    h('table', { class: 'kv' }, h('tbody', {}, facts.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))))),
    h('section', {}, h('h2', {}, 'Environment'), envSection(base, env.items || [])),
    can('deploy:read') ? h('section', {}, h('h2', {}, 'Deployments'),
      (deps.items || []).length ? deploymentsTable(org, deps.items) : h('p', { class: 'muted' }, 'No deployments yet.')) : null);
}

const KEY_RE = /^[A-Z_][A-Z0-9_]*$/;

function envSection(base, items) {
  const box = h('div', { id: 'env' });
  const err = h('div', { 'aria-live': 'polite' });
  const draw = (list) => {
    const rows = list.map((v) => h('tr', {}, h('td', { class: 'mono' }, v.name), h('td', { class: 'muted' }, '••••••••'),
      h('td', {}, whenEl(v.updated_at)),
      h('td', {}, can('env:write') ? h('button', { type: 'button', class: 'secondary small', onclick: async () => {
        if (!await confirmDialog('Unset ' + v.name + '?', 'The next deployment runs without it.', 'Unset')) return;
        try { await del(base + '/env/' + enc(v.name)); draw(list.filter((x) => x !== v)); } catch (e) { fill(err, errorBox(e)); }
      } }, 'Unset') : null)));
    const parts = [list.length ? h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['Name', 'Value', 'Updated', ''].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No variables.')];
    if (can('env:write')) {
      const key = h('input', { type: 'text', name: 'key', required: true, placeholder: 'DATABASE_URL', autocomplete: 'off', pattern: '[A-Z_][A-Z0-9_]*' });
      const value = h('input', { type: 'password', name: 'value', autocomplete: 'off' });
      const f = h('form', { class: 'inline', id: 'env-form' }, field('Name', key), field('Value (write-only)', value), h('button', { type: 'submit' }, 'Set'));
      f.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        fill(err);
        if (!KEY_RE.test(key.value)) { fill(err, errorBox('Names are A-Z, 0-9 and _, not starting with a digit.')); return; }
        try {
          const r = await put(base + '/env/' + enc(key.value), { value: value.value });
          draw(list.filter((x) => x.name !== r.name).concat([r]).sort((a, b) => (a.name < b.name ? -1 : 1)));
        } catch (e) { fill(err, errorBox(e)); }
      });
      parts.push(f, h('p', { class: 'muted small' }, 'Values are sealed on the control plane and never shown again; setting a name again replaces its value.'));
    }
    fill(box, ...parts, err);
  };
  draw(items);
  return box;
}

// Create or edit: field names are the API's; its 400/422 answers name the
// field, which is then marked.
const FIELDS = [
  ['name', 'Name', 'text', 'a-z, 0-9 and -, starting with a letter', true],
  ['server', 'Server', 'server', '', true],
  ['repo_url', 'Repository URL', 'text', 'https://, ssh://, git:// or user@host:path', true],
  ['branch', 'Branch', 'text', 'default main'],
  ['dockerfile', 'Dockerfile', 'text', 'default ./Dockerfile'],
  ['context', 'Build context', 'text', 'default .'],
  ['container_port', 'Container port', 'number', 'the port the app listens on in its container', true],
  ['public_port', 'Public port', 'number', 'empty: no edge proxy'],
  ['health_path', 'Health path', 'text', 'default /'],
  ['domains', 'Domains', 'text', 'comma-separated host names'],
  ['auto_deploy', 'Deploy on push', 'checkbox', 'a signed push to the branch deploys it'],
];

export async function appFormPage(view, { org, navigate }, name) {
  const editing = !!name;
  const base = '/orgs/' + enc(org) + '/apps';
  const [app, servers] = await Promise.all([editing ? get(base + '/' + enc(name)) : Promise.resolve(null),
    can('server:read') ? get('/orgs/' + enc(org) + '/servers?limit=500&sort=name') : Promise.resolve({ items: [] })]);
  const inputs = {};
  const rows = FIELDS.map(([key, label, kind, hint, required]) => {
    let input;
    if (kind === 'server') {
      input = h('select', { name: key, required: true },
        h('option', { value: '' }, '— choose —'),
        (servers.items || []).filter((sv) => sv.status !== 'DECOMMISSIONED').map((sv) =>
          h('option', { value: sv.name, selected: app && app.server && app.server.id === sv.id ? true : null }, sv.name + ' (' + sv.status + ')')));
    } else if (kind === 'checkbox') {
      input = h('input', { type: 'checkbox', name: key, checked: app && app[key] ? true : null });
    } else {
      let v = app ? app[key] : '';
      if (key === 'domains') v = app ? (app.domains || []).join(', ') : '';
      input = h('input', { type: kind, name: key, value: v == null ? '' : v, required: required && !editing ? true : null, autocomplete: 'off' });
    }
    inputs[key] = input;
    return field(label + (required ? '' : ' (optional)'), input, hint);
  });
  const err = h('div', { 'aria-live': 'polite', id: 'form-error' });
  const form = h('form', { class: 'card', id: 'app-form', novalidate: true },
    h('h1', {}, editing ? 'Edit ' + app.name : 'New application'), h('div', { class: 'grid2' }, rows), err,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, editing ? 'Save' : 'Create'),
      link(editing ? base.replace('/orgs/', '/o/') + '/' + enc(name) : '/o/' + enc(org) + '/apps', 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(err);
    for (const i of Object.values(inputs)) i.removeAttribute('aria-invalid');
    const body = {};
    for (const [key, , kind] of FIELDS) {
      const i = inputs[key];
      if (kind === 'checkbox') { if (!editing || i.checked !== !!app[key]) body[key] = i.checked; continue; }
      const v = i.value.trim();
      if (key === 'domains') {
        const list = v ? v.split(',').map((x) => x.trim()).filter(Boolean) : [];
        if (!editing || list.join(',') !== (app.domains || []).join(',')) body.domains = list;
        continue;
      }
      if (v === '') { if (editing && key === 'public_port' && app.public_port != null) body.public_port = null; continue; }
      const val = kind === 'number' ? Number(v) : v;
      if (editing && (key === 'server' ? app.server && app.server.name === v : String(app[key]) === String(val))) continue;
      body[key] = val;
    }
    try {
      const r = editing ? await patch(base + '/' + enc(name), body) : await post(base, body);
      navigate('/o/' + enc(org) + '/apps/' + enc(r.name), true);
    } catch (e) {
      const m = /'([a-z_]+)'/.exec(e.message || '');
      if (m && inputs[m[1]]) { inputs[m[1]].setAttribute('aria-invalid', 'true'); inputs[m[1]].focus(); }
      fill(err, errorBox(e));
    }
  });
  fill(view, form);
}
