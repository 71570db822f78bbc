/* test_cron.c - src/core/cron.c: the cron parser, TZif zones and POSIX
 * rules, and the next fire time in UTC and across daylight changes. The
 * zones come from this host's /usr/share/zoneinfo (Debian's tzdata). */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cron.h"

static int64_t ut(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi};
    return (int64_t)timegm(&tm);
}

static int64_t next_of(const char *expr, const char *zone, int64_t after)
{
    struct cron c;
    char err[160];
    assert_int_equal(cron_parse(expr, &c, err, sizeof err), 0);
    struct cron_zone *z = NULL;
    assert_int_equal(cron_zone_load(zone, NULL, &z, err, sizeof err), 0);
    int64_t n = 0;
    int rc = cron_next(&c, z, after, &n);
    cron_zone_free(z);
    return rc < 0 ? -1 : n;
}

/* ---- parsing ---- */

static void parse_every_minute(void **state)
{
    (void)state;
    struct cron c;
    char err[160];
    assert_int_equal(cron_parse("* * * * *", &c, err, sizeof err), 0);
    assert_true(c.minute == (1ull << 60) - 1);
    assert_int_equal(c.hour, (1u << 24) - 1);
    assert_int_equal(c.dom, ((1u << 31) - 1) << 1);
    assert_int_equal(c.month, ((1u << 12) - 1) << 1);
    assert_int_equal(c.dow, 0x7f);
    assert_true(c.dom_star && c.dow_star);
}

static void parse_ranges_lists_steps_names(void **state)
{
    (void)state;
    struct cron c;
    char err[160];
    assert_int_equal(cron_parse("*/15 9-17/4 1,15 JAN-mar,Dec mon-fri", &c, err, sizeof err), 0);
    assert_true(c.minute == (1ull | 1ull << 15 | 1ull << 30 | 1ull << 45));
    assert_int_equal(c.hour, 1u << 9 | 1u << 13 | 1u << 17);
    assert_int_equal(c.dom, 1u << 1 | 1u << 15);
    assert_int_equal(c.month, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 12);
    assert_int_equal(c.dow, 0x3e);
    assert_false(c.dom_star || c.dow_star);
    /* a/n runs to the field's end; 7 is Sunday */
    assert_int_equal(cron_parse("5/20 0 * * 7", &c, err, sizeof err), 0);
    assert_true(c.minute == (1ull << 5 | 1ull << 25 | 1ull << 45));
    assert_int_equal(c.dow, 1);
    assert_int_equal(cron_parse("  0  0\t1 1 sun,sat  ", &c, err, sizeof err), 0);
    assert_int_equal(c.dow, 1 | 1 << 6);
}

static void parse_macros(void **state)
{
    (void)state;
    struct cron a, b;
    char err[160];
    assert_int_equal(cron_parse("@daily", &a, err, sizeof err), 0);
    assert_int_equal(cron_parse("0 0 * * *", &b, err, sizeof err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(cron_parse("@hourly", &a, err, sizeof err), 0);
    assert_true(a.minute == 1);
    assert_int_equal(cron_parse("@every 5m", &a, err, sizeof err), -1);
    assert_int_equal(cron_parse("@reboot", &a, err, sizeof err), -1);
}

static void parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
        "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/61 * * * *", "1- * * * *",
        "-1 * * * *", "1,,2 * * * *", "1, * * * *", ",1 * * * *", "foo * * * *",
        "* * * janx *", "* * * * mo", "* * * * mon-", "*5 * * * *", "1/ * * * *",
        "00000001 * * * *", "* * * * 1#2", "* * * * L", "? * * * *", "\x01 * * * *",
        "* * * * sun/0", "@daily x",
    };
    char err[160];
    struct cron c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cron_parse(bad[i], &c, err, sizeof err) != -1)
            fail_msg("accepted '%s'", bad[i]);
        assert_true(err[0] != '\0');
    }
    char longexpr[CRON_EXPR_MAX + 10];
    memset(longexpr, '1', sizeof longexpr - 1);
    longexpr[sizeof longexpr - 1] = '\0';
    assert_int_equal(cron_parse(longexpr, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "over"));
}

/* ---- next, UTC ---- */

static void next_every_minute_utc(void **state)
{
    (void)state;
    int64_t t = ut(2026, 1, 1, 0, 0);
    assert_int_equal(next_of("* * * * *", "UTC", t), t + 60);
    assert_int_equal(next_of("* * * * *", "UTC", t + 30), t + 60);
    assert_int_equal(next_of("* * * * *", "UTC", t - 1), t);
    assert_int_equal(next_of("*/15 * * * *", "", t + 1), t + 15 * 60);
}

