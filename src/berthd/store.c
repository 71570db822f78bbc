/* store.c - store.h's table functions, written on db.h.
 *
 * No SQLite here: db.c owns the connection, the statement cache and the
 * migrations; this file writes portable SQL and reads rows through db.h.
 */
#include "store.h"
#include "db.h"
#include "jsonx.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)STORE_OK == (int)DB_OK && (int)STORE_ERR == (int)DB_ERR &&
                   (int)STORE_NOTFOUND == (int)DB_NOTFOUND &&
                   (int)STORE_CONFLICT == (int)DB_CONFLICT,
               "store.h's codes pass db.h's through");

/* Recent answers to the two lookups every API request makes (the bearer
 * token, and on organization routes the caller's membership;
 * store_identity.c). An entry holds only while nothing has been written
 * through this connection since it was filled (db_mark: rows changed and
 * transaction boundaries). berthd is the database's only writer
 * (EXCLUSIVE locking, one connection), so a revoked token, a disabled user
 * or a changed role is never served from here. Entries are neither filled
 * nor used inside a transaction. */
#define STORE_LOOKUP_CACHE 64

struct token_slot {
    struct db_mark at;
    char hash[80];
    struct token t;
    int64_t user_id;
    char email[256], status[16];
};

struct member_slot {
    struct db_mark at;
    char ref[128];
    int64_t user_id;
    struct org o;
    char role[16];
};

struct store {
    struct db *db;
    struct token_slot tokens[STORE_LOOKUP_CACHE];
    struct member_slot members[STORE_LOOKUP_CACHE];
};

/* The statement helpers: prepare and bind (db_q's format), run a statement
 * without rows, step to one row, and NOTFOUND when a run changed no row. */
static struct db_stmt *q(struct store *st, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct db_stmt *s = db_vq(st->db, sql, fmt, ap);
    va_end(ap);
    return s;
}

static int run(struct store *st, struct db_stmt *s) { return db_run(st->db, s); }

static int row(struct store *st, struct db_stmt *s) { return db_row(st->db, s); }

static int changed(struct store *st, int rc)
{
    if (rc == STORE_OK && db_changes(st->db) == 0)
        return STORE_NOTFOUND;
    return rc;
}

static json_t *col_json_str(struct db_stmt *s, int i)
{
    const char *v = db_text(s, i);
    return v ? json_string(v) : json_null();
}

static json_t *col_json_time(struct db_stmt *s, int i)
{
    if (db_null(s, i))
        return json_null();
    char t[32];
    util_iso8601(db_int(s, i), t, sizeof t);
    return json_string(t);
}

/* Collects rows of s into a JSON array with build(). */
static int collect(struct store *st, struct db_stmt *s, json_t **items,
                   json_t *(*build)(struct db_stmt *s))
{
    if (!s)
        return STORE_ERR;
    json_t *arr = json_array();
    int rc;
    while ((rc = db_next(st->db, s)) == 1)
        json_array_append_new(arr, build(s));
    db_done(s);
    if (rc != 0) {
        json_decref(arr);
        return STORE_ERR;
    }
    *items = arr;
    return STORE_OK;
}

/* Writes the rows of s as a JSON array, each with put_row(). */
static int write_rows(struct store *st, struct db_stmt *s, struct jw *w,
                      void (*put_row)(struct db_stmt *s, struct jw *w))
{
    if (!s)
        return STORE_ERR;
    int rc;
    jw_arr(w);
    while ((rc = db_next(st->db, s)) == 1)
        put_row(s, w);
    jw_arr_end(w);
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

/* "key":column i as text (null for NULL), as col_json_str gives it. */
static void w_str(struct jw *w, const char *key, struct db_stmt *s, int i)
{
    jw_key(w, key);
    jw_str(w, db_text(s, i));
}

/* "key":column i as an ISO-8601 time (null for NULL), as col_json_time. */
static void w_time(struct jw *w, const char *key, struct db_stmt *s, int i)
{
    jw_key(w, key);
    if (db_null(s, i)) {
        jw_null(w);
        return;
    }
    char t[32];
    util_iso8601(db_int(s, i), t, sizeof t);
    jw_str(w, t);
}

int store_open(const char *data_dir, const char *url, struct store **out, char *err,
               size_t errlen)
{
    char path[2048];
    if (url && *url) {
        if (strncmp(url, "sqlite:", 7) == 0) {
            snprintf(path, sizeof path, "%s", url + 7);
        } else if (strncmp(url, "postgres://", 11) == 0 ||
                   strncmp(url, "postgresql://", 13) == 0) {
            snprintf(err, errlen, "the PostgreSQL store is not built yet; use SQLite "
                                  "(omit --db)");
            return STORE_ERR;
        } else {
            snprintf(err, errlen, "unsupported database URL (want sqlite:PATH)");
            return STORE_ERR;
        }
    } else {
        snprintf(path, sizeof path, "%s/berth.db", data_dir);
    }
    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERR;
    }
    if (db_open(path, &st->db, err, errlen) != DB_OK) {
        free(st);
        return STORE_ERR;
    }
    *out = st;
    return STORE_OK;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    db_free(st->db);
    free(st);
}

const char *store_errmsg(struct store *st) { return db_errmsg(st->db); }

int store_begin(struct store *st) { return db_begin(st->db); }

int store_commit(struct store *st) { return db_commit(st->db); }

void store_rollback(struct store *st) { db_rollback(st->db); }

int store_migrate(struct store *st) { return db_migrate(st->db); }

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

static void member_row(struct db_stmt *s, struct jw *w)
{
    jw_obj(w);
    jw_key(w, "user_id");
    if (db_null(s, 0))
        jw_null(w);
    else
        jw_int(w, db_int(s, 0));
    w_str(w, "email", s, 1);
    w_str(w, "role", s, 2);
    w_str(w, "status", s, 3);
    w_time(w, "joined_at", s, 4);
    jw_obj_end(w);
}

/* A pending invitation: neither used nor voided, and not expired. */
#define INVITE_PENDING "used_at IS NULL AND voided_at IS NULL AND expires_at > ?"

/* A pending invitation is listed with status "invited" and no user id
 * whether or not its email has an account (that is the invitee's to tell). */
int store_members_write(struct store *st, int64_t org_id, int64_t now, struct jw *w)
{
    return write_rows(st, q(st, "SELECT u.id, u.email, m.role, u.status, m.created_at "
                                "FROM memberships m JOIN users u ON u.id = m.user_id "
                                "WHERE m.org_id = ? UNION ALL "
                                "SELECT NULL, u.email, i.role, 'invited', NULL "
                                "FROM invites i JOIN users u ON u.id = i.user_id "
                                "WHERE i.org_id = ? AND " INVITE_PENDING " AND NOT EXISTS "
                                "(SELECT 1 FROM memberships m WHERE m.org_id = i.org_id AND "
                                "m.user_id = i.user_id) ORDER BY 2",
                            "iii", org_id, org_id, now),
                      w, member_row);
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

static json_t *token_row(struct db_stmt *s)
{
    json_t *scopes = json_array();
    char buf[512];
    db_str(s, 3, buf, sizeof buf);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save))
        json_array_append_new(scopes, json_string(tok));
    json_t *org = db_null(s, 4)
                      ? json_null()
                      : json_integer(db_int(s, 4));
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)db_int(s, 0), "name", col_json_str(s, 1),
                     "prefix", col_json_str(s, 2), "scopes", scopes, "org", org,
                     "created_at", col_json_time(s, 5), "expires_at", col_json_time(s, 6));
}

