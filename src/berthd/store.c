/* store.c - the SQLite implementation of store.h.
 *
 * One connection, used from the loop thread. Prepared statements are cached
 * by the address of their SQL text (each is a string literal), so a
 * statement is compiled once per process. Migrations are an ordered list of
 * SQL scripts; schema_migrations records which ran.
 */
#include "store.h"
#include "jsonx.h"
#include "util.h"
#include "log.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 256 /* every SQL literal below, with room to grow */

/* Recent answers to the two lookups every API request makes (the bearer
 * token, and on organization routes the caller's membership). An entry
 * holds only while nothing has been written through this connection since
 * it was filled: sqlite3_total_changes64 counts every row inserted,
 * updated or deleted, and epoch counts transaction boundaries (a rollback
 * undoes rows without counting them). berthd is the database's only
 * writer (EXCLUSIVE locking, one connection), so a revoked token, a
 * disabled user or a changed role is never served from here. Entries are
 * neither filled nor used inside a transaction. */
#define LOOKUP_CACHE 64

struct stamp {
    sqlite3_int64 changes;
    uint64_t epoch;
    int used;
};

struct token_slot {
    struct stamp at;
    char hash[80];
    struct token t;
    int64_t user_id;
    char email[256], status[16];
};

struct member_slot {
    struct stamp at;
    char ref[128];
    int64_t user_id;
    struct org o;
    char role[16];
};

struct store {
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE];
    int ncache;
    uint64_t epoch;
    struct token_slot tokens[LOOKUP_CACHE];
    struct member_slot members[LOOKUP_CACHE];
};

static int stamp_valid(struct store *st, const struct stamp *a)
{
    return a->used && a->changes == sqlite3_total_changes64(st->db) && a->epoch == st->epoch &&
           sqlite3_get_autocommit(st->db);
}

/* 0 when entries may not be filled now (inside a transaction). */
static int stamp_set(struct store *st, struct stamp *a)
{
    if (!sqlite3_get_autocommit(st->db))
        return 0;
    a->changes = sqlite3_total_changes64(st->db);
    a->epoch = st->epoch;
    a->used = 1;
    return 1;
}

