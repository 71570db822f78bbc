/* outbound.c - the one client for berthd's own outbound HTTP requests and
 * its policy (outbound.h, docs/webhooks.md "berthd's outbound requests").
 *
 * Owns: the outbound threads and their bounded queue (a pool.c pool whose
 * completions go to the worker pool's queue), the parsed allow list, and
 * one libcurl easy handle per request, created and freed inside
 * outbound_fetch. Why the address check is at socket-open time: curl
 * resolves the name and hands each address it is about to connect to to
 * open_socket(); checking there checks exactly the address used, so a name
 * that answers a public address first and a private one later (DNS
 * rebinding) cannot slip between a check and the connection. */
#include "outbound.h"

#include "config.h"
#include "crypto.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ALLOW_MAX 16

struct cidr {
    int v6;
    uint8_t a[16];
    int bits;
};

struct outbound {
    struct pool *pool;
    struct pool *done_to;
    int http_ok;
    struct cidr allow[ALLOW_MAX];
    int nallow;
    atomic_int stopping;
};

/* The outbound this thread works for (set around each work item). */
static _Thread_local struct outbound *on_thread;

/* ---- address policy ---- */

struct range {
    uint8_t a[16];
    int bits;
    const char *kind;
};

/* IPv4 space no outbound request may reach unless allowed. */
static const struct range v4_refused[] = {
    {{0}, 8, "\"this network\""},
    {{10}, 8, "private"},
    {{100, 64}, 10, "shared (carrier-grade NAT)"},
    {{127}, 8, "loopback"},
    {{169, 254}, 16, "link-local"},
    {{172, 16}, 12, "private"},
    {{192, 0, 0}, 24, "IETF protocol"},
    {{192, 0, 2}, 24, "documentation"},
    {{192, 88, 99}, 24, "6to4 relay"},
    {{192, 168}, 16, "private"},
    {{198, 18}, 15, "benchmarking"},
    {{198, 51, 100}, 24, "documentation"},
    {{203, 0, 113}, 24, "documentation"},
    {{224}, 4, "multicast"},
    {{240}, 4, "reserved"},
};

static const struct range v6_refused[] = {
    {{0}, 128, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    {{0x00, 0x64, 0xff, 0x9b, 0, 1}, 48, "local NAT64"},
    {{0x01, 0x00}, 64, "discard"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0xfc}, 7, "unique-local (private)"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local"},
    {{0xff}, 8, "multicast"},
};

static int prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static int allowed(const struct outbound *ob, int v6, const uint8_t *a)
{
    for (int i = 0; i < ob->nallow; i++)
        if (ob->allow[i].v6 == v6 && prefix_eq(a, ob->allow[i].a, ob->allow[i].bits))
            return 1;
    return 0;
}

/* IPv6 forms that carry an IPv4 address: judged by that address. */
static const uint8_t *v6_embedded_v4(const uint8_t *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t compat[12] = {0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return a + 12;
    if (memcmp(a, compat, 12) == 0 && (a[12] | a[13] | a[14] | (a[15] > 1)))
        return a + 12; /* ::a.b.c.d (not :: or ::1) */
    if (a[0] == 0x20 && a[1] == 0x02)
        return a + 2; /* 6to4 */
    return NULL;
}

/* The refused kind of an address (v6: 16 bytes, else 4), or NULL when it
 * may be reached. */
static const char *addr_kind(const struct outbound *ob, int v6, const uint8_t *a)
{
    const uint8_t *v4 = v6 ? v6_embedded_v4(a) : NULL;
    if (v4)
        return addr_kind(ob, 0, v4);
    if (allowed(ob, v6, a))
        return NULL;
    const struct range *t = v6 ? v6_refused : v4_refused;
    size_t n = v6 ? sizeof v6_refused / sizeof v6_refused[0]
                  : sizeof v4_refused / sizeof v4_refused[0];
    for (size_t i = 0; i < n; i++)
        if (prefix_eq(a, t[i].a, t[i].bits))
            return t[i].kind;
    return NULL;
}

static int refuse(char *err, size_t n, const char *what, const char *kind)
{
    snprintf(err, n, "%s is a %s address (refused; BERTH_OUTBOUND_ALLOW lists the ranges "
                     "berthd may reach anyway)", what, kind);
    return -1;
}

int outbound_addr_check(const struct outbound *ob, const struct sockaddr *sa, char *err,
                        size_t errlen)
{
    char text[INET6_ADDRSTRLEN] = "?";
    const char *kind;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text);
        kind = addr_kind(ob, 0, (const uint8_t *)&s4->sin_addr);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text);
        kind = addr_kind(ob, 1, s6->sin6_addr.s6_addr);
    } else {
        snprintf(err, errlen, "only IPv4 and IPv6 connections are made");
        return -1;
    }
    return kind ? refuse(err, errlen, text, kind) : 0;
}

