/* hub.c - the runner link: `berth-runner.v1` WebSocket connections at
 * /runner/v1 (docs/protocol.md), the handshake, server liveness and
 * reports (heartbeats, fingerprint, precheck), and a message-type ->
 * handler table through which the other frames reach their module (the
 * job frames reach job.c).
 *
 * Owns: every struct hub_node (one per server seen since start, in a hash
 * map by server id, freed when the server is dropped or at hub_free) and
 * the outgoing message queue of each connection (freed when the
 * connection closes; the `jobs` state on it is job.c's, freed through the
 * link hooks' `closed`).
 *
 * Liveness lives here in memory: every received frame stamps the node; a
 * 1 s lws_sul sweep drops a link silent for 3 heartbeats (UNREACHABLE), a
 * socket close marks UNREACHABLE at once (only for the server's current
 * link), and a hello on a credential brings ACTIVE back (or PROVISIONING
 * while the last precheck fails). Transitions go to the store with an
 * audit entry; metrics snapshots go to the store at most every 60 s per
 * server, never per heartbeat.
 */
#include "hub.h"
#include "events.h"
#include "audit.h"
#include "hub_series.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OUT_MAX (8u * 1024 * 1024)   /* queued to one runner before we drop it */
#define FLUSH_BUDGET 1000            /* snapshot writes per sweep */
#define FOLLOW_PAGE 1000

enum { ST_PROVISIONING = 0, ST_ACTIVE, ST_UNREACHABLE, ST_DECOMMISSIONED };
static const char *const st_names[] = {"PROVISIONING", "ACTIVE", "UNREACHABLE",
                                       "DECOMMISSIONED"};

/* Connection phases. */
enum {
    P_NEW = HUB_P_NEW,
    P_REG = HUB_P_REG,
    P_REG_SENT = HUB_P_REG_SENT,
    P_CRED = HUB_P_CRED,
    P_LIVE = HUB_P_LIVE,
};

struct hub_msg {
    struct hub_msg *next;
    size_t len;
    int binary;          /* a channel's bytes (LWS_WRITE_BINARY) */
    unsigned char buf[]; /* LWS_PRE + payload */
};

struct snapshot {
    double cpu_pct, load1, load5, load15;
    int64_t mem_total, mem_used, disk_total, disk_used;
    int64_t rx_v4, tx_v4, rx_v6, tx_v6;
    int64_t logs_bytes;   /* the runner's app log store on disk, -1 unknown */
    int64_t at;           /* unix seconds */
    int64_t at_ms;        /* monotonic */
};

struct hub_node {
    struct hub_node *next;
    int64_t server_id, org_id;
    struct hub_conn *conn;
    int status;
    int precheck_ok;
    int dirty, have_metrics;
    int64_t last_ms;      /* last frame received (monotonic ms) */
    int64_t last_seen;    /* unix seconds */
    int64_t last_flush;   /* unix seconds */
    int64_t last_event;   /* unix seconds: the last server.metrics event */
    uint64_t fp_hash, pc_hash;
    struct snapshot m;
    struct hub_series *series;
};

struct hub {
    struct srv *srv;
    struct lws_context *ctx;
    struct hub_node **buckets;
    size_t nbuckets, nnodes;
    lws_sorted_usec_list_t sul;
    int heartbeat_s;
    int connected;
    int started;
    struct hub_route {
        hub_handler fn;
        void *arg;
    } routes[PROTO_NTYPES];          /* message type -> handler */
    struct hub_link_hooks hooks[HUB_HOOKS_MAX];
    size_t nhooks;
    struct {
        hub_binary_handler fn;
        void *arg;
    } binary;                        /* binary frames (channels) */
};

static struct hub *the_hub; /* lws callbacks reach the hub through this */

static int64_t now_ms(void) { return (int64_t)(util_mono_us() / 1000); }

/* ---- the node map ---- */

static size_t slot(const struct hub *h, int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) & (h->nbuckets - 1);
}

static struct hub_node *node_find(struct hub *h, int64_t id)
{
    for (struct hub_node *n = h->buckets[slot(h, id)]; n; n = n->next)
        if (n->server_id == id)
            return n;
    return NULL;
}

static void map_grow(struct hub *h)
{
    size_t nb = h->nbuckets * 2;
    struct hub_node **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* keep the longer chains */
    struct hub_node **old = h->buckets;
    size_t ob = h->nbuckets;
    h->buckets = b;
    h->nbuckets = nb;
    for (size_t i = 0; i < ob; i++)
        for (struct hub_node *n = old[i], *next; n; n = next) {
            next = n->next;
            size_t k = slot(h, n->server_id);
            n->next = b[k];
            b[k] = n;
        }
    free(old);
}

