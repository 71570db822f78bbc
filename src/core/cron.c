/* cron.c - cron expressions, TZif zones and the next fire time (cron.h).
 *
 * Calendar arithmetic is done here on days since 1970-01-01 (Howard
 * Hinnant's civil-date algorithms), never through libc's time-zone state,
 * so it is the same on every thread and every host. The next-time search
 * walks wall-clock ("naive") minutes of the zone, skipping whole months,
 * days and hours that cannot match, and maps each match back to UTC.
 */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- civil dates ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days) { return (int)(((days % 7) + 11) % 7); }

/* ---- the expression ---- */

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* value lo + i, or NULL */
    int nnames;
};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day of month", 1, 31, NULL, 0},
    {"month", 1, 12, month_names, 12},
    {"day of week", 0, 7, day_names, 7},
};

/* One value at *p: digits (at most 3) or a three-letter name. */
static int value(const struct field *f, const char **p, int *out, char *err, size_t en)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        int v = 0, n = 0;
        while (isdigit((unsigned char)*s) && n < 4) {
            v = v * 10 + (*s - '0');
            s++;
            n++;
        }
        if (isdigit((unsigned char)*s) || v < f->lo || v > f->hi)
            return fail(err, en, "%s: value out of range %d-%d", f->name, f->lo, f->hi);
        *out = v;
        *p = s;
        return 0;
    }
    if (f->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
        isalpha((unsigned char)s[2]) && !isalpha((unsigned char)s[3])) {
        for (int i = 0; i < f->nnames; i++)
            if (tolower((unsigned char)s[0]) == f->names[i][0] &&
                tolower((unsigned char)s[1]) == f->names[i][1] &&
                tolower((unsigned char)s[2]) == f->names[i][2]) {
                *out = f->lo == 1 ? i + 1 : i;
                *p = s + 3;
                return 0;
            }
    }
    return fail(err, en, "%s: expected a number%s", f->name,
                f->names ? " or a name" : "");
}

/* One comma-separated element: '*', v, a-b, each with an optional /step. */
static int element(const struct field *f, const char *s, const char *end, uint64_t *bits,
                   char *err, size_t en)
{
    int lo, hi, step = 1, ranged = 0;
    const char *p = s;
    if (*p == '*') {
        lo = f->lo;
        hi = f->hi == 7 ? 6 : f->hi;
        p++;
        ranged = 1;
    } else {
        if (value(f, &p, &lo, err, en) < 0)
            return -1;
        hi = lo;
        if (*p == '-') {
            p++;
            if (value(f, &p, &hi, err, en) < 0)
                return -1;
            if (hi < lo)
                return fail(err, en, "%s: range %d-%d runs backwards", f->name, lo, hi);
            ranged = 1;
        }
    }
    if (p < end && *p == '/') {
        p++;
        int n = 0;
        step = 0;
        while (p < end && isdigit((unsigned char)*p) && n < 4) {
            step = step * 10 + (*p - '0');
            p++;
            n++;
        }
        if (n == 0 || (p < end && isdigit((unsigned char)*p)) || step < 1 ||
            step > f->hi - f->lo + 1)
            return fail(err, en, "%s: step must be 1-%d", f->name, f->hi - f->lo + 1);
        if (!ranged)
            hi = f->hi == 7 ? 6 : f->hi; /* a/n: from a to the field's end */
    }
    if (p != end)
        return fail(err, en, "%s: unexpected '%c'", f->name, *p);
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ull << (f->hi == 7 && v == 7 ? 0 : v);
    return 0;
}

