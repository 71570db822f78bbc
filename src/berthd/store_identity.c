/* store_identity.c - users, organizations and memberships, API and session tokens,
 * invitations; and the lookup cache of the token and membership reads every
 * request makes (store_impl.h).
 *
 * Portable SQL through db.h (no SQLite here); the calls are in store.h.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a over a string, for the slot index. */
static unsigned slot_of(const char *s, int64_t k)
{
    uint32_t h = 2166136261u ^ (uint32_t)k;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % STORE_LOOKUP_CACHE;
}

/* ---- users ---- */

static void user_from_row(struct db_stmt *s, struct user *u)
{
    u->id = db_int(s, 0);
    db_str(s, 1, u->email, sizeof u->email);
    db_str(s, 2, u->pwhash, sizeof u->pwhash);
    db_str(s, 3, u->status, sizeof u->status);
    u->created_at = db_int(s, 4);
}

int store_user_create(struct store *st, const char *email, const char *pwhash,
                      const char *status, int64_t now, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO users (email, password_hash, status, created_at) "
                           "VALUES (?, ?, ?, ?)", "sssi", email, pwhash, status, now));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_user_get(struct store *st, int64_t id, struct user *u)
{
    struct db_stmt *s = q(st, "SELECT id, email, password_hash, status, created_at "
                              "FROM users WHERE id = ?", "i", id);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        user_from_row(s, u);
        db_done(s);
    }
    return rc;
}

int store_user_by_email(struct store *st, const char *email, struct user *u)
{
    struct db_stmt *s = q(st, "SELECT id, email, password_hash, status, created_at "
                              "FROM users WHERE email = ?", "s", email);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        user_from_row(s, u);
        db_done(s);
    }
    return rc;
}

int store_user_set_password(struct store *st, int64_t id, const char *pwhash, int64_t now)
{
    int rc = changed(st, run(st, q(st, "UPDATE users SET password_hash = ?, status = 'active' "
                                       "WHERE id = ?", "si", pwhash, id)));
    return rc == STORE_OK ? store_tokens_revoke_user(st, id, now) : rc;
}

int store_user_activate(struct store *st, int64_t id, const char *pwhash, int64_t now)
{
    int rc = changed(st, run(st, q(st, "UPDATE users SET password_hash = ?, status = 'active' "
                                       "WHERE id = ? AND status = 'invited'", "si", pwhash, id)));
    return rc == STORE_OK ? store_tokens_revoke_user(st, id, now) : rc;
}

/* ---- organizations and members ---- */

int store_org_create(struct store *st, const char *name, int64_t now, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO orgs (name, created_at) VALUES (?, ?)", "si", name, now));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_org_find(struct store *st, const char *ref, struct org *o)
{
    int64_t id;
    struct db_stmt *s;
    if (util_parse_i64(ref, &id) == 0)
        s = q(st, "SELECT id, name, created_at FROM orgs WHERE id = ?", "i", id);
    else
        s = q(st, "SELECT id, name, created_at FROM orgs WHERE name = ?", "s", ref);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        o->id = db_int(s, 0);
        db_str(s, 1, o->name, sizeof o->name);
        o->created_at = db_int(s, 2);
        db_done(s);
    }
    return rc;
}

int store_org_membership(struct store *st, const char *ref, int64_t user_id, struct org *o,
                         char role[16])
{
    struct member_slot *ms = NULL;
    if (strlen(ref) < sizeof ms->ref) {
        ms = &st->members[slot_of(ref, user_id)];
        if (db_mark_holds(st->db, &ms->at) && ms->user_id == user_id && strcmp(ms->ref, ref) == 0) {
            *o = ms->o;
            memcpy(role, ms->role, 16);
            return STORE_OK;
        }
    }
    int64_t id;
    struct db_stmt *s;
    if (util_parse_i64(ref, &id) == 0)
        s = q(st, "SELECT o.id, o.name, o.created_at, m.role FROM orgs o "
                  "LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = ? "
                  "WHERE o.id = ?", "ii", user_id, id);
    else
        s = q(st, "SELECT o.id, o.name, o.created_at, m.role FROM orgs o "
                  "LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = ? "
                  "WHERE o.name = ?", "is", user_id, ref);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        o->id = db_int(s, 0);
        db_str(s, 1, o->name, sizeof o->name);
        o->created_at = db_int(s, 2);
        db_str(s, 3, role, 16);
        db_done(s);
        if (ms && db_mark_take(st->db, &ms->at)) {
            snprintf(ms->ref, sizeof ms->ref, "%s", ref);
            ms->user_id = user_id;
            ms->o = *o;
            memcpy(ms->role, role, 16);
        }
    }
    return rc;
}

