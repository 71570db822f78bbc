// main.js - the dashboard's shell: the History API router (every view is a
// bookmarkable URL that berthd answers with this same page), the header
// with the organization switcher, and sign-in/sign-out.
import { post, setUnauthorizedHandler } from './api.js';
import { h, fill } from './ui.js';
import { state, loadMe, setOrg, can } from './state.js';
import { loginPage, acceptInvitePage } from './pages/login.js';
import { serversPage, serverPage } from './pages/servers.js';
import { appsPage, appPage, appFormPage } from './pages/apps.js';
import { appLogsPage } from './pages/applogs.js';
import { deploymentPage } from './pages/deploys.js';
import { membersPage, tokensPage, invitesPage } from './pages/people.js';
import { auditPage } from './pages/audit.js';
import { terminalPage } from './pages/terminal.js';
import { scriptsPage, scriptPage, jobPage } from './pages/scripts.js';
import { reposPage, repoPage } from './pages/repos.js';
import { schedulesPage, schedulePage } from './pages/schedules.js';
import { containersPage } from './pages/containers.js';
import { follow } from './events.js';

const main = document.getElementById('main');
let current = null; // the view's cleanup (a log stream to stop)
// Each render() takes a number; a page whose render was overtaken by a
// later one (a click or Back while it still awaited its data) is cleaned
// up as soon as it returns, so it leaves no timer or log stream behind
// (a leaked follow holds one of the browser's 6 connections to berthd).
let renders = 0;

const routes = [
  [/^\/login$/, () => loginPage, false],
  [/^\/accept-invite$/, () => acceptInvitePage, false],
  [/^\/tokens$/, () => tokensPage, true],
  [/^\/invites$/, () => invitesPage, true],
  [/^\/o\/([^/]+)\/servers$/, () => serversPage, true],
  [/^\/o\/([^/]+)\/servers\/([^/]+)$/, () => serverPage, true],
  [/^\/o\/([^/]+)\/servers\/([^/]+)\/terminal$/, () => terminalPage, true],
  [/^\/o\/([^/]+)\/servers\/([^/]+)\/containers$/, () => containersPage, true],
  [/^\/o\/([^/]+)\/apps$/, () => appsPage, true],
  [/^\/o\/([^/]+)\/apps\/new$/, () => appFormPage, true],
  [/^\/o\/([^/]+)\/apps\/([^/]+)$/, () => appPage, true],
  [/^\/o\/([^/]+)\/apps\/([^/]+)\/edit$/, () => appFormPage, true],
  [/^\/o\/([^/]+)\/apps\/([^/]+)\/logs$/, () => appLogsPage, true],
  [/^\/o\/([^/]+)\/deployments\/([^/]+)$/, () => deploymentPage, true],
  [/^\/o\/([^/]+)\/repos$/, () => reposPage, true],
  [/^\/o\/([^/]+)\/repos\/([^/]+)$/, () => repoPage, true],
  [/^\/o\/([^/]+)\/scripts$/, () => scriptsPage, true],
  [/^\/o\/([^/]+)\/scripts\/new$/, () => scriptPage, true],
  [/^\/o\/([^/]+)\/scripts\/([^/]+)$/, () => scriptPage, true],
  [/^\/o\/([^/]+)\/jobs\/([^/]+)$/, () => jobPage, true],
  [/^\/o\/([^/]+)\/schedules$/, () => schedulesPage, true],
  [/^\/o\/([^/]+)\/schedules\/([^/]+)$/, () => schedulePage, true],
  [/^\/o\/([^/]+)\/members$/, () => membersPage, true],
  [/^\/o\/([^/]+)\/audit$/, () => auditPage, true],
];

export function navigate(path, replace) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function orgHome() {
  const orgs = (state.me && state.me.orgs) || [];
  const pick = state.org || orgs[0];
  return pick ? '/o/' + encodeURIComponent(pick.name) + '/servers' : '/tokens';
}

