/* applogs.c - application logs on the runner (docs/app-logs.md).
 *
 * Collection: every BERTH_APPLOGS_LIST_MS (2 s) the runner lists the
 * containers labelled berth.app that it made (label berth.runner is its
 * state dir) - a periodic listing rather than GET /events: it needs no
 * second long-lived stream, finds what started while the runner was down
 * the same way as what starts later, and costs one small call. A running
 * container gets a follow stream, GET /containers/{id}/logs?follow=1&
 * stdout=1&stderr=1&timestamps=1&since=CURSOR, on its own lws client
 * connection; a stopped one is read once (no follow) from its cursor, so
 * lines printed while the runner was down are not lost. The cursor (the
 * last stored timestamp and how many lines carry it, logstore.c) makes a
 * resumed stream skip what is already stored: no gap, no duplicate,
 * across restarts of the container and of the runner.
 *
 * Lines (logparse.c) go into the store (one pending block per app,
 * written when full or every second) and straight to the follow queries
 * of their app.
 *
 * Queries: logs.query runs on a thread of its own over a snapshot of the
 * app (logstore_snapshot), its frames handed to the loop through a queue
 * (capped: the thread waits while it is full) and lws_cancel_service; the
 * loop sends them while the link's queue is short. A follow query gets
 * the new lines from the moment of its snapshot: those that come while
 * the history is read are held (capped) and sent after it.
 *
 * Owns: the store, the Docker client for listings, every stream and
 * every query (threads joined before their struct is freed).
 */
#include "applogs.h"
#include "docker.h"
#include "log.h"
#include "logparse.h"
#include "logre.h"
#include "logstore.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define C "applogs"
#define STREAMS_MAX 64
#define QUERIES_MAX 8
#define DRAINED_MAX 1024
#define CONNECT_TIMEOUT_S 15
#define FLUSH_US (1 * LWS_USEC_PER_SEC)
#define PUMP_US (50 * LWS_US_PER_MS)
#define QUEUE_MAX (1u << 20)            /* frames a query thread may have waiting */
#define LINK_HIGH (1u << 20)            /* send history only below this link queue */
#define LINK_DROP (3u << 20)            /* a follow behind this is ended */
#define HELD_MAX (4u << 20)             /* live lines held while history is read */
#define FRAME_COST (512u * 1024)        /* a logs.data frame's estimated JSON bytes */
#define QUERY_DEADLINE_S 120

struct stream {
    struct stream *next;
    struct lws *wsi;
    char cid[LOGSTORE_CID_MAX + 1];
    char app[LOGSTORE_APP_MAX + 1];
    char dep[LOGSTORE_DEP_MAX + 1];
    char path[320];
    int follow, status, ended, in_connect;
    uint64_t last_rx_us;                /* the last bytes from Docker */
    int64_t skip_ts, skip_n;            /* lines already stored: dropped */
    struct logparse parse;
    lws_sorted_usec_list_t sul;
};

struct frame {
    struct frame *next;
    char *text;
    size_t len;
};

struct query {
    struct query *next;
    char id[PROTO_CALL_ID_MAX + 1];
    char app[LOGSTORE_APP_MAX + 1];
    char q[PROTO_LOGS_Q_MAX + 1];
    char dep[LOGSTORE_DEP_MAX + 1];
    struct logre re;                    /* re=: compiled once per query */
    struct logstore_query lq;
    struct logstore_snap snap;
    int64_t limit, sent;
    int follow;
    int live;                           /* history sent: new lines go straight out */
    /* thread <-> loop, under mu */
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct frame *head, *tail;
    size_t queued;
    volatile int cancel, done, failed, truncated;
    char err[256];
    /* loop only */
    json_t *held;                       /* follow: lines while history is read */
    size_t held_cost;
    json_t *out;                        /* follow: the frame being filled */
    size_t out_cost;
    uint64_t started_us;
};