/* FNV-1a over a string, for the slot index. */
static unsigned slot_of(const char *s, int64_t k)
{
    uint32_t h = 2166136261u ^ (uint32_t)k;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % LOOKUP_CACHE;
}

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

    /* 3: applications, their sealed env, deployments and their steps
     * (docs/deploy.md). deployments.job_id is a plain column: a server's
     * delete removes its jobs. */
    "CREATE TABLE apps ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  server_id BIGINT NOT NULL REFERENCES servers(id),"
    "  repo_url TEXT NOT NULL,"
    "  branch TEXT NOT NULL,"
    "  dockerfile TEXT NOT NULL,"
    "  context TEXT NOT NULL,"
    "  container_port INTEGER NOT NULL,"
    "  health_path TEXT NOT NULL,"
    "  public_port INTEGER,"
    "  domains TEXT NOT NULL,"
    "  auto_deploy INTEGER NOT NULL,"
    "  restart_policy TEXT NOT NULL,"
    "  memory BIGINT,"
    "  cpus REAL,"
    "  keep_images INTEGER NOT NULL,"
    "  drain_seconds INTEGER NOT NULL,"
    "  clone_timeout INTEGER NOT NULL,"
    "  build_timeout INTEGER NOT NULL,"
    "  health_timeout INTEGER NOT NULL,"
    "  current_deployment_id BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  UNIQUE (org_id, name));"
    "CREATE INDEX apps_server ON apps(server_id);"
    "CREATE TABLE app_env ("
    "  app_id BIGINT NOT NULL REFERENCES apps(id),"
    "  name TEXT NOT NULL,"
    "  value_sealed TEXT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (app_id, name));"
    "CREATE TABLE deployments ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  app_id BIGINT NOT NULL REFERENCES apps(id),"
    "  server_id BIGINT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  requested_commit TEXT,"
    "  resolved_commit TEXT,"
    "  status TEXT NOT NULL,"
    "  failed_step TEXT,"
    "  reason TEXT,"
    "  rolled_back_to BIGINT,"
    "  rollback_of BIGINT,"
    "  image TEXT,"
    "  job_id BIGINT,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  created_by BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  started_at BIGINT,"
    "  finished_at BIGINT);"
    "CREATE INDEX deployments_app ON deployments(app_id, status, id);"
    "CREATE INDEX deployments_job ON deployments(job_id);"
    "CREATE TABLE deployment_steps ("
    "  deployment_id BIGINT NOT NULL REFERENCES deployments(id),"
    "  step TEXT NOT NULL,"
    "  ord INTEGER NOT NULL,"
    "  status TEXT NOT NULL,"
    "  started_at_ms BIGINT,"
    "  finished_at_ms BIGINT,"
    "  detail TEXT,"
    "  PRIMARY KEY (deployment_id, step));",

    /* 4: git repositories with their webhook secret and clone credentials
     * (sealed), and the recent webhook deliveries (docs/webhooks.md) */
    "CREATE TABLE repos ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  provider TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  url_norm TEXT NOT NULL,"
    "  webhook_secret_sealed TEXT NOT NULL,"
    "  deploy_key_sealed TEXT,"
    "  gh_app_id BIGINT,"
    "  gh_installation_id BIGINT,"
    "  gh_api_url TEXT,"
    "  gh_key_sealed TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  UNIQUE (org_id, url_norm));"
    "CREATE INDEX repos_norm ON repos(url_norm);"
    "CREATE TABLE hook_deliveries ("
    "  id INTEGER PRIMARY KEY,"
    "  repo_id BIGINT NOT NULL REFERENCES repos(id),"
    "  at BIGINT NOT NULL,"
    "  event TEXT,"
    "  delivery_id TEXT,"
    "  outcome TEXT NOT NULL,"
    "  reason TEXT,"
    "  status INTEGER NOT NULL,"
    "  ref TEXT,"
    "  commit_id TEXT,"
    "  deployments TEXT NOT NULL);"
    "CREATE INDEX hook_deliveries_repo ON hook_deliveries(repo_id, id);"
    "CREATE INDEX hook_deliveries_dedupe ON hook_deliveries(repo_id, delivery_id);",

    /* 5: the image ID a deployment's container runs (rollback compares
     * content, not tags) */
    "ALTER TABLE deployments ADD COLUMN image_id TEXT;",

    /* 6: access (docs/access.md). A token's parent: the session or token
     * that minted it (revoking one revokes its descendants). Invitations
     * can be voided, and a membership is made only when its invitation is
     * accepted: the pending memberships of accounts that never activated
     * become their pending invitations (keeping the role set since). */
    "ALTER TABLE tokens ADD COLUMN parent_id BIGINT;"
    "CREATE INDEX tokens_parent ON tokens(parent_id);"
    "ALTER TABLE invites ADD COLUMN voided_at BIGINT;"
    "CREATE INDEX invites_user ON invites(user_id);"
    "CREATE INDEX invites_org ON invites(org_id, user_id);"
    "UPDATE invites SET role = (SELECT m.role FROM memberships m WHERE m.org_id = "
    "  invites.org_id AND m.user_id = invites.user_id) WHERE used_at IS NULL AND EXISTS "
    "  (SELECT 1 FROM memberships m WHERE m.org_id = invites.org_id AND "
    "  m.user_id = invites.user_id);"
    "DELETE FROM memberships WHERE user_id IN (SELECT id FROM users WHERE status = 'invited');",

    /* 7: the webhook order rule,
     * per repository and branch, the last commit taken and every commit a
     * push taken named as its before or after (docs/webhooks.md) */
    "CREATE TABLE hook_branches ("
    "  repo_id BIGINT NOT NULL REFERENCES repos(id),"
    "  branch TEXT NOT NULL,"
    "  head TEXT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (repo_id, branch));"
    "CREATE TABLE hook_commits ("
    "  repo_id BIGINT NOT NULL REFERENCES repos(id),"
    "  branch TEXT NOT NULL,"
    "  commit_id TEXT NOT NULL,"
    "  at BIGINT NOT NULL,"
    "  PRIMARY KEY (repo_id, branch, commit_id));",
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
    /* DELIBERATE: berthd owns its database. EXCLUSIVE locking set before
     * the first WAL access keeps the WAL index in heap memory and drops the
     * per-statement fcntl/fstat lock calls (measured: /api/v1/me went from
     * about 15k to 23k req/s). Another process cannot read or write the
     * file while berthd runs: tests and tools go through the API (a token
     * can be made with expires_in as low as 1 s), backups through berthd. */
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

