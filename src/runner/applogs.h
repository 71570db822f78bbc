/* applogs.h - application logs on the runner (applogs.c, docs/app-logs.md):
 * follows every berth app container's stdout and stderr through the
 * Engine API into the segment store (logstore.h) and answers berthd's
 * logs.query frames, live with follow. */
#ifndef BERTH_RUNNER_APPLOGS_H
#define BERTH_RUNNER_APPLOGS_H

#include <jansson.h>

#include "runner.h"

/* After the context: opens state_dir/applogs and starts collecting
 * (unless BERTH_APPLOGS=0). Settings from the environment:
 * BERTH_APPLOGS_RETAIN_S, BERTH_APPLOGS_MAX_APP_MB, BERTH_APPLOGS_MAX_TOTAL_MB,
 * BERTH_APPLOGS_SEGMENT_KB, BERTH_APPLOGS_LIST_MS, BERTH_APPLOGS_TRIM_S,
 * BERTH_APPLOGS_IDLE_S. 0 or -1 (logged). */
int applogs_init(struct runner *r);
/* Stops collection and queries, writes what is pending (before the
 * context is destroyed). */
void applogs_stop(struct runner *r);
void applogs_on_query(struct runner *r, json_t *msg);
void applogs_on_cancel(struct runner *r, json_t *msg);
/* Bytes of the app log store's segments on disk (the heartbeat's
 * logs_bytes), counted at most every 10 s (a readdir and a stat per
 * segment); -1 when app logs are off. */
int64_t applogs_disk_bytes(void);
extern const struct lws_protocols applogs_protocol;

#endif
