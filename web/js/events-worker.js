// events-worker.js - a SharedWorker: one EventSource per organization for
// every tab of this browser (GET /api/v1/orgs/{org}/events, the session
// cookie's), so ten open tabs hold one connection, not ten (a browser
// keeps at most six HTTP/1.1 connections to berthd). Tabs send
// {sub: org} and {unsub: org}; each event goes to the tabs of its
// organization as {org, type, data}. A stream nobody listens to any more
// is closed a few seconds later.
'use strict';

const TYPES = ['hello', 'server', 'server.metrics', 'job', 'deployment', 'audit', 'reconnect'];
const streams = new Map(); // org -> { es, ports: Set, idle: timer }

function open(org) {
  let s = streams.get(org);
  if (s) { clearTimeout(s.idle); s.idle = null; return s; }
  s = { es: new EventSource('/api/v1/orgs/' + encodeURIComponent(org) + '/events'), ports: new Set(), idle: null };
  for (const type of TYPES) {
    s.es.addEventListener(type, (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch (_) { return; }
      for (const p of s.ports) p.postMessage({ org, type, data });
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

function drop(org, port) {
  const s = streams.get(org);
  if (!s) return;
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
    if (typeof msg.sub === 'string') {
      if (mine && mine !== msg.sub) drop(mine, port);
      mine = msg.sub;
      open(mine).ports.add(port);
    } else if (msg.unsub && mine) {
      drop(mine, port);
      mine = null;
    }
  };
  port.start();
};