static void next_calendar(void **state)
{
    (void)state;
    /* Feb 29 only in leap years */
    assert_int_equal(next_of("0 0 29 2 *", "UTC", ut(2025, 1, 1, 0, 0)), ut(2028, 2, 29, 0, 0));
    /* weekdays 09:30: Friday 2026-12-04 10:00 -> Monday 2026-12-07 09:30 */
    assert_int_equal(next_of("30 9 * * mon-fri", "UTC", ut(2026, 12, 4, 10, 0)),
                     ut(2026, 12, 7, 9, 30));
    /* both day fields restricted: either matches (the 13th, or a Friday) */
    assert_int_equal(next_of("0 0 13 * fri", "UTC", ut(2026, 12, 5, 0, 0)),
                     ut(2026, 12, 11, 0, 0));
    assert_int_equal(next_of("0 0 13 * fri", "UTC", ut(2026, 12, 11, 0, 0)),
                     ut(2026, 12, 13, 0, 0));
    /* a star with a step still counts as a star for that rule */
    assert_int_equal(next_of("0 0 */1 * fri", "UTC", ut(2026, 12, 5, 0, 0)),
                     ut(2026, 12, 11, 0, 0));
    /* end of year */
    assert_int_equal(next_of("59 23 31 12 *", "UTC", ut(2026, 12, 31, 23, 59)),
                     ut(2027, 12, 31, 23, 59));
}

static void next_never(void **state)
{
    (void)state;
    assert_int_equal(next_of("0 0 30 2 *", "UTC", ut(2026, 1, 1, 0, 0)), -1);
    assert_int_equal(next_of("0 0 31 4,6,9,11 *", "UTC", ut(2026, 1, 1, 0, 0)), -1);
    struct cron c;
    char err[160];
    int64_t n;
    assert_int_equal(cron_parse("* * * * *", &c, err, sizeof err), 0);
    assert_int_equal(cron_next(&c, NULL, INT64_MAX, &n), -1);
    assert_int_equal(cron_next(&c, NULL, INT64_MIN, &n), -1);
}

/* ---- zones ---- */

static void zone_offsets(void **state)
{
    (void)state;
    struct cron_zone *z;
    char err[160];
    assert_int_equal(cron_zone_load("Europe/Berlin", NULL, &z, err, sizeof err), 0);
    assert_non_null(z);
    assert_int_equal(cron_zone_offset(z, ut(2026, 1, 15, 12, 0)), 3600);
    assert_int_equal(cron_zone_offset(z, ut(2026, 7, 15, 12, 0)), 7200);
    /* past the file's transitions, its POSIX rule */
    assert_int_equal(cron_zone_offset(z, ut(2050, 1, 15, 12, 0)), 3600);
    assert_int_equal(cron_zone_offset(z, ut(2050, 7, 15, 12, 0)), 7200);
    /* 2050-03-27 is the last Sunday of March: 01:00 UTC */
    assert_int_equal(cron_zone_offset(z, ut(2050, 3, 27, 0, 59)), 3600);
    assert_int_equal(cron_zone_offset(z, ut(2050, 3, 27, 1, 0)), 7200);
    cron_zone_free(z);
    assert_int_equal(cron_zone_load("Australia/Sydney", NULL, &z, err, sizeof err), 0);
    assert_int_equal(cron_zone_offset(z, ut(2050, 1, 15, 0, 0)), 11 * 3600);
    assert_int_equal(cron_zone_offset(z, ut(2050, 7, 15, 0, 0)), 10 * 3600);
    cron_zone_free(z);
    assert_int_equal(cron_zone_load("Asia/Kolkata", NULL, &z, err, sizeof err), 0);
    assert_int_equal(cron_zone_offset(z, ut(2026, 7, 15, 0, 0)), 19800);
    cron_zone_free(z);
    assert_int_equal(cron_zone_load("UTC", NULL, &z, err, sizeof err), 0);
    assert_null(z);
    assert_int_equal(cron_zone_offset(NULL, 12345), 0);
}

