/* api_deployments.c - deployments of an application: start one (queued
 * behind the app's running one), list and read them with their steps,
 * their log (the `deploy` job's output, whole or followed live), cancel,
 * and roll back to the previous successful image (docs/deploy.md).
 *
 * Scopes: deploy:read reads; deploy:write deploys, cancels and rolls
 * back. The queue itself and the job plumbing live in deploy.c. */
#include "access.h"
#include "api.h"
#include "deploy.h"
#include "hub.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEPLOYMENTS_LIST_MAX 100

static int ended(const struct deployment *d)
{
    return strcmp(d->status, "PENDING") != 0 && strcmp(d->status, "RUNNING") != 0;
}

/* "FAILED at health: no answer on /; rolled back to deployment 40" */
static void summary(const struct deployment *d, char *out, size_t n)
{
    int k = snprintf(out, n, "%s", d->status);
    if (strcmp(d->status, "PENDING") == 0)
        k = snprintf(out, n, "%s", d->job_id ? "PENDING: sent to the runner"
                                              : "PENDING: queued behind the running deployment");
    if (d->failed_step[0] && k >= 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, " at %s", d->failed_step);
    if (d->reason[0] && k >= 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, ": %s", d->reason);
    if (d->rolled_back_to && k >= 0 && (size_t)k < n)
        snprintf(out + k, n - (size_t)k, "; rolled back to deployment %lld",
                 (long long)d->rolled_back_to);
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* A step time in ms as ISO-8601 with milliseconds: 2026-11-23T19:21:00.123Z. */
static json_t *ms_time(int64_t ms)
{
    char t[40];
    util_iso8601(ms / 1000, t, sizeof t);
    size_t l = strlen(t);
    if (l > 1 && t[l - 1] == 'Z')
        snprintf(t + l - 1, sizeof t - (l - 1), ".%03dZ", (int)(ms % 1000));
    return json_string(t);
}

/* {step, status, started_at, finished_at, duration_ms, detail} */
static void step_item(void *arg, const struct deploy_step_row *st)
{
    json_array_append_new(
        arg, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "step", str_or_null(st->step),
                       "status", str_or_null(st->status), "started_at",
                       st->has_started ? ms_time(st->started_ms) : json_null(), "finished_at",
                       st->has_finished ? ms_time(st->finished_ms) : json_null(),
                       "duration_ms",
                       st->has_started && st->has_finished
                           ? json_integer(st->finished_ms - st->started_ms)
                           : json_null(),
                       "detail", str_or_null(st->detail)));
}

/* A failed deployment's container output as kept (deploy.c), each line
 * with its time: [{time, ts, stream, text, cut?}], [] when none. */
static json_t *container_tail(struct req *r, int64_t id)
{
    char *text = NULL, t[48];
    size_t i;
    json_t *v, *kept = NULL;
    if (store_deployment_tail_get(r->srv->store, id, &text) == STORE_OK && text)
        kept = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_array(kept)) {
        json_decref(kept);
        return json_array();
    }
    json_array_foreach(kept, i, v) {
        json_int_t ns = json_integer_value(json_object_get(v, "ts"));
        time_t sec = (time_t)(ns / 1000000000LL);
        struct tm tm;
        char d[32];
        gmtime_r(&sec, &tm);
        strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(t, sizeof t, "%s.%09lldZ", d, (long long)(ns % 1000000000LL));
        json_object_set_new(v, "time", json_string(t));
    }
    return kept;
}

static json_t *dep_json(struct req *r, const struct deployment *d, int64_t current_id,
                        int steps)
{
    char sum[800];
    summary(d, sum, sizeof sum);
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:o, s:o, s:b, s:b,"
        " s:s, s:o, s:o, s:o, s:o}",
        "id", (json_int_t)d->id, "app_id", (json_int_t)d->app_id, "server_id",
        (json_int_t)d->server_id, "kind", d->kind, "status", d->status, "commit",
        d->commit[0] ? d->commit : NULL, "resolved_commit",
        d->resolved_commit[0] ? d->resolved_commit : NULL, "image",
        d->image[0] ? d->image : NULL, "job_id",
        d->job_id ? json_integer(d->job_id) : json_null(), "failed_step",
        d->failed_step[0] ? d->failed_step : NULL, "reason", d->reason[0] ? d->reason : NULL,
        "rolled_back_to", d->rolled_back_to ? json_integer(d->rolled_back_to) : json_null(),
        "rollback_of", d->rollback_of ? json_integer(d->rollback_of) : json_null(),
        "cancel_requested", d->cancel_requested, "current", d->id == current_id, "summary", sum,
        "created_by", d->created_by ? json_integer(d->created_by) : json_null(), "created_at",
        api_time(d->created_at), "started_at", api_time(d->started_at), "finished_at",
        api_time(d->finished_at));
    if (o && steps) {
        json_t *items = json_array();
        if (store_deploy_steps_each(r->srv->store, d->id, step_item, items) != STORE_OK)
            json_array_clear(items);
        json_object_set_new(o, "steps", items);
        json_object_set_new(o, "container_tail", container_tail(r, d->id));
    }
    return o;
}