static struct {
    struct runner *r;
    struct logstore *st;
    struct docker *dk;
    struct stream *streams;
    int nstreams;
    struct query *queries;
    int listing;
    int list_ms, trim_s, idle_s;
    char drained[DRAINED_MAX][LOGSTORE_CID_MAX + 1];
    int ndrained, drained_at;
    lws_sorted_usec_list_t sul_list, sul_flush, sul_trim, sul_pump;
    int on;
    int64_t disk_bytes;                 /* the store's segments, as last counted */
    uint64_t disk_at_us;                /* when (0: never) */
} A;

static void pump(void);

/* --- follow queries: live lines --- */

static size_t line_cost(size_t tlen, const char *text)
{
    size_t c = tlen + 128;
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == '"' || text[i] == '\\')
            c += 5;
    return c;
}

static void send_text_frame(json_t *m)
{
    if (m)
        link_send(A.r, m);
    json_decref(m);
}

static void end_query(struct query *q, int ok, const char *error, int truncated)
{
    send_text_frame(proto_logs_end(q->id, ok, error, truncated));
    q->cancel = 1;
}

static void out_flush(struct query *q)
{
    if (!q->out || !json_array_size(q->out))
        return;
    send_text_frame(proto_logs_data(q->id, q->out));
    q->out = NULL;
    q->out_cost = 0;
}

#define RE_SLOW "the regular expression took over 10 s of matching; make it simpler, or " \
                "narrow the query (since, until, q)"

static void live_line(struct query *q, const struct logstore_line *l, const char *cid)
{
    if (q->cancel || !logstore_match(&q->lq, l)) {
        if (!q->cancel && q->live && logre_over(&q->re))
            end_query(q, 0, RE_SLOW, 0);
        return;
    }
    char c[LOGSTORE_SHORT_CID + 1], d[LOGSTORE_DEP_MAX + 1];
    snprintf(c, sizeof c, "%.*s", (int)l->clen, cid);
    snprintf(d, sizeof d, "%.*s", (int)l->dlen, l->deployment);
    struct proto_logs_line pl = {l->ts, l->err, l->partial, c, d, l->text, l->tlen};
    json_t *item = proto_logs_line(&pl);
    size_t cost = line_cost(l->tlen, l->text);
    if (!item)
        return;
    if (!q->live) {
        if (q->held_cost + cost > HELD_MAX) {
            json_decref(item);
            end_query(q, 0, "the follow fell behind while the history was read", 0);
            return;
        }
        if (!q->held)
            q->held = json_array();
        json_array_append_new(q->held, item);
        q->held_cost += cost;
        return;
    }
    if (!q->out)
        q->out = json_array();
    json_array_append_new(q->out, item);
    q->out_cost += cost;
    if (q->out_cost >= FRAME_COST)
        out_flush(q);
}

static void live_flush_all(void)
{
    for (struct query *q = A.queries; q; q = q->next)
        if (q->live && !q->cancel) {
            out_flush(q);
            if (link_queued_bytes(A.r) > LINK_DROP)
                end_query(q, 0, "the reader is too slow for this follow", 0);
        }
}

/* --- collection --- */

static void store_line(void *arg, int64_t ts, int err, int partial, const char *text, size_t len)
{
    struct stream *s = arg;
    if (s->skip_n || s->skip_ts) {
        if (ts < s->skip_ts)
            return;
        if (ts == s->skip_ts && s->skip_n > 0) {
            s->skip_n--;
            return;
        }
        s->skip_ts = 0;
        s->skip_n = 0;
    }
    struct logstore_line l = {ts, err, partial, s->cid, s->dep, text, LOGSTORE_SHORT_CID,
                              strlen(s->dep), len};
    char e[256];
    if (logstore_append(A.st, s->app, s->cid, &l, e, sizeof e) < 0) {
        log_warn(C, "app %s: cannot store a line: %s", s->app, e);
        return;
    }
    for (struct query *q = A.queries; q; q = q->next)
        if (q->follow && strcmp(q->app, s->app) == 0)
            live_line(q, &l, s->cid);
}

static void stream_free(struct stream *s)
{
    for (struct stream **pp = &A.streams; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            A.nstreams--;
            break;
        }
    lws_sul_cancel(&s->sul);
    logparse_release(&s->parse);
    free(s);
}

