/* api_schedules.c - an organization's scheduled operations
 * (docs/schedules.md): create, list, show (with the next fire times),
 * pause, resume, delete, and the run history. The firing itself is
 * scheduler.c's.
 *
 * Scopes: schedule:read reads; schedule:write writes, and creating a
 * schedule also takes what its runs do: script:run for kind "script",
 * deploy:write for kind "deploy" (a schedule is a standing order to do
 * it). A schedule's runs are made in its creator's name. */
#include "access.h"
#include "api.h"
#include "cron.h"
#include "scheduler.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEDULE_NEXT_SHOWN 5
#define RUNS_LIMIT_DEFAULT 50
#define RUNS_LIMIT_MAX STORE_SCHEDULE_RUNS_KEPT

static json_t *id_or_null(int64_t id) { return id ? json_integer(id) : json_null(); }

static json_t *schedule_json(const struct schedule *s, int with_next)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:o}",
        "id", (json_int_t)s->id, "kind", s->kind, "script_id", id_or_null(s->script_id),
        "server_id", id_or_null(s->server_id), "app_id", id_or_null(s->app_id), "cron",
        s->cron[0] ? json_string(s->cron) : json_null(), "every_minutes",
        s->every_minutes ? json_integer(s->every_minutes) : json_null(), "timezone",
        s->timezone, "catch_up", s->catch_up, "status", s->paused ? "paused" : "active",
        "pause_reason", s->paused && s->pause_reason[0] ? json_string(s->pause_reason)
                                                        : json_null(),
        "next_run_at", s->paused ? json_null() : api_time(s->next_run_at), "last_run_at",
        api_time(s->last_run_at), "last_job_id", id_or_null(s->last_job_id),
        "last_deployment_id", id_or_null(s->last_deployment_id), "created_by",
        id_or_null(s->created_by), "created_at", api_time(s->created_at), "updated_at",
        api_time(s->updated_at));
    if (o && with_next) {
        json_t *next = json_array();
        int64_t t[SCHEDULE_NEXT_SHOWN];
        int n = s->paused ? 0 : sched_next_n(s, util_now(), t, SCHEDULE_NEXT_SHOWN);
        for (int i = 0; i < n; i++)
            json_array_append_new(next, api_time(t[i]));
        json_object_set_new(o, "next_runs", next);
    }
    return o;
}

static int schedule_of(struct req *r, struct schedule *s)
{
    int64_t id;
    int rc = util_parse_i64(r->params[1], &id) == 0 && id > 0
                 ? store_schedule_get(r->srv->store, r->who.org_id, id, s)
                 : STORE_NOTFOUND;
    snprintf(r->audit_target, sizeof r->audit_target, "schedule:%.100s", r->params[1]);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "schedule not found: %s", r->params[1]);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "schedule");
        return -1;
    }
    return 0;
}

/* A reference field: an id (integer) or a name (string). 1: present (in
 * ref), 0: absent, -1: answered. */
static int ref_field(struct req *r, json_t *b, const char *field, char *ref, size_t n)
{
    json_t *v = json_object_get(b, field);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(ref, n, "%lld", (long long)json_integer_value(v));
        return 1;
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < n &&
        strlen(json_string_value(v)) == json_string_length(v)) {
        util_strlcpy(ref, json_string_value(v), n);
        return 1;
    }
    http_reply_error(r, 400, "invalid_field", "field '%s' must be an id or a name", field);
    return -1;
}

static int need_scope(struct req *r, uint32_t scope, const char *kind)
{
    if (r->who.scopes & scope)
        return 0;
    http_reply_error(r, 403, "forbidden", "missing scope %s (a %s schedule runs as its "
                     "creator)", access_scope_name(scope), kind);
    return -1;
}

