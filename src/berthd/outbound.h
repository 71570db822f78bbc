/* outbound.h - berthd's own outbound HTTP requests (the GitHub App
 * installation token today, more later) all go through this one client
 * and its policy (docs/webhooks.md, "berthd's outbound requests"):
 *
 * - https only, unless BERTH_OUTBOUND_HTTP=1;
 * - no credentials in the URL, no proxy, no redirects followed;
 * - every address a connection is opened to is checked when the socket is
 *   opened (after curl resolved the name), so a name that resolves, or
 *   re-resolves, to loopback, link-local, private, shared, multicast or
 *   reserved space is refused unless that address is inside a range of
 *   BERTH_OUTBOUND_ALLOW (comma-separated CIDRs);
 * - connect within 5 s, whole exchange within 15 s, answer at most 64 KiB;
 * - its own threads (BERTH_OUTBOUND_THREADS, default 2) and a bounded
 *   queue, apart from the worker pool that runs logins, so a hung peer
 *   delays only other outbound requests, and a full queue refuses at once.
 *
 * outbound_submit runs work on an outbound thread and its completion on
 * the loop (through the worker pool's completion queue); outbound_fetch is
 * the only way to make a request and works only on an outbound thread. */
#ifndef BERTHD_OUTBOUND_H
#define BERTHD_OUTBOUND_H

#include <stddef.h>
#include <sys/socket.h>

struct config;
struct pool;
struct outbound;

#define OUTBOUND_BODY_MAX (64 * 1024)
#define OUTBOUND_QUEUE_MAX 32
#define OUTBOUND_CONNECT_MS 5000
#define OUTBOUND_TOTAL_MS 15000

struct outbound_req {
    const char *method;          /* "GET" or "POST" */
    const char *url;
    const char *const *headers;  /* "Name: value" lines, NULL-terminated, or NULL */
    const char *body;            /* POST body, or NULL for none */
    size_t body_len;
};

struct outbound_resp {
    long status;                 /* the HTTP status */
    char *body;                  /* malloc'ed, NUL-terminated (outbound_resp_release) */
    size_t len;
};

/* NULL (logged) when BERTH_OUTBOUND_ALLOW does not parse or out of
 * memory. Completions are queued on done_to (the worker pool; drained by
 * http.c), or on the outbound pool itself when NULL (outbound_drain). */
struct outbound *outbound_new(const struct config *c, struct pool *done_to);
/* Aborts transfers in flight, refuses what is queued (done(arg, 0)), joins
 * the threads. Before pool_free(done_to). */
void outbound_free(struct outbound *ob);
/* Runs the completions queued on the outbound pool itself (done_to NULL). */
void outbound_drain(struct outbound *ob);

typedef void (*outbound_work_fn)(struct outbound *ob, void *arg);
typedef void (*outbound_done_fn)(void *arg, int ran);
/* Loop thread. Runs work(ob, arg) on an outbound thread, then done(arg, 1)
 * on the loop; when the queue is full or berthd is stopping, done(arg, 0)
 * on the loop without running work. -1 (nothing will run) only when out
 * of memory. */
int outbound_submit(struct outbound *ob, outbound_work_fn work, outbound_done_fn done, void *arg);

/* Outbound threads only. One request under the policy: 0 with *rs filled
 * (any HTTP status), or -1 with err set (refused URL or address, no
 * connection, timeout, answer too large). */
int outbound_fetch(struct outbound *ob, const struct outbound_req *rq, struct outbound_resp *rs,
                   char *err, size_t errlen);
/* Wipes and frees the body. */
void outbound_resp_release(struct outbound_resp *rs);

/* Any thread, no DNS: the URL's scheme, credentials and, when its host is
 * an address literal or a localhost name, that address. For refusing a
 * URL when it is saved; outbound_fetch checks again, every address. 0, or
 * -1 with err set. */
int outbound_url_check(const struct outbound *ob, const char *url, char *err, size_t errlen);
/* 0 when a connection to sa may be opened, else -1 with err set naming
 * the address and its kind. */
int outbound_addr_check(const struct outbound *ob, const struct sockaddr *sa, char *err,
                        size_t errlen);

#endif
