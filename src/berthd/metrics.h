/* metrics.h - process metrics in memory, rendered as Prometheus text at
 * GET /metrics. Loop thread only. */
#ifndef BERTHD_METRICS_H
#define BERTHD_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "router.h"

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* One finished request: route pattern (NULL: unmatched), status, latency. */
void metrics_http(struct metrics *m, const char *route, enum http_method method, int status,
                  uint64_t us);
/* Gauges other modules own (runners connected, jobs, ...). */
void metrics_gauge_set(struct metrics *m, const char *name, double value);
int metrics_render(struct metrics *m, struct buf *out);

#endif
