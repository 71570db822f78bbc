/* logstore.c - application logs on the runner's disk (logstore.h,
 * docs/app-logs.md "The store").
 *
 * Layout under the root (state_dir/applogs):
 *   APP/%016llx.seg   segments, numbered up; the newest is appended to
 *   APP/cursors       "v1 SEG OFF" then "CID TS N" per container: what the
 *                     blocks up to (SEG, OFF) hold; blocks after it are
 *                     read at open to bring the cursors up to date
 * A segment is a run of blocks: a 48-byte header (magic, compressed and raw
 * length, line count, min and max timestamp, a CRC of the header), a
 * 2 KiB bitmap of the text's trigrams, then one zstd frame (checksummed)
 * of raw records. A record: ts (i64), flags (bit 0 stderr, bit 1 partial),
 * container, deployment and text lengths (u8, u8, u32), then the bytes.
 * Integers are little-endian. A block is written with one write(); a torn
 * tail (a crash mid-write, a full disk) is cut off at the next open.
 *
 * Owns: struct logstore, its apps (pending block, cursors, the open
 * segment fd) and one zstd compression context. Queries own what they
 * allocate and touch no struct logstore (only the snapshot they got).
 */
#include "logstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define MAGIC 0x31424c41u               /* "ALB1" */
#define HDR 48
#define BLOOM 2048                      /* bytes: 16384 bits */
#define REC_HDR 15
#define RAW_MAX (4u * 1024 * 1024)      /* a block's raw size, read side */
#define CURSORS_MAX 4096                /* per app */
#define BLOCKS_MAX (4u * 1024 * 1024)   /* blocks one query indexes */
#define ZLEVEL 1
#define ROOT_MAX 3072                   /* the root dir path */
#define DIR_MAX (ROOT_MAX + 32)         /* an app dir path */

struct hdr {
    uint32_t clen, rawlen, nlines;
    int64_t min_ts, max_ts;
};

struct cursor {
    char cid[LOGSTORE_CID_MAX + 1];
    int64_t ts, n;
};

struct app {
    struct app *next;
    char key[LOGSTORE_APP_MAX + 1];
    char dir[DIR_MAX];
    int fd;                             /* newest segment, -1 none */
    uint64_t seg, seg_size;
    char *pend;                         /* raw records not yet written */
    size_t plen, pcap;
    uint32_t pn;
    int64_t pmin, pmax;
    unsigned char bloom[BLOOM];
    struct cursor *cur;
    size_t ncur, capcur;
};

struct logstore {
    char dir[ROOT_MAX];
    struct logstore_cfg cfg;
    struct app *apps;
    ZSTD_CCtx *cctx;
    char *out;                          /* header + bloom + compressed */
    size_t outcap;
};