int store_tokens_list(struct store *st, int64_t user_id, json_t **items)
{
    return collect(st, q(st, "SELECT id, name, prefix, scopes, org_id, created_at, expires_at "
                             "FROM tokens WHERE user_id = ? AND kind = 'api' AND "
                             "revoked_at IS NULL ORDER BY id", "i", user_id),
                   items, token_row);
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

static void invite_item(struct db_stmt *s, struct jw *w)
{
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, db_int(s, 0));
    jw_key(w, "org");
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, db_int(s, 1));
    w_str(w, "name", s, 2);
    jw_obj_end(w);
    w_str(w, "role", s, 3);
    w_str(w, "invited_by", s, 4);
    w_time(w, "created_at", s, 5);
    w_time(w, "expires_at", s, 6);
    jw_obj_end(w);
}

int store_invites_write(struct store *st, int64_t user_id, int64_t now, struct jw *w)
{
    return write_rows(st, q(st, "SELECT i.id, o.id, o.name, i.role, u.email, i.created_at, "
                                "i.expires_at FROM invites i JOIN orgs o ON o.id = i.org_id "
                                "LEFT JOIN users u ON u.id = i.created_by "
                                "WHERE i.user_id = ? AND " INVITE_PENDING " ORDER BY i.id",
                            "ii", user_id, now),
                      w, invite_item);
}

/* ---- audit ---- */

int store_audit_append(struct store *st, const struct audit_entry *e)
{
    return run(st, q(st, "INSERT INTO audit (org_id, at, actor_id, actor_email, token_id, "
                         "action, target, outcome, status, ip, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "zizszsssiss", e->org_id, e->at, e->actor_id, e->actor_email,
                     e->token_id, e->action, e->target, e->outcome, (int64_t)e->status,
                     e->ip, e->detail));
}

static json_t *audit_row(struct db_stmt *s)
{
    json_t *actor = db_null(s, 2)
                        ? json_null()
                        : json_pack("{s:I, s:o}", "id",
                                    (json_int_t)db_int(s, 2), "email",
                                    col_json_str(s, 3));
    json_t *detail = json_null();
    const char *d = db_text(s, 9);
    if (d) {
        json_t *parsed = json_loads(d, 0, NULL);
        if (parsed) {
            json_decref(detail);
            detail = parsed;
        }
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
                     (json_int_t)db_int(s, 0), "at", col_json_time(s, 1),
                     "actor", actor, "action", col_json_str(s, 4), "target",
                     col_json_str(s, 5), "outcome", col_json_str(s, 6), "status",
                     (json_int_t)db_int(s, 7), "ip", col_json_str(s, 8),
                     "detail", detail);
}

int store_audit_list(struct store *st, const struct audit_filter *f, json_t **items,
                     int64_t *next_cursor)
{
    /* One statement with optional filters: a NULL/0 parameter disables its
     * condition, so the plan is cached once. */
    static const char *sql =
        "SELECT id, at, actor_id, actor_email, action, target, outcome, status, ip, detail "
        "FROM audit WHERE org_id = ? "
        "AND (? IS NULL OR actor_email = ? OR CAST(actor_id AS TEXT) = ?) "
        "AND (? IS NULL OR action = ? OR (? IS NOT NULL AND action LIKE ?)) "
        "AND (? = 0 OR at >= ?) AND (? = 0 OR at <= ?) "
        "AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?";
    const char *prefix_like = NULL;
    char like[160];
    size_t al = f->action ? strlen(f->action) : 0;
    if (al && f->action[al - 1] == '*' && al < sizeof like) {
        memcpy(like, f->action, al - 1);
        like[al - 1] = '%';
        like[al] = '\0';
        prefix_like = like;
    }
    int limit = f->limit > 0 ? f->limit : 50;
    struct db_stmt *s = q(st, sql, "isssssssiiiiiii", f->org_id, f->actor, f->actor, f->actor,
                          f->action, f->action, prefix_like, prefix_like, f->since, f->since,
                          f->until, f->until, f->before_id, f->before_id,
                          (int64_t)limit + 1);
    json_t *arr = NULL;
    int rc = collect(st, s, &arr, audit_row);
    if (rc != STORE_OK)
        return rc;
    *next_cursor = 0;
    if (json_array_size(arr) > (size_t)limit) {
        json_array_remove(arr, (size_t)limit);
        json_t *last = json_array_get(arr, (size_t)limit - 1);
        *next_cursor = (int64_t)json_integer_value(json_object_get(last, "id"));
    }
    *items = arr;
    return STORE_OK;
}

/* ---- servers (migration 2) ----
 * The precheck document is stored as reported; whether it passed is read
 * from its "ok" field here, so both stores agree without JSON SQL. */

#define SERVER_COLS                                                                        \
    "id, org_id, name, status, status_reason, status_changed_at, created_at, "            \
    "COALESCE(last_seen_at, 0), COALESCE(decommissioned_at, 0), "                         \
    "CASE WHEN credential_hash IS NULL THEN 0 ELSE 1 END, precheck_json"

static int precheck_passed(const char *doc)
{
    if (!doc)
        return 0;
    json_t *j = json_loads(doc, 0, NULL);
    int ok = j && json_is_true(json_object_get(j, "ok"));
    json_decref(j);
    return ok;
}

static void server_from_row(struct db_stmt *s, struct server *sv)
{
    memset(sv, 0, sizeof *sv);
    sv->id = db_int(s, 0);
    sv->org_id = db_int(s, 1);
    db_str(s, 2, sv->name, sizeof sv->name);
    db_str(s, 3, sv->status, sizeof sv->status);
    db_str(s, 4, sv->status_reason, sizeof sv->status_reason);
    sv->status_changed_at = db_int(s, 5);
    sv->created_at = db_int(s, 6);
    sv->last_seen_at = db_int(s, 7);
    sv->decommissioned_at = db_int(s, 8);
    sv->registered = (int)db_int(s, 9);
    sv->precheck_ok = precheck_passed(db_text(s, 10));
}

static int server_one(struct store *st, struct db_stmt *s, struct server *sv)
{
    int rc = row(st, s);
    if (rc == STORE_OK) {
        server_from_row(s, sv);
        db_done(s);
    }
    return rc;
}

int store_server_create(struct store *st, int64_t org_id, const char *name, int64_t now,
                        int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO servers (org_id, name, status, status_reason, "
                           "status_changed_at, created_at) VALUES (?, ?, 'PROVISIONING', "
                           "'waiting for the runner to register', ?, ?)",
                       "isii", org_id, name, now, now));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_server_find(struct store *st, int64_t org_id, const char *ref, struct server *sv)
{
    int64_t id;
    if (util_parse_i64(ref, &id) == 0)
        return server_one(st, q(st, "SELECT " SERVER_COLS " FROM servers WHERE id = ? AND "
                                    "org_id = ?", "ii", id, org_id), sv);
    return server_one(st, q(st, "SELECT " SERVER_COLS " FROM servers WHERE name = ? AND "
                                "org_id = ?", "si", ref, org_id), sv);
}