function drawHeader(orgName, path) {
  const top = document.getElementById('top');
  top.hidden = false;
  document.getElementById('who').textContent = state.me.user.email;
  const sel = document.getElementById('org');
  fill(sel, ...state.me.orgs.map((o) =>
    h('option', { value: o.name, selected: o.name === orgName ? true : null }, o.name + ' (' + o.role + ')')));
  if (!orgName) sel.prepend(h('option', { value: '', selected: true }, '—'));
  sel.onchange = () => {
    const section = (path.match(/^\/o\/[^/]+\/([a-z]+)/) || [])[1] || 'servers';
    const keep = ['servers', 'apps', 'repos', 'scripts', 'schedules', 'members', 'audit'].includes(section) ? section : 'servers';
    navigate('/o/' + encodeURIComponent(sel.value) + '/' + keep);
  };
  const nav = document.getElementById('nav');
  const items = [];
  if (orgName) {
    const base = '/o/' + encodeURIComponent(orgName);
    if (can('server:read')) items.push(['Servers', base + '/servers']);
    if (can('app:read')) items.push(['Applications', base + '/apps']);
    if (can('app:read')) items.push(['Repositories', base + '/repos']);
    if (can('server:read')) items.push(['Scripts', base + '/scripts']);
    if (can('schedule:read')) items.push(['Schedules', base + '/schedules']);
    items.push(['Members', base + '/members']);
    if (can('audit:read')) items.push(['Audit log', base + '/audit']);
  }
  items.push(['API tokens', '/tokens']);
  items.push(['Invitations', '/invites']);
  fill(nav, ...items.map(([label, href]) => {
    const active = path === href || path.startsWith(href + '/') ||
      (href.endsWith('/apps') && path.includes('/deployments/')) ||
      (href.endsWith('/scripts') && path.includes('/jobs/'));
    return h('a', { href, 'data-link': true, 'aria-current': active ? 'page' : null }, label);
  }));
}

async function render() {
  const mine = ++renders;
  if (current) { try { current(); } catch (_) { /* already gone */ } current = null; }
  const path = location.pathname.replace(/\/+$/, '') || '/';
  let match = null, page = null, needsAuth = true;
  for (const [re, pg, auth] of routes) {
    const m = path.match(re);
    if (m) { match = m.slice(1).map(decodeURIComponent); page = pg(); needsAuth = auth; break; }
  }
  if (needsAuth || path === '/') {
    if (!state.me) {
      try { await loadMe(); } catch (e) {
        if (mine !== renders) return;
        if (e.status === 401) { navigate('/login?next=' + encodeURIComponent(location.pathname), true); return; }
        fill(main, h('p', { class: 'error' }, 'berthd is not answering: ' + e.message));
        return;
      }
    }
  }
  if (mine !== renders) return;
  if (path === '/') { navigate(orgHome(), true); return; }
  if (!page) {
    fill(main, h('h1', {}, 'Not found'), h('p', {}, 'No page at ' + path + '. '),
      h('a', { href: '/', 'data-link': true }, 'Back to the dashboard'));
    return;
  }
  let orgName = null;
  if (path.startsWith('/o/')) {
    orgName = match[0];
    if (!setOrg(orgName)) {
      fill(main, h('h1', {}, 'Not found'), h('p', {}, 'You are not a member of ' + orgName + '.'));
      if (state.me) drawHeader(null, path);
      return;
    }
  }
  // Pages of the caller (tokens, invitations) keep the organization last
  // open in the switcher and the navigation.
  if (!orgName && state.me && (state.org || state.me.orgs[0])) setOrg((state.org || state.me.orgs[0]).name);
  if (state.me && needsAuth) drawHeader(orgName || (state.org && state.org.name), path);
  else document.getElementById('top').hidden = true;
  // The live events of the organization shown (events.js): one stream.
  follow(state.me && needsAuth && state.org ? state.org.name : null);
  const view = h('div', { class: 'view' });
  fill(main, view);
  try {
    const cleanup = await page(view, { org: orgName, navigate }, ...(orgName ? match.slice(1) : match));
    if (mine !== renders) {
      if (typeof cleanup === 'function') { try { cleanup(); } catch (_) { /* already gone */ } }
      return;
    }
    if (typeof cleanup === 'function') current = cleanup;
  } catch (e) {
    if (e.status === 401 || mine !== renders) return;
    fill(view, h('h1', {}, e.status === 404 ? 'Not found' : 'Something failed'),
      h('p', { class: 'error', role: 'alert' }, e.message));
  }
  const h1 = view.querySelector('h1');
  document.title = (h1 ? h1.textContent + ' · ' : '') + 'berth';
}

export async function signedIn() {
  state.me = null;
  await loadMe();
}

setUnauthorizedHandler(() => {
  state.me = null;
  if (location.pathname !== '/login')
    navigate('/login?next=' + encodeURIComponent(location.pathname), true);
});

document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[data-link]');
  if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', render);
document.getElementById('logout').addEventListener('click', async () => {
  try { await post('/auth/logout'); } catch (_) { /* the session may be gone already */ }
  state.me = null; state.org = null;
  follow(null);
  document.getElementById('top').hidden = true;
  navigate('/login', true);
});

render();
