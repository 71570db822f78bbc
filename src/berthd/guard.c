/* guard.c - authentication and authorization of each request.
 *
 * Bearer secrets are looked up by their keyed hash (an index probe; the
 * hash hides timing of the comparison). On an organization route the
 * caller must belong to {org} (else 404: another org's objects do not
 * exist for them), a token bound to another org sees 404 too, and the
 * route's scope must be in (role scopes & token scopes) (else 403). On a
 * user route the role scopes are those of every role the caller holds (or
 * of their role in the token's organization, for a bound token). */
#include "guard.h"
#include "access.h"
#include "router.h"
#include "store.h"
#include "util.h"

#include <string.h>
#include <strings.h>

static int unauthorized(struct req *r, const char *msg)
{
    r->guard_refused = 1;
    http_add_header(r, "www-authenticate", "Bearer");
    http_reply_error(r, 401, "unauthorized", "%s", msg);
    return -1;
}

int guard_authenticate(struct req *r)
{
    if (r->authed)
        return 0;
    const char *a = r->authz;
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return unauthorized(r, "missing bearer token (Authorization: Bearer TOKEN)");
    const char *tok = a + 7;
    while (*tok == ' ')
        tok++;
    if (!*tok || strlen(tok) >= CRYPTO_TOKEN_MAX)
        return unauthorized(r, "invalid token");
    char hash[CRYPTO_HASH_HEX];
    crypto_token_hash(r->srv->token_key, tok, hash);
    struct token t;
    struct user u;
    int rc = store_token_by_hash(r->srv->store, hash, &t, &u);
    if (rc == STORE_NOTFOUND)
        return unauthorized(r, "invalid token");
    if (rc != STORE_OK) {
        http_reply_error(r, 500, "internal", "store unavailable");
        return -1;
    }
    if (t.revoked_at)
        return unauthorized(r, "token has been revoked");
    if (t.expires_at <= util_now())
        return unauthorized(r, "token has expired");
    if (strcmp(u.status, "active") != 0)
        return unauthorized(r, "account is not active");
    uint32_t scopes = 0;
    if (access_scopes_parse(t.scopes, &scopes) < 0)
        return unauthorized(r, "invalid token");
    struct principal *w = &r->who;
    w->user_id = u.id;
    util_strlcpy(w->email, u.email, sizeof w->email);
    w->token_id = t.id;
    util_strlcpy(w->token_kind, t.kind, sizeof w->token_kind);
    w->token_scopes = scopes;
    w->token_org_id = t.org_id;
    w->token_expires_at = t.expires_at;
    r->authed = 1;
    return 0;
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
