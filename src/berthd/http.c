/* http.c - berthd's HTTP front: the lws context, the per-request life
 * cycle (collect -> route -> authenticate -> handle -> answer), and the
 * answer helpers handlers use.
 *
 * Ownership: a `struct req` is created on LWS_CALLBACK_HTTP and hangs off
 * the connection's per-session data until its answer is fully written. If
 * the connection closes while the request waits on the worker pool, the req
 * is detached (wsi = NULL) and freed by http_complete().
 *
 * Responses are HTTP/1.1 (ALPN offers only http/1.1), so an answer's header
 * and body leave in one write when they fit, in 32 KiB writes otherwise.
 * Answers that fit one write are written at the end of the loop pass that
 * produced them (answer(), on_flush()), all of the pass's answers back to
 * back.
 */
#include "http.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "router.h"
#include "util.h"

#include <libwebsockets.h>
#include <ev.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define CHUNK 32768
#define QUERY_MAX 2048 /* the whole query string; on_request answers 414 past it */
#define HDR_ROOM 2048 /* the dashboard's answers carry a CSP and cookies */

struct pss {
    struct req *r;
};

static struct srv *the_srv;

static void unqueue(struct req *r);

/* The request's policies, plugged in by main.c (srv->guard, srv->audit):
 * the front imports none of what it serves. Without a guard nothing is
 * let through. */
static void audit(struct req *r)
{
    if (r->srv->audit)
        r->srv->audit(r);
}

static int guard(struct req *r)
{
    if (r->srv->guard)
        return r->srv->guard(r);
    http_reply_error(r, 500, "internal", "no access check is configured");
    return -1;
}

/* The only way a request ends. Whatever points at r lets go first: the
 * flush queue, and the stream's feeder (a log follower in job.c) through
 * stream_gone. A request waiting on the worker pool is only detached
 * (wsi = NULL): its completion calls http_complete, which comes back here.
 * Callers forget r afterwards (pss->r = NULL). */
static void req_release(struct req *r)
{
    if (!r)
        return;
    unqueue(r);
    if (r->stream_gone) {
        void (*gone)(struct req *) = r->stream_gone;
        r->stream_gone = NULL;
        gone(r);
    }
    if (r->pending) {
        r->wsi = NULL;
        return;
    }
    if (r->file_fd >= 0)
        close(r->file_fd);
    if (r->authz) {
        crypto_wipe(r->authz, strlen(r->authz));
        free(r->authz);
    }
    if (r->cookie) {
        crypto_wipe(r->cookie, strlen(r->cookie));
        free(r->cookie);
    }
    if (r->body.data)
        crypto_wipe(r->body.data, r->body.len);
    buf_release(&r->body);
    json_decref(r->json);
    json_decref(r->audit_detail);
    free(r->resp);
    free(r->file_buf);
    buf_release(&r->out);
    buf_release(&r->stream);
    free(r);
}

/* ---- answers ---- */

void http_add_header(struct req *r, const char *name, const char *value)
{
    size_t l = strlen(r->extra_hdrs);
    snprintf(r->extra_hdrs + l, sizeof r->extra_hdrs - l, "%s:%s\n", name, value);
}

void http_reply_raw(struct req *r, int status, const char *ctype, char *body, size_t len)
{
    if (r->replied) {
        log_error("http", "second answer to one request (%s %s)", router_method_name(r->method),
                  r->path);
        free(body);
        return;
    }
    r->replied = 1;
    r->status = status;
    r->ctype = ctype;
    r->resp = body;
    r->resp_len = len;
    audit(r);
}

void http_reply_json(struct req *r, int status, json_t *body)
{
    size_t len = 0;
    char *s = body ? jx_dump(body, &len) : NULL;
    json_decref(body);
    if (!s) { /* json_pack failed (NULL body) or memory ran out */
        http_reply_error(r, 500, "internal", "the answer could not be built");
        return;
    }
    http_reply_raw(r, status, "application/json", s, len);
}

#define OUT_MAX (64u * 1024 * 1024)

struct jw *http_json(struct req *r)
{
    if (!r->jw.b) {
        buf_init(&r->out, OUT_MAX);
        buf_reserve(&r->out, 2000); /* most answers fit: no regrowth */
        jw_init(&r->jw, &r->out);
    }
    return &r->jw;
}

void http_reply_jw(struct req *r, int status)
{
    struct jw *w = http_json(r);
    if (jw_failed(w) || w->depth != 0 || !r->out.data) {
        buf_release(&r->out);
        http_reply_error(r, 500, "internal", "the answer could not be written");
        return;
    }
    size_t len;
    char *s = buf_steal(&r->out, &len);
    http_reply_raw(r, status, "application/json", s, len);
}

/* Total: whatever request text the message holds, the answer is valid
 * JSON (jx_error_answer owns the sanitising and the cut). The buffer is
 * larger than the cut, so vsnprintf's own truncation is never kept. */
void http_reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[2 * JX_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t ml = n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1 : (size_t)n;
    size_t len = 0;
    char *body = jx_error_answer(code, msg, ml, &len);
    if (!body) { /* out of memory: the status alone */
        http_reply_raw(r, status, NULL, NULL, 0);
        return;
    }
    http_reply_raw(r, status, "application/json", body, len);
}

void http_reply_empty(struct req *r, int status) { http_reply_raw(r, status, NULL, NULL, 0); }

/* ---- streamed answers (http.h) ----
 * The header goes out without a content length (lws then adds
 * "connection: close"), queued bytes follow on each WRITEABLE, and after
 * the end one more WRITEABLE closes the connection, so lws has flushed
 * whatever it buffered of the last write. */

int http_stream_begin(struct req *r, const char *ctype)
{
    if (r->replied || !r->wsi)
        return -1;
    r->replied = 1;
    r->streaming = 1;
    r->status = 200;
    r->ctype = ctype;
    buf_init(&r->stream, HTTP_STREAM_MAX);
    audit(r);
    lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0); /* a follow may last long */
    lws_callback_on_writable(r->wsi);
    return 0;
}

