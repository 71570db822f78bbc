// pages/people.js - members and invitations of an organization, the
// caller's API tokens (scopes picked from a list, the secret shown once)
// and the caller's own pending invitations.
import { get, post, patch, del, enc } from '../api.js';
import { h, fill, badge, whenEl, field, errorBox, confirmDialog, copyable } from '../ui.js';
import { state, can, ALL_SCOPES, loadMe } from '../state.js';

const ROLES = ['admin', 'manager', 'developer', 'viewer'];

export async function membersPage(view, { org, navigate }) {
  const base = '/orgs/' + enc(org) + '/members';
  const list = await get(base);
  const admin = can('user:write');
  const msg = h('div', { 'aria-live': 'polite' });
  const row = (m) => {
    const who = m.user_id != null ? String(m.user_id) : m.email;
    let role = m.role;
    if (admin) {
      role = h('select', { 'aria-label': 'Role of ' + m.email }, ROLES.map((r) => h('option', { value: r, selected: r === m.role ? true : null }, r)));
      role.addEventListener('change', async () => {
        try { await patch(base + '/' + enc(who), { role: role.value }); fill(msg, h('p', { class: 'ok' }, m.email + ' is now ' + role.value + '.')); }
        catch (e) { role.value = m.role; fill(msg, errorBox(e)); }
      });
    }
    return h('tr', {}, h('td', {}, m.email, m.user_id === state.me.user.id ? h('span', { class: 'muted' }, ' (you)') : null),
      h('td', {}, role), h('td', {}, badge(m.status)), h('td', {}, whenEl(m.joined_at)),
      h('td', {}, admin ? h('button', { type: 'button', class: 'secondary small', onclick: async () => {
        const what = m.status === 'invited' ? 'Withdraw the invitation of ' + m.email + '?' : 'Remove ' + m.email + ' from ' + org + '?';
        if (!await confirmDialog(what, 'Their access ends at once, for every token they hold here.', m.status === 'invited' ? 'Withdraw' : 'Remove')) return;
        try { await del(base + '/' + enc(who)); navigate(location.pathname, true); } catch (e) { fill(msg, errorBox(e)); }
      } }, m.status === 'invited' ? 'Withdraw' : 'Remove') : null));
  };
  const tbody = h('tbody', {}, (list.items || []).map(row));
  const parts = [h('div', { class: 'page-head' }, h('h1', {}, 'Members of ' + org)), msg,
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'members' },
      h('thead', {}, h('tr', {}, ['Email', 'Role', 'Status', 'Joined', ''].map((t) => h('th', { scope: 'col' }, t)))), tbody))];
  if (admin) {
    const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
    const role = h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'developer' ? true : null }, r)));
    const out = h('div', { 'aria-live': 'polite' });
    const f = h('form', { class: 'card', id: 'invite-form' }, h('h2', {}, 'Invite someone'), h('div', { class: 'inline' }, field('Email', email), field('Role', role), h('button', { type: 'submit' }, 'Invite')), out);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const r = await post(base, { email: email.value.trim(), role: role.value });
        fill(out, h('p', {}, 'Invitation for ' + r.email + ' (' + r.role + '). Hand this token to them; it is shown once and expires ', whenEl(r.invite_expires_at), ':'),
          copyable(r.invite_token, 'Invitation token'),
          h('p', { class: 'muted small' }, 'Someone new sets a password with it at /accept-invite; someone with an account signs in and accepts under Invitations.'));
        email.value = '';
        const fresh = await get(base);
        fill(tbody, ...(fresh.items || []).map(row));
      } catch (e) { fill(out, errorBox(e)); }
    });
    parts.push(f);
  }
  fill(view, ...parts);
}

