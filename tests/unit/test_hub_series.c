/* test_hub_series.c - src/berthd/hub_series.c: metrics history rings
 * (raw samples, 1-minute and 5-minute averages, merged queries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_series.h"

#define T0 1800000000LL /* a multiple of 300 */

static struct hub_point sample(int64_t t, double cpu)
{
    struct hub_point p = {.t = t, .cpu_pct = cpu, .mem_pct = 50, .disk_pct = 10,
                          .load1 = 0.5, .rx_bps = 100, .tx_bps = -1};
    return p;
}

static void empty_series_has_no_points(void **state)
{
    (void)state;
    struct hub_series *s = hub_series_new();
    struct hub_point out[8];
    assert_int_equal(hub_series_query(s, 0, out, 8), 0);
    assert_int_equal(hub_series_query(NULL, 0, out, 8), 0);
    hub_series_free(s);
}

static void raw_samples_come_back_in_order(void **state)
{
    (void)state;
    struct hub_series *s = hub_series_new();
    for (int i = 0; i < 10; i++) {
        struct hub_point p = sample(T0 + i * 5, i);
        hub_series_add(s, &p);
    }
    struct hub_point out[64];
    size_t n = hub_series_query(s, 0, out, 64);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].t, T0 + (int64_t)i * 5);
        assert_int_equal(out[i].step, 0);
        assert_true(out[i].cpu_pct > i - 0.01 && out[i].cpu_pct < i + 0.01);
        assert_true(out[i].tx_bps < 0); /* unknown stays unknown */
    }
    /* since cuts the old ones */
    assert_int_equal(hub_series_query(s, T0 + 25, out, 64), 5);
    assert_int_equal(out[0].t, T0 + 25);
    hub_series_free(s);
}

static void raw_ring_keeps_the_last_sixty(void **state)
{
    (void)state;
    struct hub_series *s = hub_series_new();
    for (int i = 0; i < 100; i++) {
        struct hub_point p = sample(T0 + i * 5, 1);
        hub_series_add(s, &p);
    }
    struct hub_point out[512];
    size_t n = hub_series_query(s, T0 + 40 * 5, out, 512);
    assert_int_equal(n, HUB_SERIES_RAW);
    assert_int_equal(out[0].t, T0 + 40 * 5);
    assert_int_equal(out[n - 1].t, T0 + 99 * 5);
    hub_series_free(s);
}

static void minutes_are_averages_older_than_raw(void **state)
{
    (void)state;
    struct hub_series *s = hub_series_new();
    /* 20 minutes at 5 s: cpu = minute index, so each minute averages to it */
    for (int i = 0; i < 20 * 12; i++) {
        struct hub_point p = sample(T0 + i * 5, i / 12);
        hub_series_add(s, &p);
    }
    struct hub_point out[512];
    size_t n = hub_series_query(s, 0, out, 512);
    /* 5-minute points before the first minute point, minute points before
     * the first raw sample, then 60 raw samples (the last 5 minutes) */
    int64_t prev = 0;
    size_t raw = 0, minutes = 0, fives = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(out[i].t >= prev);
        prev = out[i].t;
        if (out[i].step == 0)
            raw++;
        else if (out[i].step == 60) {
            minutes++;
            assert_int_equal(out[i].t % 60, 0);
            int64_t idx = (out[i].t - T0) / 60;
            assert_true(out[i].cpu_pct > idx - 0.01 && out[i].cpu_pct < idx + 0.01);
            assert_true(out[i].rx_bps > 99 && out[i].rx_bps < 101);
        } else {
            assert_int_equal(out[i].step, 300);
            fives++;
        }
    }
    assert_int_equal(raw, HUB_SERIES_RAW);
    assert_int_equal(minutes, 15); /* minutes 0..14; 15..19 are raw */
    assert_int_equal(fives, 0);   /* every closed 5-minute bucket is covered finer */
    hub_series_free(s);
}

static void long_history_uses_five_minute_points(void **state)
{
    (void)state;
    struct hub_series *s = hub_series_new();
    /* 3 hours at one sample a minute */
    for (int i = 0; i < 180; i++) {
        struct hub_point p = sample(T0 + i * 60, 10);
        hub_series_add(s, &p);
    }
    struct hub_point out[512];
    size_t n = hub_series_query(s, 0, out, 512);
    size_t fives = 0, minutes = 0, raw = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i].step == 300) {
            fives++;
            assert_true(out[i].cpu_pct > 9.99 && out[i].cpu_pct < 10.01);
        } else if (out[i].step == 60) {
            minutes++;
        } else {
            raw++;
        }
    }
    /* sparse samples: the raw ring spans the last hour, so the minute ring
     * (same hour) adds only the minute before it, and 5-minute points
     * cover everything older */
    assert_int_equal(raw, 60);
    assert_int_equal(minutes, 1);
    assert_int_equal(fives, 24);
    hub_series_free(s);
}

