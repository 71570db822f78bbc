// events.js - the tab's live events (berthd's GET /orgs/{org}/events,
// docs/dashboard.md "Live updates"): pages say what they listen to with
// on(type, fn) and get an off function for their cleanup. The stream is
// shared by every tab of the browser through a SharedWorker
// (events-worker.js); where there is none, the tab opens its own
// EventSource. After a reconnect ('hello' again) listeners of 'resync'
// are called: they reload what they show, since events may have been
// missed meanwhile.
const TYPES = ['hello', 'server', 'server.metrics', 'job', 'deployment', 'audit', 'reconnect'];
const listeners = new Map(); // type -> Set of fn
let org = null, port = null, es = null, hellos = 0;

function deliver(type, data) {
  if (type === 'hello') {
    if (hellos++ > 0) deliver('resync', data);
  }
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
  if (org) connect();
}

export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

// Resolves with the first event of type that pred accepts, or null after ms.
export function next(type, pred, ms) {
  return new Promise((resolve) => {
    let off = null;
    const t = setTimeout(() => { off(); resolve(null); }, ms);
    off = on(type, (d) => { if (!pred || pred(d)) { clearTimeout(t); off(); resolve(d); } });
  });
}
