/* store_fleet.c - servers and their registration tokens, the scripts run on
 * them, jobs and their output (job_logs).
 *
 * Portable SQL through db.h (no SQLite here); the calls are in store.h.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The page statements, one per (sort, direction, first page or after a
 * position): the statement cache keys on the SQL text, and a keyset
 * condition written as `key >= ? AND (key > ? OR id > ?)` lets both
 * engines range-scan the sort's index (migration 9). The optional filters
 * are `? IS NULL OR ...`, so one plan serves every filter; the indexes
 * hold status and name, so filters are tested on index entries and only
 * the rows of the page are read. */
#define PAGE_COLS                                                                          \
    "SELECT id, name, status, status_reason, status_changed_at, created_at, last_seen_at, " \
    "decommissioned_at FROM servers "
#define PAGE_WHERE                                                                         \
    "WHERE org_id = ? AND (? IS NULL OR status = ?) AND "                                  \
    "(? IS NULL OR LOWER(name) LIKE ? ESCAPE '\\') "
#define PAGE_FIRST(key, dir) PAGE_COLS PAGE_WHERE "ORDER BY " key " " dir ", id " dir " LIMIT ?"
#define PAGE_AFTER(key, ge, gt, dir)                                                       \
    PAGE_COLS PAGE_WHERE "AND " key " " ge " ? AND (" key " " gt " ? OR id " gt " ?) "     \
    "ORDER BY " key " " dir ", id " dir " LIMIT ?"
#define PAGE_SQL(key)                                                                      \
    {{PAGE_FIRST(key, "ASC"), PAGE_AFTER(key, ">=", ">", "ASC")},                          \
     {PAGE_FIRST(key, "DESC"), PAGE_AFTER(key, "<=", "<", "DESC")}}

static const char *const page_sql[4][2][2] = {
    [STORE_SERVER_SORT_NAME] = PAGE_SQL("name"),
    [STORE_SERVER_SORT_STATUS] = PAGE_SQL("status"),
    [STORE_SERVER_SORT_SEEN] = PAGE_SQL("COALESCE(last_seen_at, 0)"),
    [STORE_SERVER_SORT_CREATED] = PAGE_SQL("created_at"),
};

/* "%" + q lower-cased with LIKE's own characters escaped + "%" into out
 * (NULL when q is NULL or does not fit). */
static const char *like_pattern(const char *q, char *out, size_t n)
{
    size_t o = 0;
    if (!q || n < 3)
        return NULL;
    out[o++] = '%';
    for (; *q; q++) {
        if (o + 4 > n)
            return NULL;
        if (*q == '%' || *q == '_' || *q == '\\')
            out[o++] = '\\';
        out[o++] = (*q >= 'A' && *q <= 'Z') ? (char)(*q - 'A' + 'a') : *q;
    }
    out[o++] = '%';
    out[o] = '\0';
    return out;
}

int store_servers_page(struct store *st, const struct store_server_page *p,
                       void (*fn)(void *arg, const struct server_row *sv), void *arg,
                       int *more, int64_t *total)
{
    char pat[512];
    const char *like = like_pattern(p->q, pat, sizeof pat);
    int sort = (int)p->sort, text_key = sort == STORE_SERVER_SORT_NAME ||
                                        sort == STORE_SERVER_SORT_STATUS;
    *more = 0;
    if (sort < 0 || sort > STORE_SERVER_SORT_CREATED || p->limit < 1 || (p->q && !like) ||
        (p->after && text_key && !p->after_text))
        return STORE_ERR;
    if (total) {
        struct db_stmt *c = q(st, "SELECT COUNT(*) FROM servers " PAGE_WHERE, "issss", p->org_id,
                              p->status, p->status, like, like);
        int rc = row(st, c);
        if (rc != STORE_OK)
            return rc;
        *total = db_int(c, 0);
        db_done(c);
    }
    const char *sql = page_sql[sort][p->desc ? 1 : 0][p->after ? 1 : 0];
    int64_t lim = (int64_t)p->limit + 1; /* one more row says another page follows */
    struct db_stmt *s;
    if (!p->after)
        s = q(st, sql, "issssi", p->org_id, p->status, p->status, like, like, lim);
    else if (text_key)
        s = q(st, sql, "issssssii", p->org_id, p->status, p->status, like, like, p->after_text,
              p->after_text, p->after_id, lim);
    else
        s = q(st, sql, "issssiiii", p->org_id, p->status, p->status, like, like, p->after_int,
              p->after_int, p->after_id, lim);
    int rc, n = 0;
    while ((rc = db_next(st->db, s)) == 1) {
        if (n == p->limit) {
            *more = 1;
            break;
        }
        struct server_row sv = {
            .id = db_int(s, 0), .name = db_text(s, 1), .status = db_text(s, 2),
            .status_reason = db_text(s, 3), .status_changed_at = db_int(s, 4),
            .created_at = db_int(s, 5), .last_seen_at = db_int(s, 6),
            .decommissioned_at = db_int(s, 7),
        };
        fn(arg, &sv);
        n++;
    }
    db_done(s);
    return rc < 0 ? STORE_ERR : STORE_OK;
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

int store_scripts_each(struct store *st, int64_t org_id,
                       void (*fn)(void *arg, const struct script_row *sc), void *arg)
{
    struct db_stmt *s = q(st, "SELECT id, name, LENGTH(body), created_at, updated_at FROM "
                              "scripts WHERE org_id = ? ORDER BY name", "i", org_id);
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct script_row sc = {
            .id = db_int(s, 0), .name = db_text(s, 1), .size = db_int(s, 2),
            .created_at = db_int(s, 3), .updated_at = db_int(s, 4),
        };
        fn(arg, &sc);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
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

int store_jobs_each(struct store *st, int64_t org_id, int64_t server_id, int limit,
                    void (*fn)(void *arg, const struct job_row *j), void *arg)
{
    struct db_stmt *s = q(st, "SELECT id, server_id, kind, status, exit_code, created_at, "
                              "started_at, finished_at FROM jobs WHERE org_id = ? AND "
                              "(? = 0 OR server_id = ?) ORDER BY id DESC LIMIT ?",
                          "iiii", org_id, server_id, server_id, (int64_t)limit);
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct job_row j = {
            .id = db_int(s, 0), .server_id = db_int(s, 1), .kind = db_text(s, 2),
            .status = db_text(s, 3), .has_exit = !db_null(s, 4), .exit_code = db_int(s, 4),
            .created_at = db_int(s, 5), .started_at = db_int(s, 6),
            .finished_at = db_int(s, 7),
        };
        fn(arg, &j);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
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

int store_job_log_usage(struct store *st, int64_t job_id, int64_t *out, int64_t *sys,
                        int *truncated)
{
    struct db_stmt *s = q(st, "SELECT COALESCE(SUM(CASE WHEN stream <> 'system' THEN "
                              "length(CAST(data AS BLOB)) ELSE 0 END), 0), "
                              "COALESCE(SUM(CASE WHEN stream = 'system' THEN "
                              "length(CAST(data AS BLOB)) ELSE 0 END), 0), "
                              "COALESCE(MAX(CASE WHEN stream = 'system' AND substr(data, 1, ?) "
                              "= ? THEN 1 ELSE 0 END), 0) FROM job_logs WHERE job_id = ?",
                          "isi", (int64_t)strlen(STORE_JOB_TRUNCATED), STORE_JOB_TRUNCATED,
                          job_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *out = db_int(s, 0);
    *sys = db_int(s, 1);
    *truncated = db_int(s, 2) != 0;
    db_done(s);
    return STORE_OK;
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
