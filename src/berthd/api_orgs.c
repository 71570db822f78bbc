/* api_orgs.c - organizations and their members (roles, invitations). */
#include "access.h"
#include "api.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define INVITE_TTL (7 * 24 * 3600)

struct orgs_walk {
    struct jw *w;
    int64_t only; /* a token bound to one organization sees only that one */
};

static int org_item(void *arg, const struct org *o, const char *role)
{
    struct orgs_walk *ow = arg;
    if (ow->only && o->id != ow->only)
        return 0;
    jw_obj(ow->w);
    jw_key(ow->w, "id");
    jw_int(ow->w, o->id);
    jw_key(ow->w, "name");
    jw_str(ow->w, o->name);
    jw_key(ow->w, "role");
    jw_str(ow->w, role);
    char t[32];
    util_iso8601(o->created_at, t, sizeof t);
    jw_key(ow->w, "created_at");
    jw_str(ow->w, t);
    jw_obj_end(ow->w);
    return 0;
}

void api_orgs_list(struct req *r)
{
    struct orgs_walk ow = {http_json(r), r->who.token_org_id};
    jw_obj(ow.w);
    jw_key(ow.w, "items");
    jw_arr(ow.w);
    int rc = store_orgs_of_user(r->srv->store, r->who.user_id, org_item, &ow);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "organization");
        return;
    }
    jw_arr_end(ow.w);
    jw_obj_end(ow.w);
    http_reply_jw(r, 200);
}

void api_orgs_create(struct req *r)
{
    static const char *const fields[] = {"name", NULL};
    struct store *st = r->srv->store;
    json_t *b = req_json(r);
    const char *name;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "name", 1, &name) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "org:%.100s", name);
    if (!util_slug_valid(name)) {
        http_reply_error(r, 422, "invalid_field", "field 'name' must be 1-63 characters of "
                         "a-z, 0-9 and '-', not all digits, not starting or ending with '-'");
        return;
    }
    int64_t now = util_now(), id = 0;
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "organization");
        return;
    }
    int rc = store_org_create(st, name, now, &id);
    if (rc == STORE_OK)
        rc = store_member_add(st, id, r->who.user_id, "admin", now);
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        if (rc == STORE_CONFLICT)
            http_reply_error(r, 409, "conflict", "organization '%s' already exists", name);
        else
            api_store_error(r, STORE_ERR, "organization");
        return;
    }
    r->audit_org = id;
    snprintf(r->audit_target, sizeof r->audit_target, "org:%lld", (long long)id);
    http_reply_json(r, 201, json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)id, "name", name,
                                      "role", "admin", "created_at", api_time(now)));
}

void api_org_get(struct req *r)
{
    struct org o;
    int rc = store_org_find(r->srv->store, r->params[0], &o);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "organization");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:I, s:s, s:s, s:o, s:o}", "id", (json_int_t)o.id,
                                      "name", o.name, "role", access_role_name(r->who.role),
                                      "scopes", api_scopes_json(r->who.scopes), "created_at",
                                      api_time(o.created_at)));
}

void api_members_list(struct req *r)
{
    struct jw *w = http_json(r);
    jw_obj(w);
    jw_key(w, "items");
    int rc = store_members_write(r->srv->store, r->who.org_id, w);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "member");
        return;
    }
    jw_obj_end(w);
    http_reply_jw(r, 200);
}

static int read_role(struct req *r, json_t *b, int required, enum role *out)
{
    const char *role = NULL;
    int rc = req_str(r, b, "role", required, &role);
    if (rc <= 0)
        return rc;
    *out = access_role_parse(role);
    if (*out == ROLE_NONE) {
        http_reply_error(r, 422, "invalid_field",
                         "field 'role' must be one of admin, manager, developer, viewer");
        return -1;
    }
    return 1;
}

static json_t *member_json(const struct user *u, const char *role)
{
    return json_pack("{s:I, s:s, s:s, s:s}", "user_id", (json_int_t)u->id, "email", u->email,
                     "role", role, "status", u->status);
}