static struct hub_node *node_add(struct hub *h, const struct server *sv)
{
    struct hub_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->server_id = sv->id;
    n->org_id = sv->org_id;
    n->precheck_ok = sv->precheck_ok;
    n->status = ST_PROVISIONING;
    for (int i = 0; i < 4; i++)
        if (strcmp(sv->status, st_names[i]) == 0)
            n->status = i;
    n->last_ms = now_ms();
    n->last_seen = sv->last_seen_at;
    n->last_flush = util_now(); /* the first snapshot after a full minute */
    if (h->nnodes + 1 > h->nbuckets)
        map_grow(h);
    size_t k = slot(h, n->server_id);
    n->next = h->buckets[k];
    h->buckets[k] = n;
    h->nnodes++;
    return n;
}

static void node_unlink(struct hub *h, struct hub_node *n)
{
    for (struct hub_node **pp = &h->buckets[slot(h, n->server_id)]; *pp; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            h->nnodes--;
            return;
        }
}

static void gauges(struct hub *h)
{
    struct metrics *m = h->srv->metrics;
    if (!m)
        return;
    metrics_gauge_set(m, "berth_runners_connected", h->connected);
}

/* ---- status transitions ---- */

static void set_status(struct hub *h, struct hub_node *n, int to, const char *reason)
{
    if (n->status == to && to != ST_PROVISIONING)
        return;
    int from = n->status;
    int rc = store_server_set_status(h->srv->store, n->server_id, st_names[to], reason,
                                     util_now());
    if (rc == STORE_NOTFOUND) { /* decommissioned or gone meanwhile */
        n->status = ST_DECOMMISSIONED;
        return;
    }
    if (rc != STORE_OK) {
        log_error("hub", "server %lld: cannot record %s", (long long)n->server_id,
                  st_names[to]);
        return;
    }
    n->status = to;
    if (from == to)
        return; /* only the reason changed */
    char target[64];
    snprintf(target, sizeof target, "server:%lld", (long long)n->server_id);
    json_t *d = json_pack("{s:s, s:s, s:s?}", "from", st_names[from], "to", st_names[to],
                          "reason", reason);
    char *detail = d ? jx_dump(d, NULL) : NULL;
    json_decref(d);
    audit_event(h->srv, n->org_id, 0, NULL, "server.status", target, "success", detail);
    free(detail);
    events_publish(h->srv, n->org_id, SC_SERVER_READ, "server",
                   json_pack("{s:I, s:s, s:s?}", "id", (json_int_t)n->server_id, "status",
                             st_names[to], "reason", reason));
    log_info("hub", "server %lld: %s -> %s (%s)", (long long)n->server_id, st_names[from],
             st_names[to], reason ? reason : "");
}

/* ---- sending ---- */

static void conn_close(struct hub_conn *c, int code)
{
    if (!c->close_code)
        c->close_code = code;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

/* Queues msg (consumed) for c. */
/* Queues hlen + len bytes as one message. */
static int enqueue(struct hub_conn *c, int binary, const void *head, size_t hlen,
                   const void *data, size_t len)
{
    if (c->out_bytes + hlen + len > OUT_MAX) {
        log_warn("hub", "server %lld: runner is not reading; dropping the link",
                 (long long)c->server_id);
        conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
        return -1;
    }
    struct hub_msg *m = malloc(sizeof *m + LWS_PRE + hlen + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = hlen + len;
    m->binary = binary;
    if (hlen)
        memcpy(m->buf + LWS_PRE, head, hlen);
    if (len)
        memcpy(m->buf + LWS_PRE + hlen, data, len);
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out_head = m;
    c->out_tail = m;
    c->out_bytes += m->len;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
    return 0;
}

int hub_conn_send(struct hub_conn *c, json_t *msg)
{
    size_t len = 0;
    char *s = msg ? jx_dump(msg, &len) : NULL;
    json_decref(msg);
    if (!s)
        return -1;
    int rc = enqueue(c, 0, NULL, 0, s, len);
    free(s);
    return rc;
}

int hub_conn_send_binary(struct hub_conn *c, const void *head, size_t hlen, const void *data,
                         size_t len)
{
    return enqueue(c, 1, head, hlen, data, len);
}

/* Ids travel as decimal strings (docs/protocol.md). */
static void id_str(int64_t id, char out[HUB_ID_MAX])
{
    snprintf(out, HUB_ID_MAX, "%lld", (long long)id);
}

/* ---- server reports ---- */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t x = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ (unsigned char)s[i]) * 1099511628211ull;
    return x ? x : 1;
}

static double pct(int64_t used, int64_t total)
{
    return total > 0 && used >= 0 ? 100.0 * (double)used / (double)total : -1;
}