/* "a.b.c.d/n" or "v6/n" (a bare address: one host). */
static int cidr_parse(const char *s, struct cidr *c)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t l = slash ? (size_t)(slash - s) : strlen(s);
    int64_t bits = -1;
    if (l == 0 || l >= sizeof addr)
        return -1;
    memcpy(addr, s, l);
    addr[l] = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, addr, c->a) == 1)
        c->v6 = 0;
    else if (inet_pton(AF_INET6, addr, c->a) == 1)
        c->v6 = 1;
    else
        return -1;
    if (slash && util_parse_i64(slash + 1, &bits) < 0)
        return -1;
    int max = c->v6 ? 128 : 32;
    c->bits = slash ? (int)bits : max;
    return c->bits < 0 || c->bits > max ? -1 : 0;
}

static int allow_parse(struct outbound *ob, const char *list)
{
    char buf[512], *save = NULL;
    util_strlcpy(buf, list, sizeof buf);
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (ob->nallow >= ALLOW_MAX || cidr_parse(t, &ob->allow[ob->nallow]) < 0) {
            log_error("outbound", "BERTH_OUTBOUND_ALLOW: '%.60s' is not an address range "
                      "(a.b.c.d/n or v6/n, at most %d)", t, ALLOW_MAX);
            return -1;
        }
        ob->nallow++;
    }
    return 0;
}

/* ---- URLs ---- */

static int is_localhost_name(const char *h)
{
    size_t l = strlen(h);
    if (l && h[l - 1] == '.')
        l--;
    return (l == 9 && strncasecmp(h, "localhost", 9) == 0) ||
           (l > 10 && strncasecmp(h + l - 10, ".localhost", 10) == 0);
}

/* The host as an address, when it is one: 4 (IPv4), 6, or 0 (a name).
 * IPv4 in every form the resolver takes ("127.1", "0x7f000001"). */
static int host_addr(const char *host, uint8_t out[16])
{
    char h[256];
    struct in_addr in;
    util_strlcpy(h, host, sizeof h);
    if (h[0] == '[') {
        char *end = strchr(h, ']');
        if (!end)
            return -1;
        *end = '\0';
        char *zone = strchr(h + 1, '%');
        if (zone)
            *zone = '\0';
        return inet_pton(AF_INET6, h + 1, out) == 1 ? 6 : -1;
    }
    if (inet_aton(h, &in)) {
        memcpy(out, &in, 4);
        return 4;
    }
    return 0;
}

int outbound_url_check(const struct outbound *ob, const char *url, char *err, size_t errlen)
{
    int rc = -1;
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
    CURLU *u = curl_url();
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (strlen(url) > 500 || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        snprintf(err, errlen, "not an absolute URL with a host");
        goto done;
    }
    if (strcmp(scheme, "https") != 0 && !(ob->http_ok && strcmp(scheme, "http") == 0)) {
        snprintf(err, errlen, "%s", ob->http_ok ? "only http:// and https:// URLs are fetched"
                                                : "only https:// URLs are fetched "
                                                  "(BERTH_OUTBOUND_HTTP=1 allows http://)");
        goto done;
    }
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
    if (user || pass) {
        snprintf(err, errlen, "credentials in the URL are not sent");
        goto done;
    }
    uint8_t a[16] = {0};
    int fam = host_addr(host, a);
    if (fam < 0) {
        snprintf(err, errlen, "the host is not a name or an address");
        goto done;
    }
    if (fam == 0 && is_localhost_name(host)) {
        fam = 4;
        memcpy(a, (const uint8_t[4]){127, 0, 0, 1}, 4);
    }
    const char *kind = fam ? addr_kind(ob, fam == 6, a) : NULL;
    if (kind) {
        refuse(err, errlen, host, kind);
        goto done;
    }
    rc = 0;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return rc;
}

/* ---- one request (an outbound thread) ---- */

struct xfer {
    struct outbound *ob;
    struct outbound_resp *rs;
    int over;
    char refused[200];
};

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct xfer *x = arg;
    if (purpose != CURLSOCKTYPE_IPCXN ||
        outbound_addr_check(x->ob, &a->addr, x->refused, sizeof x->refused) < 0) {
        if (!x->refused[0])
            snprintf(x->refused, sizeof x->refused, "not a plain connection");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    struct outbound_resp *rs = x->rs;
    size_t k = size * n;
    if (rs->len + k > OUTBOUND_BODY_MAX) {
        x->over = 1;
        return 0;
    }
    char *d = realloc(rs->body, rs->len + k + 1);
    if (!d)
        return 0;
    memcpy(d + rs->len, p, k);
    rs->len += k;
    d[rs->len] = '\0';
    rs->body = d;
    return k;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct xfer *x = arg;
    return atomic_load(&x->ob->stopping) ? 1 : 0;
}