static void seterr(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t n, const char *fmt, ...)
{
    if (!err || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

void logstore_cfg_default(struct logstore_cfg *c)
{
    c->retain_ns = 7LL * 24 * 3600 * 1000000000LL;
    c->max_app_bytes = 256ull << 20;
    c->max_total_bytes = 2ull << 30;
    c->segment_bytes = 8ull << 20;
    c->block_bytes = 64u << 10;
}

int logstore_app_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9' || n >= LOGSTORE_APP_MAX)
            return 0;
    return n > 0;
}

/* --- little-endian codec --- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void hdr_put(unsigned char *p, const struct hdr *h)
{
    memset(p, 0, HDR);
    put32(p, MAGIC);
    put32(p + 4, h->clen);
    put32(p + 8, h->rawlen);
    put32(p + 12, h->nlines);
    put64(p + 16, (uint64_t)h->min_ts);
    put64(p + 24, (uint64_t)h->max_ts);
    put32(p + 32, (uint32_t)crc32(0, p, 32));
}

/* 0 for a well-formed header within the caps, -1 otherwise. */
static int hdr_get(const unsigned char *p, struct hdr *h)
{
    if (get32(p) != MAGIC || get32(p + 32) != (uint32_t)crc32(0, p, 32))
        return -1;
    h->clen = get32(p + 4);
    h->rawlen = get32(p + 8);
    h->nlines = get32(p + 12);
    h->min_ts = (int64_t)get64(p + 16);
    h->max_ts = (int64_t)get64(p + 24);
    if (h->rawlen > RAW_MAX || h->clen > ZSTD_compressBound(RAW_MAX) || h->min_ts > h->max_ts)
        return -1;
    return 0;
}

size_t logstore_record_size(const struct logstore_line *l)
{
    return REC_HDR + l->clen + l->dlen + l->tlen;
}

size_t logstore_record_put(char *out, const struct logstore_line *l)
{
    unsigned char *p = (unsigned char *)out;
    put64(p, (uint64_t)l->ts);
    p[8] = (unsigned char)((l->err ? 1 : 0) | (l->partial ? 2 : 0));
    p[9] = (unsigned char)l->clen;
    p[10] = (unsigned char)l->dlen;
    put32(p + 11, (uint32_t)l->tlen);
    char *q = out + REC_HDR;
    memcpy(q, l->container, l->clen);
    q += l->clen;
    memcpy(q, l->deployment, l->dlen);
    q += l->dlen;
    memcpy(q, l->text, l->tlen);
    return logstore_record_size(l);
}

size_t logstore_record_get(const char *data, size_t len, struct logstore_line *l)
{
    const unsigned char *p = (const unsigned char *)data;
    if (len < REC_HDR)
        return 0;
    l->ts = (int64_t)get64(p);
    l->err = p[8] & 1;
    l->partial = (p[8] & 2) != 0;
    l->clen = p[9];
    l->dlen = p[10];
    l->tlen = get32(p + 11);
    if (p[8] & ~3u || l->clen > LOGSTORE_CID_MAX || l->dlen > LOGSTORE_DEP_MAX ||
        l->tlen > LOGSTORE_LINE_MAX || len - REC_HDR < l->clen + l->dlen + l->tlen)
        return 0;
    l->container = data + REC_HDR;
    l->deployment = l->container + l->clen;
    l->text = l->deployment + l->dlen;
    return logstore_record_size(l);
}

/* --- trigram bitmap --- */

static inline uint32_t tri(const unsigned char *t)
{
    return (((uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16) * 0x9E3779B1u) >> 18;
}

static void bloom_add(unsigned char *bloom, const char *text, size_t n)
{
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i + 3 <= n; i++) {
        uint32_t h = tri(t + i);
        bloom[h >> 3] |= (unsigned char)(1u << (h & 7));
    }
}

/* 0 when the block cannot hold q (a trigram of q is missing), else 1. */
static int bloom_may(const unsigned char *bloom, const char *q)
{
    size_t n = q ? strlen(q) : 0;
    const unsigned char *t = (const unsigned char *)q;
    for (size_t i = 0; i + 3 <= n; i++) {
        uint32_t h = tri(t + i);
        if (!(bloom[h >> 3] & (1u << (h & 7))))
            return 0;
    }
    return 1;
}

/* --- apps --- */

static int seg_path(const struct app *a, uint64_t seg, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/%016llx.seg", a->dir, (unsigned long long)seg);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

static int seg_name(const char *name, uint64_t *seg)
{
    char *end;
    if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
        return -1;
    errno = 0;
    unsigned long long v = strtoull(name, &end, 16);
    if (errno || end != name + 16)
        return -1;
    *seg = v;
    return 0;
}

/* Sorted segment numbers of dir (malloc'ed *out). */
static int seg_list(const char *dir, uint64_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t s;
        if (seg_name(e->d_name, &s) < 0)
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                free(v);
                closedir(d);
                return -1;
            }
            v = nv;
            cap = nc;
        }
        v[cnt++] = s;
    }
    closedir(d);
    for (size_t i = 1; i < cnt; i++) /* insertion sort: tens of segments */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *n = cnt;
    return 0;
}

static struct cursor *cursor_find(struct app *a, const char *cid, size_t clen, int create)
{
    for (size_t i = 0; i < a->ncur; i++)
        if (strlen(a->cur[i].cid) == clen && memcmp(a->cur[i].cid, cid, clen) == 0)
            return &a->cur[i];
    if (!create || clen == 0 || clen > LOGSTORE_CID_MAX || a->ncur >= CURSORS_MAX)
        return NULL;
    if (a->ncur == a->capcur) {
        size_t nc = a->capcur ? a->capcur * 2 : 8;
        struct cursor *nv = realloc(a->cur, nc * sizeof *nv);
        if (!nv)
            return NULL;
        a->cur = nv;
        a->capcur = nc;
    }
    struct cursor *c = &a->cur[a->ncur++];
    memcpy(c->cid, cid, clen);
    c->cid[clen] = '\0';
    c->ts = 0;
    c->n = 0;
    return c;
}

/* A stored line of container cid (a prefix match: lines keep 12 chars). */
static void cursor_advance(struct cursor *c, int64_t ts)
{
    if (ts > c->ts) {
        c->ts = ts;
        c->n = 1;
    } else if (ts == c->ts) {
        c->n++;
    }
}