int http_stream_write(struct req *r, const void *data, size_t len)
{
    if (!r->wsi || !r->streaming || r->stream_ended)
        return -1;
    int was_empty = r->stream.len == 0;
    if (buf_append(&r->stream, data, len) < 0)
        return -1;
    /* The stall deadline starts when bytes wait (only a write renews it):
     * lws may still hold an earlier write the client never read. */
    if (was_empty && len)
        lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT, HTTP_STALL_S);
    lws_callback_on_writable(r->wsi);
    return 0;
}

void http_stream_end(struct req *r)
{
    r->stream_ended = 1;
    r->stream_gone = NULL; /* the feeder lets go of it now */
    r->stream_drained = NULL;
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
}

/* ---- request helpers ---- */

/* Looked up on first use (a getpeername per request otherwise): only
 * audit rows, rate limits and the access log need it. */
const char *req_ip(struct req *r)
{
    if (!r->ip[0] && r->wsi) {
        lws_get_peer_simple(r->wsi, r->ip, sizeof r->ip);
        if (strncmp(r->ip, "::ffff:", 7) == 0) /* v4-mapped: show the v4 address */
            memmove(r->ip, r->ip + 7, strlen(r->ip + 7) + 1);
    }
    return r->ip;
}

json_t *req_json(struct req *r)
{
    if (r->json)
        return r->json;
    char err[256];
    r->json = jx_parse_object(r->body.data ? r->body.data : "", r->body.len, err, sizeof err);
    if (!r->json)
        http_reply_error(r, 400, "invalid_json", "%s", err);
    return r->json;
}

/* Every argument fits in QUERY_MAX (on_request refuses longer queries), so
 * a fragment copy fails only past the last one. lws' own
 * lws_get_urlarg_by_name stops at the first argument longer than its
 * buffer, and a value that does not fit was silently "absent". */
