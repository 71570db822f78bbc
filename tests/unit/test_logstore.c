/* test_logstore.c - src/runner/logstore.c: the app log segment store
 * (append, blocks, queries with every filter, tail, cursors across a
 * reopen, a torn tail, retention by size, age and total). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "logstore.h"

#define CID_A "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
#define CID_B "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222"

static char root[256];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/berth-logstore-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct logstore *open_store(const struct logstore_cfg *cfg)
{
    struct logstore *s;
    char err[256];
    assert_int_equal(logstore_open(root, cfg, &s, err, sizeof err), 0);
    return s;
}

static void put(struct logstore *s, const char *app, const char *cid, int64_t ts, int err,
                const char *dep, const char *text)
{
    struct logstore_line l = {ts, err, 0, cid, dep, text, LOGSTORE_SHORT_CID, strlen(dep),
                              strlen(text)};
    char e[256];
    assert_int_equal(logstore_append(s, app, cid, &l, e, sizeof e), 0);
}

struct got {
    int n;
    char text[64][128];
    int64_t ts[64];
};

static int collect(void *arg, const struct logstore_line *l)
{
    struct got *g = arg;
    if (g->n < 64) {
        snprintf(g->text[g->n], sizeof g->text[0], "%.*s", (int)l->tlen, l->text);
        g->ts[g->n] = l->ts;
    }
    g->n++;
    return 0;
}

static void query(struct logstore *s, const char *app, const struct logstore_query *q,
                  struct got *g)
{
    struct logstore_snap sn;
    char err[256];
    memset(g, 0, sizeof *g);
    assert_int_equal(logstore_snapshot(s, app, &sn), 0);
    assert_int_equal(logstore_query(logstore_dir(s), &sn, q, collect, g, err, sizeof err), 0);
    logstore_snap_release(&sn);
}

static void test_record_codec(void **state)
{
    (void)state;
    struct logstore_line l = {42, 1, 1, "abc", "7", "hello", 3, 1, 5}, r;
    char buf[64];
    size_t n = logstore_record_put(buf, &l);
    assert_int_equal(n, logstore_record_size(&l));
    assert_int_equal(logstore_record_get(buf, n, &r), n);
    assert_int_equal(r.ts, 42);
    assert_int_equal(r.err, 1);
    assert_int_equal(r.partial, 1);
    assert_memory_equal(r.text, "hello", 5);
    /* short, or lengths past the end: refused */
    assert_int_equal(logstore_record_get(buf, n - 1, &r), 0);
    buf[8] = 9; /* unknown flag */
    assert_int_equal(logstore_record_get(buf, n, &r), 0);
}

static void test_append_query(void **state)
{
    (void)state;
    struct logstore_cfg cfg;
    logstore_cfg_default(&cfg);
    cfg.block_bytes = 4096; /* many blocks */
    struct logstore *s = open_store(&cfg);
    char text[64];
    for (int i = 1; i <= 500; i++) {
        snprintf(text, sizeof text, "line %04d %s", i, i == 123 ? "needle" : "hay");
        put(s, "7", i % 2 ? CID_A : CID_B, 1000 + i, i % 5 == 0, i <= 250 ? "1" : "2", text);
    }
    struct got g;
    struct logstore_query q = {0};
    query(s, "7", &q, &g);
    assert_int_equal(g.n, 500);
    assert_string_equal(g.text[0], "line 0001 hay");
    q.q = "needle";
    query(s, "7", &q, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "line 0123 needle");
    memset(&q, 0, sizeof q);
    q.tail = 3;
    query(s, "7", &q, &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.text[0], "line 0498 hay");
    assert_string_equal(g.text[2], "line 0500 hay");
    memset(&q, 0, sizeof q);
    q.since = 1100;
    q.until = 1109;
    query(s, "7", &q, &g);
    assert_int_equal(g.n, 10);
    assert_int_equal(g.ts[0], 1100);
    memset(&q, 0, sizeof q);
    q.streams = 2;
    query(s, "7", &q, &g);
    assert_int_equal(g.n, 100);
    memset(&q, 0, sizeof q);
    q.deployment = "2";
    q.tail = 1;
    query(s, "7", &q, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "line 0500 hay");
    /* another app sees nothing of these */
    memset(&q, 0, sizeof q);
    query(s, "8", &q, &g);
    assert_int_equal(g.n, 0);
    logstore_free(s);
    /* reopened: same answers, cursors restored */
    s = open_store(&cfg);
    query(s, "7", &q, &g);
    assert_int_equal(g.n, 500);
    int64_t ts, n;
    assert_int_equal(logstore_cursor(s, "7", CID_A, &ts, &n), 0);
    assert_int_equal(ts, 1499);
    assert_int_equal(n, 1);
    assert_int_equal(logstore_cursor(s, "7", CID_B, &ts, &n), 0);
    assert_int_equal(ts, 1500);
    logstore_free(s);
}