static int field_parse(const struct field *f, const char *s, size_t len, uint64_t *bits,
                       char *err, size_t en)
{
    *bits = 0;
    const char *end = s + len;
    while (s < end) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        const char *e = c ? c : end;
        if (e == s)
            return fail(err, en, "%s: empty list element", f->name);
        if (element(f, s, e, bits, err, en) < 0)
            return -1;
        s = e + (c ? 1 : 0);
        if (c && s == end)
            return fail(err, en, "%s: empty list element", f->name);
    }
    return 0;
}

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int cron_parse(const char *expr, struct cron *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!expr)
        return fail(err, errlen, "no expression");
    size_t n = strnlen(expr, CRON_EXPR_MAX + 1);
    if (n > CRON_EXPR_MAX)
        return fail(err, errlen, "expression over %d characters", CRON_EXPR_MAX);
    while (*expr == ' ' || *expr == '\t')
        expr++;
    if (*expr == '@') {
        size_t l = strcspn(expr, " \t");
        const char *rest = expr + l;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strlen(macros[i].name) == l && strncmp(expr, macros[i].name, l) == 0 && !*rest)
                return cron_parse(macros[i].expr, c, err, errlen);
        return fail(err, errlen, "unknown macro (use @yearly, @monthly, @weekly, @daily, "
                                 "@hourly or 5 fields)");
    }
    const char *p = expr;
    uint64_t bits[5];
    for (int i = 0; i < 5; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t l = strcspn(p, " \t");
        if (l == 0)
            return fail(err, errlen, "expected 5 fields (minute hour day-of-month month "
                                     "day-of-week), got %d", i);
        for (size_t k = 0; k < l; k++)
            if (!isalnum((unsigned char)p[k]) && !strchr("*,-/", p[k]))
                return fail(err, errlen, "%s: unexpected character", fields[i].name);
        if (field_parse(&fields[i], p, l, &bits[i], err, errlen) < 0)
            return -1;
        if (i == 2)
            c->dom_star = *p == '*';
        if (i == 4)
            c->dow_star = *p == '*';
        p += l;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return fail(err, errlen, "expected 5 fields, got more");
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint16_t)bits[3];
    c->dow = (uint8_t)bits[4];
    return 0;
}

/* ---- zones ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

/* "[+-]hh[:mm[:ss]]", hh at most hmax; seconds into *out. */
static int rule_time(const char **p, int hmax, int32_t *out)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int32_t part[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i && *s != ':')
            break;
        if (i)
            s++;
        int n = 0, v = 0;
        while (isdigit((unsigned char)*s) && n < 3) {
            v = v * 10 + (*s++ - '0');
            n++;
        }
        if (n == 0 || (i && (n != 2 || v > 59)) || (!i && v > hmax))
            return -1;
        part[i] = v;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    *p = s;
    return 0;
}

static int rule_name(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        const char *e = strchr(s, '>');
        if (!e || e - s < 4 || e - s > 32)
            return -1;
        for (const char *k = s + 1; k < e; k++)
            if (!isalnum((unsigned char)*k) && *k != '+' && *k != '-')
                return -1;
        *p = e + 1;
        return 0;
    }
    int n = 0;
    while (isalpha((unsigned char)s[n]) && n < 32)
        n++;
    if (n < 3 || isalpha((unsigned char)s[n]))
        return -1;
    *p = s + n;
    return 0;
}

static int rule_date(const char **p, struct cron_rule_date *d)
{
    const char *s = *p;
    memset(d, 0, sizeof *d);
    int v[3] = {0, 0, 0};
    if (*s == 'M') {
        s++;
        for (int i = 0; i < 3; i++) {
            if (i && *s++ != '.')
                return -1;
            int n = 0;
            while (isdigit((unsigned char)*s) && n < 3) {
                v[i] = v[i] * 10 + (*s++ - '0');
                n++;
            }
            if (!n)
                return -1;
        }
        if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 5 || v[2] > 6)
            return -1;
        d->kind = 'M';
        d->m = v[0], d->w = v[1], d->d = v[2];
    } else {
        d->kind = 'D';
        if (*s == 'J') {
            d->kind = 'J';
            s++;
        }
        int n = 0;
        while (isdigit((unsigned char)*s) && n < 4) {
            v[0] = v[0] * 10 + (*s++ - '0');
            n++;
        }
        if (!n || v[0] > 365 || (d->kind == 'J' && v[0] < 1))
            return -1;
        d->n = v[0];
    }
    d->time = 7200;
    if (*s == '/') {
        s++;
        if (rule_time(&s, 167, &d->time) < 0)
            return -1;
    }
    *p = s;
    return 0;
}