int store_server_get(struct store *st, int64_t id, struct server *sv)
{
    return server_one(st, q(st, "SELECT " SERVER_COLS " FROM servers WHERE id = ?", "i", id),
                      sv);
}

int store_server_by_credential(struct store *st, const char *hash, struct server *sv)
{
    return server_one(st, q(st, "SELECT " SERVER_COLS " FROM servers WHERE credential_hash = ?",
                            "s", hash), sv);
}

static json_t *server_row(struct db_stmt *s)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)db_int(s, 0), "name", col_json_str(s, 1),
                     "status", col_json_str(s, 2), "status_reason", col_json_str(s, 3),
                     "status_changed_at", col_json_time(s, 4), "created_at",
                     col_json_time(s, 5), "last_seen_at", col_json_time(s, 6),
                     "decommissioned_at", col_json_time(s, 7));
}

int store_servers_list(struct store *st, int64_t org_id, json_t **items)
{
    return collect(st, q(st, "SELECT id, name, status, status_reason, status_changed_at, "
                             "created_at, last_seen_at, decommissioned_at FROM servers "
                             "WHERE org_id = ? ORDER BY id", "i", org_id), items, server_row);
}

static json_t *col_json_doc(struct db_stmt *s, int i)
{
    const char *v = db_text(s, i);
    return v ? json_loads(v, 0, NULL) : NULL;
}

int store_server_docs(struct store *st, int64_t id, json_t **metrics, json_t **fingerprint,
                      json_t **precheck)
{
    struct db_stmt *s = q(st, "SELECT metrics_json, fingerprint_json, precheck_json FROM servers "
                              "WHERE id = ?", "i", id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *metrics = col_json_doc(s, 0);
    *fingerprint = col_json_doc(s, 1);
    *precheck = col_json_doc(s, 2);
    db_done(s);
    return STORE_OK;
}

int store_server_rename(struct store *st, int64_t id, const char *name)
{
    return changed(st, run(st, q(st, "UPDATE servers SET name = ? WHERE id = ?", "si", name,
                                 id)));
}

int store_server_set_status(struct store *st, int64_t id, const char *status,
                            const char *reason, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE servers SET status = ?, status_reason = ?, "
                                     "status_changed_at = ? WHERE id = ? AND "
                                     "decommissioned_at IS NULL",
                                 "ssii", status, reason, now, id)));
}

int store_server_set_credential(struct store *st, int64_t id, const char *hash)
{
    return changed(st, run(st, q(st, "UPDATE servers SET credential_hash = ? WHERE id = ? AND "
                                     "decommissioned_at IS NULL", "si", hash, id)));
}

int store_server_decommission(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE servers SET status = 'DECOMMISSIONED', "
                                     "status_reason = 'decommissioned', status_changed_at = ?, "
                                     "decommissioned_at = ? WHERE id = ? AND "
                                     "decommissioned_at IS NULL", "iii", now, now, id)));
}

int store_server_delete(struct store *st, int64_t id)
{
    int rc = run(st, q(st, "DELETE FROM job_logs WHERE job_id IN (SELECT id FROM jobs WHERE "
                           "server_id = ?)", "i", id));
    if (rc == STORE_OK)
        rc = run(st, q(st, "DELETE FROM jobs WHERE server_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = run(st, q(st, "DELETE FROM registration_tokens WHERE server_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = changed(st, run(st, q(st, "DELETE FROM servers WHERE id = ?", "i", id)));
    return rc;
}

int store_server_set_snapshot(struct store *st, int64_t id, int64_t last_seen,
                              const char *metrics_json)
{
    return run(st, q(st, "UPDATE servers SET last_seen_at = ?, metrics_json = "
                         "COALESCE(?, metrics_json) WHERE id = ?",
                     "isi", last_seen, metrics_json, id));
}

int store_server_set_fingerprint(struct store *st, int64_t id, const char *json)
{
    return run(st, q(st, "UPDATE servers SET fingerprint_json = ? WHERE id = ?", "si", json, id));
}

int store_server_set_precheck(struct store *st, int64_t id, const char *json)
{
    return run(st, q(st, "UPDATE servers SET precheck_json = ? WHERE id = ?", "si", json, id));
}

int store_servers_each(struct store *st, const char *status,
                       void (*fn)(void *arg, const struct server *sv), void *arg)
{
    struct db_stmt *s = q(st, "SELECT " SERVER_COLS " FROM servers WHERE status = ?", "s", status);
    if (!s)
        return STORE_ERR;
    int rc;
    struct server sv;
    while ((rc = db_next(st->db, s)) == 1) {
        server_from_row(s, &sv);
        fn(arg, &sv);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_regtoken_create(struct store *st, int64_t server_id, const char *hash, int64_t now,
                          int64_t expires_at)
{
    return run(st, q(st, "INSERT INTO registration_tokens (hash, server_id, created_at, "
                         "expires_at) VALUES (?, ?, ?, ?)", "siii", hash, server_id, now,
                     expires_at));
}

int store_regtoken_by_hash(struct store *st, const char *hash, struct regtoken *t)
{
    struct db_stmt *s = q(st, "SELECT id, server_id, expires_at, COALESCE(used_at, 0) FROM "
                              "registration_tokens WHERE hash = ?", "s", hash);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    t->id = db_int(s, 0);
    t->server_id = db_int(s, 1);
    t->expires_at = db_int(s, 2);
    t->used_at = db_int(s, 3);
    db_done(s);
    return STORE_OK;
}

int store_regtoken_claim(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE registration_tokens SET used_at = ? WHERE id = ? "
                                     "AND used_at IS NULL AND expires_at > ?", "iii", now, id,
                                 now)));
}

int store_regtoken_release(struct store *st, int64_t id, int64_t claimed_at)
{
    return changed(st, run(st, q(st, "UPDATE registration_tokens SET used_at = NULL WHERE "
                                     "id = ? AND used_at = ?", "ii", id, claimed_at)));
}

/* ---- scripts ---- */

void store_script_release(struct script *s)
{
    free(s->body);
    s->body = NULL;
}

int store_script_create(struct store *st, int64_t org_id, const char *name, const char *body,
                        int64_t now, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO scripts (org_id, name, body, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?, ?)", "issii", org_id, name, body, now, now));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_script_find(struct store *st, int64_t org_id, const char *ref, struct script *sc)
{
    int64_t id;
    struct db_stmt *s;
    if (util_parse_i64(ref, &id) == 0)
        s = q(st, "SELECT id, org_id, name, body, created_at, updated_at FROM scripts "
                  "WHERE id = ? AND org_id = ?", "ii", id, org_id);
    else
        s = q(st, "SELECT id, org_id, name, body, created_at, updated_at FROM scripts "
                  "WHERE name = ? AND org_id = ?", "si", ref, org_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    memset(sc, 0, sizeof *sc);
    sc->id = db_int(s, 0);
    sc->org_id = db_int(s, 1);
    db_str(s, 2, sc->name, sizeof sc->name);
    const char *b = db_text(s, 3);
    sc->body = strdup(b ? b : "");
    sc->created_at = db_int(s, 4);
    sc->updated_at = db_int(s, 5);
    db_done(s);
    return sc->body ? STORE_OK : STORE_ERR;
}

static json_t *script_row(struct db_stmt *s)
{
    return json_pack("{s:I, s:o, s:I, s:o, s:o}", "id", (json_int_t)db_int(s, 0),
                     "name", col_json_str(s, 1), "size", (json_int_t)db_int(s, 2),
                     "created_at", col_json_time(s, 3), "updated_at", col_json_time(s, 4));
}

int store_scripts_list(struct store *st, int64_t org_id, json_t **items)
{
    return collect(st, q(st, "SELECT id, name, LENGTH(body), created_at, updated_at FROM "
                             "scripts WHERE org_id = ? ORDER BY name", "i", org_id),
                   items, script_row);
}

int store_script_update(struct store *st, int64_t id, const char *name, const char *body,
                        int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE scripts SET name = COALESCE(?, name), body = "
                                     "COALESCE(?, body), updated_at = ? WHERE id = ?",
                                 "ssii", name, body, now, id)));
}