static int on_heartbeat(struct hub *h, struct hub_node *n, json_t *msg, char *why, size_t wn)
{
    struct proto_metrics pm;
    if (!json_object_get(msg, "metrics"))
        return 0; /* a bare beat still counts for liveness */
    if (proto_parse_heartbeat(msg, &pm, why, wn) < 0)
        return -1;
    struct snapshot s = {
        .cpu_pct = pm.cpu_pct, .load1 = pm.load1, .load5 = pm.load5, .load15 = pm.load15,
        .mem_total = pm.mem_total, .mem_used = pm.mem_used, .disk_total = pm.disk_total,
        .disk_used = pm.disk_used, .rx_v4 = pm.net.rx_v4, .tx_v4 = pm.net.tx_v4,
        .rx_v6 = pm.net.rx_v6, .tx_v6 = pm.net.tx_v6, .logs_bytes = pm.logs_bytes,
        .at = util_now(), .at_ms = now_ms(),
    };
    struct hub_point p = {
        .t = s.at, .cpu_pct = s.cpu_pct, .mem_pct = pct(s.mem_used, s.mem_total),
        .disk_pct = pct(s.disk_used, s.disk_total), .load1 = s.load1, .rx_bps = -1,
        .tx_bps = -1,
    };
    if (n->have_metrics) {
        int64_t dt = s.at_ms - n->m.at_ms;
        p.rx_bps = hub_series_rate((int64_t[2]){n->m.rx_v4, n->m.rx_v6},
                                   (int64_t[2]){s.rx_v4, s.rx_v6}, dt);
        p.tx_bps = hub_series_rate((int64_t[2]){n->m.tx_v4, n->m.tx_v6},
                                   (int64_t[2]){s.tx_v4, s.tx_v6}, dt);
        if (p.rx_bps < 0 || p.tx_bps < 0) /* counters reset on reboot: skip that one */
            p.rx_bps = p.tx_bps = -1;
    }
    n->m = s;
    n->have_metrics = 1;
    n->dirty = 1;
    /* At most one metrics event per server per EVENTS_METRICS_S: 10,000
     * servers make 1,000 a second, not one per heartbeat each. */
    if (s.at - n->last_event >= EVENTS_METRICS_S && events_wanted(h->srv, n->org_id)) {
        n->last_event = s.at;
        events_publish(h->srv, n->org_id, SC_SERVER_READ, "server.metrics",
                       json_pack("{s:I, s:I, s:f, s:f, s:f}", "id", (json_int_t)n->server_id,
                                 "last_seen", (json_int_t)n->last_seen, "cpu_pct", p.cpu_pct,
                                 "mem_pct", p.mem_pct, "disk_pct", p.disk_pct));
    }
    if (!n->series)
        n->series = hub_series_new();
    hub_series_add(n->series, &p);
    (void)h;
    return 0;
}

#define DOC_MAX (64 * 1024) /* a fingerprint or precheck document, as stored */

/* Stores a report document when it changed; returns 1 if it did, -1 (with
 * why) for one over DOC_MAX. */
static int store_doc(struct hub *h, struct hub_node *n, json_t *msg, uint64_t *hash,
                     int (*save)(struct store *, int64_t, const char *), char *why, size_t wn)
{
    json_t *copy = json_deep_copy(msg);
    if (!copy)
        return 0;
    json_object_del(copy, "type");
    size_t len = 0;
    char *s = jx_dump(copy, &len);
    json_decref(copy);
    if (!s)
        return 0;
    if (len > DOC_MAX) {
        free(s);
        snprintf(why, wn, "%s larger than 64 KiB", json_string_value(json_object_get(msg, "type")));
        return -1;
    }
    uint64_t x = fnv1a(s, len);
    int changed = x != *hash;
    if (changed && save(h->srv->store, n->server_id, s) == STORE_OK)
        *hash = x;
    free(s);
    return changed;
}

/* "precheck failed: docker: cannot connect; git: missing" */
static void precheck_reason(json_t *msg, char *out, size_t n)
{
    size_t used = (size_t)snprintf(out, n, "precheck failed");
    json_t *checks = json_object_get(msg, "checks"), *c;
    size_t i;
    int first = 1;
    json_array_foreach(checks, i, c) {
        struct proto_check pc;
        char err[64];
        if (proto_parse_check(c, &pc, err, sizeof err) < 0 || pc.ok || used >= n)
            continue;
        const char *name = pc.name, *detail = pc.detail;
        used += (size_t)snprintf(out + used, n - used, "%s %s%s%s", first ? ":" : ";",
                                 name ? name : "?", detail ? ": " : "", detail ? detail : "");
        first = 0;
    }
    /* snprintf may have cut a character: end on a boundary */
    size_t len = 0;
    proto_utf8_sanitize(out, strlen(out), 0, out, &len);
    out[len] = '\0';
}

static void apply_precheck_status(struct hub *h, struct hub_node *n, json_t *precheck)
{
    if (n->precheck_ok) {
        set_status(h, n, ST_ACTIVE, "connected; precheck passed");
        return;
    }
    char reason[256];
    if (precheck)
        precheck_reason(precheck, reason, sizeof reason);
    else
        util_strlcpy(reason, "connected; waiting for the runner's precheck", sizeof reason);
    set_status(h, n, ST_PROVISIONING, reason);
}