int cron_zone_parse_rule(const char *s, struct cron_zone *z, char *err, size_t errlen)
{
    const char *p = s;
    int32_t west;
    z->has_rule = 0;
    if (rule_name(&p) < 0 || rule_time(&p, 24, &west) < 0)
        return fail(err, errlen, "malformed time-zone rule");
    z->std_off = -west;
    z->dst_off = z->std_off;
    z->rule_dst = 0;
    if (*p) {
        if (rule_name(&p) < 0)
            return fail(err, errlen, "malformed time-zone rule");
        z->dst_off = z->std_off + 3600;
        if (*p && *p != ',') {
            if (rule_time(&p, 24, &west) < 0)
                return fail(err, errlen, "malformed time-zone rule");
            z->dst_off = -west;
        }
        if (*p++ != ',' || rule_date(&p, &z->start) < 0 || *p++ != ',' ||
            rule_date(&p, &z->end) < 0 || *p)
            return fail(err, errlen, "malformed time-zone rule");
        z->rule_dst = 1;
    }
    z->has_rule = 1;
    return 0;
}

int cron_zone_parse(const uint8_t *data, size_t len, struct cron_zone *z, char *err,
                    size_t errlen)
{
    z->ntrans = z->ntypes = 0;
    z->has_rule = 0;
    if (len < 44 || memcmp(data, "TZif", 4) != 0)
        return fail(err, errlen, "not a TZif time-zone file");
    int version = data[4];
    const uint8_t *h = data;
    size_t tsize = 4, off = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (len - off < 44 || memcmp(h, "TZif", 4) != 0)
            return fail(err, errlen, "truncated time-zone file");
        uint32_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28),
                 timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        if (timecnt > CRON_ZONE_TRANS_MAX || typecnt < 1 || typecnt > 256 || charcnt > 65536 ||
            leap > 65536 || isut > 256 || isstd > 256)
            return fail(err, errlen, "time-zone file out of bounds");
        size_t body = (size_t)timecnt * tsize + timecnt + (size_t)typecnt * 6 + charcnt +
                      (size_t)leap * (tsize + 4) + isstd + isut;
        if (len - off - 44 < body)
            return fail(err, errlen, "truncated time-zone file");
        if (pass == 0 && version >= '2') {
            off += 44 + body;
            h = data + off;
            tsize = 8;
            continue;
        }
        if (leap)
            return fail(err, errlen, "time zones with leap seconds are not supported");
        const uint8_t *t = h + 44, *idx = t + (size_t)timecnt * tsize,
                      *types = idx + timecnt;
        for (uint32_t i = 0; i < typecnt; i++) {
            int32_t o = (int32_t)be32(types + 6 * i);
            if (o <= -26 * 3600 || o >= 26 * 3600)
                return fail(err, errlen, "time-zone offset out of range");
            z->type_off[i] = o;
        }
        for (uint32_t i = 0; i < timecnt; i++) {
            int64_t v = tsize == 8 ? be64(t + 8 * i) : (int64_t)(int32_t)be32(t + 4 * i);
            if (idx[i] >= typecnt || (i && v <= z->trans[i - 1]))
                return fail(err, errlen, "malformed time-zone transitions");
            z->trans[i] = v;
            z->trans_type[i] = idx[i];
        }
        z->ntrans = (int)timecnt;
        z->ntypes = (int)typecnt;
        off += 44 + body;
        break;
    }
    /* v2+: "\nRULE\n" follows; an empty or unreadable rule means none. */
    if (version >= '2' && off < len && data[off] == '\n') {
        const uint8_t *e = memchr(data + off + 1, '\n', len - off - 1);
        size_t rl = e ? (size_t)(e - (data + off + 1)) : 0;
        if (rl > 0 && rl < 128) {
            char rule[128];
            memcpy(rule, data + off + 1, rl);
            rule[rl] = '\0';
            struct cron_zone tmp;
            if (cron_zone_parse_rule(rule, &tmp, NULL, 0) == 0) {
                z->has_rule = 1;
                z->rule_dst = tmp.rule_dst;
                z->std_off = tmp.std_off;
                z->dst_off = tmp.dst_off;
                z->start = tmp.start;
                z->end = tmp.end;
            }
        }
    }
    return 0;
}