int store_orgs_of_user(struct store *st, int64_t user_id,
                       int (*fn)(void *arg, const struct org *o, const char *role), void *arg)
{
    struct db_stmt *s = q(st, "SELECT o.id, o.name, m.role, o.created_at FROM orgs o "
                              "JOIN memberships m ON m.org_id = o.id WHERE m.user_id = ? "
                              "ORDER BY o.id", "i", user_id);
    if (!s)
        return STORE_ERR;
    int rc, stop = 0;
    while (!stop && (rc = db_next(st->db, s)) == 1) {
        struct org o;
        char role[16];
        o.id = db_int(s, 0);
        db_str(s, 1, o.name, sizeof o.name);
        db_str(s, 2, role, sizeof role);
        o.created_at = db_int(s, 3);
        stop = fn(arg, &o, role);
    }
    db_done(s);
    if (stop)
        return stop;
    if (rc != 0) {
        return STORE_ERR;
    }
    return STORE_OK;
}

int store_member_role(struct store *st, int64_t org_id, int64_t user_id, char role[16])
{
    struct db_stmt *s = q(st, "SELECT role FROM memberships WHERE org_id = ? AND user_id = ?",
                          "ii", org_id, user_id);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        db_str(s, 0, role, 16);
        db_done(s);
    }
    return rc;
}

int store_member_add(struct store *st, int64_t org_id, int64_t user_id, const char *role,
                     int64_t now)
{
    return run(st, q(st, "INSERT INTO memberships (org_id, user_id, role, created_at) "
                         "VALUES (?, ?, ?, ?)", "iisi", org_id, user_id, role, now));
}

int store_member_set_role(struct store *st, int64_t org_id, int64_t user_id, const char *role)
{
    return changed(st, run(st, q(st, "UPDATE memberships SET role = ? WHERE org_id = ? AND "
                                     "user_id = ?", "sii", role, org_id, user_id)));
}

int store_member_remove(struct store *st, int64_t org_id, int64_t user_id)
{
    return changed(st, run(st, q(st, "DELETE FROM memberships WHERE org_id = ? AND user_id = ?",
                                 "ii", org_id, user_id)));
}

int store_member_count_role(struct store *st, int64_t org_id, const char *role, int64_t *n)
{
    struct db_stmt *s = q(st, "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = ?",
                          "is", org_id, role);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        *n = db_int(s, 0);
        db_done(s);
    }
    return rc;
}

/* A pending invitation: neither used nor voided, and not expired. */
#define INVITE_PENDING "used_at IS NULL AND voided_at IS NULL AND expires_at > ?"

/* A pending invitation is listed with status "invited" and no user id
 * whether or not its email has an account (that is the invitee's to tell). */
