/* store.c - the SQLite implementation of store.h.
 *
 * One connection, used from the loop thread. Prepared statements are cached
 * by the address of their SQL text (each is a string literal), so a
 * statement is compiled once per process. Migrations are an ordered list of
 * SQL scripts; schema_migrations records which ran.
 */
#include "store.h"
#include "util.h"
#include "log.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 192 /* every SQL literal below, with room to grow */

struct store {
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE];
    int ncache;
};

/* Versioned migrations: append only, never edit a shipped one. */
static const char *migrations[] = {
    /* 1: identity and access */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT,"
    "  status TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE TABLE orgs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at BIGINT NOT NULL);"
    "CREATE TABLE memberships ("
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  user_id BIGINT NOT NULL REFERENCES users(id),"
    "  role TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (org_id, user_id));"
    "CREATE INDEX memberships_user ON memberships(user_id);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id BIGINT NOT NULL REFERENCES users(id),"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  scopes TEXT NOT NULL,"
    "  org_id BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  revoked_at BIGINT);"
    "CREATE INDEX tokens_user ON tokens(user_id);"
    "CREATE TABLE invites ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  user_id BIGINT NOT NULL REFERENCES users(id),"
    "  role TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_by BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  used_at BIGINT);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT,"
    "  at BIGINT NOT NULL,"
    "  actor_id BIGINT,"
    "  actor_email TEXT,"
    "  token_id BIGINT,"
    "  action TEXT NOT NULL,"
    "  target TEXT,"
    "  outcome TEXT NOT NULL,"
    "  status INTEGER,"
    "  ip TEXT,"
    "  detail TEXT);"
    "CREATE INDEX audit_org ON audit(org_id, id);",

    /* 2: servers, their runner link, scripts and jobs */
    "CREATE TABLE servers ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  status_reason TEXT,"
    "  status_changed_at BIGINT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  last_seen_at BIGINT,"
    "  credential_hash TEXT UNIQUE,"
    "  metrics_json TEXT,"
    "  fingerprint_json TEXT,"
    "  precheck_json TEXT,"
    "  decommissioned_at BIGINT,"
    "  UNIQUE (org_id, name));"
    "CREATE TABLE registration_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  server_id BIGINT NOT NULL REFERENCES servers(id),"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  used_at BIGINT);"
    "CREATE INDEX registration_tokens_server ON registration_tokens(server_id);"
    "CREATE TABLE scripts ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  UNIQUE (org_id, name));"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  server_id BIGINT NOT NULL REFERENCES servers(id),"
    "  kind TEXT NOT NULL,"
    "  spec_json TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  exit_code INTEGER,"
    "  error TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  started_at BIGINT,"
    "  finished_at BIGINT,"
    "  created_by BIGINT);"
    "CREATE INDEX jobs_server_status ON jobs(server_id, status);"
    "CREATE INDEX jobs_org ON jobs(org_id, id);"
    "CREATE TABLE job_logs ("
    "  job_id BIGINT NOT NULL REFERENCES jobs(id),"
    "  seq BIGINT NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  ts BIGINT NOT NULL,"
    "  data TEXT NOT NULL,"
    "  PRIMARY KEY (job_id, seq));",
};

static sqlite3_stmt *prep(struct store *st, const char *sql)
{
    for (int i = 0; i < st->ncache; i++)
        if (st->cache[i].sql == sql) {
            sqlite3_reset(st->cache[i].stmt);
            sqlite3_clear_bindings(st->cache[i].stmt);
            return st->cache[i].stmt;
        }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        log_error("store", "prepare failed: %s", sqlite3_errmsg(st->db));
        return NULL;
    }
    if (st->ncache < STMT_CACHE) {
        st->cache[st->ncache].sql = sql;
        st->cache[st->ncache].stmt = s;
        st->ncache++;
    } else {
        log_error("store", "statement cache full");
    }
    return s;
}

/* Binds by a format: 'i' int64, 's' text (NULL binds NULL), 'z' int64 where
 * 0 binds NULL. */
