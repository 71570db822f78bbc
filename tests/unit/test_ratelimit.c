/* test_ratelimit.c - src/berthd/ratelimit.c: fixed-window failure counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

static int blocked(struct ratelimit *rl, const char *k, int64_t now, int *ra)
{
    int dummy = -1;
    return ratelimit_blocked(rl, k, now, ra ? ra : &dummy);
}

static void fresh_key_not_blocked(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 100);
    assert_non_null(rl);
    assert_int_equal(blocked(rl, "alice", 1000, NULL), 0);
    ratelimit_free(rl);
}

static void blocks_after_max(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 100);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(blocked(rl, "alice", 1000, NULL), 0);
        ratelimit_hit(rl, "alice", 1000);
    }
    int ra = -1;
    assert_int_equal(blocked(rl, "alice", 1000, &ra), 1);
    assert_int_equal(ra, 60);
    ratelimit_free(rl);
}

static void below_max_not_blocked(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 100);
    ratelimit_hit(rl, "alice", 1000);
    ratelimit_hit(rl, "alice", 1001);
    assert_int_equal(blocked(rl, "alice", 1002, NULL), 0);
    ratelimit_free(rl);
}

static void retry_after_counts_down(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 60, 100);
    ratelimit_hit(rl, "k", 1000);
    ratelimit_hit(rl, "k", 1010);
    int ra = -1;
    assert_int_equal(blocked(rl, "k", 1030, &ra), 1);
    assert_int_equal(ra, 30); /* the window started at the first hit */
    assert_int_equal(blocked(rl, "k", 1059, &ra), 1);
    assert_int_equal(ra, 1);
    ratelimit_free(rl);
}

static void window_expiry_unblocks(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 60, 100);
    ratelimit_hit(rl, "k", 1000);
    ratelimit_hit(rl, "k", 1000);
    assert_int_equal(blocked(rl, "k", 1059, NULL), 1);
    assert_int_equal(blocked(rl, "k", 1060, NULL), 0);
    ratelimit_free(rl);
}

static void hit_after_expiry_starts_new_window(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 60, 100);
    ratelimit_hit(rl, "k", 1000);
    ratelimit_hit(rl, "k", 1000);
    ratelimit_hit(rl, "k", 1100); /* new window: count 1 */
    assert_int_equal(blocked(rl, "k", 1100, NULL), 0);
    ratelimit_hit(rl, "k", 1101);
    int ra = -1;
    assert_int_equal(blocked(rl, "k", 1101, &ra), 1);
    assert_int_equal(ra, 59);
    ratelimit_free(rl);
}

static void reset_clears(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 60, 100);
    ratelimit_hit(rl, "k", 1000);
    ratelimit_hit(rl, "k", 1000);
    assert_int_equal(blocked(rl, "k", 1000, NULL), 1);
    ratelimit_reset(rl, "k");
    assert_int_equal(blocked(rl, "k", 1000, NULL), 0);
    ratelimit_hit(rl, "k", 1000); /* counting restarts from zero */
    assert_int_equal(blocked(rl, "k", 1000, NULL), 0);
    ratelimit_reset(rl, "never-seen"); /* harmless */
    ratelimit_free(rl);
}

static void keys_are_independent(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 60, 100);
    ratelimit_hit(rl, "alice", 1000);
    ratelimit_hit(rl, "alice", 1000);
    assert_int_equal(blocked(rl, "alice", 1000, NULL), 1);
    assert_int_equal(blocked(rl, "bob", 1000, NULL), 0);
    assert_int_equal(blocked(rl, "alic", 1000, NULL), 0);
    assert_int_equal(blocked(rl, "alicex", 1000, NULL), 0);
    ratelimit_reset(rl, "bob");
    assert_int_equal(blocked(rl, "alice", 1000, NULL), 1);
    ratelimit_free(rl);
}

static void long_keys(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1, 60, 100);
    char k[400];
    memset(k, 'x', sizeof k - 1);
    k[sizeof k - 1] = '\0';
    ratelimit_hit(rl, k, 1000);
    assert_int_equal(blocked(rl, k, 1000, NULL), 1);
    ratelimit_free(rl);
}

static void tiny_capacity_still_works(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1, 60, 1);
    assert_non_null(rl);
    ratelimit_hit(rl, "a", 1000);
    ratelimit_hit(rl, "b", 1000);
    assert_int_equal(blocked(rl, "a", 1000, NULL), 1);
    assert_int_equal(blocked(rl, "b", 1000, NULL), 1);
    ratelimit_free(rl);
}

/* 100,000 distinct keys through a 64-entry table: nothing grows, nothing
 * breaks, and the most recent offender is still held. */