static int on_precheck(struct hub *h, struct hub_node *n, json_t *msg, char *why, size_t wn)
{
    int ok;
    if (proto_parse_precheck(msg, &ok, why, wn) < 0)
        return -1;
    int changed = store_doc(h, n, msg, &n->pc_hash, store_server_set_precheck, why, wn);
    if (changed < 0)
        return -1;
    int was = n->precheck_ok;
    n->precheck_ok = ok;
    if (changed || was != n->precheck_ok || n->status != (n->precheck_ok ? ST_ACTIVE
                                                                          : ST_PROVISIONING))
        apply_precheck_status(h, n, msg);
    return 0;
}

/* ---- the handshake ---- */

static void node_attach(struct hub *h, struct hub_node *n, struct hub_conn *c)
{
    if (n->conn && n->conn != c) { /* a newer link replaces the old one */
        struct hub_conn *old = n->conn;
        old->node = NULL;
        h->connected--;
        if (old->wsi)
            lws_set_timeout(old->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    if (n->conn != c)
        h->connected++;
    n->conn = c;
    c->node = n;
    n->last_ms = now_ms();
    n->last_seen = util_now();
    n->dirty = 1;
    gauges(h);
}

/* Answers hello's job list and goes live. */
static int welcome(struct hub *h, struct hub_conn *c, json_t *hello_jobs, char *why, size_t wn)
{
    struct server sv;
    util_strlcpy(why, "server is decommissioned", wn);
    if (store_server_get(h->srv->store, c->server_id, &sv) != STORE_OK || sv.decommissioned_at)
        return -1;
    util_strlcpy(why, "out of memory", wn);
    struct hub_node *n = node_find(h, c->server_id);
    if (!n && !(n = node_add(h, &sv)))
        return -1;
    n->precheck_ok = sv.precheck_ok;
    /* hello's job list, answered by the job module (job.c) */
    size_t nj = json_array_size(hello_jobs);
    struct proto_job_state *st = calloc(nj ? nj : 1, sizeof *st);
    char(*ids)[HUB_ID_MAX] = calloc(nj ? nj : 1, sizeof *ids);
    const struct hub_link_hooks *jh = NULL; /* the one that answers hello's jobs */
    for (size_t k = 0; k < h->nhooks && !jh; k++)
        if (h->hooks[k].welcome)
            jh = &h->hooks[k];
    if (!st || !ids || (nj && !jh)) {
        free(st);
        free(ids);
        return -1;
    }
    if (nj && jh->welcome(jh->arg, c, hello_jobs, st, ids, why, wn) < 0) {
        free(st);
        free(ids);
        return -1;
    }
    char sid[HUB_ID_MAX];
    id_str(c->server_id, sid);
    json_t *msg = proto_welcome(sid, h->heartbeat_s, st, nj);
    free(st);
    free(ids);
    if (!msg)
        return -1;
    c->phase = P_LIVE;
    node_attach(h, n, c);
    if (c->wsi)
        lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    hub_conn_send(c, msg);
    json_t *metrics = NULL, *fp = NULL, *pc = NULL;
    store_server_docs(h->srv->store, c->server_id, &metrics, &fp, &pc);
    apply_precheck_status(h, n, pc);
    json_decref(metrics);
    json_decref(fp);
    json_decref(pc);
    for (size_t k = 0; k < h->nhooks; k++) /* the server's PENDING jobs go now */
        if (h->hooks[k].live)
            h->hooks[k].live(h->hooks[k].arg, c);
    log_info("hub", "server %lld: runner connected", (long long)c->server_id);
    return 0;
}

static int on_hello(struct hub *h, struct hub_conn *c, json_t *msg, char *why, size_t wn)
{
    struct proto_hello_msg hm;
    if (proto_parse_hello(msg, &hm, why, wn) < 0)
        return -1;
    if (c->phase == P_CRED)
        return welcome(h, c, hm.jobs, why, wn);
    if (c->phase != P_REG)
        return 0; /* a repeated hello is ignored */
    /* Spend the token before anything is answered: of two links presenting
     * it at once, exactly one gets a credential. */
    int64_t now = util_now();
    int rc = store_regtoken_claim(h->srv->store, c->regtoken_id, now);
    if (rc != STORE_OK) {
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        util_strlcpy(why, rc == STORE_NOTFOUND ? "registration token already used or expired"
                                               : "cannot record the registration", wn);
        return -1;
    }
    c->reg_claimed_at = now;
    char cred[CRYPTO_TOKEN_MAX], hash[CRYPTO_HASH_HEX];
    crypto_token_new("brc", cred);
    crypto_token_hash(h->srv->token_key, cred, hash);
    rc = store_server_set_credential(h->srv->store, c->server_id, hash);
    if (rc == STORE_OK) {
        char sid[HUB_ID_MAX];
        id_str(c->server_id, sid);
        hub_conn_send(c, proto_register(sid, cred));
        c->phase = P_REG_SENT;
    } else {
        util_strlcpy(why, "cannot record the credential", wn);
    }
    crypto_wipe(cred, sizeof cred);
    return rc == STORE_OK ? 0 : -1;
}

static int on_registered(struct hub *h, struct hub_conn *c, json_t *msg, char *why, size_t wn)
{
    const char *sid;
    if (proto_parse_registered(msg, &sid, why, wn) < 0)
        return -1;
    if (c->phase != P_REG_SENT)
        return 0;
    char target[64];
    snprintf(target, sizeof target, "server:%lld", (long long)c->server_id);
    audit_event(h->srv, c->org_id, 0, NULL, "server.register", target, "success", NULL);
    c->phase = P_CRED;
    c->reg_claimed_at = 0; /* the token stays spent */
    return welcome(h, c, NULL, why, wn);
}

/* One complete text message (see hub.h). */
int hub_frame(struct hub *h, struct hub_conn *c, const char *data, size_t len, char *why,
              size_t wn)
{
    json_t *msg = NULL;
    enum proto_type type;
    if (proto_parse(data, len, &msg, &type, why, wn) < 0)
        return -1;
    if (c->node) {
        c->node->last_ms = now_ms();
        c->node->last_seen = util_now();
    }
    int rc = 0;
    if (type == PROTO_HELLO)
        rc = on_hello(h, c, msg, why, wn);
    else if (type == PROTO_REGISTERED)
        rc = on_registered(h, c, msg, why, wn);
    else if (c->phase != P_LIVE || !c->node)
        rc = 0; /* nothing else before the welcome */
    else if (type == PROTO_HEARTBEAT)
        rc = on_heartbeat(h, c->node, msg, why, wn);
    else if (type == PROTO_FINGERPRINT)
        rc = store_doc(h, c->node, msg, &c->node->fp_hash, store_server_set_fingerprint, why,
                       wn) < 0 ? -1 : 0;
    else if (type == PROTO_PRECHECK)
        rc = on_precheck(h, c->node, msg, why, wn);
    else if (type > PROTO_UNKNOWN && type < PROTO_NTYPES && h->routes[type].fn)
        rc = h->routes[type].fn(h->routes[type].arg, c, msg, why, wn);
    /* other types (unknown, or berthd's own) are ignored: forward compatible */
    json_decref(msg);
    return rc;
}

/* ---- authentication of the upgrade ---- */

struct auth {
    int64_t server_id, org_id, regtoken_id;
};

static int header(struct lws *wsi, enum lws_token_indexes t, char *out, int n)
{
    int l = lws_hdr_total_length(wsi, t);
    if (l <= 0 || l >= n || lws_hdr_copy(wsi, out, n, t) < 0)
        return -1;
    return 0;
}

/* 0 with *a filled, or -1 with *why (never naming the secret). */
static int authenticate(struct hub *h, struct lws *wsi, struct auth *a, const char **why)
{
    char authz[256], hash[CRYPTO_HASH_HEX];
    memset(a, 0, sizeof *a);
    *why = "missing credential (Authorization: Bearer brg_... or brc_...)";
    if (header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, authz, sizeof authz) < 0 ||
        strncasecmp(authz, "Bearer ", 7) != 0)
        return -1;
    const char *tok = authz + 7;
    while (*tok == ' ')
        tok++;
    int rc = -1;
    int64_t now = util_now();
    struct server sv;
    crypto_token_hash(h->srv->token_key, tok, hash);
    if (strncmp(tok, "brg_", 4) == 0) {
        struct regtoken t;
        *why = "invalid registration token";
        if (store_regtoken_by_hash(h->srv->store, hash, &t) != STORE_OK)
            goto done;
        *why = "registration token already used";
        if (t.used_at)
            goto done;
        *why = "registration token expired";
        if (t.expires_at <= now)
            goto done;
        *why = "invalid registration token";
        if (store_server_get(h->srv->store, t.server_id, &sv) != STORE_OK)
            goto done;
        a->regtoken_id = t.id;
    } else if (strncmp(tok, "brc_", 4) == 0) {
        *why = "invalid credential";
        if (store_server_by_credential(h->srv->store, hash, &sv) != STORE_OK)
            goto done;
    } else {
        *why = "invalid credential";
        goto done;
    }
    *why = "server is decommissioned";
    if (sv.decommissioned_at)
        goto done;
    a->server_id = sv.id;
    a->org_id = sv.org_id;
    rc = 0;
done:
    crypto_wipe(authz, sizeof authz);
    return rc;
}

static int is_runner_path(struct lws *wsi)
{
    char uri[64];
    return header(wsi, WSI_TOKEN_GET_URI, uri, sizeof uri) == 0 && strcmp(uri, HUB_PATH) == 0;
}

static int refuse(struct lws *wsi, unsigned status, const char *code, const char *msg)
{
    unsigned char b[LWS_PRE + 1024], *start = b + LWS_PRE, *p = start, *end = b + sizeof b;
    size_t n = 0;
    char *body = jx_error_answer(code, msg, strlen(msg), &n); /* total, capped message */
    int rc = -1;
    if (!body || n > 640) /* the headers take the rest of b */
        goto done;
    if (lws_add_http_common_headers(wsi, status, "application/json", (lws_filepos_t)n, &p,
                                    end - n) ||
        lws_finalize_http_header(wsi, &p, end - n))
        goto done;
    memcpy(p, body, n);
    p += n;
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) != (int)(p - start))
        goto done;
    rc = 1;
