/* events.c - an organization's live event stream (Server-Sent Events):
 * subscribers, fan-out by scope, pings, lifetime and lag caps. See
 * events.h for the events and the rules. */
#include "events.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

/* A job's log followed on a stream (see events.h: log lines). */
struct logsub {
    struct logsub *next;
    int64_t job_id;
    int64_t sent;  /* last seq queued on the stream */
    int64_t acked; /* the job's stored prefix as last told: what may be sent */
    int ended;     /* the job ended: log.end once everything was sent */
};

struct sub {
    struct sub *next;
    struct events *ev;
    struct req *r;
    int64_t id; /* the stream's id, for its log subscriptions */
    int64_t org_id, user_id;
    uint32_t scopes;
    int64_t opened, last_write; /* unix seconds */
    struct logsub *logs;
    int nlogs;
};

struct events {
    struct srv *srv;
    struct lws_context *ctx;
    lws_sorted_usec_list_t sul;
    struct sub *subs;
    int nsubs;
    int started;
    int64_t next_id;
};

struct events *events_new(struct srv *s)
{
    struct events *ev = calloc(1, sizeof *ev);
    if (ev)
        ev->srv = s;
    return ev;
}

static void gauge(struct events *ev)
{
    if (ev->srv->metrics)
        metrics_gauge_set(ev->srv->metrics, "berth_event_streams", ev->nsubs);
}

static void logs_free(struct sub *x)
{
    while (x->logs) {
        struct logsub *l = x->logs;
        x->logs = l->next;
        free(l);
    }
    x->nlogs = 0;
}

static void sub_unlink(struct events *ev, struct sub *x)
{
    for (struct sub **pp = &ev->subs; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            ev->nsubs--;
            gauge(ev);
            return;
        }
}

/* The client went away: http.c frees the req right after. */
static void sub_gone(struct req *r)
{
    struct sub *x = r->stream_arg;
    if (x) {
        sub_unlink(x->ev, x);
        logs_free(x);
        free(x);
    }
    r->stream_arg = NULL;
}

/* Ends x's stream (the req is then http.c's to free) and frees x. */
static void sub_end(struct sub *x)
{
    sub_unlink(x->ev, x);
    x->r->stream_arg = NULL;
    x->r->stream_gone = NULL;
    x->r->stream_drained = NULL;
    http_stream_end(x->r);
    logs_free(x);
    free(x);
}

/* Queues bytes on x's stream; a client this far behind is cut (it
 * reconnects and reloads). 0, or -1 when x was ended (and freed). */
static int sub_write(struct sub *x, const char *p, size_t n, int64_t now)
{
    if (x->r->stream.len + n > EVENTS_LAG_MAX || http_stream_write(x->r, p, n) < 0) {
        sub_end(x);
        return -1;
    }
    x->last_write = now;
    return 0;
}

/* lws reads nothing more of an HTTP/1.1 connection while its answer
 * streams, so a client that closed is otherwise seen only by a failing
 * write: a peek at the socket finds the end of a plain connection now
 * (over TLS the peer's close_notify looks like data: the ping's write
 * finds that one). 1 when the peer is gone. */
static int peer_gone(struct sub *x)
{
    if (!x->r->wsi)
        return 1;
    int fd = (int)lws_get_socket_fd(x->r->wsi);
    if (fd < 0)
        return 1;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct events *ev = lws_container_of(sul, struct events, sul);
    int64_t now = util_now();
    static const char ping[] = ": ping\n\n";
    static const char bye[] = "event: reconnect\ndata: {}\n\n";
    for (struct sub *x = ev->subs, *next; x; x = next) {
        next = x->next;
        if (peer_gone(x)) {
            sub_end(x);
            continue;
        }
        if (now - x->opened >= EVENTS_LIFE_S) { /* scopes read again on reconnect */
            if (sub_write(x, bye, sizeof bye - 1, now) == 0)
                sub_end(x);
            continue;
        }
        if (now - x->last_write >= EVENTS_PING_S)
            sub_write(x, ping, sizeof ping - 1, now);
    }
    lws_sul_schedule(ev->ctx, 0, &ev->sul, tick, EVENTS_TICK_S * LWS_US_PER_SEC);
}

int events_start(struct events *ev, struct lws_context *ctx)
{
    if (!ev)
        return 0;
    ev->ctx = ctx;
    ev->started = 1;
    lws_sul_schedule(ctx, 0, &ev->sul, tick, EVENTS_TICK_S * LWS_US_PER_SEC);
    return 0;
}

void events_stop(struct events *ev)
{
    if (!ev)
        return;
    if (ev->started)
        lws_sul_cancel(&ev->sul);
    ev->started = 0;
    while (ev->subs)
        sub_end(ev->subs);
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    while (ev->subs) { /* their reqs are http.c's, gone with the context */
        struct sub *x = ev->subs;
        ev->subs = x->next;
        logs_free(x);
        free(x);
    }
    free(ev);
}