static void cursor_from_line(struct app *a, const struct logstore_line *l)
{
    if (!l->clen)
        return;
    for (size_t i = 0; i < a->ncur; i++)
        if (strncmp(a->cur[i].cid, l->container, l->clen) == 0) {
            cursor_advance(&a->cur[i], l->ts);
            return;
        }
    struct cursor *c = cursor_find(a, l->container, l->clen, 1); /* short id */
    if (c)
        cursor_advance(c, l->ts);
}

static int cursors_write(struct logstore *s, struct app *a)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/cursors", a->dir);
    snprintf(tmp, sizeof tmp, "%s/cursors.tmp", a->dir);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "v1 %llu %llu\n", (unsigned long long)a->seg, (unsigned long long)a->seg_size);
    int64_t horizon = a->pmax - s->cfg.retain_ns;
    for (size_t i = 0; i < a->ncur; i++)
        if (a->cur[i].ts >= horizon || a->cur[i].ts == 0)
            fprintf(f, "%s %lld %lld\n", a->cur[i].cid, (long long)a->cur[i].ts,
                    (long long)a->cur[i].n);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The full-id cursors of a container are created before its lines come
 * (logstore_cursor); stored lines carry 12 characters of the id. */
static int cursors_read(struct app *a, uint64_t *seg, uint64_t *off)
{
    char path[PATH_MAX], cid[LOGSTORE_CID_MAX + 2];
    snprintf(path, sizeof path, "%s/cursors", a->dir);
    FILE *f = fopen(path, "r");
    unsigned long long sg, of;
    long long ts, n;
    *seg = 0;
    *off = 0;
    if (!f)
        return 0;
    if (fscanf(f, "v1 %llu %llu\n", &sg, &of) == 2) {
        *seg = sg;
        *off = of;
        while (fscanf(f, "%64s %lld %lld\n", cid, &ts, &n) == 3) {
            size_t cl = strspn(cid, "0123456789abcdef");
            struct cursor *c = cl == strlen(cid) ? cursor_find(a, cid, cl, 1) : NULL;
            if (c && ts >= 0 && n >= 0) {
                c->ts = ts;
                c->n = n;
            }
        }
    }
    fclose(f);
    return 0;
}

struct blockbuf {
    ZSTD_DCtx *dctx;
    char *raw;
    size_t rawcap;
    char *comp;
    size_t compcap;
};

static void blockbuf_release(struct blockbuf *b)
{
    ZSTD_freeDCtx(b->dctx);
    free(b->raw);
    free(b->comp);
    memset(b, 0, sizeof *b);
}

static int grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    char *n = realloc(*p, need);
    if (!n)
        return -1;
    *p = n;
    *cap = need;
    return 0;
}

/* Reads and decompresses the block at off (header h); raw in b->raw. */
static int block_load(int fd, uint64_t off, const struct hdr *h, struct blockbuf *b)
{
    if (!b->dctx && !(b->dctx = ZSTD_createDCtx()))
        return -1;
    if (grow(&b->comp, &b->compcap, h->clen ? h->clen : 1) < 0 ||
        grow(&b->raw, &b->rawcap, h->rawlen ? h->rawlen : 1) < 0)
        return -1;
    if (pread(fd, b->comp, h->clen, (off_t)(off + HDR + BLOOM)) != (ssize_t)h->clen)
        return -1;
    size_t got = ZSTD_decompressDCtx(b->dctx, b->raw, h->rawlen, b->comp, h->clen);
    if (ZSTD_isError(got) || got != h->rawlen)
        return -1;
    return 0;
}

/* Calls cb for each record of raw[0..len); stops at a malformed one. */
static int records_each(const char *raw, size_t len, logstore_line_cb cb, void *arg)
{
    size_t off = 0;
    while (off < len) {
        struct logstore_line l;
        size_t n = logstore_record_get(raw + off, len - off, &l);
        if (!n)
            return 0;
        if (cb(arg, &l) < 0)
            return 1;
        off += n;
    }
    return 0;
}

static int recover_line(void *arg, const struct logstore_line *l)
{
    cursor_from_line(arg, l);
    return 0;
}

/* Walks segment seg from off: checks every block header, and for
 * recovery (cursors) decompresses the blocks. Returns the offset of the
 * end of the last whole block. */
