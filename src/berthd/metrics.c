/* metrics.c - request counters per (route, method, status class), one
 * latency histogram per route, and named gauges. Routes are keyed by the
 * address of their pattern string, so the table stays as small as the
 * route table. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 128
#define MAX_GAUGES 32

static const double bucket_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1, 0.25, 0.5, 1, 2.5};
#define NBUCKETS (sizeof bucket_s / sizeof bucket_s[0])

struct series {
    const char *route;
    enum http_method method;
    uint64_t by_class[6];           /* index status/100 */
    uint64_t buckets[NBUCKETS];
    uint64_t count;
    double sum_s;
};

struct metrics {
    struct series s[MAX_SERIES];
    int n;
    struct {
        char name[64];
        double v;
    } g[MAX_GAUGES];
    int ng;
};

struct metrics *metrics_new(void) { return calloc(1, sizeof(struct metrics)); }
void metrics_free(struct metrics *m) { free(m); }

void metrics_http(struct metrics *m, const char *route, enum http_method method, int status,
                  uint64_t us)
{
    if (!m)
        return;
    if (!route)
        route = "unmatched";
    struct series *s = NULL;
    for (int i = 0; i < m->n; i++)
        if (m->s[i].route == route && m->s[i].method == method) {
            s = &m->s[i];
            break;
        }
    if (!s) {
        if (m->n == MAX_SERIES)
            return;
        s = &m->s[m->n++];
        s->route = route;
        s->method = method;
    }
    int cls = status / 100;
    if (cls < 1 || cls > 5)
        cls = 5;
    s->by_class[cls]++;
    double sec = (double)us / 1e6;
    for (size_t b = 0; b < NBUCKETS; b++)
        if (sec <= bucket_s[b])
            s->buckets[b]++;
    s->count++;
    s->sum_s += sec;
}

void metrics_gauge_set(struct metrics *m, const char *name, double value)
{
    for (int i = 0; i < m->ng; i++)
        if (strcmp(m->g[i].name, name) == 0) {
            m->g[i].v = value;
            return;
        }
    if (m->ng == MAX_GAUGES || strlen(name) >= sizeof m->g[0].name)
        return;
    strcpy(m->g[m->ng].name, name);
    m->g[m->ng++].v = value;
}

int metrics_render(struct metrics *m, struct buf *o)
{
    int rc = 0;
    rc |= buf_printf(o, "# HELP berth_http_requests_total HTTP requests answered.\n"
                        "# TYPE berth_http_requests_total counter\n");
    for (int i = 0; i < m->n; i++)
        for (int c = 1; c <= 5; c++)
            if (m->s[i].by_class[c])
                rc |= buf_printf(o, "berth_http_requests_total{route=\"%s\",method=\"%s\","
                                    "code=\"%dxx\"} %llu\n", m->s[i].route,
                                 router_method_name(m->s[i].method), c,
                                 (unsigned long long)m->s[i].by_class[c]);
    rc |= buf_printf(o, "# HELP berth_http_request_duration_seconds Time to answer.\n"
                        "# TYPE berth_http_request_duration_seconds histogram\n");
    for (int i = 0; i < m->n; i++) {
        const struct series *s = &m->s[i];
        const char *meth = router_method_name(s->method);
        for (size_t b = 0; b < NBUCKETS; b++)
            rc |= buf_printf(o, "berth_http_request_duration_seconds_bucket{route=\"%s\","
                                "method=\"%s\",le=\"%g\"} %llu\n", s->route, meth,
                             bucket_s[b], (unsigned long long)s->buckets[b]);
        rc |= buf_printf(o, "berth_http_request_duration_seconds_bucket{route=\"%s\","
                            "method=\"%s\",le=\"+Inf\"} %llu\n", s->route, meth,
                         (unsigned long long)s->count);
        rc |= buf_printf(o, "berth_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"}"
                            " %.6f\n", s->route, meth, s->sum_s);
        rc |= buf_printf(o, "berth_http_request_duration_seconds_count{route=\"%s\","
                            "method=\"%s\"} %llu\n", s->route, meth,
                         (unsigned long long)s->count);
    }
    for (int i = 0; i < m->ng; i++) {
        /* A gauge name may carry labels (berth_jobs{status="RUNNING"}): the
         * TYPE line names the family once. */
        const char *name = m->g[i].name, *prev = i ? m->g[i - 1].name : "";
        int base = (int)strcspn(name, "{");
        if (i == 0 || (int)strcspn(prev, "{") != base || strncmp(prev, name, (size_t)base))
            rc |= buf_printf(o, "# TYPE %.*s gauge\n", base, name);
        rc |= buf_printf(o, "%s %.15g\n", name, m->g[i].v);
    }
    return rc ? -1 : 0;
}