done:
    free(body);
    return rc;
}

int hub_is_path(const char *path) { return strcmp(path, HUB_PATH) == 0; }

int hub_confirm_upgrade(struct srv *s, struct lws *wsi, const char *upgrade)
{
    struct hub *h = s ? s->hub : NULL;
    if (!h || !is_runner_path(wsi))
        return 0; /* not ours */
    char proto[128], ip[64];
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0 ||
        header(wsi, WSI_TOKEN_PROTOCOL, proto, sizeof proto) < 0 ||
        !strstr(proto, HUB_SUBPROTOCOL))
        return refuse(wsi, 400, "bad_request",
                      "want a WebSocket upgrade with subprotocol " HUB_SUBPROTOCOL);
    struct auth a;
    const char *why;
    if (authenticate(h, wsi, &a, &why) < 0) {
        lws_get_peer_simple(wsi, ip, sizeof ip);
        log_info("hub", "runner refused from %s: %s", ip, why);
        return refuse(wsi, 401, "unauthorized", why);
    }
    return 0;
}

/* ---- the lws protocol callback ---- */

void hub_conn_release(struct hub *h, struct hub_conn *c)
{
    struct hub_node *n = c->node;
    if (n && n->conn == c) {
        n->conn = NULL;
        h->connected--;
        gauges(h);
        if (n->status != ST_DECOMMISSIONED)
            set_status(h, n, ST_UNREACHABLE, "connection closed");
        log_info("hub", "server %lld: runner disconnected", (long long)n->server_id);
    }
    if (c->reg_claimed_at) /* spent by this link, never confirmed: a retry may */
        store_regtoken_release(h->srv->store, c->regtoken_id, c->reg_claimed_at);
    c->reg_claimed_at = 0;
    c->node = NULL;
    c->wsi = NULL;
    buf_release(&c->rx);
    while (c->out_head) {
        struct hub_msg *m = c->out_head;
        c->out_head = m->next;
        free(m);
    }
    c->out_tail = NULL;
    c->out_bytes = 0;
    for (size_t k = 0; k < h->nhooks; k++)
        if (h->hooks[k].closed)
            h->hooks[k].closed(h->hooks[k].arg, c);
}

