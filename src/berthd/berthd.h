/* berthd.h - the control plane's shared state and its error convention.
 *
 * One `struct srv` lives for the whole process and is owned by main.c.
 * Everything on it is touched only from the event-loop thread, except the
 * worker pool's queues (pool.c) and the outbound client (outbound.c), which
 * carry their own locks.
 */
#ifndef BERTHD_H
#define BERTHD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "crypto.h"

struct lws_context;
struct lws;
struct srv;
struct req;
struct lws_protocols;

/* A WebSocket endpoint http.c hands upgrades to (wired in main.c): the
 * path it serves, and its check of the upgrade (0: proceed, 1: it
 * answered a refusal itself, -1: drop). */
struct srv_upgrade {
    int (*match)(const char *path);
    int (*confirm)(struct srv *s, struct lws *wsi, const char *upgrade);
};
#define SRV_UPGRADES_MAX 4
struct store;
struct pool;
struct ratelimit;
struct metrics;
struct hub;
struct jobs;
struct channels;
struct events;
struct outbound;
struct sched;
struct acme;

struct srv {
    struct config cfg;
    struct lws_context *ctx;
    struct store *store;
    struct pool *pool;
    struct outbound *outbound;             /* berthd's own HTTP requests (outbound.c) */
    struct ratelimit *rl_account;
    struct ratelimit *rl_address;
    struct metrics *metrics;
    struct hub *hub;                       /* runner links (hub.c) */
    struct jobs *jobs;                     /* jobs' life and kinds (job.c) */
    struct channels *channels;             /* terminal/exec channels (channels.c) */
    struct events *events;                 /* organizations' live event streams (events.c) */
    struct sched *sched;                   /* scheduled operations (scheduler.c) */
    struct acme *acme;                     /* own certificate by ACME, or NULL (acme.c) */
    uint8_t token_key[CRYPTO_KEY_BYTES];   /* keyed hash of bearer secrets */
    uint8_t secret_key[CRYPTO_KEY_BYTES];  /* sealing of secrets at rest */
    char dummy_pwhash[CRYPTO_PWHASH_MAX];  /* verified against when no user */
    volatile int stopping;
    /* What main.c plugs into the front (http.c) without it importing them:
     * WebSocket endpoints, their lws protocols (NULL-named end), and the
     * modules that start with the context and stop before it goes. */
    struct srv_upgrade upgrades[SRV_UPGRADES_MAX];
    size_t nupgrades;
    const struct lws_protocols *ws_protocols;
    int (*guard)(struct req *r);           /* authenticates, authorises (guard.c) */
    void (*audit)(struct req *r);          /* records an answered request (audit.c) */
    int (*unrouted)(struct req *r);        /* no API route: 1 if it answered (web.c) */
    int (*started)(struct srv *s);
    /* The front's TLS vhost has its SSL_CTX (lws' LOAD_EXTRA_SERVER_VERIFY_CERTS). */
    void (*tls_ctx)(struct srv *s, void *ssl_ctx);
    void (*stopping_hook)(struct srv *s);
};

#endif
