/* api_orgs.c - organizations, their members (roles) and invitations.
 *
 * Adding a member is always an invitation, answered the same way whether
 * or not the email has an account: an account that never activated
 * accepts it with the invite token and a new password (api_auth.c); an
 * active account accepts it while logged in as itself (api_invite_accept).
 * The membership is made only then. */
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

/* {user_id, email, role, status, joined_at}; an invitation has user_id and
 * joined_at null and status "invited". */
static void member_item(void *arg, const struct member_row *m)
{
    struct jw *w = arg;
    jw_obj(w);
    jw_key(w, "user_id");
    if (m->user_id)
        jw_int(w, m->user_id);
    else
        jw_null(w);
    jw_key(w, "email");
    jw_str(w, m->email);
    jw_key(w, "role");
    jw_str(w, m->role);
    jw_key(w, "status");
    jw_str(w, m->status);
    jw_key(w, "joined_at");
    api_time_write(w, m->joined_at);
    jw_obj_end(w);
}

void api_members_list(struct req *r)
{
    struct jw *w = http_json(r);
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    int rc = store_members_each(r->srv->store, r->who.org_id, util_now(), member_item, w);
    jw_arr_end(w);
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

/* A member, or (inv set) a pending invitation: no user id, status invited. */
static json_t *member_json(const struct user *u, const char *role, const struct invite *inv)
{
    return json_pack("{s:o, s:s, s:s, s:s}", "user_id",
                     inv ? json_null() : json_integer(u->id), "email", u->email, "role", role,
                     "status", inv ? "invited" : u->status);
}

/* The account for email, made (status invited) when there is none. */
static int invitee(struct store *st, const char *email, int64_t now, struct user *u)
{
    int rc = store_user_by_email(st, email, u);
    if (rc == STORE_NOTFOUND) {
        rc = store_user_create(st, email, NULL, "invited", now, &u->id);
        if (rc == STORE_OK)
            rc = store_user_get(st, u->id, u);
    }
    return rc;
}

/* CONFLICT when the account is a member of org_id or invited to it. */
static int already_there(struct store *st, int64_t org_id, int64_t user_id, int64_t now)
{
    char role[16];
    struct invite inv;
    int rc = store_member_role(st, org_id, user_id, role);
    if (rc == STORE_NOTFOUND)
        rc = store_invite_pending(st, org_id, user_id, now, &inv);
    return rc == STORE_OK ? STORE_CONFLICT : rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* The audit target is the email as given: a user id would tell whether
 * the account existed before. */
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

    int64_t now = util_now(), inv_id = 0;
    struct user u;
    char token[CRYPTO_TOKEN_MAX] = "", hash[CRYPTO_HASH_HEX];
    crypto_token_new("bti", token);
    crypto_token_hash(r->srv->token_key, token, hash);
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "member");
        goto done;
    }
    int rc = invitee(st, email, now, &u);
    if (rc == STORE_OK)
        rc = already_there(st, r->who.org_id, u.id, now);
    if (rc == STORE_OK) /* expired ones: a new invitation replaces them */
        rc = store_invites_void_org_user(st, r->who.org_id, u.id, now);
    if (rc == STORE_OK)
        rc = store_invite_create(st, r->who.org_id, u.id, access_role_name(role), hash,
                                 r->who.user_id, now, now + INVITE_TTL, &inv_id);
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        if (rc == STORE_CONFLICT)
            http_reply_error(r, 409, "conflict", "%s is already a member or invited (remove "
                             "the invitation to send a new one)", email);
        else
            api_store_error(r, STORE_ERR, "member");
        goto done;
    }
    struct invite inv = {.id = inv_id};
    json_t *m = member_json(&u, access_role_name(role), &inv);
    json_object_set_new(m, "invite_token", json_string(token));
    json_object_set_new(m, "invite_expires_at", api_time(now + INVITE_TTL));
    http_reply_json(r, 201, m);
done:
    crypto_wipe(token, sizeof token);
}

/* Resolves {user} (id or email) to a member of the caller's org, or to
 * the account of a pending invitation to it (then inv->id is set). */
static int find_member(struct req *r, struct user *u, char role[16], struct invite *inv)
{
    struct store *st = r->srv->store;
    char ref[sizeof r->params[1]];
    util_strlcpy(ref, r->params[1], sizeof ref);
    for (char *p = ref; *p; p++) /* emails are stored lower-cased */
        *p = (char)tolower((unsigned char)*p);
    int64_t id;
    memset(inv, 0, sizeof *inv);
    int rc = util_parse_i64(ref, &id) == 0 ? store_user_get(st, id, u)
                                           : store_user_by_email(st, ref, u);
    if (rc == STORE_OK)
        rc = store_member_role(st, r->who.org_id, u->id, role);
    if (rc == STORE_NOTFOUND && u->id &&
        store_invite_pending(st, r->who.org_id, u->id, util_now(), inv) == STORE_OK) {
        util_strlcpy(role, inv->role, 16);
        rc = STORE_OK;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "user:%s", ref);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "member not found: %s", ref);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "member");
        return -1;
    }
    if (!inv->id) /* an invitee stays known by the reference given */
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
    struct user u = {0};
    struct invite inv;
    char old[16];
    if (!b || req_only_fields(r, b, fields) < 0 || read_role(r, b, 1, &role) < 0 ||
        find_member(r, &u, old, &inv) < 0)
        return;
    r->audit_detail = json_pack("{s:s, s:s}", "from", old, "to", access_role_name(role));
    if (!inv.id && role != ROLE_ADMIN && !keeps_an_admin(r, old))
        return;
    struct store *st = r->srv->store;
    int rc = inv.id ? store_invite_set_role(st, inv.id, access_role_name(role))
                    : store_member_set_role(st, r->who.org_id, u.id, access_role_name(role));
    if (rc != STORE_OK) {
        api_store_error(r, rc, "member");
        return;
    }
    http_reply_json(r, 200, member_json(&u, access_role_name(role), inv.id ? &inv : NULL));
}

