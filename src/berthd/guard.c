/* guard.c - authentication and authorization of each request.
 *
 * Bearer secrets are looked up by their keyed hash (an index probe; the
 * hash hides timing of the comparison). On an organization route the
 * caller must belong to {org} (else 404: another org's objects do not
 * exist for them), a token bound to another org sees 404 too, and the
 * route's scope must be in (role scopes & token scopes) (else 403). On a
 * user route the role scopes are those of every role the caller holds (or
 * of their role in the token's organization, for a bound token).
 *
 * The dashboard authenticates with the session cookie instead (only when
 * no Authorization header is sent): the same session token, looked up and
 * checked the same way, so roles and scopes apply unchanged; mutations
 * made with it need the CSRF token and a same-origin Origin (csrf_check;
 * docs/dashboard.md). */
#include "guard.h"
#include "access.h"
#include "router.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int unauthorized(struct req *r, const char *msg)
{
    r->guard_refused = 1;
    http_add_header(r, "www-authenticate", "Bearer");
    http_reply_error(r, 401, "unauthorized", "%s", msg);
    return -1;
}

/* The value of cookie `name` in a Cookie header: 1 and copied into out
 * when present once with a value of 1..n-1 bytes of [A-Za-z0-9_-]; 0 when
 * absent; -1 when present but malformed, too long, or present twice (a
 * cookie planted for a parent domain or path must not pick the session). */
int guard_cookie_value(const char *header, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    int found = 0;
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t vl = len - nl - 1;
            if (found || vl == 0 || vl >= n)
                return -1;
            for (size_t i = 0; i < vl; i++) {
                char c = v[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-'))
                    return -1;
            }
            memcpy(out, v, vl);
            out[vl] = '\0';
            found = 1;
        }
        p = end;
    }
    return found;
}

void guard_csrf_token(const struct srv *s, const char *session, char out[CRYPTO_HASH_HEX])
{
    char in[CRYPTO_TOKEN_MAX + 8];
    snprintf(in, sizeof in, "csrf:%s", session);
    crypto_token_hash(s->token_key, in, out);
    crypto_wipe(in, sizeof in);
}

static int csrf_refused(struct req *r, const char *msg)
{
    r->guard_refused = 1;
    http_reply_error(r, 403, "csrf", "%s", msg);
    return -1;
}

/* A mutation made with the session cookie must come from the dashboard's
 * own origin and carry the session's CSRF token (X-CSRF-Token: the keyed
 * hash of the session secret that login set as the readable berth_csrf
 * cookie). A cross-site page cannot read that cookie, and SameSite=Strict
 * keeps the browser from sending the session cookie cross-site at all;
 * either alone refuses a forged request. Reads pass (they change nothing). */
int guard_same_origin(struct req *r)
{
    char origin[512], host[300], want[600], site[32];
    if (req_std_header(r, REQ_HDR_ORIGIN, origin, sizeof origin)) {
        int ok = 0;
        if (req_std_header(r, REQ_HDR_HOST, host, sizeof host)) {
            snprintf(want, sizeof want, "%s://%s", r->srv->cfg.tls_cert[0] ? "https" : "http",
                     host);
            ok = strcmp(origin, want) == 0;
        }
        const char *pub = r->srv->cfg.public_url;
        size_t pl = strlen(pub);
        while (pl && pub[pl - 1] == '/')
            pl--;
        if (!ok && pl && strlen(origin) == pl && memcmp(origin, pub, pl) == 0)
            ok = 1;
        if (!ok)
            return csrf_refused(r, "cross-origin request refused (Origin does not match)");
    } else if (req_std_header_present(r, REQ_HDR_ORIGIN)) { /* too long, or a NUL */
        return csrf_refused(r, "cross-origin request refused (unreadable Origin)");
    }
    if (req_header(r, "Sec-Fetch-Site", site, sizeof site) && strcmp(site, "same-origin") != 0 &&
        strcmp(site, "none") != 0)
        return csrf_refused(r, "cross-site request refused (Sec-Fetch-Site)");
    return 0;
}

static int csrf_check(struct req *r, const char *session)
{
    if (r->method == HM_GET || r->method == HM_HEAD || r->method == HM_OPTIONS)
        return 0;
    if (guard_same_origin(r) < 0)
        return -1;
    char got[CRYPTO_HASH_HEX + 1], expect[CRYPTO_HASH_HEX];
    if (!req_header(r, "X-CSRF-Token", got, sizeof got) || strlen(got) != CRYPTO_HASH_HEX - 1)
        return csrf_refused(r, "missing or invalid CSRF token (X-CSRF-Token)");
    guard_csrf_token(r->srv, session, expect);
    int eq = crypto_ct_eq(got, expect, CRYPTO_HASH_HEX - 1);
    crypto_wipe(expect, sizeof expect);
    if (!eq)
        return csrf_refused(r, "missing or invalid CSRF token (X-CSRF-Token)");
    return 0;
}

/* The secret the request presents: the bearer token, or (only without an
 * Authorization header) the session cookie. 0, or -1 after answering. */