static int on_receive(struct hub *h, struct lws *wsi, struct hub_conn *c, const char *in,
                      size_t len)
{
    int binary = lws_frame_is_binary(wsi);
    if (binary && (!h->binary.fn || c->phase != P_LIVE || !c->node)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, NULL, 0);
        return -1;
    }
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (!c->rx.len && final) /* the common case: one piece, no copy */
        goto whole;
    if (!c->rx.max)
        buf_init(&c->rx, HUB_FRAME_MAX);
    if (buf_append(&c->rx, in, len) < 0) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
        return -1;
    }
    if (!final)
        return 0;
    in = c->rx.data;
    len = c->rx.len;
whole:;
    char why[124] = "malformed message"; /* a close reason: at most 123 bytes */
    int rc;
    if (binary) {
        c->node->last_ms = now_ms();
        rc = h->binary.fn(h->binary.arg, c, (const uint8_t *)in, len, why, sizeof why);
    } else {
        rc = hub_frame(h, c, in, len, why, sizeof why);
    }
    if (c->rx.cap > 256 * 1024) { /* keep idle links small; a channel's */
        buf_release(&c->rx);      /* frames reuse the buffer */
        c->rx.max = 0;
    } else {
        buf_clear(&c->rx);
    }
    if (rc < 0) {
        size_t wl = 0; /* jansson's error text may quote a cut character */
        proto_utf8_sanitize(why, strlen(why), 1, why, &wl);
        why[wl] = '\0';
        log_info("hub", "server %lld: link closed: %s", (long long)c->server_id, why);
        lws_close_reason(wsi, c->close_code ? (enum lws_close_status)c->close_code
                                            : LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                         (unsigned char *)why, strlen(why));
        return -1;
    }
    return 0;
}

static int on_writeable(struct lws *wsi, struct hub_conn *c)
{
    if (c->close_code) {
        lws_close_reason(wsi, (enum lws_close_status)c->close_code, NULL, 0);
        return -1;
    }
    struct hub_msg *m = c->out_head;
    if (!m)
        return 0;
    if (lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) <
        (int)m->len)
        return -1;
    c->out_head = m->next;
    if (!c->out_head)
        c->out_tail = NULL;
    c->out_bytes -= m->len;
    free(m);
    if (c->out_head)
        lws_callback_on_writable(wsi);
    return 0;
}

