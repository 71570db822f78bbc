/* exec.c - a command on a server, for automation (docs/terminal.md):
 * POST /api/v1/orgs/{org}/servers/{server}/exec
 *   {"command": ["argv", ...], "timeout_s": 1..900 (60), "container"? | "app"?}
 * runs argv on the host (scope server:exec, exceptional) or in a
 * container (container:exec) through a channel without a TTY or input,
 * and answers once it ended:
 *   {"exit_code": N|null, "stdout", "stderr", "truncated", "timed_out",
 *    "reason", "duration_ms"}
 * Output is kept up to EXEC_OUT_MAX bytes a stream (the rest is read and
 * dropped, "truncated": true); invalid UTF-8 is replaced. The request
 * waits on the loop without blocking it (http_defer): a client that goes
 * away leaves the command to its timeout, then everything is freed.
 * Audited as server.exec with the command's name, never its arguments.
 */
#include "api.h"
#include "channels.h"
#include "deploy.h"
#include "jsonx.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXEC_OUT_MAX (1024 * 1024)
#define EXEC_TIMEOUT_DEFAULT 60
#define EXEC_TIMEOUT_MAX 900

struct xrun {
    struct req *r;
    struct channel *ch;
    struct buf out[2];
    int truncated, timed_out;
    uint64_t started_us;
    lws_sorted_usec_list_t sul;
};

static void xrun_free(struct xrun *x)
{
    lws_sul_cancel(&x->sul);
    buf_release(&x->out[0]);
    buf_release(&x->out[1]);
    free(x);
}

static json_t *text_of(const struct buf *b)
{
    size_t len = 0;
    char *t = malloc(b->len + 1);
    if (!t)
        return json_string("");
    proto_utf8_sanitize(b->data ? b->data : "", b->len, 1, t, &len);
    json_t *s = json_stringn(t, len);
    free(t);
    return s ? s : json_string("");
}

/* The command ended (or was ended): answer, free. */
static void answer(struct xrun *x, const char *reason, int exit_code)
{
    struct req *r = x->r;
    if (!http_gone(r)) {
        json_t *o = json_pack("{s:o, s:o, s:o, s:b, s:b, s:s, s:I}", "exit_code",
                              exit_code >= 0 ? json_integer(exit_code) : json_null(), "stdout",
                              text_of(&x->out[0]), "stderr", text_of(&x->out[1]), "truncated",
                              x->truncated, "timed_out", x->timed_out, "reason", reason,
                              "duration_ms",
                              (json_int_t)((util_mono_us() - x->started_us) / 1000));
        if (r->audit_detail && exit_code >= 0)
            json_object_set_new(r->audit_detail, "exit_code", json_integer(exit_code));
        http_reply_json(r, 200, o);
        http_complete(r);
    }
    xrun_free(x);
}

static void on_data(void *arg, struct channel *ch, enum chan_stream stream, const uint8_t *p,
                    size_t n)
{
    struct xrun *x = arg;
    struct buf *b = &x->out[stream == CHAN_STDERR];
    size_t room = EXEC_OUT_MAX - b->len, keep = n;
    if (keep > room) {
        x->truncated = 1;
        keep = room;
    }
    if (keep)
        buf_append(b, p, keep);
    channel_consumed(ch, n); /* kept or dropped, it was read */
}

static void on_closed(void *arg, struct channel *ch, const char *reason, int exit_code)
{
    (void)ch;
    struct xrun *x = arg;
    x->ch = NULL;
    answer(x, reason, exit_code);
}

static const struct channel_client client = {NULL, on_data, NULL, on_closed};

static void on_timeout(lws_sorted_usec_list_t *sul)
{
    struct xrun *x = lws_container_of(sul, struct xrun, sul);
    x->timed_out = 1;
    if (x->ch) {
        channel_close(x->ch, "timed out");
        x->ch = NULL;
    }
    answer(x, "timed out", -1);
}

