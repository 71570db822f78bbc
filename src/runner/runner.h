/* runner.h - berth-runner's shared state and the interfaces between its
 * files. One struct runner lives in main.c for the life of the process;
 * every module gets a pointer to it. Files:
 *   main.c        command line, uninstall, signals, the lws loop
 *   state.c       state directory, persisted URL/server id, credential
 *   link.c        WebSocket client, reconnect/backoff, session messages
 *   procfs.c      pure parsers for /proc files (unit-tested on fixtures)
 *   metrics.c     heartbeat metrics sampling
 *   fingerprint.c fingerprint + precheck, collected on a worker thread
 *   jobs.c        script jobs: fork/exec, pipes on the loop, reaping
 *   chans.c       channels: a shell or an exec (host or container) on a PTY or pipes
 *   dockerops.c   container management calls (list, inspect, start, stop, ...)
 *   spool.c       on-disk spool of job.log / job.done frames
 *   deploy.c      the deploy job kind (pipeline, rollback, crash recovery)
 *   docker.c, edge.c, child.c  its building blocks (docker.h, edge.h, child.h)
 */
#ifndef BERTH_RUNNER_H
#define BERTH_RUNNER_H

#include <libwebsockets.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define RUNNER_VERSION "0.1.0"
#define RUNNER_DEFAULT_STATE_DIR "/var/lib/berth-runner"
#define RUNNER_EXIT_OK 0
#define RUNNER_EXIT_ERROR 1
#define RUNNER_EXIT_USAGE 2
#define RUNNER_EXIT_REFUSED 3          /* registration token refused */

struct job;
struct deploy;
struct edge;
struct acme;

struct runner {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    volatile int stop;
    int exit_code;

    /* configuration */
    char state_dir[PATH_MAX];
    char url[1024];
    const char *ca_file;
    int heartbeat_s;                   /* current (welcome may override) */
    int64_t min_free_disk;             /* precheck threshold, bytes */
    /* The one Docker endpoint (a unix socket path), resolved once at start
     * from --docker-host, DOCKER_HOST or the default: precheck and
     * fingerprint (fingerprint.c), deploys (docker.c via deploy.c) and
     * whatever talks to Docker later use this and nothing else. */
    char docker_endpoint[PATH_MAX];

    /* identity (state.c); secrets never logged */
    char server_id[128];
    char *credential;                  /* brc_..., NULL until registered */
    char *token;                       /* brg_..., only while registering */

    /* link (link.c) */
    struct link *link;

    /* jobs (jobs.c) */
    struct job *jobs;

    /* deploys (deploy.c): the edge proxy, created at start */
    struct edge *edge;
    char edge_bind[64];                /* --edge-bind, "" = all addresses */
    int edge_http_port;                /* --edge-http-port: apps by name, 0 = off */
    int edge_https_port;               /* --edge-https-port, 0 = off */
    int acme_http_port;                /* --acme-http-port: lego's HTTP-01 listener */
    int acme_renew_days;               /* --acme-renew-days */
    struct acme *acme;                 /* acme.c: NULL until a domain wants a certificate */
};

/* state.c */
int state_prepare_dir(struct runner *r);
/* Loads state.json (url, server_id) and credential if present: 0, or -1
 * if a file exists but is unreadable/corrupt (message logged). */
int state_load(struct runner *r);
/* Persists url + server_id (state.json) atomically, 0600. */
int state_save(struct runner *r);
/* Persists credential (0600, temp + fsync + rename) then state.json. */
int state_save_credential(struct runner *r, const char *server_id, const char *credential);
int state_path(const struct runner *r, const char *name, char *out, size_t outlen);

/* link.c */
int link_init(struct runner *r);
void link_release(struct runner *r);
void link_start(struct runner *r);        /* first connect (scheduled now) */
/* Queues a message for the server if the session is up (after welcome);
 * 0 queued, -1 dropped (not connected or queue full). msg stays caller's. */
int link_send(struct runner *r, const json_t *msg);
int link_send_raw(struct runner *r, const char *text, size_t len);
/* A binary frame (a channel's bytes, chans.c); -1 when not ready. */
int link_send_binary(struct runner *r, const void *data, size_t len);
int link_ready(const struct runner *r);
size_t link_queued_bytes(const struct runner *r);
extern const struct lws_protocols link_protocol;

/* metrics.c */
void metrics_init(struct runner *r);
json_t *metrics_heartbeat(struct runner *r);