static void time_going_backwards_is_ignored(void **state)
{
    (void)state;
    struct hub_series *s = hub_series_new();
    struct hub_point a = sample(T0 + 10, 1), b = sample(T0 + 5, 2), c = sample(0, 3);
    hub_series_add(s, &a);
    hub_series_add(s, &b);
    hub_series_add(s, &c);
    struct hub_point out[8];
    assert_int_equal(hub_series_query(s, 0, out, 8), 1);
    assert_int_equal(hub_series_query(s, 0, out, 0), 0); /* max respected */
    hub_series_free(s);
}

static void values_are_clamped(void **state)
{
    (void)state;
    struct hub_series *s = hub_series_new();
    struct hub_point p = sample(T0, 250);
    p.mem_pct = -1; /* unknown */
    hub_series_add(s, &p);
    struct hub_point out[2];
    assert_int_equal(hub_series_query(s, 0, out, 2), 1);
    assert_true(out[0].cpu_pct > 99.99 && out[0].cpu_pct < 100.01);
    assert_true(out[0].mem_pct == 0);
    hub_series_free(s);
}

/* Runner-sent byte counters: saturating sums, no rate for a reset, for
 * unknown counters or a zero interval (issue 12 item 4). */
static void rates_from_hostile_counters(void **state)
{
    (void)state;
    const int64_t big = INT64_MAX, near = INT64_MAX - 10;
    /* ordinary: 5000 bytes in 5 s */
    assert_true(hub_series_rate((int64_t[2]){1000, 0}, (int64_t[2]){5000, 1000}, 5000) == 1000);
    /* two counters near 2^63 whose sum overflows int64: saturates, no UB */
    double r = hub_series_rate((int64_t[2]){near, near}, (int64_t[2]){big, big}, 1000);
    assert_true(r == 0);
    r = hub_series_rate((int64_t[2]){0, 0}, (int64_t[2]){big, big}, 1);
    assert_true(r > 9.2e21 && r < 9.3e21);
    r = hub_series_rate((int64_t[2]){0, 0}, (int64_t[2]){big, 0}, 1000);
    assert_true(r > 9.2e18 && r < 9.3e18);
    /* negative (unknown) counts as 0 */
    assert_true(hub_series_rate((int64_t[2]){-1, INT64_MIN}, (int64_t[2]){10, -5}, 1000) == 10);
    /* decreasing (a reboot): unknown */
    assert_true(hub_series_rate((int64_t[2]){big, 0}, (int64_t[2]){5, 0}, 1000) < 0);
    assert_true(hub_series_rate((int64_t[2]){100, 100}, (int64_t[2]){0, 150}, 1000) < 0);
    /* no interval */
    assert_true(hub_series_rate((int64_t[2]){0, 0}, (int64_t[2]){5, 0}, 0) < 0);
    assert_true(hub_series_rate((int64_t[2]){0, 0}, (int64_t[2]){5, 0}, INT64_MIN) < 0);
    /* the largest rate still stores (as float) and comes back */
    struct hub_series *s = hub_series_new();
    struct hub_point p = sample(T0, 1);
    p.rx_bps = 9.3e21;
    p.tx_bps = hub_series_rate((int64_t[2]){0, 0}, (int64_t[2]){big, big}, 1);
    hub_series_add(s, &p);
    struct hub_point out[4];
    assert_int_equal(hub_series_query(s, 0, out, 4), 1);
    assert_true(out[0].rx_bps > 9e21 && out[0].tx_bps > 9e21);
    hub_series_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_series_has_no_points),
        cmocka_unit_test(raw_samples_come_back_in_order),
        cmocka_unit_test(raw_ring_keeps_the_last_sixty),
        cmocka_unit_test(minutes_are_averages_older_than_raw),
        cmocka_unit_test(long_history_uses_five_minute_points),
        cmocka_unit_test(time_going_backwards_is_ignored),
        cmocka_unit_test(values_are_clamped),
        cmocka_unit_test(rates_from_hostile_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
