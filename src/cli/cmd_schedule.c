/* cmd_schedule.c - scheduled operations (docs/schedules.md): create a
 * schedule that runs a saved script on a server or redeploys an app, on
 * a cron expression or every N minutes; list, show (with the next fire
 * times), pause, resume, delete, and its run history. */
#include "cli.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void timing_text(json_t *s, char *out, size_t n)
{
    json_t *every = json_object_get(s, "every_minutes");
    if (json_is_integer(every))
        snprintf(out, n, "every %lld min", (long long)json_integer_value(every));
    else
        snprintf(out, n, "%s (%s)", str(s, "cron"), str(s, "timezone"));
}

static void target_text(json_t *s, char *out, size_t n)
{
    if (strcmp(str(s, "kind"), "deploy") == 0)
        snprintf(out, n, "deploy app %lld",
                 (long long)json_integer_value(json_object_get(s, "app_id")));
    else
        snprintf(out, n, "script %lld on server %lld",
                 (long long)json_integer_value(json_object_get(s, "script_id")),
                 (long long)json_integer_value(json_object_get(s, "server_id")));
}

static void human_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "WHAT", "WHEN", "STATUS", "NEXT RUN", "LAST RUN",
                                    NULL};
    json_t *t = out_table_new(h), *s;
    size_t i;
    char id[32], what[96], when[320], x[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, s) {
        target_text(s, what, sizeof what);
        timing_text(s, when, sizeof when);
        out_table_row(t, out_str(s, "id", id, sizeof id), what, when,
                      out_str(s, "status", x, sizeof x), out_str(s, "next_run_at", x, sizeof x),
                      out_str(s, "last_run_at", x, sizeof x), NULL);
    }
    out_table_print(t);
}