int store_script_delete(struct store *st, int64_t id)
{
    return changed(st, run(st, q(st, "DELETE FROM scripts WHERE id = ?", "i", id)));
}

/* ---- jobs ---- */

const char *const store_job_status_names[JOB_NSTATUS] = {"PENDING", "RUNNING", "SUCCEEDED",
                                                          "FAILED"};

void store_job_release(struct job *j)
{
    free(j->spec_json);
    j->spec_json = NULL;
}

int store_job_create(struct store *st, const struct job *j, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO jobs (org_id, server_id, kind, spec_json, status, "
                           "created_at, created_by) VALUES (?, ?, ?, ?, 'PENDING', ?, ?)",
                       "iissiz", j->org_id, j->server_id, j->kind, j->spec_json, j->created_at,
                       j->created_by));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

#define JOB_COLS                                                                           \
    "id, org_id, server_id, kind, spec_json, status, exit_code, error, created_at, "       \
    "COALESCE(started_at, 0), COALESCE(finished_at, 0), COALESCE(created_by, 0)"

static int job_from_row(struct db_stmt *s, struct job *j)
{
    memset(j, 0, sizeof *j);
    j->id = db_int(s, 0);
    j->org_id = db_int(s, 1);
    j->server_id = db_int(s, 2);
    db_str(s, 3, j->kind, sizeof j->kind);
    const char *spec = db_text(s, 4);
    j->spec_json = strdup(spec ? spec : "{}");
    db_str(s, 5, j->status, sizeof j->status);
    j->has_exit = !db_null(s, 6);
    j->exit_code = (int)db_int(s, 6);
    db_str(s, 7, j->error, sizeof j->error);
    j->created_at = db_int(s, 8);
    j->started_at = db_int(s, 9);
    j->finished_at = db_int(s, 10);
    j->created_by = db_int(s, 11);
    return j->spec_json ? 0 : -1;
}

int store_job_get(struct store *st, int64_t org_id, int64_t id, struct job *j)
{
    struct db_stmt *s = q(st, "SELECT " JOB_COLS " FROM jobs WHERE id = ? AND (? = 0 OR "
                              "org_id = ?)", "iii", id, org_id, org_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    int bad = job_from_row(s, j);
    db_done(s);
    return bad ? STORE_ERR : STORE_OK;
}

int store_job_start(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE jobs SET status = 'RUNNING', started_at = ? "
                                     "WHERE id = ? AND status = 'PENDING'", "ii", now, id)));
}

int store_job_finish(struct store *st, int64_t id, const char *status, int exit_code,
                     const char *error, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE jobs SET status = ?, exit_code = ?, error = ?, "
                                     "started_at = COALESCE(started_at, ?), finished_at = ? "
                                     "WHERE id = ? AND status IN ('PENDING', 'RUNNING')",
                                 "sisiii", status, (int64_t)exit_code, error, now, now, id)));
}

