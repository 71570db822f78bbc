// events.js - the tab's live events (berthd's GET /orgs/{org}/events,
// docs/dashboard.md "Live updates"): pages say what they listen to with
// on(type, fn) and get an off function for their cleanup. The stream is
// shared by every tab of the browser through a SharedWorker
// (events-worker.js); where there is none, the tab opens its own
// EventSource. After a reconnect ('hello' again) listeners of 'resync'
// are called: they reload what they show, since events may have been
// missed meanwhile.
//
// followJobLog reads a job's log (NDJSON) and then follows it on the same
// stream from the last seq read (berthd's POST .../events/{stream}/logs):
// no second connection per tab, one subscription for all the tabs.
import { csrfToken, readLog, followLog } from './api.js';

const TYPES = ['hello', 'server', 'server.metrics', 'job', 'deployment', 'audit', 'reconnect', 'log', 'log.end'];
const listeners = new Map(); // type -> Set of fn
let org = null, port = null, es = null, hellos = 0, streamId = null;
const ownLogs = new Map(); // without a worker: job -> {deployment, last}

// Without a worker the tab subscribes its own stream (and again after a
// reconnect, from the last seq it has).
async function ownSubscribe(job, body) {
  if (!streamId) return;
  try {
    const r = await fetch('/api/v1/orgs/' + encodeURIComponent(org) + '/events/' + streamId + '/logs', {
      method: 'POST', credentials: 'same-origin', cache: 'no-store', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrfToken() },
    });
    if (r.ok || body.follow === false) return;
    const j = await r.json().catch(() => null);
    const err = (j && j.error) || {};
    if (r.status === 404 && /event stream/.test(err.message || '')) return;
    ownLogs.delete(job);
    deliver('log.error', { job, status: r.status, code: err.code || 'http_' + r.status, message: err.message || '' });
  } catch (_) { /* the next hello subscribes again */ }
}
const ownBody = (job, e) => (e.deployment ? { deployment: e.deployment, after: e.last } : { job, after: e.last });

function deliver(type, data) {
  if (type === 'hello') {
    if (!port) {
      streamId = data.stream;
      for (const [job, e] of ownLogs) ownSubscribe(job, ownBody(job, e));
    }
    if (hellos++ > 0) deliver('resync', data);
  }
  if (!port && type === 'log' && ownLogs.has(data.job)) ownLogs.get(data.job).last = Math.max(ownLogs.get(data.job).last, data.seq);
  if (!port && type === 'log.end') ownLogs.delete(data.job);
  for (const fn of listeners.get(type) || []) {
    try { fn(data); } catch (e) { console.error(e); }
  }
}

function connect() {
  if (typeof SharedWorker === 'function') {
    try {
      if (!port) {
        const w = new SharedWorker('/static/js/events-worker.js', { name: 'berth-events' });
        port = w.port;
        port.onmessage = (m) => { if (m.data && m.data.org === org) deliver(m.data.type, m.data.data); };
        port.start();
        addEventListener('pagehide', () => port.postMessage({ unsub: true }));
      }
      port.postMessage({ sub: org });
      sayWants();
      return;
    } catch (_) { port = null; /* below: one stream for this tab */ }
  }
  es = new EventSource('/api/v1/orgs/' + encodeURIComponent(org) + '/events');
  for (const type of TYPES) {
    es.addEventListener(type, (ev) => {
      try { deliver(type, JSON.parse(ev.data)); } catch (_) { /* not ours */ }
    });
  }
}

// The organization whose events this tab follows (null: none).
export function follow(name) {
  if (name === org) return;
  if (es) { es.close(); es = null; }
  if (port && !name) port.postMessage({ unsub: true });
  org = name;
  hellos = 0;
  streamId = null;
  ownLogs.clear();
  if (org) connect();
}

// The worker sends this tab only the types it listens to.
let wantsTimer = 0;
function sayWants() {
  if (!port || wantsTimer) return;
  wantsTimer = setTimeout(() => {
    wantsTimer = 0;
    if (port) port.postMessage({ want: [...listeners].filter(([, fns]) => fns.size).map(([t]) => t) });
  }, 0);
}

export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  sayWants();
  return () => { listeners.get(type).delete(fn); sayWants(); };
}

// Resolves with the first event of type that pred accepts, or null after ms.
export function next(type, pred, ms) {
  return new Promise((resolve) => {
    let off = null;
    const t = setTimeout(() => { off(); resolve(null); }, ms);
    off = on(type, (d) => { if (!pred || pred(d)) { clearTimeout(t); off(); resolve(d); } });
  });
}

// Reads the log at path (GET, NDJSON: {seq, stream, ts, data}) and then
// follows it on the event stream from the last seq read; onChunk gets each
// chunk once, in order. sel names the log for berthd: {job, deployment}
// (deployment: read with deploy:read). Resolves when the job ended and
// everything was given; rejects with the API's error. signal stops it.
export function followJobLog(path, sel, onChunk, signal) {
  const job = sel.job;
  let last = 0;
  const take = (c) => {
    if (typeof c.seq === 'number') { if (c.seq <= last) return; last = c.seq; }
    onChunk(c);
  };
  return new Promise((resolve, reject) => {
    const offs = [];
    const stop = (send) => {
      for (const off of offs) off();
      offs.length = 0;
      if (!send) return;
      if (port) port.postMessage({ unlogs: { job }, csrf: csrfToken() });
      else if (ownLogs.delete(job)) ownSubscribe(job, { job, follow: false });
    };
    signal.addEventListener('abort', () => { stop(true); reject(new DOMException('stopped', 'AbortError')); });
    readLog(path, take, signal).then(() => {
      if (signal.aborted) return;
      offs.push(on('log', (d) => { if (d.job === job) take(d); }));
      offs.push(on('log.end', (d) => { if (d.job === job) { stop(false); resolve(); } }));
      offs.push(on('log.error', (d) => {
        if (d.job !== job) return;
        stop(false);
        const e = new Error(d.message || 'the log cannot be followed');
        e.status = d.status; e.code = d.code;
        reject(e);
      }));
      if (port) {
        port.postMessage({ logs: { job, deployment: sel.deployment || null, after: last }, csrf: csrfToken() });
      } else {
        const e = { deployment: sel.deployment || null, last };
        ownLogs.set(job, e);
        ownSubscribe(job, ownBody(job, e));
      }
    }, (e) => {
      // a log too big to read whole: the API's own follow from its start
      if (e && e.code === 'too_large') followLog(path, take, signal).then(resolve, reject);
      else reject(e);
    });
  });
}
