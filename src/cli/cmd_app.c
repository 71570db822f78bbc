/* cmd_app.c - an organization's applications (create, list, show, set,
 * delete) and their env (set, unset, list names).
 *
 * APP arguments are ids or names (berthd resolves both). `app set` sends
 * a PATCH with only the fields given. Env values never come from argv
 * (they would show in `ps` and shell history): BERTH_ENV_VALUE, else the
 * terminal (not echoed), else stdin; berthd never answers with a value,
 * and nothing here prints one (--dry-run shows it as "(hidden)"). */
#include "cli.h"
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ENV_VALUE_MAX (64 * 1024)

/* ---- option values into the app body ---- */

static int is_none(const char *v) { return strcmp(v, "none") == 0; }

/* An integer option into field; nullable options take "none" as null. */
static int int_opt(struct cli *c, json_t *body, enum cli_opt o, const char *field, int nullable)
{
    const char *v = c->a.val[o];
    int64_t n;
    if (!v)
        return 0;
    if (nullable && is_none(v)) {
        json_object_set_new(body, field, json_null());
        return 1;
    }
    if (util_parse_i64(v, &n) < 0)
        return cli_usage(c, "--%s must be a whole number%s (got '%.40s')", args_opt_name(o),
                         nullable ? " or none" : "", v);
    json_object_set_new(body, field, json_integer(n));
    return 1;
}

static int str_opt(struct cli *c, json_t *body, enum cli_opt o, const char *field)
{
    const char *v = c->a.val[o];
    if (!v)
        return 0;
    json_object_set_new(body, field, json_string(v));
    return 1;
}

/* "256m", "1g", "512MiB", "1.5G", "1073741824" (bytes; k, m, g, t are
 * powers of 1024, optionally followed by "b" or "ib"). */
static int memory_bytes(const char *v, int64_t *out)
{
    static const char units[] = "kmgt";
    char *end = NULL;
    if (!(v[0] >= '0' && v[0] <= '9'))
        return -1;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno || !isfinite(x))
        return -1;
    const char *u = *end ? strchr(units, *end | 0x20) : NULL;
    if (u) {
        for (long k = 0; k <= u - units; k++)
            x *= 1024;
        end++;
        if (strcasecmp(end, "b") == 0 || strcasecmp(end, "ib") == 0)
            end += strlen(end);
    } else if (strcasecmp(end, "b") == 0) {
        end++;
    }
    if (*end || x > 9.0e18)
        return -1;
    *out = (int64_t)(x + 0.5);
    return 0;
}

static int memory_opt(struct cli *c, json_t *body)
{
    const char *v = c->a.val[OPT_MEMORY];
    int64_t n;
    if (!v)
        return 0;
    if (is_none(v))
        json_object_set_new(body, "memory", json_null());
    else if (memory_bytes(v, &n) < 0)
        return cli_usage(c, "--memory must be a size such as 256m, 1g or a number of bytes "
                         "(or none); got '%.40s'", v);
    else
        json_object_set_new(body, "memory", json_integer(n));
    return 1;
}

static int cpus_opt(struct cli *c, json_t *body)
{
    const char *v = c->a.val[OPT_CPUS];
    char *end = NULL;
    if (!v)
        return 0;
    if (is_none(v)) {
        json_object_set_new(body, "cpus", json_null());
        return 1;
    }
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x))
        return cli_usage(c, "--cpus must be a number such as 0.5 (or none); got '%.40s'", v);
    json_object_set_new(body, "cpus", json_real(x));
    return 1;
}

static int domains_opt(struct cli *c, json_t *body)
{
    if (!c->a.ndomains)
        return 0;
    json_t *arr = json_array();
    for (int i = 0; i < c->a.ndomains; i++) {
        if (is_none(c->a.domains[i])) {
            if (c->a.ndomains > 1) {
                json_decref(arr);
                return cli_usage(c, "--domain none clears the list: give it alone");
            }
            break;
        }
        json_array_append_new(arr, json_string(c->a.domains[i]));
    }
    json_object_set_new(body, "domains", arr);
    return 1;
}

