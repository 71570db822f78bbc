/* test_edge_parse.c - src/runner/edge_parse.c on HAProxy 2.6 runtime API
 * answers (the seeds of tests/fuzz/corpus/edge are the same answers). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge_parse.h"

#define HDR "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status\n"

static void stat_sessions(void **state)
{
    (void)state;
    const char *t = HDR "app_web,d41,2,0,5,9,,12,UP\napp_web,d42,0,0,0,0,,0,UP\n";
    assert_int_equal(edge_parse_stat_sessions(t, "d41"), 7);
    assert_int_equal(edge_parse_stat_sessions(t, "d42"), 0);
    assert_int_equal(edge_parse_stat_sessions(t, "d4"), -1);
    assert_int_equal(edge_parse_stat_sessions("No such backend.\n", "d41"), -1);
    assert_int_equal(edge_parse_stat_sessions("# pxname,svname,status\nx,d41,UP\n", "d41"), -1);
}

/* Found by tests/fuzz/fuzz_edge: counts were summed in a long (overflow
 * undefined) and cast to int, so 3000000000 sessions read as a negative
 * number, which the swap takes for "unknown" and stops waiting; a "-5"
 * came back as -5. Counts now saturate at INT_MAX and anything but digits
 * is unknown (-1). */
static void stat_sessions_hostile_counts(void **state)
{
    (void)state;
    assert_int_equal(edge_parse_stat_sessions(HDR "b,s,0,0,3000000000,,,,UP\n", "s"), INT_MAX);
    assert_int_equal(edge_parse_stat_sessions(HDR "b,s,9223372036854775807,0,9223372036854775807,,,,UP\n", "s"),
                     INT_MAX);
    assert_int_equal(edge_parse_stat_sessions(HDR "b,s,99999999999999999999999,0,1,,,,UP\n", "s"), INT_MAX);
    assert_int_equal(edge_parse_stat_sessions(HDR "b,s,0,0,-5,,,,UP\n", "s"), -1);
    assert_int_equal(edge_parse_stat_sessions(HDR "b,s,0,0,,,,,UP\n", "s"), -1);
    assert_int_equal(edge_parse_stat_sessions(HDR "b,s,0,0,4x,,,,UP\n", "s"), -1);
}

static void master_line(void **state)
{
    (void)state;
    int reloads = -1, failed = -1;
    const char *t = "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
                    "23910           master          1 [failed: 0]   0d00h00m22s     2.6.12-1+deb12u4\n"
                    "# workers\n25087           worker          0               0d00h00m03s     2.6.12\n";
    assert_int_equal(edge_parse_master_line(t, &reloads, &failed), 0);
    assert_int_equal(reloads, 1);
    assert_int_equal(failed, 0);
    assert_int_equal(edge_parse_master_line("# workers\n1 worker 0 [failed: 0]\n", &reloads, &failed), -1);
    assert_int_equal(edge_parse_master_line("", &reloads, &failed), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stat_sessions),
        cmocka_unit_test(stat_sessions_hostile_counts),
        cmocka_unit_test(master_line),
    };
    return cmocka_run_group_tests_name("edge_parse", tests, NULL, NULL);
}
