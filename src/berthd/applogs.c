/* applogs.c - an app's container logs, read from its server's runner
 * (docs/app-logs.md):
 *   GET /api/v1/orgs/{org}/apps/{app}/logs   (deploy:read, like a
 *       deployment's log) ?since&until&tail&q&stream&deployment&limit
 *       &follow&format
 * Each request is one logs.query on the server's runner link; the
 * runner's logs.data frames are written to the client as they come, as
 * plain text (one line each) or NDJSON (Accept: application/x-ndjson or
 * format=ndjson), and logs.end ends the answer. Nothing is stored here.
 *
 * Before the first frame the request waits (http_defer) up to
 * FIRST_TIMEOUT_S (504), and a lost link answers 503; once streaming, a
 * lost link, a runner error or a truncation is told in a last line
 * ("berth: ..." or an NDJSON object with "error"/"truncated"). A client
 * gone (a failed write, a stall, or a peek at a follow's socket every
 * PEEK_S) cancels the query on the runner (logs.cancel).
 *
 * Owns: every pending call (this file's list) until its end; the req
 * stays http.c's (stream_gone tells us when it goes).
 */
#include "applogs.h"
#include "api.h"
#include "hub.h"
#include "jsonx.h"
#include "log.h"
#include "logre.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define CALLS_MAX 128
#define FIRST_TIMEOUT_S 30
#define QUERY_TIMEOUT_S 300             /* a query that is not a follow */
#define PEEK_S 2
#define DEFAULT_LIMIT 100000
#define LIMIT_MAX 1000000

struct call {
    struct call *next;
    struct req *r;
    struct hub_conn *link;
    char id[PROTO_CALL_ID_MAX + 1];
    int ndjson, follow, started;
    int64_t limit;
    uint64_t opened_us;
    lws_sorted_usec_list_t sul;
};

static struct {
    struct srv *srv;
    struct call *calls;
    int ncalls;
    uint64_t next_id;
} al;

static void call_unlink(struct call *c)
{
    for (struct call **pp = &al.calls; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            al.ncalls--;
            return;
        }
}

static void call_free(struct call *c)
{
    call_unlink(c);
    lws_sul_cancel(&c->sul);
    free(c);
}

static void cancel_on_runner(struct call *c)
{
    if (c->link)
        hub_conn_send(c->link, proto_logs_cancel(c->id));
}

/* The client went away mid-stream (http.c, just before r is freed). */
static void stream_gone(struct req *r)
{
    struct call *c = r->stream_arg;
    if (!c)
        return;
    cancel_on_runner(c);
    call_free(c);
}

/* A last word in the stream's own format. */
static void stream_note(struct call *c, const char *key, const char *msg)
{
    char *line = NULL;
    size_t n = 0;
    if (c->ndjson) {
        json_t *o = json_pack("{s:s, s:b}", key, msg, "berth", 1);
        char *s = o ? jx_dump(o, &n) : NULL;
        json_decref(o);
        if (s && asprintf(&line, "%s\n", s) < 0)
            line = NULL;
        free(s);
    } else if (asprintf(&line, "berth: %s\n", msg) < 0) {
        line = NULL;
    }
    if (line)
        http_stream_write(c->r, line, strlen(line));
    free(line);
}

/* Ends c: an error status before the stream began, else a note and the
 * stream's end. */
static void finish(struct call *c, int status, const char *code, const char *msg)
{
    struct req *r = c->r;
    if (!c->started) {
        int ndjson = c->ndjson;
        call_free(c);
        if (http_gone(r))
            return;
        if (status == 200)
            http_reply_raw(r, 200, ndjson ? "application/x-ndjson" : "text/plain; charset=utf-8",
                           NULL, 0);
        else
            http_reply_error(r, status, code, "%s", msg);
        http_complete(r);
        return;
    }
    r->stream_arg = NULL;
    r->stream_gone = NULL;
    if (msg)
        stream_note(c, code && strcmp(code, "truncated") == 0 ? "truncated" : "error", msg);
    call_free(c);
    http_stream_end(r);
}

