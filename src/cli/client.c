/* client.c - the CLI's only way to talk to berthd: one libcurl request at
 * a time, JSON in and out, errors turned into the CLI's exit codes.
 *
 * Safety: the response body goes into a capped buf (no server can make the
 * CLI allocate without bound); redirects are not followed (the bearer
 * token would go along); only http/https; the Authorization header is
 * built in a local buffer, wiped after use, and never printed (--verbose
 * logs method, URL and status only, never headers). */
#include "cli.h"
#include "buf.h"
#include "crypto.h"
#include "util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX (8 * 1024 * 1024)
#define CONNECT_TIMEOUT_S 10L
#define TOTAL_TIMEOUT_S 60L
#define FOLLOW_IDLE_S 60L /* a followed stream silent this long is looked at again */

struct response {
    long status;
    struct buf body;
    int too_big;
};

void client_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }
void client_global_release(void) { curl_global_cleanup(); }

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    if (buf_append(&r->body, p, size * n) < 0) {
        r->too_big = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return size * n;
}

/* berthd's HTTP server (lws) percent-decodes the path and collapses `//`,
 * `/./` and `/../` before berthd sees it, so an escaped '/' or a dot
 * segment still moves the request elsewhere: `berth env unset web ..` or
 * `berth server delete "x/../db"` would reach another resource (DELETE
 * .../apps/web, .../servers/db). Such a segment is refused here, before
 * anything is sent. */
int client_path(struct cli *c, char *out, size_t n, const char *fmt, const char *segment)
{
    if (!segment)
        return cli_usage(c, "no organization: pass --org NAME or run `berth org use NAME`");
    if (!*segment || strcmp(segment, ".") == 0 || strcmp(segment, "..") == 0 ||
        strchr(segment, '/'))
        return cli_usage(c, "'%.60s' is not a name berth can put in a request path "
                         "(empty, '.', '..' or holding a '/')", segment);
    char *esc = curl_easy_escape(NULL, segment, 0);
    if (!esc)
        return cli_usage(c, "out of memory");
    int w = snprintf(out, n, fmt, esc);
    curl_free(esc);
    if (w < 0 || (size_t)w >= n)
        return cli_usage(c, "'%.60s' is too long for a request path", segment);
    return 0;
}

static int check_url(struct cli *c)
{
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        return cli_usage(c, "the berthd URL must start with http:// or https:// (got '%s')",
                         c->url);
    return 0;
}

/* base URL + prefix ("/api/v1" or "") + path */
static int build_url_at(struct cli *c, const char *prefix, const char *path, char *out,
                        size_t n)
{
    size_t ul = strlen(c->url);
    while (ul && c->url[ul - 1] == '/')
        ul--;
    int w = snprintf(out, n, "%.*s%s%s", (int)ul, c->url, prefix, path);
    if (w < 0 || (size_t)w >= n)
        return cli_usage(c, "the URL is too long");
    return 0;
}

static int build_url(struct cli *c, const char *path, char *out, size_t n)
{
    return build_url_at(c, "/api/v1", path, out, n);
}

/* Headers: JSON in/out and, when asked, the bearer token. */
static struct curl_slist *headers_new(struct cli *c, int auth, int has_body, const char *accept)
{
    char acc[128];
    snprintf(acc, sizeof acc, "Accept: %s", accept);
    struct curl_slist *h = curl_slist_append(NULL, acc);
    if (has_body)
        h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (auth && c->token) {
        char line[CRYPTO_TOKEN_MAX + 64];
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, line);
        crypto_wipe(line, sizeof line);
    }
    return h;
}

