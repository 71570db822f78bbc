/* job.h - a job's whole life in berthd: create, queue, send, accept, log
 * (deduplicated by seq), finish, cancel, follow.
 *
 * A job is work for one server's runner (docs/protocol.md): a script run,
 * a deployment, and the kinds to come. Everything a kind does differently
 * is in its `struct job_kind` hooks, registered at start-up (main.c); this
 * file never tests a kind by name. The hub (hub.c) carries the frames; it
 * hands the job frames it receives to the handlers this module registers
 * with it, and this module sends through it.
 *
 * Owns: the kinds table, the per-status gauges, every log follower (each
 * follower's req is owned by http.c; a follower holds it until the stream
 * ends or http.c calls stream_gone) and each runner link's intake state
 * (struct hub_conn's `jobs`, freed when the link closes).
 *
 * Loop thread only.
 */
#ifndef BERTHD_JOB_H
#define BERTHD_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "berthd.h"
#include "buf.h"
#include "store.h"

struct req;
struct hub;

/* What one kind of job does at each point of its life. Every hook is
 * optional. */
struct job_kind {
    const char *name; /* the jobs.kind column and the frame's "kind" */
    /* At every (re)delivery, before the frame goes: adds what is never
     * stored (decrypted env, clone credentials) to spec. Returns 1 to hold
     * the job back (the kind calls job_send once it can go), else 0. */
    int (*at_send)(struct srv *s, const struct job *j, json_t *spec);
    /* The runner accepted it: PENDING -> RUNNING was stored. */
    void (*started)(struct srv *s, int64_t job_id);
    /* A chunk on stream "system" was newly stored (step reports). */
    void (*system_line)(struct srv *s, int64_t job_id, int64_t ts_ms, const char *data,
                        size_t len);
    /* The job's end was stored (by its runner, a cancel before it started,
     * or a kind that failed it while held). */
    void (*finished)(struct srv *s, int64_t job_id, int failed, const char *error);
};

#define JOB_KINDS_MAX 16

struct jobs;

/* The module's state (srv->jobs). jobs_start registers its frame handlers
 * with the hub and loads the gauges from the store. */
struct jobs *jobs_new(struct srv *s);
int jobs_start(struct jobs *js, struct hub *h);
void jobs_free(struct jobs *js);
/* Registers a kind (k outlives js). -1 when the table is full or the name
 * is taken. */
int job_kind_register(struct jobs *js, const struct job_kind *k);

/* Stores j as PENDING (fills j->id and j->status); inside the caller's
 * transaction when it has one. STORE_OK or a store error. */
int job_insert(struct srv *s, struct job *j);
/* After job_insert's transaction committed: counts it and sends it if its
 * runner is connected. */
void job_submitted(struct srv *s, const struct job *j);
/* Sends a PENDING job (again) if its runner is connected, without
 * counting it as new (a kind's held job that may go now). */
void job_send(struct srv *s, const struct job *j);

/* Cancels a job. Returns 0 when it ended now (it was PENDING: FAILED
 * "cancelled", its kind's `finished` ran), 1 when the runner was asked to
 * stop it (its result ends it), -1 on a store failure or a job that had
 * ended. */
int job_cancel(struct srv *s, int64_t job_id);
/* Ends a PENDING job as FAILED with reason, without a runner (a kind that
 * cannot send it). 0 when it ended now; -1 if it was no longer PENDING. */
int job_fail_pending(struct srv *s, int64_t job_id, const char *reason);
/* Jobs rows were removed (a server deleted): recount the gauges. */
void job_recount(struct srv *s);

/* Log followers: r streams (already begun) the job's chunks after seq
 * `sent`, as text or NDJSON, until the job ends: from the store, up to
 * `acked` (the stored prefix) now and further as the job's log grows,
 * only as fast as the client reads (http.c's stream_drained). A job that
 * ended already ends the stream once everything stored was sent. */
int job_follow(struct srv *s, struct req *r, int64_t job_id, int64_t sent, int64_t acked,
               int ndjson);
/* Formats one chunk for a log answer into b: as text, the data (a
 * "system" line on a line of its own); as NDJSON, one object line. */
int job_format_chunk(struct buf *b, int ndjson, int64_t seq, const char *stream,
                     int64_t ts_ms, const char *data, size_t len);

#endif