int store_members_each(struct store *st, int64_t org_id, int64_t now,
                       void (*fn)(void *arg, const struct member_row *m), void *arg)
{
    struct db_stmt *s = q(st, "SELECT u.id, u.email, m.role, u.status, m.created_at "
                                "FROM memberships m JOIN users u ON u.id = m.user_id "
                                "WHERE m.org_id = ? UNION ALL "
                                "SELECT NULL, u.email, i.role, 'invited', NULL "
                                "FROM invites i JOIN users u ON u.id = i.user_id "
                                "WHERE i.org_id = ? AND " INVITE_PENDING " AND NOT EXISTS "
                                "(SELECT 1 FROM memberships m WHERE m.org_id = i.org_id AND "
                              "m.user_id = i.user_id) ORDER BY 2",
                          "iii", org_id, org_id, now);
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct member_row m = {
            .user_id = db_int(s, 0), .email = db_text(s, 1), .role = db_text(s, 2),
            .status = db_text(s, 3), .joined_at = db_int(s, 4),
        };
        fn(arg, &m);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_user_roles(struct store *st, int64_t user_id, char roles[][16], int max, int *n)
{
    struct db_stmt *s = q(st, "SELECT role FROM memberships WHERE user_id = ?", "i", user_id);
    if (!s)
        return STORE_ERR;
    int rc, k = 0;
    while ((rc = db_next(st->db, s)) == 1 && k < max)
        db_str(s, 0, roles[k++], 16);
    db_done(s);
    *n = k;
    return rc >= 0 ? STORE_OK : STORE_ERR;
}

/* ---- tokens ---- */

int store_token_create(struct store *st, const struct token *t, const char *hash,
                       const char *prefix, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO tokens (user_id, kind, name, hash, prefix, scopes, "
                           "org_id, created_at, expires_at, parent_id) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "isssssziiz", t->user_id, t->kind, t->name, hash, prefix, t->scopes,
                       t->org_id, t->created_at, t->expires_at, t->parent_id));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_token_by_hash(struct store *st, const char *hash, struct token *t, struct user *u)
{
    struct token_slot *ts = NULL;
    if (strlen(hash) < sizeof ts->hash) {
        ts = &st->tokens[slot_of(hash, 0)];
        if (db_mark_holds(st->db, &ts->at) && strcmp(ts->hash, hash) == 0) {
            *t = ts->t;
            memset(u, 0, sizeof *u);
            u->id = ts->user_id;
            memcpy(u->email, ts->email, sizeof u->email);
            memcpy(u->status, ts->status, sizeof u->status);
            return STORE_OK;
        }
    }
    struct db_stmt *s = q(st, "SELECT t.id, t.user_id, t.kind, t.name, t.scopes, "
                              "COALESCE(t.org_id, 0), t.created_at, t.expires_at, "
                              "COALESCE(t.revoked_at, 0), u.email, u.status "
                              "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                          "s", hash);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    t->id = db_int(s, 0);
    t->user_id = db_int(s, 1);
    db_str(s, 2, t->kind, sizeof t->kind);
    db_str(s, 3, t->name, sizeof t->name);
    db_str(s, 4, t->scopes, sizeof t->scopes);
    t->org_id = db_int(s, 5);
    t->created_at = db_int(s, 6);
    t->expires_at = db_int(s, 7);
    t->revoked_at = db_int(s, 8);
    memset(u, 0, sizeof *u);
    u->id = t->user_id;
    db_str(s, 9, u->email, sizeof u->email);
    db_str(s, 10, u->status, sizeof u->status);
    db_done(s);
    if (ts && db_mark_take(st->db, &ts->at)) {
        snprintf(ts->hash, sizeof ts->hash, "%s", hash);
        ts->t = *t;
        ts->user_id = u->id;
        memcpy(ts->email, u->email, sizeof ts->email);
        memcpy(ts->status, u->status, sizeof ts->status);
    }
    return STORE_OK;
}

/* One statement revokes the token and every live token minted from it,
 * at any depth (tokens mint only tokens of their own user). A revoked
 * token's descendants are revoked with it, so a root already revoked
 * changes nothing and answers NOTFOUND. The write moves
 * the db_mark, which empties the token lookup cache. */
int store_token_revoke(struct store *st, int64_t id, int64_t user_id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL "
                                     "AND id IN (WITH RECURSIVE tree(id) AS ("
                                     "SELECT id FROM tokens WHERE id = ? AND user_id = ? "
                                     "AND revoked_at IS NULL UNION "
                                     "SELECT t.id FROM tokens t JOIN tree ON t.parent_id = tree.id"
                                     ") SELECT id FROM tree)",
                                 "iii", now, id, user_id)));
}

int store_tokens_revoke_user(struct store *st, int64_t user_id, int64_t now)
{
    return run(st, q(st, "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND "
                         "revoked_at IS NULL", "ii", now, user_id));
}

