/* cmd_deploy.c - deployments: start one (`berth deploy`), roll back, list,
 * show one with its steps, print or follow its log, cancel.
 *
 * A deployment's log is its `deploy` job's output, read as NDJSON
 * ({seq, stream, ts, data} per line). The runner's step reports are JSON
 * lines on the system stream; they are printed as "==> build: ok (12.3 s)
 * detail", everything else (build output, notes) as it is, all on stdout
 * so `berth logs ID > file` keeps the whole log in order. Following:
 * while the deployment is queued (no job yet) it is polled; once it has a
 * job its log is followed until the deployment ends, again if the answer
 * ends early (chunks already printed are skipped by seq), and read whole
 * once more at the end when a follow was cut short. --follow on deploy
 * and rollback exits 0 when the deployment SUCCEEDED, 1 otherwise. Under
 * --json nothing streams: the chunks are collected into the document. */
#include "cli.h"
#include "buf.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOLLOW_RETRIES 30             /* consecutive follows that end early */
#define BIG_FOLLOW (8u * 1024 * 1024) /* berthd cuts a follower off at 16 MiB queued */
#define STEPS_MAX 16

struct dlog {
    struct logstream ls;
    struct {
        char name[16];
        int64_t ts;
    } started[STEPS_MAX]; /* when each step started (ms), for durations */
    int nstarted;
};

/* ---- small helpers ---- */

static int dep_id_arg(struct cli *c, int64_t *id)
{
    if (util_parse_i64(c->args[0], id) < 0 || *id <= 0)
        return cli_usage(c, "DEPLOYMENT must be a deployment id, a number (see berth "
                         "deployments APP)");
    return 0;
}

static int dep_path(struct cli *c, int64_t id, const char *tail, char *out, size_t n)
{
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    if (cli_org_path(c, "deployments", ref, out, n) < 0)
        return -1;
    if (strlen(out) + strlen(tail) >= n)
        return cli_usage(c, "the request path is too long");
    strncat(out, tail, n - strlen(out) - 1);
    return 0;
}

static int app_path(struct cli *c, const char *app, const char *tail, char *out, size_t n)
{
    if (cli_org_path(c, "apps", app, out, n) < 0)
        return -1;
    if (strlen(out) + strlen(tail) >= n)
        return cli_usage(c, "the request path is too long");
    strncat(out, tail, n - strlen(out) - 1);
    return 0;
}

static int dep_get(struct cli *c, int64_t id, json_t **d)
{
    char path[600];
    if (dep_path(c, id, "", path, sizeof path) < 0)
        return -1;
    return client_request(c, "GET", path, NULL, 1, d);
}

static const char *status_of(json_t *d)
{
    const char *s = json_string_value(json_object_get(d, "status"));
    return s ? s : "";
}

static int is_ended(json_t *d)
{
    const char *s = status_of(d);
    return strcmp(s, "SUCCEEDED") == 0 || strcmp(s, "FAILED") == 0 ||
           strcmp(s, "CANCELLED") == 0;
}

static int64_t int_of(json_t *o, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(o, key));
}

/* "FAILED at step health: GET / answered 502; rolled back to deployment 40" */
static void verdict(json_t *d, char *out, size_t n)
{
    const char *step = json_string_value(json_object_get(d, "failed_step"));
    const char *reason = json_string_value(json_object_get(d, "reason"));
    int64_t back = int_of(d, "rolled_back_to");
    int k = snprintf(out, n, "%s", status_of(d));
    if (step && k >= 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, " at step %s", step);
    if (reason && *reason && k >= 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, ": %s", reason);
    if (back && k >= 0 && (size_t)k < n)
        snprintf(out + k, n - (size_t)k, "; rolled back to deployment %lld", (long long)back);
}

/* ---- the log ---- */

static int64_t step_started(struct dlog *f, const char *step, int64_t ts, int record)
{
    for (int i = 0; i < f->nstarted; i++)
        if (strcmp(f->started[i].name, step) == 0) {
            if (record)
                f->started[i].ts = ts;
            return f->started[i].ts;
        }
    if (record && f->nstarted < STEPS_MAX) {
        util_strlcpy(f->started[f->nstarted].name, step, sizeof f->started[0].name);
        f->started[f->nstarted++].ts = ts;
    }
    return 0;
}