static void stream_end(struct stream *s, struct lws *wsi, const char *why)
{
    if (wsi)
        lws_set_opaque_user_data(wsi, NULL);
    s->wsi = NULL;
    if (s->ended)
        return;
    s->ended = 1;
    logparse_end(&s->parse);
    live_flush_all();
    if (why && A.on)
        log_debug(C, "container %.12s: log stream ended: %s", s->cid, why);
    if (!s->in_connect)
        stream_free(s);
}

static void stream_timeout(lws_sorted_usec_list_t *sul)
{
    struct stream *s = lws_container_of(sul, struct stream, sul);
    if (s->wsi)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Docker 20.10's json-file follow can hang for good where the file is
 * rotated (max-size): a follow silent for BERTH_APPLOGS_IDLE_S is closed,
 * and the next listing starts another from the cursor (Docker reads the
 * rotated files too; nothing is stored twice). A quiet container costs
 * one small request per period. */
static void stream_idle(lws_sorted_usec_list_t *sul)
{
    struct stream *s = lws_container_of(sul, struct stream, sul);
    if (!s->wsi)
        return;
    uint64_t idle = util_mono_us() - s->last_rx_us;
    if (idle >= (uint64_t)A.idle_s * 1000000u) {
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    lws_sul_schedule(A.r->ctx, 0, &s->sul, stream_idle,
                     (lws_usec_t)((uint64_t)A.idle_s * 1000000u - idle));
}

static int applogs_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                            void *in, size_t len)
{
    struct stream *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    char rb[LWS_PRE + 16384], *px;
    int lenx;

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (A.on)
            pump();
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (s)
            stream_end(s, wsi, in ? (const char *)in : "cannot connect to Docker");
        return 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (s) {
            s->status = (int)lws_http_client_http_response(wsi);
            lws_sul_cancel(&s->sul);
            lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
            if (s->status != 200)
                return -1;
            s->last_rx_us = util_mono_us();
            if (s->follow)
                lws_sul_schedule(A.r->ctx, 0, &s->sul, stream_idle,
                                 (lws_usec_t)A.idle_s * LWS_USEC_PER_SEC);
        }
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (s && s->status == 200) {
            s->last_rx_us = util_mono_us();
            logparse_feed(&s->parse, in, len);
            live_flush_all();
            if (logparse_broken(&s->parse)) {
                /* not Docker's framing: drop the stream; the next listing
                 * starts another from the cursor */
                log_warn(C, "container %.12s: the log stream lost its framing; reading it "
                         "again", s->cid);
                return -1;
            }
        }
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
        px = rb + LWS_PRE;
        lenx = (int)sizeof rb - LWS_PRE;
        if (lws_http_client_read(wsi, &px, &lenx) < 0)
            return -1;
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (s)
            stream_end(s, wsi, "completed");
        return -1;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (s)
            stream_end(s, wsi, "closed");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        /* closed some way that called nothing above (an lws timeout):
         * the next listing reads it again from the cursor */
        if (s)
            stream_end(s, wsi, "connection destroyed");
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols applogs_protocol = {
    .name = "berth-applogs",
    .callback = applogs_callback,
    .rx_buffer_size = 16384,
};

static struct stream *stream_of(const char *cid)
{
    for (struct stream *s = A.streams; s; s = s->next)
        if (strcmp(s->cid, cid) == 0)
            return s;
    return NULL;
}

static int hex_id(const char *s)
{
    size_t n = strlen(s);
    return n >= LOGSTORE_SHORT_CID && n <= LOGSTORE_CID_MAX &&
           strspn(s, "0123456789abcdef") == n;
}

static void stream_start(const char *cid, const char *app, const char *dep, int follow)
{
    if (A.nstreams >= STREAMS_MAX)
        return;
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return;
    snprintf(s->cid, sizeof s->cid, "%s", cid);
    snprintf(s->app, sizeof s->app, "%s", app);
    snprintf(s->dep, sizeof s->dep, "%s", dep);
    s->follow = follow;
    logstore_cursor(A.st, app, cid, &s->skip_ts, &s->skip_n);
    char since[48] = "";
    if (s->skip_ts)
        snprintf(since, sizeof since, "&since=%lld.%09lld",
                 (long long)(s->skip_ts / 1000000000LL), (long long)(s->skip_ts % 1000000000LL));
    snprintf(s->path, sizeof s->path,
             "/v1.41/containers/%s/logs?follow=%d&stdout=1&stderr=1&timestamps=1%s", cid,
             follow, since);
    logparse_init(&s->parse, store_line, s);
    s->next = A.streams;
    A.streams = s;
    A.nstreams++;

    struct lws_client_connect_info i;
    char address[PATH_MAX + 2];
    snprintf(address, sizeof address, "+%s", A.r->docker_endpoint);
    memset(&i, 0, sizeof i);
    i.context = A.r->ctx;
    i.vhost = A.r->vh;
    i.address = address;
    i.path = s->path;
    i.host = "docker";
    i.origin = "docker";
    i.method = "GET";
    i.local_protocol_name = applogs_protocol.name;
    i.alpn = "http/1.1";
    i.opaque_user_data = s;
    i.pwsi = &s->wsi;
    s->in_connect = 1;
    struct lws *w = lws_client_connect_via_info(&i);
    s->in_connect = 0;
    if (!w || s->ended) {
        s->wsi = NULL;
        stream_free(s);
        return;
    }
    lws_sul_schedule(A.r->ctx, 0, &s->sul, stream_timeout, CONNECT_TIMEOUT_S * LWS_USEC_PER_SEC);
}

static int drained(const char *cid, int add, int remove)
{
    for (int i = 0; i < A.ndrained; i++)
        if (strcmp(A.drained[i], cid) == 0) {
            if (remove)
                A.drained[i][0] = '\0';
            return 1;
        }
    if (add) {
        int at = A.ndrained < DRAINED_MAX ? A.ndrained++ : A.drained_at++ % DRAINED_MAX;
        snprintf(A.drained[at], sizeof A.drained[at], "%s", cid);
    }
    return 0;
}

static void listed(void *arg, int status, json_t *body, const char *err)
{
    (void)arg;
    (void)status;
    A.listing = 0;
    if (!A.on)
        return;
    if (err || !json_is_array(body)) {
        log_debug(C, "cannot list containers: %s", err ? err : "bad answer");
        return;
    }
    json_t *c;
    size_t i;
    json_array_foreach(body, i, c) {
        json_t *labels = json_object_get(c, "Labels");
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *app = json_string_value(json_object_get(labels, "berth.app"));
        const char *dep = json_string_value(json_object_get(labels, "berth.deployment"));
        const char *own = json_string_value(json_object_get(labels, "berth.runner"));
        const char *state = json_string_value(json_object_get(c, "State"));
        if (!id || !app || !own || !state || strcmp(own, A.r->state_dir) != 0 || !hex_id(id) ||
            !logstore_app_valid(app))
            continue;
        if (!dep || strlen(dep) > LOGSTORE_DEP_MAX || strspn(dep, "0123456789") != strlen(dep))
            dep = "";
        if (stream_of(id))
            continue;
        int running = strcmp(state, "running") == 0;
        if (running) {
            drained(id, 0, 1);
            stream_start(id, app, dep, 1);
        } else if (strcmp(state, "created") != 0 && !drained(id, 1, 0)) {
            stream_start(id, app, dep, 0);
        }
    }
}

static void list_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (!A.on)
        return;
    if (!A.listing && docker_container_list(A.dk, "berth.app", 1, listed, NULL) == 0)
        A.listing = 1;
    lws_sul_schedule(A.r->ctx, 0, &A.sul_list, list_tick, (lws_usec_t)A.list_ms * LWS_US_PER_MS);
}

static void flush_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    char err[256];
    if (logstore_flush(A.st, err, sizeof err) < 0)
        log_warn(C, "cannot write app logs: %s", err);
    lws_sul_schedule(A.r->ctx, 0, &A.sul_flush, flush_tick, FLUSH_US);
}

