/* term.c - terminals (docs/terminal.md): a WebSocket per session at
 * /api/v1/orgs/{org}/servers/{server}/terminal, subprotocol
 * berth-terminal.v1, relayed to a shell on a channel of the server's
 * runner (channels.c).
 *
 * The upgrade is authenticated and authorised like any request (the
 * route's scope container:exec through guard.c; a host shell also needs
 * terminal:open), where a refusal is still an HTTP answer. Then:
 *   client -> berthd: binary frames are keystrokes (stdin); text frames are
 *     {"type":"resize","cols":N,"rows":N}.
 *   berthd -> client: binary frames are the terminal's output; text frames
 *     {"type":"opened"} once the shell runs, and last
 *     {"type":"exit","exit_code":N,"reason":"..."} before the close (1000).
 * Output is queued at most one channel window per session (the runner
 * cannot send more before credit), and credit goes back only as the
 * client takes it: a client that stops reading stalls its own shell only.
 * Keystrokes the channel cannot take yet stop the socket's reading.
 *
 * Owns: each session's struct term (lws per-session data) and its
 * channel (closed with it); pending upgrades between the check and the
 * WebSocket's start (a short list, each dropped after 30 s).
 * Audited: server.terminal.open and .close (who, server, container,
 * bytes each way, seconds), never the keystrokes.
 */
#include "term.h"
#include "api.h"
#include "audit.h"
#include "channels.h"
#include "deploy.h"
#include "guard.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_TTL_S 30
#define CTL_MAX 1024            /* a client's text frame */
#define OUT_CHUNK (64 * 1024)   /* one binary write to the client */

struct pending {
    struct pending *next;
    struct lws *wsi;
    int64_t at;
    struct term_target t;
};

static struct pending *pendings;

struct term {
    struct lws *wsi;
    struct srv *srv;
    struct channel *ch;
    struct term_target t;
    int64_t opened_at;
    struct buf out;             /* output for the client, from out_off; LWS_PRE bytes
                                   before it are free for lws (padding, or sent bytes) */
    size_t out_off;
    struct buf in;              /* keystrokes the channel could not take yet */
    struct buf ctl;             /* a text frame being reassembled */
    int paused;
    int opened_pending;         /* {"type":"opened"} to send */
    int ended;                  /* the channel ended: exit, then close */
    int exit_sent;
    int exit_code;
    char reason[256];
    uint64_t bytes_in, bytes_out;
};

int term_is_path(const char *path)
{
    /* /api/v1/orgs/{org}/servers/{server}/terminal: the router checks the
     * parameters; this only says the upgrade is for a terminal. */
    size_t n = strlen(path);
    static const char tail[] = "/terminal";
    return strncmp(path, "/api/v1/orgs/", 13) == 0 && n > sizeof tail &&
           strcmp(path + n - (sizeof tail - 1), tail) == 0 && strstr(path, "/servers/");
}

