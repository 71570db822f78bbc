/* logingest.c - berth-logingest, the runner's app log ingest path without
 * Docker (bench/app-logs.sh): Docker's multiplexed log stream, made here
 * in chunks of CHUNK lines (not timed), fed in 16 KiB pieces (what lws
 * hands the runner) to logparse and from it to the logstore, exactly as
 * applogs.c does. Prints lines/s, CPU seconds and bytes on disk.
 *
 *   berth-logingest DIR APP LINES
 *
 * The lines are bench/app-logs.sh's: 99 bytes + newline, a counter, a
 * random hex id, a path, a duration, a user, "zebra" every 10,000th line,
 * 10 us apart from 2026-01-01. */
#include "logparse.h"
#include "logstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define CHUNK 100000
#define PIECE 16384
#define CID "beefbeefbeef00000000000000000000000000000000000000000000000000aa"

static struct logstore *st;
static const char *app;
static long long stored;

static void on_line(void *arg, int64_t ts, int err, int partial, const char *text, size_t len)
{
    (void)arg;
    struct logstore_line l = {ts, err, partial, CID, "1", text, LOGSTORE_SHORT_CID, 1, len};
    char e[256];
    if (logstore_append(st, app, CID, &l, e, sizeof e) < 0) {
        fprintf(stderr, "append: %s\n", e);
        exit(1);
    }
    stored++;
}

static int count_line(void *arg, const struct logstore_line *l)
{
    (void)l;
    (*(long long *)arg)++;
    return 0;
}

static double now(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd = 88172645463325252ull;
static uint32_t next(void)
{
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    return (uint32_t)rnd;
}

/* CHUNK lines from number first, as Docker frames them. */
static size_t make_chunk(char *out, long long first, long long n)
{
    static const char pad[] = "................................................................";
    char *p = out;
    for (long long i = first; i < first + n; i++) {
        long long ts_us = 1767225600000000LL + i * 10; /* 2026-01-01 */
        time_t sec = (time_t)(ts_us / 1000000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char line[200];
        int w = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld000Z ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts_us % 1000000);
        int t = snprintf(line + w, sizeof line - (size_t)w,
                         "%09lld INFO id=%06x GET /api/v1/items/%06u status=200 dur=%03ums "
                         "user=u%05u %s ", i + 1, next() & 0xffffff, next() % 1000000,
                         next() % 1000, next() % 100000, (i + 1) % 10000 == 0 ? "zebra" : "hay");
        memcpy(line + w + t, pad, (size_t)(99 - t));
        line[w + 99] = '\n';
        uint32_t len = (uint32_t)(w + 100);
        p[0] = 1;
        p[1] = p[2] = p[3] = 0;
        p[4] = (char)(len >> 24);
        p[5] = (char)(len >> 16);
        p[6] = (char)(len >> 8);
        p[7] = (char)len;
        memcpy(p + 8, line, len);
        p += 8 + len;
    }
    return (size_t)(p - out);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: berth-logingest DIR APP LINES [Q]\n");
        return 2;
    }
    app = argv[2];
    long long lines = atoll(argv[3]);
    char err[256];
    if (logstore_open(argv[1], NULL, &st, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char *buf = malloc((size_t)CHUNK * 200);
    if (!buf)
        return 1;
    struct logparse p;
    logparse_init(&p, on_line, NULL);
    double wall = 0, cpu = 0;
    for (long long done = 0; done < lines; done += CHUNK) {
        long long n = lines - done < CHUNK ? lines - done : CHUNK;
        size_t len = make_chunk(buf, done, n);
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        for (size_t off = 0; off < len; off += PIECE)
            logparse_feed(&p, (unsigned char *)buf + off, len - off < PIECE ? len - off : PIECE);
        wall += now(CLOCK_MONOTONIC) - w0;
        cpu += now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    logparse_end(&p);
    logstore_flush(st, err, sizeof err);
    wall += now(CLOCK_MONOTONIC) - w0;
    cpu += now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    uint64_t disk = logstore_disk_bytes(st, app);
    if (argc == 5) { /* and a search: the last 1,000 lines holding Q, in-process */
        struct logstore_snap sn;
        struct logstore_query q = {0, 0, 1000, argv[4], 0, NULL, NULL};
        long long found = 0;
        logstore_snapshot(st, app, &sn);
        double q0 = now(CLOCK_MONOTONIC), qc = now(CLOCK_PROCESS_CPUTIME_ID);
        logstore_query(logstore_dir(st), &sn, &q, count_line, &found, err, sizeof err);
        printf("search q=%s tail=1000: %lld lines in %.0f ms (%.0f ms CPU)\n", argv[4], found,
               (now(CLOCK_MONOTONIC) - q0) * 1000, (now(CLOCK_PROCESS_CPUTIME_ID) - qc) * 1000);
        logstore_snap_release(&sn);
    }
    logparse_release(&p);
    logstore_free(st);
    free(buf);
    printf("%lld lines stored in %.2f s (%.2f s CPU): %.0f lines/s; %llu bytes on disk for %lld "
           "raw bytes: %.3f\n", stored, wall, cpu, (double)stored / wall,
           (unsigned long long)disk, lines * 100, (double)disk / (double)(lines * 100));
    return stored == lines ? 0 : 1;
}