/* One system line: a step report {"step","status","detail"?} is shown as
 * "==> step: status (duration) detail"; any other line as it is. */
static void print_system_line(struct dlog *f, const char *p, size_t n, int64_t ts)
{
    json_t *o = n && p[0] == '{' ? json_loadb(p, n, 0, NULL) : NULL;
    const char *step = json_string_value(json_object_get(o, "step"));
    const char *st = json_string_value(json_object_get(o, "status"));
    const char *detail = json_string_value(json_object_get(o, "detail"));
    json_t *cl = json_object_get(o, "container_line");
    if (json_is_string(cl)) { /* a failed container's output (docs/deploy.md) */
        printf("  | ");
        fwrite(json_string_value(cl), 1, json_string_length(cl), stdout);
        fputc('\n', stdout);
        goto done;
    }
    if (!step || !st) {
        fwrite(p, 1, n, stdout);
        fputc('\n', stdout);
        goto done;
    }
    if (strcmp(st, "started") == 0) {
        step_started(f, step, ts, 1);
        printf("==> %s: started%s%s\n", step, detail && *detail ? " " : "",
               detail ? detail : "");
        goto done;
    }
    int64_t t0 = step_started(f, step, 0, 0);
    printf("==> %s: %s", step, strcmp(st, "failed") == 0 ? "FAILED" : st);
    if (t0 > 0 && ts >= t0)
        printf(" (%.1f s)", (double)(ts - t0) / 1000.0);
    if (detail && *detail)
        printf(" %s", detail);
    fputc('\n', stdout);
done:
    json_decref(o);
}

static void print_chunk(void *arg, const char *stream, const char *p, size_t n, int64_t ts)
{
    struct dlog *f = arg;
    if (strcmp(stream, "system") != 0) {
        fwrite(p, 1, n, stdout);
        return;
    }
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        print_system_line(f, p, take, ts);
        if (!nl)
            break;
        p = nl + 1;
        n -= take + 1;
    }
}

static int read_log(struct cli *c, int64_t id, int follow, struct dlog *f)
{
    char path[600];
    if (dep_path(c, id, follow ? "/logs?follow=1" : "/logs", path, sizeof path) < 0)
        return -1;
    int rc = logstream_read(&f->ls, path);
    if (rc == 1 && !follow)
        return cli_fail(c, CLI_EXIT_OTHER, "timeout", "the log of deployment %lld stopped "
                        "arriving", (long long)id);
    return rc;
}

static void dlog_init(struct cli *c, struct dlog *f)
{
    memset(f, 0, sizeof *f);
    logstream_init(&f->ls, c, print_chunk, f);
}

static void dlog_release(struct dlog *f) { logstream_release(&f->ls); }

static int follow_loop(struct cli *c, int64_t id, struct dlog *f, json_t **dep)
{
    int early = 0, streamed = 0, tries = 0, said = 0, idle = 0;
    size_t got = 0;
    *dep = NULL;
    for (;;) {
        json_decref(*dep);
        *dep = NULL;
        if (dep_get(c, id, dep) < 0)
            return -1;
        if (is_ended(*dep)) {
            /* Never followed, or a follow cut off before the end: read the
             * whole (now final) log, skipping what was printed. */
            if ((!streamed || early || got >= BIG_FOLLOW) && read_log(c, id, 0, f) < 0)
                return -1;
            return 0;
        }
        if (json_is_null(json_object_get(*dep, "job_id"))) {
            if (!said++ && !c->json)
                fprintf(stderr, "berth: deployment %lld is queued behind the app's running "
                        "deployment; waiting\n", (long long)id);
            sleep(1);
            continue;
        }
        if (streamed && idle) { /* quiet for a while and still running */
            early = 1;
            tries = 0;
        } else if (streamed) {
            early = 1;
            if (++tries > FOLLOW_RETRIES)
                return cli_fail(c, CLI_EXIT_OTHER, "follow_failed", "the log of deployment "
                                "%lld keeps ending before the deployment does; see berth "
                                "deployment show %lld", (long long)id, (long long)id);
            sleep(1);
        }
        int rc = read_log(c, id, 1, f);
        if (rc < 0)
            return -1;
        idle = rc == 1;
        early |= idle; /* cut while idle: what came since is read whole */
        streamed = 1;
        got = f->ls.received;
    }
}

