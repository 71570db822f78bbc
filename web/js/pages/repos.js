// pages/repos.js - git repositories and their push webhooks: the list,
// register one (its webhook secret shown once, with the hook URL to paste
// into the git host), one repository's clone credential state and its
// newest webhook deliveries (what each push did: accepted, ignored,
// rejected, stale, and the deployments it created).
import { get, post, del, enc } from '../api.js';
import { h, fill, link, badge, whenEl, field, errorBox, confirmDialog, copyable } from '../ui.js';
import { can } from '../state.js';

const PROVIDERS = ['github', 'gitea', 'gitlab', 'generic'];

export async function reposPage(view, { org, navigate }) {
  const base = '/orgs/' + enc(org) + '/repos';
  const r = await get(base);
  const items = r.items || [];
  const msg = h('div', { 'aria-live': 'polite' });
  let addBox = null;
  if (can('app:write')) {
    const provider = h('select', { name: 'provider' }, PROVIDERS.map((p) => h('option', { value: p }, p)));
    const url = h('input', { type: 'text', name: 'url', required: true, size: 48, placeholder: 'https://github.com/team/web.git' });
    const form = h('form', { class: 'inline', id: 'repo-form' }, field('Provider', provider), field('Repository URL', url, 'any form git takes; no password in it'),
      h('button', { type: 'submit' }, 'Register'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      fill(msg);
      try {
        const rp = await post(base, { provider: provider.value, url: url.value.trim() });
        // The secret is shown once: the page stays until the user leaves it.
        fill(addBox, h('div', { class: 'secret', id: 'repo-created' },
          h('p', {}, 'Registered. Paste these into the repository\'s webhook settings now; the secret is not shown again.'),
          h('div', { class: 'field' }, h('span', { class: 'field-l' }, 'Payload URL'), copyable(rp.hook_url, 'Webhook URL')),
          h('div', { class: 'field' }, h('span', { class: 'field-l' }, 'Secret'), copyable(rp.webhook_secret, 'Webhook secret')),
          h('p', {}, link('/o/' + enc(org) + '/repos/' + rp.id, 'Open ' + rp.url_normalized))));
      } catch (e) { fill(msg, errorBox(e)); }
    });
    addBox = h('section', {}, h('h2', {}, 'Register a repository'), form);
  }
  fill(view, h('h1', {}, 'Repositories'),
    h('p', { class: 'muted' }, 'A registered repository gets its own signed webhook URL: a push to an app\'s branch deploys it (apps with Deploy on push).'),
    msg,
    items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'repos' },
      h('thead', {}, h('tr', {}, ['Repository', 'Provider', 'Clone credential', 'Registered'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((rp) => h('tr', {},
        h('td', {}, link('/o/' + enc(org) + '/repos/' + rp.id, rp.url_normalized || rp.url)),
        h('td', {}, rp.provider),
        h('td', {}, rp.github_app ? 'GitHub App' : rp.deploy_key ? 'deploy key' : h('span', { class: 'muted' }, 'none (public)')),
        h('td', {}, whenEl(rp.created_at)))))))
      : h('p', { class: 'muted' }, 'No repositories yet.'),
    addBox);
}

export async function repoPage(view, { org, navigate }, id) {
  const base = '/orgs/' + enc(org) + '/repos/' + enc(id);
  const [rp, dl] = await Promise.all([get(base), get(base + '/deliveries?limit=50')]);
  const msg = h('div', { 'aria-live': 'polite' });
  const facts = [
    ['Provider', rp.provider], ['URL', h('span', { class: 'mono' }, rp.url)],
    ['Webhook URL', copyable(rp.hook_url, 'Copy')],
    ['Clone credential', rp.github_app ? 'GitHub App ' + rp.github_app.app_id + ' (installation ' + rp.github_app.installation_id + ')'
      : rp.deploy_key ? 'deploy key (write-only)' : 'none: cloned as a public repository'],
    ['Registered', whenEl(rp.created_at)],
  ];
  const rows = (dl.items || []).map((d) => h('tr', {},
    h('td', {}, whenEl(d.at)), h('td', { class: 'mono small' }, d.event || '—'),
    h('td', {}, badge(d.outcome), ' ', String(d.status || '')),
    h('td', { class: 'small' }, d.reason || ''),
    h('td', { class: 'mono small' }, (d.ref || '').replace(/^refs\/heads\//, ''), d.commit ? ' ' + d.commit.slice(0, 10) : ''),
    h('td', {}, (d.deployments || []).map((x, i) => [i ? ', ' : '', link('/o/' + enc(org) + '/deployments/' + x, '#' + x)]))));
  fill(view,
    h('p', { class: 'crumbs' }, link('/o/' + enc(org) + '/repos', 'Repositories'), ' / ', rp.url_normalized),
    h('div', { class: 'page-head' }, h('h1', {}, rp.url_normalized),
      can('app:write') ? h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!await confirmDialog('Remove ' + rp.url_normalized + '?', 'Its webhook stops deploying and its deliveries and clone credential are deleted. Apps keep their repository URL.', 'Remove')) return;
        try { await del(base); navigate('/o/' + enc(org) + '/repos', true); } catch (e) { fill(msg, errorBox(e)); }
      } }, 'Remove') : null),
    msg,
    h('table', { class: 'kv' }, h('tbody', {}, facts.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))))),
    h('section', {}, h('h2', {}, 'Webhook deliveries'),
      rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'deliveries' },
        h('thead', {}, h('tr', {}, ['When', 'Event', 'Outcome', 'Why', 'Ref / commit', 'Deployments'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)))
        : h('p', { class: 'muted' }, 'No deliveries yet: push to the repository once its webhook is set up.')));
}
