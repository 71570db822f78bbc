/* hub_series.h - a server's metrics history in memory, downsampled, and
 * the liveness rules of the runner link, as pure functions (no I/O, no
 * clock: callers pass the time), so tests can drive them.
 *
 * History per server, in three fixed rings (about 8 KiB in all, allocated
 * at the first heartbeat):
 *   raw       the last 60 samples (5 minutes at the default 5 s beat)
 *   minute    1-minute averages for the last hour
 *   five      5-minute averages for the last 24 hours
 * A query answers every tier merged, finest first where they overlap.
 * Values are stored quantised (percentages in 1/100, load in 1/100, byte
 * rates as float) to keep 10,000 servers' history under 100 MiB.
 */
#ifndef BERTHD_HUB_SERIES_H
#define BERTHD_HUB_SERIES_H

#include <stddef.h>
#include <stdint.h>

#define HUB_SERIES_RAW 60
#define HUB_SERIES_MINUTES 60
#define HUB_SERIES_FIVES 288

/* One sample or one averaged point. Percentages 0..100; rates bytes/s
 * (negative: unknown). */
struct hub_point {
    int64_t t;          /* unix seconds: sample time, or bucket start */
    int step;           /* 0 raw sample, 60 or 300 for an average */
    double cpu_pct, mem_pct, disk_pct, load1, rx_bps, tx_bps;
};

struct hub_series;

struct hub_series *hub_series_new(void);
void hub_series_free(struct hub_series *s);
/* Adds a sample (x->t must not go backwards; older samples are ignored). */
void hub_series_add(struct hub_series *s, const struct hub_point *x);
/* Points with t >= since, oldest first, at most max; returns the count. */
size_t hub_series_query(const struct hub_series *s, int64_t since, struct hub_point *out,
                        size_t max);

/* Bytes/s between two readings, dt_ms apart, of a pair of byte counters
 * ({v4, v6}, each as the runner sent it: negative means unknown and counts
 * as 0). -1 when dt_ms <= 0 or the sum went backwards (a reboot). The
 * sums saturate at INT64_MAX, so no input overflows. */
double hub_series_rate(const int64_t prev[2], const int64_t cur[2], int64_t dt_ms);

/* ---- liveness ---- */

enum hub_live {
    HUB_LIVE_OK = 0,
    HUB_LIVE_SILENT,     /* connected but silent for 3 beats: drop, UNREACHABLE */
    HUB_LIVE_ABSENT,     /* ACTIVE without a connection past the grace: UNREACHABLE */
};

/* now_ms and last_ms on one monotonic clock; last_ms is the last frame
 * received (or, with no connection, when berthd started). */
enum hub_live hub_live_decide(int64_t now_ms, int64_t last_ms, int heartbeat_s, int connected,
                              int active);
/* Whether a server's metrics snapshot is due for the store. */
int hub_flush_due(int64_t now_s, int64_t last_flush_s, int dirty);
#define HUB_FLUSH_EVERY_S 60

#endif
