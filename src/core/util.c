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

/* Hand-formatted: strftime was a visible share of an API answer's cost. */
void util_iso8601(int64_t t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (outlen < 21 || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year < -1900) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    int y = tm.tm_year + 1900;
    put2(out, y / 100);
    put2(out + 2, y % 100);
    out[4] = '-';
    put2(out + 5, tm.tm_mon + 1);
    out[7] = '-';
    put2(out + 8, tm.tm_mday);
    out[10] = 'T';
    put2(out + 11, tm.tm_hour);
    out[13] = ':';
    put2(out + 14, tm.tm_min);
    out[16] = ':';
    put2(out + 17, tm.tm_sec);
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
