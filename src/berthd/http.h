/* http.h - one HTTP request's life on the event loop, and how handlers
 * answer it.
 *
 * http.c owns `struct req`: it is allocated when a request starts, filled
 * (method, path, query, headers, capped body), routed, authenticated, handed
 * to the route's handler, and freed once the answer is written. A handler
 * answers with exactly one http_reply_* call, either before it returns or,
 * for slow work, later from a worker pool completion (http_defer +
 * http_complete). If the client goes away while work is pending, the req
 * lives on detached (r->wsi == NULL) until the completion frees it.
 *
 * One function in http.c (req_release) ends every request, on every path
 * (answered, client gone, write error, server stopping): the flush queue
 * and the stream's feeder (stream_gone) let go first, and a request on the
 * worker pool is detached rather than freed.
 */
#ifndef BERTHD_HTTP_H
#define BERTHD_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "access.h"
#include "berthd.h"
#include "buf.h"
#include "jsonx.h"
#include "router.h"

struct route;
struct lws;

struct req {
    struct srv *srv;
    struct lws *wsi;            /* NULL once the client is gone */
    enum http_method method;
    char path[512];
    char ip[64];                /* use req_ip(): filled on first use */
    char *authz;                /* Authorization header, malloc'ed, may be NULL */
    char *cookie;               /* Cookie header (only without Authorization), malloc'ed, may be NULL */
    int by_cookie;              /* authenticated by the session cookie (guard.c) */
    struct buf body;
    int64_t content_length;     /* -1 when absent */
    uint64_t started_us;
    const struct route *route;
    char params[REQ_MAX_PARAMS][128];
    int nparams;
    struct principal who;
    int authed;
    json_t *json;               /* parsed body, owned */
    int dispatched;             /* routed and handed to its handler: once */
    uint64_t body_deadline_us;  /* the whole body must be in by then */

    /* audit: set by the handler before it answers (see audit.h) */
    int64_t audit_org;
    char audit_target[160];
    char audit_actor[256];      /* who it was about when unauthenticated */
    json_t *audit_detail;       /* owned; never a secret */
    int guard_refused;

    /* answer */
    int status;
    const char *ctype;
    char *resp;                 /* malloc'ed body */
    struct buf out;             /* http_json's answer being written */
    struct jw jw;
    size_t resp_len, resp_off;
    char extra_hdrs[1024];      /* "name:value\n" lines */
    const char *cache_control;  /* NULL: "no-store" (static text only) */
    int replied, hdr_sent, close_after, pending;
    struct req *flush_next, *flush_prev; /* queued to be written (http.c) */
    int queued;

    /* streamed answer (http_stream_*): body of unknown length */
    int streaming, stream_ended, stream_last_sent;
    struct buf stream;          /* queued body bytes, capped */
    /* Set by whoever feeds the stream: called once if the client goes
     * away mid-stream, just before the req is freed. */
    void (*stream_gone)(struct req *r);
    /* Set by the feeder too: called when the queue drains below
     * HTTP_STREAM_LOW, so it queues more (backpressure). */
    void (*stream_drained)(struct req *r);
    void *stream_arg;

    /* file answer (http_reply_file): read in pieces on the pool */
    int file_fd;                /* -1 when none; owned */
    uint64_t file_off, file_size;
    char *file_buf;             /* the piece being written */
    size_t file_len, file_pos;
};

/* Answers. Each takes ownership of what it is given. */
void http_reply_json(struct req *r, int status, json_t *body);
void http_reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void http_reply_raw(struct req *r, int status, const char *ctype, char *body, size_t len);
void http_reply_empty(struct req *r, int status);
/* Answers with a file's bytes (fd, owned from now on, size bytes from
 * offset 0): read on the worker pool one HTTP_FILE_PIECE at a time, the
 * next piece only once the last one is written, so neither memory nor the
 * pool grows with the file or with a slow client. */
#define HTTP_FILE_PIECE (64 * 1024)
void http_reply_file(struct req *r, int status, const char *ctype, int fd, uint64_t size);
/* JSON answers written straight into the answer buffer (lists written
 * from store rows, no json_t): http_json gives the writer (the same one
 * on each call), http_reply_jw answers with what was written, or 500 if
 * the writer failed. A handler that answers otherwise instead (an error)
 * just drops what it wrote. */