static int64_t current_of(struct req *r, int64_t app_id, char *name, size_t n)
{
    char ref[24];
    struct app a;
    snprintf(ref, sizeof ref, "%lld", (long long)app_id);
    if (store_app_find(r->srv->store, r->who.org_id, ref, &a) != STORE_OK)
        return 0;
    int64_t cur = a.current_deployment_id;
    if (name)
        util_strlcpy(name, a.name, n);
    store_app_release(&a);
    return cur;
}

static int dep_of(struct req *r, struct deployment *d)
{
    int64_t id;
    int rc = util_parse_i64(r->params[1], &id) == 0
                 ? store_deployment_get(r->srv->store, r->who.org_id, id, d)
                 : STORE_NOTFOUND;
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "deployment not found: %s", r->params[1]);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "deployment");
        return -1;
    }
    return 0;
}

/* Deploys need the app's server ACTIVE (and in service): else 409. */
static int server_ready(struct req *r, const struct app *a)
{
    struct server sv;
    int rc = store_server_get(r->srv->store, a->server_id, &sv);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "server");
        return -1;
    }
    if (api_server_refuse_decommissioned(r, &sv) < 0)
        return -1;
    if (strcmp(sv.status, "ACTIVE") != 0) {
        http_reply_error(r, 409, "server_not_active", "server '%s' is %s%s%s; deployments run "
                         "only on ACTIVE servers", sv.name, sv.status,
                         sv.status_reason[0] ? ": " : "", sv.status_reason);
        return -1;
    }
    return 0;
}

/* Stores d (PENDING), starts it if the app's slot is free, answers 201. */
static void create_and_answer(struct req *r, const struct app *a, struct deployment *d)
{
    int64_t id;
    d->created_by = r->who.user_id;
    int rc = deploy_create(r->srv, a, d, &id);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "deployment");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "deployment:%lld", (long long)id);
    struct deployment now;
    if (store_deployment_get(r->srv->store, 0, id, &now) != STORE_OK) {
        api_store_error(r, STORE_ERR, "deployment");
        return;
    }
    r->audit_detail = json_pack("{s:s, s:I, s:s, s:s?, s:o}", "app", a->name, "app_id",
                                (json_int_t)a->id, "kind", d->kind, "commit",
                                d->commit[0] ? d->commit : NULL, "rollback_of",
                                d->rollback_of ? json_integer(d->rollback_of) : json_null());
    http_reply_json(r, 201, dep_json(r, &now, a->current_deployment_id, 1));
}

static int commit_valid(const char *s) { return util_lower_hex(s, 4, 64); }

void api_deployment_create(struct req *r)
{
    static const char *const fields[] = {"commit", NULL};
    struct app a;
    struct deployment d;
    const char *commit = NULL;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    json_t *b = r->body.len ? req_json(r) : NULL;
    if (r->body.len &&
        (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "commit", 0, &commit) < 0))
        return;
    if (commit && !commit_valid(commit)) {
        http_reply_error(r, 422, "invalid_field", "field 'commit' must be a commit id: 4-64 "
                         "lowercase hex digits");
        return;
    }
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    if (server_ready(r, &a) == 0) {
        memset(&d, 0, sizeof d);
        util_strlcpy(d.kind, "deploy", sizeof d.kind);
        if (commit)
            util_strlcpy(d.commit, commit, sizeof d.commit);
        create_and_answer(r, &a, &d);
    }
    store_app_release(&a);
}