int store_tokens_each(struct store *st, int64_t user_id,
                      void (*fn)(void *arg, const struct token_row *t), void *arg)
{
    struct db_stmt *s = q(st, "SELECT id, name, prefix, scopes, org_id, created_at, expires_at "
                              "FROM tokens WHERE user_id = ? AND kind = 'api' AND "
                              "revoked_at IS NULL ORDER BY id", "i", user_id);
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct token_row t = {
            .id = db_int(s, 0), .name = db_text(s, 1), .prefix = db_text(s, 2),
            .scopes = db_text(s, 3), .org_id = db_int(s, 4), .created_at = db_int(s, 5),
            .expires_at = db_int(s, 6),
        };
        fn(arg, &t);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

/* ---- invitations ---- */

#define INVITE_COLS                                                                 \
    "SELECT id, org_id, user_id, role, expires_at, COALESCE(used_at, 0), "          \
    "COALESCE(voided_at, 0) FROM invites "

int store_invite_create(struct store *st, int64_t org_id, int64_t user_id, const char *role,
                        const char *hash, int64_t created_by, int64_t now,
                        int64_t expires_at, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO invites (org_id, user_id, role, hash, created_by, "
                           "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       "iissiii", org_id, user_id, role, hash, created_by, now, expires_at));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

static int invite_row(struct store *st, struct db_stmt *s, struct invite *inv)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    inv->id = db_int(s, 0);
    inv->org_id = db_int(s, 1);
    inv->user_id = db_int(s, 2);
    db_str(s, 3, inv->role, sizeof inv->role);
    inv->expires_at = db_int(s, 4);
    inv->used_at = db_int(s, 5);
    inv->voided_at = db_int(s, 6);
    db_done(s);
    return STORE_OK;
}

int store_invite_by_hash(struct store *st, const char *hash, struct invite *inv)
{
    return invite_row(st, q(st, INVITE_COLS "WHERE hash = ?", "s", hash), inv);
}

int store_invite_get(struct store *st, int64_t id, int64_t user_id, int64_t now,
                     struct invite *inv)
{
    return invite_row(st, q(st, INVITE_COLS "WHERE id = ? AND user_id = ? AND " INVITE_PENDING,
                            "iii", id, user_id, now), inv);
}

int store_invite_pending(struct store *st, int64_t org_id, int64_t user_id, int64_t now,
                         struct invite *inv)
{
    return invite_row(st, q(st, INVITE_COLS "WHERE org_id = ? AND user_id = ? AND " INVITE_PENDING
                                " ORDER BY id DESC LIMIT 1", "iii", org_id, user_id, now), inv);
}

int store_invite_use(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE invites SET used_at = ? WHERE id = ? AND "
                                     INVITE_PENDING, "iii", now, id, now)));
}

int store_invite_void(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE invites SET voided_at = ? WHERE id = ? AND "
                                     "used_at IS NULL AND voided_at IS NULL", "ii", now, id)));
}

int store_invites_void_org_user(struct store *st, int64_t org_id, int64_t user_id, int64_t now)
{
    return run(st, q(st, "UPDATE invites SET voided_at = ? WHERE org_id = ? AND user_id = ? AND "
                         "used_at IS NULL AND voided_at IS NULL", "iii", now, org_id, user_id));
}

int store_invites_void_others(struct store *st, int64_t user_id, int64_t keep_id, int64_t now)
{
    return run(st, q(st, "UPDATE invites SET voided_at = ? WHERE user_id = ? AND id <> ? AND "
                         "used_at IS NULL AND voided_at IS NULL", "iii", now, user_id, keep_id));
}

int store_invite_set_role(struct store *st, int64_t id, const char *role)
{
    return changed(st, run(st, q(st, "UPDATE invites SET role = ? WHERE id = ?", "si", role, id)));
}

int store_invites_each(struct store *st, int64_t user_id, int64_t now,
                       void (*fn)(void *arg, const struct invite_row *inv), void *arg)
{
    struct db_stmt *s = q(st, "SELECT i.id, o.id, o.name, i.role, u.email, i.created_at, "
                              "i.expires_at FROM invites i JOIN orgs o ON o.id = i.org_id "
                              "LEFT JOIN users u ON u.id = i.created_by "
                              "WHERE i.user_id = ? AND " INVITE_PENDING " ORDER BY i.id",
                          "ii", user_id, now);
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct invite_row inv = {
            .id = db_int(s, 0), .org_id = db_int(s, 1), .org_name = db_text(s, 2),
            .role = db_text(s, 3), .invited_by = db_text(s, 4), .created_at = db_int(s, 5),
            .expires_at = db_int(s, 6),
        };
        fn(arg, &inv);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}
