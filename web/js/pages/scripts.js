// pages/scripts.js - the organization's script library (saved shell
// scripts: list, an editor, run on a server) and one job's page (its
// status, redrawn on its `job` events, and its output followed live).
import { get, post, put, del, enc } from '../api.js';
import { h, fill, link, badge, whenEl, bytes, field, errorBox, confirmDialog, ansi, logSink } from '../ui.js';
import { can } from '../state.js';
import { on, followJobLog } from '../events.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export async function scriptsPage(view, { org }) {
  const r = await get('/orgs/' + enc(org) + '/scripts');
  const items = r.items || [];
  fill(view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Scripts'),
      can('script:run') ? link('/o/' + enc(org) + '/scripts/new', h('span', { class: 'button', id: 'new-script' }, 'New script')) : null),
    h('p', { class: 'muted' }, 'Shell scripts kept here run on any ACTIVE server as a job, their output kept with the job.'),
    items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'scripts' },
      h('thead', {}, h('tr', {}, ['Name', 'Size', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((s) => h('tr', {},
        h('td', {}, link('/o/' + enc(org) + '/scripts/' + enc(s.name), s.name)),
        h('td', {}, bytes(s.size)), h('td', {}, whenEl(s.updated_at)))))))
      : h('p', { class: 'muted' }, 'No scripts yet.'));
}

export async function scriptPage(view, { org, navigate }, ref) {
  const creating = ref === undefined;
  const base = '/orgs/' + enc(org) + '/scripts';
  const [sc, servers] = await Promise.all([creating ? Promise.resolve(null) : get(base + '/' + enc(ref)),
    get('/orgs/' + enc(org) + '/servers')]);
  const writable = can('script:run');
  const msg = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', name: 'name', required: true, value: sc ? sc.name : '', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,99}', readonly: writable ? null : true });
  const body = h('textarea', { name: 'body', class: 'code', rows: 18, spellcheck: 'false', readonly: writable ? null : true }, sc ? sc.body : '#!/bin/sh\nset -eu\n');
  const form = h('form', { id: 'script-form', class: 'stack' }, field('Name', name, 'letters, digits, . _ -'), field('Script', body, 'run with /bin/sh on the server, as the runner\'s user'),
    writable ? h('div', { class: 'row' }, h('button', { type: 'submit' }, creating ? 'Create' : 'Save'),
      creating ? null : h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!await confirmDialog('Delete ' + sc.name + '?', 'The script is deleted; its past jobs and their output stay.', 'Delete')) return;
        try { await del(base + '/' + enc(sc.id)); navigate('/o/' + enc(org) + '/scripts', true); } catch (e) { fill(msg, errorBox(e)); }
      } }, 'Delete')) : null);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(msg);
    if (!NAME_RE.test(name.value)) { fill(msg, errorBox('Names are 1-100 of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or digit.')); return; }
    try {
      const out = creating ? await post(base, { name: name.value, body: body.value })
        : await put(base + '/' + enc(sc.id), { name: name.value, body: body.value });
      if (creating || out.name !== ref) navigate('/o/' + enc(org) + '/scripts/' + enc(out.name), true);
      else fill(msg, h('p', { class: 'ok', role: 'status' }, 'Saved.'));
    } catch (e) { fill(msg, errorBox(e)); }
  });
  let runForm = null;
  if (!creating && writable) {
    const active = (servers.items || []).filter((sv) => sv.status === 'ACTIVE');
    const server = h('select', { name: 'server', required: true },
      active.map((sv) => h('option', { value: sv.name }, sv.name)));
    const timeout = h('input', { type: 'number', name: 'timeout_s', min: 1, max: 86400, value: 3600 });
    runForm = h('form', { class: 'inline', id: 'run-form' }, field('Server', server), field('Timeout (s)', timeout),
      h('button', { type: 'submit', disabled: active.length ? null : true }, 'Run'));
    runForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      fill(msg);
      try {
        const j = await post(base + '/' + enc(sc.id) + '/runs', { server: server.value, timeout_s: Number(timeout.value) });
        navigate('/o/' + enc(org) + '/jobs/' + j.id);
      } catch (e) { fill(msg, errorBox(e)); }
    });
    if (!active.length) runForm.append(h('span', { class: 'muted small' }, ' no ACTIVE server to run it on'));
  }
  fill(view,
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/scripts', 'Scripts'), ' / ', creating ? 'new' : sc.name),
    h('h1', {}, creating ? 'New script' : sc.name), msg, form,
    runForm ? h('section', {}, h('h2', {}, 'Run it'), runForm) : null);
}

const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export async function jobPage(view, { org }, id) {
  const base = '/orgs/' + enc(org) + '/jobs/' + enc(id);
  let j = await get(base);
  const head = h('div');
  const logBox = h('pre', { class: 'log', id: 'log', tabindex: 0, 'aria-label': 'Job output' });
  const logState = h('p', { class: 'muted small', id: 'log-state' });
  const ctl = new AbortController();
  const sink = logSink(logBox);
  let stopped = false;
  const draw = () => fill(head,
    h('div', { class: 'page-head' }, h('h1', {}, 'Job #' + j.id + (j.script ? ': ' + j.script : '')), badge(j.status)),
    h('p', { class: 'muted small' }, j.kind, ' on server ',
      link('/o/' + enc(org) + '/servers/' + j.server_id, '#' + j.server_id), ' · created ', whenEl(j.created_at),
      j.finished_at ? [' · finished ', whenEl(j.finished_at)] : null,
      j.exit_code !== null && j.exit_code !== undefined ? ' · exit code ' + j.exit_code : null),
    j.error ? h('p', { class: 'error' }, j.error) : null);
  const refresh = async () => { try { j = await get(base); if (!stopped) draw(); } catch (_) { /* next event */ } };
  const off = on('job', (e) => { if (String(e.id) === String(j.id)) refresh(); });
  draw();
  fill(view, head, h('section', {}, h('h2', {}, 'Output'), logState, logBox));
  (async () => {
    for (let tries = 0; !stopped && tries < 40; tries++) {
      try {
        logState.textContent = FINAL.includes(j.status) ? '' : 'following the output…';
        await followJobLog(base + '/logs', { job: j.id }, (c) => {
          const span = h('span', { class: c.stream === 'stderr' ? 'err' : c.stream === 'system' ? 'log-step' : null });
          span.appendChild(ansi(c.data || ''));
          sink.push(span);
        }, ctl.signal);
        sink.flush();
        logState.textContent = logBox.childNodes.length ? '' : 'no output.';
        refresh();
        return;
      } catch (e) {
        if (stopped || e.name === 'AbortError') return;
        if (e.code === 'not_started') { await new Promise((r) => setTimeout(r, 500)); continue; }
        logState.textContent = '';
        logBox.appendChild(errorBox(e));
        return;
      }
    }
  })();
  return () => { stopped = true; off(); ctl.abort(); sink.clear(); };
}