static void trim_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t n = logstore_trim(A.st, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    if (n) {
        log_info(C, "app logs: retention removed %llu bytes", (unsigned long long)n);
        A.disk_at_us = 0; /* counted again at the next heartbeat */
    }
    lws_sul_schedule(A.r->ctx, 0, &A.sul_trim, trim_tick, (lws_usec_t)A.trim_s * LWS_USEC_PER_SEC);
}

#define DISK_EVERY_US (10u * 1000 * 1000)
int64_t applogs_disk_bytes(void)
{
    uint64_t now = util_mono_us();
    if (!A.st)
        return -1;
    if (!A.disk_at_us || now - A.disk_at_us >= DISK_EVERY_US) {
        uint64_t n = logstore_disk_bytes(A.st, NULL);
        A.disk_bytes = n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n;
        A.disk_at_us = now;
    }
    return A.disk_bytes;
}

/* --- queries --- */

struct qctx {
    struct query *q;
    json_t *lines;
    size_t cost;
};

static int qpush(struct query *q, json_t *lines)
{
    json_t *m = proto_logs_data(q->id, lines);
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    struct frame *f = text ? calloc(1, sizeof *f) : NULL;
    if (!f) {
        free(text);
        return -1;
    }
    f->text = text;
    f->len = strlen(text);
    pthread_mutex_lock(&q->mu);
    while (q->queued > QUEUE_MAX && !q->cancel) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
    q->queued += f->len;
    pthread_mutex_unlock(&q->mu);
    lws_cancel_service(A.r->ctx);
    return q->cancel ? -1 : 0;
}