const char *req_query(struct req *r, const char *name, char *buf, int len)
{
    char frag[QUERY_MAX + 1];
    size_t nl = strlen(name);
    if (!r->wsi || len < 1)
        return NULL;
    for (int i = 0; i < 256; i++) {
        int fl = lws_hdr_copy_fragment(r->wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (fl < 0)
            return NULL;
        if ((size_t)fl <= nl || memcmp(frag, name, nl) != 0 || frag[nl] != '=')
            continue;
        size_t vl = (size_t)fl - nl - 1;
        if (vl >= (size_t)len) {
            http_reply_error(r, 400, "invalid_query", "query parameter '%s' is too long "
                             "(at most %d bytes)", name, len - 1);
            return NULL;
        }
        memcpy(buf, frag + nl + 1, vl + 1);
        return buf;
    }
    return NULL;
}

/* Custom (non-standard) request headers, e.g. X-Hub-Signature-256 for the
 * git webhooks (hooks.c): lws keeps them by lower-cased name + ':'. */
const char *req_header(struct req *r, const char *name, char *buf, int len)
{
    char key[80];
    size_t n = strlen(name);
    if (!r->wsi || len < 1 || n + 2 > sizeof key)
        return NULL;
    for (size_t i = 0; i < n; i++)
        key[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    key[n] = ':';
    key[n + 1] = '\0';
    if (lws_hdr_custom_copy(r->wsi, buf, len, key, (int)n + 1) < 0)
        return NULL;
    return buf;
}

static const enum lws_token_indexes std_hdr_tok[] = {
    [REQ_HDR_ORIGIN] = WSI_TOKEN_ORIGIN,
    [REQ_HDR_HOST] = WSI_TOKEN_HOST,
    [REQ_HDR_IF_NONE_MATCH] = WSI_TOKEN_HTTP_IF_NONE_MATCH,
    [REQ_HDR_ACCEPT_ENCODING] = WSI_TOKEN_HTTP_ACCEPT_ENCODING,
};

int req_std_header_present(struct req *r, enum req_hdr h)
{
    if (!r->wsi || (unsigned)h >= sizeof std_hdr_tok / sizeof std_hdr_tok[0])
        return 0;
    return lws_hdr_total_length(r->wsi, std_hdr_tok[h]) > 0;
}

const char *req_std_header(struct req *r, enum req_hdr h, char *buf, int len)
{
    const enum lws_token_indexes *tok = std_hdr_tok;
    if (!r->wsi || len < 1 || (unsigned)h >= sizeof std_hdr_tok / sizeof std_hdr_tok[0])
        return NULL;
    int n = lws_hdr_total_length(r->wsi, tok[h]);
    if (n <= 0 || n >= len || lws_hdr_copy(r->wsi, buf, len, tok[h]) < 0 || strlen(buf) != (size_t)n)
        return NULL;
    return buf;
}

static int field_err(struct req *r, int rc, const char *field, const char *want, int required)
{
    if (rc == JX_WRONG_TYPE) {
        http_reply_error(r, 400, "invalid_field", "field '%s' must be %s", field, want);
        return -1;
    }
    if (rc == JX_MISSING) {
        if (required) {
            http_reply_error(r, 422, "missing_field", "field '%s' is required", field);
            return -1;
        }
        return 0;
    }
    return 1;
}

int req_str(struct req *r, json_t *o, const char *field, int required, const char **out)
{
    return field_err(r, jx_string(o, field, out), field, "a string", required);
}

int req_int(struct req *r, json_t *o, const char *field, int required, int64_t *out)
{
    return field_err(r, jx_int(o, field, out), field, "an integer", required);
}

int req_bool(struct req *r, json_t *o, const char *field, int required, int *out)
{
    return field_err(r, jx_bool(o, field, out), field, "a boolean", required);
}

int req_array(struct req *r, json_t *o, const char *field, int required, json_t **out)
{
    return field_err(r, jx_array(o, field, out), field, "an array", required);
}

int req_only_fields(struct req *r, json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = 1;
        if (!ok) {
            http_reply_error(r, 400, "unknown_field", "unknown field '%s'", key);
            return -1;
        }
    }
    return 0;
}

/* ---- async ---- */

void http_defer(struct req *r)
{
    req_ip(r); /* while the client is there: the completion may outlive it */
    r->pending = 1;
}

int http_gone(struct req *r)
{
    if (r->wsi)
        return 0;
    r->pending = 0;
    req_release(r);
    return 1;
}

void http_complete(struct req *r)
{
    r->pending = 0;
    if (!r->wsi) {
        req_release(r);
        return;
    }
    if (!r->replied)
        http_reply_error(r, 500, "internal", "the request was not answered");
    lws_callback_on_writable(r->wsi);
}

/* ---- the request life cycle ---- */

static void finish_metrics(struct req *r)
{
    uint64_t us = util_mono_us() - r->started_us;
    metrics_http(r->srv->metrics, r->route ? r->route->pattern : NULL, r->method, r->status, us);
    if (r->srv->cfg.access_log)
        log_info("http", "%s %s %d %.2fms %s", router_method_name(r->method), r->path, r->status,
                 (double)us / 1000.0, req_ip(r));
}

/* ---- file answers (http_reply_file) ----
 * One piece at a time: a pool job reads the next HTTP_FILE_PIECE while the
 * request is pending (so a client gone meanwhile only detaches it), its
 * completion asks for WRITEABLE, and the piece goes out in CHUNK writes.
 * The next read starts only when the piece is written: a slow reader holds
 * one piece and no pool time. */
struct file_read {
    struct req *r;
    int fd;
    uint64_t off;
    size_t want;
    char *buf;      /* the job's own until done */
    ssize_t got;
};

static void file_read_work(void *arg)
{
    struct file_read *j = arg;
    size_t have = 0;
    while (have < j->want) {
        ssize_t n = pread(j->fd, j->buf + have, j->want - have, (off_t)(j->off + have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    j->got = have == j->want ? (ssize_t)have : -1; /* short: the file shrank */
}

static void file_read_done(void *arg)
{
    struct file_read *j = arg;
    struct req *r = j->r;
    r->file_buf = j->buf;
    r->file_len = j->got < 0 ? 0 : (size_t)j->got;
    r->file_pos = 0;
    /* A failed read leaves file_off past file_size: write_file_piece closes
     * (the header already promised the length). */
    r->file_off = j->got < 0 ? UINT64_MAX : r->file_off + r->file_len;
    free(j);
    r->pending = 0;
    if (!r->wsi) {
        req_release(r);
        return;
    }
    lws_callback_on_writable(r->wsi);
}

/* Starts the read of the next piece; 0, or -1 when it cannot. */
static int file_read_next(struct req *r)
{
    struct file_read *j = calloc(1, sizeof *j);
    uint64_t left = r->file_size - r->file_off;
    if (!j)
        return -1;
    j->r = r;
    j->fd = r->file_fd;
    j->off = r->file_off;
    j->want = left > HTTP_FILE_PIECE ? HTTP_FILE_PIECE : (size_t)left;
    j->buf = r->file_buf ? r->file_buf : malloc(HTTP_FILE_PIECE);
    r->file_buf = NULL; /* the job's until it is done */
    r->file_len = r->file_pos = 0;
    if (!j->buf) {
        free(j);
        return -1;
    }
    r->pending = 1;
    if (pool_submit(r->srv->pool, file_read_work, file_read_done, j) < 0) {
        r->pending = 0;
        r->file_buf = j->buf;
        free(j);
        return -1;
    }
    return 0;
}

void http_reply_file(struct req *r, int status, const char *ctype, int fd, uint64_t size)
{
    if (r->replied) {
        close(fd);
        http_reply_raw(r, status, ctype, NULL, 0); /* logs the second answer */
        return;
    }
    r->file_fd = fd;
    r->file_size = size;
    r->file_off = 0;
    http_reply_raw(r, status, ctype, NULL, 0);
}

/* Writes the header bytes already in [start, p) and up to CHUNK more of
 * src[*pos, len). The write is the answer's last when it empties src and
 * nothing follows (!more). 1 after the last write, 0 when more remains, -1
 * on error. */
static int write_piece(struct lws *wsi, unsigned char *start, unsigned char *p, const char *src,
                       size_t len, size_t *pos, int more)
{
    size_t n = len - *pos;
    if (n > CHUNK)
        n = CHUNK;
    if (n)
        memcpy(p, src + *pos, n);
    p += n;
    *pos += n;
    int last = !more && *pos >= len;
    int w = (int)(p - start);
    if ((w || last) && lws_write(wsi, start, (size_t)w, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != w)
        return -1;
    return last;
}

/* The file answer's next write (header already in [start, p)): 1 when all
 * is written, 0 when more remains (a read started or writable requested),
 * -1 to close. */
static int write_file_piece(struct lws *wsi, struct req *r, unsigned char *start,
                            unsigned char *p)
{
    if (r->file_off > r->file_size) /* a read failed after the header promised a length */
        return -1;
    int rc = write_piece(wsi, start, p, r->file_buf, r->file_len, &r->file_pos,
                         r->file_off < r->file_size);
    if (rc != 0)
        return rc;
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, HTTP_STALL_S);
    if (r->file_pos < r->file_len) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    return file_read_next(r) < 0 ? -1 : 0;
}

/* Writes (part of) the answer. Returns 1 when all is written, 0 when more
 * remains (writable requested), -1 on error. */
static int write_answer(struct lws *wsi, struct req *r)
{
    static unsigned char b[LWS_PRE + HDR_ROOM + CHUNK];
    unsigned char *start = b + LWS_PRE, *p = start, *hend = start + HDR_ROOM;

    if (!r->hdr_sent) {
        lws_filepos_t clen = r->streaming        ? LWS_ILLEGAL_HTTP_CONTENT_LEN
                             : r->file_fd >= 0 ? (lws_filepos_t)r->file_size
                                               : (lws_filepos_t)r->resp_len;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, clen, &p, hend) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)(r->cache_control ? r->cache_control : "no-store"),
                                        (int)strlen(r->cache_control ? r->cache_control : "no-store"), &p, hend))
            return -1;
        char *line = r->extra_hdrs;
        while (*line) {
            char *nl = strchr(line, '\n');
            char *colon = strchr(line, ':');
            if (!nl || !colon || colon > nl)
                break;
            char name[64];
            size_t nlen = (size_t)(colon - line) + 1;
            if (nlen >= sizeof name)
                break;
            memcpy(name, line, nlen);
            name[nlen] = '\0';
            if (lws_add_http_header_by_name(wsi, (unsigned char *)name,
                                            (unsigned char *)colon + 1,
                                            (int)(nl - colon - 1), &p, hend))
                return -1;
            line = nl + 1;
        }
        if (lws_finalize_http_header(wsi, &p, hend))
            return -1;
        r->hdr_sent = 1;
    }
    if (r->streaming) { /* queued stream bytes instead of resp */
        size_t n = r->stream.len > CHUNK ? CHUNK : r->stream.len;
        if (n) {
            memcpy(p, r->stream.data, n);
            memmove(r->stream.data, r->stream.data + n, r->stream.len - n);
            r->stream.len -= n;
        }
        p += n;
        int len = (int)(p - start);
        if (len && lws_write(wsi, start, (size_t)len, LWS_WRITE_HTTP) != len)
            return -1;
        if (r->stream.len < HTTP_STREAM_LOW && r->stream_drained && !r->stream_ended)
            r->stream_drained(r); /* may queue more, or end the stream */
        /* A reader that stops with bytes queued is closed when no write
         * makes progress for HTTP_STALL_S; an idle follow has no deadline. */
        lws_set_timeout(wsi, r->stream.len ? PENDING_TIMEOUT_HTTP_CONTENT : NO_PENDING_TIMEOUT,
                        r->stream.len ? HTTP_STALL_S : 0);
        if (r->stream.len || (r->stream_ended && !r->stream_last_sent)) {
            r->stream_last_sent = r->stream_ended && !r->stream.len;
            lws_callback_on_writable(wsi);
            return 0;
        }
        return r->stream_ended ? 1 : 0;
    }
    if (r->file_fd >= 0)
        return write_file_piece(wsi, r, start, p);
    int rc = write_piece(wsi, start, p, r->resp, r->resp_len, &r->resp_off, 0);
    if (rc == 0)
        lws_callback_on_writable(wsi);
    return rc;
}