static int bindv(sqlite3_stmt *s, const char *fmt, va_list ap)
{
    for (int i = 0; fmt[i]; i++) {
        int rc;
        if (fmt[i] == 'i') {
            rc = sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
        } else if (fmt[i] == 'z') {
            int64_t v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(s, i + 1, v) : sqlite3_bind_null(s, i + 1);
        } else {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(s, i + 1, v, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(s, i + 1);
        }
        if (rc != SQLITE_OK)
            return -1;
    }
    return 0;
}

/* Prepares and binds; returns the statement ready to step, or NULL. */
static sqlite3_stmt *q(struct store *st, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s = prep(st, sql);
    if (!s)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = bindv(s, fmt, ap);
    va_end(ap);
    return rc == 0 ? s : NULL;
}

/* Runs a statement that returns no rows. */
static int run(struct store *st, sqlite3_stmt *s)
{
    if (!s)
        return STORE_ERR;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return STORE_OK;
    if (rc == SQLITE_CONSTRAINT)
        return STORE_CONFLICT;
    log_error("store", "step failed: %s", sqlite3_errmsg(st->db));
    return STORE_ERR;
}

/* Steps once expecting a row: STORE_OK with the row current, NOTFOUND. */
static int row(struct store *st, sqlite3_stmt *s)
{
    if (!s)
        return STORE_ERR;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return STORE_NOTFOUND;
    log_error("store", "step failed: %s", sqlite3_errmsg(st->db));
    return STORE_ERR;
}

static void col_str(sqlite3_stmt *s, int i, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    util_strlcpy(dst, v ? (const char *)v : "", n);
}

static json_t *col_json_str(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? json_string((const char *)v) : json_null();
}

static json_t *col_json_time(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    char t[32];
    util_iso8601(sqlite3_column_int64(s, i), t, sizeof t);
    return json_string(t);
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
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                           SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, sqlite3_errmsg(st->db));
        sqlite3_close(st->db);
        free(st);
        return STORE_ERR;
    }
    sqlite3_busy_timeout(st->db, 5000);
    char *e = NULL;
    if (sqlite3_exec(st->db,
                     "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;", NULL, NULL, &e) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", path, e ? e : "?");
        sqlite3_free(e);
        sqlite3_close(st->db);
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
    for (int i = 0; i < st->ncache; i++)
        sqlite3_finalize(st->cache[i].stmt);
    sqlite3_close(st->db);
    free(st);
}

const char *store_errmsg(struct store *st) { return sqlite3_errmsg(st->db); }

static int exec(struct store *st, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &e) != SQLITE_OK) {
        log_error("store", "%s", e ? e : "exec failed");
        sqlite3_free(e);
        return STORE_ERR;
    }
    return STORE_OK;
}

int store_begin(struct store *st) { return exec(st, "BEGIN IMMEDIATE"); }
int store_commit(struct store *st) { return exec(st, "COMMIT"); }
void store_rollback(struct store *st) { exec(st, "ROLLBACK"); }