/* Every app option given goes into body; the count of fields, or -1. */
static int app_fields(struct cli *c, json_t *body)
{
    int n = 0;
    if (c->a.set[OPT_AUTO_DEPLOY] && c->a.set[OPT_NO_AUTO_DEPLOY])
        return cli_usage(c, "--auto-deploy and --no-auto-deploy contradict each other");
    if (c->a.set[OPT_HTTPS_REDIRECT] && c->a.set[OPT_NO_HTTPS_REDIRECT])
        return cli_usage(c, "--https-redirect and --no-https-redirect contradict each other");
    if (c->a.set[OPT_HSTS] && c->a.set[OPT_NO_HSTS])
        return cli_usage(c, "--hsts and --no-hsts contradict each other");
    const int got[] = {
        str_opt(c, body, OPT_SERVER, "server"),
        str_opt(c, body, OPT_REPO, "repo_url"),
        str_opt(c, body, OPT_BRANCH, "branch"),
        str_opt(c, body, OPT_DOCKERFILE, "dockerfile"),
        str_opt(c, body, OPT_CONTEXT, "context"),
        int_opt(c, body, OPT_PORT, "container_port", 0),
        str_opt(c, body, OPT_HEALTH_PATH, "health_path"),
        int_opt(c, body, OPT_PUBLIC_PORT, "public_port", 1),
        domains_opt(c, body),
        memory_opt(c, body),
        cpus_opt(c, body),
        int_opt(c, body, OPT_KEEP_IMAGES, "keep_images", 0),
        int_opt(c, body, OPT_DRAIN_SECONDS, "drain_seconds", 0),
    };
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++) {
        if (got[i] < 0)
            return -1; /* c->err names the first bad option */
        n += got[i];
    }
    if (c->a.set[OPT_AUTO_DEPLOY] || c->a.set[OPT_NO_AUTO_DEPLOY]) {
        json_object_set_new(body, "auto_deploy", json_boolean(c->a.set[OPT_AUTO_DEPLOY] > 0));
        n++;
    }
    if (c->a.set[OPT_HTTPS_REDIRECT] || c->a.set[OPT_NO_HTTPS_REDIRECT]) {
        json_object_set_new(body, "https_redirect", json_boolean(c->a.set[OPT_HTTPS_REDIRECT] > 0));
        n++;
    }
    if (c->a.set[OPT_HSTS] || c->a.set[OPT_NO_HSTS]) {
        json_object_set_new(body, "hsts", json_boolean(c->a.set[OPT_HSTS] > 0));
        n++;
    }
    return n;
}

/* ---- printing an app ---- */

static void bytes_text(json_t *v, char *out, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)json_integer_value(v);
    int u = 0;
    while (x >= 1024 && u < 4) {
        x /= 1024;
        u++;
    }
    snprintf(out, n, x == (double)(int64_t)x ? "%.0f %s" : "%.1f %s", x, units[u]);
}