/* Sends what is ready; returns the value the lws callback should return. */
static int pump(struct lws *wsi, struct pss *pss)
{
    struct req *r = pss->r;
    if (!r || !r->replied || r->pending)
        return 0;
    unqueue(r); /* written now, not at the end of the pass */
    int rc = write_answer(wsi, r);
    if (rc < 0) { /* the client is gone (reset): its follower lets go too */
        pss->r = NULL;
        req_release(r);
        return -1;
    }
    if (rc == 0)
        return 0;
    finish_metrics(r);
    int close_after = r->close_after || r->streaming;
    pss->r = NULL;
    req_release(r);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Answers written at the end of the loop pass. One pass serves every
 * connection that was readable; writing all their answers back to back
 * (instead of one between each request's handling) means the client is
 * woken once for the lot rather than once per answer, which on loopback
 * was a large part of each send's cost. Only whole answers in one write
 * on a connection that stays open are queued; the rest go out at once. */
static struct req *flush_head, *flush_tail;
static struct ev_loop *loop;
static ev_check flush_check;
static ev_idle flush_soon; /* keeps the poll from blocking while answers wait */
static int flush_on;

static void unqueue(struct req *r)
{
    if (!r->queued)
        return;
    if (r->flush_prev)
        r->flush_prev->flush_next = r->flush_next;
    else
        flush_head = r->flush_next;
    if (r->flush_next)
        r->flush_next->flush_prev = r->flush_prev;
    else
        flush_tail = r->flush_prev;
    r->flush_next = r->flush_prev = NULL;
    r->queued = 0;
}

static void on_flush(struct ev_loop *l, ev_check *w, int revents)
{
    (void)l, (void)w, (void)revents;
    if (flush_on)
        ev_idle_stop(loop, &flush_soon);
    while (flush_head) {
        struct req *r = flush_head;
        struct lws *wsi = r->wsi;
        struct pss *pss = lws_wsi_user(wsi);
        unqueue(r);
        if (pump(wsi, pss) < 0) /* outside lws' callbacks: close at its next pass */
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    }
}

static void on_flush_soon(struct ev_loop *l, ev_idle *w, int revents)
{
    (void)l, (void)w, (void)revents;
}

/* After dispatch: queue the answer for the end of the pass when it can
 * wait, else write it now. */
static int answer(struct lws *wsi, struct pss *pss)
{
    struct req *r = pss->r;
    if (r && r->replied && !r->pending && !r->streaming && !r->close_after &&
        r->resp_len <= CHUNK && r->wsi == wsi && flush_on) {
        /* Queued outside the I/O phase (lws serves pipelined requests from
         * its idle callback), the check would wait for the next poll:
         * make that poll not block. */
        if (!flush_head)
            ev_idle_start(loop, &flush_soon);
        r->queued = 1;
        r->flush_next = NULL;
        r->flush_prev = flush_tail;
        if (flush_tail)
            flush_tail->flush_next = r;
        else
            flush_head = r;
        flush_tail = r;
        return 0;
    }
    return pump(wsi, pss);
}

/* Routes and runs the handler: at most once per request, whatever lws
 * calls back afterwards. */
static void dispatch(struct req *r)
{
    int path_matched = 0;
    if (r->dispatched)
        return;
    r->dispatched = 1;
    if (r->method == HM_OTHER) {
        r->close_after = 1;
        http_reply_error(r, 405, "method_not_allowed", "the method is not allowed");
        return;
    }
    r->route = router_match(r->method, r->path, r->params, &r->nparams, &path_matched);
    if (!r->route && path_matched == ROUTER_NO_PATH && r->srv->unrouted && r->srv->unrouted(r))
        return; /* the dashboard's page or a static file (web.c) */
    if (!r->route) {
        if (path_matched == ROUTER_OTHER_METHOD)
            http_reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s",
                             router_method_name(r->method), r->path);
        else if (path_matched == ROUTER_BAD_PARAM)
            http_reply_error(r, 400, "invalid_path", "a path segment of %s is not a valid name "
                             "or id", r->path);
        else
            http_reply_error(r, 404, "not_found", "no such endpoint: %s", r->path);
        return;
    }
    if (guard(r) < 0)
        return;
    r->route->fn(r);
    if (!r->replied && !r->pending)
        http_reply_error(r, 500, "internal", "the request was not answered");
}

/* lws decodes %00 in the path into a NUL that it stores but does not count
 * in the path's length (lws 4.1.6 issue_char), so "/servers/%00/x" would
 * route as "/servers/" and "/servers/%00" as the server list. A NUL before
 * the end shows as strlen < length. One at the end shows only in lws'
 * header store, where the path is followed by its terminating NUL and then
 * either the HTTP version (no query) or, one byte further on, the first
 * query argument: if that is not where lws' own copy of it says, NULs were
 * in between. Relies on lws 4.1.6's header store layout; the security test
 * `/servers/%00` fails if a later lws changes it. 1 when the path holds a
 * NUL (or cannot be shown not to). */
static int path_has_nul(struct lws *wsi, const char *uri, int len)
{
    char first[QUERY_MAX + 1];
    if (strlen(uri) != (size_t)len)
        return 1;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) <= 0 &&
        lws_hdr_copy_fragment(wsi, first, sizeof first, WSI_TOKEN_HTTP_URI_ARGS, 0) < 0)
        return uri[len + 1] == '\0'; /* "HTTP/1.1" follows the terminator */
    int fl = lws_hdr_copy_fragment(wsi, first, sizeof first, WSI_TOKEN_HTTP_URI_ARGS, 0);
    if (fl <= 0) /* "?" or "?&...": nothing to find; only a trailing '/' could hide one */
        return len > 0 && uri[len - 1] == '/';
    return memcmp(uri + len + 2, first, (size_t)fl) != 0 || uri[len + 2 + fl] != '\0';
}