int events_active(struct srv *s)
{
    return s->events && s->events->subs != NULL;
}

int events_wanted(struct srv *s, int64_t org_id)
{
    struct events *ev = s->events;
    if (!ev)
        return 0;
    for (struct sub *x = ev->subs; x; x = x->next)
        if (x->org_id == org_id)
            return 1;
    return 0;
}

void events_publish(struct srv *s, int64_t org_id, uint32_t scope, const char *type,
                    json_t *data)
{
    struct events *ev = s->events;
    if (!ev || !data || !events_wanted(s, org_id)) {
        json_decref(data);
        return;
    }
    char *j = jx_dump(data, NULL); /* compact: one line, as SSE's data wants */
    json_decref(data);
    if (!j)
        return;
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (buf_printf(&b, "event: %s\ndata: %s\n\n", type, j) < 0) {
        log_warn("events", "%s event of %zu bytes dropped", type, strlen(j));
        free(j);
        buf_release(&b);
        return;
    }
    free(j);
    int64_t now = util_now();
    for (struct sub *x = ev->subs, *next; x; x = next) {
        next = x->next;
        if (x->org_id == org_id && (x->scopes & scope) == scope)
            sub_write(x, b.data, b.len, now);
    }
    buf_release(&b);
}

/* ---- log lines (events.h) ---- */

/* One read of a job's stored chunks, as `log` events, shared by every
 * stream of the job that is at or past its start: offs[i] is where the
 * event of seqs[i] starts in b. */
struct batch {
    int64_t job_id;
    struct buf b;
    int64_t seqs[LOG_BATCH_EVENTS];
    size_t offs[LOG_BATCH_EVENTS];
    int n;
    int full, failed;
};

static void batch_chunk(void *arg, int64_t seq, const char *stream, int64_t ts_ms,
                        const char *data, size_t len)
{
    struct batch *t = arg;
    if (t->full || t->failed)
        return;
    if (t->n == LOG_BATCH_EVENTS || t->b.len >= LOG_BATCH_BYTES) {
        t->full = 1;
        return;
    }
    size_t at = t->b.len;
    struct jw w;
    jw_init(&w, &t->b);
    if (buf_append(&t->b, "event: log\ndata: ", 17) < 0) {
        t->failed = 1;
        return;
    }
    jw_obj(&w);
    jw_key(&w, "job");
    jw_int(&w, t->job_id);
    jw_key(&w, "seq");
    jw_int(&w, seq);
    jw_key(&w, "stream");
    jw_str(&w, stream);
    jw_key(&w, "ts");
    jw_int(&w, ts_ms);
    jw_key(&w, "data");
    jw_strn(&w, data, len);
    jw_obj_end(&w);
    if (jw_failed(&w) || buf_append(&t->b, "\n\n", 2) < 0) {
        t->failed = 1;
        t->b.len = at;
        return;
    }
    t->seqs[t->n] = seq;
    t->offs[t->n] = at;
    t->n++;
}

static struct logsub *logsub_of(struct sub *x, int64_t job_id)
{
    for (struct logsub *l = x->logs; l; l = l->next)
        if (l->job_id == job_id)
            return l;
    return NULL;
}

static void logsub_drop(struct sub *x, struct logsub *gone)
{
    for (struct logsub **pp = &x->logs; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            x->nlogs--;
            free(gone);
            return;
        }
}

static int room(const struct sub *x)
{
    return x->r->stream.len < LOG_ROOM;
}

/* Queues what job_id's streams may still be sent, while they have room:
 * each round reads the chunks after the lowest `sent` among the streams
 * that wait once, and gives every such stream the part it lacks. A stream
 * without room is fed again when it drains (sub_drained). Streams that
 * caught up with an ended job get log.end and let go of it. */