/* Checks the timing fields and fills s's; -1 when answered. */
static int timing_fields(struct req *r, json_t *b, struct schedule *s)
{
    const char *cron = NULL, *tz = NULL, *catch_up = NULL;
    int64_t every = 0;
    json_t *ev = json_object_get(b, "every_minutes");
    if (req_str(r, b, "cron", 0, &cron) < 0 || req_str(r, b, "timezone", 0, &tz) < 0 ||
        req_str(r, b, "catch_up", 0, &catch_up) < 0 || req_int(r, b, "every_minutes", 0, &every) < 0)
        return -1;
    if (!cron == !(ev && !json_is_null(ev))) {
        http_reply_error(r, 422, cron ? "invalid_field" : "missing_field",
                         "give exactly one of 'cron' (5 fields) and 'every_minutes'");
        return -1;
    }
    if (!cron && (every < 1 || every > SCHEDULER_EVERY_MAX)) {
        http_reply_error(r, 422, "invalid_field", "field 'every_minutes' must be 1-%d",
                         SCHEDULER_EVERY_MAX);
        return -1;
    }
    if (catch_up && strcmp(catch_up, "once") != 0 && strcmp(catch_up, "skip") != 0) {
        http_reply_error(r, 422, "invalid_field", "field 'catch_up' must be \"once\" or \"skip\"");
        return -1;
    }
    if (!tz)
        tz = "UTC";
    char err[200];
    struct cron_zone *z = NULL;
    if (strlen(tz) >= sizeof s->timezone || cron_zone_load(tz, NULL, &z, err, sizeof err) < 0) {
        http_reply_error(r, 400, "unknown_timezone", "field 'timezone': unknown time zone "
                         "'%.64s' (an IANA name such as Europe/Berlin, or UTC)", tz);
        return -1;
    }
    cron_zone_free(z);
    if (every && strcmp(tz, "UTC") != 0) {
        http_reply_error(r, 422, "invalid_field", "field 'timezone' applies to 'cron' only");
        return -1;
    }
    struct cron c;
    if (cron && cron_parse(cron, &c, err, sizeof err) < 0) {
        http_reply_error(r, 400, "invalid_cron", "field 'cron': %s", err);
        return -1;
    }
    if (cron)
        util_strlcpy(s->cron, cron, sizeof s->cron);
    s->every_minutes = (int)every;
    util_strlcpy(s->timezone, tz, sizeof s->timezone);
    util_strlcpy(s->catch_up, catch_up ? catch_up : "once", sizeof s->catch_up);
    int64_t now = util_now();
    if (sched_next(s->cron, s->every_minutes, s->timezone, now, now, &s->next_run_at, err,
                   sizeof err) < 0) {
        http_reply_error(r, 422, "invalid_cron", "field 'cron': %s", err);
        return -1;
    }
    s->created_at = now;
    return 0;
}

/* The target fields of kind: ids filled in s; -1 when answered. */
static int target_fields(struct req *r, json_t *b, struct schedule *s)
{
    char script[128], server[128], app[128];
    int has_script = ref_field(r, b, "script", script, sizeof script);
    int has_server = has_script < 0 ? -1 : ref_field(r, b, "server", server, sizeof server);
    int has_app = has_server < 0 ? -1 : ref_field(r, b, "app", app, sizeof app);
    if (has_app < 0)
        return -1;
    if (strcmp(s->kind, "script") == 0) {
        if (has_app) {
            http_reply_error(r, 422, "invalid_field", "field 'app' is for kind \"deploy\"");
            return -1;
        }
        if (!has_script || !has_server) {
            http_reply_error(r, 422, "missing_field", "kind \"script\" needs 'script' and "
                             "'server' (ids or names)");
            return -1;
        }
        if (need_scope(r, SC_SCRIPT_RUN, "script") < 0)
            return -1;
        struct script sc;
        int rc = store_script_find(r->srv->store, r->who.org_id, script, &sc);
        if (rc != STORE_OK) {
            if (rc == STORE_NOTFOUND)
                http_reply_error(r, 404, "not_found", "script not found: %s", script);
            else
                api_store_error(r, rc, "script");
            return -1;
        }
        s->script_id = sc.id;
        store_script_release(&sc);
        struct server sv;
        if (api_server_of(r, server, &sv) < 0 || api_server_refuse_decommissioned(r, &sv) < 0)
            return -1;
        s->server_id = sv.id;
        return 0;
    }
    if (has_script || has_server) {
        http_reply_error(r, 422, "invalid_field", "fields 'script' and 'server' are for kind "
                         "\"script\" (a deploy runs on its app's server)");
        return -1;
    }
    if (!has_app) {
        http_reply_error(r, 422, "missing_field", "kind \"deploy\" needs 'app' (an id or name)");
        return -1;
    }
    if (need_scope(r, SC_DEPLOY_WRITE, "deploy") < 0)
        return -1;
    struct app a;
    if (api_app_of(r, app, &a) < 0)
        return -1;
    s->app_id = a.id;
    store_app_release(&a);
    return 0;
}

void api_schedule_create(struct req *r)
{
    static const char *const fields[] = {"kind",     "script",        "server", "app", "cron",
                                         "timezone", "every_minutes", "catch_up", NULL};
    snprintf(r->audit_target, sizeof r->audit_target, "schedule:new");
    json_t *b = req_json(r);
    const char *kind;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "kind", 1, &kind) < 0)
        return;
    struct schedule s;
    memset(&s, 0, sizeof s);
    if (strcmp(kind, "script") != 0 && strcmp(kind, "deploy") != 0) {
        http_reply_error(r, 422, "invalid_field", "field 'kind' must be \"script\" or "
                         "\"deploy\"");
        return;
    }
    util_strlcpy(s.kind, kind, sizeof s.kind);
    if (timing_fields(r, b, &s) < 0 || target_fields(r, b, &s) < 0)
        return;
    s.org_id = r->who.org_id;
    s.created_by = r->who.user_id;
    int64_t id;
    int rc = store_schedule_create(r->srv->store, &s, &id);
    struct schedule now;
    if (rc == STORE_OK)
        rc = store_schedule_get(r->srv->store, s.org_id, id, &now);
    if (rc != STORE_OK) {
        api_store_error(r, rc == STORE_NOTFOUND ? STORE_ERR : rc, "schedule");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "schedule:%lld", (long long)id);
    r->audit_detail = json_pack("{s:s, s:s?, s:o, s:s, s:s, s:o, s:o, s:o}", "kind", s.kind,
                                "cron", s.cron[0] ? s.cron : NULL, "every_minutes",
                                s.every_minutes ? json_integer(s.every_minutes) : json_null(),
                                "timezone", s.timezone, "catch_up", s.catch_up, "script_id",
                                id_or_null(s.script_id), "server_id", id_or_null(s.server_id),
                                "app_id", id_or_null(s.app_id));
    http_reply_json(r, 201, schedule_json(&now, 1));
}