static void domains_text(json_t *arr, char *out, size_t n)
{
    json_t *s;
    size_t i, used = 0;
    snprintf(out, n, "-");
    json_array_foreach(arr, i, s) {
        int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", json_string_value(s));
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
}

static void print_current(json_t *cur)
{
    char x[32], y[32];
    if (!json_is_object(cur)) {
        printf("%-13s none\n", "current");
        return;
    }
    printf("%-13s deployment %s (%s, commit %.12s, image %s)\n", "current",
           out_str(cur, "id", x, sizeof x), out_str(cur, "status", y, sizeof y),
           out_str(cur, "commit", y, sizeof y), out_str(cur, "image", y, sizeof y));
}

static void human_app_show(struct cli *c, json_t *d)
{
    char a[64], b[64], t[1024];
    json_t *sv = json_object_get(d, "server");
    (void)c;
    printf("%-13s %s (id %s)\n", "app", out_str(d, "name", a, sizeof a),
           out_str(d, "id", b, sizeof b));
    printf("%-13s %s (id %s, %s)\n", "server", out_str(sv, "name", a, sizeof a),
           out_str(d, "server_id", b, sizeof b), out_str(sv, "status", t, sizeof t));
    static const char *const plain[][2] = {
        {"repo", "repo_url"}, {"branch", "branch"}, {"dockerfile", "dockerfile"},
        {"context", "context"}, {"port", "container_port"}, {"health path", "health_path"},
        {"public port", "public_port"}, {"auto deploy", "auto_deploy"},
        {"restart", "restart_policy"}, {"keep images", "keep_images"},
        {"https redir", "https_redirect"}, {"hsts", "hsts"}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        printf("%-13s %s\n", plain[i][0], out_str(d, plain[i][1], a, sizeof a));
    domains_text(json_object_get(d, "domains"), t, sizeof t);
    printf("%-13s %s\n", "domains", t);
    json_t *mem = json_object_get(d, "memory"), *cpus = json_object_get(d, "cpus");
    if (json_is_integer(mem))
        bytes_text(mem, a, sizeof a);
    else
        snprintf(a, sizeof a, "no limit");
    printf("%-13s %s\n", "memory", a);
    if (json_is_number(cpus))
        printf("%-13s %g\n", "cpus", json_number_value(cpus));
    else
        printf("%-13s no limit\n", "cpus");
    printf("%-13s %s s\n", "drain", out_str(d, "drain_seconds", a, sizeof a));
    printf("%-13s clone %s s, build %s s, health %s s\n", "timeouts",
           out_str(d, "clone_timeout", a, sizeof a), out_str(d, "build_timeout", b, sizeof b),
           out_str(d, "health_timeout", t, sizeof t));
    print_current(json_object_get(d, "current_deployment"));
    printf("%-13s %s\n", "created", out_str(d, "created_at", a, sizeof a));
    printf("%-13s %s\n", "updated", out_str(d, "updated_at", a, sizeof a));
}

static void human_app_saved(struct cli *c, json_t *d)
{
    char a[32];
    (void)c;
    printf("Saved app %s (id %s) on server %s.\n", json_string_value(json_object_get(d, "name")),
           out_str(d, "id", a, sizeof a),
           json_string_value(json_object_get(json_object_get(d, "server"), "name")));
}

/* ---- app commands ---- */

int cmd_app_create(struct cli *c)
{
    char path[600];
    json_t *body = json_pack("{s:s}", "name", c->args[0]), *d = NULL;
    int rc = -1;
    static const struct {
        enum cli_opt o;
        const char *what;
    } required[] = {{OPT_SERVER, "--server SERVER"}, {OPT_REPO, "--repo URL"},
                    {OPT_PORT, "--port N (the container's port)"}};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!c->a.val[required[i].o]) {
            cli_usage(c, "%s is required (see berth app create --help)", required[i].what);
            goto done;
        }
    if (app_fields(c, body) < 0 || cli_org_path(c, "apps", NULL, path, sizeof path) < 0)
        goto done;
    rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_app_saved);
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_app_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "NAME", "SERVER", "BRANCH", "PORT", "CURRENT",
                                    "REPO", NULL};
    json_t *t = out_table_new(h), *a;
    size_t i;
    char id[32], port[32], cur[64], x[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, a) {
        json_t *cd = json_object_get(a, "current_deployment");
        if (json_is_object(cd))
            snprintf(cur, sizeof cur, "%lld (%s)",
                     (long long)json_integer_value(json_object_get(cd, "id")),
                     json_string_value(json_object_get(cd, "status")));
        else
            snprintf(cur, sizeof cur, "-");
        out_table_row(t, out_str(a, "id", id, sizeof id), out_str(a, "name", x, sizeof x),
                      out_str(json_object_get(a, "server"), "name", x, sizeof x),
                      out_str(a, "branch", x, sizeof x),
                      out_str(a, "container_port", port, sizeof port), cur,
                      out_str(a, "repo_url", x, sizeof x), NULL);
    }
    out_table_print(t);
}

