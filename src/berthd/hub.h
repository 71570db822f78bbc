/* hub.h - berthd's end of the runner link (docs/protocol.md): the
 * `berth-runner.v1` WebSocket protocol at /runner/v1, server liveness in
 * memory, job dispatch, job output intake and its live followers.
 *
 * One `struct hub` per process (srv->hub), loop thread only. Per runner
 * connection lws allocates a `struct hub_conn` (the protocol's per-session
 * data); per server seen since start the hub keeps a small node (status,
 * latest metrics, history) in a hash map keyed by server id.
 */
#ifndef BERTHD_HUB_H
#define BERTHD_HUB_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#include "berthd.h"
#include "buf.h"
#include "store.h"

#define HUB_SUBPROTOCOL "berth-runner.v1"
#define HUB_PATH "/runner/v1"
#define HUB_RX_BUFFER 4096            /* lws rx buffer per connection */
#define HUB_FRAME_MAX (1024 * 1024)   /* one message, reassembled */

struct req;
struct hub_node;
struct hub_msg;
struct hub_jobst;

/* A connection's phase: new, registering (token shown), credential sent,
 * authenticated by credential (before hello), live (welcomed). */
enum hub_phase { HUB_P_NEW = 0, HUB_P_REG, HUB_P_REG_SENT, HUB_P_CRED, HUB_P_LIVE };

/* Per-connection state (lws per-session data: zeroed by lws). */
struct hub_conn {
    struct lws *wsi;
    struct hub_node *node;       /* set once welcomed; NULL when detached */
    int64_t server_id, org_id;
    int64_t regtoken_id;         /* registering with this token */
    int64_t reg_claimed_at;      /* when this link spent it (0: not yet/confirmed) */
    int phase;                   /* enum hub_phase */
    struct buf rx;               /* fragments of one message (lazy, capped) */
    struct hub_msg *out_head, *out_tail;
    size_t out_bytes;
    struct hub_jobst *jobs;      /* jobs whose output flows on this link */
    int close_code;              /* when set: close with it at next write */
};

int hub_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len);
/* One complete text frame from c's runner, as hub_callback hands it on
 * (also what tests/fuzz/fuzz_hub_frame.c drives, with c->wsi NULL): 0, or
 * -1 when the link is to be closed, with the close reason in why and the
 * status in c->close_code (0: 1003, malformed). */
int hub_frame(struct hub *h, struct hub_conn *c, const char *data, size_t len, char *why,
              size_t wn);
/* c's link is gone (LWS_CALLBACK_CLOSED): detach it, free its queue. */
void hub_conn_release(struct hub *h, struct hub_conn *c);
/* The protocols[] entry http.c serves. */
#define HUB_PROTOCOL                                                                     \
    {HUB_SUBPROTOCOL, hub_callback, sizeof(struct hub_conn), HUB_RX_BUFFER, 0, NULL, 0}

struct hub *hub_new(struct srv *s);
void hub_free(struct hub *h);
/* Starts the 1 s sweep timer and loads servers ACTIVE at the last stop
 * (they get 3 beats of grace to reconnect). */
int hub_start(struct hub *h, struct lws_context *ctx);
void hub_stop(struct hub *h);

/* From http.c on LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: authenticates a
 * runner upgrade. 0 lets it proceed, 1 after answering 4xx itself. */
int hub_confirm_upgrade(struct srv *s, struct lws *wsi, const char *upgrade);

/* ---- for the API ---- */

struct hub_live_info {
    int known;               /* the hub has a node for it */
    int connected;
    int64_t last_seen;       /* unix seconds, 0: never since start */
    json_t *metrics;         /* latest heartbeat's metrics (new ref) or NULL */
};
void hub_server_info(struct hub *h, int64_t server_id, struct hub_live_info *out);
/* Metrics history since (unix seconds) as a JSON array (new ref). */
json_t *hub_server_history(struct hub *h, int64_t server_id, int64_t since);
/* Decommissioned or deleted: close its link, forget its node. */
void hub_server_drop(struct hub *h, int64_t server_id);
/* A PENDING job was stored: send it now if the runner is connected. */
void hub_job_created(struct hub *h, const struct job *j);
/* Sends a PENDING job (again) if the runner is connected, without
 * counting it as new (gitauth.c, after a held job's token arrived). */
void hub_job_send(struct hub *h, const struct job *j);
/* Sends job.cancel for the job if its server's runner is connected. */
void hub_job_cancel(struct hub *h, int64_t server_id, int64_t job_id);
/* Jobs rows were removed (server deleted): recount the gauges. */
void hub_jobs_recount(struct hub *h);
int hub_runners_connected(struct hub *h);

/* Log followers: r streams (already begun) the job's chunks after seq
 * `sent`, as text or NDJSON, until the job ends: from the store, up to
 * `acked` (the stored prefix) now and further as the job's log grows,
 * only as fast as the client reads (http.c's stream_drained). */
int hub_follow(struct hub *h, struct req *r, int64_t job_id, int64_t sent, int64_t acked,
               int ndjson);
/* Formats one chunk for a log answer into b (text or one NDJSON line). */
int hub_format_chunk(struct buf *b, int ndjson, int64_t seq, const char *stream,
                     int64_t ts_ms, const char *data, size_t len);

#endif
