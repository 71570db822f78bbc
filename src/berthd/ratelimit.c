/* ratelimit.c - open-addressing table of (key, count, window start).
 * When a probe run is full the entry with the oldest window is reused, so
 * memory stays at `capacity` entries whatever the traffic. */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define PROBE 16

struct entry {
    char key[128];
    uint32_t count;
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

/* Finds key's entry; with create, claims a slot for it. */
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
        int free_slot = !e->key[0] || e->start + rl->window <= now;
        if (!victim || (free_slot && victim->key[0]) || (e->key[0] && e->start < victim->start))
            victim = e;
    }
    if (!create)
        return NULL;
    memcpy(victim->key, key, kl);
    victim->key[kl] = '\0';
    victim->count = 0;
    victim->start = now;
    return victim;
}

int ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now, int *retry_after)
{
    struct entry *e = find(rl, key, now, 0);
    if (!e || e->start + rl->window <= now || e->count < (uint32_t)rl->max)
        return 0;
    *retry_after = (int)(e->start + rl->window - now);
    if (*retry_after < 1)
        *retry_after = 1;
    return 1;
}

void ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now)
{
    struct entry *e = find(rl, key, now, 1);
    if (e->start + rl->window <= now) {
        e->start = now;
        e->count = 0;
    }
    e->count++;
}

void ratelimit_reset(struct ratelimit *rl, const char *key)
{
    struct entry *e = find(rl, key, 0, 0);
    if (e)
        e->key[0] = '\0';
}