static void test_cursor_same_ts(void **state)
{
    (void)state;
    struct logstore *s = open_store(NULL);
    put(s, "3", CID_A, 50, 0, "1", "a");
    put(s, "3", CID_A, 60, 0, "1", "b");
    put(s, "3", CID_A, 60, 0, "1", "c");
    int64_t ts, n;
    logstore_cursor(s, "3", CID_A, &ts, &n);
    assert_int_equal(ts, 60);
    assert_int_equal(n, 2);
    logstore_free(s);
    s = open_store(NULL);
    logstore_cursor(s, "3", CID_A, &ts, &n);
    assert_int_equal(ts, 60);
    assert_int_equal(n, 2);
    logstore_free(s);
}

/* A crash mid-write: the torn block is cut at open, cursors come from the
 * blocks themselves when the cursors file is behind. */
static void test_torn_tail(void **state)
{
    (void)state;
    struct logstore *s = open_store(NULL);
    put(s, "5", CID_A, 10, 0, "1", "first");
    char err[128];
    assert_int_equal(logstore_flush(s, err, sizeof err), 0);
    char cur[400], saved[400], seg[400];
    snprintf(cur, sizeof cur, "%s/5/cursors", root);
    snprintf(saved, sizeof saved, "%s/5/cursors.old", root);
    assert_int_equal(link(cur, saved), 0);
    put(s, "5", CID_A, 20, 0, "1", "second");
    assert_int_equal(logstore_flush(s, err, sizeof err), 0);
    logstore_free(s);
    assert_int_equal(rename(saved, cur), 0); /* the cursors file lags a block */
    snprintf(seg, sizeof seg, "%s/5/%016llx.seg", root, 1ULL);
    FILE *f = fopen(seg, "a");
    assert_non_null(f);
    fputs("ALB1 torn garbage", f);
    fclose(f);
    s = open_store(NULL);
    int64_t ts, n;
    logstore_cursor(s, "5", CID_A, &ts, &n);
    assert_int_equal(ts, 20);
    put(s, "5", CID_A, 30, 0, "1", "third");
    struct got g;
    struct logstore_query q = {0};
    query(s, "5", &q, &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.text[2], "third");
    logstore_free(s);
}

static void test_trim_size(void **state)
{
    (void)state;
    struct logstore_cfg cfg;
    logstore_cfg_default(&cfg);
    cfg.block_bytes = 4096;
    cfg.segment_bytes = 8192;
    cfg.max_app_bytes = 40000;
    struct logstore *s = open_store(&cfg);
    char text[200];
    unsigned r = 12345;
    for (int i = 0; i < 3000; i++) { /* poorly compressible text */
        for (int k = 0; k < 100; k++) {
            r = r * 1103515245u + 12345u;
            text[k] = (char)('a' + (r >> 16) % 26);
        }
        snprintf(text + 100, 20, " %d", i);
        put(s, "9", CID_A, 1000 + i, 0, "1", text);
    }
    char err[128];
    logstore_flush(s, err, sizeof err);
    uint64_t before = logstore_disk_bytes(s, "9");
    assert_true(before > 40000);
    uint64_t removed = logstore_trim(s, 0);
    assert_true(removed > 0);
    assert_true(logstore_disk_bytes(s, "9") <= 40000);
    char first[400];
    snprintf(first, sizeof first, "%s/9/%016llx.seg", root, 1ULL);
    assert_int_not_equal(access(first, F_OK), 0); /* the oldest went */
    struct got g;
    struct logstore_query q = {0};
    query(s, "9", &q, &g);
    assert_true(g.n > 0 && g.n < 3000);
    assert_true(g.ts[0] > 1000);
    /* the newest line survived, and appending goes on */
    q.tail = 1;
    query(s, "9", &q, &g);
    assert_int_equal(g.ts[0], 3999);
    logstore_free(s);
}

