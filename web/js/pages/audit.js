// pages/audit.js - the organization's audit trail, newest first, with the
// API's filters (actor, action or prefix*, since) and cursor paging. New
// entries show as they happen (the event stream's `audit`, events.js): the
// first page is loaded again, unless more pages were loaded below it.
import { get, enc } from '../api.js';
import { h, fill, badge, whenEl, field, errorBox } from '../ui.js';
import { on } from '../events.js';

export async function auditPage(view, { org }) {
  const params = new URLSearchParams(location.search);
  const actor = h('input', { type: 'text', name: 'actor', value: params.get('actor') || '', placeholder: 'email or id' });
  const action = h('input', { type: 'text', name: 'action', value: params.get('action') || '', placeholder: 'member.* or deployment.create' });
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  const msg = h('div', { 'aria-live': 'polite' });
  let cursor = null, pages = 0, timer = null;
  async function load(reset) {
    const q = new URLSearchParams({ limit: '50' });
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (action.value.trim()) q.set('action', action.value.trim());
    if (!reset && cursor) q.set('cursor', cursor);
    try {
      const r = await get('/orgs/' + enc(org) + '/audit?' + q);
      if (reset) fill(body);
      for (const e of r.items || []) {
        body.appendChild(h('tr', {}, h('td', {}, whenEl(e.at)), h('td', {}, e.actor ? e.actor.email : '—'),
          h('td', { class: 'mono' }, e.action), h('td', { class: 'mono small' }, e.target || ''),
          h('td', {}, badge(e.outcome), ' ', String(e.status || '')), h('td', { class: 'small' }, e.ip || ''),
          h('td', { class: 'mono small detail' }, e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : '')));
      }
      cursor = r.next_cursor;
      pages = reset ? 1 : pages + 1;
      more.hidden = !cursor;
      fill(msg);
    } catch (e) { fill(msg, errorBox(e)); }
  }
  const form = h('form', { class: 'inline', id: 'audit-filter' }, field('Actor', actor), field('Action', action), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (action.value.trim()) q.set('action', action.value.trim());
    history.replaceState(null, '', location.pathname + (q.toString() ? '?' + q : ''));
    cursor = null;
    load(true);
  });
  more.addEventListener('click', () => load(false));
  fill(view, h('h1', {}, 'Audit log'), form, msg,
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'audit' },
      h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Target', 'Outcome', 'Address', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))), body)), more);
  await load(true);
  const soon = () => {
    if (pages > 1 || timer) return; // the reader paged down: leave the list be
    timer = setTimeout(() => { timer = null; cursor = null; load(true); }, 300);
  };
  const offs = [on('audit', soon), on('resync', soon)];
  return () => { clearTimeout(timer); for (const off of offs) off(); };
}