static void headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        crypto_wipe(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

static void setup(struct cli *c, CURL *e, const char *method, const char *url, const char *body,
                  struct curl_slist *h, struct response *r)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, c->http_timeout_s > 0 ? c->http_timeout_s
                                                               : TOTAL_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "berth-cli/" CLI_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (c->cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
}

static int exit_for_status(long status)
{
    switch (status) {
    case 400: case 422: return CLI_EXIT_USAGE;
    case 401: case 403: return CLI_EXIT_AUTH;
    case 404: return CLI_EXIT_NOTFOUND;
    case 409: return CLI_EXIT_CONFLICT;
    default: return CLI_EXIT_OTHER;
    }
}

int client_api_error(struct cli *c, const char *url, long status, const char *body,
                     size_t len)
{
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(root, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int x = exit_for_status(status);
    if (code && msg)
        cli_fail(c, x, code, "%s", msg);
    else
        cli_fail(c, x, "http_error", "berthd answered HTTP %ld to %s", status, url);
    json_decref(root);
    return -1;
}

/* Turns a non-2xx answer into c->err, keeping the API's code/message. */
static int api_error(struct cli *c, const char *url, struct response *r)
{
    return client_api_error(c, url, r->status, r->body.data, r->body.len);
}

static int transport_error(struct cli *c, CURLcode cc, const char *errbuf, struct response *r)
{
    if (r->too_big)
        return cli_fail(c, CLI_EXIT_OTHER, "response_too_large",
                        "the answer from %s is larger than %zu MiB", c->url,
                        (c->response_max ? c->response_max : RESPONSE_MAX) / (1024 * 1024));
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
        cc == CURLE_SSL_CONNECT_ERROR)
        return cli_fail(c, CLI_EXIT_OTHER, "tls", "TLS with berthd at %s failed: %s (a private "
                        "CA? pass --cacert FILE or set BERTH_CACERT)", c->url, why);
    return cli_fail(c, CLI_EXIT_OTHER, "unreachable", "cannot reach berthd at %s: %s", c->url,
                    why);
}

static int parse_body(struct cli *c, const char *url, struct response *r, json_t **out)
{
    *out = NULL;
    if (!r->body.len)
        return 0;
    json_error_t jerr;
    *out = json_loadb(r->body.data, r->body.len, 0, &jerr);
    if (!*out)
        return cli_fail(c, CLI_EXIT_OTHER, "bad_response", "%s did not answer JSON (%s); is "
                        "this a berthd URL?", url, jerr.text);
    return 0;
}

static int perform(struct cli *c, const char *method, const char *url, const char *body,
                   int auth, json_t **out)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = headers_new(c, auth, body != NULL, "application/json");
    struct response r = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    int rc = -1;
    buf_init(&r.body, c->response_max ? c->response_max : RESPONSE_MAX);
    if (!e || !h) {
        cli_fail(c, CLI_EXIT_OTHER, "internal", "cannot set up the HTTP client");
        goto done;
    }
    setup(c, e, method, url, body, h, &r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    uint64_t t0 = util_mono_us();
    CURLcode cc = curl_easy_perform(e);
    if (cc != CURLE_OK) {
        transport_error(c, cc, errbuf, &r);
        goto done;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
    if (c->verbose)
        fprintf(stderr, "berth: %s %s -> %ld (%zu bytes, %llu ms)\n", method, url, r.status,
                r.body.len, (unsigned long long)((util_mono_us() - t0) / 1000));
    if (r.status < 200 || r.status > 299)
        api_error(c, url, &r);
    else
        rc = parse_body(c, url, &r, out);
done:
    headers_free(h);
    if (e)
        curl_easy_cleanup(e);
    if (r.body.data)
        crypto_wipe(r.body.data, r.body.len); /* may hold a token just issued */
    buf_release(&r.body);
    return rc;
}

int client_request(struct cli *c, const char *method, const char *path, json_t *body,
                   int auth, json_t **out)
{
    char url[4096];
    char *s = NULL;
    int rc = -1;
    json_t *ignored = NULL;
    if (check_url(c) < 0 || build_url(c, path, url, sizeof url) < 0)
        return -1;
    if (auth && cli_need_token(c) < 0)
        return -1;
    if (body && !(s = json_dumps(body, JSON_COMPACT))) {
        cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
        goto done;
    }
    rc = perform(c, method, url, s, auth, out ? out : &ignored);
done:
    json_decref(ignored);
    if (s) {
        crypto_wipe(s, strlen(s)); /* may hold a password */
        free(s);
    }
    return rc;
}

int client_get_all(struct cli *c, const char *path, int max_pages, json_t **out)
{
    json_t *all = NULL;
    *out = NULL;
    if (client_request(c, "GET", path, NULL, 1, &all) < 0)
        return -1;
    for (int n = 1; json_is_string(json_object_get(all, "next_cursor")); n++) {
        if (n >= max_pages) {
            json_decref(all);
            return cli_fail(c, CLI_EXIT_OTHER, "too_many_pages", "more than %d pages",
                            max_pages);
        }
        char *esc = curl_easy_escape(NULL, json_string_value(json_object_get(all, "next_cursor")),
                                     0);
        char next[2048];
        int len = esc ? snprintf(next, sizeof next, "%s%ccursor=%s", path,
                                 strchr(path, '?') ? '&' : '?', esc)
                      : -1;
        curl_free(esc);
        json_t *page = NULL;
        if (len < 0 || (size_t)len >= sizeof next) {
            json_decref(all);
            return cli_fail(c, CLI_EXIT_OTHER, "bad_response", "berthd's cursor is too long");
        }
        if (client_request(c, "GET", next, NULL, 1, &page) < 0) {
            json_decref(all);
            return -1;
        }
        json_array_extend(json_object_get(all, "items"), json_object_get(page, "items"));
        json_object_set(all, "next_cursor", json_object_get(page, "next_cursor"));
        json_decref(page);
    }
    *out = all;
    return 0;
}

static json_t *redacted(json_t *body, const char *const *redact)
{
    json_t *copy = body ? json_deep_copy(body) : json_null();
    for (int i = 0; redact && redact[i]; i++)
        if (json_object_get(copy, redact[i]))
            json_object_set_new(copy, redact[i], json_string("(hidden)"));
    return copy;
}

static void human_dry_run(struct cli *c, json_t *d)
{
    json_t *rq = json_object_get(d, "request");
    printf("dry run: would send %s %s\n", json_string_value(json_object_get(rq, "method")),
           json_string_value(json_object_get(rq, "url")));
    json_t *b = json_object_get(rq, "body");
    if (b && !json_is_null(b)) {
        char *s = json_dumps(b, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "");
        free(s);
    }
}

int client_mutate(struct cli *c, const char *method, const char *path, json_t *body, int auth,
                  const char *const *redact, json_t **out)
{
    if (!c->dry_run)
        return client_request(c, method, path, body, auth, out);
    char url[4096];
    if (check_url(c) < 0 || build_url(c, path, url, sizeof url) < 0)
        return -1;
    out_ok(c, json_pack("{s:b, s:{s:s, s:s, s:o}}", "dry_run", 1, "request", "method", method,
                        "url", url, "body", redacted(body, redact)),
           human_dry_run);
    return 1;
}

/* ---- streamed answers (followed job logs) and the health probe ---- */

struct stream {
    struct cli *c;
    CURL *e;
    struct response r; /* an error answer's body */
    client_data_fn fn;
    void *arg;
    int stopped;       /* fn returned -1 */
};

static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
    struct stream *s = arg;
    long status = 0;
    curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return on_body(p, size, n, &s->r);
    if (s->fn(s->arg, p, size * n) < 0) {
        s->stopped = 1;
        return 0;
    }
    return size * n;
}

/* BERTH_FOLLOW_IDLE_S (1..3600; tests use 1-2), else FOLLOW_IDLE_S. */
static long follow_idle_s(void)
{
    const char *v = getenv("BERTH_FOLLOW_IDLE_S");
    int64_t n;
    if (v && util_parse_i64(v, &n) == 0 && n >= 1 && n <= 3600)
        return (long)n;
    return FOLLOW_IDLE_S;
}

int client_stream(struct cli *c, const char *path, const char *accept, client_data_fn fn,
                  void *arg)
{
    char url[4096], errbuf[CURL_ERROR_SIZE] = "";
    struct stream s = {.c = c, .fn = fn, .arg = arg};
    struct curl_slist *h = NULL;
    int rc = -1;
    if (check_url(c) < 0 || build_url(c, path, url, sizeof url) < 0 || cli_need_token(c) < 0)
        return -1;
    buf_init(&s.r.body, 64 * 1024);
    s.e = curl_easy_init();
    h = headers_new(c, 1, 0, accept);
    if (!s.e || !h) {
        cli_fail(c, CLI_EXIT_OTHER, "internal", "cannot set up the HTTP client");
        goto done;
    }
    setup(c, s.e, "GET", url, NULL, h, &s.r);
    curl_easy_setopt(s.e, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(s.e, CURLOPT_WRITEDATA, &s);
    /* No total limit (a job may run for hours), but no wait without a
     * deadline either: a stream silent for idle_s seconds (a quiet job, or
     * a peer gone without a FIN) is cut, and the caller looks at the job
     * and follows again; TCP keepalives find a dead peer sooner. */
    long idle_s = follow_idle_s();
    curl_easy_setopt(s.e, CURLOPT_TIMEOUT, 0L);
    curl_easy_setopt(s.e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(s.e, CURLOPT_LOW_SPEED_TIME, idle_s);
    curl_easy_setopt(s.e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(s.e, CURLOPT_TCP_KEEPIDLE, 15L);
    curl_easy_setopt(s.e, CURLOPT_TCP_KEEPINTVL, 5L);
    curl_easy_setopt(s.e, CURLOPT_ERRORBUFFER, errbuf);
    uint64_t t0 = util_mono_us();
    CURLcode cc = curl_easy_perform(s.e);
    if (s.stopped)
        goto done; /* fn set c->err */
    curl_easy_getinfo(s.e, CURLINFO_RESPONSE_CODE, &s.r.status);
    if (cc == CURLE_OPERATION_TIMEDOUT && (s.r.status == 0 || (s.r.status >= 200 &&
                                                               s.r.status <= 299))) {
        if (c->verbose)
            fprintf(stderr, "berth: GET %s: nothing for %ld s; looking again\n", url, idle_s);
        rc = 1;
        goto done;
    }
    if (cc != CURLE_OK) {
        transport_error(c, cc, errbuf, &s.r);
        goto done;
    }
    curl_easy_getinfo(s.e, CURLINFO_RESPONSE_CODE, &s.r.status);
    if (c->verbose)
        fprintf(stderr, "berth: GET %s -> %ld (streamed, %llu ms)\n", url, s.r.status,
                (unsigned long long)((util_mono_us() - t0) / 1000));
    if (s.r.status < 200 || s.r.status > 299)
        api_error(c, url, &s.r);
    else
        rc = 0;
done:
    headers_free(h);
    if (s.e)
        curl_easy_cleanup(s.e);
    buf_release(&s.r.body);
    return rc;
}

int client_ping(struct cli *c, double *ms)
{
    char url[4096], errbuf[CURL_ERROR_SIZE] = "";
    struct response r = {0};
    struct curl_slist *h = NULL;
    CURL *e = NULL;
    int rc = -1;
    if (check_url(c) < 0 || build_url_at(c, "", "/healthz", url, sizeof url) < 0)
        return -1;
    buf_init(&r.body, 64 * 1024);
    e = curl_easy_init();
    h = headers_new(c, 0, 0, "application/json");
    if (!e || !h) {
        cli_fail(c, CLI_EXIT_OTHER, "internal", "cannot set up the HTTP client");
        goto done;
    }
    setup(c, e, "GET", url, NULL, h, &r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    uint64_t t0 = util_mono_us();
    CURLcode cc = curl_easy_perform(e);
    *ms = (double)(util_mono_us() - t0) / 1000.0;
    if (cc != CURLE_OK) {
        transport_error(c, cc, errbuf, &r);
        goto done;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
    if (c->verbose)
        fprintf(stderr, "berth: GET %s -> %ld (%.1f ms)\n", url, r.status, *ms);
    if (r.status != 200)
        cli_fail(c, CLI_EXIT_OTHER, "unhealthy", "berthd at %s answered HTTP %ld to /healthz",
                 c->url, r.status);
    else
        rc = 0;
done:
    headers_free(h);
    if (e)
        curl_easy_cleanup(e);
    buf_release(&r.body);
    return rc;
}
