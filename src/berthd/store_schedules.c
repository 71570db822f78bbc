/* store_schedules.c - scheduled operations and their run history, the
 * schedules and schedule_runs tables (migration 8; docs/schedules.md).
 *
 * Portable SQL through db.h (no SQLite here); the calls are in store.h.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_COLS                                                                         \
    "id, org_id, kind, COALESCE(script_id, 0), COALESCE(server_id, 0), COALESCE(app_id, 0), " \
    "cron, COALESCE(every_minutes, 0), timezone, catch_up, paused, pause_reason, "         \
    "next_run_at, COALESCE(last_run_at, 0), COALESCE(last_job_id, 0), "                    \
    "COALESCE(last_deployment_id, 0), COALESCE(created_by, 0), created_at, updated_at"

static void sched_from_row(struct db_stmt *q_, struct schedule *s)
{
    memset(s, 0, sizeof *s);
    s->id = db_int(q_, 0);
    s->org_id = db_int(q_, 1);
    db_str(q_, 2, s->kind, sizeof s->kind);
    s->script_id = db_int(q_, 3);
    s->server_id = db_int(q_, 4);
    s->app_id = db_int(q_, 5);
    db_str(q_, 6, s->cron, sizeof s->cron);
    s->every_minutes = (int)db_int(q_, 7);
    db_str(q_, 8, s->timezone, sizeof s->timezone);
    db_str(q_, 9, s->catch_up, sizeof s->catch_up);
    s->paused = (int)db_int(q_, 10);
    db_str(q_, 11, s->pause_reason, sizeof s->pause_reason);
    s->next_run_at = db_int(q_, 12);
    s->last_run_at = db_int(q_, 13);
    s->last_job_id = db_int(q_, 14);
    s->last_deployment_id = db_int(q_, 15);
    s->created_by = db_int(q_, 16);
    s->created_at = db_int(q_, 17);
    s->updated_at = db_int(q_, 18);
}

int store_schedule_create(struct store *st, const struct schedule *s, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO schedules (org_id, kind, script_id, server_id, app_id, "
                           "cron, every_minutes, timezone, catch_up, paused, next_run_at, "
                           "created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                           "?, 0, ?, ?, ?, ?)",
                       "iszzzszssiz" "ii", s->org_id, s->kind, s->script_id, s->server_id,
                       s->app_id, s->cron[0] ? s->cron : NULL, (int64_t)s->every_minutes,
                       s->timezone, s->catch_up, s->next_run_at, s->created_by, s->created_at,
                       s->created_at));
    if (rc == STORE_OK && id)
        *id = db_last_id(st->db);
    return rc;
}

int store_schedule_get(struct store *st, int64_t org_id, int64_t id, struct schedule *s)
{
    struct db_stmt *q_ = q(st, "SELECT " SCHED_COLS " FROM schedules WHERE id = ? AND (? = 0 "
                               "OR org_id = ?)", "iii", id, org_id, org_id);
    int rc = row(st, q_);
    if (rc != STORE_OK)
        return rc;
    sched_from_row(q_, s);
    db_done(q_);
    return STORE_OK;
}

int store_schedules_each(struct store *st, int64_t org_id,
                         void (*fn)(void *arg, const struct schedule *s), void *arg)
{
    struct db_stmt *q_ = q(st, "SELECT " SCHED_COLS " FROM schedules WHERE org_id = ? ORDER "
                               "BY id", "i", org_id);
    if (!q_)
        return STORE_ERR;
    int rc;
    struct schedule s;
    while ((rc = db_next(st->db, q_)) == 1) {
        sched_from_row(q_, &s);
        fn(arg, &s);
    }
    db_done(q_);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_schedules_due(struct store *st, int64_t now, struct schedule *out, int limit, int *n)
{
    *n = 0;
    struct db_stmt *q_ = q(st, "SELECT " SCHED_COLS " FROM schedules WHERE paused = 0 AND "
                               "next_run_at <= ? ORDER BY next_run_at, id LIMIT ?", "ii", now,
                           (int64_t)limit);
    if (!q_)
        return STORE_ERR;
    int rc;
    while (*n < limit && (rc = db_next(st->db, q_)) == 1)
        sched_from_row(q_, &out[(*n)++]);
    db_done(q_);
    return rc < 0 ? STORE_ERR : STORE_OK;
}

int store_schedule_set_paused(struct store *st, int64_t id, int paused, const char *reason,
                              int64_t next_run_at, int64_t now)
{
    if (paused)
        return changed(st, run(st, q(st, "UPDATE schedules SET paused = 1, pause_reason = ?, "
                                         "updated_at = ? WHERE id = ?", "sii", reason, now,
                                     id)));
    return changed(st, run(st, q(st, "UPDATE schedules SET paused = 0, pause_reason = NULL, "
                                     "next_run_at = ?, updated_at = ? WHERE id = ?", "iii",
                                 next_run_at, now, id)));
}

int store_schedule_fired(struct store *st, int64_t id, int64_t next_run_at, int64_t at,
                         int64_t job_id, int64_t deployment_id)
{
    return changed(st, run(st, q(st, "UPDATE schedules SET next_run_at = ?, last_run_at = ?, "
                                     "last_job_id = COALESCE(?, last_job_id), "
                                     "last_deployment_id = COALESCE(?, last_deployment_id) "
                                     "WHERE id = ?", "iizzi", next_run_at, at, job_id,
                                 deployment_id, id)));
}

int store_schedule_delete(struct store *st, int64_t id)
{
    int rc = run(st, q(st, "DELETE FROM schedule_runs WHERE schedule_id = ?", "i", id));
    if (rc == STORE_OK)
        rc = changed(st, run(st, q(st, "DELETE FROM schedules WHERE id = ?", "i", id)));
    return rc;
}

int store_schedule_run_add(struct store *st, const struct schedule_run *r)
{
    int rc = run(st, q(st, "INSERT INTO schedule_runs (schedule_id, due_at, at, outcome, "
                           "reason, job_id, deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       "iiisszz", r->schedule_id, r->due_at, r->at, r->outcome, r->reason,
                       r->job_id, r->deployment_id));
    if (rc != STORE_OK)
        return rc;
    return run(st, q(st, "DELETE FROM schedule_runs WHERE schedule_id = ? AND id <= (SELECT id "
                         "FROM schedule_runs WHERE schedule_id = ? ORDER BY id DESC LIMIT 1 "
                         "OFFSET ?)", "iii", r->schedule_id, r->schedule_id,
                     (int64_t)STORE_SCHEDULE_RUNS_KEPT));
}

int store_schedule_runs_each(struct store *st, int64_t schedule_id, int64_t before_id, int limit,
                             void (*fn)(void *arg, const struct schedule_run *r), void *arg)
{
    struct db_stmt *q_ = q(st, "SELECT r.id, r.due_at, r.at, r.outcome, r.reason, "
                               "COALESCE(r.job_id, 0), COALESCE(r.deployment_id, 0), "
                               "COALESCE(d.status, j.status) FROM schedule_runs r LEFT JOIN "
                               "jobs j ON j.id = r.job_id LEFT JOIN deployments d ON d.id = "
                               "r.deployment_id WHERE r.schedule_id = ? AND (? = 0 OR r.id < ?) "
                               "ORDER BY r.id DESC LIMIT ?", "iiii", schedule_id, before_id,
                           before_id, (int64_t)limit);
    if (!q_)
        return STORE_ERR;
    int rc;
    while ((rc = db_next(st->db, q_)) == 1) {
        struct schedule_run r = {
            .id = db_int(q_, 0),
            .schedule_id = schedule_id,
            .due_at = db_int(q_, 1),
            .at = db_int(q_, 2),
            .outcome = db_text(q_, 3),
            .reason = db_text(q_, 4),
            .job_id = db_int(q_, 5),
            .deployment_id = db_int(q_, 6),
            .status = db_text(q_, 7),
        };
        fn(arg, &r);
    }
    db_done(q_);
    return rc == 0 ? STORE_OK : STORE_ERR;
}
