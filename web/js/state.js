// state.js - who is signed in (GET /me) and what they may do in the open
// organization: the role's scopes narrowed by the session's, as the API
// computes them. Hiding what a role cannot do is a courtesy; the API still
// decides every request.
import { get } from './api.js';

export const state = { me: null, org: null };

export async function loadMe() {
  state.me = await get('/me');
  return state.me;
}

export function setOrg(name) {
  const orgs = (state.me && state.me.orgs) || [];
  state.org = orgs.find((o) => o.name === name || String(o.id) === name) || null;
  return state.org;
}

export function can(scope) {
  return !!(state.org && (state.org.scopes || []).includes(scope));
}

export const ALL_SCOPES = ['server:read', 'server:write', 'app:read', 'app:write', 'deploy:read',
  'deploy:write', 'env:write', 'script:run', 'terminal:open', 'token:write', 'user:write',
  'org:write', 'audit:read', 'container:exec', 'server:exec', 'schedule:read', 'schedule:write'];