void api_app_rollback(struct req *r)
{
    struct app a;
    struct deployment cur, target, d;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    if (r->body.len) {
        static const char *const none[] = {NULL};
        json_t *b = req_json(r);
        if (!b || req_only_fields(r, b, none) < 0)
            return;
    }
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    const char *cur_image = "";
    if (a.current_deployment_id &&
        store_deployment_get(r->srv->store, 0, a.current_deployment_id, &cur) == STORE_OK)
        cur_image = cur.image;
    int rc = store_deployment_last_success(r->srv->store, a.id, a.current_deployment_id,
                                           cur_image, &target);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 409, "no_previous_deployment", "application '%s' has no earlier "
                         "successful deployment to roll back to", a.name);
        goto done;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "deployment");
        goto done;
    }
    if (server_ready(r, &a) < 0)
        goto done;
    memset(&d, 0, sizeof d);
    util_strlcpy(d.kind, "rollback", sizeof d.kind);
    util_strlcpy(d.commit, target.resolved_commit[0] ? target.resolved_commit : target.commit,
                 sizeof d.commit);
    util_strlcpy(d.image, target.image, sizeof d.image);
    d.rollback_of = target.id;
    create_and_answer(r, &a, &d);
done:
    store_app_release(&a);
}

struct list_ctx {
    struct req *r;
    int64_t current;
    json_t *items;
};

static void list_one(void *arg, const struct deployment *d)
{
    struct list_ctx *x = arg;
    json_array_append_new(x->items, dep_json(x->r, d, x->current, 0));
}

void api_deployments_list(struct req *r)
{
    struct app a;
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    struct list_ctx x = {r, a.current_deployment_id, json_array()};
    int rc = store_deployments_each(r->srv->store, a.id, DEPLOYMENTS_LIST_MAX, list_one, &x);
    store_app_release(&a);
    if (rc != STORE_OK) {
        json_decref(x.items);
        api_store_error(r, rc, "deployment");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", x.items));
}

void api_deployment_get(struct req *r)
{
    struct deployment d;
    if (dep_of(r, &d) < 0)
        return;
    char name[64] = "";
    json_t *o = dep_json(r, &d, current_of(r, d.app_id, name, sizeof name), 1);
    if (o)
        json_object_set_new(o, "app", json_string(name));
    http_reply_json(r, 200, o);
}

void api_deployment_logs(struct req *r)
{
    struct deployment d;
    if (dep_of(r, &d) < 0)
        return;
    char arg[16];
    int follow = req_query(r, "follow", arg, sizeof arg) && strcmp(arg, "0") != 0 &&
                 strcmp(arg, "false") != 0;
    if (r->replied) /* a value too long: answered 400 */
        return;
    if (!d.job_id) {
        if (follow && !ended(&d)) {
            http_reply_error(r, 409, "not_started", "deployment %lld is queued; its log starts "
                             "when it is sent to the runner", (long long)d.id);
            return;
        }
        http_reply_raw(r, 200, "text/plain; charset=utf-8", NULL, 0);
        return;
    }
    struct job j;
    int rc = store_job_get(r->srv->store, r->who.org_id, d.job_id, &j);
    if (rc != STORE_OK) { /* the server (and its jobs) was deleted */
        http_reply_error(r, rc == STORE_NOTFOUND ? 410 : 500, rc == STORE_NOTFOUND ? "gone"
                         : "internal", "the log of deployment %lld is no longer kept",
                         (long long)d.id);
        return;
    }
    api_job_log_answer(r, &j);
}

void api_deployment_cancel(struct req *r)
{
    struct deployment d;
    snprintf(r->audit_target, sizeof r->audit_target, "deployment:%.100s", r->params[1]);
    if (dep_of(r, &d) < 0)
        return;
    if (ended(&d)) {
        http_reply_error(r, 409, "conflict", "deployment %lld already ended (%s)",
                         (long long)d.id, d.status);
        return;
    }
    int rc = deploy_cancel(r->srv, &d);
    if (rc < 0) {
        api_store_error(r, STORE_ERR, "deployment");
        return;
    }
    struct deployment now;
    if (store_deployment_get(r->srv->store, 0, d.id, &now) != STORE_OK) {
        api_store_error(r, STORE_ERR, "deployment");
        return;
    }
    r->audit_detail = json_pack("{s:I, s:s, s:s}", "app_id", (json_int_t)d.app_id, "from",
                                d.status, "to", now.status);
    http_reply_json(r, rc == 0 ? 200 : 202,
                    dep_json(r, &now, current_of(r, d.app_id, NULL, 0), 1));
}
