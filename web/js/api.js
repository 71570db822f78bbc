// api.js - every call the dashboard makes: the public API /api/v1, exactly
// as the CLI uses it. The session is the HttpOnly cookie berthd set at
// sign-in (the page never sees it); mutations carry the CSRF token from
// the readable berth_csrf cookie as X-CSRF-Token (docs/dashboard.md).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)berth_csrf=([0-9a-f]+)/);
  return m ? m[1] : '';
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function headers(method, body, accept) {
  const h = { 'Accept': accept || 'application/json' };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') h['X-CSRF-Token'] = csrfToken();
  return h;
}

async function errorOf(r) {
  let j = null;
  try { j = await r.json(); } catch (_) { /* not JSON */ }
  const e = (j && j.error) || {};
  return new ApiError(r.status, e.code || 'http_' + r.status, e.message || r.statusText);
}

export async function api(method, path, body) {
  const r = await fetch('/api/v1' + path, {
    method,
    headers: headers(method, body),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (r.status === 401 && path !== '/auth/login') {
    onUnauthorized();
  }
  if (!r.ok) throw await errorOf(r);
  if (r.status === 204) return null;
  return r.json();
}

export const get = (p) => api('GET', p);
export const post = (p, b) => api('POST', p, b === undefined ? {} : b);
export const patch = (p, b) => api('PATCH', p, b);
export const put = (p, b) => api('PUT', p, b);
export const del = (p) => api('DELETE', p);

// Follows a log (`?follow=1`, NDJSON lines {seq, stream, ts, data}) and
// calls onLine for each; resolves when the stream ends. signal aborts it.
export function followLog(path, onLine, signal) {
  return readNdjson(path + (path.includes('?') ? '&' : '?') + 'follow=1', onLine, signal);
}

// Reads a log as it is now (NDJSON, no follow), onLine for each line.
export function readLog(path, onLine, signal) {
  return readNdjson(path, onLine, signal);
}

// GET path as NDJSON: onLine for each object as it arrives (a line that is
// not JSON as {stream: 'stdout', data: line}); resolves at the end.
export async function readNdjson(path, onLine, signal) {
  const r = await fetch('/api/v1' + path, {
    headers: headers('GET', undefined, 'application/x-ndjson'),
    credentials: 'same-origin', cache: 'no-store', signal,
  });
  if (!r.ok) throw await errorOf(r);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += dec.decode(value, { stream: true });
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (!line.trim()) continue;
      try { onLine(JSON.parse(line)); } catch (_) { onLine({ stream: 'stdout', data: line + '\n' }); }
    }
  }
  if (rest.trim()) {
    try { onLine(JSON.parse(rest)); } catch (_) { onLine({ stream: 'stdout', data: rest }); }
  }
}

export const enc = encodeURIComponent;