static void bounded_under_many_keys(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 64);
    char k[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(k, sizeof k, "10.0.%d.%d", i / 256, i % 256);
        ratelimit_hit(rl, k, 1000 + i / 1000);
    }
    for (int i = 0; i < 3; i++)
        ratelimit_hit(rl, "attacker", 1100);
    int ra = -1;
    assert_int_equal(blocked(rl, "attacker", 1100, &ra), 1);
    assert_int_equal(ra, 60);
    ratelimit_free(rl);
}

/* Expired entries are reused before live ones: a flood of one-off keys
 * after the window passed does not evict a live offender. */
static void expired_entries_evicted_first(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 60, 64);
    char k[32];
    for (int i = 0; i < 64; i++) { /* fill every slot at t=0 */
        snprintf(k, sizeof k, "old-%d", i);
        ratelimit_hit(rl, k, 0);
    }
    ratelimit_hit(rl, "live", 100);
    ratelimit_hit(rl, "live", 100);
    /* 40 new keys at t=110: there are 63 expired slots to take */
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "new-%d", i);
        ratelimit_hit(rl, k, 110);
    }
    assert_int_equal(blocked(rl, "live", 110, NULL), 1);
    ratelimit_free(rl);
}

/* Attempts in flight count: with 3 allowed, 3 reservations are taken and
 * the 4th is refused before any settles (retry in 1 s: they end soon). */
static void reservations_count_in_flight(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 100);
    int ra = -1;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_reserve(rl, "k", 1000, &ra), 0);
    assert_int_equal(ratelimit_reserve(rl, "k", 1000, &ra), 1);
    assert_int_equal(ra, 1);
    assert_int_equal(blocked(rl, "k", 1000, NULL), 1);
    /* one succeeds: its slot is free again */
    ratelimit_settle(rl, "k", 0, 1001);
    assert_int_equal(ratelimit_reserve(rl, "k", 1001, &ra), 0);
    /* all three fail: blocked for the window */
    for (int i = 0; i < 3; i++)
        ratelimit_settle(rl, "k", 1, 1002);
    assert_int_equal(ratelimit_reserve(rl, "k", 1002, &ra), 1);
    assert_int_equal(ra, 58);
    assert_int_equal(ratelimit_reserve(rl, "k", 1060, &ra), 0); /* next window */
    ratelimit_settle(rl, "k", 0, 1060);
    ratelimit_free(rl);
}

/* A reset (a successful login) clears failures, not attempts in flight. */
static void reset_keeps_in_flight(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 60, 100);
    int ra = -1;
    ratelimit_hit(rl, "k", 1000);
    assert_int_equal(ratelimit_reserve(rl, "k", 1000, &ra), 0);
    assert_int_equal(ratelimit_reserve(rl, "k", 1000, &ra), 1);
    ratelimit_reset(rl, "k");
    assert_int_equal(ratelimit_reserve(rl, "k", 1000, &ra), 0);
    assert_int_equal(ratelimit_reserve(rl, "k", 1000, &ra), 1);
    ratelimit_settle(rl, "k", 0, 1000);
    ratelimit_settle(rl, "k", 0, 1000);
    assert_int_equal(blocked(rl, "k", 1000, NULL), 0);
    ratelimit_free(rl);
}

/* An entry with attempts in flight is never evicted, however many keys
 * pass; when a key finds no slot it is refused rather than let through. */
static void in_flight_never_evicted(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1, 60, 16);
    int ra = -1;
    assert_int_equal(ratelimit_reserve(rl, "victim", 1000, &ra), 0);
    char k[32];
    int refused = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k-%d", i);
        if (ratelimit_reserve(rl, k, 2000, &ra) != 0)
            refused++;
    }
    assert_true(refused > 0); /* 15 slots left, all then held */
    assert_int_equal(ratelimit_reserve(rl, "victim", 2000, &ra), 1);
    ratelimit_settle(rl, "victim", 1, 2000);
    assert_int_equal(blocked(rl, "victim", 2000, NULL), 1);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fresh_key_not_blocked),
        cmocka_unit_test(blocks_after_max),
        cmocka_unit_test(below_max_not_blocked),
        cmocka_unit_test(retry_after_counts_down),
        cmocka_unit_test(window_expiry_unblocks),
        cmocka_unit_test(hit_after_expiry_starts_new_window),
        cmocka_unit_test(reset_clears),
        cmocka_unit_test(keys_are_independent),
        cmocka_unit_test(long_keys),
        cmocka_unit_test(tiny_capacity_still_works),
        cmocka_unit_test(bounded_under_many_keys),
        cmocka_unit_test(expired_entries_evicted_first),
        cmocka_unit_test(reservations_count_in_flight),
        cmocka_unit_test(reset_keeps_in_flight),
        cmocka_unit_test(in_flight_never_evicted),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