void api_server_exec(struct req *r)
{
    static const char *const fields[] = {"command", "timeout_s", "container", "app", NULL};
    json_t *b = req_json(r), *cmd = NULL;
    int64_t timeout = EXEC_TIMEOUT_DEFAULT;
    const char *container = NULL, *app = NULL;
    if (!b || req_only_fields(r, b, fields) < 0 || req_array(r, b, "command", 1, &cmd) < 0 ||
        req_int(r, b, "timeout_s", 0, &timeout) < 0 ||
        req_str(r, b, "container", 0, &container) < 0 || req_str(r, b, "app", 0, &app) < 0)
        return;
    size_t argc = json_array_size(cmd);
    if (argc < 1 || argc > CHAN_ARGV_MAX) {
        http_reply_error(r, 422, "invalid_field", "field 'command' must hold 1..%d strings",
                         CHAN_ARGV_MAX);
        return;
    }
    const char *argv[CHAN_ARGV_MAX];
    for (size_t i = 0; i < argc; i++) {
        json_t *v = json_array_get(cmd, i);
        if (!json_is_string(v) || !json_string_length(v) ||
            json_string_length(v) > CHAN_ARG_MAX ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            http_reply_error(r, 422, "invalid_field", "field 'command' must hold non-empty "
                             "strings of at most %d bytes without NUL", CHAN_ARG_MAX);
            return;
        }
        argv[i] = json_string_value(v);
    }
    if (timeout < 1 || timeout > EXEC_TIMEOUT_MAX) {
        http_reply_error(r, 422, "invalid_field", "field 'timeout_s' must be 1..%d",
                         EXEC_TIMEOUT_MAX);
        return;
    }
    if (container && app) {
        http_reply_error(r, 422, "invalid_field", "give container or app, not both");
        return;
    }
    struct server sv;
    if (api_server_of(r, r->params[1], &sv) < 0 || api_server_refuse_decommissioned(r, &sv) < 0)
        return;
    char name[CHAN_NAME_MAX + 1] = "";
    if (app) {
        struct app a;
        if (api_app_of(r, app, &a) < 0)
            return;
        int64_t on = a.server_id, dep = a.current_deployment_id, id = a.id;
        store_app_release(&a);
        if (on != sv.id || !dep) {
            http_reply_error(r, 409, on != sv.id ? "wrong_server" : "not_deployed",
                             on != sv.id ? "app '%s' runs on another server"
                                         : "app '%s' has no deployment serving", app);
            return;
        }
        deploy_container_name(r->srv, id, dep, name, sizeof name);
    } else if (container) {
        if (!router_param_ok("id", 2, container) || strlen(container) > CHAN_NAME_MAX) {
            http_reply_error(r, 422, "invalid_field", "field 'container' must be a container's "
                             "name or id");
            return;
        }
        util_strlcpy(name, container, sizeof name);
    } else if (!(r->who.scopes & SC_SERVER_EXEC)) {
        http_reply_error(r, 403, "forbidden", "a command on the host needs scope server:exec "
                         "(admins; a token must name it)");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "server:%lld%s%s", (long long)sv.id,
             name[0] ? "/" : "", name);
    const char *base = strrchr(argv[0], '/');
    r->audit_detail = json_pack("{s:s, s:I}", "command", base ? base + 1 : argv[0], "args",
                                (json_int_t)(argc - 1));
    struct xrun *x = calloc(1, sizeof *x);
    if (!x) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    x->r = r;
    x->started_us = util_mono_us();
    buf_init(&x->out[0], EXEC_OUT_MAX);
    buf_init(&x->out[1], EXEC_OUT_MAX);
    struct chan_open o = {.kind = CHAN_EXEC, .container = name[0] ? name : NULL, .argv = argv,
                          .argc = argc, .tty = 0, .cols = 80, .rows = 24,
                          .window = CHAN_WINDOW_DEFAULT, .idle_s = 0, .no_stdin = 1};
    char why[256];
    x->ch = channel_open(r->srv, sv.id, r->who.user_id, &o, &client, x, why, sizeof why);
    if (!x->ch) {
        xrun_free(x);
        http_reply_error(r, 409, "not_available", "%s", why);
        return;
    }
    http_defer(r);
    lws_sul_schedule(r->srv->ctx, 0, &x->sul, on_timeout, timeout * LWS_US_PER_SEC);
}