static void zone_rules(void **state)
{
    (void)state;
    struct cron_zone *z = calloc(1, sizeof *z);
    char err[160];
    assert_int_equal(cron_zone_parse_rule("EST5EDT,M3.2.0,M11.1.0", z, err, sizeof err), 0);
    assert_int_equal(z->std_off, -5 * 3600);
    assert_int_equal(z->dst_off, -4 * 3600);
    /* 2030-03-10 02:00 EST = 07:00 UTC */
    assert_int_equal(cron_zone_offset(z, ut(2030, 3, 10, 6, 59)), -5 * 3600);
    assert_int_equal(cron_zone_offset(z, ut(2030, 3, 10, 7, 0)), -4 * 3600);
    assert_int_equal(cron_zone_parse_rule("<+0330>-3:30", z, err, sizeof err), 0);
    assert_int_equal(cron_zone_offset(z, ut(2030, 3, 10, 7, 0)), 12600);
    assert_int_equal(cron_zone_parse_rule("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", z, err, sizeof err),
                     0);
    assert_int_equal(cron_zone_parse_rule("XXX-1YYY,J60/25,300", z, err, sizeof err), 0);
    static const char *const bad[] = {"", "CET", "CET-1CEST", "CET-1CEST,M3.5.0",
                                      "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0",
                                      "C-1", "<>-1", "CET-25", "CET-1CEST,J0,J5",
                                      "CET-1CEST,M3.5.0,M10.5.0/3x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cron_zone_parse_rule(bad[i], z, err, sizeof err) != -1)
            fail_msg("accepted rule '%s'", bad[i]);
    free(z);
}

static void zone_refused(void **state)
{
    (void)state;
    struct cron_zone *z = (void *)1;
    char err[160];
    static const char *const bad[] = {"Mars/Olympus", "../etc/passwd", "/etc/passwd",
                                      "Europe//Berlin", "Europe/", ".hidden", "Europe/../UTC",
                                      "zone.tab", "tzdata.zi", "Europe", "right/UTC",
                                      "Europe/Berlin\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cron_zone_load(bad[i], NULL, &z, err, sizeof err) != -1)
            fail_msg("loaded '%s'", bad[i]);
        assert_null(z);
        assert_non_null(strstr(err, "unknown time zone"));
    }
    assert_true(cron_zone_name_valid("Etc/GMT+5"));
    assert_true(cron_zone_name_valid("America/Port-au-Prince"));
    assert_false(cron_zone_name_valid("a/-b"));
}

static void zone_parse_truncated(void **state)
{
    (void)state;
    uint8_t *buf = NULL;
    FILE *f = fopen("/usr/share/zoneinfo/America/New_York", "rb");
    assert_non_null(f);
    buf = malloc(CRON_ZONE_FILE_MAX);
    size_t n = fread(buf, 1, CRON_ZONE_FILE_MAX, f);
    fclose(f);
    struct cron_zone *z = calloc(1, sizeof *z);
    char err[160];
    assert_int_equal(cron_zone_parse(buf, n, z, err, sizeof err), 0);
    assert_true(z->has_rule);
    for (size_t cut = 0; cut < n; cut += 7) {
        /* every prefix either parses (the footer cut) or is refused */
        int rc = cron_zone_parse(buf, cut, z, err, sizeof err);
        assert_true(rc == 0 || rc == -1);
    }
    free(z);
    free(buf);
}

/* ---- next, across daylight changes ---- */

static void next_in_zone(void **state)
{
    (void)state;
    /* 09:00 New York: 13:00 UTC in summer, 14:00 in winter */
    assert_int_equal(next_of("0 9 * * *", "America/New_York", ut(2026, 7, 1, 0, 0)),
                     ut(2026, 7, 1, 13, 0));
    assert_int_equal(next_of("0 9 * * *", "America/New_York", ut(2026, 12, 1, 0, 0)),
                     ut(2026, 12, 1, 14, 0));
    /* midnight Kolkata is 18:30 UTC the day before */
    assert_int_equal(next_of("0 0 * * *", "Asia/Kolkata", ut(2026, 7, 1, 0, 0)),
                     ut(2026, 7, 1, 18, 30));
    /* beyond the file's transitions (the POSIX rule) */
    assert_int_equal(next_of("0 12 1 7 *", "Europe/Berlin", ut(2060, 1, 1, 0, 0)),
                     ut(2060, 7, 1, 10, 0));
}

static void next_spring_forward_skips(void **state)
{
    (void)state;
    /* Berlin 2026-03-29: 02:00-03:00 does not exist; 02:30 does not fire
     * that day, the next is 2026-03-30 02:30 CEST (00:30 UTC) */
    assert_int_equal(next_of("30 2 * * *", "Europe/Berlin", ut(2026, 3, 28, 12, 0)),
                     ut(2026, 3, 30, 0, 30));
    /* every minute runs straight through the gap: 01:59 CET -> 03:00 CEST */
    assert_int_equal(next_of("* * * * *", "Europe/Berlin", ut(2026, 3, 29, 0, 59)),
                     ut(2026, 3, 29, 1, 0));
}

static void next_fall_back_fires_once(void **state)
{
    (void)state;
    /* Berlin 2026-10-25: 02:00-03:00 happens twice; 02:30 fires at its
     * first occurrence (00:30 UTC, CEST) and then not until the next day
     * (02:30 CET = 01:30 UTC) */
    int64_t first = next_of("30 2 * * *", "Europe/Berlin", ut(2026, 10, 24, 12, 0));
    assert_int_equal(first, ut(2026, 10, 25, 0, 30));
    assert_int_equal(next_of("30 2 * * *", "Europe/Berlin", first), ut(2026, 10, 26, 1, 30));
    /* asked from inside the repeated hour's second pass */
    assert_int_equal(next_of("30 2 * * *", "Europe/Berlin", ut(2026, 10, 25, 1, 10)),
                     ut(2026, 10, 26, 1, 30));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_every_minute),
        cmocka_unit_test(parse_ranges_lists_steps_names),
        cmocka_unit_test(parse_macros),
        cmocka_unit_test(parse_rejects),
        cmocka_unit_test(next_every_minute_utc),
        cmocka_unit_test(next_calendar),
        cmocka_unit_test(next_never),
        cmocka_unit_test(zone_offsets),
        cmocka_unit_test(zone_rules),
        cmocka_unit_test(zone_refused),
        cmocka_unit_test(zone_parse_truncated),
        cmocka_unit_test(next_in_zone),
        cmocka_unit_test(next_spring_forward_skips),
        cmocka_unit_test(next_fall_back_fires_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
