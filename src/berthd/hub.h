/* hub.h - berthd's end of the runner link (docs/protocol.md): the
 * `berth-runner.v1` WebSocket transport at /runner/v1, the handshake,
 * server liveness in memory and the server's reports. Other frames go to
 * the handler registered for their type (hub_handle); the job module
 * (job.c) registers the job frames and the link hooks.
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
#include "proto.h"
#include "store.h"

#define HUB_SUBPROTOCOL "berth-runner.v1"
#define HUB_PATH "/runner/v1"
#define HUB_RX_BUFFER 4096            /* lws rx buffer per connection */
#define HUB_FRAME_MAX (1024 * 1024)   /* one message, reassembled */

struct req;
struct hub_node;
struct hub_msg;

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
    void *jobs;                  /* job.c's intake state; freed by its hooks' closed */
    void *chans;                 /* channels.c's open channels; freed likewise */
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
/* 1 for the runner link's path (HUB_PATH). */
int hub_is_path(const char *path);

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
int hub_runners_connected(struct hub *h);

/* ---- for the modules that speak on the link ---- */

#define HUB_ID_MAX 24 /* an id as a frame's decimal string, with its NUL */

/* Handles one frame of a type on a live link: 0, or -1 to close the link
 * with why (as hub_frame). */
typedef int (*hub_handler)(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t wn);
/* Routes frames of type to fn (one handler a type). -1 if taken. */
int hub_handle(struct hub *h, enum proto_type type, hub_handler fn, void *arg);

/* The link's life, for the module that keeps per-link state. */
struct hub_link_hooks {
    /* hello listed hello_jobs (n > 0 items): fill st[i] for each, pointing
     * into hello_jobs or ids[i]; -1 (with why) refuses the hello. */
    int (*welcome)(void *arg, struct hub_conn *c, json_t *hello_jobs,
                   struct proto_job_state *st, char (*ids)[HUB_ID_MAX], char *why, size_t wn);
    /* welcome was sent: the link is live. */
    void (*live)(void *arg, struct hub_conn *c);
    /* the link is gone: free what c->jobs holds. */
    void (*closed)(void *arg, struct hub_conn *c);
    void *arg;
};
#define HUB_HOOKS_MAX 8
/* Adds a module's link hooks (at most HUB_HOOKS_MAX; one with welcome). */
int hub_add_link_hooks(struct hub *h, const struct hub_link_hooks *k);

/* Binary frames of a live link (channel bytes, chan.h): 0, or -1 to close
 * the link with why. One handler. */
typedef int (*hub_binary_handler)(void *arg, struct hub_conn *c, const uint8_t *data,
                                  size_t len, char *why, size_t wn);
int hub_handle_binary(struct hub *h, hub_binary_handler fn, void *arg);

/* Queues msg (consumed; NULL is a failure) on c. -1 when it could not be
 * queued (the link is then being closed if it was not reading). */
int hub_conn_send(struct hub_conn *c, json_t *msg);
/* Queues hlen + len bytes (a header, then data) as one binary message. */
int hub_conn_send_binary(struct hub_conn *c, const void *head, size_t hlen, const void *data,
                         size_t len);
/* The server's live (welcomed) link, or NULL. */
struct hub_conn *hub_live_link(struct hub *h, int64_t server_id);

#endif
