/* web.h - the dashboard's static files and the other files berthd carries
 * inside its binary (the runner's install script).
 *
 * At build time cmake/embed.cmake turns web/ and scripts/install.sh into
 * byte arrays (web_embedded_assets); at start web_init gives each a
 * content type, an ETag (a keyed-free BLAKE2b of its bytes) and, when it
 * pays, a gzip copy made once with zlib. web.c owns that table for the
 * process's life. With --web-dir the dashboard is read from disk on each
 * request instead (for development: edit, reload). */
#ifndef BERTHD_WEB_H
#define BERTHD_WEB_H

#include <stddef.h>

struct req;

struct web_blob {
    const char *name;            /* "web/index.html", "scripts/install.sh" */
    const unsigned char *data;   /* NUL-terminated, len bytes before it */
    size_t len;
};

extern const struct web_blob web_embedded_assets[];
extern const int web_embedded_count;

/* Builds the served table (hashes, gzip copies); dir: serve the dashboard
 * from this directory instead ("" or NULL: the embedded copy). 0 or -1. */
int web_init(const char *dir);
void web_release(void);

/* 1 when r was a dashboard request and is answered (an asset, the page, a
 * 304, a 404 for an unknown asset), 0 when the path is not the dashboard's
 * (the caller answers as before). GET only. */
int web_serve(struct req *r);

/* An embedded file's bytes by name ("scripts/install.sh"), NUL-terminated,
 * or NULL. */
const unsigned char *web_embedded(const char *name, size_t *len);

#endif