static int presented(struct req *r, char tok[CRYPTO_TOKEN_MAX], int *by_cookie)
{
    const char *a = r->authz;
    *by_cookie = 0;
    if (a) {
        if (strncasecmp(a, "Bearer ", 7) != 0)
            return unauthorized(r, "missing bearer token (Authorization: Bearer TOKEN)");
        a += 7;
        while (*a == ' ')
            a++;
        if (!*a || util_strlcpy(tok, a, CRYPTO_TOKEN_MAX) < 0)
            return unauthorized(r, "invalid token");
        return 0;
    }
    int rc = r->cookie ? guard_cookie_value(r->cookie, GUARD_SESSION_COOKIE, tok, CRYPTO_TOKEN_MAX)
                       : 0;
    if (rc == 0)
        return unauthorized(r, "missing bearer token (Authorization: Bearer TOKEN)");
    if (rc < 0)
        return unauthorized(r, "invalid session cookie");
    *by_cookie = 1;
    return 0;
}

int guard_authenticate(struct req *r)
{
    if (r->authed)
        return 0;
    char tok[CRYPTO_TOKEN_MAX];
    int by_cookie = 0, rc = -1;
    if (presented(r, tok, &by_cookie) < 0)
        goto done;
    char hash[CRYPTO_HASH_HEX];
    crypto_token_hash(r->srv->token_key, tok, hash);
    struct token t;
    struct user u;
    int src = store_token_by_hash(r->srv->store, hash, &t, &u);
    if (src == STORE_NOTFOUND) {
        unauthorized(r, "invalid token");
        goto done;
    }
    if (src != STORE_OK) {
        http_reply_error(r, 500, "internal", "store unavailable");
        goto done;
    }
    uint32_t scopes = 0;
    if (t.revoked_at)
        unauthorized(r, "token has been revoked");
    else if (t.expires_at <= util_now())
        unauthorized(r, "token has expired");
    else if (strcmp(u.status, "active") != 0)
        unauthorized(r, "account is not active");
    else if (access_scopes_parse(t.scopes, &scopes) < 0)
        unauthorized(r, "invalid token");
    else if (by_cookie && strcmp(t.kind, "session") != 0) /* only login sets the cookie */
        unauthorized(r, "invalid session cookie");
    else
        rc = 0;
    if (rc < 0)
        goto done;
    struct principal *w = &r->who;
    w->user_id = u.id;
    util_strlcpy(w->email, u.email, sizeof w->email);
    w->token_id = t.id;
    util_strlcpy(w->token_kind, t.kind, sizeof w->token_kind);
    w->token_scopes = scopes;
    w->token_org_id = t.org_id;
    w->token_expires_at = t.expires_at;
    r->authed = 1;
    r->by_cookie = by_cookie;
    if (by_cookie)
        rc = csrf_check(r, tok);
done:
    crypto_wipe(tok, sizeof tok);
    return rc;
}

static int forbidden(struct req *r, uint32_t scope)
{
    r->guard_refused = 1;
    http_reply_error(r, 403, "forbidden", "missing scope %s", access_scope_name(scope));
    return -1;
}

static int org_not_found(struct req *r)
{
    r->guard_refused = 1;
    http_reply_error(r, 404, "not_found", "organization not found: %s", r->params[0]);
    return -1;
}

/* What a user route's scope is checked against: the token's scopes,
 * narrowed to what the caller's roles grant (in the token's organization
 * when it is bound to one, else in any organization). A login session
 * carries every scope, so without this a viewer's session could do what
 * only an admin may (POST /orgs), while the viewer's API tokens could not. */
static int user_scopes(struct req *r, uint32_t *out)
{
    struct store *st = r->srv->store;
    uint32_t held = 0;
    if (r->who.token_org_id) {
        char role[16];
        int rc = store_member_role(st, r->who.token_org_id, r->who.user_id, role);
        if (rc == STORE_OK)
            held = access_role_scopes(access_role_parse(role));
        else if (rc != STORE_NOTFOUND)
            return -1;
    } else {
        char roles[64][16];
        int n = 0;
        if (store_user_roles(st, r->who.user_id, roles, 64, &n) != STORE_OK)
            return -1;
        for (int i = 0; i < n; i++)
            held |= access_role_scopes(access_role_parse(roles[i]));
    }
    *out = held & r->who.token_scopes;
    return 0;
}

int guard_check(struct req *r)
{
    const struct route *rt = r->route;
    if (rt->auth == AUTH_PUBLIC)
        return 0;
    if (guard_authenticate(r) < 0)
        return -1;
    if (rt->auth == AUTH_USER) {
        if (!rt->scope)
            return 0;
        uint32_t have = 0;
        if (user_scopes(r, &have) < 0) {
            http_reply_error(r, 500, "internal", "store unavailable");
            return -1;
        }
        if (!(have & rt->scope))
            return forbidden(r, rt->scope);
        return 0;
    }
    struct org o;
    char role[16];
    int rc = store_org_membership(r->srv->store, r->params[0], r->who.user_id, &o, role);
    if (rc == STORE_NOTFOUND)
        return org_not_found(r);
    if (rc != STORE_OK) {
        http_reply_error(r, 500, "internal", "store unavailable");
        return -1;
    }
    if (r->who.token_org_id && r->who.token_org_id != o.id)
        return org_not_found(r);
    if (!role[0]) {
        /* Recorded against the org so its admins see outside probing. */
        r->audit_org = o.id;
        return org_not_found(r);
    }
    r->who.org_id = o.id;
    r->audit_org = o.id;
    r->who.role = access_role_parse(role);
    r->who.scopes = access_role_scopes(r->who.role) & r->who.token_scopes;
    if (rt->scope && !(r->who.scopes & rt->scope))
        return forbidden(r, rt->scope);
    return 0;
}