/* Removes a member, or withdraws a pending invitation. */
void api_member_remove(struct req *r)
{
    struct user u = {0};
    struct invite inv;
    char old[16];
    if (find_member(r, &u, old, &inv) < 0 || (!inv.id && !keeps_an_admin(r, old)))
        return;
    struct store *st = r->srv->store;
    int rc = inv.id ? store_invite_void(st, inv.id, util_now())
                    : store_member_remove(st, r->who.org_id, u.id);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "member");
        return;
    }
    http_reply_empty(r, 204);
}

/* ---- the caller's invitations (any account; accepting needs a session;
 * a token bound to one organization sees none) ---- */

/* {id, org: {id, name}, role, invited_by, created_at, expires_at} */
static void invite_item(void *arg, const struct invite_row *inv)
{
    struct jw *w = arg;
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, inv->id);
    jw_key(w, "org");
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, inv->org_id);
    jw_key(w, "name");
    jw_str(w, inv->org_name);
    jw_obj_end(w);
    jw_key(w, "role");
    jw_str(w, inv->role);
    jw_key(w, "invited_by");
    jw_str(w, inv->invited_by);
    jw_key(w, "created_at");
    api_time_write(w, inv->created_at);
    jw_key(w, "expires_at");
    api_time_write(w, inv->expires_at);
    jw_obj_end(w);
}

void api_invites_list(struct req *r)
{
    struct jw *w = http_json(r);
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    /* a token bound to an org sees none: its account is in that org already */
    if (!r->who.token_org_id) {
        int rc = store_invites_each(r->srv->store, r->who.user_id, util_now(), invite_item, w);
        if (rc != STORE_OK) {
            api_store_error(r, rc, "invitation");
            return;
        }
    }
    jw_arr_end(w);
    jw_obj_end(w);
    http_reply_jw(r, 200);
}

/* The caller's pending invitation {id}; answers 404 and returns -1. */
static int my_invite(struct req *r, struct invite *inv)
{
    int64_t id;
    snprintf(r->audit_target, sizeof r->audit_target, "invite:%.100s", r->params[0]);
    int rc = util_parse_i64(r->params[0], &id) == 0 && !r->who.token_org_id
                 ? store_invite_get(r->srv->store, id, r->who.user_id, util_now(), inv)
                 : STORE_NOTFOUND;
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "invitation not found: %s", r->params[0]);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "invitation");
        return -1;
    }
    r->audit_org = inv->org_id;
    return 0;
}

/* Joining an organization is the person's own decision: it takes their
 * login session, not an API token (which a script or another tool holds). */
void api_invite_accept(struct req *r)
{
    struct store *st = r->srv->store;
    struct invite inv;
    struct org o;
    char id[32];
    if (my_invite(r, &inv) < 0)
        return;
    if (strcmp(r->who.token_kind, "session") != 0) {
        http_reply_error(r, 403, "forbidden", "accepting an invitation takes a login session "
                         "(berth login), not an API token");
        return;
    }
    int64_t now = util_now();
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "invitation");
        return;
    }
    int rc = store_invite_use(st, inv.id, now);
    if (rc == STORE_OK)
        rc = store_member_add(st, inv.org_id, r->who.user_id, inv.role, now);
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        if (rc == STORE_CONFLICT)
            http_reply_error(r, 409, "conflict", "you are already a member");
        else
            api_store_error(r, rc == STORE_NOTFOUND ? rc : STORE_ERR, "invitation");
        return;
    }
    snprintf(id, sizeof id, "%lld", (long long)inv.org_id);
    if (store_org_find(st, id, &o) != STORE_OK) {
        api_store_error(r, STORE_ERR, "organization");
        return;
    }
    r->audit_detail = json_pack("{s:s}", "role", inv.role);
    http_reply_json(r, 200, json_pack("{s:{s:I, s:s}, s:s}", "org", "id", (json_int_t)o.id,
                                      "name", o.name, "role", inv.role));
}

void api_invite_decline(struct req *r)
{
    struct invite inv;
    if (my_invite(r, &inv) < 0)
        return;
    int rc = store_invite_void(r->srv->store, inv.id, util_now());
    if (rc != STORE_OK) {
        api_store_error(r, rc, "invitation");
        return;
    }
    http_reply_empty(r, 204);
}
