/* api_tokens.c - the caller's API tokens: created with a subset of the
 * caller's scopes (never more than the calling token holds), shown once,
 * stored as a keyed hash, revocable. A token is the child of the session
 * or token that minted it: it expires no later than its parent, and
 * revoking the parent revokes it (store_token_revoke). */
#include "access.h"
#include "api.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define TOKEN_TTL_DEFAULT (30 * 24 * 3600)
#define TOKEN_TTL_MAX (366 * 24 * 3600)

/* {id, name, prefix, scopes[], org, created_at, expires_at}; never the hash. */
static void token_item(void *arg, const struct token_row *t)
{
    json_t *scopes = json_array();
    char buf[512];
    util_strlcpy(buf, t->scopes ? t->scopes : "", sizeof buf);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save))
        json_array_append_new(scopes, json_string(tok));
    json_array_append_new(
        arg, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)t->id, "name",
                       t->name ? json_string(t->name) : json_null(), "prefix",
                       t->prefix ? json_string(t->prefix) : json_null(), "scopes", scopes,
                       "org", t->org_id ? json_integer(t->org_id) : json_null(), "created_at",
                       api_time(t->created_at), "expires_at", api_time(t->expires_at)));
}

void api_tokens_list(struct req *r)
{
    json_t *items = json_array();
    int rc = store_tokens_each(r->srv->store, r->who.user_id, token_item, items);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, rc, "token");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* The scopes the caller may hand out: their role's in org (or every role
 * they hold when org is 0), narrowed by the calling token. */
static int grantable(struct req *r, int64_t org_id, uint32_t *out)
{
    struct store *st = r->srv->store;
    uint32_t m = 0;
    if (org_id) {
        char role[16];
        int rc = store_member_role(st, org_id, r->who.user_id, role);
        if (rc != STORE_OK)
            return rc;
        m = access_role_scopes(access_role_parse(role));
    } else {
        char roles[64][16];
        int n = 0;
        if (store_user_roles(st, r->who.user_id, roles, 64, &n) != STORE_OK)
            return STORE_ERR;
        for (int i = 0; i < n; i++)
            m |= access_role_scopes(access_role_parse(roles[i]));
    }
    *out = m & r->who.token_scopes;
    return STORE_OK;
}

void api_token_create(struct req *r)
{
    static const char *const fields[] = {"name", "scopes", "org", "expires_in", NULL};
    json_t *b = req_json(r);
    const char *name;
    json_t *scopes = NULL, *orgv;
    int64_t ttl = TOKEN_TTL_DEFAULT;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "name", 1, &name) < 0 ||
        req_array(r, b, "scopes", 1, &scopes) < 0 || req_int(r, b, "expires_in", 0, &ttl) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "token:%.100s", name);
    size_t nl = strlen(name);
    if (nl < 1 || nl > 100) {
        http_reply_error(r, 422, "invalid_field", "field 'name' must be 1-100 characters");
        return;
    }
    if (ttl < 1 || ttl > TOKEN_TTL_MAX) {
        http_reply_error(r, 422, "invalid_field",
                         "field 'expires_in' must be between 1 and %d seconds", TOKEN_TTL_MAX);
        return;
    }
    uint32_t want = 0;
    size_t i;
    json_t *sv;
    json_array_foreach(scopes, i, sv) {
        if (!json_is_string(sv)) {
            http_reply_error(r, 400, "invalid_field", "field 'scopes' must be an array of strings");
            return;
        }
        uint32_t s1 = access_scope_parse(json_string_value(sv));
        if (!s1) {
            http_reply_error(r, 422, "invalid_field", "unknown scope '%s'",
                             json_string_value(sv));
            return;
        }
        want |= s1;
    }
    if (!want) {
        http_reply_error(r, 422, "invalid_field", "field 'scopes' must name at least one scope");
        return;
    }
    int64_t org_id = 0;
    char org_name[64] = "";
    orgv = json_object_get(b, "org");
    if (orgv && !json_is_null(orgv)) {
        char ref[64];
        if (json_is_integer(orgv))
            snprintf(ref, sizeof ref, "%lld", (long long)json_integer_value(orgv));
        else if (json_is_string(orgv))
            util_strlcpy(ref, json_string_value(orgv), sizeof ref);
        else {
            http_reply_error(r, 400, "invalid_field", "field 'org' must be an id or a name");
            return;
        }
        struct org o;
        char role[16];
        int rc = store_org_find(r->srv->store, ref, &o);
        if (rc == STORE_OK)
            rc = store_member_role(r->srv->store, o.id, r->who.user_id, role);
        if (rc == STORE_OK && r->who.token_org_id && r->who.token_org_id != o.id)
            rc = STORE_NOTFOUND;
        if (rc != STORE_OK) {
            api_store_error(r, rc, "organization");
            return;
        }
        org_id = o.id;
        util_strlcpy(org_name, o.name, sizeof org_name);
    } else if (r->who.token_org_id) {
        org_id = r->who.token_org_id; /* an org-bound token mints org-bound tokens */
    }
    uint32_t may = 0;
    int rc = grantable(r, org_id, &may);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "organization");
        return;
    }
    if (want & ~may) {
        uint32_t bad = want & ~may;
        uint32_t first = bad & (~bad + 1);
        http_reply_error(r, 403, "forbidden", "scope %s is more than you hold",
                         access_scope_name(first));
        return;
    }
    char token[CRYPTO_TOKEN_MAX];
    int64_t id, now = util_now(), exp = now + ttl;
    /* A login session mints the account's own API tokens (roots: a CI
     * token outlives the login it was made in, as people expect); an API
     * token mints children that never outlive it (docs/access.md). */
    int from_session = strcmp(r->who.token_kind, "session") == 0;
    if (!from_session && r->who.token_expires_at && exp > r->who.token_expires_at)
        exp = r->who.token_expires_at;
    rc = api_issue_token(r, r->who.user_id, "api", name, want, org_id,
                         from_session ? 0 : r->who.token_id, now, exp, token, &id);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "token");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "token:%lld", (long long)id);
    r->audit_org = org_id;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.11s", token);
    json_t *sc = api_scopes_json(want);
    r->audit_detail = json_pack("{s:O}", "scopes", sc);
    http_reply_json(r, 201, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
                                      (json_int_t)id, "name", name, "token", token, "prefix",
                                      prefix, "scopes", sc, "org",
                                      org_id ? json_integer(org_id) : json_null(), "created_at",
                                      api_time(now), "expires_at", api_time(exp)));
    crypto_wipe(token, sizeof token);
}

void api_token_revoke(struct req *r)
{
    int64_t id;
    snprintf(r->audit_target, sizeof r->audit_target, "token:%.100s", r->params[0]);
    if (util_parse_i64(r->params[0], &id) < 0) {
        http_reply_error(r, 404, "not_found", "token not found: %s", r->params[0]);
        return;
    }
    int rc = store_token_revoke(r->srv->store, id, r->who.user_id, util_now());
    if (rc != STORE_OK) {
        api_store_error(r, rc, "token");
        return;
    }
    http_reply_empty(r, 204);
}
