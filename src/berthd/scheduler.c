/* scheduler.c - the scheduler (see scheduler.h).
 *
 * One fire time, in order: the catch-up rule for a late one; the next
 * fire time; the target still there (else a miss, and the schedule
 * pauses: it can never run again as it is); the previous run still going
 * (a skip); the server ACTIVE (else a miss); then the run. A run, a skip
 * and a miss are each one schedule_runs row and the schedule's next time,
 * written together.
 */
#include "scheduler.h"
#include "audit.h"
#include "cron.h"
#include "deploy.h"
#include "job.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRIPT_TIMEOUT_S 3600 /* as a script run through the API */

struct sched {
    struct srv *srv;
    struct lws_context *ctx;
    lws_sorted_usec_list_t sul;
    int started;
    int64_t started_at;
};

/* ---- timing ---- */

struct timing {
    struct cron c;
    struct cron_zone *zone;
    int every;
    int64_t anchor;
};

static int timing_init(struct timing *t, const char *cron, int every, const char *zone,
                       int64_t anchor, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->every = every;
    t->anchor = anchor - anchor % 60;
    if (every)
        return every >= 1 && every <= SCHEDULER_EVERY_MAX ? 0 : -1;
    if (cron_parse(cron, &t->c, err, errlen) < 0)
        return -1;
    return cron_zone_load(zone, NULL, &t->zone, err, errlen);
}

static int timing_next(const struct timing *t, int64_t after, int64_t *next)
{
    if (!t->every)
        return cron_next(&t->c, t->zone, after, next);
    int64_t p = (int64_t)t->every * 60;
    int64_t k = after < t->anchor ? 0 : (after - t->anchor) / p + 1;
    *next = t->anchor + k * p;
    return 0;
}

int sched_next(const char *cron, int every_minutes, const char *zone, int64_t anchor,
               int64_t after, int64_t *next, char *err, size_t errlen)
{
    struct timing t;
    if (timing_init(&t, cron, every_minutes, zone, anchor, err, errlen) < 0)
        return -1;
    int rc = timing_next(&t, after, next);
    cron_zone_free(t.zone);
    if (rc < 0)
        snprintf(err, errlen, "the expression never fires (no matching date within %d years)",
                 CRON_HORIZON_YEARS);
    return rc;
}

int sched_next_n(const struct schedule *s, int64_t after, int64_t *out, int n)
{
    struct timing t;
    char err[200];
    if (timing_init(&t, s->cron, s->every_minutes, s->timezone, s->created_at, err,
                    sizeof err) < 0)
        return 0;
    int k = 0;
    while (k < n && timing_next(&t, after, &out[k]) == 0)
        after = out[k++];
    cron_zone_free(t.zone);
    return k;
}

/* ---- one fire time ---- */

struct fire {
    struct srv *srv;
    const struct schedule *s;
    int64_t now, due, next;
    int late;
    int booting; /* within SCHEDULER_BOOT_GRACE_S of berthd's start */
    char reason[400];
};

static void target_name(const struct schedule *s, char *out, size_t n)
{
    snprintf(out, n, "schedule:%lld", (long long)s->id);
}

/* Stores the outcome and the next time, in the caller's transaction
 * (in_tx) or one of its own; pause_why non-NULL pauses the schedule too. */
static int record_tx(struct fire *f, int in_tx, const char *outcome, int64_t job_id,
                     int64_t dep_id, const char *pause_why)
{
    struct store *st = f->srv->store;
    struct schedule_run run = {.schedule_id = f->s->id, .due_at = f->due, .at = f->now,
                               .outcome = outcome, .reason = f->reason[0] ? f->reason : NULL,
                               .job_id = job_id, .deployment_id = dep_id};
    int own = !in_tx && store_begin(st) == STORE_OK;
    int rc = store_schedule_run_add(st, &run);
    if (rc == STORE_OK)
        rc = store_schedule_fired(st, f->s->id, f->next, f->now, job_id, dep_id);
    if (rc == STORE_OK && pause_why)
        rc = store_schedule_set_paused(st, f->s->id, 1, pause_why, 0, f->now);
    if (own && (rc != STORE_OK || store_commit(st) != STORE_OK)) {
        store_rollback(st);
        rc = STORE_ERR;
    }
    if (rc != STORE_OK)
        log_error("sched", "schedule %lld: cannot record its %s run: %s", (long long)f->s->id,
                  outcome, store_errmsg(st));
    else if (strcmp(outcome, "started") != 0)
        log_info("sched", "schedule %lld %s: %s", (long long)f->s->id, outcome, f->reason);
    return rc;
}

