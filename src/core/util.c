/* util.c - time, string and file helpers. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t util_now(void) { return (int64_t)time(NULL); }

uint64_t util_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (the civil-from-days
 * arithmetic on 400-year eras): gmtime_r takes glibc's timezone lock twice
 * per call, a visible share of a list answer with a timestamp per row. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468; /* days from 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                    /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);             /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                  /* from March */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Hand-formatted: strftime was a visible share of an API answer's cost. */
void util_iso8601(int64_t t, char *out, size_t outlen)
{
    /* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
    if (outlen < 21 || t < -62167219200LL || t > 253402300799LL) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sod = t - days * 86400;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    put2(out, (int)(y / 100));
    put2(out + 2, (int)(y % 100));
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, (int)(sod / 3600));
    out[13] = ':';
    put2(out + 14, (int)(sod / 60 % 60));
    out[16] = ':';
    put2(out + 17, (int)(sod % 60));
    out[19] = 'Z';
    out[20] = '\0';
}

int util_parse_time(const char *s, int64_t *out)
{
    if (util_parse_i64(s, out) == 0)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || !(*end == 'Z' || *end == '\0') || (*end == 'Z' && end[1]))
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int util_strlcpy(char *dst, const char *src, size_t n)
{
    size_t l = strlen(src);
    if (n == 0)
        return -1;
    if (l >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, l + 1);
    return 0;
}

int util_parse_i64(const char *s, int64_t *out)
{
    /* strtoll would skip leading blanks and take a '+': the whole string
     * must be the number. */
    if (!s || !((*s >= '0' && *s <= '9') || *s == '-'))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

int util_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* Reads up to max + 1 bytes: one byte past the cap tells a file of
     * exactly max bytes from a longer one. */
    size_t limit = max < SIZE_MAX / 2 ? max + 1 : SIZE_MAX / 2;
    size_t cap = limit < 4096 ? limit : 4096, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= limit) {
                errno = EFBIG;
                goto fail;
            }
            cap = cap * 2 > limit ? limit : cap * 2;
            char *nb = realloc(b, cap + 1);
            if (!nb)
                goto fail;
            b = nb;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        errno = EFBIG;
        goto fail;
    }
    close(fd);
    b[n] = '\0';
    *out = b;
    if (len)
        *len = n;
    return 0;
fail:
    free(b);
    close(fd);
    return -1;
}

int util_email_valid(const char *s)
{
    size_t l = strlen(s);
    if (l < 3 || l > 254)
        return 0;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return 0;
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\' || *p == 0x7f)
            return 0;
    return 1;
}

int util_lower_hex(const char *s, size_t min, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n >= min && n <= max;
}

int util_slug_valid(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 63 || s[0] == '-' || s[l - 1] == '-')
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    /* Purely numeric names would be ambiguous with ids in paths. */
    for (const char *p = s; *p; p++)
        if (!(*p >= '0' && *p <= '9'))
            return 1;
    return 0;
}