static int qline(void *arg, const struct logstore_line *l)
{
    struct qctx *x = arg;
    struct query *q = x->q;
    if (q->cancel)
        return -1;
    if (q->sent >= q->limit) {
        q->truncated = 1;
        return -1;
    }
    char c[LOGSTORE_CID_MAX + 1], d[LOGSTORE_DEP_MAX + 1];
    snprintf(c, sizeof c, "%.*s", (int)l->clen, l->container);
    snprintf(d, sizeof d, "%.*s", (int)l->dlen, l->deployment);
    struct proto_logs_line pl = {l->ts, l->err, l->partial, c, d, l->text, l->tlen};
    json_t *item = proto_logs_line(&pl);
    if (!item)
        return 0; /* a damaged record: skipped */
    if (!x->lines)
        x->lines = json_array();
    json_array_append_new(x->lines, item);
    q->sent++;
    x->cost += line_cost(l->tlen, l->text);
    if (x->cost >= FRAME_COST) {
        json_t *lines = x->lines;
        x->lines = NULL;
        x->cost = 0;
        if (qpush(q, lines) < 0)
            return -1;
    }
    return 0;
}

static void *query_main(void *arg)
{
    struct query *q = arg;
    struct qctx x = {q, NULL, 0};
    char err[256] = "";
    int rc = logstore_query(logstore_dir(A.st), &q->snap, &q->lq, qline, &x, err, sizeof err);
    if (rc >= 0 && logre_over(&q->re)) {
        rc = -1;
        snprintf(err, sizeof err, "%s", RE_SLOW);
    }
    if (x.lines)
        qpush(q, x.lines);
    pthread_mutex_lock(&q->mu);
    if (rc < 0) {
        q->failed = 1;
        snprintf(q->err, sizeof q->err, "%s", err);
    }
    q->done = 1;
    pthread_mutex_unlock(&q->mu);
    lws_cancel_service(A.r->ctx);
    return NULL;
}

