/* ratelimit.c - open-addressing table of (key, failures, attempts in
 * flight, window start). When a probe run is full the idle entry with the
 * oldest window is reused, so memory stays at `capacity` entries whatever
 * the traffic; an entry with attempts in flight is never reused (its
 * reservations must still count when they settle). */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define PROBE 16

struct entry {
    char key[128];
    uint32_t count;   /* failures in the window */
    uint32_t pending; /* reserved attempts not settled yet */
    int64_t start;
};

struct ratelimit {
    int max, window, cap;
    struct entry *e;
};

struct ratelimit *ratelimit_new(int max, int window_s, int capacity)
{
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->max = max;
    rl->window = window_s;
    rl->cap = capacity < PROBE ? PROBE : capacity;
    rl->e = calloc((size_t)rl->cap, sizeof *rl->e);
    if (!rl->e) {
        free(rl);
        return NULL;
    }
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl)
        free(rl->e);
    free(rl);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Finds key's entry; with create, claims a slot for it (NULL when every
 * slot of its probe run holds attempts in flight). */
static struct entry *find(struct ratelimit *rl, const char *key, int64_t now, int create)
{
    size_t kl = strlen(key);
    if (kl >= sizeof rl->e[0].key)
        kl = sizeof rl->e[0].key - 1;
    uint64_t h = hash(key);
    struct entry *victim = NULL;
    for (int i = 0; i < PROBE; i++) {
        struct entry *e = &rl->e[(h + (uint64_t)i) % (uint64_t)rl->cap];
        if (e->key[0] && strncmp(e->key, key, kl) == 0 && e->key[kl] == '\0')
            return e;
        if (e->pending)
            continue;
        int free_slot = !e->key[0] || e->start + rl->window <= now;
        if (!victim || (free_slot && victim->key[0]) || (e->key[0] && e->start < victim->start))
            victim = e;
    }
    if (!create || !victim)
        return NULL;
    memcpy(victim->key, key, kl);
    victim->key[kl] = '\0';
    victim->count = 0;
    victim->pending = 0;
    victim->start = now;
    return victim;
}

/* Starts a new window when the entry's has passed. */
static void roll(struct ratelimit *rl, struct entry *e, int64_t now)
{
    if (e->start + rl->window <= now) {
        e->start = now;
        e->count = 0;
    }
}

static int over(struct ratelimit *rl, struct entry *e, int64_t now, int *retry_after)
{
    roll(rl, e, now);
    if (e->count + e->pending < (uint32_t)rl->max)
        return 0;
    /* Full of failures: wait for the window; full of attempts in flight:
     * they end within a second or two. */
    *retry_after = e->count >= (uint32_t)rl->max ? (int)(e->start + rl->window - now) : 1;
    if (*retry_after < 1)
        *retry_after = 1;
    return 1;
}

int ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now, int *retry_after)
{
    struct entry *e = find(rl, key, now, 0);
    return e ? over(rl, e, now, retry_after) : 0;
}

void ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now)
{
    struct entry *e = find(rl, key, now, 1);
    if (!e)
        return;
    roll(rl, e, now);
    e->count++;
}

void ratelimit_reset(struct ratelimit *rl, const char *key)
{
    struct entry *e = find(rl, key, 0, 0);
    if (!e)
        return;
    if (e->pending)
        e->count = 0;
    else
        e->key[0] = '\0';
}

int ratelimit_reserve(struct ratelimit *rl, const char *key, int64_t now, int *retry_after)
{
    struct entry *e = find(rl, key, now, 1);
    if (!e) {
        *retry_after = 1;
        return 1;
    }
    if (over(rl, e, now, retry_after))
        return 1;
    e->pending++;
    return 0;
}

void ratelimit_settle(struct ratelimit *rl, const char *key, int failed, int64_t now)
{
    struct entry *e = find(rl, key, now, 0);
    if (!e)
        return;
    if (e->pending)
        e->pending--;
    if (failed) {
        roll(rl, e, now);
        e->count++;
    }
}
