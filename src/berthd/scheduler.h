/* scheduler.h - the scheduler (prefix sched_): fires each schedule (docs/schedules.md) at its
 * times, from a 1 s lws_sul tick on berthd's loop.
 *
 * A tick reads the running schedules whose next_run_at has come (an
 * indexed query, at most SCHEDULER_BATCH per tick) and handles each fire time
 * with a few short store statements: start the run (a `script` job
 * through job.c, or a deployment through deploy.c), or record why it did
 * not start (skipped: the previous run is still going; missed: the server
 * is not ACTIVE, or the target is gone). Every state is in the store, so a
 * restart picks up where it was; a fire time more than SCHEDULER_LATE_S old
 * (berthd was down) follows the schedule's catch_up: "once" runs it once,
 * "skip" records one miss; for the first SCHEDULER_BOOT_GRACE_S after
 * start a fire time waits for an UNREACHABLE server's runner to come
 * back rather than miss. Loop thread only; nothing here blocks (a time
 * zone is a small local file read, cron.h).
 *
 * Owns: its timer. srv->sched is made in main.c, started with the front's
 * context and stopped before it goes.
 */
#ifndef BERTHD_SCHEDULER_H
#define BERTHD_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "berthd.h"
#include "store.h"

#define SCHEDULER_TICK_MS 1000
#define SCHEDULER_BATCH 64
#define SCHEDULER_LATE_S 60
/* After berthd starts, a fire time whose server is UNREACHABLE waits up
 * to this long for its runner to reconnect (berthd's own stop closed
 * every link) before it is recorded as missed. */
#define SCHEDULER_BOOT_GRACE_S 60
#define SCHEDULER_EVERY_MAX 525600 /* minutes: a year */

struct sched;

struct sched *sched_new(struct srv *s);
int sched_start(struct sched *sc, struct lws_context *ctx);
void sched_stop(struct sched *sc);
void sched_free(struct sched *sc);

/* The timing of a schedule: cron in zone, or every N minutes counted from
 * anchor (its creation, to the minute). Checks it and gives the first
 * fire time after `after`; -1 with a message for the user (a bad
 * expression, an unknown zone, an expression that never fires). */
int sched_next(const char *cron, int every_minutes, const char *zone, int64_t anchor,
               int64_t after, int64_t *next, char *err, size_t errlen);
/* The next n fire times after `after` into out; how many were found. */
int sched_next_n(const struct schedule *s, int64_t after, int64_t *out, int n);

#endif
