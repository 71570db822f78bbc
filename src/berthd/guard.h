/* guard.h - who may call a route: bearer-token authentication and the
 * organization/scope check, run by http.c before every handler. */
#ifndef BERTHD_GUARD_H
#define BERTHD_GUARD_H

#include "http.h"

/* Authenticates and authorises r for r->route. On refusal answers (401,
 * 403 or 404) and returns -1. Fills r->who on success. */
int guard_check(struct req *r);

/* Authentication alone: 0, or -1 after answering 401 (or 403 for a
 * cookie-authenticated mutation without a valid CSRF token or from
 * another origin). */
int guard_authenticate(struct req *r);

/* The dashboard's cookies (docs/dashboard.md): the session token
 * (HttpOnly) and its CSRF token (readable by the page's script). */
#define GUARD_SESSION_COOKIE "berth_session"
#define GUARD_CSRF_COOKIE "berth_csrf"

/* The CSRF token of a session secret: a keyed hash of "csrf:" + secret
 * (hex, CRYPTO_HASH_HEX with its NUL), so it needs no storage and a
 * database copy of the token hashes does not give it. */
void guard_csrf_token(const struct srv *s, const char *session, char out[CRYPTO_HASH_HEX]);

/* The browser's own say on where a request comes from: an Origin must be
 * berthd's (http(s):// + Host, or BERTH_PUBLIC_URL), a Sec-Fetch-Site must
 * be same-origin (or none). Absent headers pass. 0, or -1 after answering
 * 403 csrf. Cookie mutations and cookie logins are held to it. */
int guard_same_origin(struct req *r);

/* Finds cookie `name` in a Cookie header value: 1 (copied into out), 0
 * absent, -1 malformed, too long or present twice. */
int guard_cookie_value(const char *header, const char *name, char *out, size_t n);

#endif
