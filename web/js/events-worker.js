// events-worker.js - a SharedWorker: one EventSource per organization for
// every tab of this browser (GET /api/v1/orgs/{org}/events, the session
// cookie's), so ten open tabs hold one connection, not ten (a browser
// keeps at most six HTTP/1.1 connections to berthd). Tabs send
// {sub: org} and {unsub: org}; each event goes to the tabs of its
// organization as {org, type, data}. A stream nobody listens to any more
// is closed a few seconds later.
//
// Logs (docs/dashboard.md "Live updates"): a tab that read a job's log up
// to seq `after` sends {logs: {job, deployment, after}, csrf}; the worker
// subscribes the stream to that log once (POST .../events/{stream}/logs)
// however many tabs follow it, sends its `log` events only to those tabs,
// each seq once, and keeps the last LOG_RING of them so a tab that comes
// later is given what it lacks without another subscription. After a
// reconnect (a new stream) it subscribes again from the last seq it had.
// {unlogs: {job}, csrf} lets go. {want: [types]} says which events a tab
// listens to (the others are not sent to it).
'use strict';

const TYPES = ['hello', 'server', 'server.metrics', 'job', 'deployment', 'audit', 'reconnect'];
const LOG_RING = 2000;
const streams = new Map(); // org -> { es, ports: Set, idle: timer, id, csrf, logs: Map job -> entry }
// The types each tab listens to ({want: [...]}): with a big fleet the
// server.metrics events come a thousand a second, and a tab that does not
// draw them should not be woken for each. A tab that never said gets all.
const wants = new WeakMap(); // port -> Set of types
const wanted = (p, type) => type === 'hello' || !wants.has(p) || wants.get(p).has(type);

async function subscribe(org, s, job, e, after, follow) {
  if (!s.id) return; // the hello subscribes it
  const body = follow === false ? { job, follow: false } : e.deployment ? { deployment: e.deployment, after } : { job, after };
  let r = null, j = null;
  try {
    r = await fetch('/api/v1/orgs/' + encodeURIComponent(org) + '/events/' + s.id + '/logs', {
      method: 'POST', credentials: 'same-origin', cache: 'no-store', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': s.csrf || '' },
    });
    if (r.ok || follow === false) return;
    j = await r.json();
  } catch (_) { if (!r) return; /* offline: the next hello subscribes again */ }
  const err = (j && j.error) || {};
  // the stream ended meanwhile: its successor's hello subscribes again
  if (r.status === 404 && /event stream/.test(err.message || '')) return;
  if (s.logs.get(job) !== e) return;
  s.logs.delete(job);
  for (const p of e.ports) p.postMessage({ org, type: 'log.error', data: { job, status: r.status, code: err.code || 'http_' + r.status, message: err.message || '' } });
}

function onLog(org, s, type, data) {
  const e = s.logs.get(data.job);
  if (!e) return;
  if (type === 'log') {
    if (data.seq <= e.last) return;
    e.last = data.seq;
    e.ring.push(data);
    if (e.ring.length > LOG_RING) e.ring.splice(0, e.ring.length - LOG_RING);
  } else {
    s.logs.delete(data.job);
  }
  for (const p of e.ports) p.postMessage({ org, type, data });
}

function open(org) {
  let s = streams.get(org);
  if (s) { clearTimeout(s.idle); s.idle = null; return s; }
  s = { es: new EventSource('/api/v1/orgs/' + encodeURIComponent(org) + '/events'), ports: new Set(), idle: null,
    id: null, csrf: '', logs: new Map() };
  for (const type of TYPES) {
    s.es.addEventListener(type, (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch (_) { return; }
      if (type === 'hello') {
        s.id = data.stream;
        for (const [job, e] of s.logs) subscribe(org, s, job, e, e.last);
      }
      for (const p of s.ports) if (wanted(p, type)) p.postMessage({ org, type, data });
    });
  }
  for (const type of ['log', 'log.end']) {
    s.es.addEventListener(type, (ev) => {
      try { onLog(org, s, type, JSON.parse(ev.data)); } catch (_) { /* not ours */ }
    });
  }
  s.es.onerror = () => {
    // EventSource reconnects by itself; CLOSED means it gave up (signed
    // out, or the organization is gone): the tabs are told.
    if (s.es.readyState === EventSource.CLOSED)
      for (const p of s.ports) p.postMessage({ org, type: 'closed', data: null });
  };
  streams.set(org, s);
  return s;
}

function logsFollow(org, port, m) {
  const s = streams.get(org);
  if (!s || !s.ports.has(port) || typeof m.job !== 'number') return;
  const after = typeof m.after === 'number' && m.after >= 0 ? m.after : 0;
  let e = s.logs.get(m.job);
  if (!e) {
    e = { deployment: m.deployment || null, ports: new Set([port]), last: after, ring: [] };
    s.logs.set(m.job, e);
    subscribe(org, s, m.job, e, after);
    return;
  }
  e.ports.add(port);
  if (after >= e.last) return; // the tab drops what it has
  if (e.ring.length && e.ring[0].seq <= after + 1) {
    for (const d of e.ring) if (d.seq > after) port.postMessage({ org, type: 'log', data: d });
    return;
  }
  e.last = after; // further back than the ring: berthd sends again from there
  e.ring = [];
  subscribe(org, s, m.job, e, after);
}

function logsDrop(org, port, job) {
  const s = streams.get(org);
  if (!s) return;
  for (const [j, e] of s.logs) {
    if (job !== undefined && j !== job) continue;
    e.ports.delete(port);
    if (!e.ports.size) {
      s.logs.delete(j);
      subscribe(org, s, j, e, 0, false);
    }
  }
}

function drop(org, port) {
  const s = streams.get(org);
  if (!s) return;
  logsDrop(org, port);
  s.ports.delete(port);
  if (!s.ports.size && !s.idle) {
    s.idle = setTimeout(() => {
      if (s.ports.size) return;
      s.es.close();
      streams.delete(org);
    }, 5000);
  }
}

self.onconnect = (e) => {
  const port = e.ports[0];
  let mine = null;
  port.onmessage = (m) => {
    const msg = m.data || {};
    if (mine && typeof msg.csrf === 'string') streams.get(mine) && (streams.get(mine).csrf = msg.csrf);
    if (Array.isArray(msg.want)) wants.set(port, new Set(msg.want.map(String)));
    if (typeof msg.sub === 'string') {
      if (mine && mine !== msg.sub) drop(mine, port);
      mine = msg.sub;
      open(mine).ports.add(port);
    } else if (msg.unsub && mine) {
      drop(mine, port);
      mine = null;
    } else if (msg.logs && mine) {
      logsFollow(mine, port, msg.logs);
    } else if (msg.unlogs && mine) {
      logsDrop(mine, port, msg.unlogs.job);
    }
  };
  port.start();
};