static enum http_method method_of(struct lws *wsi, int *nul)
{
    char *uri;
    int len;
    int m = lws_http_get_uri_and_method(wsi, &uri, &len);
    *nul = m >= 0 && path_has_nul(wsi, uri, len);
    switch (m) {
    case LWSHUMETH_GET: return HM_GET;
    case LWSHUMETH_POST: return HM_POST;
    case LWSHUMETH_PUT: return HM_PUT;
    case LWSHUMETH_PATCH: return HM_PATCH;
    case LWSHUMETH_DELETE: return HM_DELETE;
    case LWSHUMETH_HEAD: return HM_HEAD;
    case LWSHUMETH_OPTIONS: return HM_OPTIONS;
    default: return HM_OTHER;
    }
}

#define AUTHZ_MAX 4096
#define COOKIE_MAX 8192
#define BODY_GRACE_S 10
#define BODY_MIN_RATE 4096 /* bytes per second, over the whole body */

/* Refused before routing: answered, and the connection closes after. */
static int refuse_early(struct lws *wsi, struct pss *pss, int status, const char *code,
                        const char *msg)
{
    http_reply_error(pss->r, status, code, "%s", msg);
    pss->r->dispatched = 1;
    pss->r->close_after = 1;
    return pump(wsi, pss);
}

static int on_request(struct lws *wsi, struct pss *pss, const char *path)
{
    struct srv *s = the_srv;
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->srv = s;
    r->wsi = wsi;
    r->started_us = util_mono_us();
    int nul = 0;
    r->method = method_of(wsi, &nul);
    r->content_length = -1;
    r->file_fd = -1;
    buf_init(&r->body, s->cfg.body_max);
    pss->r = r;

    int alen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (alen >= AUTHZ_MAX) {
        util_strlcpy(r->path, path, sizeof r->path);
        return refuse_early(wsi, pss, 431, "header_too_large",
                            "the Authorization header is over 4 KiB");
    }
    if (alen > 0) {
        r->authz = malloc((size_t)alen + 1);
        if (r->authz && lws_hdr_copy(wsi, r->authz, alen + 1, WSI_TOKEN_HTTP_AUTHORIZATION) < 0) {
            free(r->authz);
            r->authz = NULL;
        }
        /* lws keeps a NUL in a header value but leaves it out of the
         * length: the copy would be the value cut and shifted. */
        if (r->authz && strlen(r->authz) != (size_t)alen) {
            util_strlcpy(r->path, path, sizeof r->path);
            return refuse_early(wsi, pss, 400, "invalid_header",
                                "the Authorization header holds a NUL");
        }
    }
    /* The session cookie (guard.c) counts only without an Authorization
     * header, so bearer clients never see a cookie's limits. */
    int clen = alen > 0 ? 0 : lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE);
    if (clen >= COOKIE_MAX) {
        util_strlcpy(r->path, path, sizeof r->path);
        return refuse_early(wsi, pss, 431, "header_too_large", "the Cookie header is over 8 KiB");
    }
    if (clen > 0) {
        r->cookie = malloc((size_t)clen + 1);
        if (r->cookie && lws_hdr_copy(wsi, r->cookie, clen + 1, WSI_TOKEN_HTTP_COOKIE) < 0) {
            free(r->cookie);
            r->cookie = NULL;
        }
        if (r->cookie && strlen(r->cookie) != (size_t)clen) {
            util_strlcpy(r->path, path, sizeof r->path);
            return refuse_early(wsi, pss, 400, "invalid_header", "the Cookie header holds a NUL");
        }
    }
    char cl[32];
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        int64_t v;
        if (util_parse_i64(cl, &v) == 0 && v >= 0)
            r->content_length = v;
    }

    if (util_strlcpy(r->path, path, sizeof r->path) < 0 ||
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) > QUERY_MAX)
        return refuse_early(wsi, pss, 414, "uri_too_long", "the request URI is too long");
    if (nul)
        return refuse_early(wsi, pss, 400, "invalid_path", "the request path holds a NUL (%00) or a line break");
    if (r->content_length > (int64_t)s->cfg.body_max) {
        http_reply_error(r, 413, "payload_too_large",
                         "request body is %lld bytes; the limit is %zu bytes",
                         (long long)r->content_length, s->cfg.body_max);
        r->close_after = 1;
        return pump(wsi, pss);
    }
    int has_body_method = r->method == HM_POST || r->method == HM_PUT || r->method == HM_PATCH;
    if (has_body_method && r->content_length < 0) {
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
            http_reply_error(r, 411, "length_required", "send the body with a Content-Length "
                             "(chunked request bodies are not accepted)");
            r->close_after = 1;
            return pump(wsi, pss);
        }
        /* No Content-Length and no Transfer-Encoding: an empty body (RFC
         * 9112 6.3). lws would wait for one, so answer and close. */
        r->close_after = 1;
        dispatch(r);
        return pump(wsi, pss);
    }
    /* Wait for the body when there is one (lws also sends an empty body
     * callback for a POST with an explicit zero length). lws renews its own
     * timeout on every piece, so a body dripped a byte at a time would never
     * end: the whole body must arrive by a deadline set by its length. */
    if (r->content_length > 0 || (r->method == HM_POST && r->content_length == 0)) {
        r->body_deadline_us = r->started_us + (uint64_t)BODY_GRACE_S * 1000000u +
                              (uint64_t)r->content_length * 1000000u / BODY_MIN_RATE;
        return 0;
    }
    dispatch(r);
    return answer(wsi, pss);
}

