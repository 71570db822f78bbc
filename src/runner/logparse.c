/* logparse.c - Docker's container log stream into lines (logparse.h).
 * Owns each side's line buffer (freed by logparse_release, and after a
 * line longer than 4 KiB so an idle stream holds little). */
#include "logparse.h"
#include "proto.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHRINK_OVER 4096

void logparse_init(struct logparse *p, logparse_fn fn, void *arg)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->arg = arg;
    p->side[0].in_ts = p->side[1].in_ts = 1;
}

void logparse_release(struct logparse *p)
{
    for (int i = 0; i < 2; i++) {
        free(p->side[i].line);
        p->side[i].line = NULL;
        p->side[i].len = p->side[i].cap = 0;
    }
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int64_t logparse_ts(struct logparse *p, const char *s, size_t n)
{
    int64_t sec;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    if (p && memcmp(s, p->sec_key, 19) == 0 && p->sec_key[0]) {
        sec = p->sec_val;
    } else {
        int Y, M, D, h, m, sc;
        if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) ||
            digits(s + 11, 2, &h) || digits(s + 14, 2, &m) || digits(s + 17, 2, &sc) ||
            Y < 1970 || Y > 2200 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 ||
            sc > 60)
            return -1;
        struct tm tm = {0};
        tm.tm_year = Y - 1900;
        tm.tm_mon = M - 1;
        tm.tm_mday = D;
        tm.tm_hour = h;
        tm.tm_min = m;
        tm.tm_sec = sc;
        time_t t = timegm(&tm);
        if (t < 0)
            return -1;
        sec = (int64_t)t;
        if (p) {
            memcpy(p->sec_key, s, 19);
            p->sec_val = sec;
        }
    }
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        size_t nd = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 9)
                frac = frac * 10 + (s[i] - '0');
        if (nd == 0)
            return -1;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        sec += (s[i] == '+' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
        i += 6;
    } else {
        return -1;
    }
    if (i != n || sec < 0)
        return -1;
    return sec * 1000000000LL + frac;
}

static int line_grow(struct logparse_side *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    size_t nc = s->cap ? s->cap : 256;
    while (nc < need)
        nc *= 2;
    if (nc > LOGPARSE_LINE_MAX + 8)
        nc = LOGPARSE_LINE_MAX + 8;
    if (nc < need)
        return -1;
    char *n = realloc(s->line, nc);
    if (!n)
        return -1;
    s->line = n;
    s->cap = nc;
    return 0;
}

static void emit(struct logparse *p, int side, int partial)
{
    struct logparse_side *s = &p->side[side];
    size_t out = 0;
    if (partial) {
        size_t used = proto_utf8_sanitize(s->line, s->len, 0, s->line, &out);
        p->fn(p->arg, s->ts, side, 1, s->line, out);
        memmove(s->line, s->line + used, s->len - used);
        s->len -= used;
        return;
    }
    if (s->len && s->line[s->len - 1] == '\r')
        s->len--;
    if (s->len)
        proto_utf8_sanitize(s->line, s->len, 1, s->line, &out);
    p->fn(p->arg, s->ts, side, 0, s->line ? s->line : "", out);
    s->len = 0;
    if (s->cap > SHRINK_OVER) {
        free(s->line);
        s->line = NULL;
        s->cap = 0;
    }
}

static void append(struct logparse *p, int side, const char *data, size_t n)
{
    struct logparse_side *s = &p->side[side];
    while (n) {
        size_t room = LOGPARSE_LINE_MAX - s->len, take = n < room ? n : room;
        if (line_grow(s, s->len + take) < 0)
            return; /* out of memory: the bytes are dropped */
        memcpy(s->line + s->len, data, take);
        s->len += take;
        data += take;
        n -= take;
        if (s->len >= LOGPARSE_LINE_MAX)
            emit(p, side, 1);
    }
}

/* A message's timestamp ended (or cannot be one): the line's time. */
static void ts_done(struct logparse *p, int side, int valid)
{
    struct logparse_side *s = &p->side[side];
    int64_t ts = valid ? logparse_ts(p, s->tsb, s->tsn) : -1;
    s->in_ts = 0;
    if (ts >= 0) {
        if (!s->len)
            s->ts = ts;
        p->last_ts = ts;
        return;
    }
    if (!s->len)
        s->ts = p->last_ts;
    append(p, side, s->tsb, s->tsn); /* not a timestamp: it is text */
}

static void side_bytes(struct logparse *p, int side, const unsigned char *data, size_t n)
{
    struct logparse_side *s = &p->side[side];
    size_t i = 0;
    while (i < n) {
        if (s->in_ts) {
            unsigned char c = data[i];
            if (c == ' ') {
                ts_done(p, side, 1);
                i++;
            } else if (c != '\n' && s->tsn < sizeof s->tsb) {
                s->tsb[s->tsn++] = (char)c;
                i++;
            } else {
                ts_done(p, side, 0);
            }
            continue;
        }
        const unsigned char *nl = memchr(data + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - data) : n;
        append(p, side, (const char *)data + i, end - i);
        i = end;
        if (nl) {
            emit(p, side, 0);
            i++;
            if (p->mode == 2) { /* raw: every line is a message */
                s->in_ts = 1;
                s->tsn = 0;
            }
        }
    }
}

void logparse_feed(struct logparse *p, const unsigned char *data, size_t len)
{
    if (!len || p->mode == 3)
        return;
    if (!p->mode)
        p->mode = data[0] <= 2 ? 1 : 2;
    if (p->mode == 2) {
        side_bytes(p, 0, data, len);
        return;
    }
    while (len) {
        if (p->fhn < 8) {
            size_t take = 8 - p->fhn < len ? 8 - p->fhn : len;
            memcpy(p->fh + p->fhn, data, take);
            p->fhn += take;
            data += take;
            len -= take;
            if (p->fhn < 8)
                return;
            if (p->fh[0] > 2 || p->fh[1] || p->fh[2] || p->fh[3]) {
                p->mode = 3; /* not Docker's framing: the rest is ignored */
                return;
            }
            p->fside = p->fh[0] == 2 ? 1 : 0;
            p->fleft = (uint64_t)p->fh[4] << 24 | (uint64_t)p->fh[5] << 16 |
                       (uint64_t)p->fh[6] << 8 | p->fh[7];
            p->side[p->fside].in_ts = 1; /* each frame is one message */
            p->side[p->fside].tsn = 0;
            if (!p->fleft)
                p->fhn = 0;
            continue;
        }
        size_t take = p->fleft < len ? (size_t)p->fleft : len;
        side_bytes(p, p->fside, data, take);
        data += take;
        len -= take;
        p->fleft -= take;
        if (!p->fleft)
            p->fhn = 0;
    }
}

int logparse_broken(const struct logparse *p)
{
    return p->mode == 3;
}

void logparse_end(struct logparse *p)
{
    for (int i = 0; i < 2; i++) {
        struct logparse_side *s = &p->side[i];
        if (s->in_ts && s->tsn)
            ts_done(p, i, 0);
        if (s->len)
            emit(p, i, 0);
        s->in_ts = 1;
        s->tsn = 0;
    }
}