export async function tokensPage(view, { navigate }) {
  const list = await get('/tokens');
  const msg = h('div', { 'aria-live': 'polite' });
  const orgs = state.me.orgs || [];
  // What the caller may grant: every scope of a role they hold.
  const held = new Set(orgs.flatMap((o) => o.scopes || []));
  const rows = (list.items || []).map((t) => h('tr', {},
    h('td', {}, t.name), h('td', { class: 'mono' }, t.prefix + '…'),
    h('td', { class: 'small' }, (t.scopes || []).join(' ')),
    h('td', {}, t.org ? (t.org.name || t.org) : 'any'), h('td', {}, whenEl(t.created_at)), h('td', {}, whenEl(t.expires_at)),
    h('td', {}, h('button', { type: 'button', class: 'secondary small', onclick: async () => {
      if (!await confirmDialog('Revoke ' + t.name + '?', 'It stops working at once, with every token made from it.', 'Revoke')) return;
      try { await del('/tokens/' + t.id); navigate(location.pathname, true); } catch (e) { fill(msg, errorBox(e)); }
    } }, 'Revoke'))));
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', placeholder: 'ci' });
  const org = h('select', { name: 'org' }, h('option', { value: '' }, 'any of mine'), orgs.map((o) => h('option', { value: o.name }, o.name)));
  const days = h('input', { type: 'number', name: 'days', min: 1, max: 366, value: 30 });
  const boxes = ALL_SCOPES.map((sc) => h('label', { class: 'check' + (held.has(sc) ? '' : ' muted') },
    h('input', { type: 'checkbox', name: 'scope', value: sc, disabled: held.has(sc) ? null : true, checked: ['server:read', 'app:read', 'deploy:read'].includes(sc) && held.has(sc) ? true : null }), ' ' + sc));
  const out = h('div', { 'aria-live': 'polite' });
  const f = h('form', { class: 'card', id: 'token-form' }, h('h2', {}, 'New API token'),
    h('div', { class: 'inline' }, field('Name', name), field('Organization', org), field('Expires in (days)', days)),
    h('fieldset', { class: 'scopes' }, h('legend', {}, 'Scopes'), boxes),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Create token')), out);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const scopes = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    const body = { name: name.value.trim(), scopes, expires_in: Math.round(Number(days.value) * 86400) };
    if (org.value) body.org = org.value;
    try {
      const r = await post('/tokens', body);
      fill(out, h('div', { class: 'secret', id: 'token-secret' }, h('p', {}, h('strong', {}, 'Copy it now: '), 'this secret is shown once and berth keeps only its hash.'),
        copyable(r.token, 'API token'),
        h('p', { class: 'muted small' }, 'Use it as Authorization: Bearer …, or BERTH_TOKEN for the CLI.'),
        h('button', { type: 'button', class: 'secondary', onclick: () => navigate(location.pathname, true) }, 'Done')));
    } catch (e) { fill(out, errorBox(e)); }
  });
  fill(view, h('div', { class: 'page-head' }, h('h1', {}, 'API tokens')), msg,
    (list.items || []).length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'tokens' },
      h('thead', {}, h('tr', {}, ['Name', 'Token', 'Scopes', 'Organization', 'Created', 'Expires', ''].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)))
      : h('p', { class: 'muted' }, 'No API tokens.'),
    can('token:write') || held.has('token:write') ? f : null);
}

export async function invitesPage(view, { navigate }) {
  const list = await get('/invites');
  const msg = h('div', { 'aria-live': 'polite' });
  const items = list.items || [];
  fill(view, h('h1', {}, 'Your invitations'), msg,
    items.length ? h('table', { class: 'list' }, h('tbody', {}, items.map((i) => h('tr', {},
      h('td', {}, i.org.name), h('td', {}, i.role), h('td', {}, 'expires ', whenEl(i.expires_at)),
      h('td', { class: 'row' }, h('button', { type: 'button', onclick: async () => {
        try { await post('/invites/' + i.id + '/accept'); await loadMe(); navigate('/o/' + enc(i.org.name) + '/servers'); }
        catch (e) { fill(msg, errorBox(e)); }
      } }, 'Accept'), h('button', { type: 'button', class: 'secondary', onclick: async () => {
        try { await del('/invites/' + i.id); navigate(location.pathname, true); } catch (e) { fill(msg, errorBox(e)); }
      } }, 'Decline'))))))
      : h('p', { class: 'muted' }, 'No pending invitations.'));
}