static uint64_t seg_walk(struct app *a, int fd, uint64_t off, int recover, struct blockbuf *b)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return off;
    uint64_t size = (uint64_t)st.st_size;
    unsigned char hb[HDR];
    while (off + HDR + BLOOM <= size) {
        struct hdr h;
        if (pread(fd, hb, HDR, (off_t)off) != HDR || hdr_get(hb, &h) < 0 ||
            off + HDR + BLOOM + h.clen > size)
            break;
        if (recover) {
            if (block_load(fd, off, &h, b) < 0)
                break;
            records_each(b->raw, h.rawlen, recover_line, a);
        }
        off += HDR + BLOOM + h.clen;
    }
    return off;
}

static void app_free(struct app *a)
{
    if (a->fd >= 0)
        close(a->fd);
    free(a->pend);
    free(a->cur);
    free(a);
}

static struct app *app_get(struct logstore *s, const char *key, char *err, size_t errlen)
{
    for (struct app *a = s->apps; a; a = a->next)
        if (strcmp(a->key, key) == 0)
            return a;
    if (!logstore_app_valid(key)) {
        seterr(err, errlen, "bad app key");
        return NULL;
    }
    struct app *a = calloc(1, sizeof *a);
    if (!a) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    a->fd = -1;
    snprintf(a->key, sizeof a->key, "%s", key);
    snprintf(a->dir, sizeof a->dir, "%s/%s", s->dir, key);
    if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
        seterr(err, errlen, "cannot create %s: %s", a->dir, strerror(errno));
        free(a);
        return NULL;
    }
    uint64_t cseg, coff, *segs;
    size_t n;
    cursors_read(a, &cseg, &coff);
    if (seg_list(a->dir, &segs, &n) < 0) {
        seterr(err, errlen, "cannot list %s", a->dir);
        app_free(a);
        return NULL;
    }
    struct blockbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (segs[i] < cseg && i + 1 < n)
            continue;
        char path[PATH_MAX];
        int last = i + 1 == n;
        seg_path(a, segs[i], path, sizeof path);
        int fd = open(path, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (fd < 0)
            continue;
        int recover = segs[i] >= cseg;
        uint64_t from = segs[i] == cseg ? coff : 0;
        /* blocks before the cursors' mark need only a header check */
        uint64_t end = from ? seg_walk(a, fd, 0, 0, &b) : 0;
        if (from && end < from)
            from = end;
        end = seg_walk(a, fd, from, recover, &b);
        if (last) {
            struct stat st;
            if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > end &&
                ftruncate(fd, (off_t)end) < 0) {
                close(fd);
                continue;
            }
            a->fd = fd;
            a->seg = segs[i];
            a->seg_size = end;
            lseek(a->fd, (off_t)end, SEEK_SET);
        } else {
            close(fd);
        }
    }
    blockbuf_release(&b);
    free(segs);
    a->next = s->apps;
    s->apps = a;
    return a;
}

