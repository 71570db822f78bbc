/* store_apps.c - applications, their sealed env, deployments and their
 * pipeline steps (docs/deploy.md).
 *
 * Portable SQL through db.h (no SQLite here); the calls are in store.h.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "updated_at, https_redirect, hsts"

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
    a->https_redirect = (int)db_int(s, 24);
    a->hsts = (int)db_int(s, 25);
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
                              "created_at, updated_at, cpus, https_redirect, hsts) VALUES (?, ?, ?, ?, "
                              "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          "isissssiszsiszii" "iiiiifii",
                          a->org_id, a->name, a->server_id, a->repo_url, a->branch,
                          a->dockerfile, a->context, (int64_t)a->container_port, a->health_path,
                          (int64_t)a->public_port, a->domains_json, (int64_t)a->auto_deploy,
                          a->restart_policy, a->memory, (int64_t)a->keep_images,
                          (int64_t)a->drain_seconds, (int64_t)a->clone_timeout,
                          (int64_t)a->build_timeout, (int64_t)a->health_timeout, a->created_at,
                          a->updated_at, a->cpus, /* cpus: the only REAL anywhere */
                          (int64_t)a->https_redirect, (int64_t)a->hsts);
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

/* Calls fn for each app row of s (a query of APP_COLS), then finishes s. */
static int apps_each_row(struct store *st, struct db_stmt *s,
                         void (*fn)(void *arg, const struct app *a), void *arg)
{
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

int store_apps_each(struct store *st, int64_t org_id,
                    void (*fn)(void *arg, const struct app *a), void *arg)
{
    return apps_each_row(st, q(st, "SELECT " APP_COLS " FROM apps WHERE org_id = ? ORDER BY name",
                               "i", org_id), fn, arg);
}

int store_apps_of_server_each(struct store *st, int64_t server_id,
                              void (*fn)(void *arg, const struct app *a), void *arg)
{
    return apps_each_row(st, q(st, "SELECT " APP_COLS " FROM apps WHERE server_id = ? ORDER BY id",
                               "i", server_id), fn, arg);
}

int store_app_update(struct store *st, const struct app *a)
{
    struct db_stmt *s = q(st, "UPDATE apps SET name = ?, server_id = ?, repo_url = ?, "
                              "branch = ?, dockerfile = ?, context = ?, container_port = ?, "
                              "health_path = ?, public_port = ?, domains = ?, auto_deploy = ?, "
                              "restart_policy = ?, memory = ?, keep_images = ?, "
                              "drain_seconds = ?, clone_timeout = ?, build_timeout = ?, "
                              "health_timeout = ?, updated_at = ?, cpus = ?, https_redirect = ?, "
                              "hsts = ? WHERE id = ?",
                          "sissssiszsiszii" "iiiifiii",
                          a->name, a->server_id, a->repo_url, a->branch, a->dockerfile,
                          a->context, (int64_t)a->container_port, a->health_path,
                          (int64_t)a->public_port, a->domains_json, (int64_t)a->auto_deploy,
                          a->restart_policy, a->memory, (int64_t)a->keep_images,
                          (int64_t)a->drain_seconds, (int64_t)a->clone_timeout,
                          (int64_t)a->build_timeout, (int64_t)a->health_timeout, a->updated_at,
                          a->cpus, (int64_t)a->https_redirect, (int64_t)a->hsts, a->id);
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

int store_app_env_names(struct store *st, int64_t app_id,
                        void (*fn)(void *arg, const char *name, int64_t updated_at), void *arg)
{
    struct db_stmt *s = q(st, "SELECT name, updated_at FROM app_env WHERE app_id = ? ORDER BY "
                              "name", "i", app_id);
    int rc;
    while ((rc = db_next(st->db, s)) == 1)
        fn(arg, db_text(s, 0), db_int(s, 1));
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
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

int store_deployment_tail_get(struct store *st, int64_t id, char **json)
{
    *json = NULL;
    struct db_stmt *s = q(st, "SELECT container_tail FROM deployments WHERE id = ?", "i", id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    const char *t = db_text(s, 0);
    if (t && !(*json = strdup(t)))
        rc = STORE_ERR;
    db_done(s);
    return rc;
}

int store_deployment_tail_set(struct store *st, int64_t id, const char *json)
{
    return changed(st, run(st, q(st, "UPDATE deployments SET container_tail = ? WHERE id = ?",
                                 "si", json, id)));
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

int store_deploy_steps_each(struct store *st, int64_t deployment_id,
                            void (*fn)(void *arg, const struct deploy_step_row *s), void *arg)
{
    struct db_stmt *s = q(st, "SELECT step, status, started_at_ms, finished_at_ms, detail FROM "
                              "deployment_steps WHERE deployment_id = ? ORDER BY ord, "
                              "started_at_ms", "i", deployment_id);
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct deploy_step_row r = {
            .step = db_text(s, 0), .status = db_text(s, 1), .has_started = !db_null(s, 2),
            .has_finished = !db_null(s, 3), .started_ms = db_int(s, 2),
            .finished_ms = db_int(s, 3), .detail = db_text(s, 4),
        };
        fn(arg, &r);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

/* ---- HTTPS: each domain's certificate as its runner reports it ---- */

int store_domain_cert_set(struct store *st, const struct domain_cert *c)
{
    return run(st, q(st, "INSERT INTO domain_certs (app_id, name, status, expires_at, issuer, error, "
                         "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, name) DO UPDATE "
                         "SET status = excluded.status, expires_at = excluded.expires_at, "
                         "issuer = excluded.issuer, error = excluded.error, updated_at = excluded.updated_at",
                     "isszssi", c->app_id, c->name, c->status, c->expires_at, c->issuer[0] ? c->issuer : NULL,
                     c->error[0] ? c->error : NULL, c->updated_at));
}

int store_domain_cert_get(struct store *st, int64_t app_id, const char *name, struct domain_cert *c)
{
    struct db_stmt *s = q(st, "SELECT status, COALESCE(expires_at, 0), issuer, error, updated_at FROM "
                              "domain_certs WHERE app_id = ? AND name = ?", "is", app_id, name);
    int rc = row(st, s);
    memset(c, 0, sizeof *c);
    if (rc != STORE_OK)
        return rc;
    c->app_id = app_id;
    util_strlcpy(c->name, name, sizeof c->name);
    db_str(s, 0, c->status, sizeof c->status);
    c->expires_at = db_int(s, 1);
    db_str(s, 2, c->issuer, sizeof c->issuer);
    db_str(s, 3, c->error, sizeof c->error);
    c->updated_at = db_int(s, 4);
    db_done(s);
    return STORE_OK;
}