static void list_item(void *arg, const struct schedule *s)
{
    json_array_append_new(arg, schedule_json(s, 0));
}

void api_schedules_list(struct req *r)
{
    json_t *items = json_array();
    int rc = store_schedules_each(r->srv->store, r->who.org_id, list_item, items);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, rc, "schedule");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

void api_schedule_get(struct req *r)
{
    struct schedule s;
    if (schedule_of(r, &s) == 0)
        http_reply_json(r, 200, schedule_json(&s, 1));
}

static void set_paused(struct req *r, int paused)
{
    struct schedule s;
    if (schedule_of(r, &s) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "schedule:%lld", (long long)s.id);
    int64_t now = util_now(), next = s.next_run_at;
    if (!paused && sched_next_n(&s, now, &next, 1) != 1) {
        http_reply_error(r, 409, "invalid_schedule", "the schedule's timing no longer works "
                         "(its time zone is gone?); delete it and create it again");
        return;
    }
    int rc = STORE_OK;
    if (s.paused != paused || (!paused && s.pause_reason[0]))
        rc = store_schedule_set_paused(r->srv->store, s.id, paused, NULL, next, now);
    if (rc == STORE_OK)
        rc = store_schedule_get(r->srv->store, r->who.org_id, s.id, &s);
    if (rc != STORE_OK) {
        api_store_error(r, rc == STORE_NOTFOUND ? STORE_ERR : rc, "schedule");
        return;
    }
    http_reply_json(r, 200, schedule_json(&s, 1));
}

void api_schedule_pause(struct req *r) { set_paused(r, 1); }

void api_schedule_resume(struct req *r) { set_paused(r, 0); }

void api_schedule_delete(struct req *r)
{
    struct schedule s;
    if (schedule_of(r, &s) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "schedule:%lld", (long long)s.id);
    r->audit_detail = json_pack("{s:s}", "kind", s.kind);
    struct store *st = r->srv->store;
    int rc = store_begin(st);
    if (rc == STORE_OK)
        rc = store_schedule_delete(st, s.id);
    if (rc == STORE_OK)
        rc = store_commit(st);
    else
        store_rollback(st);
    if (rc != STORE_OK) {
        api_store_error(r, rc == STORE_NOTFOUND ? STORE_ERR : rc, "schedule");
        return;
    }
    http_reply_empty(r, 204);
}

struct runs_page {
    json_t *items;
    int64_t last_id;
};

static void run_item(void *arg, const struct schedule_run *run)
{
    struct runs_page *p = arg;
    p->last_id = run->id;
    json_array_append_new(
        p->items,
        json_pack("{s:I, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t)run->id,
                  "due_at", api_time(run->due_at), "at", api_time(run->at), "outcome",
                  run->outcome ? run->outcome : "", "reason",
                  run->reason ? json_string(run->reason) : json_null(), "job_id",
                  id_or_null(run->job_id), "deployment_id", id_or_null(run->deployment_id),
                  "status", run->status ? json_string(run->status) : json_null()));
}

void api_schedule_runs(struct req *r)
{
    char buf[32];
    int64_t limit = RUNS_LIMIT_DEFAULT, before = 0;
    if (req_query(r, "limit", buf, sizeof buf) &&
        (util_parse_i64(buf, &limit) < 0 || limit < 1 || limit > RUNS_LIMIT_MAX)) {
        http_reply_error(r, 400, "invalid_query", "query 'limit' must be 1-%d", RUNS_LIMIT_MAX);
        return;
    }
    if (!r->replied && req_query(r, "cursor", buf, sizeof buf) &&
        (util_parse_i64(buf, &before) < 0 || before <= 0)) {
        http_reply_error(r, 400, "invalid_query", "query 'cursor' is not a cursor this API gave");
        return;
    }
    if (r->replied)
        return;
    struct schedule s;
    if (schedule_of(r, &s) < 0)
        return;
    struct runs_page p = {json_array(), 0};
    int rc = store_schedule_runs_each(r->srv->store, s.id, before, (int)limit, run_item, &p);
    if (rc != STORE_OK) {
        json_decref(p.items);
        api_store_error(r, rc, "schedule");
        return;
    }
    json_t *cursor = json_array_size(p.items) == (size_t)limit ? json_integer(p.last_id)
                                                               : json_null();
    http_reply_json(r, 200, json_pack("{s:o, s:o}", "items", p.items, "next_cursor", cursor));
}