/* The UTC instant a rule date's local time names in year y, given the
 * offset in effect before it. */
static int64_t rule_instant(const struct cron_rule_date *d, int64_t y, int32_t off_before)
{
    int64_t day;
    if (d->kind == 'J')
        day = days_from_civil(y, 1, 1) + d->n - 1 + (is_leap(y) && d->n >= 60);
    else if (d->kind == 'D')
        day = days_from_civil(y, 1, 1) + d->n;
    else {
        int64_t first = days_from_civil(y, d->m, 1);
        int dd = 1 + (d->d - weekday(first) + 7) % 7 + (d->w - 1) * 7;
        while (dd > month_days(y, d->m))
            dd -= 7;
        day = first + dd - 1;
    }
    return day * 86400 + d->time - off_before;
}

static int32_t rule_offset(const struct cron_zone *z, int64_t t)
{
    if (!z->rule_dst)
        return z->std_off;
    int64_t y;
    int m, d;
    civil_from_days(floor_div(t + z->std_off, 86400), &y, &m, &d);
    int64_t start = rule_instant(&z->start, y, z->std_off);
    int64_t end = rule_instant(&z->end, y, z->dst_off);
    if (start < end)
        return t >= start && t < end ? z->dst_off : z->std_off;
    return t >= end && t < start ? z->std_off : z->dst_off;
}

int32_t cron_zone_offset(const struct cron_zone *z, int64_t t)
{
    if (!z)
        return 0;
    if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]) {
        if (z->has_rule)
            return rule_offset(z, t);
        if (z->ntrans == 0)
            return z->ntypes ? z->type_off[0] : 0;
        return z->type_off[z->trans_type[z->ntrans - 1]];
    }
    if (t < z->trans[0])
        return z->type_off[0];
    int lo = 0, hi = z->ntrans - 1; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->type_off[z->trans_type[lo]];
}

int cron_zone_name_valid(const char *name)
{
    size_t n = strnlen(name, CRON_ZONE_NAME_MAX);
    if (n == 0 || n >= CRON_ZONE_NAME_MAX)
        return 0;
    int part_start = 1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '/') {
            if (part_start)
                return 0; /* leading '/' or "//" */
            part_start = 1;
            continue;
        }
        if (part_start && (c == '.' || c == '-'))
            return 0;
        if (!isalnum((unsigned char)c) && c != '_' && c != '-' && c != '+' && c != '.')
            return 0;
        part_start = 0;
    }
    return !part_start;
}

static int is_utc(const char *name)
{
    return !*name || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0;
}