void api_member_add(struct req *r)
{
    static const char *const fields[] = {"email", "role", NULL};
    struct store *st = r->srv->store;
    json_t *b = req_json(r);
    const char *email_in;
    enum role role = ROLE_NONE;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "email", 1, &email_in) < 0 ||
        read_role(r, b, 1, &role) < 0)
        return;
    char email[256];
    if (util_strlcpy(email, email_in, sizeof email) < 0 || !util_email_valid(email)) {
        http_reply_error(r, 422, "invalid_field", "field 'email' is not a valid email address");
        return;
    }
    for (char *p = email; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(r->audit_target, sizeof r->audit_target, "user:%.150s", email);
    r->audit_detail = json_pack("{s:s}", "role", access_role_name(role));

    int64_t now = util_now();
    struct user u;
    int rc = store_user_by_email(st, email, &u);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        api_store_error(r, rc, "user");
        return;
    }
    char token[CRYPTO_TOKEN_MAX] = "";
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "member");
        return;
    }
    if (rc == STORE_NOTFOUND) {
        rc = store_user_create(st, email, NULL, "invited", now, &u.id);
        if (rc == STORE_OK)
            rc = store_user_get(st, u.id, &u);
    }
    if (rc == STORE_OK)
        rc = store_member_add(st, r->who.org_id, u.id, access_role_name(role), now);
    if (rc == STORE_OK && strcmp(u.status, "invited") == 0) {
        char hash[CRYPTO_HASH_HEX];
        crypto_token_new("bti", token);
        crypto_token_hash(r->srv->token_key, token, hash);
        rc = store_invite_create(st, r->who.org_id, u.id, access_role_name(role), hash,
                                 r->who.user_id, now, now + INVITE_TTL);
    }
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        crypto_wipe(token, sizeof token);
        if (rc == STORE_CONFLICT)
            http_reply_error(r, 409, "conflict", "%s is already a member", email);
        else
            api_store_error(r, STORE_ERR, "member");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "user:%lld", (long long)u.id);
    json_t *m = member_json(&u, access_role_name(role));
    if (token[0]) {
        json_object_set_new(m, "invite_token", json_string(token));
        json_object_set_new(m, "invite_expires_at", api_time(now + INVITE_TTL));
    }
    crypto_wipe(token, sizeof token);
    http_reply_json(r, 201, m);
}

/* Resolves {user} (id or email) to a member of the caller's org. */
static int find_member(struct req *r, struct user *u, char role[16])
{
    struct store *st = r->srv->store;
    char ref[sizeof r->params[1]];
    util_strlcpy(ref, r->params[1], sizeof ref);
    for (char *p = ref; *p; p++) /* emails are stored lower-cased */
        *p = (char)tolower((unsigned char)*p);
    int64_t id;
    int rc = util_parse_i64(ref, &id) == 0 ? store_user_get(st, id, u)
                                           : store_user_by_email(st, ref, u);
    if (rc == STORE_OK)
        rc = store_member_role(st, r->who.org_id, u->id, role);
    snprintf(r->audit_target, sizeof r->audit_target, "user:%s", ref);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "member not found: %s", ref);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "member");
        return -1;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "user:%lld", (long long)u->id);
    return 0;
}

/* Refuses (409) to leave the org without an admin. */
static int keeps_an_admin(struct req *r, const char *old_role)
{
    if (strcmp(old_role, "admin") != 0)
        return 1;
    int64_t admins = 0;
    if (store_member_count_role(r->srv->store, r->who.org_id, "admin", &admins) != STORE_OK) {
        api_store_error(r, STORE_ERR, "member");
        return 0;
    }
    if (admins <= 1) {
        http_reply_error(r, 409, "last_admin", "an organization must keep at least one admin");
        return 0;
    }
    return 1;
}

void api_member_update(struct req *r)
{
    static const char *const fields[] = {"role", NULL};
    json_t *b = req_json(r);
    enum role role = ROLE_NONE;
    struct user u;
    char old[16];
    if (!b || req_only_fields(r, b, fields) < 0 || read_role(r, b, 1, &role) < 0 ||
        find_member(r, &u, old) < 0)
        return;
    r->audit_detail = json_pack("{s:s, s:s}", "from", old, "to", access_role_name(role));
    if (role != ROLE_ADMIN && !keeps_an_admin(r, old))
        return;
    int rc = store_member_set_role(r->srv->store, r->who.org_id, u.id, access_role_name(role));
    if (rc != STORE_OK) {
        api_store_error(r, rc, "member");
        return;
    }
    http_reply_json(r, 200, member_json(&u, access_role_name(role)));
}

void api_member_remove(struct req *r)
{
    struct user u;
    char old[16];
    if (find_member(r, &u, old) < 0 || !keeps_an_admin(r, old))
        return;
    int rc = store_member_remove(r->srv->store, r->who.org_id, u.id);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "member");
        return;
    }
    http_reply_empty(r, 204);
}