static void query_free(struct query *q)
{
    for (struct query **pp = &A.queries; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    if (q->started)
        pthread_join(q->th, NULL);
    while (q->head) {
        struct frame *f = q->head;
        q->head = f->next;
        free(f->text);
        free(f);
    }
    json_decref(q->held);
    json_decref(q->out);
    logstore_snap_release(&q->snap);
    logre_release(&q->re);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

/* Sends what query threads made, ends what is over. */
static void pump(void)
{
    int ready = link_ready(A.r);
    uint64_t now = util_mono_us();
    for (struct query *q = A.queries, *next; q; q = next) {
        next = q->next;
        if (!ready)
            q->cancel = 1;
        if (!q->cancel && now - q->started_us > (uint64_t)QUERY_DEADLINE_S * 1000000u &&
            !q->live)
            end_query(q, 0, "the query took too long", 0);
        pthread_mutex_lock(&q->mu);
        while (q->head && !q->cancel && link_queued_bytes(A.r) < LINK_HIGH) {
            struct frame *f = q->head;
            q->head = f->next;
            if (!q->head)
                q->tail = NULL;
            q->queued -= f->len;
            link_send_raw(A.r, f->text, f->len);
            free(f->text);
            free(f);
        }
        int done = q->done, failed = q->failed, empty = !q->head;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (q->cancel) {
            if (done)
                query_free(q);
            continue;
        }
        if (!done || !empty || q->live)
            continue;
        if (failed) {
            end_query(q, 0, q->err[0] ? q->err : "the query failed", 0);
            continue;
        }
        if (!q->follow) {
            end_query(q, 1, NULL, q->truncated);
            continue;
        }
        /* history sent: the lines held meanwhile, then live */
        q->live = 1;
        logstore_snap_release(&q->snap);
        /* held lines, or an empty frame: berthd starts its answer on it */
        send_text_frame(proto_logs_data(q->id, q->held ? q->held : json_array()));
        q->held = NULL;
        q->held_cost = 0;
    }
}

static void pump_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    pump();
    if (A.queries)
        lws_sul_schedule(A.r->ctx, 0, &A.sul_pump, pump_tick, PUMP_US);
}

void applogs_on_query(struct runner *r, json_t *msg)
{
    struct proto_logs_query pq;
    char err[160];
    if (proto_parse_logs_query(msg, &pq, err, sizeof err) < 0) {
        const char *id = json_string_value(json_object_get(msg, "id"));
        log_warn(C, "bad logs.query: %s", err);
        if (id)
            send_text_frame(proto_logs_end(id, 0, err, 0));
        return;
    }
    if (!A.on) {
        send_text_frame(proto_logs_end(pq.id, 0, "app logs are off on this server", 0));
        return;
    }
    int n = 0;
    for (struct query *q = A.queries; q; q = q->next)
        n++;
    if (n >= QUERIES_MAX) {
        send_text_frame(proto_logs_end(pq.id, 0, "too many log queries on this server; try "
                                       "again", 0));
        return;
    }
    struct query *q = calloc(1, sizeof *q);
    if (!q)
        return;
    snprintf(q->id, sizeof q->id, "%s", pq.id);
    snprintf(q->app, sizeof q->app, "%s", pq.app);
    q->lq.since = pq.since;
    q->lq.until = pq.until;
    q->lq.tail = (size_t)pq.tail;
    q->lq.streams = pq.streams;
    if (pq.q) {
        snprintf(q->q, sizeof q->q, "%s", pq.q);
        q->lq.q = q->q;
    }
    if (pq.deployment) {
        snprintf(q->dep, sizeof q->dep, "%s", pq.deployment);
        q->lq.deployment = q->dep;
    }
    if (pq.re) {
        if (logre_compile(&q->re, pq.re, err, sizeof err) < 0) {
            send_text_frame(proto_logs_end(pq.id, 0, err, 0));
            free(q);
            return;
        }
        q->lq.re = &q->re;
    }
    q->limit = pq.limit;
    q->follow = pq.follow;
    q->started_us = util_mono_us();
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->next = A.queries;
    A.queries = q;
    if (logstore_snapshot(A.st, q->app, &q->snap) < 0) {
        end_query(q, 0, "cannot read this app's logs", 0);
        q->done = 1;
    } else {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 256 * 1024);
        if (pthread_create(&q->th, &at, query_main, q) == 0) {
            q->started = 1;
        } else {
            end_query(q, 0, "cannot start the query", 0);
            q->done = 1;
        }
        pthread_attr_destroy(&at);
    }
    (void)r;
    lws_sul_schedule(A.r->ctx, 0, &A.sul_pump, pump_tick, PUMP_US);
}