int store_jobs_pending(struct store *st, int64_t server_id,
                       void (*fn)(void *arg, const struct job *j), void *arg)
{
    struct db_stmt *s = q(st, "SELECT " JOB_COLS " FROM jobs WHERE server_id = ? AND "
                              "status = 'PENDING' ORDER BY id", "i", server_id);
    if (!s)
        return STORE_ERR;
    int rc;
    struct job j;
    while ((rc = db_next(st->db, s)) == 1) {
        if (job_from_row(s, &j) == 0)
            fn(arg, &j);
        store_job_release(&j);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_jobs_count(struct store *st, int64_t counts[JOB_NSTATUS])
{
    struct db_stmt *s = q(st, "SELECT status, COUNT(*) FROM jobs GROUP BY status", "");
    if (!s)
        return STORE_ERR;
    for (int i = 0; i < JOB_NSTATUS; i++)
        counts[i] = 0;
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        const char *name = db_text(s, 0);
        for (int i = 0; name && i < JOB_NSTATUS; i++)
            if (strcmp(name, store_job_status_names[i]) == 0)
                counts[i] = db_int(s, 1);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

static json_t *job_row(struct db_stmt *s)
{
    json_t *exit_code = db_null(s, 4)
                            ? json_null()
                            : json_integer(db_int(s, 4));
    return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)db_int(s, 0), "server_id",
                     (json_int_t)db_int(s, 1), "kind", col_json_str(s, 2),
                     "status", col_json_str(s, 3), "exit_code", exit_code, "created_at",
                     col_json_time(s, 5), "started_at", col_json_time(s, 6), "finished_at",
                     col_json_time(s, 7));
}

int store_jobs_list(struct store *st, int64_t org_id, int64_t server_id, int limit,
                    json_t **items)
{
    return collect(st, q(st, "SELECT id, server_id, kind, status, exit_code, created_at, "
                             "started_at, finished_at FROM jobs WHERE org_id = ? AND "
                             "(? = 0 OR server_id = ?) ORDER BY id DESC LIMIT ?",
                         "iiii", org_id, server_id, server_id, (int64_t)limit),
                   items, job_row);
}

#define JOB_OPEN "SELECT 1 FROM jobs WHERE id = ? AND server_id = ? AND " \
                 "status IN ('PENDING', 'RUNNING')"

int store_job_log_add(struct store *st, int64_t job_id, int64_t server_id, int64_t seq,
                      const char *stream, int64_t ts_ms, const char *data, size_t len,
                      int *inserted)
{
    /* One statement: a chunk lands only while its job is open (a finished
     * job's output is final). ON CONFLICT DO NOTHING: accepted by SQLite
     * >= 3.24 and PostgreSQL. */
    *inserted = 0;
    struct db_stmt *s = q(st, "INSERT INTO job_logs (job_id, seq, stream, ts, data) "
                              "SELECT ?, ?, ?, ?, ? WHERE EXISTS (" JOB_OPEN ") "
                              "ON CONFLICT DO NOTHING",
                          "iisibii", job_id, seq, stream, ts_ms, data, len, job_id, server_id);
    int rc = run(st, s);
    if (rc != STORE_OK)
        return rc;
    *inserted = db_changes(st->db) > 0;
    if (*inserted)
        return STORE_OK;
    /* a duplicate of a stored chunk, or a job that is not open */
    s = q(st, JOB_OPEN, "ii", job_id, server_id);
    rc = row(st, s);
    if (rc == STORE_OK)
        db_done(s);
    return rc;
}

int store_job_log_prefix(struct store *st, int64_t job_id, int64_t *prefix)
{
    /* The first stored seq whose successor is missing ends the prefix;
     * without seq 1 there is none. */
    struct db_stmt *s = q(st, "SELECT MIN(a.seq) FROM job_logs a WHERE a.job_id = ? AND "
                              "EXISTS (SELECT 1 FROM job_logs f WHERE f.job_id = a.job_id AND "
                              "f.seq = 1) AND NOT EXISTS (SELECT 1 FROM job_logs b WHERE "
                              "b.job_id = a.job_id AND b.seq = a.seq + 1)", "i", job_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *prefix = db_int(s, 0); /* NULL -> 0 */
    db_done(s);
    return STORE_OK;
}

int store_job_logs(struct store *st, int64_t job_id, int64_t after, int64_t upto, int limit,
                   void (*fn)(void *arg, int64_t seq, const char *stream, int64_t ts_ms,
                              const char *data, size_t len),
                   void *arg, int64_t *last)
{
    struct db_stmt *s = q(st, "SELECT seq, stream, ts, data FROM job_logs WHERE job_id = ? AND "
                              "seq > ? AND (? = 0 OR seq <= ?) ORDER BY seq LIMIT ?",
                          "iiiii", job_id, after, upto, upto, (int64_t)limit);
    if (!s)
        return STORE_ERR;
    int rc;
    *last = after;
    while ((rc = db_next(st->db, s)) == 1) {
        int64_t seq = db_int(s, 0);
        const char *stream = db_text(s, 1);
        const char *data = db_text(s, 3);
        fn(arg, seq, stream ? stream : "stdout", db_int(s, 2),
           data ? data : "", db_bytes(s, 3));
        *last = seq;
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

/* ---- applications (migration 3) ---- */

void store_app_release(struct app *a)
{
    free(a->domains_json);
    a->domains_json = NULL;
}

#define APP_COLS                                                                           \
    "id, org_id, name, server_id, repo_url, branch, dockerfile, context, container_port, " \
    "health_path, COALESCE(public_port, 0), domains, auto_deploy, restart_policy, "        \
    "COALESCE(memory, 0), COALESCE(cpus, 0), keep_images, drain_seconds, clone_timeout, "  \
    "build_timeout, health_timeout, COALESCE(current_deployment_id, 0), created_at, "      \
    "updated_at"

static int app_from_row(struct db_stmt *s, struct app *a)
{
    memset(a, 0, sizeof *a);
    a->id = db_int(s, 0);
    a->org_id = db_int(s, 1);
    db_str(s, 2, a->name, sizeof a->name);
    a->server_id = db_int(s, 3);
    db_str(s, 4, a->repo_url, sizeof a->repo_url);
    db_str(s, 5, a->branch, sizeof a->branch);
    db_str(s, 6, a->dockerfile, sizeof a->dockerfile);
    db_str(s, 7, a->context, sizeof a->context);
    a->container_port = (int)db_int(s, 8);
    db_str(s, 9, a->health_path, sizeof a->health_path);
    a->public_port = (int)db_int(s, 10);
    const char *d = db_text(s, 11);
    a->domains_json = strdup(d ? d : "[]");
    a->auto_deploy = (int)db_int(s, 12);
    db_str(s, 13, a->restart_policy, sizeof a->restart_policy);
    a->memory = db_int(s, 14);
    a->cpus = db_double(s, 15);
    a->keep_images = (int)db_int(s, 16);
    a->drain_seconds = (int)db_int(s, 17);
    a->clone_timeout = (int)db_int(s, 18);
    a->build_timeout = (int)db_int(s, 19);
    a->health_timeout = (int)db_int(s, 20);
    a->current_deployment_id = db_int(s, 21);
    a->created_at = db_int(s, 22);
    a->updated_at = db_int(s, 23);
    return a->domains_json ? 0 : -1;
}

static int app_one(struct store *st, struct db_stmt *s, struct app *a)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    int bad = app_from_row(s, a);
    db_done(s);
    return bad ? STORE_ERR : STORE_OK;
}

int store_app_create(struct store *st, const struct app *a, int64_t *id)
{
    struct db_stmt *s = q(st, "INSERT INTO apps (org_id, name, server_id, repo_url, branch, "
                              "dockerfile, context, container_port, health_path, public_port, "
                              "domains, auto_deploy, restart_policy, memory, keep_images, "
                              "drain_seconds, clone_timeout, build_timeout, health_timeout, "
                              "created_at, updated_at, cpus) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                              "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          "isissssiszsiszii" "iiiiif",
                          a->org_id, a->name, a->server_id, a->repo_url, a->branch,
                          a->dockerfile, a->context, (int64_t)a->container_port, a->health_path,
                          (int64_t)a->public_port, a->domains_json, (int64_t)a->auto_deploy,
                          a->restart_policy, a->memory, (int64_t)a->keep_images,
                          (int64_t)a->drain_seconds, (int64_t)a->clone_timeout,
                          (int64_t)a->build_timeout, (int64_t)a->health_timeout, a->created_at,
                          a->updated_at, a->cpus); /* cpus: the only REAL anywhere */
    int rc = run(st, s);
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_app_find(struct store *st, int64_t org_id, const char *ref, struct app *a)
{
    int64_t id;
    if (util_parse_i64(ref, &id) == 0)
        return app_one(st, q(st, "SELECT " APP_COLS " FROM apps WHERE id = ? AND (? = 0 OR "
                                 "org_id = ?)", "iii", id, org_id, org_id), a);
    return app_one(st, q(st, "SELECT " APP_COLS " FROM apps WHERE name = ? AND org_id = ?",
                         "si", ref, org_id), a);
}

int store_apps_each(struct store *st, int64_t org_id,
                    void (*fn)(void *arg, const struct app *a), void *arg)
{
    struct db_stmt *s = q(st, "SELECT " APP_COLS " FROM apps WHERE org_id = ? ORDER BY name",
                          "i", org_id);
    if (!s)
        return STORE_ERR;
    int rc;
    struct app a;
    while ((rc = db_next(st->db, s)) == 1) {
        if (app_from_row(s, &a) == 0)
            fn(arg, &a);
        store_app_release(&a);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_app_update(struct store *st, const struct app *a)
{
    struct db_stmt *s = q(st, "UPDATE apps SET name = ?, server_id = ?, repo_url = ?, "
                              "branch = ?, dockerfile = ?, context = ?, container_port = ?, "
                              "health_path = ?, public_port = ?, domains = ?, auto_deploy = ?, "
                              "restart_policy = ?, memory = ?, keep_images = ?, "
                              "drain_seconds = ?, clone_timeout = ?, build_timeout = ?, "
                              "health_timeout = ?, updated_at = ?, cpus = ? WHERE id = ?",
                          "sissssiszsiszii" "iiiifi",
                          a->name, a->server_id, a->repo_url, a->branch, a->dockerfile,
                          a->context, (int64_t)a->container_port, a->health_path,
                          (int64_t)a->public_port, a->domains_json, (int64_t)a->auto_deploy,
                          a->restart_policy, a->memory, (int64_t)a->keep_images,
                          (int64_t)a->drain_seconds, (int64_t)a->clone_timeout,
                          (int64_t)a->build_timeout, (int64_t)a->health_timeout, a->updated_at,
                          a->cpus, a->id);
    return changed(st, run(st, s));
}

int store_app_set_current(struct store *st, int64_t app_id, int64_t deployment_id)
{
    return changed(st, run(st, q(st, "UPDATE apps SET current_deployment_id = ? WHERE id = ?",
                                 "zi", deployment_id, app_id)));
}

int store_app_delete(struct store *st, int64_t id)
{
    int rc = run(st, q(st, "DELETE FROM deployment_steps WHERE deployment_id IN (SELECT id "
                           "FROM deployments WHERE app_id = ?)", "i", id));
    if (rc == STORE_OK)
        rc = run(st, q(st, "DELETE FROM deployments WHERE app_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = run(st, q(st, "DELETE FROM app_env WHERE app_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = changed(st, run(st, q(st, "DELETE FROM apps WHERE id = ?", "i", id)));
    return rc;
}

int store_apps_on_server(struct store *st, int64_t server_id, int64_t *n)
{
    struct db_stmt *s = q(st, "SELECT COUNT(*) FROM apps WHERE server_id = ?", "i", server_id);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        *n = db_int(s, 0);
        db_done(s);
    }
    return rc;
}

/* ---- app env (values sealed by the caller) ---- */

int store_app_env_set(struct store *st, int64_t app_id, const char *name, const char *sealed,
                      int64_t now)
{
    return run(st, q(st, "INSERT INTO app_env (app_id, name, value_sealed, updated_at) VALUES "
                         "(?, ?, ?, ?) ON CONFLICT (app_id, name) DO UPDATE SET "
                         "value_sealed = excluded.value_sealed, updated_at = "
                         "excluded.updated_at", "issi", app_id, name, sealed, now));
}

int store_app_env_unset(struct store *st, int64_t app_id, const char *name)
{
    return changed(st, run(st, q(st, "DELETE FROM app_env WHERE app_id = ? AND name = ?", "is",
                                 app_id, name)));
}

static json_t *env_row(struct db_stmt *s)
{
    return json_pack("{s:o, s:o}", "name", col_json_str(s, 0), "updated_at",
                     col_json_time(s, 1));
}

int store_app_env_list(struct store *st, int64_t app_id, json_t **items)
{
    return collect(st, q(st, "SELECT name, updated_at FROM app_env WHERE app_id = ? ORDER BY "
                             "name", "i", app_id), items, env_row);
}

int store_app_env_each(struct store *st, int64_t app_id,
                       void (*fn)(void *arg, const char *name, const char *sealed), void *arg)
{
    struct db_stmt *s = q(st, "SELECT name, value_sealed FROM app_env WHERE app_id = ? ORDER BY "
                              "name", "i", app_id);
    if (!s)
        return STORE_ERR;
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        const char *n = db_text(s, 0), *v = db_text(s, 1);
        if (n && v)
            fn(arg, n, v);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

/* ---- deployments and their steps ---- */

#define DEP_COLS                                                                           \
    "id, org_id, app_id, server_id, kind, requested_commit, resolved_commit, status, "     \
    "failed_step, reason, COALESCE(rolled_back_to, 0), COALESCE(rollback_of, 0), image, "  \
    "COALESCE(job_id, 0), cancel_requested, COALESCE(created_by, 0), created_at, "         \
    "COALESCE(started_at, 0), COALESCE(finished_at, 0)"

static void dep_from_row(struct db_stmt *s, struct deployment *d)
{
    memset(d, 0, sizeof *d);
    d->id = db_int(s, 0);
    d->org_id = db_int(s, 1);
    d->app_id = db_int(s, 2);
    d->server_id = db_int(s, 3);
    db_str(s, 4, d->kind, sizeof d->kind);
    db_str(s, 5, d->commit, sizeof d->commit);
    db_str(s, 6, d->resolved_commit, sizeof d->resolved_commit);
    db_str(s, 7, d->status, sizeof d->status);
    db_str(s, 8, d->failed_step, sizeof d->failed_step);
    db_str(s, 9, d->reason, sizeof d->reason);
    d->rolled_back_to = db_int(s, 10);
    d->rollback_of = db_int(s, 11);
    db_str(s, 12, d->image, sizeof d->image);
    d->job_id = db_int(s, 13);
    d->cancel_requested = (int)db_int(s, 14);
    d->created_by = db_int(s, 15);
    d->created_at = db_int(s, 16);
    d->started_at = db_int(s, 17);
    d->finished_at = db_int(s, 18);
}

static int dep_one(struct store *st, struct db_stmt *s, struct deployment *d)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    dep_from_row(s, d);
    db_done(s);
    return STORE_OK;
}

int store_deployment_create(struct store *st, const struct deployment *d, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO deployments (org_id, app_id, server_id, kind, "
                           "requested_commit, status, rollback_of, image, created_by, "
                           "created_at) VALUES (?, ?, ?, ?, ?, 'PENDING', ?, ?, ?, ?)",
                       "iiisszszi", d->org_id, d->app_id, d->server_id, d->kind,
                       d->commit[0] ? d->commit : NULL, d->rollback_of,
                       d->image[0] ? d->image : NULL, d->created_by, d->created_at));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_deployment_get(struct store *st, int64_t org_id, int64_t id, struct deployment *d)
{
    return dep_one(st, q(st, "SELECT " DEP_COLS " FROM deployments WHERE id = ? AND (? = 0 OR "
                             "org_id = ?)", "iii", id, org_id, org_id), d);
}

int store_deployment_by_job(struct store *st, int64_t job_id, struct deployment *d)
{
    return dep_one(st, q(st, "SELECT " DEP_COLS " FROM deployments WHERE job_id = ?", "i",
                         job_id), d);
}

int store_deployments_each(struct store *st, int64_t app_id, int limit,
                           void (*fn)(void *arg, const struct deployment *d), void *arg)
{
    struct db_stmt *s = q(st, "SELECT " DEP_COLS " FROM deployments WHERE app_id = ? ORDER BY "
                              "id DESC LIMIT ?", "ii", app_id, (int64_t)limit);
    if (!s)
        return STORE_ERR;
    int rc;
    struct deployment d;
    while ((rc = db_next(st->db, s)) == 1) {
        dep_from_row(s, &d);
        fn(arg, &d);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_deployment_active(struct store *st, int64_t app_id, struct deployment *d)
{
    return dep_one(st, q(st, "SELECT " DEP_COLS " FROM deployments WHERE app_id = ? AND "
                             "(status = 'RUNNING' OR (status = 'PENDING' AND job_id IS NOT "
                             "NULL)) ORDER BY id LIMIT 1", "i", app_id), d);
}

int store_deployment_next(struct store *st, int64_t app_id, struct deployment *d)
{
    return dep_one(st, q(st, "SELECT " DEP_COLS " FROM deployments WHERE app_id = ? AND "
                             "status = 'PENDING' AND job_id IS NULL ORDER BY id LIMIT 1", "i",
                         app_id), d);
}

int store_deployment_last_success(struct store *st, int64_t app_id, int64_t exclude_id,
                                  const char *exclude_image, struct deployment *d)
{
    /* exclude_id's content too: the same image ID under another tag (a
     * redeploy of an unchanged commit) is no step back */
    return dep_one(st, q(st, "SELECT " DEP_COLS " FROM deployments WHERE app_id = ? AND "
                             "status = 'SUCCEEDED' AND image IS NOT NULL AND id <> ? AND "
                             "image <> ? AND NOT EXISTS (SELECT 1 FROM deployments x WHERE "
                             "x.id = ? AND x.image_id IS NOT NULL AND x.image_id = "
                             "deployments.image_id) ORDER BY id DESC LIMIT 1", "iisi", app_id,
                         exclude_id, exclude_image ? exclude_image : "", exclude_id), d);
}

int store_apps_with_queue(struct store *st, void (*fn)(void *arg, int64_t app_id), void *arg)
{
    struct db_stmt *s = q(st, "SELECT DISTINCT app_id FROM deployments q WHERE status = "
                              "'PENDING' AND job_id IS NULL AND NOT EXISTS (SELECT 1 FROM "
                              "deployments a WHERE a.app_id = q.app_id AND (a.status = "
                              "'RUNNING' OR (a.status = 'PENDING' AND a.job_id IS NOT NULL)))",
                          "");
    if (!s)
        return STORE_ERR;
    /* Collect first: fn dispatches, which writes through other statements. */
    int64_t ids[256];
    int n = 0, rc;
    while ((rc = db_next(st->db, s)) == 1 && n < 256)
        ids[n++] = db_int(s, 0);
    db_done(s);
    if (rc < 0)
        return STORE_ERR;
    for (int i = 0; i < n; i++)
        fn(arg, ids[i]);
    return STORE_OK;
}

int store_deployment_dispatch(struct store *st, int64_t id, int64_t job_id, const char *image)
{
    return changed(st, run(st, q(st, "UPDATE deployments SET job_id = ?, image = ? WHERE id = ? "
                                     "AND status = 'PENDING' AND job_id IS NULL", "isi",
                                 job_id, image, id)));
}

int store_deployment_start(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE deployments SET status = 'RUNNING', started_at = ? "
                                     "WHERE id = ? AND status = 'PENDING'", "ii", now, id)));
}

int store_deployment_finish(struct store *st, int64_t id, const char *status,
                            const char *failed_step, const char *reason,
                            int64_t rolled_back_to, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE deployments SET status = ?, failed_step = ?, "
                                     "reason = ?, rolled_back_to = ?, finished_at = ? WHERE "
                                     "id = ? AND status IN ('PENDING', 'RUNNING')",
                                 "ssszii", status, failed_step, reason, rolled_back_to, now,
                                 id)));
}

int store_deployment_set_cancel(struct store *st, int64_t id)
{
    return changed(st, run(st, q(st, "UPDATE deployments SET cancel_requested = 1 WHERE id = ?",
                                 "i", id)));
}

int store_deployment_set_result(struct store *st, int64_t id, const char *resolved_commit,
                                const char *image, const char *image_id)
{
    int rc = STORE_OK;
    if (resolved_commit && *resolved_commit)
        rc = run(st, q(st, "UPDATE deployments SET resolved_commit = ? WHERE id = ?", "si",
                       resolved_commit, id));
    if (rc == STORE_OK && image && *image)
        rc = run(st, q(st, "UPDATE deployments SET image = ? WHERE id = ?", "si", image, id));
    if (rc == STORE_OK && image_id && *image_id)
        rc = run(st, q(st, "UPDATE deployments SET image_id = ? WHERE id = ?", "si", image_id, id));
    return rc;
}

int store_deploy_step(struct store *st, int64_t deployment_id, const char *step, int ord,
                      const char *status, const char *detail, int64_t at_ms)
{
    int started = strcmp(status, "started") == 0;
    return run(st, q(st, "INSERT INTO deployment_steps (deployment_id, step, ord, status, "
                         "started_at_ms, finished_at_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT (deployment_id, step) DO UPDATE SET status = CASE "
                         "WHEN excluded.status = 'started' AND deployment_steps.status <> "
                         "'started' THEN deployment_steps.status ELSE excluded.status END, "
                         "started_at_ms = COALESCE(deployment_steps."
                         "started_at_ms, excluded.started_at_ms), finished_at_ms = "
                         "COALESCE(excluded.finished_at_ms, deployment_steps.finished_at_ms), "
                         "detail = COALESCE(excluded.detail, deployment_steps.detail)",
                     "isisizs", deployment_id, step, (int64_t)ord, status, at_ms,
                     started ? (int64_t)0 : at_ms, detail));
}

static json_t *ms_time(struct db_stmt *s, int i)
{
    if (db_null(s, i))
        return json_null();
    int64_t ms = db_int(s, i);
    char t[40];
    util_iso8601(ms / 1000, t, sizeof t);
    /* 2026-11-23T19:21:00Z -> 2026-11-23T19:21:00.123Z */
    size_t l = strlen(t);
    if (l > 1 && t[l - 1] == 'Z')
        snprintf(t + l - 1, sizeof t - (l - 1), ".%03dZ", (int)(ms % 1000));
    return json_string(t);
}

static json_t *step_row(struct db_stmt *s)
{
    json_t *dur = json_null();
    if (!db_null(s, 2) && !db_null(s, 3))
        dur = json_integer(db_int(s, 3) - db_int(s, 2));
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "step", col_json_str(s, 0), "status",
                     col_json_str(s, 1), "started_at", ms_time(s, 2), "finished_at",
                     ms_time(s, 3), "duration_ms", dur, "detail", col_json_str(s, 4));
}

int store_deploy_steps(struct store *st, int64_t deployment_id, json_t **items)
{
    return collect(st, q(st, "SELECT step, status, started_at_ms, finished_at_ms, detail FROM "
                             "deployment_steps WHERE deployment_id = ? ORDER BY ord, "
                             "started_at_ms", "i", deployment_id), items, step_row);
}

/* ---- git repositories and webhook deliveries (migration 4) ---- */

void store_repo_release(struct repo *r)
{
    free(r->secret_sealed);
    free(r->deploy_key_sealed);
    free(r->gh_key_sealed);
    r->secret_sealed = r->deploy_key_sealed = r->gh_key_sealed = NULL;
}

#define REPO_COLS                                                                        \
    "id, org_id, provider, url, url_norm, webhook_secret_sealed, deploy_key_sealed, "   \
    "COALESCE(gh_app_id, 0), COALESCE(gh_installation_id, 0), gh_api_url, gh_key_sealed, " \
    "created_at, updated_at"

static void repo_from_row(struct db_stmt *s, struct repo *r)
{
    memset(r, 0, sizeof *r);
    r->id = db_int(s, 0);
    r->org_id = db_int(s, 1);
    db_str(s, 2, r->provider, sizeof r->provider);
    db_str(s, 3, r->url, sizeof r->url);
    db_str(s, 4, r->url_norm, sizeof r->url_norm);
    r->secret_sealed = db_dup(s, 5);
    r->deploy_key_sealed = db_dup(s, 6);
    r->gh_app_id = db_int(s, 7);
    r->gh_installation_id = db_int(s, 8);
    db_str(s, 9, r->gh_api_url, sizeof r->gh_api_url);
    r->gh_key_sealed = db_dup(s, 10);
    r->created_at = db_int(s, 11);
    r->updated_at = db_int(s, 12);
}

static int repo_one(struct store *st, struct db_stmt *s, struct repo *r)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    repo_from_row(s, r);
    db_done(s);
    return STORE_OK;
}

static int repos_walk(struct store *st, struct db_stmt *s,
                      void (*fn)(void *arg, const struct repo *r), void *arg)
{
    if (!s)
        return STORE_ERR;
    int rc;
    struct repo r;
    while ((rc = db_next(st->db, s)) == 1) {
        repo_from_row(s, &r);
        fn(arg, &r);
        store_repo_release(&r);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_repo_create(struct store *st, int64_t org_id, const char *provider, const char *url,
                      const char *url_norm, int64_t now, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO repos (org_id, provider, url, url_norm, "
                           "webhook_secret_sealed, created_at, updated_at) VALUES (?, ?, ?, ?, "
                           "'', ?, ?)", "isssii", org_id, provider, url, url_norm, now, now));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_repo_set_secret(struct store *st, int64_t id, const char *sealed)
{
    return changed(st, run(st, q(st, "UPDATE repos SET webhook_secret_sealed = ? WHERE id = ?",
                                 "si", sealed, id)));
}

int store_repo_get(struct store *st, int64_t org_id, int64_t id, struct repo *r)
{
    return repo_one(st, q(st, "SELECT " REPO_COLS " FROM repos WHERE id = ? AND (? = 0 OR "
                              "org_id = ?)", "iii", id, org_id, org_id), r);
}

int store_repo_by_norm(struct store *st, int64_t org_id, const char *url_norm, struct repo *r)
{
    return repo_one(st, q(st, "SELECT " REPO_COLS " FROM repos WHERE org_id = ? AND "
                              "url_norm = ?", "is", org_id, url_norm), r);
}

int store_repos_each(struct store *st, int64_t org_id,
                     void (*fn)(void *arg, const struct repo *r), void *arg)
{
    return repos_walk(st, q(st, "SELECT " REPO_COLS " FROM repos WHERE org_id = ? ORDER BY "
                                "id", "i", org_id), fn, arg);
}

int store_repo_delete(struct store *st, int64_t id)
{
    int rc = run(st, q(st, "DELETE FROM hook_deliveries WHERE repo_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = run(st, q(st, "DELETE FROM hook_commits WHERE repo_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = run(st, q(st, "DELETE FROM hook_branches WHERE repo_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = changed(st, run(st, q(st, "DELETE FROM repos WHERE id = ?", "i", id)));
    return rc;
}

int store_repo_set_deploy_key(struct store *st, int64_t id, const char *sealed, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE repos SET deploy_key_sealed = ?, updated_at = ? "
                                     "WHERE id = ?", "sii", sealed, now, id)));
}

int store_repo_set_github_app(struct store *st, int64_t id, int64_t app_id,
                              int64_t installation_id, const char *api_url, const char *sealed,
                              int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE repos SET gh_app_id = ?, gh_installation_id = ?, "
                                     "gh_api_url = ?, gh_key_sealed = ?, updated_at = ? WHERE "
                                     "id = ?", "zzssii", app_id, installation_id, api_url,
                                 sealed, now, id)));
}

int store_delivery_add(struct store *st, const struct hook_delivery *d)
{
    int rc = run(st, q(st, "INSERT INTO hook_deliveries (repo_id, at, event, delivery_id, "
                           "outcome, reason, status, ref, commit_id, deployments) VALUES (?, ?, "
                           "?, ?, ?, ?, ?, ?, ?, ?)", "iissssisss", d->repo_id, d->at, d->event,
                       d->delivery_id, d->outcome, d->reason, (int64_t)d->status, d->ref,
                       d->commit, d->deployments_json ? d->deployments_json : "[]"));
    /* Keep the newest STORE_DELIVERIES_KEPT per repository. */
    if (rc == STORE_OK)
        rc = run(st, q(st, "DELETE FROM hook_deliveries WHERE repo_id = ? AND id <= (SELECT id "
                           "FROM hook_deliveries WHERE repo_id = ? ORDER BY id DESC LIMIT 1 "
                           "OFFSET ?)", "iii", d->repo_id, d->repo_id,
                       (int64_t)STORE_DELIVERIES_KEPT));
    return rc;
}

int store_delivery_seen(struct store *st, int64_t repo_id, const char *delivery_id, int *seen)
{
    struct db_stmt *s = q(st, "SELECT 1 FROM hook_deliveries WHERE repo_id = ? AND delivery_id "
                              "= ? AND outcome <> 'rejected' LIMIT 1", "is", repo_id,
                          delivery_id);
    int rc = row(st, s);
    if (rc == STORE_OK)
        db_done(s);
    *seen = rc == STORE_OK;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_hook_head(struct store *st, int64_t repo_id, const char *branch, char *head, size_t n)
{
    struct db_stmt *s = q(st, "SELECT head FROM hook_branches WHERE repo_id = ? AND branch = ?",
                          "is", repo_id, branch);
    int rc = row(st, s);
    head[0] = '\0';
    if (rc == STORE_OK) {
        db_str(s, 0, head, n);
        db_done(s);
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_hook_seen(struct store *st, int64_t repo_id, const char *branch, const char *commit,
                    int *seen)
{
    struct db_stmt *s = q(st, "SELECT 1 FROM hook_commits WHERE repo_id = ? AND branch = ? AND "
                              "commit_id = ?", "iss", repo_id, branch, commit);
    int rc = row(st, s);
    if (rc == STORE_OK)
        db_done(s);
    *seen = rc == STORE_OK;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static int hook_commit_add(struct store *st, int64_t repo_id, const char *branch,
                           const char *commit, int64_t now)
{
    return run(st, q(st, "INSERT INTO hook_commits (repo_id, branch, commit_id, at) VALUES "
                         "(?, ?, ?, ?) ON CONFLICT (repo_id, branch, commit_id) DO NOTHING",
                     "issi", repo_id, branch, commit, now));
}

int store_hook_take(struct store *st, int64_t repo_id, const char *branch, const char *before,
                    const char *after, int64_t now)
{
    int rc = store_begin(st);
    if (rc == STORE_OK && before && *before)
        rc = hook_commit_add(st, repo_id, branch, before, now);
    if (rc == STORE_OK)
        rc = hook_commit_add(st, repo_id, branch, after, now);
    if (rc == STORE_OK)
        rc = run(st, q(st, "INSERT INTO hook_branches (repo_id, branch, head, updated_at) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT (repo_id, branch) DO UPDATE SET "
                           "head = excluded.head, updated_at = excluded.updated_at", "issi",
                       repo_id, branch, after, now));
    if (rc == STORE_OK)
        rc = store_commit(st);
    if (rc != STORE_OK)
        store_rollback(st);
    return rc;
}

static json_t *delivery_row(struct db_stmt *s)
{
    const char *deps = db_text(s, 10);
    json_t *d = json_loads(deps ? deps : "[]", 0, NULL);
    if (!json_is_array(d)) {
        json_decref(d);
        d = json_array();
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "id",
                     (json_int_t)db_int(s, 0), "at", col_json_time(s, 1),
                     "event", col_json_str(s, 2), "delivery_id", col_json_str(s, 3), "outcome",
                     col_json_str(s, 4), "reason", col_json_str(s, 5), "status",
                     (json_int_t)db_int(s, 6), "ref", col_json_str(s, 7),
                     "commit", col_json_str(s, 8), "deployments", d);
}

int store_deliveries_list(struct store *st, int64_t repo_id, int limit, json_t **items)
{
    return collect(st, q(st, "SELECT id, at, event, delivery_id, outcome, reason, status, ref, "
                             "commit_id, repo_id, deployments FROM hook_deliveries WHERE "
                             "repo_id = ? ORDER BY id DESC LIMIT ?", "ii", repo_id,
                         (int64_t)limit), items, delivery_row);
}
