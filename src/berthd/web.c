/* web.c - the dashboard's static files: which paths are the dashboard's,
 * the embedded table (content type, ETag, gzip copy) and the answers
 * (200, 304, 404), with the headers every dashboard answer carries (a
 * strict Content-Security-Policy: scripts and styles from berthd only,
 * nothing inline).
 *
 * Paths: /static/X is the file web/X; the page itself (web/index.html) is
 * served for / and for every dashboard URL (/login, /tokens, /invites,
 * /o/...), so a bookmarked URL loads the page and its client-side router
 * draws the view. Everything else is not the dashboard's (web_serve
 * returns 0 and http.c answers its JSON 404 as before).
 *
 * The table is built once by web_init and read-only afterwards; answers
 * copy the bytes they send (http_reply_raw owns its body), so nothing
 * points into the table past the request. */
#include "web.h"
#include "http.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define WEB_PREFIX "web/"
#define STATIC_URL "/static/"
#define INDEX "index.html"
#define ETAG_MAX 48

const char *const web_csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

struct asset {
    const struct web_blob *blob;
    const char *ctype;
    char etag[ETAG_MAX];     /* "\"<hex>\"" */
    char etag_gz[ETAG_MAX];  /* "\"<hex>-gz\"": the gzip copy is another representation */
    unsigned char *gz;       /* NULL when gzip would not save anything */
    size_t gz_len;
};

static struct asset *assets;
static int nassets;
static char web_dir[1024];

static const char *ctype_of(const char *name)
{
    static const struct { const char *ext, *ctype; } t[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".sh", "text/x-shellscript; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof t / sizeof t[0]; i++)
        if (strcmp(dot, t[i].ext) == 0)
            return t[i].ctype;
    return "application/octet-stream";
}

/* gzip (RFC 1952) of in, best compression; NULL on failure. */
static unsigned char *gzip_of(const unsigned char *in, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)len) + 32;
    unsigned char *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static void etag_of(const unsigned char *data, size_t len, char out[ETAG_MAX])
{
    unsigned char h[16];
    char hex[33];
    crypto_generichash(h, sizeof h, data, len, NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, ETAG_MAX, "\"%s\"", hex);
}

int web_init(const char *dir)
{
    web_release();
    if (dir && *dir) {
        char idx[1200];
        snprintf(idx, sizeof idx, "%s/%s", dir, INDEX);
        if (util_strlcpy(web_dir, dir, sizeof web_dir) < 0 || access(idx, R_OK) < 0) {
            log_error("web", "--web-dir %s: cannot read %s", dir, idx);
            web_dir[0] = '\0';
            return -1;
        }
        log_info("web", "serving the dashboard from %s (development)", dir);
    }
    assets = calloc((size_t)web_embedded_count + 1, sizeof *assets);
    if (!assets)
        return -1;
    for (int i = 0; i < web_embedded_count; i++) {
        const struct web_blob *b = &web_embedded_assets[i];
        struct asset *a = &assets[nassets++];
        a->blob = b;
        a->ctype = ctype_of(b->name);
        etag_of(b->data, b->len, a->etag);
        snprintf(a->etag_gz, sizeof a->etag_gz, "%.*s-gz\"", (int)strlen(a->etag) - 1, a->etag);
        size_t gl = 0;
        unsigned char *gz = b->len > 256 ? gzip_of(b->data, b->len, &gl) : NULL;
        if (gz && gl < b->len) {
            a->gz = gz;
            a->gz_len = gl;
        } else {
            free(gz);
        }
    }
    return 0;
}

void web_release(void)
{
    for (int i = 0; i < nassets; i++)
        free(assets[i].gz);
    free(assets);
    assets = NULL;
    nassets = 0;
    web_dir[0] = '\0';
}

const unsigned char *web_embedded(const char *name, size_t *len)
{
    for (int i = 0; i < web_embedded_count; i++)
        if (strcmp(web_embedded_assets[i].name, name) == 0) {
            *len = web_embedded_assets[i].len;
            return web_embedded_assets[i].data;
        }
    return NULL;
}

static const struct asset *find(const char *name)
{
    for (int i = 0; i < nassets; i++)
        if (strcmp(assets[i].blob->name, name) == 0)
            return &assets[i];
    return NULL;
}

/* The dashboard's own URLs: the page answers them all. */
static int is_page(const char *p)
{
    static const char *const exact[] = {"/", "/login", "/tokens", "/invites", "/accept-invite",
                                        NULL};
    for (int i = 0; exact[i]; i++)
        if (strcmp(p, exact[i]) == 0)
            return 1;
    return strncmp(p, "/o/", 3) == 0 && p[3] != '\0';
}