/* fingerprint.c */
void fingerprint_start(struct runner *r); /* periodic collection, 60 s */
void fingerprint_on_wake(struct runner *r); /* loop thread: pick results */
void fingerprint_send_latest(struct runner *r);
/* Re-collect in a few seconds (a job may have changed ports, Docker). */
void fingerprint_poke(struct runner *r);
void fingerprint_release(struct runner *r);
/* Runs argv (no shell), captures stdout (at most cap bytes) with a time
 * limit. Returns exit status (>= 0), or -1 if it could not run. */
int fingerprint_run_capture(char *const argv[], int timeout_ms, size_t cap, char **out);

/* jobs.c */
int jobs_init(struct runner *r);          /* loads the spool */
void jobs_stop(struct runner *r);          /* kills children, stops timers */
void jobs_release(struct runner *r);       /* frees (after the context) */
void jobs_on_job(struct runner *r, json_t *msg);
void jobs_on_cancel(struct runner *r, const char *job);
void jobs_on_ack(struct runner *r, const char *job, int64_t seq);
void jobs_on_ack_done(struct runner *r, const char *job);
/* Fills hello's job list (malloc'ed array, ids borrowed from the jobs). */
size_t jobs_states(struct runner *r, struct proto_job_state **out);
/* After welcome: replays unacknowledged spool entries. */
void jobs_on_welcome(struct runner *r, json_t *welcome_jobs);
/* The send queue drained (or the link went down): resume paused job
 * output and continue replays. */
void jobs_on_drain(struct runner *r);

/* For deploy.c: a job's output and result (jobs.c owns the job). */
void jobs_emit(struct job *j, const char *stream, const char *data, size_t len);
void jobs_finish(struct job *j, int exit_code, const char *error);
void jobs_set_deploy(struct job *j, struct deploy *d);
int jobs_work_path(const struct runner *r, const char *id, const char *ext, char *out, size_t n);

/* deploy.c */
int deploy_init(struct runner *r);        /* after the context: the edge */
void deploy_adopt_edge(struct runner *r); /* adopts a running HAProxy */
void deploy_stop(struct runner *r);       /* abandons running deploys */
/* Starts the pipeline for job j; wipes spec's env/git values either way.
 * -1 with err: bad spec (the caller fails the job). */
int deploy_start(struct runner *r, struct job *j, const char *id, json_t *spec, char *err, size_t errlen);
void deploy_cancel(struct deploy *d);
void deploy_scrub(json_t *spec);
/* Job kind "edge" ({app_id, domains}): routes an app's domains now, by
 * map, with no reload; finishes the job. -1 with err: bad spec. */
int deploy_edge_job(struct runner *r, struct job *j, json_t *spec, char *err, size_t errlen);
/* At start, for a job without a result: 1 if it was a deploy (undoing it
 * now, it finishes the job), 0 if not. */
int deploy_recover(struct runner *r, struct job *j, const char *id);

/* spool.c - files state_dir/spool/JOB.log (one job.log frame per line)
 * and JOB.done (the job.done frame). */
int spool_dir(const struct runner *r, char *out, size_t outlen);
/* Opens (creating) JOB.log for appending; returns fd or -1. */
int spool_open(const struct runner *r, const char *job);
/* Appends one frame + '\n' and fsyncs. */
int spool_append(int fd, const char *frame, size_t len);
int spool_write_done(const struct runner *r, const char *job, const char *frame, size_t len);
/* Replays JOB.log from byte *offset: cb for every line with seq > after_seq,
 * in order, until about budget bytes went to cb. Advances *offset past
 * the lines it read. Returns 1 at the end of the file, 0 when the budget
 * ran out first, -1 on error (or when cb returned < 0). */
typedef int (*spool_line_cb)(void *ctx, const char *frame, size_t len, int64_t seq);
int spool_replay_step(const struct runner *r, const char *job, int64_t *offset,
                      int64_t after_seq, size_t budget, spool_line_cb cb, void *ctx);
/* Reads JOB.done (malloc'ed) or returns -1 if absent. */
int spool_read_done(const struct runner *r, const char *job, char **frame, size_t *len);
/* Last seq in JOB.log (0 if empty); -1 if the file cannot be read. */
int64_t spool_last_seq(const struct runner *r, const char *job);
/* Drops lines with seq <= acked except the last one, which keeps the
 * seq high-water mark (rewrites atomically; *fd, if open, is reopened). */
int spool_trim(const struct runner *r, const char *job, int64_t acked, int *fd);
int spool_forget(const struct runner *r, const char *job);
/* Lists job ids in the spool: cb(ctx, id) for each. */
int spool_list(const struct runner *r, int (*cb)(void *ctx, const char *id), void *ctx);

#endif