static void record(struct fire *f, const char *outcome, int64_t job_id, int64_t dep_id,
                   const char *pause_why)
{
    record_tx(f, 0, outcome, job_id, dep_id, pause_why);
}

static void miss(struct fire *f, const char *pause_why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void miss(struct fire *f, const char *pause_why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof f->reason, fmt, ap);
    va_end(ap);
    record(f, "missed", 0, 0, pause_why ? f->reason : NULL);
}

static int still_going(const char *status)
{
    return strcmp(status, "PENDING") == 0 || strcmp(status, "RUNNING") == 0;
}

/* The server of a run: 0 when ACTIVE; -1 when not (the miss is
 * recorded), or, while berthd is booting and the server's runner may not
 * have reconnected yet, when it is UNREACHABLE (nothing is recorded: the
 * fire time is looked at again on the next tick). */
static int server_ready(struct fire *f, int64_t server_id)
{
    struct server sv;
    int rc = store_server_get(f->srv->store, server_id, &sv);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && sv.org_id != f->s->org_id)) {
        miss(f, "", "server %lld no longer exists; the schedule is paused",
             (long long)server_id);
        return -1;
    }
    if (rc != STORE_OK) {
        miss(f, NULL, "the store failed reading server %lld", (long long)server_id);
        return -1;
    }
    if (sv.decommissioned_at) {
        miss(f, "", "server '%s' is decommissioned; the schedule is paused", sv.name);
        return -1;
    }
    if (f->booting && strcmp(sv.status, "UNREACHABLE") == 0)
        return -1;
    if (strcmp(sv.status, "ACTIVE") != 0) {
        miss(f, NULL, "server '%s' is %s%s%s", sv.name, sv.status, sv.status_reason[0] ? ": " : "",
             sv.status_reason);
        return -1;
    }
    return 0;
}

static void audit_run(struct fire *f, const char *what, int64_t id)
{
    char target[64], detail[600];
    target_name(f->s, target, sizeof target);
    json_t *d = json_pack("{s:s, s:I, s:s?}", "run", what, "id", (json_int_t)id, "reason",
                          f->reason[0] ? f->reason : NULL);
    char *txt = d ? json_dumps(d, JSON_COMPACT) : NULL;
    util_strlcpy(detail, txt ? txt : "{}", sizeof detail);
    free(txt);
    json_decref(d);
    audit_event(f->srv, f->s->org_id, 0, "scheduler", "schedule.run", target, "success", detail);
}

static void fire_script(struct fire *f)
{
    const struct schedule *s = f->s;
    struct script sc;
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)s->script_id);
    int rc = store_script_find(f->srv->store, s->org_id, ref, &sc);
    if (rc == STORE_NOTFOUND) {
        miss(f, "", "script %lld no longer exists; the schedule is paused",
             (long long)s->script_id);
        return;
    }
    if (rc != STORE_OK) {
        miss(f, NULL, "the store failed reading script %lld", (long long)s->script_id);
        return;
    }
    struct job prev;
    if (s->last_job_id && store_job_get(f->srv->store, s->org_id, s->last_job_id, &prev) ==
                              STORE_OK) {
        int going = still_going(prev.status);
        if (going)
            snprintf(f->reason, sizeof f->reason, "the previous run (job %lld) is still %s",
                     (long long)prev.id, prev.status);
        store_job_release(&prev);
        if (going) {
            record(f, "skipped", 0, 0, NULL);
            store_script_release(&sc);
            return;
        }
    }
    if (server_ready(f, s->server_id) < 0) {
        store_script_release(&sc);
        return;
    }
    json_t *spec = proto_script_spec(sc.name, sc.body, SCRIPT_TIMEOUT_S);
    struct job j;
    memset(&j, 0, sizeof j);
    j.org_id = s->org_id;
    j.server_id = s->server_id;
    util_strlcpy(j.kind, "script", sizeof j.kind);
    j.spec_json = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    j.created_at = f->now;
    j.created_by = s->created_by;
    json_decref(spec);
    store_script_release(&sc);
    struct store *st = f->srv->store;
    rc = j.spec_json && store_begin(st) == STORE_OK ? STORE_OK : STORE_ERR;
    if (rc == STORE_OK) {
        rc = job_insert(f->srv, &j);
        if (rc == STORE_OK)
            rc = record_tx(f, 1, "started", j.id, 0, NULL);
        if (rc != STORE_OK || store_commit(st) != STORE_OK) {
            store_rollback(st);
            rc = STORE_ERR;
        }
    }
    if (rc != STORE_OK) {
        free(j.spec_json);
        miss(f, NULL, "the job could not be stored");
        return;
    }
    job_submitted(f->srv, &j);
    audit_run(f, "job", j.id);
    free(j.spec_json);
}

