/* hub_series.c - metrics history rings and liveness rules (see the
 * header). Owns nothing but the rings it allocates. */
#include "hub_series.h"

#include <stdlib.h>
#include <string.h>

/* A stored point: 20 bytes. */
struct qpoint {
    uint32_t t;
    uint16_t cpu, mem, disk, load;   /* value * 100 */
    float rx, tx;
};

struct ring {
    int head, n;    /* next slot, filled count */
};

struct acc {
    int64_t start;  /* bucket start; 0: empty */
    int n, nrx, ntx;
    double cpu, mem, disk, load, rx, tx;
};

struct hub_series {
    struct ring rr, rm, rf;
    struct acc am, af;
    int64_t last_t;
    struct qpoint raw[HUB_SERIES_RAW];
    struct qpoint min[HUB_SERIES_MINUTES];
    struct qpoint five[HUB_SERIES_FIVES];
};

struct hub_series *hub_series_new(void) { return calloc(1, sizeof(struct hub_series)); }
void hub_series_free(struct hub_series *s) { free(s); }

static uint16_t q100(double v, double max)
{
    if (!(v >= 0))
        return 0;
    if (v > max)
        v = max;
    return (uint16_t)(v * 100.0 + 0.5);
}

static struct qpoint quantise(const struct hub_point *p)
{
    struct qpoint q = {
        .t = (uint32_t)p->t,
        .cpu = q100(p->cpu_pct, 100),
        .mem = q100(p->mem_pct, 100),
        .disk = q100(p->disk_pct, 100),
        .load = q100(p->load1, 655),
        .rx = (float)p->rx_bps,
        .tx = (float)p->tx_bps,
    };
    return q;
}

static void push(struct qpoint *arr, int cap, struct ring *r, struct qpoint q)
{
    arr[r->head] = q;
    r->head = (r->head + 1) % cap;
    if (r->n < cap)
        r->n++;
}

static void acc_add(struct acc *a, const struct hub_point *p)
{
    a->n++;
    a->cpu += p->cpu_pct;
    a->mem += p->mem_pct;
    a->disk += p->disk_pct;
    a->load += p->load1;
    if (p->rx_bps >= 0) {
        a->nrx++;
        a->rx += p->rx_bps;
    }
    if (p->tx_bps >= 0) {
        a->ntx++;
        a->tx += p->tx_bps;
    }
}

static struct hub_point acc_avg(const struct acc *a)
{
    struct hub_point p = {
        .t = a->start,
        .cpu_pct = a->cpu / a->n,
        .mem_pct = a->mem / a->n,
        .disk_pct = a->disk / a->n,
        .load1 = a->load / a->n,
        .rx_bps = a->nrx ? a->rx / a->nrx : -1,
        .tx_bps = a->ntx ? a->tx / a->ntx : -1,
    };
    return p;
}

/* Closes a's bucket into the ring when x falls in a later one. */
static void roll(struct acc *a, int64_t width, const struct hub_point *x, struct qpoint *arr,
                 int cap, struct ring *r)
{
    int64_t start = x->t - x->t % width;
    if (a->start && a->start != start && a->n) {
        struct hub_point avg = acc_avg(a);
        push(arr, cap, r, quantise(&avg));
    }
    if (a->start != start) {
        memset(a, 0, sizeof *a);
        a->start = start;
    }
    acc_add(a, x);
}

void hub_series_add(struct hub_series *s, const struct hub_point *x)
{
    if (!s || x->t <= 0 || x->t < s->last_t)
        return;
    s->last_t = x->t;
    push(s->raw, HUB_SERIES_RAW, &s->rr, quantise(x));
    roll(&s->am, 60, x, s->min, HUB_SERIES_MINUTES, &s->rm);
    roll(&s->af, 300, x, s->five, HUB_SERIES_FIVES, &s->rf);
}

static struct hub_point expand(const struct qpoint *q, int step)
{
    struct hub_point p = {
        .t = q->t, .step = step,
        .cpu_pct = q->cpu / 100.0, .mem_pct = q->mem / 100.0, .disk_pct = q->disk / 100.0,
        .load1 = q->load / 100.0, .rx_bps = q->rx, .tx_bps = q->tx,
    };
    return p;
}

/* Oldest entry's time of a ring, or INT64_MAX when empty. */
static int64_t oldest(const struct qpoint *arr, int cap, const struct ring *r)
{
    if (!r->n)
        return INT64_MAX;
    return arr[(r->head - r->n + cap) % cap].t;
}

/* Appends ring entries with since <= t < before. */
static size_t emit(const struct qpoint *arr, int cap, const struct ring *r, int step,
                   int64_t since, int64_t before, struct hub_point *out, size_t n, size_t max)
{
    for (int i = 0; i < r->n && n < max; i++) {
        const struct qpoint *q = &arr[(r->head - r->n + i + cap) % cap];
        if ((int64_t)q->t >= since && (int64_t)q->t < before)
            out[n++] = expand(q, step);
    }
    return n;
}

size_t hub_series_query(const struct hub_series *s, int64_t since, struct hub_point *out,
                        size_t max)
{
    if (!s)
        return 0;
    int64_t raw0 = oldest(s->raw, HUB_SERIES_RAW, &s->rr);
    int64_t min0 = oldest(s->min, HUB_SERIES_MINUTES, &s->rm);
    if (min0 > raw0)
        min0 = raw0;
    size_t n = 0;
    n = emit(s->five, HUB_SERIES_FIVES, &s->rf, 300, since, min0, out, n, max);
    n = emit(s->min, HUB_SERIES_MINUTES, &s->rm, 60, since, raw0, out, n, max);
    n = emit(s->raw, HUB_SERIES_RAW, &s->rr, 0, since, INT64_MAX, out, n, max);
    return n;
}

/* a + b for two non-negative counters, stopping at INT64_MAX. */
static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t known(int64_t v) { return v > 0 ? v : 0; }

double hub_series_rate(const int64_t prev[2], const int64_t cur[2], int64_t dt_ms)
{
    if (dt_ms <= 0)
        return -1;
    int64_t p = sat_add(known(prev[0]), known(prev[1]));
    int64_t c = sat_add(known(cur[0]), known(cur[1]));
    if (c < p) /* counters reset on reboot: no rate for that beat */
        return -1;
    return (double)(c - p) * 1000.0 / (double)dt_ms;
}

enum hub_live hub_live_decide(int64_t now_ms, int64_t last_ms, int heartbeat_s, int connected,
                              int active)
{
    int64_t silent = now_ms - last_ms, limit = 3 * (int64_t)heartbeat_s * 1000;
    if (silent <= limit)
        return HUB_LIVE_OK;
    if (connected)
        return HUB_LIVE_SILENT;
    return active ? HUB_LIVE_ABSENT : HUB_LIVE_OK;
}

int hub_flush_due(int64_t now_s, int64_t last_flush_s, int dirty)
{
    return dirty && now_s - last_flush_s >= HUB_FLUSH_EVERY_S;
}