int cmd_schedule_list(struct cli *c)
{
    char path[600];
    json_t *d = NULL;
    if (cli_org_path(c, "schedules", NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_list);
    return 0;
}

static void human_show(struct cli *c, json_t *d)
{
    char what[96], when[320];
    json_t *t;
    size_t i;
    (void)c;
    target_text(d, what, sizeof what);
    timing_text(d, when, sizeof when);
    printf("Schedule %lld: %s, %s, catch-up %s\n",
           (long long)json_integer_value(json_object_get(d, "id")), what, when,
           str(d, "catch_up"));
    printf("Status:   %s", str(d, "status"));
    if (json_is_string(json_object_get(d, "pause_reason")))
        printf(" (%s)", str(d, "pause_reason"));
    printf("\nLast run: %s\n", str(d, "last_run_at"));
    printf("Next runs (UTC):\n");
    json_array_foreach(json_object_get(d, "next_runs"), i, t)
        printf("  %s\n", json_string_value(t));
    if (json_array_size(json_object_get(d, "next_runs")) == 0)
        printf("  none (paused)\n");
}

int cmd_schedule_show(struct cli *c)
{
    char path[900];
    json_t *d = NULL;
    if (cli_org_path(c, "schedules", c->args[0], path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_show);
    return 0;
}

static void human_created(struct cli *c, json_t *d)
{
    (void)c;
    printf("Created schedule %lld; next run %s.\n",
           (long long)json_integer_value(json_object_get(d, "id")), str(d, "next_run_at"));
}

/* An id given as digits goes as a number, a name as a string. */
static json_t *ref_json(const char *v)
{
    int64_t n;
    return util_parse_i64(v, &n) == 0 && n > 0 ? json_integer(n) : json_string(v);
}

int cmd_schedule_create(struct cli *c)
{
    const char *script = c->a.val[OPT_SCRIPT], *server = c->a.val[OPT_SERVER],
               *app = c->a.val[OPT_APP], *cron = c->a.val[OPT_CRON],
               *every = c->a.val[OPT_EVERY];
    char path[600];
    int64_t n = 0;
    if (!app == !script)
        return cli_usage(c, "give --script S --server SERVER (run a script) or --app A "
                            "(redeploy an app)");
    if (script && !server)
        return cli_usage(c, "--script needs --server SERVER (an id or a name)");
    if (app && server)
        return cli_usage(c, "--server is for --script (a deploy runs on its app's server)");
    if (!cron == !every)
        return cli_usage(c, "give one of --cron 'MIN HOUR DOM MON DOW' and --every MINUTES");
    if (every && (util_parse_i64(every, &n) < 0 || n < 1 || n > 525600))
        return cli_usage(c, "--every must be 1..525600 minutes");
    json_t *body = json_pack("{s:s}", "kind", app ? "deploy" : "script"), *d = NULL;
    if (app)
        json_object_set_new(body, "app", ref_json(app));
    else {
        json_object_set_new(body, "script", ref_json(script));
        json_object_set_new(body, "server", ref_json(server));
    }
    if (cron)
        json_object_set_new(body, "cron", json_string(cron));
    else
        json_object_set_new(body, "every_minutes", json_integer(n));
    if (c->a.val[OPT_TZ])
        json_object_set_new(body, "timezone", json_string(c->a.val[OPT_TZ]));
    if (c->a.val[OPT_CATCH_UP])
        json_object_set_new(body, "catch_up", json_string(c->a.val[OPT_CATCH_UP]));
    int rc = cli_org_path(c, "schedules", NULL, path, sizeof path);
    if (rc == 0)
        rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_created);
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_state(struct cli *c, json_t *d)
{
    (void)c;
    printf("Schedule %lld is %s", (long long)json_integer_value(json_object_get(d, "id")),
           str(d, "status"));
    if (json_is_string(json_object_get(d, "next_run_at")))
        printf("; next run %s", str(d, "next_run_at"));
    printf(".\n");
}

static int set_state(struct cli *c, const char *verb)
{
    char path[900];
    json_t *d = NULL;
    if (cli_org_path(c, "schedules", c->args[0], path, sizeof path) < 0)
        return -1;
    strncat(path, verb, sizeof path - strlen(path) - 1);
    int rc = client_mutate(c, "POST", path, NULL, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_state);
    return rc < 0 ? -1 : 0;
}

int cmd_schedule_pause(struct cli *c) { return set_state(c, "/pause"); }

int cmd_schedule_resume(struct cli *c) { return set_state(c, "/resume"); }

static void human_deleted(struct cli *c, json_t *d)
{
    (void)c;
    printf("Deleted schedule %s.\n", str(d, "schedule"));
}

int cmd_schedule_delete(struct cli *c)
{
    char path[900], what[200];
    if (cli_org_path(c, "schedules", c->args[0], path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "delete schedule %.100s", c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:b}", "schedule", c->args[0], "deleted", 1), human_deleted);
    return rc < 0 ? -1 : 0;
}

static void human_runs(struct cli *c, json_t *d)
{
    static const char *const h[] = {"DUE", "AT", "OUTCOME", "RUN", "STATUS", "REASON", NULL};
    json_t *t = out_table_new(h), *r;
    size_t i;
    char run[48], x[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, r) {
        json_t *job = json_object_get(r, "job_id"), *dep = json_object_get(r, "deployment_id");
        if (json_is_integer(job))
            snprintf(run, sizeof run, "job %lld", (long long)json_integer_value(job));
        else if (json_is_integer(dep))
            snprintf(run, sizeof run, "deployment %lld", (long long)json_integer_value(dep));
        else
            snprintf(run, sizeof run, "-");
        out_table_row(t, out_str(r, "due_at", x, sizeof x), out_str(r, "at", x, sizeof x),
                      out_str(r, "outcome", x, sizeof x), run, out_str(r, "status", x, sizeof x),
                      out_str(r, "reason", x, sizeof x), NULL);
    }
    out_table_print(t);
    json_t *next = json_object_get(d, "next_cursor");
    if (json_is_integer(next))
        printf("More: --cursor %lld\n", (long long)json_integer_value(next));
}

int cmd_schedule_runs(struct cli *c)
{
    char path[1000];
    json_t *d = NULL;
    int64_t n;
    const char *limit = c->a.val[OPT_LIMIT], *cursor = c->a.val[OPT_CURSOR];
    if (limit && (util_parse_i64(limit, &n) < 0 || n < 1 || n > 500))
        return cli_usage(c, "--limit must be 1..500");
    if (cursor && (util_parse_i64(cursor, &n) < 0 || n < 1))
        return cli_usage(c, "--cursor takes a next_cursor this command printed");
    if (cli_org_path(c, "schedules", c->args[0], path, sizeof path) < 0)
        return -1;
    size_t l = strlen(path);
    snprintf(path + l, sizeof path - l, "/runs%s%s%s%s%s", limit || cursor ? "?" : "",
             limit ? "limit=" : "", limit ? limit : "", limit && cursor ? "&" : "",
             cursor ? "cursor=" : "");
    if (cursor)
        strncat(path, cursor, sizeof path - strlen(path) - 1);
    if (client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_runs);
    return 0;
}