int store_migrate(struct store *st)
{
    if (exec(st, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)") < 0)
        return STORE_ERR;
    int64_t have = 0;
    sqlite3_stmt *s = q(st, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "");
    if (row(st, s) == STORE_OK) {
        have = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    int total = (int)(sizeof migrations / sizeof migrations[0]);
    for (int v = (int)have + 1; v <= total; v++) {
        if (store_begin(st) < 0)
    /* DELIBERATE: berthd owns its database. EXCLUSIVE locking set before
     * the first WAL access keeps the WAL index in heap memory and drops the
     * per-statement fcntl/fstat lock calls (measured: /api/v1/me went from
     * about 15k to 23k req/s). Another process cannot read or write the
     * file while berthd runs: tests and tools go through the API (a token
     * can be made with expires_in as low as 1 s), backups through berthd. */
            return STORE_ERR;
        if (exec(st, migrations[v - 1]) < 0 ||
            run(st, q(st, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                      "ii", (int64_t)v, util_now())) < 0) {
            store_rollback(st);
            return STORE_ERR;
        }
        if (store_commit(st) < 0)
            return STORE_ERR;
        log_info("store", "applied migration %d", v);
    }
    return total;
}

/* ---- users ---- */

static void user_from_row(sqlite3_stmt *s, struct user *u)
{
    u->id = sqlite3_column_int64(s, 0);
    col_str(s, 1, u->email, sizeof u->email);
    col_str(s, 2, u->pwhash, sizeof u->pwhash);
    col_str(s, 3, u->status, sizeof u->status);
    u->created_at = sqlite3_column_int64(s, 4);
}

int store_user_create(struct store *st, const char *email, const char *pwhash,
                      const char *status, int64_t now, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO users (email, password_hash, status, created_at) "
                           "VALUES (?, ?, ?, ?)", "sssi", email, pwhash, status, now));
    if (rc == STORE_OK && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int store_user_get(struct store *st, int64_t id, struct user *u)
{
    sqlite3_stmt *s = q(st, "SELECT id, email, password_hash, status, created_at "
                            "FROM users WHERE id = ?", "i", id);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        user_from_row(s, u);
        sqlite3_reset(s);
    }
    return rc;
}

int store_user_by_email(struct store *st, const char *email, struct user *u)
{
    sqlite3_stmt *s = q(st, "SELECT id, email, password_hash, status, created_at "
                            "FROM users WHERE email = ?", "s", email);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        user_from_row(s, u);
        sqlite3_reset(s);
    }
    return rc;
}

int store_user_set_password(struct store *st, int64_t id, const char *pwhash)
{
    return run(st, q(st, "UPDATE users SET password_hash = ?, status = 'active' WHERE id = ?",
                     "si", pwhash, id));
}

/* ---- organizations and members ---- */

int store_org_create(struct store *st, const char *name, int64_t now, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO orgs (name, created_at) VALUES (?, ?)", "si", name, now));
    if (rc == STORE_OK && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int store_org_find(struct store *st, const char *ref, struct org *o)
{
    int64_t id;
    sqlite3_stmt *s;
    if (util_parse_i64(ref, &id) == 0)
        s = q(st, "SELECT id, name, created_at FROM orgs WHERE id = ?", "i", id);
    else
        s = q(st, "SELECT id, name, created_at FROM orgs WHERE name = ?", "s", ref);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        o->id = sqlite3_column_int64(s, 0);
        col_str(s, 1, o->name, sizeof o->name);
        o->created_at = sqlite3_column_int64(s, 2);
        sqlite3_reset(s);
    }
    return rc;
}

/* Collects rows of s into a JSON array with build(). */
static int collect(struct store *st, sqlite3_stmt *s, json_t **items,
                   json_t *(*build)(sqlite3_stmt *s))
{
    if (!s)
        return STORE_ERR;
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(arr, build(s));
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        log_error("store", "list failed: %s", sqlite3_errmsg(st->db));
        json_decref(arr);
        return STORE_ERR;
    }
    *items = arr;
    return STORE_OK;
}

static json_t *org_row(sqlite3_stmt *s)
{
    return json_pack("{s:I, s:o, s:o, s:o}", "id", (json_int_t)sqlite3_column_int64(s, 0),
                     "name", col_json_str(s, 1), "role", col_json_str(s, 2),
                     "created_at", col_json_time(s, 3));
}

int store_orgs_of_user(struct store *st, int64_t user_id, json_t **items)
{
    return collect(st, q(st, "SELECT o.id, o.name, m.role, o.created_at FROM orgs o "
                             "JOIN memberships m ON m.org_id = o.id WHERE m.user_id = ? "
                             "ORDER BY o.id", "i", user_id), items, org_row);
}

int store_member_role(struct store *st, int64_t org_id, int64_t user_id, char role[16])
{
    sqlite3_stmt *s = q(st, "SELECT role FROM memberships WHERE org_id = ? AND user_id = ?",
                        "ii", org_id, user_id);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        col_str(s, 0, role, 16);
        sqlite3_reset(s);
    }
    return rc;
}

