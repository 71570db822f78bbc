// pages/deploys.js - one deployment: its step timeline with durations, the
// honest outcome (the summary berthd writes: "rolled back to deployment
// N"), cancel, and its log: read as it is (NDJSON), then followed from its
// last seq on the organization's event stream (events.js followJobLog),
// the stream that also redraws its status and steps when it moves.
import { get, post, enc } from '../api.js';
import { h, fill, link, badge, whenEl, duration, errorBox, confirmDialog, ansi, logSink } from '../ui.js';
import { can } from '../state.js';
import { on, next, followJobLog } from '../events.js';

const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
const PIPELINE = ['precheck', 'clone', 'build', 'start', 'health', 'swap', 'cleanup'];

function timeline(d) {
  const steps = d.steps || [];
  const byName = new Map(steps.map((st) => [st.step, st]));
  const names = steps.map((st) => st.step);
  // Steps still to come (not recorded yet) are shown greyed while it runs.
  if (!FINAL.includes(d.status)) for (const n of PIPELINE) if (!byName.has(n) && !names.includes(n)) names.push(n);
  return h('ol', { class: 'timeline', id: 'steps' }, names.map((n) => {
    const st = byName.get(n);
    const status = st ? st.status : 'pending';
    return h('li', { class: 'step st-' + String(status).toLowerCase() },
      h('span', { class: 'step-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'step-name' }, n), badge(status),
      h('span', { class: 'muted small' }, st && st.duration_ms != null ? duration(st.duration_ms) : st && st.started_at && !st.finished_at ? 'running…' : ''),
      st && st.detail ? h('div', { class: 'step-detail small' }, st.detail) : null);
  }));
}

export async function deploymentPage(view, { org, navigate }, id) {
  const base = '/orgs/' + enc(org) + '/deployments/' + enc(id);
  let d = await get(base);
  const ctl = new AbortController();
  let stopped = false, timer = null;
  const head = h('div');
  const steps = h('div');
  const logBox = h('pre', { class: 'log', id: 'log', tabindex: 0, 'aria-label': 'Deployment log', 'aria-live': 'off' });
  const logState = h('p', { class: 'muted small', id: 'log-state' });
  const msg = h('div', { 'aria-live': 'polite' });

  function drawHead() {
    const actions = h('div', { class: 'row' });
    if (can('deploy:write') && !FINAL.includes(d.status) && !d.cancel_requested) {
      actions.append(h('button', { type: 'button', class: 'danger', id: 'cancel', onclick: async () => {
        if (!await confirmDialog('Cancel deployment #' + d.id + '?', 'A queued deployment is dropped; a running one is stopped and the old container keeps serving.', 'Cancel deployment')) return;
        try { await post(base + '/cancel'); refresh(); } catch (e) { fill(msg, errorBox(e)); }
      } }, 'Cancel'));
    }
    const appLink = d.app ? link('/o/' + enc(org) + '/apps/' + enc(d.app), d.app) : '#' + d.app_id;
    fill(head, 
      h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/apps', 'Applications'), ' / ', appLink, ' / deployment #' + d.id),
      h('div', { class: 'page-head' }, h('h1', {}, 'Deployment #' + d.id), badge(d.status),
        d.current ? h('span', { class: 'badge st-current' }, 'serving now') : null, actions),
      d.summary && d.summary !== d.status ? h('p', { class: 'outcome' + (d.status === 'FAILED' ? ' error' : '') }, d.summary) : null,
      h('p', { class: 'muted small' }, d.kind, d.rollback_of ? ' of #' + d.rollback_of : '', ' · commit: ',
        h('span', { class: 'mono' }, (d.resolved_commit || d.commit || 'branch head').slice(0, 12)),
        d.image ? [' · image ', h('span', { class: 'mono' }, d.image)] : null,
        ' · created ', whenEl(d.created_at), d.finished_at ? [' · finished ', whenEl(d.finished_at)] : null,
        d.rolled_back_to ? [' · rolled back to ', link('/o/' + enc(org) + '/deployments/' + d.rolled_back_to, '#' + d.rolled_back_to)] : null),
      msg);
    fill(steps, timeline(d));
  }

  async function refresh() {
    try { d = await get(base); if (!stopped) drawHead(); } catch (e) { fill(msg, errorBox(e)); }
  }
  // One reload for a burst of events (steps come close together).
  const soon = () => { if (!timer && !stopped) timer = setTimeout(() => { timer = null; refresh(); }, 150); };
  const offs = [on('deployment', (e) => { if (String(e.id) === String(d.id)) soon(); }),
    on('resync', soon)];

  // The deploy log interleaves the runner's step reports (one JSON object
  // a line: {"step","status","detail"}) with the commands' own output;
  // reports are drawn as step markers, output as text with its colours.
  let seen = -1;
  const sink = logSink(logBox);
  const carry = { stdout: '', stderr: '' };
  const line = (text, stream) => {
    // a failed container's last lines (docs/deploy.md, "Container output")
    if (text.startsWith('{"stream"') && text.includes('"container_line"')) {
      try {
        const cl = JSON.parse(text);
        if (typeof cl.container_line === 'string') {
          const span = h('span', { class: cl.stream === 'stderr' ? 'err' : null });
          span.appendChild(ansi('  | ' + cl.container_line + '\n'));
          return span;
        }
      } catch (_) { /* plain output after all */ }
    }
    if (text.startsWith('{"step"')) {
      try {
        const st = JSON.parse(text);
        return h('span', { class: 'log-step st-' + String(st.status || '').toLowerCase() },
          '▸ ' + st.step + ' ' + (st.status || '') + (st.detail ? ' — ' + st.detail : '') + '\n');
      } catch (_) { /* plain output after all */ }
    }
    const span = h('span', { class: stream === 'stderr' ? 'err' : null });
    span.appendChild(ansi(text + '\n'));
    return span;
  };
  const add = (c) => {
    if (typeof c.seq === 'number') { if (c.seq <= seen) return; seen = c.seq; }
    const stream = c.stream === 'stderr' ? 'stderr' : 'stdout';
    const parts = (carry[stream] + (c.data || '')).split('\n');
    carry[stream] = parts.pop();
    for (const p of parts) sink.push(line(p, stream));
  };
  const flush = () => {
    for (const st of ['stdout', 'stderr']) if (carry[st]) { sink.push(line(carry[st], st)); carry[st] = ''; }
    sink.flush();
  };

  async function follow() {
    while (!stopped) {
      if (!d.job_id) { // queued: its log starts when the runner takes it
        if (d.status === 'CANCELLED') { logState.textContent = 'cancelled before it started.'; return; }
        if (FINAL.includes(d.status)) { logState.textContent = 'no output.'; return; }
        logState.textContent = 'queued: the log starts when the runner takes it.';
        await next('deployment', (e) => String(e.id) === String(d.id), 15000);
        try { d = await get(base); if (!stopped) drawHead(); } catch (_) { /* next round */ }
        continue;
      }
      try {
        logState.textContent = FINAL.includes(d.status) ? '' : 'following the log…';
        await followJobLog(base + '/logs', { job: d.job_id, deployment: d.id }, add, ctl.signal);
        flush();
        logState.textContent = logBox.childNodes.length ? '' : 'no output.';
        refresh();
        return;
      } catch (e) {
        if (stopped || e.name === 'AbortError') return;
        logState.textContent = '';
        fill(msg, errorBox(e));
        return;
      }
    }
  }

  drawHead();
  fill(view, head, h('section', {}, h('h2', {}, 'Steps'), steps),
    h('section', {}, h('h2', {}, 'Log'), logState, logBox));
  follow();
  return () => { stopped = true; clearTimeout(timer); for (const off of offs) off(); ctl.abort(); sink.clear(); };
}