/* An asset name after /static/: 1-200 of [A-Za-z0-9._-/], no empty,
 * "." or ".." segment (lws collapses those already; this does not rely on
 * it), never starting with '/'. */
static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 200 || n[0] == '/' || n[0] == '.')
        return 0;
    for (const char *p = n; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/'))
            return 0;
        if (c == '/' && (p[1] == '/' || p[1] == '.' || p[1] == '\0'))
            return 0;
    }
    return 1;
}

/* The headers of every dashboard answer. */
static void common_headers(struct req *r, const char *etag)
{
    r->cache_control = "no-cache"; /* always revalidated: the ETag makes it a 304 */
    http_add_header(r, "content-security-policy", web_csp);
    http_add_header(r, "x-content-type-options", "nosniff");
    http_add_header(r, "referrer-policy", "same-origin");
    http_add_header(r, "x-frame-options", "DENY");
    http_add_header(r, "vary", "Accept-Encoding");
    if (etag)
        http_add_header(r, "etag", etag);
}

/* 1 when If-None-Match names one of the tags (or is "*"). */
static int not_modified(struct req *r, const char *tag1, const char *tag2)
{
    char inm[512];
    if (!req_std_header(r, REQ_HDR_IF_NONE_MATCH, inm, sizeof inm))
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    return (tag1 && strstr(inm, tag1)) || (tag2 && strstr(inm, tag2));
}

static int accepts_gzip(struct req *r)
{
    char ae[256];
    if (!req_std_header(r, REQ_HDR_ACCEPT_ENCODING, ae, sizeof ae))
        return 0;
    /* "gzip", "gzip;q=1", but not "gzip;q=0" or "gzip;q=0.000" */
    const char *g = strstr(ae, "gzip");
    if (!g)
        return 0;
    const char *q = g + 4;
    while (*q == ' ')
        q++;
    if (strncmp(q, ";q=0", 4) == 0) {
        q += 4;
        while (*q == '0' || *q == '.')
            q++;
        if (*q == '\0' || *q == ',' || *q == ' ')
            return 0;
    }
    return 1;
}

static void not_found(struct req *r)
{
    http_reply_error(r, 404, "not_found", "no such file: %s", r->path);
}

static void serve_embedded(struct req *r, const char *name)
{
    const struct asset *a = find(name);
    if (!a) {
        not_found(r);
        return;
    }
    int gz = a->gz && accepts_gzip(r);
    common_headers(r, gz ? a->etag_gz : a->etag);
    if (not_modified(r, gz ? a->etag_gz : a->etag, NULL)) {
        http_reply_empty(r, 304);
        return;
    }
    const unsigned char *src = gz ? a->gz : a->blob->data;
    size_t len = gz ? a->gz_len : a->blob->len;
    char *body = malloc(len ? len : 1);
    if (!body) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    memcpy(body, src, len);
    if (gz)
        http_add_header(r, "content-encoding", "gzip");
    http_reply_raw(r, 200, a->ctype, body, len);
}

/* Development: the file as it is on disk now (read on the pool by
 * http_reply_file), its ETag from size and mtime. */
static void serve_dir(struct req *r, const char *rel)
{
    char path[1400], etag[ETAG_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", web_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        not_found(r);
        return;
    }
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    common_headers(r, etag);
    if (not_modified(r, etag, NULL)) {
        close(fd);
        http_reply_empty(r, 304);
        return;
    }
    http_reply_file(r, 200, ctype_of(rel), fd, (uint64_t)st.st_size);
}

int web_serve(struct req *r)
{
    const char *rel;
    if (r->method != HM_GET)
        return 0;
    if (strncmp(r->path, STATIC_URL, strlen(STATIC_URL)) == 0) {
        rel = r->path + strlen(STATIC_URL);
        if (!name_ok(rel)) {
            not_found(r);
            return 1;
        }
    } else if (is_page(r->path)) {
        rel = INDEX;
    } else {
        return 0;
    }
    /* Libraries from Debian packages, wrapped at build time (the
     * terminal's xterm): always the embedded copy, also while developing
     * from --web-dir, whose tree does not hold them. */
    if (strncmp(rel, "vendor/", 7) == 0) {
        serve_embedded(r, rel);
        return 1;
    }
    if (web_dir[0]) {
        serve_dir(r, rel);
        return 1;
    }
    char name[256];
    snprintf(name, sizeof name, WEB_PREFIX "%s", rel);
    serve_embedded(r, name);
    return 1;
}