int logstore_open(const char *dir, const struct logstore_cfg *cfg, struct logstore **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (strlen(dir) >= ROOT_MAX) {
        seterr(err, errlen, "store path too long");
        return -1;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        seterr(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    struct logstore *s = calloc(1, sizeof *s);
    if (!s) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (cfg)
        s->cfg = *cfg;
    else
        logstore_cfg_default(&s->cfg);
    if (s->cfg.block_bytes < 4096)
        s->cfg.block_bytes = 4096;
    if (s->cfg.block_bytes > RAW_MAX / 2)
        s->cfg.block_bytes = RAW_MAX / 2;
    *out = s;
    return 0;
}

const char *logstore_dir(const struct logstore *s)
{
    return s->dir;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int seg_open_new(struct app *a, char *err, size_t errlen)
{
    char path[PATH_MAX];
    uint64_t next = a->fd >= 0 ? a->seg + 1 : a->seg + 1;
    if (a->fd < 0) { /* the newest on disk may have been trimmed: go past it */
        uint64_t *segs;
        size_t n;
        if (seg_list(a->dir, &segs, &n) == 0 && n && segs[n - 1] >= next)
            next = segs[n - 1] + 1;
        free(segs);
    }
    seg_path(a, next, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        seterr(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = fd;
    a->seg = next;
    a->seg_size = 0;
    return 0;
}

static int app_flush(struct logstore *s, struct app *a, char *err, size_t errlen)
{
    if (!a->plen)
        return 0;
    if ((a->fd < 0 || a->seg_size >= s->cfg.segment_bytes) && seg_open_new(a, err, errlen) < 0)
        return -1;
    size_t bound = ZSTD_compressBound(a->plen);
    if (grow(&s->out, &s->outcap, HDR + BLOOM + bound) < 0) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    if (!s->cctx) {
        if (!(s->cctx = ZSTD_createCCtx())) {
            seterr(err, errlen, "out of memory");
            return -1;
        }
        ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel, ZLEVEL);
        ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1);
    }
    size_t c = ZSTD_compress2(s->cctx, s->out + HDR + BLOOM, bound, a->pend, a->plen);
    if (ZSTD_isError(c)) {
        seterr(err, errlen, "zstd: %s", ZSTD_getErrorName(c));
        return -1;
    }
    struct hdr h = {(uint32_t)c, (uint32_t)a->plen, a->pn, a->pmin, a->pmax};
    hdr_put((unsigned char *)s->out, &h);
    memcpy(s->out + HDR, a->bloom, BLOOM);
    if (write_all(a->fd, s->out, HDR + BLOOM + c) < 0) {
        seterr(err, errlen, "cannot write %s/%016llx.seg: %s", a->dir,
               (unsigned long long)a->seg, strerror(errno));
        /* cut what may have been written: the block is retried whole */
        if (ftruncate(a->fd, (off_t)a->seg_size) == 0)
            lseek(a->fd, (off_t)a->seg_size, SEEK_SET);
        return -1;
    }
    a->seg_size += HDR + BLOOM + c;
    a->plen = 0;
    a->pn = 0;
    memset(a->bloom, 0, BLOOM);
    if (cursors_write(s, a) < 0)
        seterr(err, errlen, "cannot write %s/cursors", a->dir);
    return 0;
}

int logstore_append(struct logstore *s, const char *app, const char *container,
                    const struct logstore_line *l, char *err, size_t errlen)
{
    struct app *a = app_get(s, app, err, errlen);
    if (!a)
        return -1;
    size_t need = logstore_record_size(l);
    if (l->tlen > LOGSTORE_LINE_MAX || l->clen > LOGSTORE_CID_MAX ||
        l->dlen > LOGSTORE_DEP_MAX) {
        seterr(err, errlen, "line too long");
        return -1;
    }
    if (a->plen && a->plen + need > s->cfg.block_bytes && app_flush(s, a, err, errlen) < 0)
        return -1;
    if (grow(&a->pend, &a->pcap, a->plen + need) < 0) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    logstore_record_put(a->pend + a->plen, l);
    if (!a->pn || l->ts < a->pmin)
        a->pmin = l->ts;
    if (!a->pn || l->ts > a->pmax)
        a->pmax = l->ts;
    a->plen += need;
    a->pn++;
    bloom_add(a->bloom, l->text, l->tlen);
    struct cursor *c = cursor_find(a, container, strlen(container), 1);
    if (c)
        cursor_advance(c, l->ts);
    if (a->plen >= s->cfg.block_bytes)
        return app_flush(s, a, err, errlen);
    return 0;
}

int logstore_flush(struct logstore *s, char *err, size_t errlen)
{
    int rc = 0;
    for (struct app *a = s->apps; a; a = a->next)
        if (app_flush(s, a, err, errlen) < 0)
            rc = -1;
    /* an idle store keeps no compression context (memory) */
    if (s->cctx) {
        ZSTD_freeCCtx(s->cctx);
        s->cctx = NULL;
    }
    if (s->outcap > (1u << 20)) {
        free(s->out);
        s->out = NULL;
        s->outcap = 0;
    }
    return rc;
}

void logstore_free(struct logstore *s)
{
    if (!s)
        return;
    logstore_flush(s, NULL, 0);
    while (s->apps) {
        struct app *a = s->apps;
        s->apps = a->next;
        app_free(a);
    }
    ZSTD_freeCCtx(s->cctx);
    free(s->out);
    free(s);
}

int logstore_cursor(struct logstore *s, const char *app, const char *container, int64_t *ts,
                    int64_t *n)
{
    *ts = 0;
    *n = 0;
    struct app *a = app_get(s, app, NULL, 0);
    if (!a)
        return -1;
    struct cursor *c = cursor_find(a, container, strlen(container), 1);
    if (!c)
        return -1;
    if (!c->ts) { /* none under the full id: lines may carry the short one */
        for (size_t i = 0; i < a->ncur; i++)
            if (&a->cur[i] != c && strlen(a->cur[i].cid) < strlen(container) &&
                strncmp(a->cur[i].cid, container, strlen(a->cur[i].cid)) == 0) {
                c->ts = a->cur[i].ts;
                c->n = a->cur[i].n;
            }
    }
    *ts = c->ts;
    *n = c->n;
    return 0;
}

/* --- retention --- */

struct segfile {
    char path[PATH_MAX];
    uint64_t size;
    int64_t mtime_ns;
    int active;
};

static int64_t st_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

static int segs_of(struct logstore *s, const char *key, struct segfile **v, size_t *n,
                   size_t *cap)
{
    char dir[DIR_MAX];
    uint64_t *segs;
    size_t cnt;
    snprintf(dir, sizeof dir, "%s/%s", s->dir, key);
    if (seg_list(dir, &segs, &cnt) < 0)
        return -1;
    struct app *a = NULL;
    for (struct app *x = s->apps; x; x = x->next)
        if (strcmp(x->key, key) == 0)
            a = x;
    for (size_t i = 0; i < cnt; i++) {
        struct stat st;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            struct segfile *nv = realloc(*v, nc * sizeof *nv);
            if (!nv)
                break;
            *v = nv;
            *cap = nc;
        }
        struct segfile *f = &(*v)[*n];
        snprintf(f->path, sizeof f->path, "%s/%016llx.seg", dir, (unsigned long long)segs[i]);
        if (stat(f->path, &st) < 0)
            continue;
        f->size = (uint64_t)st.st_size;
        f->mtime_ns = st_mtime_ns(&st);
        f->active = a && a->fd >= 0 && a->seg == segs[i];
        (*n)++;
    }
    free(segs);
    return 0;
}

static void drop(struct logstore *s, struct segfile *f)
{
    if (f->active) { /* the newest segment of an app: close it first */
        for (struct app *a = s->apps; a; a = a->next) {
            char p[PATH_MAX];
            seg_path(a, a->seg, p, sizeof p);
            if (a->fd >= 0 && strcmp(p, f->path) == 0) {
                close(a->fd);
                a->fd = -1;
                a->seg_size = 0;
            }
        }
    }
    unlink(f->path);
}

/* Oldest first: by the last write, then (segments written within the
 * file system's timestamp granularity share one) by path, which orders
 * an app's segments by number (fixed-width hex). qsort is not stable:
 * without the second key an app's newer segment could go first. */
static int by_mtime(const void *x, const void *y)
{
    const struct segfile *a = x, *b = y;
    if (a->mtime_ns != b->mtime_ns)
        return a->mtime_ns < b->mtime_ns ? -1 : 1;
    return strcmp(a->path, b->path);
}

uint64_t logstore_trim(struct logstore *s, int64_t now_ns)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return 0;
    struct segfile *all = NULL;
    size_t nall = 0, capall = 0;
    uint64_t removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!logstore_app_valid(e->d_name))
            continue;
        struct segfile *v = NULL;
        size_t n = 0, cap = 0;
        if (segs_of(s, e->d_name, &v, &n, &cap) < 0)
            continue;
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            /* by age: the segment's last write is older than the horizon */
            if (v[i].mtime_ns < now_ns - s->cfg.retain_ns) {
                uint64_t sz = v[i].size;
                drop(s, &v[i]);
                removed += sz;
                v[i].size = 0;
            }
            total += v[i].size;
        }
        /* by size: oldest first, never the segment being written */
        for (size_t i = 0; i < n && total > s->cfg.max_app_bytes; i++) {
            if (!v[i].size || v[i].active)
                continue;
            uint64_t sz = v[i].size;
            drop(s, &v[i]);
            removed += sz;
            total -= sz;
            v[i].size = 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!v[i].size)
                continue;
            if (nall == capall) {
                size_t nc = capall ? capall * 2 : 64;
                struct segfile *nv = realloc(all, nc * sizeof *nv);
                if (!nv)
                    break;
                all = nv;
                capall = nc;
            }
            all[nall++] = v[i];
        }
        free(v);
    }
    closedir(d);
    uint64_t total = 0;
    for (size_t i = 0; i < nall; i++)
        total += all[i].size;
    if (total > s->cfg.max_total_bytes) {
        qsort(all, nall, sizeof *all, by_mtime);
        for (size_t i = 0; i < nall && total > s->cfg.max_total_bytes; i++) {
            if (all[i].active)
                continue;
            uint64_t sz = all[i].size;
            drop(s, &all[i]);
            removed += sz;
            total -= sz;
        }
    }
    free(all);
    return removed;
}