int outbound_fetch(struct outbound *ob, const struct outbound_req *rq, struct outbound_resp *rs,
                   char *err, size_t errlen)
{
    int rc = -1;
    struct xfer x = {ob, rs, 0, ""};
    struct curl_slist *hdrs = NULL;
    CURL *c = NULL;
    memset(rs, 0, sizeof *rs);
    if (on_thread != ob) {
        snprintf(err, errlen, "outbound requests run on the outbound threads only");
        return -1;
    }
    if (atomic_load(&ob->stopping)) {
        snprintf(err, errlen, "berthd is stopping");
        return -1;
    }
    if (outbound_url_check(ob, rq->url, err, errlen) < 0)
        return -1;
    if (!(c = curl_easy_init())) {
        snprintf(err, errlen, "cannot start an HTTP client");
        return -1;
    }
    for (const char *const *h = rq->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(hdrs, *h);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        hdrs = n;
    }
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, ob->http_ok ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &x);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)OUTBOUND_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)OUTBOUND_TOTAL_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)OUTBOUND_BODY_MAX);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "berthd");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(rq->body ? rq->body_len : 0));
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (x.refused[0])
            snprintf(err, errlen, "%s", x.refused);
        else if (x.over || cc == CURLE_FILESIZE_EXCEEDED)
            snprintf(err, errlen, "the answer is larger than %d KiB", OUTBOUND_BODY_MAX / 1024);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            snprintf(err, errlen, "no answer within %d s", OUTBOUND_TOTAL_MS / 1000);
        else if (cc == CURLE_ABORTED_BY_CALLBACK)
            snprintf(err, errlen, "berthd is stopping");
        else
            snprintf(err, errlen, "%s", curl_easy_strerror(cc));
        outbound_resp_release(rs);
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    rc = 0;
done:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

void outbound_resp_release(struct outbound_resp *rs)
{
    if (rs->body) {
        crypto_wipe(rs->body, rs->len);
        free(rs->body);
    }
    rs->body = NULL;
    rs->len = 0;
}

/* ---- the queue ---- */

struct call {
    struct outbound *ob;
    outbound_work_fn work;
    outbound_done_fn done;
    void *arg;
    int ran;
};

static void call_work(void *vp)
{
    struct call *c = vp;
    if (atomic_load(&c->ob->stopping))
        return;
    on_thread = c->ob;
    c->work(c->ob, c->arg);
    on_thread = NULL;
    c->ran = 1;
}

static void call_done(void *vp)
{
    struct call *c = vp;
    c->done(c->arg, c->ran);
    free(c);
}

int outbound_submit(struct outbound *ob, outbound_work_fn work, outbound_done_fn done, void *arg)
{
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ob, work, done, arg, 0};
    if (!atomic_load(&ob->stopping) && pool_submit(ob->pool, call_work, call_done, c) == 0)
        return 0;
    log_warn("outbound", "the outbound queue is full (%d waiting); a request is refused",
             OUTBOUND_QUEUE_MAX);
    if (pool_post(ob->done_to ? ob->done_to : ob->pool, call_done, c) == 0)
        return 0;
    free(c);
    return -1;
}

struct outbound *outbound_new(const struct config *cfg, struct pool *done_to)
{
    static int curl_ready;
    struct outbound *ob = calloc(1, sizeof *ob);
    if (!ob)
        return NULL;
    if (!curl_ready) { /* once, before any outbound thread uses curl */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            goto fail;
        curl_ready = 1;
    }
    ob->http_ok = cfg->outbound_http != 0;
    ob->done_to = done_to;
    atomic_init(&ob->stopping, 0);
    if (allow_parse(ob, cfg->outbound_allow) < 0)
        goto fail;
    int threads = cfg->outbound_threads;
    ob->pool = pool_new_bounded(threads < 1 ? 2 : threads > 16 ? 16 : threads,
                                OUTBOUND_QUEUE_MAX, done_to);
    if (!ob->pool)
        goto fail;
    if (ob->nallow || ob->http_ok)
        log_info("outbound", "outbound requests: %s; %d allowed range(s) beyond the public "
                 "internet", ob->http_ok ? "http and https" : "https only", ob->nallow);
    return ob;
fail:
    free(ob);
    return NULL;
}

void outbound_drain(struct outbound *ob)
{
    if (ob && !ob->done_to)
        pool_drain(ob->pool);
}

void outbound_free(struct outbound *ob)
{
    if (!ob)
        return;
    atomic_store(&ob->stopping, 1);
    pool_free(ob->pool); /* queued work is skipped: done(arg, 0) */
    free(ob);
}
