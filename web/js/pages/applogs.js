// pages/applogs.js - an application's logs (docs/app-logs.md): what its
// containers print, read through berthd from the app's runner
// (GET /orgs/{org}/apps/{app}/logs, NDJSON). The URL keeps the view
// (/o/{org}/apps/{app}/logs?q=&stream=&deployment=&since=&follow=1), so a
// filtered, followed view is a bookmark. Lines are drawn with their ANSI
// colours; a follow that berthd ends (idle, or the runner's link cut) is
// started again from the newest line shown, skipping what was shown.
import { get, readNdjson, enc } from '../api.js';
import { h, fill, link, field, errorBox, ansi, logSink } from '../ui.js';
import { can } from '../state.js';

const SINCES = [['15m', 'last 15 minutes'], ['1h', 'last hour'], ['24h', 'last 24 hours'], ['7d', 'last 7 days'], ['', 'all kept']];
const TAIL = 1000;       // lines asked for at first
const KEEP = 5000;       // lines kept on the page (the oldest go)
const Q_MAX = 256;

function readQuery() {
  const p = new URLSearchParams(location.search);
  const since = p.get('since');
  return {
    q: (p.get('q') || '').slice(0, Q_MAX),
    stream: ['stdout', 'stderr'].includes(p.get('stream')) ? p.get('stream') : '',
    deployment: /^[0-9]{1,18}$/.test(p.get('deployment') || '') ? p.get('deployment') : '',
    since: since === null ? '1h' : SINCES.some((s) => s[0] === since) ? since : '1h',
    follow: p.get('follow') === '1',
  };
}

function queryString(v) {
  const p = new URLSearchParams();
  if (v.q) p.set('q', v.q);
  if (v.stream) p.set('stream', v.stream);
  if (v.deployment) p.set('deployment', v.deployment);
  if (v.since !== '1h') p.set('since', v.since);
  if (v.follow) p.set('follow', '1');
  return p.toString();
}

const two = (n) => String(n).padStart(2, '0');
function stamp(ts) { // ns since the epoch -> local date and time (ms)
  const d = new Date(Math.floor(ts / 1e6));
  return [d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()),
    two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds()) + '.' + String(d.getMilliseconds()).padStart(3, '0')];
}