/* The collected log as one text (--json). */
static void add_log_text(json_t *dep, json_t *items)
{
    struct buf b;
    json_t *it;
    size_t i;
    buf_init(&b, LOGSTREAM_COLLECT_MAX + 1);
    json_array_foreach(items, i, it) {
        json_t *d = json_object_get(it, "data");
        buf_append(&b, json_string_value(d), json_string_length(d));
    }
    json_object_set_new(dep, "log", json_stringn(b.data ? b.data : "", b.len));
    buf_release(&b);
}

static void human_followed(struct cli *c, json_t *d)
{
    char v[1200];
    (void)c;
    verdict(d, v, sizeof v);
    if (strcmp(status_of(d), "SUCCEEDED") == 0) {
        const char *commit = json_string_value(json_object_get(d, "resolved_commit"));
        const char *image = json_string_value(json_object_get(d, "image"));
        printf("Deployment %lld SUCCEEDED", (long long)int_of(d, "id"));
        if (commit)
            printf(": commit %.12s", commit);
        if (image)
            printf("%s image %s", commit ? "," : ":", image);
        printf("\n");
        return;
    }
    fprintf(stderr, "berth: deployment %lld %s\n", (long long)int_of(d, "id"), v);
}

/* After a deployment was created: print it, or follow it to its end. */
static int started(struct cli *c, json_t *d, out_human_fn human)
{
    struct dlog f;
    json_t *dep = NULL;
    if (!c->a.set[OPT_FOLLOW]) {
        out_ok(c, d, human);
        return 0;
    }
    int64_t id = int_of(d, "id");
    if (!c->json) {
        human(c, d);
        fflush(stdout);
    }
    json_decref(d);
    dlog_init(c, &f);
    int rc = follow_loop(c, id, &f, &dep);
    if (rc == 0) {
        if (f.ls.items)
            add_log_text(dep, f.ls.items);
        c->exit_code = strcmp(status_of(dep), "SUCCEEDED") == 0 ? 0 : 1;
        out_ok(c, dep, human_followed);
        dep = NULL;
    }
    json_decref(dep);
    dlog_release(&f);
    return rc;
}

/* ---- deploy, rollback ---- */

static void human_deploy(struct cli *c, json_t *d)
{
    char x[32];
    printf("Deployment %lld of %s: %s\n", (long long)int_of(d, "id"), c->args[0],
           json_string_value(json_object_get(d, "summary")));
    if (!c->a.set[OPT_FOLLOW])
        printf("Follow it: berth logs %s --follow\n", out_str(d, "id", x, sizeof x));
}

int cmd_deploy(struct cli *c)
{
    char path[900];
    json_t *body = NULL, *d = NULL;
    int rc = -1;
    if (app_path(c, c->args[0], "/deployments", path, sizeof path) < 0)
        goto done;
    if (c->a.val[OPT_REF])
        body = json_pack("{s:s}", "commit", c->a.val[OPT_REF]);
    rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (rc == 0)
        rc = started(c, d, human_deploy);
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_rollback(struct cli *c, json_t *d)
{
    char x[32];
    printf("Rollback deployment %lld of %s (image %s of deployment %lld): %s\n",
           (long long)int_of(d, "id"), c->args[0], out_str(d, "image", x, sizeof x),
           (long long)int_of(d, "rollback_of"), json_string_value(json_object_get(d, "summary")));
    if (!c->a.set[OPT_FOLLOW])
        printf("Follow it: berth logs %s --follow\n", out_str(d, "id", x, sizeof x));
}

int cmd_rollback(struct cli *c)
{
    char path[900];
    json_t *d = NULL;
    if (app_path(c, c->args[0], "/rollback", path, sizeof path) < 0)
        return -1;
    int rc = client_mutate(c, "POST", path, NULL, 1, NULL, &d);
    if (rc == 0)
        rc = started(c, d, human_rollback);
    return rc < 0 ? -1 : 0;
}

/* ---- list, show ---- */

static const char *commit_text(json_t *d)
{
    const char *s = json_string_value(json_object_get(d, "resolved_commit"));
    if (!s)
        s = json_string_value(json_object_get(d, "commit"));
    return s ? s : "-";
}

static void human_deployments(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "APP", "KIND", "STATUS", "COMMIT", "CREATED",
                                    "CURRENT", "NOTE", NULL};
    json_t *t = out_table_new(h), *x;
    size_t i;
    char id[32], commit[16], y[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, x) {
        const char *reason = json_string_value(json_object_get(x, "reason"));
        snprintf(commit, sizeof commit, "%.12s", commit_text(x));
        out_table_row(t, out_str(x, "id", id, sizeof id), out_str(x, "app", y, sizeof y),
                      out_str(x, "kind", y, sizeof y), out_str(x, "status", y, sizeof y), commit,
                      out_str(x, "created_at", y, sizeof y),
                      json_is_true(json_object_get(x, "current")) ? "*" : "", reason ? reason
                                                                                      : "",
                      NULL);
    }
    out_table_print(t);
}

