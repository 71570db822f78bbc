// pages/login.js - sign-in (POST /auth/login with "cookie": true: berthd
// answers with the HttpOnly session cookie, never a token the page could
// keep) and accepting an invitation as a new account.
import { post } from '../api.js';
import { h, fill, field, errorBox } from '../ui.js';
import { signedIn, navigate } from '../main.js';

export async function loginPage(view) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const err = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card narrow', id: 'login-form' },
    h('h1', {}, 'Sign in to berth'),
    field('Email', email), field('Password', password), err,
    h('div', { class: 'row' }, submit),
    h('p', { class: 'muted small' }, 'Invited? ', h('a', { href: '/accept-invite', 'data-link': true }, 'Set your password')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    fill(err);
    try {
      await post('/auth/login', { email: email.value, password: password.value, cookie: true });
      await signedIn();
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') && next !== '/login' ? next : '/', true);
    } catch (e) {
      fill(err, errorBox(e.status === 429 ? e : e.status === 401 ? 'Wrong email or password.' : e));
      submit.disabled = false;
      password.select();
    }
  });
  fill(view, form);
  email.focus();
}

export async function acceptInvitePage(view) {
  const token = h('input', { type: 'text', name: 'token', autocomplete: 'off', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const err = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card narrow' },
    h('h1', {}, 'Accept an invitation'),
    h('p', { class: 'muted' }, 'For a new account: the invitation token your admin gave you, and a password. Already have an account? Sign in and open Invitations.'),
    field('Invitation token', token), field('New password', password, 'At least 8 characters'), err,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Set password'),
      h('a', { href: '/login', 'data-link': true }, 'Sign in instead')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(err);
    try {
      const r = await post('/auth/accept-invite', { token: token.value.trim(), password: password.value });
      await post('/auth/login', { email: r.user.email, password: password.value, cookie: true });
      await signedIn();
      navigate('/', true);
    } catch (e) { fill(err, errorBox(e)); }
  });
  fill(view, form);
}