static int begin(struct call *c)
{
    if (c->started)
        return 0;
    struct req *r = c->r;
    if (http_gone(r)) {
        cancel_on_runner(c);
        call_free(c);
        return -1;
    }
    if (http_stream_begin(r, c->ndjson ? "application/x-ndjson" : "text/plain; charset=utf-8") < 0) {
        cancel_on_runner(c);
        call_free(c);
        http_complete(r);
        return -1;
    }
    c->started = 1;
    r->stream_arg = c;
    r->stream_gone = stream_gone;
    http_complete(r);  /* the req is no longer pending: http.c owns its end */
    return 0;
}

static void fmt_ts(int64_t ns, char *out, size_t n)
{
    time_t s = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&s, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%09lldZ", d, (long long)(ns % 1000000000LL));
}

static int write_line(struct call *c, struct buf *b, const struct proto_logs_line *l)
{
    if (!c->ndjson) {
        if (buf_append(b, l->text, l->tlen) < 0)
            return -1;
        return l->partial ? 0 : buf_append(b, "\n", 1);
    }
    char ts[48];
    fmt_ts(l->ts, ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:o, s:s%}", "time", ts, "ts", (json_int_t)l->ts,
                          "stream", l->err ? "stderr" : "stdout", "container", l->container,
                          "deployment", l->deployment[0] ? json_integer(strtoll(l->deployment, NULL, 10)) : json_null(),
                          "text", l->text, l->tlen);
    if (o && l->partial)
        json_object_set_new(o, "partial", json_true());
    size_t n = 0;
    char *s = o ? jx_dump(o, &n) : NULL;
    json_decref(o);
    int rc = s && buf_append(b, s, n) == 0 && buf_append(b, "\n", 1) == 0 ? 0 : -1;
    free(s);
    return rc;
}