void applogs_on_cancel(struct runner *r, json_t *msg)
{
    (void)r;
    const char *id;
    char err[160];
    if (proto_parse_logs_cancel(msg, &id, err, sizeof err) < 0)
        return;
    for (struct query *q = A.queries; q; q = q->next)
        if (strcmp(q->id, id) == 0)
            q->cancel = 1;
    pump();
}

/* --- life --- */

static int64_t env_i64(const char *name, int64_t dflt, int64_t min, int64_t max)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v)
        return dflt;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < min || x > max) {
        log_warn(C, "%s=%s is not %lld..%lld: using %lld", name, v, (long long)min,
                 (long long)max, (long long)dflt);
        return dflt;
    }
    return x;
}

int applogs_init(struct runner *r)
{
    A.r = r;
    const char *on = getenv("BERTH_APPLOGS");
    if (on && strcmp(on, "0") == 0) {
        log_info(C, "app logs are off (BERTH_APPLOGS=0)");
        return 0;
    }
    struct logstore_cfg cfg;
    logstore_cfg_default(&cfg);
    cfg.retain_ns = env_i64("BERTH_APPLOGS_RETAIN_S", 7 * 86400, 60, 3650LL * 86400) *
                    1000000000LL;
    cfg.max_app_bytes =
        (uint64_t)env_i64("BERTH_APPLOGS_MAX_APP_MB", 256, 1, 1 << 20) << 20;
    cfg.max_total_bytes =
        (uint64_t)env_i64("BERTH_APPLOGS_MAX_TOTAL_MB", 2048, 1, 1 << 24) << 20;
    cfg.segment_bytes = (uint64_t)env_i64("BERTH_APPLOGS_SEGMENT_KB", 8192, 16, 1 << 20) << 10;
    if (cfg.segment_bytes > cfg.max_app_bytes / 4 && cfg.max_app_bytes / 4 >= (16u << 10))
        cfg.segment_bytes = cfg.max_app_bytes / 4;
    A.list_ms = (int)env_i64("BERTH_APPLOGS_LIST_MS", 2000, 100, 60000);
    A.trim_s = (int)env_i64("BERTH_APPLOGS_TRIM_S", 60, 1, 3600);
    A.idle_s = (int)env_i64("BERTH_APPLOGS_IDLE_S", 30, 1, 3600);
    char dir[PATH_MAX], err[256];
    if (state_path(r, "applogs", dir, sizeof dir) < 0 ||
        logstore_open(dir, &cfg, &A.st, err, sizeof err) < 0) {
        log_error(C, "app logs: %s", err);
        return -1;
    }
    if (docker_new(r->ctx, r->vh, r->docker_endpoint, &A.dk) < 0) {
        log_error(C, "app logs: no Docker client");
        logstore_free(A.st);
        A.st = NULL;
        return -1;
    }
    A.on = 1;
    lws_sul_schedule(r->ctx, 0, &A.sul_list, list_tick, 1);
    lws_sul_schedule(r->ctx, 0, &A.sul_flush, flush_tick, FLUSH_US);
    lws_sul_schedule(r->ctx, 0, &A.sul_trim, trim_tick, 5 * LWS_USEC_PER_SEC);
    return 0;
}

void applogs_stop(struct runner *r)
{
    (void)r;
    if (!A.on)
        return;
    A.on = 0;
    lws_sul_cancel(&A.sul_list);
    lws_sul_cancel(&A.sul_flush);
    lws_sul_cancel(&A.sul_trim);
    lws_sul_cancel(&A.sul_pump);
    for (struct query *q = A.queries; q; q = q->next)
        q->cancel = 1;
    while (A.queries) {
        struct query *q = A.queries;
        pthread_mutex_lock(&q->mu);
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        query_free(q);
    }
    while (A.streams) {
        struct stream *s = A.streams;
        if (s->wsi) {
            lws_set_opaque_user_data(s->wsi, NULL);
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        }
        s->wsi = NULL;
        stream_free(s);
    }
    docker_free(A.dk);
    A.dk = NULL;
    logstore_free(A.st);
    A.st = NULL;
}