/* The endpoint (srv->upgrades) that serves the upgrade's path, or NULL. */
static const struct srv_upgrade *upgrade_of(struct lws *wsi)
{
    char uri[512];
    if (!the_srv || lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
        return NULL;
    for (size_t i = 0; i < the_srv->nupgrades; i++)
        if (the_srv->upgrades[i].match(uri))
            return &the_srv->upgrades[i];
    return NULL;
}

/* Writes an answer from an upgrade check (JSON body of n bytes, at most
 * 1 KiB): 1 tells lws the answer is written, -1 drops the connection. */
static int write_upgrade_answer(struct lws *wsi, unsigned status, const char *body, size_t n)
{
    unsigned char b[LWS_PRE + 1536], *start = b + LWS_PRE, *p = start, *end = b + sizeof b;
    int rc = -1;
    if (!body || n > 1024)
        return -1;
    if (lws_add_http_common_headers(wsi, status, "application/json", (lws_filepos_t)n, &p,
                                    end - n) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                    (const unsigned char *)"close", 5, &p, end - n) ||
        lws_finalize_http_header(wsi, &p, end - n))
        goto done;
    memcpy(p, body, n);
    p += n;
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) != (int)(p - start))
        goto done;
    rc = 1;
done:
    return rc;
}

/* An answer written from the upgrade check (there is no req). */
static int refuse_upgrade(struct lws *wsi, unsigned status, const char *code, const char *msg)
{
    size_t n = 0;
    char *body = jx_error_answer(code, msg, strlen(msg), &n);
    int rc = write_upgrade_answer(wsi, status, body, n);
    free(body);
    return rc;
}

struct req *http_upgrade_req(struct srv *s, struct lws *wsi)
{
    struct req *r = calloc(1, sizeof *r);
    char path[sizeof r->path];
    int alen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (!r)
        return NULL;
    r->srv = s;
    r->wsi = wsi;
    r->started_us = util_mono_us();
    r->method = HM_GET;
    r->content_length = -1;
    r->file_fd = -1;
    buf_init(&r->body, 1);
    r->dispatched = 1;
    if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0 ||
        strlen(path) != (size_t)lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
        http_reply_error(r, 400, "invalid_path", "the request path is too long or holds a NUL");
        return r;
    }
    util_strlcpy(r->path, path, sizeof r->path);
    if (alen >= AUTHZ_MAX) {
        http_reply_error(r, 431, "header_too_large", "the Authorization header is over 4 KiB");
        return r;
    }
    if (alen > 0) {
        r->authz = malloc((size_t)alen + 1);
        if (r->authz && (lws_hdr_copy(wsi, r->authz, alen + 1, WSI_TOKEN_HTTP_AUTHORIZATION) < 0 ||
                         strlen(r->authz) != (size_t)alen)) {
            free(r->authz);
            r->authz = NULL;
            http_reply_error(r, 400, "invalid_header", "the Authorization header holds a NUL");
            return r;
        }
    }
    /* A browser cannot set Authorization on a WebSocket: the session cookie
     * then (the endpoint checks the upgrade's Origin; guard.c reads it). */
    int clen = alen > 0 ? 0 : lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE);
    if (clen >= COOKIE_MAX) {
        http_reply_error(r, 431, "header_too_large", "the Cookie header is over 8 KiB");
        return r;
    }
    if (clen > 0) {
        r->cookie = malloc((size_t)clen + 1);
        if (r->cookie && (lws_hdr_copy(wsi, r->cookie, clen + 1, WSI_TOKEN_HTTP_COOKIE) < 0 ||
                          strlen(r->cookie) != (size_t)clen)) {
            free(r->cookie);
            r->cookie = NULL;
            http_reply_error(r, 400, "invalid_header", "the Cookie header holds a NUL");
            return r;
        }
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) > QUERY_MAX) {
        http_reply_error(r, 414, "uri_too_long", "the request URI is too long");
        return r;
    }
    int path_matched = 0;
    r->route = router_match(r->method, r->path, r->params, &r->nparams, &path_matched);
    if (!r->route)
        http_reply_error(r, path_matched == ROUTER_BAD_PARAM ? 400 : 404,
                         path_matched == ROUTER_BAD_PARAM ? "invalid_path" : "not_found",
                         "no such WebSocket endpoint: %s", r->path);
    else
        guard(r); /* a refusal is kept in r, and audited */
    return r;
}