uint64_t logstore_disk_bytes(struct logstore *s, const char *app)
{
    struct segfile *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    if (app) {
        segs_of(s, app, &v, &n, &cap);
    } else {
        DIR *d = opendir(s->dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (logstore_app_valid(e->d_name))
                segs_of(s, e->d_name, &v, &n, &cap);
        if (d)
            closedir(d);
    }
    for (size_t i = 0; i < n; i++)
        total += v[i].size;
    free(v);
    return total;
}

/* --- queries --- */

int logstore_snapshot(struct logstore *s, const char *app, struct logstore_snap *out)
{
    memset(out, 0, sizeof *out);
    struct app *a = app_get(s, app, NULL, 0);
    if (!a)
        return -1;
    snprintf(out->app, sizeof out->app, "%s", app);
    out->seg = a->fd >= 0 ? a->seg : 0;
    out->seg_size = a->fd >= 0 ? a->seg_size : 0;
    if (a->fd < 0) { /* nothing open: everything on disk is whole */
        uint64_t *segs;
        size_t n;
        if (seg_list(a->dir, &segs, &n) == 0 && n) {
            out->seg = segs[n - 1];
            out->seg_size = UINT64_MAX;
        }
        free(segs);
    }
    if (a->plen) {
        out->pending = malloc(a->plen);
        if (!out->pending)
            return -1;
        memcpy(out->pending, a->pend, a->plen);
        out->pending_len = a->plen;
    }
    return 0;
}

void logstore_snap_release(struct logstore_snap *sn)
{
    free(sn->pending);
    sn->pending = NULL;
    sn->pending_len = 0;
}

int logstore_match(const struct logstore_query *q, const struct logstore_line *l)
{
    if (q->since && l->ts < q->since)
        return 0;
    if (q->until && l->ts > q->until)
        return 0;
    if (q->streams && !(q->streams & (1 << (l->err ? 1 : 0))))
        return 0;
    if (q->deployment &&
        (l->dlen != strlen(q->deployment) || memcmp(l->deployment, q->deployment, l->dlen)))
        return 0;
    if (q->q && q->q[0] && !memmem(l->text, l->tlen, q->q, strlen(q->q)))
        return 0;
    if (q->re && !logre_match(q->re, l->text, l->tlen))
        return 0;
    return 1;
}

struct blockref {
    int fd;
    uint64_t off;
    struct hdr h;
};

struct qstate {
    const struct logstore_query *q;
    logstore_line_cb cb;
    void *arg;
    /* tail: matches of the current block, then the kept ones */
    struct logstore_line *m;
    size_t nm, capm;
    char **kept;                        /* copies of records, newest first */
    size_t nkept;
};

static int fwd_line(void *arg, const struct logstore_line *l)
{
    struct qstate *st = arg;
    if (!logstore_match(st->q, l))
        return 0;
    return st->cb(st->arg, l) < 0 ? -1 : 0;
}

static int collect_line(void *arg, const struct logstore_line *l)
{
    struct qstate *st = arg;
    if (!logstore_match(st->q, l))
        return 0;
    if (st->nm == st->capm) {
        size_t nc = st->capm ? st->capm * 2 : 256;
        struct logstore_line *nv = realloc(st->m, nc * sizeof *nv);
        if (!nv)
            return -1;
        st->m = nv;
        st->capm = nc;
    }
    st->m[st->nm++] = *l;
    return 0;
}

/* Tail: keeps the block's matches, newest first, until q->tail are kept. */
static int tail_block(struct qstate *st, const char *raw, size_t len)
{
    st->nm = 0;
    if (records_each(raw, len, collect_line, st) != 0)
        return -1;
    for (size_t i = st->nm; i > 0 && st->nkept < st->q->tail; i--) {
        const struct logstore_line *l = &st->m[i - 1];
        size_t sz = logstore_record_size(l);
        char *c = malloc(sz);
        if (!c)
            return -1;
        logstore_record_put(c, l);
        st->kept[st->nkept++] = c;
    }
    return 0;
}

int logstore_query(const char *root, const struct logstore_snap *sn,
                   const struct logstore_query *q, logstore_line_cb cb, void *arg, char *err,
                   size_t errlen)
{
    char dir[DIR_MAX];
    uint64_t *segs = NULL;
    size_t nseg = 0, nb = 0, capb = 0;
    struct blockref *bl = NULL;
    int *fds = NULL;
    struct blockbuf b = {0};
    struct qstate st = {q, cb, arg, NULL, 0, 0, NULL, 0};
    int rc = -1;

    snprintf(dir, sizeof dir, "%s/%s", root, sn->app);
    if (seg_list(dir, &segs, &nseg) < 0) {
        seterr(err, errlen, "cannot list the app's log segments");
        goto done;
    }
    fds = calloc(nseg ? nseg : 1, sizeof *fds);
    if (!fds)
        goto oom;
    /* the index: every block's header, in order, skipping what cannot match */
    for (size_t i = 0; i < nseg; i++) {
        char path[PATH_MAX];
        fds[i] = -1;
        if (!sn->seg || segs[i] > sn->seg)
            continue; /* made after the snapshot: its lines are in pending or later */
        snprintf(path, sizeof path, "%s/%016llx.seg", dir, (unsigned long long)segs[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* trimmed meanwhile */
        fds[i] = fd;
        struct stat stt;
        if (fstat(fd, &stt) < 0)
            continue;
        uint64_t size = (uint64_t)stt.st_size, off = 0;
        if (segs[i] == sn->seg && sn->seg_size < size)
            size = sn->seg_size;
        unsigned char hb[HDR + BLOOM];
        while (off + HDR + BLOOM <= size) {
            struct hdr h;
            if (pread(fd, hb, sizeof hb, (off_t)off) != (ssize_t)sizeof hb ||
                hdr_get(hb, &h) < 0 || off + HDR + BLOOM + h.clen > size)
                break;
            int skip = (q->since && h.max_ts < q->since) || (q->until && h.min_ts > q->until) ||
                       !bloom_may(hb + HDR, q->q);
            if (!skip) {
                if (nb == capb) {
                    size_t nc = capb ? capb * 2 : 256;
                    if (nc > BLOCKS_MAX) {
                        seterr(err, errlen, "too many blocks");
                        goto done;
                    }
                    struct blockref *nv = realloc(bl, nc * sizeof *nv);
                    if (!nv)
                        goto oom;
                    bl = nv;
                    capb = nc;
                }
                bl[nb++] = (struct blockref){fd, off, h};
            }
            off += HDR + BLOOM + h.clen;
        }
    }
    if (!q->tail) {
        for (size_t i = 0; i < nb; i++) {
            if (block_load(bl[i].fd, bl[i].off, &bl[i].h, &b) < 0)
                continue; /* damaged: skipped, the rest still answers */
            if (records_each(b.raw, bl[i].h.rawlen, fwd_line, &st)) {
                rc = 1;
                goto done;
            }
        }
        if (sn->pending && records_each(sn->pending, sn->pending_len, fwd_line, &st)) {
            rc = 1;
            goto done;
        }
        rc = 0;
        goto done;
    }
    st.kept = malloc(q->tail * sizeof *st.kept);
    if (!st.kept)
        goto oom;
    if (sn->pending && tail_block(&st, sn->pending, sn->pending_len) < 0)
        goto oom;
    for (size_t i = nb; i > 0 && st.nkept < q->tail; i--) {
        if (block_load(bl[i - 1].fd, bl[i - 1].off, &bl[i - 1].h, &b) < 0)
            continue;
        if (tail_block(&st, b.raw, bl[i - 1].h.rawlen) < 0)
            goto oom;
    }
    rc = 0;
    for (size_t i = st.nkept; i > 0; i--) {
        struct logstore_line l;
        char *c = st.kept[i - 1];
        logstore_record_get(c, SIZE_MAX / 2, &l);
        if (rc == 0 && cb(arg, &l) < 0)
            rc = 1;
    }
    goto done;
oom:
    seterr(err, errlen, "out of memory");
    rc = -1;
done:
    for (size_t i = 0; i < st.nkept; i++)
        free(st.kept[i]);
    free(st.kept);
    free(st.m);
    for (size_t i = 0; fds && i < nseg; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    free(bl);
    free(segs);
    blockbuf_release(&b);
    return rc;
}

size_t logstore_block_scan(const char *data, size_t len, logstore_line_cb cb, void *arg)
{
    struct hdr h;
    if (len < HDR + BLOOM || hdr_get((const unsigned char *)data, &h) < 0 ||
        len - HDR - BLOOM < h.clen)
        return 0;
    char *raw = malloc(h.rawlen ? h.rawlen : 1);
    if (!raw)
        return 0;
    size_t got = ZSTD_decompress(raw, h.rawlen, data + HDR + BLOOM, h.clen);
    size_t used = 0;
    if (!ZSTD_isError(got) && got == h.rawlen) {
        records_each(raw, h.rawlen, cb, arg);
        used = HDR + BLOOM + h.clen;
    }
    free(raw);
    return used;
}