static void prune(int64_t now)
{
    for (struct pending **pp = &pendings; *pp;) {
        struct pending *p = *pp;
        if (now - p->at > PENDING_TTL_S) {
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

static int dim(struct req *r, const char *name, int dflt, int *out)
{
    char v[16];
    int64_t n;
    *out = dflt;
    if (!req_query(r, name, v, sizeof v))
        return r->replied ? -1 : 0;
    if (util_parse_i64(v, &n) < 0 || n < 1 || n > CHAN_DIM_MAX) {
        http_reply_error(r, 400, "invalid_query", "%s must be 1..%d", name, CHAN_DIM_MAX);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* What the session opens, from the query: the host, a container by
 * name, or the container that serves an app now. Answers and -1 when it
 * may not be or cannot be. */
static int target_of(struct req *r, struct term_target *t)
{
    struct server sv;
    char container[CHAN_NAME_MAX + 1] = "", app[128] = "";
    memset(t, 0, sizeof *t);
    if (api_server_of(r, r->params[1], &sv) < 0 ||
        api_server_refuse_decommissioned(r, &sv) < 0)
        return -1;
    req_query(r, "container", container, sizeof container);
    req_query(r, "app", app, sizeof app);
    if (r->replied || dim(r, "cols", 80, &t->cols) < 0 || dim(r, "rows", 24, &t->rows) < 0)
        return -1;
    if (container[0] && app[0]) {
        http_reply_error(r, 400, "invalid_query", "give container or app, not both");
        return -1;
    }
    if (app[0]) {
        struct app a;
        if (api_app_of(r, app, &a) < 0)
            return -1;
        int64_t server_id = a.server_id, dep = a.current_deployment_id, app_id = a.id;
        store_app_release(&a);
        if (server_id != sv.id) {
            http_reply_error(r, 409, "wrong_server", "app '%s' runs on another server", app);
            return -1;
        }
        if (!dep) {
            http_reply_error(r, 409, "not_deployed", "app '%s' has no deployment serving", app);
            return -1;
        }
        deploy_container_name(r->srv, app_id, dep, container, sizeof container);
    }
    if (container[0] && !router_param_ok("id", 2, container)) {
        http_reply_error(r, 400, "invalid_query", "container must be a container's name or id");
        return -1;
    }
    if (!container[0] && !(r->who.scopes & SC_TERMINAL_OPEN)) {
        http_reply_error(r, 403, "forbidden", "a shell on the host needs scope terminal:open "
                         "(admins; a token must name it)");
        return -1;
    }
    t->org_id = r->who.org_id;
    t->user_id = r->who.user_id;
    util_strlcpy(t->email, r->who.email, sizeof t->email);
    t->server_id = sv.id;
    util_strlcpy(t->container, container, sizeof t->container);
    return 0;
}

int term_confirm_upgrade(struct srv *s, struct lws *wsi, const char *upgrade)
{
    (void)upgrade;
    int64_t now = util_now();
    prune(now);
    struct req *r = http_upgrade_req(s, wsi);
    if (!r)
        return -1;
    /* Without our subprotocol lws would bind the socket to the HTTP
     * protocol, a WebSocket nothing reads and no timeout ends. */
    char proto[128];
    if (!r->replied && (lws_hdr_copy(wsi, proto, sizeof proto, WSI_TOKEN_PROTOCOL) <= 0 ||
                        !strstr(proto, TERM_SUBPROTOCOL)))
        http_reply_error(r, 400, "upgrade_refused", "a terminal needs the WebSocket "
                         "subprotocol " TERM_SUBPROTOCOL);
    for (struct pending **pp = &pendings; *pp;) { /* a stale entry for this socket */
        struct pending *p = *pp;
        if (p->wsi == wsi) {
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
    /* Cross-site WebSocket hijacking: a page elsewhere could open a
     * terminal with the user's cookie; a cookie session needs our Origin. */
    if (!r->replied && r->by_cookie &&
        (!req_std_header_present(r, REQ_HDR_ORIGIN) || guard_same_origin(r) < 0) &&
        !r->replied)
        http_reply_error(r, 403, "csrf", "a terminal opened with the session cookie must come "
                         "from the dashboard's own origin");
    struct term_target t;
    if (!r->replied && target_of(r, &t) == 0) {
        struct pending *p = calloc(1, sizeof *p);
        if (!p) {
            http_reply_error(r, 500, "internal", "out of memory");
        } else {
            p->wsi = wsi;
            p->at = now;
            p->t = t;
            p->next = pendings;
            pendings = p;
        }
    }
    return http_upgrade_done(r, wsi);
}

/* ---- the session ---- */

static void target_text(const struct term_target *t, char *out, size_t n)
{
    snprintf(out, n, "server:%lld%s%s", (long long)t->server_id, t->container[0] ? "/" : "",
             t->container);
}

static void audit_open(struct term *tm)
{
    char target[200];
    target_text(&tm->t, target, sizeof target);
    json_t *d = json_pack("{s:s, s:i, s:i}", "where", tm->t.container[0] ? "container" : "host",
                          "cols", tm->t.cols, "rows", tm->t.rows);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    audit_event(tm->srv, tm->t.org_id, tm->t.user_id, tm->t.email, "server.terminal.open",
                target, "success", detail);
    free(detail);
}

static void audit_close(struct term *tm)
{
    char target[200];
    target_text(&tm->t, target, sizeof target);
    json_t *d = json_pack("{s:I, s:I, s:I, s:i, s:s}", "bytes_in", (json_int_t)tm->bytes_in,
                          "bytes_out", (json_int_t)tm->bytes_out, "seconds",
                          (json_int_t)(util_now() - tm->opened_at), "exit_code",
                          tm->exit_code, "reason", tm->reason);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    audit_event(tm->srv, tm->t.org_id, tm->t.user_id, tm->t.email, "server.terminal.close",
                target, "success", detail);
    free(detail);
}

static void end(struct term *tm, const char *reason, int exit_code)
{
    if (tm->ended)
        return;
    tm->ended = 1;
    tm->exit_code = exit_code;
    util_strlcpy(tm->reason, reason, sizeof tm->reason);
    if (tm->wsi)
        lws_callback_on_writable(tm->wsi);
}

static void on_opened(void *arg, struct channel *ch)
{
    (void)ch;
    struct term *tm = arg;
    tm->opened_pending = 1;
    lws_callback_on_writable(tm->wsi);
}

static void on_data(void *arg, struct channel *ch, enum chan_stream stream, const uint8_t *p,
                    size_t n)
{
    (void)ch, (void)stream;
    struct term *tm = arg;
    if (buf_append(&tm->out, p, n) < 0) { /* cannot happen under credit */
        channel_close(tm->ch, "the terminal's output buffer overflowed");
        tm->ch = NULL;
        end(tm, "the terminal's output buffer overflowed", -1);
        return;
    }
    lws_callback_on_writable(tm->wsi);
}

static void take_input(struct term *tm)
{
    while (tm->ch && tm->in.len) {
        long took = channel_write(tm->ch, tm->in.data, tm->in.len);
        if (took <= 0)
            break;
        tm->bytes_in += (uint64_t)took;
        memmove(tm->in.data, tm->in.data + took, tm->in.len - (size_t)took);
        tm->in.len -= (size_t)took;
    }
    int full = tm->in.len > 0;
    if (full != tm->paused && tm->wsi) {
        tm->paused = full;
        lws_rx_flow_control(tm->wsi, !full);
    }
}

static void on_writable_ch(void *arg, struct channel *ch)
{
    (void)ch;
    take_input(arg);
}

static void on_closed(void *arg, struct channel *ch, const char *reason, int exit_code)
{
    (void)ch;
    struct term *tm = arg;
    tm->ch = NULL;
    end(tm, reason, exit_code);
}

static const struct channel_client client = {on_opened, on_data, on_writable_ch, on_closed};

static void established(struct term *tm, struct lws *wsi)
{
    tm->wsi = wsi;
    tm->srv = lws_context_user(lws_get_context(wsi));
    buf_init(&tm->out, LWS_PRE + CHAN_WINDOW_MAX + OUT_CHUNK);
    static const unsigned char pad[LWS_PRE];
    tm->out_off = LWS_PRE;
    if (buf_append(&tm->out, pad, sizeof pad) < 0) {
        end(tm, "out of memory", -1);
        return;
    }
    buf_init(&tm->in, 256 * 1024);
    buf_init(&tm->ctl, CTL_MAX);
    struct pending **pp = &pendings, *p = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->wsi == wsi) {
            p = *pp;
            *pp = p->next;
            break;
        }
    if (!p) {
        end(tm, "the terminal was not authorised", -1);
        return;
    }
    tm->t = p->t;
    free(p);
    tm->opened_at = util_now();
    struct chan_open o = {.kind = CHAN_SHELL, .container = tm->t.container[0] ? tm->t.container
                                                                              : NULL,
                          .tty = 1, .cols = tm->t.cols, .rows = tm->t.rows,
                          .window = CHAN_WINDOW_DEFAULT, .idle_s = term_idle_s()};
    char why[256];
    tm->ch = channel_open(tm->srv, tm->t.server_id, tm->t.user_id, &o, &client, tm, why,
                          sizeof why);
    if (!tm->ch) {
        end(tm, why, -1);
        return;
    }
    audit_open(tm);
}

static int on_text(struct term *tm, const char *in, size_t len, int final)
{
    if (buf_append(&tm->ctl, in, len) < 0)
        return -1; /* a control message over 1 KiB: close */
    if (!final)
        return 0;
    json_t *m = json_loadb(tm->ctl.data ? tm->ctl.data : "", tm->ctl.len, 0, NULL);
    buf_clear(&tm->ctl);
    const char *type = json_string_value(json_object_get(m, "type"));
    int64_t cols, rows;
    if (type && strcmp(type, "resize") == 0 && jx_int(m, "cols", &cols) == JX_OK &&
        jx_int(m, "rows", &rows) == JX_OK && cols >= 1 && cols <= CHAN_DIM_MAX && rows >= 1 &&
        rows <= CHAN_DIM_MAX && tm->ch)
        channel_resize(tm->ch, (int)cols, (int)rows);
    json_decref(m); /* anything else is ignored: forward compatible */
    return 0;
}

static int writeable(struct term *tm, struct lws *wsi)
{
    if (tm->opened_pending) {
        static const char msg[] = "{\"type\":\"opened\"}";
        unsigned char b[LWS_PRE + sizeof msg];
        memcpy(b + LWS_PRE, msg, sizeof msg - 1);
        tm->opened_pending = 0;
        if (lws_write(wsi, b + LWS_PRE, sizeof msg - 1, LWS_WRITE_TEXT) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (tm->out.len > tm->out_off) {
        size_t left = tm->out.len - tm->out_off, n = left < OUT_CHUNK ? left : OUT_CHUNK;
        /* in place: the LWS_PRE bytes before are padding or already sent */
        int w = lws_write(wsi, (unsigned char *)tm->out.data + tm->out_off, n, LWS_WRITE_BINARY);
        if (w < (int)n)
            return -1;
        tm->out_off += n;
        if (tm->out_off == tm->out.len) {
            tm->out.len = tm->out_off = LWS_PRE;
        } else if (tm->out_off > LWS_PRE + CHAN_WINDOW_DEFAULT) { /* compact, now and then */
            memmove(tm->out.data + LWS_PRE, tm->out.data + tm->out_off,
                    tm->out.len - tm->out_off);
            tm->out.len -= tm->out_off - LWS_PRE;
            tm->out_off = LWS_PRE;
        }
        tm->bytes_out += n;
        if (tm->ch)
            channel_consumed(tm->ch, n);
        if (tm->out.len > tm->out_off || tm->ended)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (tm->ended && !tm->exit_sent) {
        json_t *m = json_pack("{s:s, s:i, s:s}", "type", "exit", "exit_code", tm->exit_code,
                              "reason", tm->reason);
        size_t n = 0;
        char *s = m ? jx_dump(m, &n) : NULL;
        json_decref(m);
        tm->exit_sent = 1;
        if (s) {
            unsigned char *b = malloc(LWS_PRE + n);
            if (b) {
                memcpy(b + LWS_PRE, s, n);
                lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_TEXT);
                free(b);
            }
            free(s);
        }
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (tm->ended) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct term *tm = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        established(tm, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (tm->ended)
            return 0;
        if (!lws_frame_is_binary(wsi))
            return on_text(tm, in, len, lws_is_final_fragment(wsi) &&
                                            !lws_remaining_packet_payload(wsi));
        if (buf_append(&tm->in, in, len) < 0) { /* paused reading should prevent this */
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
            return -1;
        }
        take_input(tm);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return writeable(tm, wsi);
    case LWS_CALLBACK_CLOSED:
        if (tm->ch) {
            channel_close(tm->ch, "the client closed the terminal");
            tm->ch = NULL;
            if (!tm->ended) {
                tm->exit_code = -1;
                util_strlcpy(tm->reason, "the client closed the terminal", sizeof tm->reason);
            }
        }
        if (tm->opened_at)
            audit_close(tm);
        tm->wsi = NULL;
        buf_release(&tm->out);
        buf_release(&tm->in);
        buf_release(&tm->ctl);
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols term_protocol = {
    TERM_SUBPROTOCOL, callback, sizeof(struct term), 4096, 0, NULL, 0,
};

int term_idle_s(void)
{
    const char *v = getenv("BERTH_TERMINAL_IDLE_S");
    int64_t n;
    return v && util_parse_i64(v, &n) == 0 && n >= 1 && n <= 7 * 86400 ? (int)n : 900;
}

void api_terminal(struct req *r)
{
    http_reply_error(r, 426, "upgrade_required", "a terminal is a WebSocket: connect with "
                     "Upgrade: websocket and subprotocol " TERM_SUBPROTOCOL
                     " (berth terminal does)");
}