int cmd_app_list(struct cli *c)
{
    char path[600];
    json_t *d = NULL;
    if (cli_org_path(c, "apps", NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_app_list);
    return 0;
}

int cmd_app_show(struct cli *c)
{
    char path[900];
    json_t *d = NULL;
    if (cli_org_path(c, "apps", c->args[0], path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_app_show);
    return 0;
}

int cmd_app_set(struct cli *c)
{
    char path[900];
    json_t *body = json_object(), *d = NULL;
    int rc = -1, n;
    if ((n = app_fields(c, body)) < 0 || str_opt(c, body, OPT_NAME, "name") < 0)
        goto done;
    if (n == 0 && !c->a.val[OPT_NAME]) {
        cli_usage(c, "nothing to change: give at least one option (see berth app set --help)");
        goto done;
    }
    if (cli_org_path(c, "apps", c->args[0], path, sizeof path) < 0)
        goto done;
    rc = client_mutate(c, "PATCH", path, body, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_app_saved);
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_app_delete(struct cli *c, json_t *d)
{
    (void)c;
    printf("Deleted app %s (its env and deployment records too; a running container is not "
           "removed).\n",
           json_string_value(json_object_get(d, "app")));
}

int cmd_app_delete(struct cli *c)
{
    char path[900], what[200];
    if (cli_org_path(c, "apps", c->args[0], path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "delete app %.100s with its env and deployment history",
             c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    /* berthd wants the app named again (?confirm=, docs/deploy.md) */
    char seg[400];
    const char *last = strrchr(path, '/');
    size_t pl = strlen(path);
    if (!last || util_strlcpy(seg, last + 1, sizeof seg) < 0 ||
        snprintf(path + pl, sizeof path - pl, "?confirm=%s", seg) >= (int)(sizeof path - pl))
        return cli_usage(c, "the request path is too long");
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:b}", "app", c->args[0], "deleted", 1), human_app_delete);
    return rc < 0 ? -1 : 0;
}

/* ---- env ---- */

/* KEY as berthd takes it: [A-Z_][A-Z0-9_]*, at most 100 characters. The
 * value is never echoed: a KEY=VALUE argument is refused without it. */
static int env_key_arg(struct cli *c, const char **key)
{
    *key = c->args[1];
    if (c->nargs > 2 || strchr(*key, '='))
        return cli_usage(c, "env values never go on the command line (they would show in ps "
                         "and shell history): give KEY alone and the value on stdin or in "
                         "BERTH_ENV_VALUE");
    size_t l = strlen(*key);
    int ok = l >= 1 && l <= 100 && !((*key)[0] >= '0' && (*key)[0] <= '9');
    for (size_t i = 0; ok && i < l; i++)
        ok = ((*key)[i] >= 'A' && (*key)[i] <= 'Z') || ((*key)[i] >= '0' && (*key)[i] <= '9') ||
             (*key)[i] == '_';
    if (!ok)
        return cli_usage(c, "env KEY must match [A-Z_][A-Z0-9_]* (at most 100 characters)");
    return 0;
}

/* .../apps/APP/env, or .../apps/APP/env/KEY */
static int env_path(struct cli *c, const char *key, char *out, size_t n)
{
    char k[400] = "/env";
    if (cli_org_path(c, "apps", c->args[0], out, n) < 0)
        return -1;
    if (key && client_path(c, k, sizeof k, "/env/%s", key) < 0)
        return -1;
    if (strlen(out) + strlen(k) >= n)
        return cli_usage(c, "the request path is too long");
    strncat(out, k, n - strlen(out) - 1);
    return 0;
}

/* The value: BERTH_ENV_VALUE (when not empty), else the terminal (not
 * echoed, one line), else all of stdin less one trailing newline (an
 * empty value: < /dev/null). */
static int env_value(struct cli *c, const char *key, char **val, size_t *len)
{
    const char *e = getenv("BERTH_ENV_VALUE");
    *val = NULL;
    *len = 0;
    if (e && *e) {
        *len = strlen(e);
        if (*len > ENV_VALUE_MAX)
            return cli_usage(c, "BERTH_ENV_VALUE is over %d KiB", ENV_VALUE_MAX / 1024);
        *val = strdup(e);
    } else if (isatty(0)) {
        char line[4096], label[160];
        snprintf(label, sizeof label, "Value for %s (not echoed)", key);
        if (prompt_line(NULL, label, 1, line, sizeof line) < 0)
            return cli_usage(c, "no value read (a value longer than a terminal line goes on "
                             "stdin: berth env set APP KEY < file)");
        *len = strlen(line);
        *val = strdup(line);
        crypto_wipe(line, sizeof line);
    } else {
        if (util_read_file("/dev/stdin", ENV_VALUE_MAX + 2, val, len) < 0)
            return cli_usage(c, "%s", errno == EFBIG ? "the value on stdin is over 64 KiB"
                                                     : "cannot read the value from stdin");
        if (*len && (*val)[*len - 1] == '\n')
            (*val)[--*len] = '\0';
        if (*len && (*val)[*len - 1] == '\r')
            (*val)[--*len] = '\0';
        if (*len > ENV_VALUE_MAX)
            return cli_usage(c, "the value on stdin is over 64 KiB");
    }
    if (!*val)
        return cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
    if (memchr(*val, '\0', *len))
        return cli_usage(c, "an env value cannot hold NUL bytes");
    return 0;
}

static void human_env_set(struct cli *c, json_t *d)
{
    (void)c;
    printf("Set %s on %s (value not shown; it takes effect at the next deployment).\n",
           json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "app")));
}

int cmd_env_set(struct cli *c)
{
    static const char *const redact[] = {"value", NULL};
    char path[1400];
    const char *key;
    char *val = NULL;
    size_t len = 0;
    json_t *body = NULL, *d = NULL;
    int rc = -1;
    if (env_key_arg(c, &key) < 0 || env_path(c, key, path, sizeof path) < 0 ||
        env_value(c, key, &val, &len) < 0)
        goto done;
    body = json_pack("{s:s%}", "value", val, len);
    if (!body) {
        cli_usage(c, "the value must be UTF-8 text");
        goto done;
    }
    rc = client_mutate(c, "PUT", path, body, 1, redact, &d);
    if (rc == 0) {
        if (json_is_object(d))
            json_object_set_new(d, "app", json_string(c->args[0]));
        out_ok(c, d, human_env_set);
    }
done:
    if (val) {
        crypto_wipe(val, len);
        free(val);
    }
    if (body) /* jansson's copy of the value too */
        crypto_wipe((char *)json_string_value(json_object_get(body, "value")), len);
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_env_unset(struct cli *c, json_t *d)
{
    (void)c;
    printf("Unset %s on %s.\n", json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "app")));
}

int cmd_env_unset(struct cli *c)
{
    char path[1400], what[300];
    const char *key;
    if (env_key_arg(c, &key) < 0 || env_path(c, key, path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "unset %s on %.100s", key, c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:s, s:b}", "app", c->args[0], "name", key, "unset", 1),
               human_env_unset);
    return rc < 0 ? -1 : 0;
}

static void human_env_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"NAME", "UPDATED", NULL};
    json_t *t = out_table_new(h), *e;
    size_t i;
    char x[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, e)
        out_table_row(t, out_str(e, "name", x, sizeof x), out_str(e, "updated_at", x, sizeof x),
                      NULL);
    out_table_print(t);
}

