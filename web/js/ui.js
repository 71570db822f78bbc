// ui.js - DOM helpers. Every piece of data goes in as text (textContent,
// attributes), never as HTML: nothing the API returns can become markup.

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, kids);
  return el;
}

// Empties el and puts kids in (null, undefined and false are skipped,
// where replaceChildren would write "null").
export function fill(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else if (k instanceof Node) el.appendChild(k);
    else el.appendChild(document.createTextNode(String(k)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const k of kids) if (k !== null && k !== undefined && k !== false) el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

// A link handled by the router (data-link).
export const link = (href, ...kids) => h('a', { href, 'data-link': true }, ...kids);

export function when(iso) {
  if (!iso) return '—';
  const t = new Date(iso);
  const d = (Date.now() - t.getTime()) / 1000;
  let rel;
  if (d < 0) rel = 'in ' + span(-d);
  else if (d < 5) rel = 'just now';
  else rel = span(d) + ' ago';
  return rel;
}

export function whenEl(iso) {
  return h('time', { datetime: iso || '', title: iso || '' }, when(iso));
}

function span(d) {
  if (d < 60) return Math.round(d) + ' s';
  if (d < 3600) return Math.round(d / 60) + ' min';
  if (d < 86400) return Math.round(d / 3600) + ' h';
  return Math.round(d / 86400) + ' d';
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return ms + ' ms';
  const sec = ms / 1000;
  if (sec < 60) return sec.toFixed(1) + ' s';
  return Math.floor(sec / 60) + ' min ' + Math.round(sec % 60) + ' s';
}

export function badge(status) {
  const st = String(status || 'unknown');
  return h('span', { class: 'badge st-' + st.toLowerCase() }, st);
}

// A horizontal bar for a percentage (SVG: no inline style under the CSP).
export function bar(pct, label) {
  const v = typeof pct === 'number' && isFinite(pct) ? Math.max(0, Math.min(100, pct)) : null;
  const cls = v === null ? 'none' : v >= 90 ? 'hot' : v >= 70 ? 'warm' : 'ok';
  return h('span', { class: 'bar', title: label + ': ' + (v === null ? 'no data' : v.toFixed(0) + '%') },
    s('svg', { viewBox: '0 0 100 8', preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
      s('rect', { class: 'bar-bg', x: 0, y: 0, width: 100, height: 8, rx: 2 }),
      v === null ? null : s('rect', { class: 'bar-' + cls, x: 0, y: 0, width: v, height: 8, rx: 2 })),
    h('span', { class: 'bar-v' }, v === null ? '—' : v.toFixed(0) + '%'));
}

export function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
}

export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-l' }, label), input,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

// A modal confirmation (a <dialog>); resolves true when confirmed. With
// `typed`, the user must type it to confirm.
export function confirmDialog(title, message, action, typed) {
  return new Promise((resolve) => {
    const input = typed ? h('input', { type: 'text', autocomplete: 'off', 'aria-label': 'Type ' + typed + ' to confirm' }) : null;
    const ok = h('button', { type: 'submit', class: 'danger', disabled: typed ? true : null }, action);
    if (input) input.addEventListener('input', () => { ok.disabled = input.value !== typed; });
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title), h('p', {}, message),
      typed ? field('Type "' + typed + '" to confirm', input) : null,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'secondary', onclick: () => { d.close(); } }, 'Cancel'), ok));
    const d = h('dialog', { class: 'confirm' }, form);
    let yes = false;
    form.addEventListener('submit', () => { yes = true; });
    d.addEventListener('close', () => { d.remove(); resolve(yes); });
    document.body.appendChild(d);
    d.showModal();
    (input || ok).focus();
  });
}

// Text copied to the clipboard, with a button.
export function copyable(text, label) {
  const code = h('code', { class: 'copy-text' }, text);
  const btn = h('button', { type: 'button', class: 'secondary small' }, 'Copy');
  btn.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(text); btn.textContent = 'Copied'; }
    catch (_) {
      const r = document.createRange(); r.selectNodeContents(code);
      const sel = getSelection(); sel.removeAllRanges(); sel.addRange(r);
      btn.textContent = 'Selected: press Ctrl+C';
    }
  });
  return h('div', { class: 'copyable', 'aria-label': label || 'Value' }, code, btn);
}

// A log box fed in bursts: nodes are queued and appended once a frame (one
// layout per frame, not per chunk; a hidden tab appends when it is shown),
// and the box stays scrolled to its end if it was there. keep: at most
// this many children (the oldest go).
export function logSink(box, keep) {
  let queue = [], frame = 0;
  const flush = () => {
    frame = 0;
    if (!queue.length) return;
    const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    const f = document.createDocumentFragment();
    for (const n of queue) f.appendChild(n);
    queue = [];
    box.appendChild(f);
    if (keep) while (box.childNodes.length > keep) box.removeChild(box.firstChild);
    if (atEnd) box.scrollTop = box.scrollHeight;
  };
  return {
    push(node) {
      queue.push(node);
      if (!frame) frame = requestAnimationFrame(flush);
    },
    flush() { if (frame) cancelAnimationFrame(frame); flush(); },
    clear() { if (frame) cancelAnimationFrame(frame); frame = 0; queue = []; },
  };
}

// ANSI SGR colours in a log line -> spans with classes (no styles inline).
const ANSI = /\x1b\[([0-9;]*)m/g;
export function ansi(text) {
  const out = document.createDocumentFragment();
  let cls = [], last = 0, m;
  const push = (t) => {
    if (!t) return;
    if (cls.length) out.appendChild(h('span', { class: cls.join(' ') }, t));
    else out.appendChild(document.createTextNode(t));
  };
  ANSI.lastIndex = 0;
  while ((m = ANSI.exec(text))) {
    push(text.slice(last, m.index));
    last = ANSI.lastIndex;
    for (const c of (m[1] || '0').split(';')) {
      const n = Number(c || 0);
      if (n === 0) cls = [];
      else if (n === 1) cls.push('a-b');
      else if ((n >= 30 && n <= 37) || (n >= 90 && n <= 97)) {
        cls = cls.filter((x) => !x.startsWith('a-f')); cls.push('a-f' + (n % 10) + (n >= 90 ? 'b' : ''));
      }
    }
  }
  push(text.slice(last).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''));
  return out;
}
