/* cmd_script.c - an organization's saved shell scripts: list, show,
 * create, update, delete, and run one on a server (a job; --follow
 * streams its output through cmd_job.c and exits with its status). */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRIPT_BODY_MAX (256 * 1024)

/* The body from --file (- is stdin), or from a piped stdin when allowed. */
static int read_body(struct cli *c, int stdin_ok, json_t **out)
{
    const char *f = c->a.val[OPT_FILE];
    char *data = NULL;
    size_t len = 0;
    *out = NULL;
    if (!f) {
        if (!stdin_ok)
            return 0;
        if (isatty(0))
            return cli_usage(c, "give the script with --file FILE or pipe it on stdin");
        f = "-";
    }
    const char *path = strcmp(f, "-") == 0 ? "/dev/stdin" : f;
    if (util_read_file(path, SCRIPT_BODY_MAX, &data, &len) < 0) {
        if (errno == EFBIG)
            return cli_usage(c, "the script %s is over %d KiB", strcmp(f, "-") ? f : "on stdin",
                             SCRIPT_BODY_MAX / 1024);
        return cli_usage(c, "cannot read %s: %s", strcmp(f, "-") ? f : "stdin",
                         strerror(errno));
    }
    *out = memchr(data, '\0', len) ? NULL : json_stringn(data, len);
    free(data);
    if (!*out)
        return cli_usage(c, "the script must be UTF-8 text without NUL bytes");
    return 0;
}

static void human_script_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "NAME", "SIZE", "UPDATED", NULL};
    json_t *t = out_table_new(h), *s;
    size_t i;
    char id[32], size[32], x[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, s)
        out_table_row(t, out_str(s, "id", id, sizeof id), out_str(s, "name", x, sizeof x),
                      out_str(s, "size", size, sizeof size), out_str(s, "updated_at", x, sizeof x),
                      NULL);
    out_table_print(t);
}

int cmd_script_list(struct cli *c)
{
    char path[600];
    json_t *d = NULL;
    if (cli_org_path(c, "scripts", NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_script_list);
    return 0;
}

/* The body as it is, so `berth script show X > x.sh` round-trips. */
static void human_script_show(struct cli *c, json_t *d)
{
    json_t *b = json_object_get(d, "body");
    (void)c;
    fwrite(json_string_value(b), 1, json_string_length(b), stdout);
}

int cmd_script_show(struct cli *c)
{
    char path[900];
    json_t *d = NULL;
    if (cli_org_path(c, "scripts", c->args[0], path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_script_show);
    return 0;
}

static void human_script_saved(struct cli *c, json_t *d)
{
    (void)c;
    printf("Saved script %s (id %lld, %zu bytes).\n",
           json_string_value(json_object_get(d, "name")),
           (long long)json_integer_value(json_object_get(d, "id")),
           json_string_length(json_object_get(d, "body")));
}

int cmd_script_create(struct cli *c)
{
    char path[600];
    json_t *body = NULL, *text = NULL, *d = NULL;
    int rc = -1;
    if (cli_org_path(c, "scripts", NULL, path, sizeof path) < 0 || read_body(c, 1, &text) < 0)
        goto done;
    body = json_pack("{s:s, s:O}", "name", c->args[0], "body", text);
    rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_script_saved);
done:
    json_decref(text);
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

int cmd_script_update(struct cli *c)
{
    char path[900];
    json_t *body = json_object(), *text = NULL, *d = NULL;
    int rc = -1;
    if (!c->a.val[OPT_FILE] && !c->a.val[OPT_NAME]) {
        cli_usage(c, "nothing to change: give --file FILE (- for stdin) and/or --name NAME");
        goto done;
    }
    if (cli_org_path(c, "scripts", c->args[0], path, sizeof path) < 0 ||
        read_body(c, 0, &text) < 0)
        goto done;
    if (text)
        json_object_set(body, "body", text);
    if (c->a.val[OPT_NAME])
        json_object_set_new(body, "name", json_string(c->a.val[OPT_NAME]));
    rc = client_mutate(c, "PUT", path, body, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_script_saved);
done:
    json_decref(text);
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_script_delete(struct cli *c, json_t *d)
{
    (void)c;
    printf("Deleted script %s.\n", json_string_value(json_object_get(d, "script")));
}

int cmd_script_delete(struct cli *c)
{
    char path[900], what[200];
    if (cli_org_path(c, "scripts", c->args[0], path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "delete script %.100s", c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:b}", "script", c->args[0], "deleted", 1),
               human_script_delete);
    return rc < 0 ? -1 : 0;
}

static void human_job_started(struct cli *c, json_t *d)
{
    (void)c;
    printf("%lld\n", (long long)json_integer_value(json_object_get(d, "id")));
}

static void human_job_followed(struct cli *c, json_t *d)
{
    (void)c;
    const char *st = json_string_value(json_object_get(d, "status"));
    if (st && strcmp(st, "SUCCEEDED") == 0)
        return; /* the output said it all */
    json_t *code = json_object_get(d, "exit_code"), *err = json_object_get(d, "error");
    fprintf(stderr, "berth: job %lld %s", (long long)json_integer_value(json_object_get(d, "id")),
            st ? st : "ended");
    if (json_is_integer(code))
        fprintf(stderr, " (exit code %lld)", (long long)json_integer_value(code));
    if (json_is_string(err) && strncmp(json_string_value(err), "exit code", 9) != 0)
        fprintf(stderr, ": %s", json_string_value(err));
    fprintf(stderr, "\n");
}

static int run_body(struct cli *c, json_t **body)
{
    const char *sv = c->a.val[OPT_SERVER];
    int64_t n;
    if (!sv || !*sv)
        return cli_usage(c, "--server SERVER is required (an id or a name)");
    *body = json_pack("{s:s}", "server", sv);
    if (c->a.val[OPT_TIMEOUT]) {
        if (util_parse_i64(c->a.val[OPT_TIMEOUT], &n) < 0 || n < 1 || n > 86400)
            return cli_usage(c, "--timeout must be 1..86400 seconds");
        json_object_set_new(*body, "timeout_s", json_integer(n));
    }
    return 0;
}

int cmd_script_run(struct cli *c)
{
    char path[900];
    json_t *body = NULL, *d = NULL, *job = NULL;
    int rc = -1;
    if (run_body(c, &body) < 0 || cli_org_path(c, "scripts", c->args[0], path, sizeof path) < 0)
        goto done;
    strncat(path, "/runs", sizeof path - strlen(path) - 1);
    rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (rc != 0)
        goto done;
    if (!c->a.set[OPT_FOLLOW]) {
        out_ok(c, d, human_job_started);
        goto done;
    }
    int64_t id = (int64_t)json_integer_value(json_object_get(d, "id"));
    json_decref(d);
    if (!c->json)
        fprintf(stderr, "berth: job %lld started\n", (long long)id);
    rc = job_follow(c, id, &job);
    if (rc == 0) {
        c->exit_code = job_exit_status(job);
        out_ok(c, job, human_job_followed);
    }
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}