int hub_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    struct hub *h = the_hub;
    struct hub_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        struct auth a;
        const char *why;
        if (!h || !is_runner_path(wsi) || authenticate(h, wsi, &a, &why) < 0)
            return -1;
        c->server_id = a.server_id;
        c->org_id = a.org_id;
        c->regtoken_id = a.regtoken_id;
        c->phase = a.regtoken_id ? P_REG : P_CRED;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        c->wsi = wsi;
        /* hello must come within 3 beats */
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 3 * (h ? h->heartbeat_s : 5));
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return h ? on_receive(h, wsi, c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(wsi, c);
    case LWS_CALLBACK_CLOSED:
        if (h)
            hub_conn_release(h, c);
        return 0;
    default:
        return 0;
    }
}

/* ---- the sweep ---- */

static void sweep(lws_sorted_usec_list_t *sul)
{
    struct hub *h = lws_container_of(sul, struct hub, sul);
    int64_t ms = now_ms(), now = util_now();
    int budget = FLUSH_BUDGET, in_tx = 0;
    for (size_t i = 0; i < h->nbuckets; i++)
        for (struct hub_node *n = h->buckets[i]; n; n = n->next) {
            char reason[96];
            switch (hub_live_decide(ms, n->last_ms, h->heartbeat_s, n->conn != NULL,
                                    n->status == ST_ACTIVE)) {
            case HUB_LIVE_SILENT: {
                struct hub_conn *c = n->conn;
                snprintf(reason, sizeof reason, "no heartbeat for %lld s",
                         (long long)((ms - n->last_ms) / 1000));
                n->conn = NULL;
                c->node = NULL;
                h->connected--;
                gauges(h);
                if (c->wsi)
                    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
                set_status(h, n, ST_UNREACHABLE, reason);
                break;
            }
            case HUB_LIVE_ABSENT:
                set_status(h, n, ST_UNREACHABLE, "runner did not reconnect after a restart");
                break;
            default:
                break;
            }
            if (budget > 0 && hub_flush_due(now, n->last_flush, n->dirty)) {
                if (!in_tx)
                    in_tx = store_begin(h->srv->store) == STORE_OK;
                char *mj = NULL;
                if (n->have_metrics) {
                    json_t *m = NULL;
                    struct hub_live_info li;
                    hub_server_info(h, n->server_id, &li);
                    m = li.metrics;
                    mj = m ? jx_dump(m, NULL) : NULL;
                    json_decref(m);
                }
                store_server_set_snapshot(h->srv->store, n->server_id, n->last_seen, mj);
                free(mj);
                n->dirty = 0;
                n->last_flush = now;
                budget--;
            }
        }
    if (in_tx && store_commit(h->srv->store) != STORE_OK)
        store_rollback(h->srv->store);
    lws_sul_schedule(h->ctx, 0, &h->sul, sweep, LWS_US_PER_SEC);
}

/* ---- life cycle ---- */

struct hub *hub_new(struct srv *s)
{
    struct hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->srv = s;
    h->nbuckets = 1024;
    h->buckets = calloc(h->nbuckets, sizeof *h->buckets);
    if (!h->buckets) {
        free(h);
        return NULL;
    }
    /* BERTH_HEARTBEAT_S: the beat runners are told to keep (tests use 1). */
    h->heartbeat_s = 5;
    const char *hb = getenv("BERTH_HEARTBEAT_S");
    int64_t v;
    if (hb && util_parse_i64(hb, &v) == 0 && v >= 1 && v <= 300)
        h->heartbeat_s = (int)v;
    the_hub = h;
    return h;
}

static void node_free(struct hub_node *n)
{
    if (n->conn)
        n->conn->node = NULL;
    hub_series_free(n->series);
    free(n);
}

void hub_free(struct hub *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nbuckets; i++)
        for (struct hub_node *n = h->buckets[i], *next; n; n = next) {
            next = n->next;
            node_free(n);
        }
    free(h->buckets);
    if (the_hub == h)
        the_hub = NULL;
    free(h);
}

static void boot_node(void *arg, const struct server *sv)
{
    struct hub *h = arg;
    if (!node_find(h, sv->id))
        node_add(h, sv); /* grace: 3 beats from now to reconnect */
}

int hub_start(struct hub *h, struct lws_context *ctx)
{
    h->ctx = ctx;
    if (store_servers_each(h->srv->store, "ACTIVE", boot_node, h) != STORE_OK) {
        log_error("hub", "cannot load servers from the store");
        return -1;
    }
    gauges(h);
    lws_sul_schedule(ctx, 0, &h->sul, sweep, LWS_US_PER_SEC);
    h->started = 1;
    log_info("hub", "runner link at %s (heartbeat %d s, %zu servers expected back)", HUB_PATH,
             h->heartbeat_s, h->nnodes);
    return 0;
}