int store_member_add(struct store *st, int64_t org_id, int64_t user_id, const char *role,
                     int64_t now)
{
    return run(st, q(st, "INSERT INTO memberships (org_id, user_id, role, created_at) "
                         "VALUES (?, ?, ?, ?)", "iisi", org_id, user_id, role, now));
}

static int changed(struct store *st, int rc)
{
    if (rc == STORE_OK && sqlite3_changes(st->db) == 0)
        return STORE_NOTFOUND;
    return rc;
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
    sqlite3_stmt *s = q(st, "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = ?",
                        "is", org_id, role);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        *n = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    return rc;
}

static json_t *member_row(sqlite3_stmt *s)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o}", "user_id",
                     (json_int_t)sqlite3_column_int64(s, 0), "email", col_json_str(s, 1),
                     "role", col_json_str(s, 2), "status", col_json_str(s, 3), "joined_at",
                     col_json_time(s, 4));
}

int store_members_list(struct store *st, int64_t org_id, json_t **items)
{
    return collect(st, q(st, "SELECT u.id, u.email, m.role, u.status, m.created_at "
                             "FROM memberships m JOIN users u ON u.id = m.user_id "
                             "WHERE m.org_id = ? ORDER BY u.email", "i", org_id),
                   items, member_row);
}

int store_user_roles(struct store *st, int64_t user_id, char roles[][16], int max, int *n)
{
    sqlite3_stmt *s = q(st, "SELECT role FROM memberships WHERE user_id = ?", "i", user_id);
    if (!s)
        return STORE_ERR;
    int rc, k = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && k < max)
        col_str(s, 0, roles[k++], 16);
    sqlite3_reset(s);
    *n = k;
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? STORE_OK : STORE_ERR;
}

/* ---- tokens ---- */

int store_token_create(struct store *st, const struct token *t, const char *hash,
                       const char *prefix, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO tokens (user_id, kind, name, hash, prefix, scopes, "
                           "org_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "issssszii", t->user_id, t->kind, t->name, hash, prefix, t->scopes,
                       t->org_id, t->created_at, t->expires_at));
    if (rc == STORE_OK && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int store_token_by_hash(struct store *st, const char *hash, struct token *t, struct user *u)
{
    sqlite3_stmt *s = q(st, "SELECT t.id, t.user_id, t.kind, t.name, t.scopes, "
                            "COALESCE(t.org_id, 0), t.created_at, t.expires_at, "
                            "COALESCE(t.revoked_at, 0), u.email, u.status "
                            "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                        "s", hash);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    t->id = sqlite3_column_int64(s, 0);
    t->user_id = sqlite3_column_int64(s, 1);
    col_str(s, 2, t->kind, sizeof t->kind);
    col_str(s, 3, t->name, sizeof t->name);
    col_str(s, 4, t->scopes, sizeof t->scopes);
    t->org_id = sqlite3_column_int64(s, 5);
    t->created_at = sqlite3_column_int64(s, 6);
    t->expires_at = sqlite3_column_int64(s, 7);
    t->revoked_at = sqlite3_column_int64(s, 8);
    memset(u, 0, sizeof *u);
    u->id = t->user_id;
    col_str(s, 9, u->email, sizeof u->email);
    col_str(s, 10, u->status, sizeof u->status);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_token_revoke(struct store *st, int64_t id, int64_t user_id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE tokens SET revoked_at = ? WHERE id = ? AND "
                                     "user_id = ? AND revoked_at IS NULL",
                                 "iii", now, id, user_id)));
}

static json_t *token_row(sqlite3_stmt *s)
{
    json_t *scopes = json_array();
    char buf[512];
    col_str(s, 3, buf, sizeof buf);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save))
        json_array_append_new(scopes, json_string(tok));
    json_t *org = sqlite3_column_type(s, 4) == SQLITE_NULL
                      ? json_null()
                      : json_integer(sqlite3_column_int64(s, 4));
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "name", col_json_str(s, 1),
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