static void logs_feed(struct events *ev, int64_t job_id)
{
    int64_t now = util_now();
    for (int rounds = 0; rounds < 64; rounds++) {
        int64_t from = -1, upto = 0;
        for (struct sub *x = ev->subs; x; x = x->next) {
            struct logsub *l = logsub_of(x, job_id);
            if (l && l->sent < l->acked && room(x)) {
                if (from < 0 || l->sent < from)
                    from = l->sent;
                if (l->acked > upto)
                    upto = l->acked;
            }
        }
        if (from < 0)
            break;
        struct batch *t = calloc(1, sizeof *t);
        if (!t)
            break;
        t->job_id = job_id;
        buf_init(&t->b, 2 * LOG_BATCH_BYTES + 256 * 1024); /* a 16 KiB chunk escaped */
        int64_t last = from;
        int rc = store_job_logs(ev->srv->store, job_id, from, upto, LOG_BATCH_EVENTS, batch_chunk,
                                t, &last);
        if (rc != STORE_OK || t->n == 0) {
            buf_release(&t->b);
            free(t);
            break; /* nothing more stored (a gap not filled yet): the next advance */
        }
        for (struct sub *x = ev->subs, *next; x; x = next) {
            next = x->next;
            struct logsub *l = logsub_of(x, job_id);
            if (!l || l->sent < from || l->sent >= t->seqs[t->n - 1] || !room(x))
                continue;
            int i = 0;
            while (i < t->n && t->seqs[i] <= l->sent)
                i++;
            l->sent = t->seqs[t->n - 1];
            sub_write(x, t->b.data + t->offs[i], t->b.len - t->offs[i], now); /* may end x */
        }
        buf_release(&t->b);
        free(t);
    }
    char end[96];
    for (struct sub *x = ev->subs, *next; x; x = next) {
        next = x->next;
        struct logsub *l = logsub_of(x, job_id);
        if (!l || !l->ended || l->sent < l->acked)
            continue;
        int n = snprintf(end, sizeof end, "event: log.end\ndata: {\"job\":%lld,\"seq\":%lld}\n\n",
                         (long long)job_id, (long long)l->sent);
        logsub_drop(x, l);
        sub_write(x, end, (size_t)n, now);
    }
}

void events_log_advance(struct srv *s, int64_t job_id, int64_t acked, int ended)
{
    struct events *ev = s->events;
    if (!ev)
        return;
    int any = 0;
    for (struct sub *x = ev->subs; x; x = x->next) {
        struct logsub *l = logsub_of(x, job_id);
        if (!l)
            continue;
        if (acked > l->acked)
            l->acked = acked;
        l->ended |= ended;
        any = 1;
    }
    if (any)
        logs_feed(ev, job_id);
}

/* http.c: x's stream drained below HTTP_STREAM_LOW: feed its logs. */
static void sub_drained(struct req *r)
{
    struct sub *x = r->stream_arg;
    if (!x || !x->logs)
        return;
    struct events *ev = x->ev;
    int64_t jobs[EVENTS_LOGS_PER_STREAM];
    int n = 0;
    for (struct logsub *l = x->logs; l && n < EVENTS_LOGS_PER_STREAM; l = l->next)
        if (l->sent < l->acked || l->ended)
            jobs[n++] = l->job_id;
    for (int i = 0; i < n; i++) /* x may be ended by a write: by job, not by x */
        logs_feed(ev, jobs[i]);
}

static struct sub *sub_by_id(struct events *ev, int64_t id)
{
    for (struct sub *x = ev->subs; x; x = x->next)
        if (x->id == id)
            return x;
    return NULL;
}

/* The job whose log the body names ({"deployment": id} or {"job": id}),
 * if the caller and the stream may read it; 0, or -1 once answered. */
static int log_job_of(struct req *r, struct sub *x, json_t *b, int64_t *job_id, int *ended)
{
    int64_t dep = 0, job = 0;
    if (req_int(r, b, "deployment", 0, &dep) < 0 || req_int(r, b, "job", 0, &job) < 0)
        return -1;
    snprintf(r->audit_target, sizeof r->audit_target, "%s:%lld", dep ? "deployment" : "job",
             (long long)(dep ? dep : job));
    if ((dep != 0) == (job != 0)) {
        http_reply_error(r, 400, "invalid_field", "give one of \"deployment\" or \"job\"");
        return -1;
    }
    uint32_t need = dep ? SC_DEPLOY_READ : SC_SERVER_READ;
    if ((r->who.scopes & x->scopes & need) != need) {
        http_reply_error(r, 403, "forbidden", "reading this log needs the %s scope",
                         dep ? "deploy:read" : "server:read");
        return -1;
    }
    struct store *st = r->srv->store;
    if (dep) {
        struct deployment d;
        int rc = store_deployment_get(st, x->org_id, dep, &d);
        if (rc != STORE_OK) {
            http_reply_error(r, rc == STORE_NOTFOUND ? 404 : 500,
                             rc == STORE_NOTFOUND ? "not_found" : "internal",
                             "deployment not found: %lld", (long long)dep);
            return -1;
        }
        if (!d.job_id) {
            http_reply_error(r, 409, "not_started", "deployment %lld is queued; its log starts "
                             "when it is sent to the runner", (long long)dep);
            return -1;
        }
        job = d.job_id;
    }
    struct job j;
    int rc = store_job_get(st, x->org_id, job, &j);
    if (rc != STORE_OK) {
        http_reply_error(r, rc == STORE_NOTFOUND ? (dep ? 410 : 404) : 500,
                         rc == STORE_NOTFOUND ? (dep ? "gone" : "not_found") : "internal",
                         "job not found: %lld", (long long)job);
        return -1;
    }
    *ended = strcmp(j.status, "SUCCEEDED") == 0 || strcmp(j.status, "FAILED") == 0;
    store_job_release(&j);
    *job_id = job;
    return 0;
}

