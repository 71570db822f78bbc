/* api_common.c - what the REST handlers share (api.h): times and scope
 * lists as JSON, the store's errors as answers, issuing a bearer secret,
 * and finding the caller's organization's server or app by id or name
 * (404 for anything else, another organization's included). */
#include "access.h"
#include "api.h"
#include "jsonx.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *api_time(int64_t t) { return jx_time(t); }

json_t *api_scopes_json(uint32_t mask)
{
    json_t *a = json_array();
    for (int i = 0; i < SC_COUNT; i++)
        if (mask & (1u << i))
            json_array_append_new(a, json_string(access_scope_name(1u << i)));
    return a;
}

void api_scopes_write(struct jw *w, uint32_t mask)
{
    jw_arr(w);
    for (int i = 0; i < SC_COUNT; i++)
        if (mask & (1u << i))
            jw_str(w, access_scope_name(1u << i));
    jw_arr_end(w);
}

void api_time_write(struct jw *w, int64_t t)
{
    if (!t) {
        jw_null(w);
        return;
    }
    char b[32];
    util_iso8601(t, b, sizeof b);
    jw_str(w, b);
}

void api_store_error(struct req *r, int rc, const char *what)
{
    if (rc == STORE_NOTFOUND)
        http_reply_error(r, 404, "not_found", "%s not found", what);
    else if (rc == STORE_CONFLICT)
        http_reply_error(r, 409, "conflict", "%s already exists", what);
    else
        http_reply_error(r, 500, "internal", "the store failed; see the server log");
}

int api_issue_token(struct req *r, int64_t user_id, const char *kind, const char *name,
                    uint32_t scopes, int64_t org_id, int64_t parent_id, int64_t now,
                    int64_t expires_at, char token[CRYPTO_TOKEN_MAX], int64_t *id)
{
    struct token t;
    memset(&t, 0, sizeof t);
    t.user_id = user_id;
    util_strlcpy(t.kind, kind, sizeof t.kind);
    util_strlcpy(t.name, name, sizeof t.name);
    access_scopes_format(scopes, t.scopes, sizeof t.scopes);
    t.org_id = org_id;
    t.parent_id = parent_id;
    t.created_at = now;
    t.expires_at = expires_at;
    crypto_token_new(strcmp(kind, "session") == 0 ? "bts" : "bta", token);
    char hash[CRYPTO_HASH_HEX], prefix[16];
    crypto_token_hash(r->srv->token_key, token, hash);
    snprintf(prefix, sizeof prefix, "%.11s", token);
    return store_token_create(r->srv->store, &t, hash, prefix, id);
}

/* Server and script names: 1-100 of [A-Za-z0-9._-], starting alphanumeric. */
int api_name_valid(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 100)
        return 0;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

int api_server_of(struct req *r, const char *ref, struct server *sv)
{
    int rc = store_server_find(r->srv->store, r->who.org_id, ref, sv);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "server not found: %s", ref);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "server");
        return -1;
    }
    return 0;
}

int api_server_refuse_decommissioned(struct req *r, const struct server *sv)
{
    if (!sv->decommissioned_at)
        return 0;
    http_reply_error(r, 409, "decommissioned",
                     "server '%s' is decommissioned; it takes no operations (delete it, then "
                     "add the host again to reuse it)", sv->name);
    return -1;
}

int api_app_of(struct req *r, const char *ref, struct app *a)
{
    int rc = store_app_find(r->srv->store, r->who.org_id, ref, a);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "application not found: %s", ref);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "application");
        return -1;
    }
    return 0;
}