export async function appLogsPage(view, { org }, name) {
  const appBase = '/orgs/' + enc(org) + '/apps/' + enc(name);
  const [app, deps] = await Promise.all([get(appBase),
    can('deploy:read') ? get(appBase + '/deployments').catch(() => ({ items: [] })) : Promise.resolve({ items: [] })]);
  const v = readQuery();
  let ctl = null, gone = false, typing = null, run = 0;

  const q = h('input', { type: 'search', id: 'log-q', name: 'q', value: v.q, maxlength: Q_MAX,
    placeholder: 'text in the line', autocomplete: 'off', spellcheck: 'false' });
  const stream = h('select', { id: 'log-stream', name: 'stream' },
    [['', 'stdout and stderr'], ['stdout', 'stdout'], ['stderr', 'stderr']].map(([val, label]) =>
      h('option', { value: val, selected: val === v.stream ? true : null }, label)));
  const depOpts = (deps.items || []).map((d) => [String(d.id), '#' + d.id + ' ' + ((d.resolved_commit || d.commit || '').slice(0, 10) || d.kind) + ' · ' + d.status]);
  if (v.deployment && !depOpts.some((o) => o[0] === v.deployment)) depOpts.unshift([v.deployment, '#' + v.deployment]);
  const deployment = h('select', { id: 'log-deployment', name: 'deployment' },
    h('option', { value: '' }, 'every deployment'),
    depOpts.map(([val, label]) => h('option', { value: val, selected: val === v.deployment ? true : null }, label)));
  const since = h('select', { id: 'log-since', name: 'since' },
    SINCES.map(([val, label]) => h('option', { value: val, selected: val === v.since ? true : null }, label)));
  const followBtn = h('button', { type: 'button', id: 'log-follow', class: 'secondary', 'aria-pressed': v.follow ? 'true' : 'false' }, 'Live');
  const controls = h('form', { class: 'inline list-controls', id: 'log-controls', role: 'search' },
    field('Search', q), field('Stream', stream), field('Deployment', deployment), field('Since', since),
    field('Follow', followBtn));
  const state = h('p', { class: 'muted small', id: 'log-state', 'aria-live': 'polite' });
  const msg = h('div', { 'aria-live': 'polite' });
  const box = h('pre', { class: 'log applog', id: 'applog', tabindex: 0, 'aria-label': 'Application log', 'aria-live': 'off' });

  fill(view,
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/apps', 'Applications'), ' / ',
      link('/o/' + enc(org) + '/apps/' + enc(app.name), app.name), ' / logs'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Logs: ' + app.name)),
    h('p', { class: 'muted small' }, 'What the app’s containers print, kept on ',
      app.server ? app.server.name : 'its server', ' by its runner; the newest ' + TAIL + ' matching lines first.'),
    controls, state, msg, box);

  const sink = logSink(box, KEEP);
  let shown = 0, lastTs = 0, atLast = 0; // lines shown; the newest time and how many lines carry it
  function addLine(o) {
    if (o.berth) { // berthd's own last line: an error or a truncation
      sink.push(h('span', { class: 'log-step st-failed' }, '▸ ' + (o.error || o.truncated || 'ended') + '\n'));
      return;
    }
    const ts = Number(o.ts) || 0;
    if (ts === lastTs) atLast++; else if (ts > lastTs) { lastTs = ts; atLast = 1; }
    const [day, time] = stamp(ts);
    const row = h('span', { class: 'log-line' + (o.stream === 'stderr' ? ' err' : '') },
      h('span', { class: 'log-time' }, h('span', { class: 'log-day' }, day + ' '), time + ' '));
    row.appendChild(ansi(String(o.text || '') + (o.partial ? '' : '\n')));
    sink.push(row);
    shown = Math.min(shown + 1, KEEP);
  }

  function params(resume) {
    const p = new URLSearchParams({ format: 'ndjson' });
    if (resume) {
      p.set('since', Math.floor(lastTs / 1e9) + '.' + String(lastTs % 1e9).padStart(9, '0'));
    } else {
      p.set('tail', String(TAIL));
      if (v.since) p.set('since', v.since);
    }
    if (v.q) p.set('q', v.q);
    if (v.stream) p.set('stream', v.stream);
    if (v.deployment) p.set('deployment', v.deployment);
    if (v.follow) p.set('follow', '1');
    return p.toString();
  }

  async function load() {
    const mine = ++run;
    if (ctl) ctl.abort();
    ctl = new AbortController();
    const signal = ctl.signal;
    sink.clear(); fill(box); fill(msg);
    box.hidden = false;
    shown = 0; lastTs = 0; atLast = 0;
    let resume = false;
    for (let rounds = 0; !gone && mine === run; rounds++) {
      state.textContent = v.follow ? (resume ? 'following again…' : 'following new lines…') : 'reading…';
      let skip = resume ? atLast : 0; // the lines at lastTs already shown come again
      const skipTs = lastTs;
      try {
        await readNdjson(appBase + '/logs?' + params(resume), (o) => {
          if (mine !== run) return;
          if (skip > 0 && Number(o.ts) === skipTs) { skip--; return; }
          skip = 0;
          addLine(o);
        }, signal);
      } catch (e) {
        if (gone || mine !== run || e.name === 'AbortError') return;
        state.textContent = '';
        fill(msg, errorBox(e)); // a 503 says which server is away, and why
        if (e.status === 503) msg.append(h('p', { class: 'muted small' }, 'The lines are kept on the server; they can be read once its runner is connected again.'));
        if (!shown) box.hidden = true;
        if (!v.follow || e.status !== 503 || rounds > 30) return;
        await new Promise((r) => setTimeout(r, 5000)); // the runner may come back
        resume = lastTs > 0;
        continue;
      }
      if (mine !== run) return;
      sink.flush();
      if (!v.follow) {
        state.textContent = shown ? shown + ' line' + (shown === 1 ? '' : 's') + (shown >= TAIL ? ' (the newest ' + TAIL + ')' : '') : 'no lines match.';
        return;
      }
      // a follow berthd ended (idle, or cut): again from the newest line
      resume = lastTs > 0;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  function changed(push) {
    v.q = q.value.trim().slice(0, Q_MAX);
    v.stream = stream.value;
    v.deployment = deployment.value;
    v.since = since.value;
    const qs = queryString(v);
    const url = location.pathname + (qs ? '?' + qs : '');
    if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
    load();
  }
  controls.addEventListener('submit', (ev) => { ev.preventDefault(); clearTimeout(typing); changed(false); });
  q.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => changed(false), 400); });
  for (const s of [stream, deployment, since]) s.addEventListener('change', () => changed(false));
  followBtn.addEventListener('click', () => {
    v.follow = !v.follow;
    followBtn.setAttribute('aria-pressed', v.follow ? 'true' : 'false');
    changed(false);
  });

  load();
  return () => { gone = true; clearTimeout(typing); if (ctl) ctl.abort(); sink.clear(); };
}
