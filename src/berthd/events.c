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
#include "util.h"

struct sub {
    struct sub *next;
    struct events *ev;
    struct req *r;
    int64_t org_id, user_id;
    uint32_t scopes;
    int64_t opened, last_write; /* unix seconds */
};

struct events {
    struct srv *srv;
    struct lws_context *ctx;
    lws_sorted_usec_list_t sul;
    struct sub *subs;
    int nsubs;
    int started;
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
    http_stream_end(x->r);
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
    *x = (struct sub){.ev = ev, .r = r, .org_id = r->who.org_id, .user_id = r->who.user_id,
                      .scopes = r->who.scopes, .opened = now, .last_write = now};
    x->next = ev->subs;
    ev->subs = x;
    ev->nsubs++;
    gauge(ev);
    r->stream_arg = x;
    r->stream_gone = sub_gone;
    /* retry: the client's reconnect delay; hello: what this stream carries */
    char hello[160];
    int n = snprintf(hello, sizeof hello,
                     "retry: 3000\nevent: hello\ndata: {\"org_id\":%lld,\"life_s\":%d}\n\n",
                     (long long)x->org_id, EVENTS_LIFE_S);
    sub_write(x, hello, (size_t)n, now);
}
