/* ratelimit.h - fixed-window failure counters keyed by a string (an
 * account's email, a client address), bounded in memory. Loop thread only. */
#ifndef BERTHD_RATELIMIT_H
#define BERTHD_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_new(int max, int window_s, int capacity);
void ratelimit_free(struct ratelimit *rl);
/* 1 if key has used up its window (then *retry_after is set), else 0. */
int ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now, int *retry_after);
void ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now);
void ratelimit_reset(struct ratelimit *rl, const char *key);

#endif
