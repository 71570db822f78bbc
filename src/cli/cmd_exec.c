/* cmd_exec.c - `berth exec SERVER [--container C | --app A] [--timeout S]
 * -- CMD [ARG...]`: one command on a server's host or in a container,
 * without a terminal or input, through POST .../servers/{server}/exec.
 *
 * berthd answers once the command ended: {"exit_code": N|null, "stdout",
 * "stderr", "truncated", "timed_out", "reason", "duration_ms"}. Its stdout
 * goes to ours, its stderr to ours, and berth exits with its exit code
 * (0..255); a command without one (timed out, could not start) prints the
 * reason and exits 1. Under --json the answer is the one document and the
 * exit status is the same.
 *
 * The request waits as long as the command may run: its HTTP limit is the
 * command's timeout plus a margin, and its answer (1 MiB a stream, JSON
 * escaped) may exceed the usual 8 MiB cap. */
#include "cli.h"
#include "util.h"

#include <string.h>

#define EXEC_TIMEOUT_DEFAULT 60
#define EXEC_TIMEOUT_MAX 900
#define EXEC_HTTP_MARGIN_S 30
#define EXEC_ANSWER_MAX (16u * 1024 * 1024) /* 2 x 1 MiB, escaped up to 6 bytes a byte */

int exec_target(struct cli *c, const char **container, const char **app)
{
    *container = c->a.set[OPT_CONTAINER] ? c->a.val[OPT_CONTAINER] : NULL;
    *app = c->a.set[OPT_APP] ? c->a.val[OPT_APP] : NULL;
    if (*container && *app)
        return cli_usage(c, "give --container or --app, not both");
    if ((*container && !**container) || (*app && !**app))
        return cli_usage(c, "--container and --app need a name");
    return 0;
}

static int exec_timeout(struct cli *c, int64_t *out)
{
    *out = EXEC_TIMEOUT_DEFAULT;
    if (!c->a.set[OPT_TIMEOUT])
        return 0;
    if (util_parse_i64(c->a.val[OPT_TIMEOUT], out) < 0 || *out < 1 || *out > EXEC_TIMEOUT_MAX)
        return cli_usage(c, "--timeout must be 1..%d seconds", EXEC_TIMEOUT_MAX);
    return 0;
}

static json_t *exec_body(struct cli *c, int64_t timeout, const char *container, const char *app)
{
    json_t *cmd = json_array();
    for (int i = 1; i < c->nargs; i++)
        json_array_append_new(cmd, json_string(c->args[i]));
    json_t *b = json_pack("{s:o, s:I}", "command", cmd, "timeout_s", (json_int_t)timeout);
    if (b && container)
        json_object_set_new(b, "container", json_string(container));
    if (b && app)
        json_object_set_new(b, "app", json_string(app));
    return b;
}

static void put_stream(FILE *f, json_t *d, const char *key)
{
    json_t *s = json_object_get(d, key);
    if (json_is_string(s) && json_string_length(s)) {
        fwrite(json_string_value(s), 1, json_string_length(s), f);
        fflush(f);
    }
}

static void human_exec(struct cli *c, json_t *d)
{
    (void)c;
    put_stream(stdout, d, "stdout");
    put_stream(stderr, d, "stderr");
    if (json_is_true(json_object_get(d, "truncated")))
        fprintf(stderr, "berth: the output was cut: berthd keeps 1 MiB of each stream\n");
    if (!json_is_integer(json_object_get(d, "exit_code"))) {
        const char *why = json_string_value(json_object_get(d, "reason"));
        fprintf(stderr, "berth: the command has no exit status: %s\n",
                why && *why ? why : "no reason given");
    }
}

/* The command's exit code, 0..255; 1 when it has none. */
static int exec_status(json_t *d)
{
    json_t *x = json_object_get(d, "exit_code");
    if (!json_is_integer(x))
        return 1;
    json_int_t v = json_integer_value(x);
    return v < 0 || v > 255 ? 1 : (int)v;
}

int cmd_exec(struct cli *c)
{
    const char *container, *app;
    int64_t timeout;
    char path[700];
    json_t *body = NULL, *d = NULL;
    int rc = -1;
    if (c->nargs < 2)
        return cli_usage(c, "usage: berth exec SERVER [--container C | --app A] -- CMD [ARG...]");
    if (exec_target(c, &container, &app) < 0 || exec_timeout(c, &timeout) < 0)
        return -1;
    if (cli_org_path(c, "servers", c->args[0], path, sizeof path) < 0)
        return -1;
    strncat(path, "/exec", sizeof path - strlen(path) - 1);
    body = exec_body(c, timeout, container, app);
    if (!body)
        return cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
    c->http_timeout_s = (long)timeout + EXEC_HTTP_MARGIN_S;
    c->response_max = EXEC_ANSWER_MAX;
    int sent = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (sent != 0) { /* -1: failed; 1: --dry-run, already printed */
        rc = sent > 0 ? 0 : -1;
        goto done;
    }
    if (!json_is_object(d)) {
        cli_fail(c, CLI_EXIT_OTHER, "bad_response", "berthd's answer to exec is not an object");
        goto done;
    }
    c->exit_code = exec_status(d);
    out_ok(c, d, human_exec);
    d = NULL;
    rc = 0;
done:
    json_decref(body);
    json_decref(d);
    return rc;
}
