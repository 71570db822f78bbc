// pages/schedules.js - scheduled operations (docs/schedules.md): the list
// with each schedule's next fire time, create (a script on a server, or a
// redeploy of an app; cron with a time zone, or every N minutes), and one
// schedule's next fire times, pause/resume/delete and its run history.
import { get, post, del, enc } from '../api.js';
import { h, fill, link, badge, whenEl, field, errorBox, confirmDialog } from '../ui.js';
import { can } from '../state.js';

const what = (s, names) => s.kind === 'script'
  ? 'script ' + (names.scripts.get(s.script_id) || '#' + s.script_id) + ' on ' + (names.servers.get(s.server_id) || '#' + s.server_id)
  : 'redeploy ' + (names.apps.get(s.app_id) || '#' + s.app_id);
const timing = (s) => s.cron ? s.cron + (s.timezone && s.timezone !== 'UTC' ? ' (' + s.timezone + ')' : ' (UTC)') : 'every ' + s.every_minutes + ' min';

async function names(org) {
  const o = '/orgs/' + enc(org);
  const [sc, sv, ap] = await Promise.all([
    can('server:read') ? get(o + '/scripts') : { items: [] },
    can('server:read') ? get(o + '/servers') : { items: [] },
    can('app:read') ? get(o + '/apps') : { items: [] }]);
  const map = (r) => new Map((r.items || []).map((x) => [x.id, x.name]));
  return { scripts: map(sc), servers: map(sv), apps: map(ap), raw: { sc, sv, ap } };
}

export async function schedulesPage(view, { org, navigate }) {
  const base = '/orgs/' + enc(org) + '/schedules';
  const [r, n] = await Promise.all([get(base), names(org)]);
  const items = r.items || [];
  const msg = h('div', { 'aria-live': 'polite' });
  let form = null;
  if (can('schedule:write')) {
    const kind = h('select', { name: 'kind' }, h('option', { value: 'script' }, 'run a script'), h('option', { value: 'deploy' }, 'redeploy an app'));
    const script = h('select', { name: 'script' }, (n.raw.sc.items || []).map((x) => h('option', { value: x.name }, x.name)));
    const server = h('select', { name: 'server' }, (n.raw.sv.items || []).filter((x) => x.status !== 'DECOMMISSIONED').map((x) => h('option', { value: x.name }, x.name)));
    const app = h('select', { name: 'app' }, (n.raw.ap.items || []).map((x) => h('option', { value: x.name }, x.name)));
    const mode = h('select', { name: 'mode' }, h('option', { value: 'cron' }, 'cron'), h('option', { value: 'every' }, 'every N minutes'));
    const cron = h('input', { type: 'text', name: 'cron', value: '0 3 * * *', size: 16, class: 'mono' });
    const tz = h('input', { type: 'text', name: 'timezone', value: 'UTC', size: 18, placeholder: 'Europe/Berlin' });
    const every = h('input', { type: 'number', name: 'every_minutes', min: 1, max: 525600, value: 60 });
    const scriptF = [field('Script', script), field('Server', server)], appF = [field('App', app)];
    const cronF = [field('Cron (min hour day month weekday)', cron), field('Time zone', tz)], everyF = [field('Minutes', every)];
    const sync = () => {
      for (const el of scriptF) el.hidden = kind.value !== 'script';
      for (const el of appF) el.hidden = kind.value !== 'deploy';
      for (const el of cronF) el.hidden = mode.value !== 'cron';
      for (const el of everyF) el.hidden = mode.value !== 'every';
    };
    kind.onchange = sync; mode.onchange = sync;
    form = h('form', { class: 'card', id: 'schedule-form' }, h('h2', {}, 'New schedule'),
      h('div', { class: 'inline' }, field('What', kind), scriptF, appF),
      h('div', { class: 'inline' }, field('When', mode), cronF, everyF, h('button', { type: 'submit' }, 'Create')));
    sync();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      fill(msg);
      const body = { kind: kind.value };
      if (kind.value === 'script') { body.script = script.value; body.server = server.value; } else body.app = app.value;
      if (mode.value === 'cron') { body.cron = cron.value.trim(); body.timezone = tz.value.trim() || 'UTC'; } else body.every_minutes = Number(every.value);
      try { const s = await post(base, body); navigate('/o/' + enc(org) + '/schedules/' + s.id); } catch (e) { fill(msg, errorBox(e)); }
    });
  }
  fill(view, h('h1', {}, 'Schedules'), msg,
    items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'schedules' },
      h('thead', {}, h('tr', {}, ['#', 'What', 'When', 'Status', 'Next run', 'Last run'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((s) => h('tr', {},
        h('td', {}, link('/o/' + enc(org) + '/schedules/' + s.id, '#' + s.id)), h('td', {}, what(s, n)),
        h('td', { class: 'mono small' }, timing(s)), h('td', {}, badge(s.status)),
        h('td', {}, s.next_run_at ? whenEl(s.next_run_at) : '—'), h('td', {}, s.last_run_at ? whenEl(s.last_run_at) : '—'))))))
      : h('p', { class: 'muted' }, 'No schedules yet.'),
    form);
}

export async function schedulePage(view, { org, navigate }, id) {
  const base = '/orgs/' + enc(org) + '/schedules/' + enc(id);
  const [s, runs, n] = await Promise.all([get(base), get(base + '/runs?limit=50'), names(org)]);
  const msg = h('div', { 'aria-live': 'polite' });
  const act = (label, path) => h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try { await post(base + path); navigate(location.pathname, true); } catch (e) { fill(msg, errorBox(e)); }
  } }, label);
  const actions = can('schedule:write') ? h('div', { class: 'row' },
    s.status === 'paused' ? act('Resume', '/resume') : act('Pause', '/pause'),
    h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!await confirmDialog('Delete schedule #' + s.id + '?', 'It fires no more; its run history goes with it (the audit log keeps the record).', 'Delete')) return;
      try { await del(base); navigate('/o/' + enc(org) + '/schedules', true); } catch (e) { fill(msg, errorBox(e)); }
    } }, 'Delete')) : null;
  fill(view,
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/schedules', 'Schedules'), ' / #' + s.id),
    h('div', { class: 'page-head' }, h('h1', {}, 'Schedule #' + s.id), badge(s.status), actions), msg,
    h('table', { class: 'kv' }, h('tbody', {}, [
      ['Does', what(s, n)], ['When', h('span', { class: 'mono' }, timing(s))], ['Catch-up after downtime', s.catch_up],
      ['Paused because', s.pause_reason || '—'],
      ['Next runs (UTC)', (s.next_runs || []).length ? h('ul', { class: 'plain', id: 'next-runs' }, s.next_runs.map((t) => h('li', { class: 'mono small' }, t))) : '—'],
    ].map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))))),
    h('section', {}, h('h2', {}, 'Runs'),
      (runs.items || []).length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'runs' },
        h('thead', {}, h('tr', {}, ['Due', 'Outcome', 'Started', 'Why'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, runs.items.map((r) => h('tr', {},
          h('td', {}, whenEl(r.due_at)), h('td', {}, badge(r.outcome), r.status ? [' ', badge(r.status)] : null),
          h('td', {}, r.job_id ? link('/o/' + enc(org) + '/jobs/' + r.job_id, 'job #' + r.job_id)
            : r.deployment_id ? link('/o/' + enc(org) + '/deployments/' + r.deployment_id, 'deployment #' + r.deployment_id) : '—'),
          h('td', { class: 'small' }, r.reason || ''))))))
        : h('p', { class: 'muted' }, 'No runs yet.')));
}
