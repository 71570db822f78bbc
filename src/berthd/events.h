/* events.h - the live event stream of an organization (the dashboard's one
 * stream per tab): `GET /api/v1/orgs/{org}/events` answers Server-Sent
 * Events (text/event-stream) of what changes in that organization, each
 * sent only to subscribers whose effective scopes hold the event's scope.
 *
 *   server          {id, status, reason}                 server:read
 *   server.metrics  {id, last_seen, cpu_pct, mem_pct, disk_pct}  server:read
 *                   (at most one per server per EVENTS_METRICS_S)
 *   job             {id, kind, server_id, status, exit_code}     server:read
 *   deployment      {id, app_id, server_id, status, step, step_status}
 *                                                        deploy:read
 *   audit           {action, target, outcome, at, actor} audit:read
 *
 * Log lines, only on the streams that ask for them: `hello` carries the
 * stream's id, and `POST .../events/{stream}/logs` {"deployment": id}
 * (deploy:read) or {"job": id} (server:read), "after": seq, follows that
 * job's log on the stream from after seq: the chunks already stored, then
 * each one as it is stored, in seq order, each once (a second subscribe
 * with a lower `after` starts again from there: another tab), and
 * `log.end` when the job ended and all was sent; {"follow": false} stops.
 *   log             {job, seq, stream, ts, data}         (as NDJSON logs)
 *   log.end         {job, seq}
 * Lines are read from the store once per job for every stream following
 * it (LOG_BATCH_* at a time) and queued only while a stream holds less
 * than LOG_ROOM, so a slow reader gets them later, never a cut; the
 * other events keep their lag cap.
 *
 * Owns: every subscriber (its req is http.c's; a subscriber holds it until
 * its stream ends). A stream ends when the client goes, when it falls
 * EVENTS_LAG_MAX bytes behind (the client reconnects and reloads what it
 * shows: EventSource does that by itself), after EVENTS_LIFE_S (so a
 * role changed meanwhile is read again), or when berthd stops. A comment
 * line every EVENTS_PING_S keeps proxies from timing it out; every
 * EVENTS_TICK_S a peek at each socket finds the clients that closed. Caps: per
 * user and in all (429 past them). Loop thread only.
 */
#ifndef BERTHD_EVENTS_H
#define BERTHD_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "access.h"
#include "berthd.h"

struct req;
struct lws_context;

#define EVENTS_PER_USER 32
#define EVENTS_MAX 4096
#define EVENTS_PING_S 25
#define EVENTS_TICK_S 2
#define EVENTS_LIFE_S 600
#define EVENTS_LAG_MAX (256u * 1024)
#define EVENTS_METRICS_S 10 /* one server.metrics per server per this */
#define EVENTS_LOGS_PER_STREAM 16
#define LOG_ROOM (64u * 1024)         /* log lines wait while a stream holds more */
#define LOG_BATCH_BYTES (64u * 1024)  /* one read of a job's log, at most */
#define LOG_BATCH_EVENTS 256

struct events *events_new(struct srv *s);
/* Timers on the front's context; events_stop ends every stream. */
int events_start(struct events *ev, struct lws_context *ctx);
void events_stop(struct events *ev);
void events_free(struct events *ev);

/* 1 when any stream is open. */
int events_active(struct srv *s);
/* 1 when some stream of org_id is open: callers skip building an event
 * nobody reads. */
int events_wanted(struct srv *s, int64_t org_id);
/* Sends event `type` with data (owned, freed here) to org_id's streams
 * whose scopes hold `scope`. Never fails for the caller. */
void events_publish(struct srv *s, int64_t org_id, uint32_t scope, const char *type,
                    json_t *data);

/* job.c: job_id's stored prefix grew to acked (and maybe it ended). */
void events_log_advance(struct srv *s, int64_t job_id, int64_t acked, int ended);

/* The routes' handlers: GET /api/v1/orgs/{org}/events,
 * POST /api/v1/orgs/{org}/events/{id}/logs. */
void api_events(struct req *r);
void api_events_logs(struct req *r);

#endif
