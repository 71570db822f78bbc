/* ratelimit.h - fixed-window failure counters keyed by a string (an
 * account's email, a client address), bounded in memory. Loop thread only.
 *
 * An attempt whose outcome is not known yet (a password check on the
 * worker pool) is reserved when it arrives and settled when it ends:
 * reserved attempts count against the limit like failures, so N parallel
 * attempts can never all pass a check made before any of them ended. */
#ifndef BERTHD_RATELIMIT_H
#define BERTHD_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_new(int max, int window_s, int capacity);
void ratelimit_free(struct ratelimit *rl);
/* 1 if key's failures plus its attempts in flight have used up its window
 * (then *retry_after is set), else 0. */
int ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now, int *retry_after);
/* Counts one failure. */
void ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now);
/* Clears key's failures (attempts in flight stay counted). */
void ratelimit_reset(struct ratelimit *rl, const char *key);
/* Reserves an attempt: 0 when taken (settle it exactly once), 1 when key is
 * blocked (*retry_after set; nothing to settle). A key whose table slots
 * are all held by attempts in flight is blocked too. */
int ratelimit_reserve(struct ratelimit *rl, const char *key, int64_t now, int *retry_after);
/* Ends a reserved attempt; failed counts it as a failure. */
void ratelimit_settle(struct ratelimit *rl, const char *key, int failed, int64_t now);

#endif