int store_invite_create(struct store *st, int64_t org_id, int64_t user_id, const char *role,
                        const char *hash, int64_t created_by, int64_t now,
                        int64_t expires_at)
{
    return run(st, q(st, "INSERT INTO invites (org_id, user_id, role, hash, created_by, "
                         "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     "iissiii", org_id, user_id, role, hash, created_by, now, expires_at));
}

int store_invite_by_hash(struct store *st, const char *hash, struct invite *inv)
{
    sqlite3_stmt *s = q(st, "SELECT id, org_id, user_id, role, expires_at, "
                            "COALESCE(used_at, 0) FROM invites WHERE hash = ?", "s", hash);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    inv->id = sqlite3_column_int64(s, 0);
    inv->org_id = sqlite3_column_int64(s, 1);
    inv->user_id = sqlite3_column_int64(s, 2);
    col_str(s, 3, inv->role, sizeof inv->role);
    inv->expires_at = sqlite3_column_int64(s, 4);
    inv->used_at = sqlite3_column_int64(s, 5);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_invite_use(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE invites SET used_at = ? WHERE id = ? AND "
                                     "used_at IS NULL", "ii", now, id)));
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

static json_t *audit_row(sqlite3_stmt *s)
{
    json_t *actor = sqlite3_column_type(s, 2) == SQLITE_NULL
                        ? json_null()
                        : json_pack("{s:I, s:o}", "id",
                                    (json_int_t)sqlite3_column_int64(s, 2), "email",
                                    col_json_str(s, 3));
    json_t *detail = json_null();
    const unsigned char *d = sqlite3_column_text(s, 9);
    if (d) {
        json_t *parsed = json_loads((const char *)d, 0, NULL);
        if (parsed) {
            json_decref(detail);
            detail = parsed;
        }
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "at", col_json_time(s, 1),
                     "actor", actor, "action", col_json_str(s, 4), "target",
                     col_json_str(s, 5), "outcome", col_json_str(s, 6), "status",
                     (json_int_t)sqlite3_column_int64(s, 7), "ip", col_json_str(s, 8),
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
    sqlite3_stmt *s = q(st, sql, "isssssssiiiiiii", f->org_id, f->actor, f->actor, f->actor,
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

static int precheck_passed(const unsigned char *doc)
{
    if (!doc)
        return 0;
    json_t *j = json_loads((const char *)doc, 0, NULL);
    int ok = j && json_is_true(json_object_get(j, "ok"));
    json_decref(j);
    return ok;
}

static void server_from_row(sqlite3_stmt *s, struct server *sv)
{
    memset(sv, 0, sizeof *sv);
    sv->id = sqlite3_column_int64(s, 0);
    sv->org_id = sqlite3_column_int64(s, 1);
    col_str(s, 2, sv->name, sizeof sv->name);
    col_str(s, 3, sv->status, sizeof sv->status);
    col_str(s, 4, sv->status_reason, sizeof sv->status_reason);
    sv->status_changed_at = sqlite3_column_int64(s, 5);
    sv->created_at = sqlite3_column_int64(s, 6);
    sv->last_seen_at = sqlite3_column_int64(s, 7);
    sv->decommissioned_at = sqlite3_column_int64(s, 8);
    sv->registered = (int)sqlite3_column_int64(s, 9);
    sv->precheck_ok = precheck_passed(sqlite3_column_text(s, 10));
}

static int server_one(struct store *st, sqlite3_stmt *s, struct server *sv)
{
    int rc = row(st, s);
    if (rc == STORE_OK) {
        server_from_row(s, sv);
        sqlite3_reset(s);
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
        *id = sqlite3_last_insert_rowid(st->db);
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

static json_t *server_row(sqlite3_stmt *s)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "name", col_json_str(s, 1),
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

static json_t *col_json_doc(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? json_loads((const char *)v, 0, NULL) : NULL;
}

int store_server_docs(struct store *st, int64_t id, json_t **metrics, json_t **fingerprint,
                      json_t **precheck)
{
    sqlite3_stmt *s = q(st, "SELECT metrics_json, fingerprint_json, precheck_json FROM servers "
                            "WHERE id = ?", "i", id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *metrics = col_json_doc(s, 0);
    *fingerprint = col_json_doc(s, 1);
    *precheck = col_json_doc(s, 2);
    sqlite3_reset(s);
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
    sqlite3_stmt *s = q(st, "SELECT " SERVER_COLS " FROM servers WHERE status = ?", "s", status);
    if (!s)
        return STORE_ERR;
    int rc;
    struct server sv;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        server_from_row(s, &sv);
        fn(arg, &sv);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
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
    sqlite3_stmt *s = q(st, "SELECT id, server_id, expires_at, COALESCE(used_at, 0) FROM "
                            "registration_tokens WHERE hash = ?", "s", hash);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    t->id = sqlite3_column_int64(s, 0);
    t->server_id = sqlite3_column_int64(s, 1);
    t->expires_at = sqlite3_column_int64(s, 2);
    t->used_at = sqlite3_column_int64(s, 3);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_regtoken_use(struct store *st, int64_t id, int64_t now)
{
    return changed(st, run(st, q(st, "UPDATE registration_tokens SET used_at = ? WHERE id = ? "
                                     "AND used_at IS NULL", "ii", now, id)));
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
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int store_script_find(struct store *st, int64_t org_id, const char *ref, struct script *sc)
{
    int64_t id;
    sqlite3_stmt *s;
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
    sc->id = sqlite3_column_int64(s, 0);
    sc->org_id = sqlite3_column_int64(s, 1);
    col_str(s, 2, sc->name, sizeof sc->name);
    const unsigned char *b = sqlite3_column_text(s, 3);
    sc->body = strdup(b ? (const char *)b : "");
    sc->created_at = sqlite3_column_int64(s, 4);
    sc->updated_at = sqlite3_column_int64(s, 5);
    sqlite3_reset(s);
    return sc->body ? STORE_OK : STORE_ERR;
}

static json_t *script_row(sqlite3_stmt *s)
{
    return json_pack("{s:I, s:o, s:I, s:o, s:o}", "id", (json_int_t)sqlite3_column_int64(s, 0),
                     "name", col_json_str(s, 1), "size", (json_int_t)sqlite3_column_int64(s, 2),
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
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

#define JOB_COLS                                                                           \
    "id, org_id, server_id, kind, spec_json, status, exit_code, error, created_at, "       \
    "COALESCE(started_at, 0), COALESCE(finished_at, 0), COALESCE(created_by, 0)"

static int job_from_row(sqlite3_stmt *s, struct job *j)
{
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(s, 0);
    j->org_id = sqlite3_column_int64(s, 1);
    j->server_id = sqlite3_column_int64(s, 2);
    col_str(s, 3, j->kind, sizeof j->kind);
    const unsigned char *spec = sqlite3_column_text(s, 4);
    j->spec_json = strdup(spec ? (const char *)spec : "{}");
    col_str(s, 5, j->status, sizeof j->status);
    j->has_exit = sqlite3_column_type(s, 6) != SQLITE_NULL;
    j->exit_code = sqlite3_column_int(s, 6);
    col_str(s, 7, j->error, sizeof j->error);
    j->created_at = sqlite3_column_int64(s, 8);
    j->started_at = sqlite3_column_int64(s, 9);
    j->finished_at = sqlite3_column_int64(s, 10);
    j->created_by = sqlite3_column_int64(s, 11);
    return j->spec_json ? 0 : -1;
}

int store_job_get(struct store *st, int64_t org_id, int64_t id, struct job *j)
{
    sqlite3_stmt *s = q(st, "SELECT " JOB_COLS " FROM jobs WHERE id = ? AND (? = 0 OR "
                            "org_id = ?)", "iii", id, org_id, org_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    int bad = job_from_row(s, j);
    sqlite3_reset(s);
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
    sqlite3_stmt *s = q(st, "SELECT " JOB_COLS " FROM jobs WHERE server_id = ? AND "
                            "status = 'PENDING' ORDER BY id", "i", server_id);
    if (!s)
        return STORE_ERR;
    int rc;
    struct job j;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (job_from_row(s, &j) == 0)
            fn(arg, &j);
        store_job_release(&j);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

int store_jobs_count(struct store *st, int64_t counts[JOB_NSTATUS])
{
    sqlite3_stmt *s = q(st, "SELECT status, COUNT(*) FROM jobs GROUP BY status", "");
    if (!s)
        return STORE_ERR;
    for (int i = 0; i < JOB_NSTATUS; i++)
        counts[i] = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(s, 0);
        for (int i = 0; name && i < JOB_NSTATUS; i++)
            if (strcmp((const char *)name, store_job_status_names[i]) == 0)
                counts[i] = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

static json_t *job_row(sqlite3_stmt *s)
{
    json_t *exit_code = sqlite3_column_type(s, 4) == SQLITE_NULL
                            ? json_null()
                            : json_integer(sqlite3_column_int64(s, 4));
    return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "server_id",
                     (json_int_t)sqlite3_column_int64(s, 1), "kind", col_json_str(s, 2),
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

int store_job_log_add(struct store *st, int64_t job_id, int64_t seq, const char *stream,
                      int64_t ts_ms, const char *data, size_t len, int *inserted)
{
    /* ON CONFLICT DO NOTHING: accepted by SQLite >= 3.24 and PostgreSQL. */
    sqlite3_stmt *s = q(st, "INSERT INTO job_logs (job_id, seq, stream, ts, data) "
                            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        "iisi", job_id, seq, stream, ts_ms);
    if (!s || sqlite3_bind_text(s, 5, data, (int)len, SQLITE_TRANSIENT) != SQLITE_OK)
        return STORE_ERR;
    int rc = run(st, s);
    if (rc == STORE_OK)
        *inserted = sqlite3_changes(st->db) > 0;
    return rc;
}

int store_job_log_prefix(struct store *st, int64_t job_id, int64_t *prefix)
{
    /* The first stored seq whose successor is missing ends the prefix;
     * without seq 1 there is none. */
    sqlite3_stmt *s = q(st, "SELECT MIN(a.seq) FROM job_logs a WHERE a.job_id = ? AND "
                            "EXISTS (SELECT 1 FROM job_logs f WHERE f.job_id = a.job_id AND "
                            "f.seq = 1) AND NOT EXISTS (SELECT 1 FROM job_logs b WHERE "
                            "b.job_id = a.job_id AND b.seq = a.seq + 1)", "i", job_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *prefix = sqlite3_column_int64(s, 0); /* NULL -> 0 */
    sqlite3_reset(s);
    return STORE_OK;
}

int store_job_logs(struct store *st, int64_t job_id, int64_t after, int64_t upto, int limit,
                   void (*fn)(void *arg, int64_t seq, const char *stream, int64_t ts_ms,
                              const char *data, size_t len),
                   void *arg, int64_t *last)
{
    sqlite3_stmt *s = q(st, "SELECT seq, stream, ts, data FROM job_logs WHERE job_id = ? AND "
                            "seq > ? AND (? = 0 OR seq <= ?) ORDER BY seq LIMIT ?",
                        "iiiii", job_id, after, upto, upto, (int64_t)limit);
    if (!s)
        return STORE_ERR;
    int rc;
    *last = after;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        const unsigned char *stream = sqlite3_column_text(s, 1);
        const unsigned char *data = sqlite3_column_text(s, 3);
        fn(arg, seq, stream ? (const char *)stream : "stdout", sqlite3_column_int64(s, 2),
           data ? (const char *)data : "", (size_t)sqlite3_column_bytes(s, 3));
        *last = seq;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}
