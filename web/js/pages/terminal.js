// pages/terminal.js - a shell on a server, or in one of its containers, in
// the browser: xterm (Debian's node-xterm, wrapped at build time and served
// from /static/vendor/) over berthd's terminal WebSocket
// (docs/terminal.md: subprotocol berth-terminal.v1, binary frames are the
// terminal's bytes, text frames say resize/opened/exit). The session
// cookie authenticates it; berthd checks the Origin. ?container=C or
// ?app=A opens a shell in that container; neither, a host shell.
import { get, enc } from '../api.js';
import { h, fill, link } from '../ui.js';

let loading = null;
function loadXterm() {
  if (self.BerthXterm) return Promise.resolve(self.BerthXterm);
  if (loading) return loading;
  loading = new Promise((resolve, reject) => {
    document.head.appendChild(h('link', { rel: 'stylesheet', href: '/static/vendor/xterm.css' }));
    const sc = h('script', { src: '/static/vendor/xterm.js' });
    sc.onload = () => self.BerthXterm ? resolve(self.BerthXterm) : reject(new Error('xterm did not load'));
    sc.onerror = () => { loading = null; reject(new Error('this berthd was built without the terminal (Debian package node-xterm)')); };
    document.head.appendChild(sc);
  });
  return loading;
}

export async function terminalPage(view, { org }, id) {
  const params = new URLSearchParams(location.search);
  const container = params.get('container') || '';
  const app = params.get('app') || '';
  const sv = await get('/orgs/' + enc(org) + '/servers/' + enc(id));
  const where = container ? 'container ' + container : app ? 'app ' + app : 'host';
  const state = h('p', { class: 'muted small', id: 'term-state', 'aria-live': 'polite' }, 'connecting…');
  const box = h('div', { class: 'terminal', id: 'terminal' });
  fill(view,
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/servers', 'Servers'), ' / ',
      link('/o/' + enc(org) + '/servers/' + enc(sv.id), sv.name), ' / terminal'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Terminal: ' + sv.name + ' (' + where + ')')),
    state, box);
  const X = await loadXterm();
  const Terminal = X.Terminal.Terminal || X.Terminal; // the module's exports, or the class
  if (X.fit && !Terminal.prototype.fit) Terminal.applyAddon(X.fit);
  const term = new Terminal({ cursorBlink: true, screenReaderMode: true, scrollback: 5000,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', fontSize: 14 });
  term.open(box);
  term.fit();
  box.dataset.size = term.rows + ' ' + term.cols; // what the PTY is told (tests read it)
  term.focus();
  const q = new URLSearchParams({ cols: String(term.cols), rows: String(term.rows) });
  if (container) q.set('container', container);
  if (app) q.set('app', app);
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
    '/api/v1/orgs/' + enc(org) + '/servers/' + enc(sv.id) + '/terminal?' + q;
  const ws = new WebSocket(url, 'berth-terminal.v1');
  ws.binaryType = 'arraybuffer';
  const dec = new TextDecoder();
  const encd = new TextEncoder();
  let ended = false;
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      let m = null;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (m.type === 'opened') state.textContent = 'connected: ' + where + ' on ' + sv.name;
      else if (m.type === 'exit') {
        ended = true;
        state.textContent = 'ended' + (m.exit_code >= 0 ? ' with exit code ' + m.exit_code : '') +
          (m.reason ? ': ' + m.reason : '');
      }
      return;
    }
    term.write(dec.decode(new Uint8Array(ev.data), { stream: true }));
  };
  ws.onclose = (ev) => {
    if (!ended) state.textContent = ev.code === 1000 ? 'closed' : 'disconnected (' + (ev.reason || 'code ' + ev.code) + ')';
  };
  ws.onerror = () => { if (!ended) state.textContent = 'could not connect (no permission, or the server is not reachable)'; };
  term.on('data', (d) => { if (ws.readyState === WebSocket.OPEN) ws.send(encd.encode(d)); });
  term.on('resize', ({ cols, rows }) => {
    box.dataset.size = rows + ' ' + cols;
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
  });
  const onResize = () => term.fit();
  addEventListener('resize', onResize);
  return () => {
    removeEventListener('resize', onResize);
    try { ws.close(1000); } catch (_) { /* gone */ }
    term.dispose();
  };
}
