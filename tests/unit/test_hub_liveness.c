/* test_hub_liveness.c - src/berthd/hub_series.c: the runner link's
 * liveness rules (3 missed heartbeats, boot grace) and snapshot pacing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "hub_series.h"

static void recent_frame_is_alive(void **state)
{
    (void)state;
    assert_int_equal(hub_live_decide(10000, 9000, 5, 1, 1), HUB_LIVE_OK);
    assert_int_equal(hub_live_decide(10000, 10000, 5, 1, 0), HUB_LIVE_OK);
}

static void three_missed_beats_drop_a_link(void **state)
{
    (void)state;
    /* exactly 3 beats of silence is still fine; past it is not */
    assert_int_equal(hub_live_decide(15000, 0, 5, 1, 1), HUB_LIVE_OK);
    assert_int_equal(hub_live_decide(15001, 0, 5, 1, 1), HUB_LIVE_SILENT);
    assert_int_equal(hub_live_decide(3001, 0, 1, 1, 0), HUB_LIVE_SILENT);
}

static void unconnected_active_server_expires_after_grace(void **state)
{
    (void)state;
    /* loaded ACTIVE at boot (last = boot time), never reconnected */
    assert_int_equal(hub_live_decide(14000, 0, 5, 0, 1), HUB_LIVE_OK);
    assert_int_equal(hub_live_decide(16000, 0, 5, 0, 1), HUB_LIVE_ABSENT);
    /* not ACTIVE and not connected: nothing to do */
    assert_int_equal(hub_live_decide(999999, 0, 5, 0, 0), HUB_LIVE_OK);
}

static void snapshots_at_most_every_minute(void **state)
{
    (void)state;
    assert_int_equal(hub_flush_due(1000, 990, 1), 0);
    assert_int_equal(hub_flush_due(1050, 990, 1), 1);
    assert_int_equal(hub_flush_due(5000, 990, 0), 0); /* nothing new */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recent_frame_is_alive),
        cmocka_unit_test(three_missed_beats_drop_a_link),
        cmocka_unit_test(unconnected_active_server_expires_after_grace),
        cmocka_unit_test(snapshots_at_most_every_minute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
