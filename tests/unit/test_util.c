/* test_util.c - src/core/util.c: time, integers, names, files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

/* ---- time ---- */

static void iso8601_epoch(void **state)
{
    (void)state;
    char b[32];
    util_iso8601(0, b, sizeof b);
    assert_string_equal(b, "1970-01-01T00:00:00Z");
}

static void iso8601_known_instant(void **state)
{
    (void)state;
    char b[32];
    util_iso8601(1795461660, b, sizeof b);
    assert_string_equal(b, "2026-11-23T19:21:00Z");
}

static void iso8601_leap_day_and_end_of_year(void **state)
{
    (void)state;
    char b[32];
    util_iso8601(951782400, b, sizeof b);
    assert_string_equal(b, "2000-02-29T00:00:00Z");
    util_iso8601(4102444799, b, sizeof b);
    assert_string_equal(b, "2099-12-31T23:59:59Z");
}

static void iso8601_small_buffer_is_empty(void **state)
{
    (void)state;
    char b[20];
    memset(b, 'Z', sizeof b);
    util_iso8601(1795461660, b, sizeof b);
    assert_string_equal(b, "");
}

static void iso8601_out_of_range_is_empty(void **state)
{
    (void)state;
    char b[32];
    util_iso8601((int64_t)400000000000, b, sizeof b); /* year 14645 */
    assert_string_equal(b, "");
}

/* The hand-rolled calendar against glibc's gmtime_r: every day boundary
 * (and a second either side) from year 0 to 9999, plus odd instants. */
static void iso8601_matches_gmtime(void **state)
{
    (void)state;
    char got[32], want[96];
    int64_t first = -62167219200LL, last = 253402300799LL;
    for (int64_t t = first; t <= last; t += 86400 * 7 + 1) {
        int64_t probes[3] = {t, t - 1, t + 43199};
        for (int i = 0; i < 3; i++) {
            int64_t p = probes[i];
            if (p < first || p > last)
                continue;
            time_t tt = (time_t)p;
            struct tm tm;
            assert_non_null(gmtime_r(&tt, &tm));
            snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
            util_iso8601(p, got, sizeof got);
            assert_string_equal(got, want);
        }
    }
    util_iso8601(first, got, sizeof got);
    assert_string_equal(got, "0000-01-01T00:00:00Z");
    util_iso8601(last, got, sizeof got);
    assert_string_equal(got, "9999-12-31T23:59:59Z");
    util_iso8601(first - 1, got, sizeof got);
    assert_string_equal(got, "");
    util_iso8601(last + 1, got, sizeof got);
    assert_string_equal(got, "");
    util_iso8601(-1, got, sizeof got);
    assert_string_equal(got, "1969-12-31T23:59:59Z");
}

static void lower_hex(void **state)
{
    (void)state;
    assert_true(util_lower_hex("0123456789abcdef", 16, 16));
    assert_true(util_lower_hex("abcd", 4, 64));
    assert_false(util_lower_hex("abc", 4, 64));     /* too short */
    assert_false(util_lower_hex("abcdE", 4, 64));   /* upper case */
    assert_false(util_lower_hex("abcdg", 4, 64));   /* not hex */
    assert_false(util_lower_hex("abcd ", 4, 64));
    assert_false(util_lower_hex("aaaaaa", 2, 5));   /* too long */
    assert_true(util_lower_hex("", 0, 4));
}

static void parse_time_iso(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_int_equal(util_parse_time("2026-11-23T19:21:00Z", &t), 0);
    assert_int_equal(t, 1795461660);
}

static void parse_time_without_z(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_int_equal(util_parse_time("2026-11-23T19:21:00", &t), 0);
    assert_int_equal(t, 1795461660);
}

static void parse_time_epoch_seconds(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_int_equal(util_parse_time("1795461660", &t), 0);
    assert_int_equal(t, 1795461660);
}

static void parse_time_round_trip(void **state)
{
    (void)state;
    const int64_t samples[] = {0, 1, 86399, 951782400 /* 2000-02-29 */, 1795461660,
                               4102444799 /* 2099-12-31T23:59:59 */};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char b[32];
        int64_t back = -1;
        util_iso8601(samples[i], b, sizeof b);
        assert_int_equal(util_parse_time(b, &back), 0);
        assert_int_equal(back, samples[i]);
    }
}