int http_upgrade_done(struct req *r, struct lws *wsi)
{
    int rc = 0;
    if (r && r->replied)
        rc = write_upgrade_answer(wsi, (unsigned)r->status, r->resp, r->resp_len);
    if (r && r->replied && rc < 0)
        rc = -1;
    if (r) {
        r->wsi = NULL;
        req_release(r);
    }
    return rc;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (pss->r) /* a previous request that never finished */
            return -1;
        return on_request(wsi, pss, (const char *)in);

    case LWS_CALLBACK_HTTP_BODY:
        if (!pss->r || pss->r->replied || pss->r->dispatched)
            return 0;
        if (util_mono_us() > pss->r->body_deadline_us)
            return refuse_early(wsi, pss, 408, "request_timeout",
                                "the request body arrived too slowly");
        if (len && buf_append(&pss->r->body, in, len) < 0) {
            http_reply_error(pss->r, 413, "payload_too_large", "request body is over the limit");
            pss->r->close_after = 1;
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!pss->r)
            return -1;
        if (pss->r->dispatched) {
            /* lws calls this again for each byte past the body (its state
             * stays "body" with nothing remaining). The request is handled
             * once; the connection closes after its answer. */
            pss->r->close_after = 1;
            return 0;
        }
        if (!pss->r->replied)
            dispatch(pss->r);
        pss->r->dispatched = 1;
        return answer(wsi, pss);

    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pump(wsi, pss);

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss && pss->r) {
            req_release(pss->r);
            pss->r = NULL;
        }
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* Upgrades are served only where an endpoint registered (the
         * runner link, terminals); each authenticates here, where a
         * refusal can still be an HTTP answer. Any other path would
         * otherwise become a WebSocket of protocol "http" that nothing
         * reads and no timeout ends. */
        {
            const struct srv_upgrade *u = upgrade_of(wsi);
            if (!u)
                return refuse_upgrade(wsi, 400, "upgrade_refused",
                                      "WebSocket upgrades are served only at /runner/v1 and "
                                      "terminal endpoints");
            return u->confirm(the_srv, wsi, (const char *)in);
        }

    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* the front's TLS vhost, at its creation: its SSL_CTX (user) */
        if (the_srv && the_srv->tls_ctx && in &&
            strcmp(lws_get_vhost_name((struct lws_vhost *)in), "default") == 0)
            the_srv->tls_ctx(the_srv, user);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (the_srv && the_srv->pool)
            pool_drain(the_srv->pool);
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- what lws cannot parse as HTTP ----
 * lws answers a method it does not know (TRACE, FOO) with its own HTML 403,
 * and turns CONNECT into a raw socket that nothing reads and no timeout
 * ends. With LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG both
 * come here instead (as does plain HTTP on a TLS port): one JSON answer,
 * then the connection closes. */
/* lws 4.1.6 sizes an accepted connection's session data by the fallback
 * protocol but calls cb_http with it when the request line fails to parse
 * (`GET /x%00`): the same layout, with r first and NULL, keeps that safe. */
struct raw_pss {
    struct req *r; /* always NULL */
    int status;
};

static int cb_raw(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct raw_pss *p = user;
    const unsigned char *c = in;
    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        p->status = 405; /* CONNECT arrives with nothing left to read */
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        if (p && len) { /* an unknown method is a token of capitals then a space */
            size_t i = 0;
            while (i < len && i < 32 && c[i] >= 'A' && c[i] <= 'Z')
                i++;
            p->status = (i > 0 && i < len && c[i] == ' ') ? 405 : 400;
            /* a method lws knows arriving here: plain HTTP on a TLS port */
            if (p->status == 405 && ((i == 3 && (memcmp(c, "GET", 3) == 0 || memcmp(c, "PUT", 3) == 0)) ||
                                     (i == 4 && (memcmp(c, "POST", 4) == 0 || memcmp(c, "HEAD", 4) == 0))))
                p->status = 400;
        }
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE: {
        unsigned char b[LWS_PRE + 512], *start = b + LWS_PRE;
        const char *body = p->status == 405
            ? "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"berthd serves GET, "
              "HEAD, POST, PUT, PATCH, DELETE and OPTIONS\"}}"
            : "{\"error\":{\"code\":\"bad_request\",\"message\":\"not an HTTP/1.1 request berthd "
              "can read (plain HTTP to an HTTPS port?)\"}}";
        int n = snprintf((char *)start, sizeof b - LWS_PRE,
                         "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                         "content-length: %zu\r\nconnection: close\r\n\r\n%s",
                         p->status, p->status == 405 ? "Method Not Allowed" : "Bad Request",
                         strlen(body), body);
        if (n > 0 && (size_t)n < sizeof b - LWS_PRE)
            lws_write(wsi, start, (size_t)n, LWS_WRITE_RAW);
        return -1;
    }
    default:
        return 0;
    }
}

#define RAW_PROTOCOL "berth-front-raw"

#define PROTOCOLS_MAX 8

static struct lws_protocols protocols[PROTOCOLS_MAX + 1] = {
    {"http", cb_http, sizeof(struct pss), 0, 0, NULL, 0},
    {RAW_PROTOCOL, cb_raw, sizeof(struct raw_pss), 0, 0, NULL, 0},
    /* then srv->ws_protocols (the runner link, terminals), then the end */
};

