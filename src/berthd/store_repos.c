/* store_repos.c - git repositories (sealed secrets), webhook deliveries and
 * the push order rule's memory, hook_branches and hook_commits
 * (docs/webhooks.md).
 *
 * Portable SQL through db.h (no SQLite here); the calls are in store.h.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int store_deliveries_each(struct store *st, int64_t repo_id, int limit,
                          void (*fn)(void *arg, int64_t id, const struct hook_delivery *d),
                          void *arg)
{
    struct db_stmt *s = q(st, "SELECT id, at, event, delivery_id, outcome, reason, status, "
                              "ref, commit_id, repo_id, deployments FROM hook_deliveries "
                              "WHERE repo_id = ? ORDER BY id DESC LIMIT ?", "ii", repo_id,
                          (int64_t)limit);
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct hook_delivery d = {
            .repo_id = db_int(s, 9), .at = db_int(s, 1), .event = db_text(s, 2),
            .delivery_id = db_text(s, 3), .outcome = db_text(s, 4), .reason = db_text(s, 5),
            .status = (int)db_int(s, 6), .ref = db_text(s, 7), .commit = db_text(s, 8),
            .deployments_json = db_text(s, 10),
        };
        fn(arg, db_int(s, 0), &d);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}