void api_events_logs(struct req *r)
{
    static const char *const fields[] = {"deployment", "job", "after", "follow", NULL};
    struct events *ev = r->srv->events;
    int64_t sid = 0, after = 0, job_id = 0;
    int follow = 1, ended = 0;
    struct sub *x = NULL;
    if (ev && util_parse_i64(r->params[1], &sid) == 0)
        x = sub_by_id(ev, sid);
    /* another user's stream, or another organization's, is not there */
    if (!x || x->user_id != r->who.user_id || x->org_id != r->who.org_id) {
        http_reply_error(r, 404, "not_found", "no such event stream: %s", r->params[1]);
        return;
    }
    json_t *b = req_json(r);
    if (!b || req_only_fields(r, b, fields) < 0 || req_int(r, b, "after", 0, &after) < 0 ||
        req_bool(r, b, "follow", 0, &follow) < 0 || log_job_of(r, x, b, &job_id, &ended) < 0)
        return;
    if (after < 0) {
        http_reply_error(r, 400, "invalid_field", "\"after\" is a seq, 0 or more");
        return;
    }
    struct logsub *l = logsub_of(x, job_id);
    if (!follow) {
        if (l)
            logsub_drop(x, l);
        http_reply_json(r, 200, json_pack("{s:I, s:b}", "job", (json_int_t)job_id, "follow", 0));
        return;
    }
    int64_t prefix = 0;
    if (store_job_log_prefix(r->srv->store, job_id, &prefix) != STORE_OK) {
        http_reply_error(r, 500, "internal", "cannot read the job's log");
        return;
    }
    if (!l) {
        if (x->nlogs >= EVENTS_LOGS_PER_STREAM) {
            http_reply_error(r, 429, "too_many_logs",
                             "at most %d logs are followed on one event stream",
                             EVENTS_LOGS_PER_STREAM);
            return;
        }
        l = calloc(1, sizeof *l);
        if (!l) {
            http_reply_error(r, 503, "unavailable", "out of memory");
            return;
        }
        l->job_id = job_id;
        l->sent = after;
        l->next = x->logs;
        x->logs = l;
        x->nlogs++;
    } else if (after < l->sent) {
        l->sent = after; /* another tab on this stream starts further back */
    }
    if (prefix > l->acked)
        l->acked = prefix;
    l->ended |= ended;
    http_reply_json(r, 200, json_pack("{s:I, s:I, s:I, s:b}", "job", (json_int_t)job_id,
                                      "after", (json_int_t)after, "stored",
                                      (json_int_t)prefix, "follow", 1));
    logs_feed(ev, job_id); /* the lines after `after` already stored, on the stream */
}

void api_events(struct req *r)
{
    struct events *ev = r->srv->events;
    if (!ev || !ev->started) {
        http_reply_error(r, 503, "unavailable", "the event stream is not running");
        return;
    }
    int mine = 0;
    for (struct sub *x = ev->subs; x; x = x->next)
        mine += x->user_id == r->who.user_id;
    if (mine >= EVENTS_PER_USER || ev->nsubs >= EVENTS_MAX) {
        http_reply_error(r, 429, "too_many_streams",
                         mine >= EVENTS_PER_USER
                             ? "at most %d event streams per user are open at once"
                             : "at most %d event streams are open at once",
                         mine >= EVENTS_PER_USER ? EVENTS_PER_USER : EVENTS_MAX);
        return;
    }
    struct sub *x = calloc(1, sizeof *x);
    if (!x) {
        http_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    if (http_stream_begin(r, "text/event-stream") < 0) {
        free(x);
        http_reply_error(r, 503, "unavailable", "cannot start the stream");
        return;
    }
    int64_t now = util_now();
    *x = (struct sub){.ev = ev, .r = r, .id = ++ev->next_id, .org_id = r->who.org_id,
                      .user_id = r->who.user_id, .scopes = r->who.scopes, .opened = now,
                      .last_write = now};
    x->next = ev->subs;
    ev->subs = x;
    ev->nsubs++;
    gauge(ev);
    r->stream_arg = x;
    r->stream_gone = sub_gone;
    r->stream_drained = sub_drained;
    /* retry: the client's reconnect delay; hello: what this stream carries */
    char hello[200];
    int n = snprintf(hello, sizeof hello,
                     "retry: 3000\nevent: hello\ndata: {\"org_id\":%lld,\"stream\":%lld,"
                     "\"life_s\":%d}\n\n",
                     (long long)x->org_id, (long long)x->id, EVENTS_LIFE_S);
    sub_write(x, hello, (size_t)n, now);
}