static void fire_deploy(struct fire *f)
{
    const struct schedule *s = f->s;
    struct app a;
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)s->app_id);
    int rc = store_app_find(f->srv->store, s->org_id, ref, &a);
    if (rc == STORE_NOTFOUND) {
        miss(f, "", "application %lld no longer exists; the schedule is paused",
             (long long)s->app_id);
        return;
    }
    if (rc != STORE_OK) {
        miss(f, NULL, "the store failed reading application %lld", (long long)s->app_id);
        return;
    }
    struct deployment prev;
    if (s->last_deployment_id &&
        store_deployment_get(f->srv->store, s->org_id, s->last_deployment_id, &prev) ==
            STORE_OK &&
        still_going(prev.status)) {
        snprintf(f->reason, sizeof f->reason, "the previous run (deployment %lld) is still %s",
                 (long long)prev.id, prev.status);
        record(f, "skipped", 0, 0, NULL);
        store_app_release(&a);
        return;
    }
    if (server_ready(f, a.server_id) < 0) {
        store_app_release(&a);
        return;
    }
    struct deployment d;
    memset(&d, 0, sizeof d);
    util_strlcpy(d.kind, "deploy", sizeof d.kind);
    d.created_by = s->created_by;
    int64_t id = 0;
    rc = deploy_create(f->srv, &a, &d, &id);
    store_app_release(&a);
    if (rc != STORE_OK) {
        miss(f, NULL, "the deployment could not be stored");
        return;
    }
    record(f, "started", 0, id, NULL);
    audit_run(f, "deployment", id);
}

static void fire_one(struct srv *srv, const struct schedule *s, int64_t now, int booting)
{
    struct fire f = {.srv = srv, .s = s, .now = now, .due = s->next_run_at, .booting = booting};
    f.late = now - f.due > SCHEDULER_LATE_S;
    struct timing t;
    char err[200];
    char due_txt[32];
    util_iso8601(f.due, due_txt, sizeof due_txt);
    if (timing_init(&t, s->cron, s->every_minutes, s->timezone, s->created_at, err,
                    sizeof err) < 0 ||
        timing_next(&t, f.late ? now : f.due, &f.next) < 0) {
        cron_zone_free(t.zone);
        f.next = f.due;
        miss(&f, "", "the schedule's timing no longer works (%s); it is paused",
             err[0] ? err : "no next fire time");
        return;
    }
    cron_zone_free(t.zone);
    if (f.late && strcmp(s->catch_up, "skip") == 0) {
        miss(&f, NULL, "berthd was not running at %s (catch_up skip)", due_txt);
        return;
    }
    if (f.late)
        snprintf(f.reason, sizeof f.reason, "catch-up: due at %s while berthd was not running",
                 due_txt);
    if (strcmp(s->kind, "deploy") == 0)
        fire_deploy(&f);
    else
        fire_script(&f);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct sched *sc = lws_container_of(sul, struct sched, sul);
    static struct schedule due[SCHEDULER_BATCH]; /* loop thread only */
    int n = 0;
    int64_t now = util_now();
    if (store_schedules_due(sc->srv->store, now, due, SCHEDULER_BATCH, &n) != STORE_OK)
        log_error("sched", "cannot read the due schedules");
    int booting = now - sc->started_at < SCHEDULER_BOOT_GRACE_S;
    for (int i = 0; i < n && !sc->srv->stopping; i++)
        fire_one(sc->srv, &due[i], now, booting);
    lws_sul_schedule(sc->ctx, 0, &sc->sul, tick,
                     n == SCHEDULER_BATCH ? 1000 : (lws_usec_t)SCHEDULER_TICK_MS * 1000);
}

/* ---- life ---- */

struct sched *sched_new(struct srv *s)
{
    struct sched *sc = calloc(1, sizeof *sc);
    if (sc)
        sc->srv = s;
    return sc;
}

int sched_start(struct sched *sc, struct lws_context *ctx)
{
    sc->ctx = ctx;
    sc->started_at = util_now();
    lws_sul_schedule(ctx, 0, &sc->sul, tick, (lws_usec_t)SCHEDULER_TICK_MS * 1000);
    sc->started = 1;
    return 0;
}

void sched_stop(struct sched *sc)
{
    if (sc && sc->started) {
        lws_sul_cancel(&sc->sul);
        sc->started = 0;
    }
}

void sched_free(struct sched *sc) { free(sc); }