struct jw *http_json(struct req *r);
void http_reply_jw(struct req *r, int status);
/* Adds a response header line before the answer is sent. */
void http_add_header(struct req *r, const char *name, const char *value);

/* The body as a JSON object, parsed once; on failure answers 400 and
 * returns NULL (the handler then just returns). */
json_t *req_json(struct req *r);
/* The client's address as text ("" if unknown). */
const char *req_ip(struct req *r);
/* Query argument's value by name (urldecoded by lws) copied into buf and
 * returned, or NULL when absent. A value that does not fit in buf is
 * answered 400 (the handler sees NULL and r->replied set, and returns). */
const char *req_query(struct req *r, const char *name, char *buf, int len);

/* A custom request header's value (name in any case, e.g.
 * "X-Hub-Signature-256") copied into buf, or NULL when absent or longer
 * than len - 1. */
const char *req_header(struct req *r, const char *name, char *buf, int len);
/* Standard request headers that handlers read; req_std_header copies the
 * value into buf, or returns NULL when absent or longer than len - 1. */
enum req_hdr { REQ_HDR_ORIGIN, REQ_HDR_HOST, REQ_HDR_IF_NONE_MATCH, REQ_HDR_ACCEPT_ENCODING };
const char *req_std_header(struct req *r, enum req_hdr h, char *buf, int len);
/* 1 when the request carries header h at all (readable or not). */
int req_std_header_present(struct req *r, enum req_hdr h);

/* Typed body fields. On a wrong type these answer 400 naming the field and
 * return -1; a missing required field answers 422. Optional fields leave
 * *out untouched when absent and return 0; present ones return 1. */
int req_str(struct req *r, json_t *o, const char *field, int required, const char **out);
int req_int(struct req *r, json_t *o, const char *field, int required, int64_t *out);
int req_bool(struct req *r, json_t *o, const char *field, int required, int *out);
int req_array(struct req *r, json_t *o, const char *field, int required, json_t **out);
/* Rejects fields not in the NULL-terminated list (400); 0 or -1. */
int req_only_fields(struct req *r, json_t *o, const char *const *allowed);

/* Slow work: mark the request pending, then submit to srv->pool; the
 * completion (on the loop) must call http_complete(r) after replying, or
 * just http_complete if r->wsi is NULL (client gone). */
void http_defer(struct req *r);
/* Returns 1 if the caller should stop (client gone; req freed). */
int http_gone(struct req *r);
void http_complete(struct req *r);

/* Streamed answers (log follow): status 200, no content length, so the
 * HTTP/1.1 connection closes after the end. Data is queued in a buffer
 * capped at HTTP_STREAM_MAX and written when the socket is writable.
 * http_stream_write returns -1 when the client is gone or the buffer is
 * full (the caller then ends the stream: a reader that does not keep up is
 * cut, never buffered for). A client that stops reading with bytes queued
 * is closed after HTTP_STALL_S seconds without progress. After http_stream_end the req is freed by
 * http.c once the queue is written; the caller must forget it. */
#define HTTP_STREAM_MAX (1024u * 1024)
#define HTTP_STREAM_LOW (256u * 1024)
#define HTTP_STALL_S 30
int http_stream_begin(struct req *r, const char *ctype);
int http_stream_write(struct req *r, const void *data, size_t len);
void http_stream_end(struct req *r);

/* Creates the lws context for srv->cfg and runs the loop until stopped. */
/* The check of a WebSocket upgrade on an API path (term.c): a GET of the
 * upgrade's path and Authorization, routed and guarded like any request
 * (404/400, 401, 403 for a scope, refusals audited) but without running
 * the route's handler; the endpoint may refuse further with
 * http_reply_error. NULL when out of memory. */
struct req *http_upgrade_req(struct srv *s, struct lws *wsi);
/* Writes r's refusal, if one was made (1: lws must not upgrade; -1 drop),
 * else 0 (the upgrade goes on); frees r either way. */
int http_upgrade_done(struct req *r, struct lws *wsi);

int http_run(struct srv *s);
void http_stop(struct srv *s);

#endif