static void lws_log_emit(int level, const char *line)
{
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\n'))
        l--;
    log_msg(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", "%.*s", (int)l, line);
}

/* The event loop is libev's (epoll), with lws as a guest on it. lws' own
 * poll() loop scans every socket each pass, which at 10,000 runner links
 * cost 80-85% of berthd's CPU and 26-89 ms of job dispatch p99
 * (bench/fleet.sh). libev rather than libuv: lws asks for POLLOUT after
 * every answer on a kept-alive connection and clears it on the next pass,
 * libuv turns each such change into an epoll DEL + ADD (six epoll_ctl per
 * request, a quarter of berthd's CPU on bench/api.sh), libev into one MOD,
 * and none when the mask ends a pass unchanged. berthd is dynamically
 * linked, so lws' dlopen'ed libev plugin is fine here; the static runner
 * keeps lws' built-in loop (docs/architecture.md). */
static ev_signal sig_int, sig_term;

/* On the loop thread: stop taking work and let the loop wind down. */
static void begin_stop(struct srv *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    log_info("berthd", "stopping");
    ev_signal_stop(loop, &sig_int);
    ev_signal_stop(loop, &sig_term);
    on_flush(loop, &flush_check, 0);
    flush_on = 0;
    ev_check_stop(loop, &flush_check);
    ev_idle_stop(loop, &flush_soon);
    if (s->stopping_hook)
        s->stopping_hook(s);
    pool_set_context(s->pool, NULL);
    /* lws stops its watchers and frees the context (s->ctx turns NULL);
     * ev_run() in http_run returns once no watcher is left. */
    lws_context_destroy(s->ctx);
}

static void on_signal(struct ev_loop *l, ev_signal *w, int revents)
{
    (void)l, (void)revents;
    begin_stop(w->data);
}

void http_stop(struct srv *s) { begin_stop(s); }

int http_run(struct srv *s)
{
    the_srv = s;
    lws_set_log_level(LLL_ERR | (log_enabled(LOG_DEBUG) ? LLL_WARN : 0), lws_log_emit);

    /* One fd per connection: raise the soft limit to the hard one and size
     * lws' table to it. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = s->cfg.port;
    info.iface = s->cfg.listen_host;
    size_t np = 2;
    for (const struct lws_protocols *p = s->ws_protocols; p && p->name && np < PROTOCOLS_MAX;
         p++)
        protocols[np++] = *p;
    memset(&protocols[np], 0, sizeof protocols[np]);
    info.protocols = protocols;
    info.user = s;
    info.alpn = "http/1.1";
    /* Every connection state has a deadline: headers (timeout_secs_ah_idle,
     * the whole header from its first byte), a body (BODY_MIN_RATE, above),
     * an idle kept-alive connection (keepalive_timeout), an answer that
     * does not drain (HTTP_STALL_S); the runner link's own liveness is in
     * hub.c, a terminal's in term.c; no other upgrade is accepted. */
    info.keepalive_timeout = 30;
    info.timeout_secs = 20;
    info.timeout_secs_ah_idle = 10;
    /* Room for an 8 KiB URI or a 4 KiB Authorization header, so berthd
     * answers them (414, 431) instead of lws dropping the connection. */
    info.max_http_header_data = 16384;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV |
                   LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
    info.listen_accept_role = "raw-skt";
    info.listen_accept_protocol = RAW_PROTOCOL;
    void *foreign_loops[1] = {NULL}; /* the loop, once made */
    info.foreign_loops = foreign_loops;
    info.pcontext = &s->ctx; /* set to NULL once lws has freed it */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        info.fd_limit_per_thread = (unsigned)rl.rlim_cur;
    if (s->cfg.tls_cert[0] || s->cfg.tls_key[0]) {
        if (!s->cfg.tls_cert[0] || !s->cfg.tls_key[0]) {
            log_error("berthd", "TLS needs both a certificate and a key");
            return -1;
        }
        /* Say which file is wrong (and spare lws a failing init). */
        const char *files[2] = {s->cfg.tls_cert, s->cfg.tls_key};
        for (int i = 0; i < 2; i++)
            if (access(files[i], R_OK) < 0) {
                log_error("berthd", "cannot read TLS %s %s: %s", i ? "key" : "certificate",
                          files[i], strerror(errno));
                return -1;
            }
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = s->cfg.tls_cert;
        info.ssl_private_key_filepath = s->cfg.tls_key;
    }

    loop = ev_loop_new(EVBACKEND_EPOLL);
    if (!loop) {
        log_error("berthd", "cannot create the event loop");
        return -1;
    }
    foreign_loops[0] = loop;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        log_error("berthd", "cannot listen on %s:%d (in use, or bad TLS files?)",
                  s->cfg.listen_host, s->cfg.port);
        ev_loop_destroy(loop);
        return -1;
    }
    pool_set_context(s->pool, s->ctx);
    if (s->started && s->started(s) < 0) {
        lws_context_destroy(s->ctx);
        if (s->ctx)
            lws_context_destroy(s->ctx);
        s->ctx = NULL;
        ev_loop_destroy(loop);
        return -1;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(s->ctx, "default");
    int port = vh ? lws_get_vhost_listen_port(vh) : s->cfg.port;
    s->cfg.port = port;
    log_info("berthd", "listening on %s://%s:%d", s->cfg.tls_cert[0] ? "https" : "http",
             s->cfg.listen_host, port);

    signal(SIGPIPE, SIG_IGN);
    ev_signal_init(&sig_int, on_signal, SIGINT);
    ev_signal_init(&sig_term, on_signal, SIGTERM);
    sig_int.data = sig_term.data = s;
    ev_signal_start(loop, &sig_int);
    ev_signal_start(loop, &sig_term);
    /* Lowest priority: libev runs pending callbacks from the highest
     * priority down, so the flush comes after every read of the pass. */
    ev_check_init(&flush_check, on_flush);
    ev_set_priority(&flush_check, EV_MINPRI);
    ev_check_start(loop, &flush_check);
    ev_idle_init(&flush_soon, on_flush_soon);
    flush_on = 1;

    ev_run(loop, 0);

    if (s->ctx) /* not freed by the destroy in begin_stop */
        lws_context_destroy(s->ctx);
    s->ctx = NULL;
    ev_loop_destroy(loop);
    loop = NULL;
    return 0;
}