int cmd_env_list(struct cli *c)
{
    char path[1400];
    json_t *d = NULL;
    if (env_path(c, NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_env_list);
    return 0;
}

/* ---- logs: the app's container output (docs/app-logs.md) ---- */

#include <curl/curl.h>

/* One read (or a follow) of GET .../apps/APP/logs as NDJSON. A follow cut
 * while idle (client_stream's deadline) is read again from the last line's
 * time, skipping the lines of that time already shown (their count), so
 * nothing shows twice. */
struct applog {
    struct cli *c;
    struct buf line;
    json_t *items;                      /* --json without -f: collected */
    size_t collected;
    int64_t last_ts, at_last;           /* the newest time shown, lines shown with it */
    int64_t skip_ts, skip_n;            /* a re-read: lines already shown */
    int note;                           /* berthd's last word was printed */
};

static int applog_line(struct applog *a, const char *p, size_t n)
{
    json_t *o = json_loadb(p, n, 0, NULL);
    const char *text = json_string_value(json_object_get(o, "text"));
    json_t *ts = json_object_get(o, "ts");
    int rc = 0;
    if (!o || (!text && !json_object_get(o, "berth"))) {
        rc = cli_fail(a->c, CLI_EXIT_OTHER, "bad_response", "berthd sent a log line that is not "
                      "{time, stream, text, ...}");
        goto done;
    }
    if (!text) { /* berthd's last word: an error, or more lines than the limit */
        const char *e = json_string_value(json_object_get(o, "error"));
        const char *t = json_string_value(json_object_get(o, "truncated"));
        fprintf(stderr, "berth: %s\n", e ? e : t ? t : "the log ended early");
        a->note = 1;
        if (e)
            rc = cli_fail(a->c, CLI_EXIT_OTHER, "log_error", "%s", e);
        goto done;
    }
    int64_t t = json_is_integer(ts) ? (int64_t)json_integer_value(ts) : 0;
    if (a->skip_n && t == a->skip_ts) {
        a->skip_n--;
        goto done;
    }
    a->skip_n = 0;
    if (t == a->last_ts) {
        a->at_last++;
    } else if (t > a->last_ts) {
        a->last_ts = t;
        a->at_last = 1;
    }
    if (a->items) {
        a->collected += n;
        if (a->collected > LOGSTREAM_COLLECT_MAX) {
            rc = cli_fail(a->c, CLI_EXIT_OTHER, "response_too_large", "the log is over %u MiB: "
                          "narrow it with --tail or --since, or read it without --json",
                          LOGSTREAM_COLLECT_MAX / (1024 * 1024));
            goto done;
        }
        json_array_append(a->items, o);
    } else if (a->c->json) { /* --json -f: one object a line, as they come */
        fwrite(p, 1, n, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    } else {
        int err = strcmp(json_string_value(json_object_get(o, "stream")) ?
                         json_string_value(json_object_get(o, "stream")) : "", "stderr") == 0;
        FILE *f = err ? stderr : stdout;
        fwrite(text, 1, json_string_length(json_object_get(o, "text")), f);
        if (!json_is_true(json_object_get(o, "partial")))
            fputc('\n', f);
        fflush(f);
    }
done:
    json_decref(o);
    return rc;
}

static int applog_feed(void *arg, const char *p, size_t n)
{
    struct applog *a = arg;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (buf_append(&a->line, p, take) < 0)
            return cli_fail(a->c, CLI_EXIT_OTHER, "bad_response", "a log line from berthd is "
                            "over 1 MiB");
        if (!nl)
            return 0;
        if (a->line.len && applog_line(a, a->line.data, a->line.len) < 0)
            return -1;
        buf_clear(&a->line);
        p = nl + 1;
        n -= take + 1;
    }
    return 0;
}

/* ?name=value (escaped) onto path. */
static int add_param(struct cli *c, char *path, size_t n, const char *name, const char *v)
{
    char *e = curl_easy_escape(NULL, v, 0);
    size_t l = strlen(path);
    int w = e ? snprintf(path + l, n - l, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, e) : -1;
    curl_free(e);
    if (w < 0 || (size_t)w >= n - l)
        return cli_usage(c, "the request path is too long");
    return 0;
}

int cmd_app_logs(struct cli *c)
{
    char base[2400], path[2600], num[32];
    struct applog a = {.c = c};
    int follow = c->a.set[OPT_FOLLOW] > 0, rc = -1;
    int64_t n;
    if (cli_org_path(c, "apps", c->args[0], base, sizeof base) < 0)
        return -1;
    size_t bl = strlen(base);
    if (snprintf(base + bl, sizeof base - bl, "/logs") >= (int)(sizeof base - bl))
        return cli_usage(c, "the request path is too long");
    if (c->a.val[OPT_TAIL] && (util_parse_i64(c->a.val[OPT_TAIL], &n) < 0 || n < 0 ||
                               n > 100000))
        return cli_usage(c, "--tail must be a number of lines from 0 to 100000");
    if (c->a.val[OPT_DEPLOYMENT] && (util_parse_i64(c->a.val[OPT_DEPLOYMENT], &n) < 0 || n < 1))
        return cli_usage(c, "--deployment must be a deployment id");
    if (c->a.val[OPT_GREP] && !c->a.val[OPT_GREP][0])
        return cli_usage(c, "--grep needs some text");
    if (c->a.val[OPT_REGEX] && !c->a.val[OPT_REGEX][0])
        return cli_usage(c, "--regex needs a pattern");
    if (follow && c->a.val[OPT_UNTIL])
        return cli_usage(c, "--follow and --until do not go together");
    /* base: the filters; since and tail only on the first read */
    static const struct { enum cli_opt o; const char *name; } map[] = {
        {OPT_UNTIL, "until"}, {OPT_GREP, "q"}, {OPT_REGEX, "re"}, {OPT_DEPLOYMENT, "deployment"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (c->a.val[map[i].o] && add_param(c, base, sizeof base, map[i].name,
                                            c->a.val[map[i].o]) < 0)
            return -1;
    buf_init(&a.line, 1024 * 1024);
    if (c->json && !follow)
        a.items = json_array();
    snprintf(path, sizeof path, "%s", base);
    if ((c->a.val[OPT_SINCE] && add_param(c, path, sizeof path, "since", c->a.val[OPT_SINCE]) < 0) ||
        (c->a.val[OPT_TAIL] && add_param(c, path, sizeof path, "tail", c->a.val[OPT_TAIL]) < 0) ||
        (follow && add_param(c, path, sizeof path, "follow", "1") < 0))
        goto done;
    for (;;) {
        rc = client_stream(c, path, "application/x-ndjson", applog_feed, &a);
        if (rc == 0 && a.line.len)
            rc = applog_line(&a, a.line.data, a.line.len);
        buf_clear(&a.line);
        if (rc != 1 || !follow)
            break;
        /* cut while idle: again from the newest line shown, none twice */
        snprintf(path, sizeof path, "%s", base);
        if (a.last_ts) {
            snprintf(num, sizeof num, "%lld.%09lld", (long long)(a.last_ts / 1000000000LL),
                     (long long)(a.last_ts % 1000000000LL));
            a.skip_ts = a.last_ts;
            a.skip_n = a.at_last;
            if (add_param(c, path, sizeof path, "since", num) < 0)
                break;
        } else if (c->a.val[OPT_SINCE] &&
                   add_param(c, path, sizeof path, "since", c->a.val[OPT_SINCE]) < 0) {
            break;
        }
        if (add_param(c, path, sizeof path, "follow", "1") < 0)
            break;
    }
    if (rc == 0 && a.items)
        out_ok(c, json_pack("{s:s, s:O}", "app", c->args[0], "items", a.items), NULL);
done:
    json_decref(a.items);
    buf_release(&a.line);
    return rc < 0 ? -1 : 0;
}

/* ---- domains: thin wrappers over .../apps/APP/domains ---- */

/* .../apps/APP/domains, or .../apps/APP/domains/NAME */
static int domain_path(struct cli *c, const char *name, char *out, size_t n)
{
    char k[400] = "/domains";
    if (cli_org_path(c, "apps", c->args[0], out, n) < 0)
        return -1;
    if (name && client_path(c, k, sizeof k, "/domains/%s", name) < 0)
        return -1;
    if (strlen(out) + strlen(k) >= n)
        return cli_usage(c, "the request path is too long");
    strncat(out, k, n - strlen(out) - 1);
    return 0;
}

static void human_domain_add(struct cli *c, json_t *d)
{
    (void)c;
    printf("Added %s to %s: served by name on its server's shared HTTP port once the app has "
           "been deployed.\n",
           json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "app")));
}

int cmd_domain_add(struct cli *c)
{
    char path[1400];
    json_t *d = NULL;
    if (domain_path(c, NULL, path, sizeof path) < 0)
        return -1;
    json_t *body = json_pack("{s:s}", "name", c->args[1]);
    int rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    json_decref(body);
    if (rc == 0) {
        if (json_is_object(d))
            json_object_set_new(d, "app", json_string(c->args[0]));
        out_ok(c, d, human_domain_add);
    }
    return rc < 0 ? -1 : 0;
}

static void human_domain_rm(struct cli *c, json_t *d)
{
    (void)c;
    printf("Removed %s from %s.\n", json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "app")));
}