static void parse_time_rejects_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"", "yesterday", "2026-11-23", "2026-11-23T19:21:00Zjunk",
                         "2026-11-23T19:21:00+01:00", "2026-13-45T99:99:99Z", "12abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 777;
        assert_int_equal(util_parse_time(bad[i], &t), -1);
        assert_int_equal(t, 777); /* untouched on failure */
    }
}

/* ---- integers ---- */

static void parse_i64_accepts(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(util_parse_i64("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(util_parse_i64("-7", &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(util_parse_i64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(util_parse_i64("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(util_parse_i64("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
}

static void parse_i64_rejects(void **state)
{
    (void)state;
    const char *bad[] = {"", "abc", "12a", "1.5", "0x10", "9223372036854775808",
                         "-9223372036854775809", " 12", "12 ", "\t3", "+"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 99;
        if (util_parse_i64(bad[i], &v) != -1)
            fail_msg("util_parse_i64 accepted '%s'", bad[i]);
        assert_int_equal(v, 99);
    }
    int64_t v;
    assert_int_equal(util_parse_i64(NULL, &v), -1);
}

/* ---- strings ---- */

static void strlcpy_fits_and_cuts(void **state)
{
    (void)state;
    char b[6];
    assert_int_equal(util_strlcpy(b, "hello", sizeof b), 0);
    assert_string_equal(b, "hello");
    assert_int_equal(util_strlcpy(b, "hello!", sizeof b), -1);
    assert_string_equal(b, "hello");
    assert_int_equal(util_strlcpy(b, "", sizeof b), 0);
    assert_string_equal(b, "");
}

static void email_valid_accepts(void **state)
{
    (void)state;
    const char *good[] = {"a@b.co", "alice@example.com", "first.last+tag@sub.example.org",
                          "x_y-z@host-1.io"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!util_email_valid(good[i]))
            fail_msg("rejected valid email '%s'", good[i]);
}

static void email_valid_rejects(void **state)
{
    (void)state;
    char longmail[300];
    memset(longmail, 'a', sizeof longmail);
    memcpy(longmail + 250, "@b.com", 7);
    const char *bad[] = {"", "a", "@example.com", "alice@", "alice", "alice@example",
                         "alice@.com", "alice@example.", "a@b@c.com", "al ice@example.com",
                         "alice@exa mple.com", "\"alice\"@example.com", "<a@b.com>",
                         "a\\b@c.com", "a@b.com\n", longmail};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (util_email_valid(bad[i]))
            fail_msg("accepted invalid email '%s'", bad[i]);
}

static void slug_valid_accepts(void **state)
{
    (void)state;
    char max[64];
    memset(max, 'a', 63);
    max[63] = '\0';
    const char *good[] = {"a", "default", "acme-prod", "team-42", "0a", max};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!util_slug_valid(good[i]))
            fail_msg("rejected valid slug '%s'", good[i]);
}

static void slug_valid_rejects(void **state)
{
    (void)state;
    char over[65];
    memset(over, 'a', 64);
    over[64] = '\0';
    const char *bad[] = {"", "-a", "a-", "Acme", "a_b", "a.b", "a b", "a/b", "42", "007",
                         "ümlaut", over};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (util_slug_valid(bad[i]))
            fail_msg("accepted invalid slug '%s'", bad[i]);
}

/* ---- files ---- */

struct tmp {
    char dir[64];
    char path[128];
};

static int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    strcpy(t->dir, "/tmp/berth-util-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/file", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        return -1;
    free(t);
    return 0;
}

static void write_atomic_content_and_mode(void **state)
{
    struct tmp *t = *state;
    assert_int_equal(util_write_file_atomic(t->path, "secret\n", 7, 0600), 0);
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size, 7);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(t->path, 1024, &data, &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(data, "secret\n", 7);
    assert_int_equal(data[len], '\0');
    free(data);
}

static void write_atomic_mode_not_widened_by_old_file(void **state)
{
    struct tmp *t = *state;
    assert_int_equal(util_write_file_atomic(t->path, "a", 1, 0644), 0);
    assert_int_equal(util_write_file_atomic(t->path, "b", 1, 0600), 0);
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
}

static void write_atomic_replaces_and_leaves_no_temp(void **state)
{
    struct tmp *t = *state;
    assert_int_equal(util_write_file_atomic(t->path, "first version", 13, 0600), 0);
    assert_int_equal(util_write_file_atomic(t->path, "v2", 2, 0600), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(t->path, 1024, &data, &len), 0);
    assert_int_equal(len, 2);
    assert_string_equal(data, "v2");
    free(data);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", t->dir);
    assert_int_equal(system(cmd), 0);
}

static void write_atomic_missing_dir_fails(void **state)
{
    struct tmp *t = *state;
    char p[200];
    snprintf(p, sizeof p, "%s/no/such/dir/file", t->dir);
    assert_int_equal(util_write_file_atomic(p, "x", 1, 0600), -1);
}

static void write_atomic_empty_file(void **state)
{
    struct tmp *t = *state;
    assert_int_equal(util_write_file_atomic(t->path, "", 0, 0600), 0);
    char *data = NULL;
    size_t len = 99;
    assert_int_equal(util_read_file(t->path, 16, &data, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    free(data);
}

static void read_file_missing(void **state)
{
    struct tmp *t = *state;
    char *data = NULL;
    errno = 0;
    assert_int_equal(util_read_file(t->path, 1024, &data, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_null(data);
}

/* Writes n bytes of pattern to the temp file. */
static void write_n(struct tmp *t, size_t n)
{
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + i % 26);
    assert_int_equal(util_write_file_atomic(t->path, b, n, 0600), 0);
    free(b);
}

static void read_file_exactly_max_small(void **state)
{
    struct tmp *t = *state;
    write_n(t, 10);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(t->path, 10, &data, &len), 0);
    assert_int_equal(len, 10);
    free(data);
}

static void read_file_over_small_max(void **state)
{
    struct tmp *t = *state;
    write_n(t, 100);
    char *data = NULL;
    size_t len = 0;
    errno = 0;
    assert_int_equal(util_read_file(t->path, 10, &data, &len), -1);
    assert_int_equal(errno, EFBIG);
}

static void read_file_one_over_small_max(void **state)
{
    struct tmp *t = *state;
    write_n(t, 11);
    char *data = NULL;
    assert_int_equal(util_read_file(t->path, 10, &data, NULL), -1);
}

static void read_file_exactly_max_large(void **state)
{
    struct tmp *t = *state;
    write_n(t, 20000);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(t->path, 20000, &data, &len), 0);
    assert_int_equal(len, 20000);
    assert_int_equal(data[19999], (char)('a' + 19999 % 26));
    free(data);
}

static void read_file_over_large_max(void **state)
{
    struct tmp *t = *state;
    write_n(t, 20001);
    char *data = NULL;
    errno = 0;
    assert_int_equal(util_read_file(t->path, 20000, &data, NULL), -1);
    assert_int_equal(errno, EFBIG);
}

static void read_file_page_boundary(void **state)
{
    struct tmp *t = *state;
    write_n(t, 4096);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(t->path, 4096, &data, &len), 0);
    assert_int_equal(len, 4096);
    free(data);
    assert_int_equal(util_read_file(t->path, 4095, &data, &len), -1);
}

/* ---- clocks ---- */

static void clocks_move(void **state)
{
    (void)state;
    int64_t now = util_now();
    assert_true(now > 1700000000); /* after 2023 */
    uint64_t a = util_mono_us();
    usleep(2000);
    uint64_t b = util_mono_us();
    assert_true(b >= a + 2000);
}

#define T(f) cmocka_unit_test(f)
#define TF(f) cmocka_unit_test_setup_teardown(f, tmp_setup, tmp_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(iso8601_epoch), T(iso8601_known_instant), T(iso8601_leap_day_and_end_of_year),
        T(iso8601_small_buffer_is_empty), T(iso8601_out_of_range_is_empty), T(iso8601_matches_gmtime), T(lower_hex),
        T(parse_time_iso),
        T(parse_time_without_z), T(parse_time_epoch_seconds), T(parse_time_round_trip),
        T(parse_time_rejects_garbage), T(parse_i64_accepts), T(parse_i64_rejects),
        T(strlcpy_fits_and_cuts), T(email_valid_accepts), T(email_valid_rejects),
        T(slug_valid_accepts), T(slug_valid_rejects),
        TF(write_atomic_content_and_mode), TF(write_atomic_mode_not_widened_by_old_file),
        TF(write_atomic_replaces_and_leaves_no_temp), TF(write_atomic_missing_dir_fails),
        TF(write_atomic_empty_file), TF(read_file_missing), TF(read_file_exactly_max_small),
        TF(read_file_over_small_max), TF(read_file_one_over_small_max),
        TF(read_file_exactly_max_large), TF(read_file_over_large_max),
        TF(read_file_page_boundary), T(clocks_move),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