int cron_zone_load(const char *name, const char *dir, struct cron_zone **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (is_utc(name))
        return 0;
    if (!cron_zone_name_valid(name))
        return fail(err, errlen, "unknown time zone '%.64s'", name);
    if (!dir) {
        dir = getenv("TZDIR");
        if (!dir || !*dir)
            dir = "/usr/share/zoneinfo";
    }
    char path[512];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return fail(err, errlen, "unknown time zone '%s'", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fail(err, errlen, "unknown time zone '%s'", name);
    struct stat st;
    uint8_t *buf = NULL;
    ssize_t got = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CRON_ZONE_FILE_MAX ||
        !(buf = malloc((size_t)st.st_size + 1))) {
        close(fd);
        free(buf);
        return fail(err, errlen, "unknown time zone '%s'", name);
    }
    while (got < st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)(st.st_size - got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += k;
    }
    close(fd);
    struct cron_zone *z = calloc(1, sizeof *z);
    char why[160];
    if (!z || cron_zone_parse(buf, (size_t)got, z, why, sizeof why) < 0) {
        free(buf);
        free(z);
        return fail(err, errlen, "unknown time zone '%s'%s%s", name, z ? ": " : "",
                    z ? why : "");
    }
    free(buf);
    snprintf(z->name, sizeof z->name, "%s", name);
    *out = z;
    return 0;
}

void cron_zone_free(struct cron_zone *z) { free(z); }

/* ---- the next fire time ---- */

static int day_matches(const struct cron *c, int64_t days, int dom)
{
    int dm = (c->dom >> dom) & 1, wm = (c->dow >> weekday(days)) & 1;
    if (c->dom_star && c->dow_star)
        return 1;
    if (c->dom_star)
        return wm;
    if (c->dow_star)
        return dm;
    return dm || wm;
}

/* The first naive (wall-clock) minute >= L matching c, before limit; -1 if
 * none. */
static int64_t next_naive(const struct cron *c, int64_t L, int64_t limit)
{
    while (L < limit) {
        int64_t days = floor_div(L, 86400), y;
        int m, d;
        civil_from_days(days, &y, &m, &d);
        int64_t sod = L - days * 86400;
        int hour = (int)(sod / 3600), minute = (int)(sod % 3600 / 60);
        if (!((c->month >> m) & 1)) {
            L = (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) * 86400;
            continue;
        }
        if (!day_matches(c, days, d)) {
            L = (days + 1) * 86400;
            continue;
        }
        if (!((c->hour >> hour) & 1)) {
            L = days * 86400 + (int64_t)(hour + 1) * 3600;
            continue;
        }
        if (!((c->minute >> minute) & 1)) {
            L += 60;
            continue;
        }
        return L;
    }
    return -1;
}

/* The earliest instant whose wall-clock time in z is L: -1 in a gap. */
static int64_t first_instant(const struct cron_zone *z, int64_t L)
{
    if (!z)
        return L;
    int32_t offs[3] = {cron_zone_offset(z, L - 86400), cron_zone_offset(z, L),
                       cron_zone_offset(z, L + 86400)};
    int64_t best = -1;
    int have = 0;
    for (int i = 0; i < 3; i++) {
        int64_t u = L - offs[i];
        if (cron_zone_offset(z, u) == offs[i] && (!have || u < best)) {
            best = u;
            have = 1;
        }
    }
    return have ? best : INT64_MIN;
}

#define CRON_T_MIN (-62135596800LL) /* 0001-01-01 */
#define CRON_T_MAX (253402300799LL - (int64_t)CRON_HORIZON_YEARS * 366 * 86400)

int cron_next(const struct cron *c, const struct cron_zone *z, int64_t after, int64_t *next)
{
    if (after < CRON_T_MIN || after > CRON_T_MAX || !c->minute || !c->hour || !c->month ||
        (!c->dom && !c->dow))
        return -1;
    int64_t L = floor_div(after + cron_zone_offset(z, after), 60) * 60 + 60;
    /* a repeated hour can put `after`'s wall time ahead of a later
     * instant's: start an hour back, the instants decide */
    if (z)
        L -= 3 * 3600;
    int64_t limit = L + (int64_t)CRON_HORIZON_YEARS * 366 * 86400;
    for (;;) {
        L = next_naive(c, L, limit);
        if (L < 0)
            return -1;
        int64_t u = first_instant(z, L);
        if (u != INT64_MIN && u > after) {
            *next = u;
            return 0;
        }
        L += 60;
    }
}