void hub_stop(struct hub *h)
{
    if (!h->started)
        return;
    lws_sul_cancel(&h->sul);
    /* Flush the last snapshots so a restart shows recent last_seen. */
    if (store_begin(h->srv->store) == STORE_OK) {
        for (size_t i = 0; i < h->nbuckets; i++)
            for (struct hub_node *n = h->buckets[i]; n; n = n->next)
                if (n->dirty)
                    store_server_set_snapshot(h->srv->store, n->server_id, n->last_seen, NULL);
        if (store_commit(h->srv->store) != STORE_OK)
            store_rollback(h->srv->store);
    }
    h->started = 0;
}

/* ---- for the API ---- */

static json_t *metrics_json(const struct snapshot *m)
{
    return json_pack("{s:f, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:{s:I, s:I, s:I, s:I}, s:o, s:o}",
                     "cpu_pct", m->cpu_pct, "mem_total", (json_int_t)m->mem_total, "mem_used",
                     (json_int_t)m->mem_used, "disk_total", (json_int_t)m->disk_total,
                     "disk_used", (json_int_t)m->disk_used, "load1", m->load1, "load5",
                     m->load5, "load15", m->load15, "net", "rx_v4", (json_int_t)m->rx_v4,
                     "tx_v4", (json_int_t)m->tx_v4, "rx_v6", (json_int_t)m->rx_v6, "tx_v6",
                     (json_int_t)m->tx_v6, "logs_bytes",
                     m->logs_bytes >= 0 ? json_integer(m->logs_bytes) : json_null(), "at",
                     jx_time(m->at));
}

void hub_server_info(struct hub *h, int64_t server_id, struct hub_live_info *out)
{
    memset(out, 0, sizeof *out);
    struct hub_node *n = node_find(h, server_id);
    if (!n)
        return;
    out->known = 1;
    out->connected = n->conn != NULL;
    out->last_seen = n->last_seen;
    if (n->have_metrics)
        out->metrics = metrics_json(&n->m);
}

json_t *hub_server_history(struct hub *h, int64_t server_id, int64_t since)
{
    json_t *arr = json_array();
    struct hub_node *n = node_find(h, server_id);
    if (!n || !n->series)
        return arr;
    size_t max = HUB_SERIES_RAW + HUB_SERIES_MINUTES + HUB_SERIES_FIVES;
    struct hub_point *pts = calloc(max, sizeof *pts);
    if (!pts)
        return arr;
    size_t k = hub_series_query(n->series, since, pts, max);
    for (size_t i = 0; i < k; i++) {
        const struct hub_point *p = &pts[i];
        json_array_append_new(
            arr, json_pack("{s:o, s:i, s:f, s:f, s:f, s:f, s:o, s:o}", "t", jx_time(p->t),
                           "step", p->step, "cpu_pct", p->cpu_pct, "mem_pct", p->mem_pct,
                           "disk_pct", p->disk_pct, "load1", p->load1, "rx_bps",
                           p->rx_bps >= 0 ? json_real(p->rx_bps) : json_null(), "tx_bps",
                           p->tx_bps >= 0 ? json_real(p->tx_bps) : json_null()));
    }
    free(pts);
    return arr;
}

void hub_server_drop(struct hub *h, int64_t server_id)
{
    struct hub_node *n = node_find(h, server_id);
    if (!n)
        return;
    if (n->conn) {
        struct hub_conn *c = n->conn;
        c->node = NULL;
        n->conn = NULL;
        h->connected--;
        gauges(h);
        conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
    }
    node_unlink(h, n);
    node_free(n);
}

struct hub_conn *hub_live_link(struct hub *h, int64_t server_id)
{
    struct hub_node *n = h ? node_find(h, server_id) : NULL;
    return n && n->conn && n->conn->phase == P_LIVE ? n->conn : NULL;
}

int hub_handle(struct hub *h, enum proto_type type, hub_handler fn, void *arg)
{
    if (type <= PROTO_UNKNOWN || type >= PROTO_NTYPES || h->routes[type].fn)
        return -1;
    h->routes[type].fn = fn;
    h->routes[type].arg = arg;
    return 0;
}

int hub_add_link_hooks(struct hub *h, const struct hub_link_hooks *k)
{
    if (h->nhooks >= HUB_HOOKS_MAX)
        return -1;
    for (size_t i = 0; i < h->nhooks; i++)
        if (k->welcome && h->hooks[i].welcome)
            return -1; /* one module answers hello's jobs */
    h->hooks[h->nhooks++] = *k;
    return 0;
}

int hub_handle_binary(struct hub *h, hub_binary_handler fn, void *arg)
{
    if (h->binary.fn)
        return -1;
    h->binary.fn = fn;
    h->binary.arg = arg;
    return 0;
}

int hub_runners_connected(struct hub *h) { return h->connected; }
