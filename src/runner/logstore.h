/* logstore.h - the runner's on-disk store of application logs
 * (docs/app-logs.md): per app, append-only segment files of zstd-compressed
 * blocks, each block headed by its time range and a trigram bitmap of its
 * text (the index a query reads to skip blocks), a per-container cursor
 * (the last stored timestamp and how many lines carry it) so collection
 * resumes without gaps or duplicates, and retention by age, per-app size
 * and a per-host total.
 *
 * No lws, no threads inside: the runner's loop appends and trims; queries
 * (logstore_query) read the files from any thread given a snapshot taken
 * on the loop (logstore_snapshot), so a block flushed meanwhile is neither
 * missed nor read twice.
 */
#ifndef BERTH_LOGSTORE_H
#define BERTH_LOGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "logre.h"

#define LOGSTORE_LINE_MAX 65536        /* a longer line is split, pieces marked */
#define LOGSTORE_APP_MAX 24            /* app key: the berth.app label, 1..24 digits */
#define LOGSTORE_CID_MAX 64            /* container id (hex) */
#define LOGSTORE_DEP_MAX 24            /* deployment label, digits */
#define LOGSTORE_SHORT_CID 12          /* what a line keeps of the container id */

struct logstore_cfg {
    int64_t retain_ns;                 /* by age (7 days) */
    uint64_t max_app_bytes;            /* per app on disk (256 MiB) */
    uint64_t max_total_bytes;          /* every app together (2 GiB) */
    uint64_t segment_bytes;            /* a segment is closed past this (8 MiB) */
    size_t block_bytes;                /* raw bytes per compressed block (64 KiB) */
};
void logstore_cfg_default(struct logstore_cfg *c);

/* One stored line; strings are not NUL-terminated. */
struct logstore_line {
    int64_t ts;                        /* unix ns */
    int err;                           /* 0 stdout, 1 stderr */
    int partial;                       /* a piece of a longer line, more follows */
    const char *container, *deployment, *text;
    size_t clen, dlen, tlen;
};

struct logstore;

/* Opens (creating) the store root dir. 0 or -1 with err. */
int logstore_open(const char *dir, const struct logstore_cfg *cfg, struct logstore **out, char *err,
                  size_t errlen);
/* Flushes what is pending and frees. */
void logstore_free(struct logstore *s);

/* 1 if s is a valid app key (decimal, 1..24 digits), else 0. */
int logstore_app_valid(const char *s);

/* Adds a line to app's pending block (text must be valid UTF-8 and at most
 * LOGSTORE_LINE_MAX bytes; container is the full id). A full block is
 * compressed and written at once. 0 or -1 (I/O error, logged in err). */
int logstore_append(struct logstore *s, const char *app, const char *container,
                    const struct logstore_line *l, char *err, size_t errlen);
/* Writes every app's pending block (the loop calls this every second). */
int logstore_flush(struct logstore *s, char *err, size_t errlen);
/* Where a container's stored lines end: *ts the newest timestamp, *n how
 * many stored lines carry it (0, 0: none stored). Opens the app if needed. */
int logstore_cursor(struct logstore *s, const char *app, const char *container, int64_t *ts,
                    int64_t *n);
/* Retention: segments past the age, then oldest first past the app's size,
 * then oldest across apps past the total. Returns the bytes removed. */
uint64_t logstore_trim(struct logstore *s, int64_t now_ns);
/* Bytes on disk (segments) of one app, or of all when app is NULL. */
uint64_t logstore_disk_bytes(struct logstore *s, const char *app);
const char *logstore_dir(const struct logstore *s);

/* A consistent view of an app for a query on another thread. */
struct logstore_snap {
    char app[LOGSTORE_APP_MAX + 1];
    uint64_t seg;                      /* newest segment then (0: none) */
    uint64_t seg_size;                 /* its size then */
    char *pending;                     /* the unflushed raw records (malloc'ed) */
    size_t pending_len;
};
int logstore_snapshot(struct logstore *s, const char *app, struct logstore_snap *out);
void logstore_snap_release(struct logstore_snap *sn);

/* A query. since/until: unix ns (0: open); tail: the last N matches only
 * (0: all); q: substring of the text (NULL: any); streams: bit 0 stdout,
 * bit 1 stderr (0: both); deployment: NULL any. */
struct logstore_query {
    int64_t since, until;
    size_t tail;
    const char *q;
    int streams;
    const char *deployment;
    struct logre *re;                  /* NULL, or compiled (matched last: the costly one) */
};
int logstore_match(const struct logstore_query *q, const struct logstore_line *l);
/* cb gets every matching line in stored order; a negative return stops
 * the query (which then returns 1). 0 done, 1 stopped, -1 error (err). */
typedef int (*logstore_line_cb)(void *arg, const struct logstore_line *l);
int logstore_query(const char *root, const struct logstore_snap *sn,
                   const struct logstore_query *q, logstore_line_cb cb, void *arg, char *err,
                   size_t errlen);

/* The raw record codec (exported for tests and the fuzz driver): appends l
 * to out (room for logstore_record_size), and parses one record from
 * data[0..len): bytes consumed, or 0 for a malformed/short record. */
size_t logstore_record_size(const struct logstore_line *l);
size_t logstore_record_put(char *out, const struct logstore_line *l);
size_t logstore_record_get(const char *data, size_t len, struct logstore_line *l);
/* Reads one block from a segment image (the fuzz driver's entry): cb for
 * each record; bytes consumed, 0 at a malformed block. */
size_t logstore_block_scan(const char *data, size_t len, logstore_line_cb cb, void *arg);

#endif