int cmd_domain_rm(struct cli *c)
{
    char path[1400], what[400];
    if (domain_path(c, c->args[1], path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "remove %.253s from %.100s (it stops being served)", c->args[1],
             c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:s, s:b}", "app", c->args[0], "name", c->args[1], "removed", 1),
               human_domain_rm);
    return rc < 0 ? -1 : 0;
}

/* CERTIFICATE: pending | issued | failed (HTTPS on the edge); DETAIL: the
 * issuer, or why it failed (cut: --json has it whole) */
static void human_domain_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"DOMAIN", "WILDCARD", "CERTIFICATE", "EXPIRES", "DETAIL", NULL};
    json_t *t = out_table_new(h), *e;
    size_t i;
    char x[4], y[4], detail[84];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, e) {
        json_t *cert = json_object_get(e, "certificate");
        const char *st = json_string_value(json_object_get(cert, "status"));
        const char *why = json_string_value(json_object_get(cert, "error"));
        const char *issuer = json_string_value(json_object_get(cert, "issuer"));
        snprintf(detail, sizeof detail, "%.80s%s", why ? why : issuer ? issuer : "-",
                 why && strlen(why) > 80 ? "..." : "");
        for (char *p = detail; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                *p = '?';
        out_table_row(t, out_str(e, "name", x, sizeof x),
                      json_is_true(json_object_get(e, "wildcard")) ? "yes" : "no", st ? st : "-",
                      out_str(cert, "expires_at", y, sizeof y), detail, NULL);
    }
    out_table_print(t);
}

int cmd_domain_list(struct cli *c)
{
    char path[1400];
    json_t *d = NULL;
    if (domain_path(c, NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_domain_list);
    return 0;
}