static struct call *find(struct hub_conn *link, const char *id)
{
    for (struct call *c = al.calls; c; c = c->next)
        if (c->link == link && strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

static int on_data(void *arg, struct hub_conn *link, json_t *msg, char *why, size_t wn)
{
    (void)arg;
    const char *id;
    json_t *lines, *item;
    size_t i;
    if (proto_parse_logs_data(msg, &id, &lines, why, wn) < 0)
        return -1;
    /* every line is checked before any is written: a bad frame writes nothing */
    struct proto_logs_line l;
    json_array_foreach(lines, i, item)
        if (proto_parse_logs_line(item, &l, why, wn) < 0)
            return -1;
    struct call *c = find(link, id);
    if (!c) { /* ended meanwhile: tell the runner once more */
        hub_conn_send(link, proto_logs_cancel(id));
        return 0;
    }
    if (begin(c) < 0)
        return 0;
    struct buf b;
    buf_init(&b, HTTP_STREAM_MAX);
    int failed = 0;
    json_array_foreach(lines, i, item) {
        proto_parse_logs_line(item, &l, why, wn);
        if (write_line(c, &b, &l) < 0) {
            failed = 1;
            break;
        }
    }
    if (failed || (b.len && http_stream_write(c->r, b.data, b.len) < 0)) {
        /* a reader that does not keep up is cut, never buffered for */
        cancel_on_runner(c);
        finish(c, 200, "error", "the reader did not keep up; the stream was cut");
    }
    buf_release(&b);
    return 0;
}

static int on_end(void *arg, struct hub_conn *link, json_t *msg, char *why, size_t wn)
{
    (void)arg;
    const char *id, *error;
    int ok, truncated;
    if (proto_parse_logs_end(msg, &id, &ok, &error, &truncated, why, wn) < 0)
        return -1;
    struct call *c = find(link, id);
    if (!c)
        return 0;
    if (!ok) {
        finish(c, 502, "runner_error", error ? error : "the runner could not read the logs");
        return 0;
    }
    if (truncated) {
        char msg2[160];
        snprintf(msg2, sizeof msg2, "more lines match: this answer stops at %lld lines (narrow "
                 "it with since, until or tail)", (long long)c->limit);
        if (!c->started && begin(c) < 0)
            return 0;
        finish(c, 200, "truncated", msg2);
        return 0;
    }
    finish(c, 200, NULL, NULL);
    return 0;
}

static void link_closed(void *arg, struct hub_conn *link)
{
    (void)arg;
    for (struct call *c = al.calls, *next; c; c = next) {
        next = c->next;
        if (c->link == link) {
            c->link = NULL;
            finish(c, 503, "server_unreachable", "the server's runner link was lost");
        }
    }
}

static int peer_gone(struct req *r)
{
    if (!r->wsi)
        return 1;
    int fd = (int)lws_get_socket_fd(r->wsi);
    if (fd < 0)
        return 1;
    char ch;
    ssize_t n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct call *c = lws_container_of(sul, struct call, sul);
    uint64_t age = util_mono_us() - c->opened_us;
    if (!c->started) {
        if (age >= (uint64_t)FIRST_TIMEOUT_S * 1000000u) {
            cancel_on_runner(c);
            finish(c, 504, "runner_timeout", "the server's runner did not answer in time");
            return;
        }
    } else if (!c->follow && age >= (uint64_t)QUERY_TIMEOUT_S * 1000000u) {
        cancel_on_runner(c);
        finish(c, 200, "error", "the query took too long");
        return;
    } else if (c->follow && peer_gone(c->r)) {
        /* http.c frees the req when it sees the close; tell the runner now */
        cancel_on_runner(c);
        struct req *r = c->r;
        r->stream_arg = NULL;
        r->stream_gone = NULL;
        call_free(c);
        http_stream_end(r);
        return;
    }
    lws_sul_schedule(al.srv->ctx, 0, &c->sul, tick, PEEK_S * LWS_USEC_PER_SEC);
}

int applogs_start(struct srv *s, struct hub *h)
{
    al.srv = s;
    struct hub_link_hooks hooks = {NULL, NULL, link_closed, NULL};
    return hub_add_link_hooks(h, &hooks) < 0 || hub_handle(h, PROTO_LOGS_DATA, on_data, NULL) < 0 ||
                   hub_handle(h, PROTO_LOGS_END, on_end, NULL) < 0
               ? -1
               : 0;
}

void applogs_stop(void)
{
    while (al.calls) {
        cancel_on_runner(al.calls);
        finish(al.calls, 503, "stopping", "berthd is stopping");
    }
}

/* --- the request --- */

/* A time: RFC 3339 ("2026-12-05T20:26:50Z", a fraction and an offset
 * allowed), unix seconds ("1764966410", a fraction allowed), or a
 * duration before now ("90s", "15m", "1h", "7d"). -> unix ns. */
int applogs_parse_time(const char *v, int64_t now_ns, int64_t *out)
{
    size_t n = strlen(v);
    if (!n || n > 40)
        return -1;
    char last = v[n - 1];
    if (strchr("smhd", last) && n >= 2 && strspn(v, "0123456789") == n - 1) {
        if (n - 1 > 9)
            return -1;
        int64_t k = strtoll(v, NULL, 10);
        int64_t unit = last == 's' ? 1 : last == 'm' ? 60 : last == 'h' ? 3600 : 86400;
        int64_t d = k * unit;
        if (d > 3650LL * 86400)
            return -1;
        *out = now_ns - d * 1000000000LL;
        if (*out < 0)
            *out = 0;
        return 0;
    }
    size_t intd = strspn(v, "0123456789");
    if (intd == n || (intd && v[intd] == '.' && intd + 1 < n &&
                      strspn(v + intd + 1, "0123456789") == n - intd - 1)) {
        if (intd > 11)
            return -1;
        int64_t sec = strtoll(v, NULL, 10), frac = 0;
        size_t nd = 0;
        if (intd < n)
            for (const char *p = v + intd + 1; *p; p++, nd++)
                if (nd < 9)
                    frac = frac * 10 + (*p - '0');
        for (; intd < n && nd < 9; nd++)
            frac *= 10;
        if (sec > 253402300799LL)
            return -1;
        *out = sec * 1000000000LL + frac;
        return 0;
    }
    /* RFC 3339 */
    int Y, M, D, h, m, s, used = 0;
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &s, &used) != 6 ||
        used != 19 || Y < 1970 || Y > 2200 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 ||
        m > 59 || s > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    int64_t sec = (int64_t)timegm(&tm), frac = 0;
    const char *p = v + 19;
    if (*p == '.') {
        size_t nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 9)
                frac = frac * 10 + (*p - '0');
        if (!nd)
            return -1;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    if (*p == 'Z' && !p[1]) {
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
               strspn(p + 1, "0123456789") == 2 && strspn(p + 4, "0123456789") == 2) {
        int oh = (p[1] - '0') * 10 + (p[2] - '0'), om = (p[4] - '0') * 10 + (p[5] - '0');
        if (oh > 23 || om > 59)
            return -1;
        sec += (*p == '+' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (sec < 0)
        return -1;
    *out = sec * 1000000000LL + frac;
    return 0;
}

static const char *const params[] = {"since", "until", "tail", "q", "re", "stream",
                                     "deployment", "limit", "follow", "format", NULL};

/* Unknown or repeated parameters are refused: a typo must not widen a
 * query silently. */
static int check_names(struct req *r)
{
    char frag[1100];
    int seen[16] = {0};
    for (int i = 0; i < 64; i++) {
        int fl = lws_hdr_copy_fragment(r->wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (fl < 0)
            return 0;
        char *eq = memchr(frag, '=', (size_t)fl);
        size_t nl = eq ? (size_t)(eq - frag) : (size_t)fl;
        int k = -1;
        for (int j = 0; params[j]; j++)
            if (strlen(params[j]) == nl && memcmp(frag, params[j], nl) == 0)
                k = j;
        if (k < 0) {
            http_reply_error(r, 400, "invalid_query", "unknown query parameter '%.*s' (known: "
                             "since, until, tail, q, re, stream, deployment, limit, follow, "
                             "format)",
                             (int)(nl > 64 ? 64 : nl), frag);
            return -1;
        }
        if (seen[k]++) {
            http_reply_error(r, 400, "invalid_query", "query parameter '%s' is given twice",
                             params[k]);
            return -1;
        }
    }
    http_reply_error(r, 400, "invalid_query", "too many query parameters");
    return -1;
}

static int int_param(struct req *r, const char *name, int64_t min, int64_t max, int64_t *out)
{
    char v[32];
    if (!req_query(r, name, v, sizeof v))
        return r->replied ? -1 : 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!v[0] || *end || errno || x < min || x > max || v[0] == '+' || v[0] == ' ') {
        http_reply_error(r, 400, "invalid_query", "query parameter '%s' must be an integer "
                         "from %lld to %lld", name, (long long)min, (long long)max);
        return -1;
    }
    *out = x;
    return 1;
}

static int time_param(struct req *r, const char *name, int64_t now, int64_t *out)
{
    char v[48];
    if (!req_query(r, name, v, sizeof v))
        return r->replied ? -1 : 0;
    if (applogs_parse_time(v, now, out) < 0) {
        http_reply_error(r, 400, "invalid_query", "query parameter '%s' must be a time: RFC 3339 "
                         "(2026-01-02T15:04:05Z), unix seconds, or a duration before now (90s, "
                         "15m, 1h, 7d)", name);
        return -1;
    }
    return 1;
}

static int bool_param(struct req *r, const char *name, int *out)
{
    char v[8];
    *out = 0;
    if (!req_query(r, name, v, sizeof v))
        return r->replied ? -1 : 0;
    if (!strcmp(v, "1") || !strcmp(v, "true"))
        *out = 1;
    else if (strcmp(v, "0") && strcmp(v, "false")) {
        http_reply_error(r, 400, "invalid_query", "query parameter '%s' must be 1, 0, true or "
                         "false", name);
        return -1;
    }
    return 1;
}

static int utf8_clean(const char *s)
{
    size_t n = strlen(s), out = 0;
    char tmp[PROTO_LOGS_Q_MAX + 8];
    if (n > PROTO_LOGS_Q_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    proto_utf8_sanitize(s, n, 1, tmp, &out);
    return out == n && memcmp(tmp, s, n) == 0;
}

void api_app_logs(struct req *r)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    struct app a;
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    int64_t app_id = a.id, server_id = a.server_id;
    store_app_release(&a);
    if (check_names(r) < 0)
        return;

    struct proto_logs_query q = {0};
    char qbuf[PROTO_LOGS_Q_MAX + 2], st[16], dep[32], fmt[16], accept[256];
    int64_t tail = 0, limit = DEFAULT_LIMIT, d;
    if (time_param(r, "since", now_ns, &q.since) < 0 || time_param(r, "until", now_ns, &q.until) < 0 ||
        int_param(r, "tail", 0, PROTO_LOGS_TAIL_MAX, &tail) < 0 ||
        int_param(r, "limit", 1, LIMIT_MAX, &limit) < 0 || bool_param(r, "follow", &q.follow) < 0)
        return;
    if (q.since && q.until && q.since > q.until) {
        http_reply_error(r, 400, "invalid_query", "'since' is after 'until'");
        return;
    }
    if (req_query(r, "q", qbuf, sizeof qbuf)) {
        if (!qbuf[0] || !utf8_clean(qbuf)) {
            http_reply_error(r, 400, "invalid_query", "query parameter 'q' must be 1 to %d bytes "
                             "of UTF-8 text without control characters", PROTO_LOGS_Q_MAX);
            return;
        }
        q.q = qbuf;
    } else if (r->replied) {
        return;
    }
    /* re: checked and compiled here for a 400 with the reason (logre.h's
     * rules keep regcomp cheap), compiled again by the runner */
    char rebuf[LOGRE_MAX + 2], why[200];
    if (req_query(r, "re", rebuf, sizeof rebuf)) {
        struct logre re;
        if (logre_compile(&re, rebuf, why, sizeof why) < 0) {
            http_reply_error(r, 400, "invalid_query", "query parameter 're': %s", why);
            return;
        }
        logre_release(&re);
        q.re = rebuf;
    } else if (r->replied) {
        return;
    }
    if (req_query(r, "stream", st, sizeof st)) {
        if (strcmp(st, "stdout") && strcmp(st, "stderr")) {
            http_reply_error(r, 400, "invalid_query", "query parameter 'stream' must be stdout or "
                             "stderr");
            return;
        }
        q.streams = st[3] == 'o' ? 1 : 2;
    } else if (r->replied) {
        return;
    }
    if (int_param(r, "deployment", 1, INT64_MAX, &d) < 0)
        return;
    if (req_query(r, "deployment", dep, sizeof dep))
        q.deployment = dep;
    int ndjson = 0;
    if (req_query(r, "format", fmt, sizeof fmt)) {
        if (strcmp(fmt, "ndjson") && strcmp(fmt, "text")) {
            http_reply_error(r, 400, "invalid_query", "query parameter 'format' must be text or "
                             "ndjson");
            return;
        }
        ndjson = fmt[0] == 'n';
    } else if (r->replied) {
        return;
    } else if (lws_hdr_copy(r->wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT) > 0 &&
               strstr(accept, "application/x-ndjson")) {
        ndjson = 1;
    }
    if (q.follow && q.until) {
        http_reply_error(r, 400, "invalid_query", "'follow' and 'until' do not go together");
        return;
    }

    struct server sv;
    if (store_server_get(r->srv->store, server_id, &sv) != STORE_OK) {
        http_reply_error(r, 503, "server_unreachable", "the app's server is gone");
        return;
    }
    struct hub_conn *link = hub_live_link(r->srv->hub, sv.id);
    if (!link) {
        http_reply_error(r, 503, "server_unreachable", "server '%s' is %s; its runner is not "
                         "connected", sv.name, sv.status);
        return;
    }
    if (al.ncalls >= CALLS_MAX) {
        http_reply_error(r, 503, "busy", "too many log reads in flight; try again");
        return;
    }
    struct call *c = calloc(1, sizeof *c);
    if (!c) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    char app_ref[24];
    snprintf(app_ref, sizeof app_ref, "%lld", (long long)app_id);
    snprintf(c->id, sizeof c->id, "%llu", (unsigned long long)++al.next_id);
    q.id = c->id;
    q.app = app_ref;
    q.tail = tail;
    q.limit = limit;
    if (q.tail && q.limit < q.tail)
        q.limit = q.tail;
    json_t *m = proto_logs_query(&q);
    if (!m || hub_conn_send(link, m) < 0) {
        free(c);
        http_reply_error(r, 503, "server_unreachable", "the server's runner is not reading");
        return;
    }
    c->r = r;
    c->link = link;
    c->ndjson = ndjson;
    c->follow = q.follow;
    c->limit = q.limit;
    c->opened_us = util_mono_us();
    c->next = al.calls;
    al.calls = c;
    al.ncalls++;
    http_defer(r);
    lws_sul_schedule(r->srv->ctx, 0, &c->sul, tick, PEEK_S * LWS_USEC_PER_SEC);
}