static void test_trim_age_total(void **state)
{
    (void)state;
    struct logstore_cfg cfg;
    logstore_cfg_default(&cfg);
    cfg.retain_ns = 1000000000LL;
    struct logstore *s = open_store(&cfg);
    put(s, "1", CID_A, 10, 0, "1", "old");
    char err[128];
    logstore_flush(s, err, sizeof err);
    /* a day later by the trim's clock: the segment is past the age */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t later = (int64_t)now.tv_sec * 1000000000LL + 86400LL * 1000000000LL;
    assert_true(logstore_trim(s, later) > 0);
    assert_int_equal(logstore_disk_bytes(s, "1"), 0);
    put(s, "1", CID_A, 20, 0, "1", "new");
    logstore_flush(s, err, sizeof err);
    struct got g;
    struct logstore_query q = {0};
    query(s, "1", &q, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "new");
    logstore_free(s);
}

/* The host's total: the oldest segments of any app go first (by their
 * last write), never a segment being written. */
static void test_trim_total(void **state)
{
    (void)state;
    struct logstore_cfg cfg;
    logstore_cfg_default(&cfg);
    cfg.block_bytes = 4096;
    cfg.segment_bytes = 8192;
    struct logstore *s = open_store(&cfg);
    char text[200], err[128];
    unsigned r = 99;
    for (int i = 0; i < 1200; i++) {
        for (int k = 0; k < 100; k++) {
            r = r * 1103515245u + 12345u;
            text[k] = (char)('a' + (r >> 16) % 26);
        }
        text[100] = '\0';
        put(s, i < 600 ? "1" : "2", CID_A, 1000 + i, 0, "1", text);
    }
    logstore_flush(s, err, sizeof err);
    /* app 1's segments are the older ones: an hour ago */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/1", root);
    DIR *d = opendir(dir);
    struct dirent *e;
    struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".seg"))
            assert_int_equal(utimensat(dirfd(d), e->d_name, old, 0), 0);
    closedir(d);
    uint64_t a1 = logstore_disk_bytes(s, "1"), a2 = logstore_disk_bytes(s, "2");
    assert_true(a1 > 30000 && a2 > 30000);
    logstore_free(s);
    cfg.max_total_bytes = a2 + 20000; /* room for app 2 and a bit of app 1 */
    s = open_store(&cfg);
    int64_t now = (int64_t)time(NULL) * 1000000000LL;
    assert_true(logstore_trim(s, now) > 0);
    assert_true(logstore_disk_bytes(s, NULL) <= cfg.max_total_bytes);
    assert_int_equal(logstore_disk_bytes(s, "2"), a2); /* the newer app untouched */
    assert_true(logstore_disk_bytes(s, "1") < a1);
    /* within app 1 (every segment of the same time) the oldest went: what
     * is left is a run of its newest segment numbers */
    d = opendir(dir);
    unsigned long long lo = ~0ull, hi = 0, cnt = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".seg")) {
            unsigned long long k = strtoull(e->d_name, NULL, 16);
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
            cnt++;
        }
    closedir(d);
    assert_true(cnt > 0 && lo > 1);
    assert_int_equal(hi - lo + 1, cnt);
    logstore_free(s);
}

static void test_app_valid(void **state)
{
    (void)state;
    assert_true(logstore_app_valid("12"));
    assert_false(logstore_app_valid(""));
    assert_false(logstore_app_valid("../x"));
    assert_false(logstore_app_valid("1234567890123456789012345"));
    struct logstore *s = open_store(NULL);
    struct logstore_line l = {1, 0, 0, "c", "", "x", 1, 0, 1};
    char err[128];
    assert_int_equal(logstore_append(s, "../etc", CID_A, &l, err, sizeof err), -1);
    logstore_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_codec),
        cmocka_unit_test_setup_teardown(test_append_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_same_ts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_age_total, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_total, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_valid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