int store_begin(struct store *st)
{
    st->epoch++;
    return exec(st, "BEGIN IMMEDIATE");
}

int store_commit(struct store *st)
{
    st->epoch++;
    return exec(st, "COMMIT");
}

void store_rollback(struct store *st)
{
    st->epoch++;
    exec(st, "ROLLBACK");
}

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

/* NOTFOUND when the statement just run changed no row. */
static int changed(struct store *st, int rc)
{
    if (rc == STORE_OK && sqlite3_changes(st->db) == 0)
        return STORE_NOTFOUND;
    return rc;
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

int store_org_membership(struct store *st, const char *ref, int64_t user_id, struct org *o,
                         char role[16])
{
    struct member_slot *ms = NULL;
    if (strlen(ref) < sizeof ms->ref) {
        ms = &st->members[slot_of(ref, user_id)];
        if (stamp_valid(st, &ms->at) && ms->user_id == user_id && strcmp(ms->ref, ref) == 0) {
            *o = ms->o;
            memcpy(role, ms->role, 16);
            return STORE_OK;
        }
    }
    int64_t id;
    sqlite3_stmt *s;
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
        o->id = sqlite3_column_int64(s, 0);
        col_str(s, 1, o->name, sizeof o->name);
        o->created_at = sqlite3_column_int64(s, 2);
        col_str(s, 3, role, 16);
        sqlite3_reset(s);
        if (ms && stamp_set(st, &ms->at)) {
            snprintf(ms->ref, sizeof ms->ref, "%s", ref);
            ms->user_id = user_id;
            ms->o = *o;
            memcpy(ms->role, role, 16);
        }
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

int store_orgs_of_user(struct store *st, int64_t user_id,
                       int (*fn)(void *arg, const struct org *o, const char *role), void *arg)
{
    sqlite3_stmt *s = q(st, "SELECT o.id, o.name, m.role, o.created_at FROM orgs o "
                            "JOIN memberships m ON m.org_id = o.id WHERE m.user_id = ? "
                            "ORDER BY o.id", "i", user_id);
    if (!s)
        return STORE_ERR;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct org o;
        char role[16];
        o.id = sqlite3_column_int64(s, 0);
        col_str(s, 1, o.name, sizeof o.name);
        col_str(s, 2, role, sizeof role);
        o.created_at = sqlite3_column_int64(s, 3);
        stop = fn(arg, &o, role);
    }
    sqlite3_reset(s);
    if (stop)
        return stop;
    if (rc != SQLITE_DONE) {
        log_error("store", "list failed: %s", sqlite3_errmsg(st->db));
        return STORE_ERR;
    }
    return STORE_OK;
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

/* Writes the rows of s as a JSON array, each with put_row(). */
static int write_rows(struct store *st, sqlite3_stmt *s, struct jw *w,
                      void (*put_row)(sqlite3_stmt *s, struct jw *w))
{
    if (!s)
        return STORE_ERR;
    int rc;
    jw_arr(w);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        put_row(s, w);
    jw_arr_end(w);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        log_error("store", "list failed: %s", sqlite3_errmsg(st->db));
        return STORE_ERR;
    }
    return STORE_OK;
}

/* "key":column i as text (null for NULL), as col_json_str gives it. */
static void w_str(struct jw *w, const char *key, sqlite3_stmt *s, int i)
{
    jw_key(w, key);
    jw_str(w, (const char *)sqlite3_column_text(s, i));
}

/* "key":column i as an ISO-8601 time (null for NULL), as col_json_time. */
static void w_time(struct jw *w, const char *key, sqlite3_stmt *s, int i)
{
    jw_key(w, key);
    if (sqlite3_column_type(s, i) == SQLITE_NULL) {
        jw_null(w);
        return;
    }
    char t[32];
    util_iso8601(sqlite3_column_int64(s, i), t, sizeof t);
    jw_str(w, t);
}

static void member_row(sqlite3_stmt *s, struct jw *w)
{
    jw_obj(w);
    jw_key(w, "user_id");
    if (sqlite3_column_type(s, 0) == SQLITE_NULL)
        jw_null(w);
    else
        jw_int(w, sqlite3_column_int64(s, 0));
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
                           "org_id, created_at, expires_at, parent_id) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "isssssziiz", t->user_id, t->kind, t->name, hash, prefix, t->scopes,
                       t->org_id, t->created_at, t->expires_at, t->parent_id));
    if (rc == STORE_OK && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int store_token_by_hash(struct store *st, const char *hash, struct token *t, struct user *u)
{
    struct token_slot *ts = NULL;
    if (strlen(hash) < sizeof ts->hash) {
        ts = &st->tokens[slot_of(hash, 0)];
        if (stamp_valid(st, &ts->at) && strcmp(ts->hash, hash) == 0) {
            *t = ts->t;
            memset(u, 0, sizeof *u);
            u->id = ts->user_id;
            memcpy(u->email, ts->email, sizeof u->email);
            memcpy(u->status, ts->status, sizeof u->status);
            return STORE_OK;
        }
    }
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
    if (ts && stamp_set(st, &ts->at)) {
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
 * sqlite3_total_changes64, which empties the token lookup cache. */
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
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

static int invite_row(struct store *st, sqlite3_stmt *s, struct invite *inv)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    inv->id = sqlite3_column_int64(s, 0);
    inv->org_id = sqlite3_column_int64(s, 1);
    inv->user_id = sqlite3_column_int64(s, 2);
    col_str(s, 3, inv->role, sizeof inv->role);
    inv->expires_at = sqlite3_column_int64(s, 4);
    inv->used_at = sqlite3_column_int64(s, 5);
    inv->voided_at = sqlite3_column_int64(s, 6);
    sqlite3_reset(s);
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

static void invite_item(sqlite3_stmt *s, struct jw *w)
{
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, sqlite3_column_int64(s, 0));
    jw_key(w, "org");
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, sqlite3_column_int64(s, 1));
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
    sqlite3_stmt *s = q(st, "INSERT INTO job_logs (job_id, seq, stream, ts, data) "
                            "SELECT ?, ?, ?, ?, ? WHERE EXISTS (" JOB_OPEN ") "
                            "ON CONFLICT DO NOTHING",
                        "iisi", job_id, seq, stream, ts_ms);
    if (!s || sqlite3_bind_text(s, 5, data, (int)len, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int64(s, 6, job_id) != SQLITE_OK ||
        sqlite3_bind_int64(s, 7, server_id) != SQLITE_OK) {
        if (s)
            sqlite3_reset(s);
        return STORE_ERR;
    }
    int rc = run(st, s);
    if (rc != STORE_OK)
        return rc;
    *inserted = sqlite3_changes(st->db) > 0;
    if (*inserted)
        return STORE_OK;
    /* a duplicate of a stored chunk, or a job that is not open */
    s = q(st, JOB_OPEN, "ii", job_id, server_id);
    rc = row(st, s);
    if (rc == STORE_OK)
        sqlite3_reset(s);
    return rc;
}

int store_job_log_usage(struct store *st, int64_t job_id, int64_t *out, int64_t *sys,
                        int *truncated)
{
    sqlite3_stmt *s = q(st, "SELECT COALESCE(SUM(CASE WHEN stream <> 'system' THEN "
                            "length(CAST(data AS BLOB)) ELSE 0 END), 0), "
                            "COALESCE(SUM(CASE WHEN stream = 'system' THEN "
                            "length(CAST(data AS BLOB)) ELSE 0 END), 0), "
                            "COALESCE(MAX(CASE WHEN stream = 'system' AND substr(data, 1, ?) = ? "
                            "THEN 1 ELSE 0 END), 0) FROM job_logs WHERE job_id = ?",
                        "isi", (int64_t)strlen(STORE_JOB_TRUNCATED), STORE_JOB_TRUNCATED, job_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *out = sqlite3_column_int64(s, 0);
    *sys = sqlite3_column_int64(s, 1);
    *truncated = sqlite3_column_int(s, 2) != 0;
    sqlite3_reset(s);
    return STORE_OK;
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

static int app_from_row(sqlite3_stmt *s, struct app *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(s, 0);
    a->org_id = sqlite3_column_int64(s, 1);
    col_str(s, 2, a->name, sizeof a->name);
    a->server_id = sqlite3_column_int64(s, 3);
    col_str(s, 4, a->repo_url, sizeof a->repo_url);
    col_str(s, 5, a->branch, sizeof a->branch);
    col_str(s, 6, a->dockerfile, sizeof a->dockerfile);
    col_str(s, 7, a->context, sizeof a->context);
    a->container_port = sqlite3_column_int(s, 8);
    col_str(s, 9, a->health_path, sizeof a->health_path);
    a->public_port = sqlite3_column_int(s, 10);
    const unsigned char *d = sqlite3_column_text(s, 11);
    a->domains_json = strdup(d ? (const char *)d : "[]");
    a->auto_deploy = sqlite3_column_int(s, 12);
    col_str(s, 13, a->restart_policy, sizeof a->restart_policy);
    a->memory = sqlite3_column_int64(s, 14);
    a->cpus = sqlite3_column_double(s, 15);
    a->keep_images = sqlite3_column_int(s, 16);
    a->drain_seconds = sqlite3_column_int(s, 17);
    a->clone_timeout = sqlite3_column_int(s, 18);
    a->build_timeout = sqlite3_column_int(s, 19);
    a->health_timeout = sqlite3_column_int(s, 20);
    a->current_deployment_id = sqlite3_column_int64(s, 21);
    a->created_at = sqlite3_column_int64(s, 22);
    a->updated_at = sqlite3_column_int64(s, 23);
    return a->domains_json ? 0 : -1;
}

static int app_one(struct store *st, sqlite3_stmt *s, struct app *a)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    int bad = app_from_row(s, a);
    sqlite3_reset(s);
    return bad ? STORE_ERR : STORE_OK;
}

/* Binds the nullable limits (cpus is the only REAL anywhere). */
static int bind_limits(sqlite3_stmt *s, int at, const struct app *a)
{
    if (!s)
        return -1;
    int rc = a->cpus > 0 ? sqlite3_bind_double(s, at, a->cpus) : sqlite3_bind_null(s, at);
    return rc == SQLITE_OK ? 0 : -1;
}

int store_app_create(struct store *st, const struct app *a, int64_t *id)
{
    sqlite3_stmt *s = q(st, "INSERT INTO apps (org_id, name, server_id, repo_url, branch, "
                            "dockerfile, context, container_port, health_path, public_port, "
                            "domains, auto_deploy, restart_policy, memory, keep_images, "
                            "drain_seconds, clone_timeout, build_timeout, health_timeout, "
                            "created_at, updated_at, cpus) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        "isissssiszsiszii" "iiiii",
                        a->org_id, a->name, a->server_id, a->repo_url, a->branch,
                        a->dockerfile, a->context, (int64_t)a->container_port, a->health_path,
                        (int64_t)a->public_port, a->domains_json, (int64_t)a->auto_deploy,
                        a->restart_policy, a->memory, (int64_t)a->keep_images,
                        (int64_t)a->drain_seconds, (int64_t)a->clone_timeout,
                        (int64_t)a->build_timeout, (int64_t)a->health_timeout, a->created_at,
                        a->updated_at);
    if (bind_limits(s, 22, a) < 0)
        return STORE_ERR;
    int rc = run(st, s);
    if (rc == STORE_OK && id)
        *id = sqlite3_last_insert_rowid(st->db);
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
    sqlite3_stmt *s = q(st, "SELECT " APP_COLS " FROM apps WHERE org_id = ? ORDER BY name",
                        "i", org_id);
    if (!s)
        return STORE_ERR;
    int rc;
    struct app a;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (app_from_row(s, &a) == 0)
            fn(arg, &a);
        store_app_release(&a);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

int store_app_update(struct store *st, const struct app *a)
{
    sqlite3_stmt *s = q(st, "UPDATE apps SET name = ?, server_id = ?, repo_url = ?, "
                            "branch = ?, dockerfile = ?, context = ?, container_port = ?, "
                            "health_path = ?, public_port = ?, domains = ?, auto_deploy = ?, "
                            "restart_policy = ?, memory = ?, keep_images = ?, "
                            "drain_seconds = ?, clone_timeout = ?, build_timeout = ?, "
                            "health_timeout = ?, updated_at = ?, cpus = ? WHERE id = ?",
                        "sissssiszsiszii" "iiii",
                        a->name, a->server_id, a->repo_url, a->branch, a->dockerfile,
                        a->context, (int64_t)a->container_port, a->health_path,
                        (int64_t)a->public_port, a->domains_json, (int64_t)a->auto_deploy,
                        a->restart_policy, a->memory, (int64_t)a->keep_images,
                        (int64_t)a->drain_seconds, (int64_t)a->clone_timeout,
                        (int64_t)a->build_timeout, (int64_t)a->health_timeout, a->updated_at);
    if (bind_limits(s, 20, a) < 0 || sqlite3_bind_int64(s, 21, a->id) != SQLITE_OK)
        return STORE_ERR;
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
    sqlite3_stmt *s = q(st, "SELECT COUNT(*) FROM apps WHERE server_id = ?", "i", server_id);
    int rc = row(st, s);
    if (rc == STORE_OK) {
        *n = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
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

static json_t *env_row(sqlite3_stmt *s)
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
    sqlite3_stmt *s = q(st, "SELECT name, value_sealed FROM app_env WHERE app_id = ? ORDER BY "
                            "name", "i", app_id);
    if (!s)
        return STORE_ERR;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *n = sqlite3_column_text(s, 0), *v = sqlite3_column_text(s, 1);
        if (n && v)
            fn(arg, (const char *)n, (const char *)v);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

/* ---- deployments and their steps ---- */

#define DEP_COLS                                                                           \
    "id, org_id, app_id, server_id, kind, requested_commit, resolved_commit, status, "     \
    "failed_step, reason, COALESCE(rolled_back_to, 0), COALESCE(rollback_of, 0), image, "  \
    "COALESCE(job_id, 0), cancel_requested, COALESCE(created_by, 0), created_at, "         \
    "COALESCE(started_at, 0), COALESCE(finished_at, 0)"

static void dep_from_row(sqlite3_stmt *s, struct deployment *d)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(s, 0);
    d->org_id = sqlite3_column_int64(s, 1);
    d->app_id = sqlite3_column_int64(s, 2);
    d->server_id = sqlite3_column_int64(s, 3);
    col_str(s, 4, d->kind, sizeof d->kind);
    col_str(s, 5, d->commit, sizeof d->commit);
    col_str(s, 6, d->resolved_commit, sizeof d->resolved_commit);
    col_str(s, 7, d->status, sizeof d->status);
    col_str(s, 8, d->failed_step, sizeof d->failed_step);
    col_str(s, 9, d->reason, sizeof d->reason);
    d->rolled_back_to = sqlite3_column_int64(s, 10);
    d->rollback_of = sqlite3_column_int64(s, 11);
    col_str(s, 12, d->image, sizeof d->image);
    d->job_id = sqlite3_column_int64(s, 13);
    d->cancel_requested = sqlite3_column_int(s, 14);
    d->created_by = sqlite3_column_int64(s, 15);
    d->created_at = sqlite3_column_int64(s, 16);
    d->started_at = sqlite3_column_int64(s, 17);
    d->finished_at = sqlite3_column_int64(s, 18);
}

static int dep_one(struct store *st, sqlite3_stmt *s, struct deployment *d)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    dep_from_row(s, d);
    sqlite3_reset(s);
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
        *id = sqlite3_last_insert_rowid(st->db);
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
    sqlite3_stmt *s = q(st, "SELECT " DEP_COLS " FROM deployments WHERE app_id = ? ORDER BY "
                            "id DESC LIMIT ?", "ii", app_id, (int64_t)limit);
    if (!s)
        return STORE_ERR;
    int rc;
    struct deployment d;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        dep_from_row(s, &d);
        fn(arg, &d);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
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
    sqlite3_stmt *s = q(st, "SELECT DISTINCT app_id FROM deployments q WHERE status = "
                            "'PENDING' AND job_id IS NULL AND NOT EXISTS (SELECT 1 FROM "
                            "deployments a WHERE a.app_id = q.app_id AND (a.status = "
                            "'RUNNING' OR (a.status = 'PENDING' AND a.job_id IS NOT NULL)))",
                        "");
    if (!s)
        return STORE_ERR;
    /* Collect first: fn dispatches, which writes through other statements. */
    int64_t ids[256];
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < 256)
        ids[n++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
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

static json_t *ms_time(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    int64_t ms = sqlite3_column_int64(s, i);
    char t[40];
    util_iso8601(ms / 1000, t, sizeof t);
    /* 2026-11-23T19:21:00Z -> 2026-11-23T19:21:00.123Z */
    size_t l = strlen(t);
    if (l > 1 && t[l - 1] == 'Z')
        snprintf(t + l - 1, sizeof t - (l - 1), ".%03dZ", (int)(ms % 1000));
    return json_string(t);
}

static json_t *step_row(sqlite3_stmt *s)
{
    json_t *dur = json_null();
    if (sqlite3_column_type(s, 2) != SQLITE_NULL && sqlite3_column_type(s, 3) != SQLITE_NULL)
        dur = json_integer(sqlite3_column_int64(s, 3) - sqlite3_column_int64(s, 2));
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

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v && *v ? strdup((const char *)v) : NULL;
}

static void repo_from_row(sqlite3_stmt *s, struct repo *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    r->org_id = sqlite3_column_int64(s, 1);
    col_str(s, 2, r->provider, sizeof r->provider);
    col_str(s, 3, r->url, sizeof r->url);
    col_str(s, 4, r->url_norm, sizeof r->url_norm);
    r->secret_sealed = col_dup(s, 5);
    r->deploy_key_sealed = col_dup(s, 6);
    r->gh_app_id = sqlite3_column_int64(s, 7);
    r->gh_installation_id = sqlite3_column_int64(s, 8);
    col_str(s, 9, r->gh_api_url, sizeof r->gh_api_url);
    r->gh_key_sealed = col_dup(s, 10);
    r->created_at = sqlite3_column_int64(s, 11);
    r->updated_at = sqlite3_column_int64(s, 12);
}

static int repo_one(struct store *st, sqlite3_stmt *s, struct repo *r)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    repo_from_row(s, r);
    sqlite3_reset(s);
    return STORE_OK;
}

static int repos_walk(struct store *st, sqlite3_stmt *s,
                      void (*fn)(void *arg, const struct repo *r), void *arg)
{
    if (!s)
        return STORE_ERR;
    int rc;
    struct repo r;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        repo_from_row(s, &r);
        fn(arg, &r);
        store_repo_release(&r);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

int store_repo_create(struct store *st, int64_t org_id, const char *provider, const char *url,
                      const char *url_norm, int64_t now, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO repos (org_id, provider, url, url_norm, "
                           "webhook_secret_sealed, created_at, updated_at) VALUES (?, ?, ?, ?, "
                           "'', ?, ?)", "isssii", org_id, provider, url, url_norm, now, now));
    if (rc == STORE_OK && id)
        *id = sqlite3_last_insert_rowid(st->db);
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
    sqlite3_stmt *s = q(st, "SELECT 1 FROM hook_deliveries WHERE repo_id = ? AND delivery_id "
                            "= ? AND outcome <> 'rejected' LIMIT 1", "is", repo_id,
                        delivery_id);
    int rc = row(st, s);
    if (rc == STORE_OK)
        sqlite3_reset(s);
    *seen = rc == STORE_OK;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_hook_head(struct store *st, int64_t repo_id, const char *branch, char *head, size_t n)
{
    sqlite3_stmt *s = q(st, "SELECT head FROM hook_branches WHERE repo_id = ? AND branch = ?",
                        "is", repo_id, branch);
    int rc = row(st, s);
    head[0] = '\0';
    if (rc == STORE_OK) {
        col_str(s, 0, head, n);
        sqlite3_reset(s);
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_hook_seen(struct store *st, int64_t repo_id, const char *branch, const char *commit,
                    int *seen)
{
    sqlite3_stmt *s = q(st, "SELECT 1 FROM hook_commits WHERE repo_id = ? AND branch = ? AND "
                            "commit_id = ?", "iss", repo_id, branch, commit);
    int rc = row(st, s);
    if (rc == STORE_OK)
        sqlite3_reset(s);
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

static json_t *delivery_row(sqlite3_stmt *s)
{
    const unsigned char *deps = sqlite3_column_text(s, 10);
    json_t *d = json_loads(deps ? (const char *)deps : "[]", 0, NULL);
    if (!json_is_array(d)) {
        json_decref(d);
        d = json_array();
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "at", col_json_time(s, 1),
                     "event", col_json_str(s, 2), "delivery_id", col_json_str(s, 3), "outcome",
                     col_json_str(s, 4), "reason", col_json_str(s, 5), "status",
                     (json_int_t)sqlite3_column_int64(s, 6), "ref", col_json_str(s, 7),
                     "commit", col_json_str(s, 8), "deployments", d);
}

int store_deliveries_list(struct store *st, int64_t repo_id, int limit, json_t **items)
{
    return collect(st, q(st, "SELECT id, at, event, delivery_id, outcome, reason, status, ref, "
                             "commit_id, repo_id, deployments FROM hook_deliveries WHERE "
                             "repo_id = ? ORDER BY id DESC LIMIT ?", "ii", repo_id,
                         (int64_t)limit), items, delivery_row);
}