/* Adds "app": name to every item of list. */
static void name_items(json_t *list, const char *app)
{
    json_t *x;
    size_t i;
    json_array_foreach(list, i, x) json_object_set_new(x, "app", json_string(app));
}

static int by_id_desc(const void *a, const void *b)
{
    int64_t x = int_of(*(json_t *const *)a, "id"), y = int_of(*(json_t *const *)b, "id");
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Every app's deployments (berthd keeps the newest 100 per app), newest
 * first. */
static int all_deployments(struct cli *c, json_t **out)
{
    char path[900];
    json_t *apps = NULL, *a, *all = json_array();
    size_t i;
    int rc = -1;
    *out = NULL;
    if (cli_org_path(c, "apps", NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &apps) < 0)
        goto done;
    json_array_foreach(json_object_get(apps, "items"), i, a) {
        json_t *one = NULL;
        char ref[32];
        snprintf(ref, sizeof ref, "%lld", (long long)int_of(a, "id"));
        if (app_path(c, ref, "/deployments", path, sizeof path) < 0 ||
            client_request(c, "GET", path, NULL, 1, &one) < 0)
            goto done;
        json_t *items = json_object_get(one, "items");
        name_items(items, json_string_value(json_object_get(a, "name")));
        json_array_extend(all, items);
        json_decref(one);
    }
    size_t n = json_array_size(all);
    json_t **v = n ? calloc(n, sizeof *v) : NULL;
    if (n && !v) {
        cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
        goto done;
    }
    for (i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(all, i));
    if (n) /* qsort's array may not be NULL, even for zero items */
        qsort(v, n, sizeof *v, by_id_desc);
    json_array_clear(all);
    for (i = 0; i < n; i++)
        json_array_append_new(all, v[i]);
    free(v);
    *out = json_pack("{s:O}", "items", all);
    rc = 0;
done:
    json_decref(apps);
    json_decref(all);
    return rc;
}

int cmd_deployments(struct cli *c)
{
    char path[900];
    json_t *d = NULL;
    if (c->nargs == 0) {
        if (all_deployments(c, &d) < 0)
            return -1;
    } else {
        if (app_path(c, c->args[0], "/deployments", path, sizeof path) < 0 ||
            client_request(c, "GET", path, NULL, 1, &d) < 0)
            return -1;
        name_items(json_object_get(d, "items"), c->args[0]);
    }
    out_ok(c, d, human_deployments);
    return 0;
}

/* A failed deployment's container output, as berthd kept it. */
static void container_tail(json_t *tail)
{
    size_t i;
    json_t *l;
    if (!json_array_size(tail))
        return;
    printf("container output (its last %zu line%s):\n", json_array_size(tail),
           json_array_size(tail) == 1 ? "" : "s");
    json_array_foreach(tail, i, l) {
        json_t *t = json_object_get(l, "text");
        const char *st = json_string_value(json_object_get(l, "stream"));
        FILE *f = st && strcmp(st, "stderr") == 0 ? stderr : stdout;
        fputs("  | ", f);
        if (json_is_string(t))
            fwrite(json_string_value(t), 1, json_string_length(t), f);
        fputc('\n', f);
    }
}

static void human_dep_show(struct cli *c, json_t *d)
{
    static const char *const h[] = {"  STEP", "STATUS", "STARTED", "DURATION", "DETAIL", NULL};
    char a[64], b[64], k[32], v[1200], step[64], dur[32];
    json_t *t, *s;
    size_t i;
    (void)c;
    verdict(d, v, sizeof v);
    printf("%-11s %s (app %s, %s)\n", "deployment", out_str(d, "id", a, sizeof a),
           out_str(d, "app", b, sizeof b), out_str(d, "kind", k, sizeof k));
    printf("%-11s %s%s\n", "status", v,
           json_is_true(json_object_get(d, "current")) ? " (current)" : "");
    if (!is_ended(d)) /* "PENDING: queued behind the running deployment" */
        printf("%-11s %s\n", "summary", out_str(d, "summary", a, sizeof a));
    printf("%-11s %s", "commit", commit_text(d));
    if (json_is_string(json_object_get(d, "commit")) &&
        json_is_string(json_object_get(d, "resolved_commit")))
        printf(" (requested %s)", json_string_value(json_object_get(d, "commit")));
    printf("\n%-11s %s\n", "image", out_str(d, "image", a, sizeof a));
    if (int_of(d, "rollback_of"))
        printf("%-11s deployment %lld\n", "rollback of", (long long)int_of(d, "rollback_of"));
    printf("%-11s %s\n", "job", out_str(d, "job_id", a, sizeof a));
    printf("%-11s %s\n", "created", out_str(d, "created_at", a, sizeof a));
    printf("%-11s %s\n", "started", out_str(d, "started_at", a, sizeof a));
    printf("%-11s %s\n", "finished", out_str(d, "finished_at", a, sizeof a));
    json_t *steps = json_object_get(d, "steps");
    container_tail(json_object_get(d, "container_tail"));
    if (!json_array_size(steps)) {
        printf("steps       none reported\n");
        return;
    }
    printf("steps:\n");
    t = out_table_new(h);
    json_array_foreach(steps, i, s) {
        json_t *ms = json_object_get(s, "duration_ms");
        snprintf(step, sizeof step, "  %s", out_str(s, "step", a, sizeof a));
        if (json_is_integer(ms))
            snprintf(dur, sizeof dur, "%.1f s", (double)json_integer_value(ms) / 1000.0);
        else
            snprintf(dur, sizeof dur, "-");
        out_table_row(t, step, out_str(s, "status", a, sizeof a),
                      out_str(s, "started_at", b, sizeof b), dur,
                      out_str(s, "detail", v, sizeof v), NULL);
    }
    out_table_print(t);
}

int cmd_deployment_show(struct cli *c)
{
    int64_t id;
    json_t *d = NULL;
    if (dep_id_arg(c, &id) < 0 || dep_get(c, id, &d) < 0)
        return -1;
    out_ok(c, d, human_dep_show);
    return 0;
}

/* ---- logs, cancel ---- */

int cmd_logs(struct cli *c)
{
    int64_t id;
    struct dlog f;
    json_t *dep = NULL;
    int rc;
    if (dep_id_arg(c, &id) < 0)
        return -1;
    dlog_init(c, &f);
    if (c->a.set[OPT_FOLLOW])
        rc = follow_loop(c, id, &f, &dep);
    else
        rc = read_log(c, id, 0, &f);
    if (rc == 0 && f.ls.items) {
        json_t *doc = json_pack("{s:I, s:O}", "deployment", (json_int_t)id, "items", f.ls.items);
        if (dep)
            json_object_set(doc, "status", json_object_get(dep, "status"));
        out_ok(c, doc, NULL);
    }
    json_decref(dep);
    dlog_release(&f);
    return rc;
}

static void human_cancel(struct cli *c, json_t *d)
{
    (void)c;
    if (strcmp(status_of(d), "CANCELLED") == 0)
        printf("Deployment %lld CANCELLED.\n", (long long)int_of(d, "id"));
    else
        printf("Cancel requested for deployment %lld (%s): the runner stops it at the next "
               "safe point and rolls back.\n",
               (long long)int_of(d, "id"), status_of(d));
}

int cmd_cancel(struct cli *c)
{
    char path[600], what[64];
    int64_t id;
    json_t *d = NULL;
    if (dep_id_arg(c, &id) < 0 || dep_path(c, id, "/cancel", path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "cancel deployment %lld", (long long)id);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "POST", path, NULL, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_cancel);
    return rc < 0 ? -1 : 0;
}
