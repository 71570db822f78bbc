/* fleet.c - berth-fleet: a load generator that plays N runners against one
 * berthd over the real runner protocol v1 (docs/protocol.md), in one
 * process, on one lws event loop (libuv, so epoll: see below).
 *
 *   berth-fleet --url http://127.0.0.1:PORT --email E --password P [-n N]
 *               [--org ORG] [--concurrency C] [--runs R] [--run-gap-ms MS]
 *               [--max-seconds S]
 *
 * 1. Setup over the REST API (libcurl, blocking, before the loop runs): log
 *    in (admin session), create a script `true`, create N servers, each
 *    with its one-time registration token.
 * 2. Connect every runner to /runner/v1 with `Authorization: Bearer brg_...`
 *    (at most C handshakes in flight): hello -> register -> registered ->
 *    welcome, then precheck (ok) + fingerprint so the server turns ACTIVE.
 *    A dropped runner reconnects with its credential after 1-2 s.
 * 3. Live: each runner sends a heartbeat every heartbeat_s (from welcome)
 *    with plausible metrics; the phases are spread over the interval (a
 *    100-slot timing wheel), and fingerprint + precheck go every 60 s, as
 *    berth-runner does. Jobs are answered with job.accepted, one job.log
 *    and job.done. When all N are live the program prints a line starting
 *    "CONNECTED" and keeps running.
 * 4. On SIGUSR1: a thread posts R runs of the script (POST
 *    /orgs/ORG/scripts/ID/runs, one after another, R servers spread over
 *    the fleet, MS apart) and the loop thread stamps each `job` frame as it
 *    arrives (same process, CLOCK_MONOTONIC). Prints p50/p99/max of POST
 *    sent -> job frame received and of POST answered -> job frame, then
 *    exits after the jobs are acknowledged done (or 30 s).
 *
 * Bounded: exits by itself after --max-seconds (default 1800) with status
 * 1. SIGINT/SIGTERM stop it at once. Loopback only by intent: the URL is
 * whatever the driver (bench/fleet.sh) gives, which is 127.0.0.1.
 */
#include "buf.h"
#include "proto.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#define WHEEL_SLOTS 100
#define FP_EVERY_ROUNDS 12 /* fingerprint + precheck every 12 beats (60 s at 5 s) */

enum { R_IDLE = 0, R_CONNECTING, R_HANDSHAKE, R_LIVE };

struct outmsg {
    struct outmsg *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + len */
};

struct runner {
    struct lws *wsi;
    int idx;
    int state;
    int64_t server_id;
    char sid[24];
    char *token; /* brg_..., until registered */
    char *cred;  /* brc_... */
    struct outmsg *head, *tail;
    struct buf rx; /* only for a message split over several reads */
    uint32_t rng;
    int64_t net_rx, net_tx;
    int retry_pending;
    lws_sorted_usec_list_t sul_retry;
};

struct frame_rec {
    int64_t job;
    uint64_t t_us;
};

struct run_rec {
    int64_t job;
    uint64_t sent_us, answered_us;
};

static struct {
    /* options */
    char base[256], email[256], password[256], org[64];
    char ws_host[128];
    char ws_path[512];                /* PROTO_PATH under berthd's base URL */
    int ws_port;
    int n, concurrency, runs, run_gap_ms, max_seconds;
    /* API */
    char token[256];
    int64_t script_id;
    /* fleet */
    struct lws_context *ctx;
    struct runner *r;
    int next_connect;   /* first runner never started */
    int in_flight;      /* handshakes under way */
    int live, ever_live, connected_printed;
    long connect_errors, disconnects, reconnects;
    int heartbeat_s;
    uint64_t wheel_tick;
    lws_sorted_usec_list_t sul_wheel;
    uint64_t t_start_us, t_connect_start_us;
    long heartbeats_sent, jobs_received, jobs_done_acked;
    char first_error[256];
    /* dispatch */
    pthread_mutex_t mu;
    struct frame_rec *frames;
    size_t nframes, capframes;
    struct run_rec *runs_rec;
    int nruns_ok, nruns_failed;
    atomic_int dispatch_started, dispatch_posted;
    uint64_t dispatch_posted_us;
    pthread_t dispatch_thread;
} g;

static volatile sig_atomic_t sig_usr1, sig_stop;

static uint64_t mono_us(void) { return util_mono_us(); }

static uint32_t rnd(struct runner *r)
{
    uint32_t x = r->rng; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return r->rng = x ? x : 0x9e3779b9u;
}

/* ------------------------------------------------------------------ HTTP */

struct resp {
    struct buf body;
    long status;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
    struct resp *rs = arg;
    return buf_append(&rs->body, p, sz * nm) == 0 ? sz * nm : 0;
}

/* One API call; *out gets the parsed JSON answer (may be NULL). Returns the
 * HTTP status, or -1 on a transport error. */
static long api(CURL *c, const char *method, const char *path, json_t *body, json_t **out)
{
    char url[512];
    struct resp rs;
    struct curl_slist *h = NULL;
    char auth[300];
    char *text = NULL;
    snprintf(url, sizeof url, "%s%s", g.base, path);
    buf_init(&rs.body, 64u * 1024 * 1024);
    rs.status = -1;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    h = curl_slist_append(h, "Content-Type: application/json");
    if (g.token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", g.token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "{}");
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs.status);
    curl_slist_free_all(h);
    free(text);
    if (out) {
        *out = rs.body.len ? json_loadb(rs.body.data, rs.body.len, 0, NULL) : NULL;
    }
    buf_release(&rs.body);
    return rs.status;
}

static int setup(void)
{
    CURL *c = curl_easy_init();
    json_t *ans = NULL;
    char path[256];
    int rc = -1;
    if (!c)
        return -1;
    long st = api(c, "POST", "/api/v1/auth/login",
                  json_pack("{s:s, s:s}", "email", g.email, "password", g.password), &ans);
    const char *tok = json_string_value(json_object_get(ans, "token"));
    if (st != 200 || !tok) {
        fprintf(stderr, "berth-fleet: login failed (HTTP %ld)\n", st);
        goto out;
    }
    util_strlcpy(g.token, tok, sizeof g.token);
    json_decref(ans);
    ans = NULL;

    snprintf(path, sizeof path, "/api/v1/orgs/%s/scripts", g.org);
    st = api(c, "POST", path, json_pack("{s:s, s:s}", "name", "fleet-true", "body", "true"), &ans);
    json_t *sid = json_object_get(ans, "id");
    if (st != 201 || !json_is_integer(sid)) {
        fprintf(stderr, "berth-fleet: cannot create the script (HTTP %ld)\n", st);
        goto out;
    }
    g.script_id = (int64_t)json_integer_value(sid);
    json_decref(ans);
    ans = NULL;

    uint64_t t0 = mono_us();
    snprintf(path, sizeof path, "/api/v1/orgs/%s/servers", g.org);
    for (int i = 0; i < g.n; i++) {
        char name[64];
        snprintf(name, sizeof name, "fleet-%05d", i);
        st = api(c, "POST", path, json_pack("{s:s, s:i}", "name", name, "expires_in", 7200),
                 &ans);
        json_t *id = json_object_get(ans, "id");
        const char *rt = json_string_value(json_object_get(ans, "registration_token"));
        if (st != 201 || !json_is_integer(id) || !rt) {
            fprintf(stderr, "berth-fleet: cannot create server %s (HTTP %ld)\n", name, st);
            goto out;
        }
        struct runner *r = &g.r[i];
        r->server_id = (int64_t)json_integer_value(id);
        snprintf(r->sid, sizeof r->sid, "%lld", (long long)r->server_id);
        r->token = strdup(rt);
        json_decref(ans);
        ans = NULL;
        if ((i + 1) % 1000 == 0 || i + 1 == g.n) {
            printf("setup: %d servers created (%.1f s)\n", i + 1,
                   (double)(mono_us() - t0) / 1e6);
            fflush(stdout);
        }
    }
    rc = 0;
out:
    json_decref(ans);
    curl_easy_cleanup(c);
    return rc;
}

/* -------------------------------------------------------------- dispatch */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *dispatch_main(void *arg)
{
    (void)arg;
    CURL *c = curl_easy_init();
    char path[256];
    snprintf(path, sizeof path, "/api/v1/orgs/%s/scripts/%lld/runs", g.org,
             (long long)g.script_id);
    for (int i = 0; c && i < g.runs && !sig_stop; i++) {
        int idx = (int)((int64_t)i * g.n / g.runs); /* spread over the fleet */
        json_t *ans = NULL;
        uint64_t t0 = mono_us();
        long st = api(c, "POST", path, json_pack("{s:s}", "server", g.r[idx].sid), &ans);
        uint64_t t1 = mono_us();
        json_t *id = json_object_get(ans, "id");
        pthread_mutex_lock(&g.mu);
        if (st == 201 && json_is_integer(id)) {
            struct run_rec *rr = &g.runs_rec[g.nruns_ok++];
            rr->job = (int64_t)json_integer_value(id);
            rr->sent_us = t0;
            rr->answered_us = t1;
        } else {
            if (g.nruns_failed++ < 5)
                fprintf(stderr, "berth-fleet: run on %s: HTTP %ld\n", g.r[idx].sid, st);
        }
        pthread_mutex_unlock(&g.mu);
        json_decref(ans);
        if (g.run_gap_ms > 0)
            usleep((useconds_t)g.run_gap_ms * 1000);
    }
    curl_easy_cleanup(c);
    g.dispatch_posted_us = mono_us();
    atomic_store(&g.dispatch_posted, 1);
    lws_cancel_service(g.ctx);
    return NULL;
}

static void pct(uint64_t *v, size_t n, const char *what)
{
    if (!n) {
        printf("%s: no samples\n", what);
        return;
    }
    qsort(v, n, sizeof *v, cmp_u64);
    size_t i50 = (n * 50 + 99) / 100, i99 = (n * 99 + 99) / 100;
    printf("%s: n=%zu p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, n,
           (double)v[i50 ? i50 - 1 : 0] / 1000.0, (double)v[i99 ? i99 - 1 : 0] / 1000.0,
           (double)v[n - 1] / 1000.0);
}

static void dispatch_report(void)
{
    pthread_mutex_lock(&g.mu);
    uint64_t *from_sent = calloc((size_t)g.nruns_ok + 1, sizeof *from_sent);
    uint64_t *from_ans = calloc((size_t)g.nruns_ok + 1, sizeof *from_ans);
    size_t n = 0, before_answer = 0, missing = 0;
    for (int i = 0; from_sent && from_ans && i < g.nruns_ok; i++) {
        struct run_rec *rr = &g.runs_rec[i];
        struct frame_rec *f = NULL;
        for (size_t k = 0; k < g.nframes; k++) /* 1000 x 1000: fine */
            if (g.frames[k].job == rr->job) {
                f = &g.frames[k];
                break;
            }
        if (!f) {
            missing++;
            continue;
        }
        from_sent[n] = f->t_us > rr->sent_us ? f->t_us - rr->sent_us : 0;
        if (f->t_us <= rr->answered_us) {
            before_answer++;
            from_ans[n] = 0;
        } else {
            from_ans[n] = f->t_us - rr->answered_us;
        }
        n++;
    }
    printf("dispatch: %d runs posted (%d refused), %zu job frames matched, %zu never "
           "arrived, %ld job.done acknowledged\n",
           g.nruns_ok + g.nruns_failed, g.nruns_failed, n, missing, g.jobs_done_acked);
    pct(from_sent, n, "dispatch latency, POST sent -> job frame at runner");
    printf("dispatch: %zu of %zu job frames arrived before the POST's answer "
           "(counted as 0 below)\n", before_answer, n);
    pct(from_ans, n, "dispatch latency, POST answered -> job frame at runner");
    pthread_mutex_unlock(&g.mu);
    free(from_sent);
    free(from_ans);
}

/* ---------------------------------------------------------------- runners */

static int queue_msg(struct runner *r, json_t *msg)
{
    size_t len = 0;
    char *s = msg ? proto_dump(msg, &len) : NULL;
    json_decref(msg);
    if (!s || !r->wsi) {
        free(s);
        return -1;
    }
    struct outmsg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m) {
        free(s);
        return -1;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, s, len);
    free(s);
    if (r->tail)
        r->tail->next = m;
    else
        r->head = m;
    r->tail = m;
    lws_callback_on_writable(r->wsi);
    return 0;
}

static void queue_clear(struct runner *r)
{
    while (r->head) {
        struct outmsg *m = r->head;
        r->head = m->next;
        free(m);
    }
    r->tail = NULL;
}

static void send_heartbeat(struct runner *r)
{
    struct proto_metrics m;
    uint32_t a = rnd(r), b = rnd(r);
    m.cpu_pct = 2.0 + (double)(a % 5800) / 100.0;
    m.mem_total = 8LL << 30;
    m.mem_used = (1LL << 30) + (int64_t)(b % 4096) * (1 << 20);
    m.disk_total = 100LL << 30;
    m.disk_used = (20LL << 30) + (int64_t)(r->idx % 50) * (1LL << 30);
    m.logs_bytes = (int64_t)(r->idx % 64) << 20;
    m.load1 = (double)(a % 400) / 100.0;
    m.load5 = m.load1 * 0.9;
    m.load15 = m.load1 * 0.8;
    r->net_rx += 20000 + (int64_t)(b % 200000);
    r->net_tx += 10000 + (int64_t)(a % 100000);
    m.net.rx_v4 = r->net_rx;
    m.net.tx_v4 = r->net_tx;
    m.net.rx_v6 = r->net_rx / 10;
    m.net.tx_v6 = r->net_tx / 10;
    if (queue_msg(r, proto_heartbeat(&m)) == 0)
        g.heartbeats_sent++;
}

static void send_reports(struct runner *r)
{
    static const struct proto_port ports[] = {
        {"tcp", "0.0.0.0", 22}, {"tcp", "0.0.0.0", 80}, {"tcp6", "::", 443}};
    struct proto_fingerprint fp = {
        .os = "Debian GNU/Linux 12 (bookworm)", .kernel = "6.1.0-18-amd64",
        .docker = "20.10.24", .git = "2.39.2", .curl = "7.88.1", .ports = ports,
        .nports = sizeof ports / sizeof ports[0], .firewall = "iptables: 0 rules",
    };
    static const struct proto_check checks[] = {
        {"docker", 1, "20.10.24 (API 1.41)"}, {"git", 1, "2.39.2"}, {"curl", 1, "7.88.1"},
        {"disk", 1, "80 GiB free"}};
    queue_msg(r, proto_fingerprint(&fp));
    queue_msg(r, proto_precheck(checks, sizeof checks / sizeof checks[0]));
}

static void start_connect(struct runner *r);

static void retry_cb(lws_sorted_usec_list_t *sul)
{
    struct runner *r = lws_container_of(sul, struct runner, sul_retry);
    r->retry_pending = 0;
    g.reconnects++;
    start_connect(r);
}

static void runner_down(struct runner *r, int was_live)
{
    if (was_live) {
        g.live--;
        g.disconnects++;
    }
    if (r->state == R_CONNECTING || r->state == R_HANDSHAKE)
        g.in_flight--;
    r->state = R_IDLE;
    r->wsi = NULL;
    queue_clear(r);
    buf_release(&r->rx);
    if (sig_stop || r->retry_pending)
        return;
    /* back off 1-2 s (jittered), like berth-runner's first retry */
    r->retry_pending = 1;
    lws_sul_schedule(g.ctx, 0, &r->sul_retry, retry_cb,
                     (lws_usec_t)(1000000 + (rnd(r) % 1000000)));
}

static void start_connect(struct runner *r)
{
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = g.ctx;
    i.address = g.ws_host;
    i.port = g.ws_port;
    i.path = g.ws_path;
    i.host = g.ws_host;
    i.origin = g.ws_host;
    i.protocol = PROTO_SUBPROTOCOL;
    i.local_protocol_name = "fleet";
    i.userdata = r;
    i.pwsi = &r->wsi;
    r->state = R_CONNECTING;
    g.in_flight++;
    if (!lws_client_connect_via_info(&i)) {
        g.connect_errors++;
        runner_down(r, 0);
    }
}

static void pump(void)
{
    while (!sig_stop && g.next_connect < g.n && g.in_flight < g.concurrency)
        start_connect(&g.r[g.next_connect++]);
}

static void wheel_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    int slot = (int)(g.wheel_tick % WHEEL_SLOTS);
    uint64_t round = g.wheel_tick / WHEEL_SLOTS;
    for (int i = slot; i < g.n; i += WHEEL_SLOTS) {
        struct runner *r = &g.r[i];
        if (r->state != R_LIVE)
            continue;
        send_heartbeat(r);
        if ((round + (uint64_t)(i / WHEEL_SLOTS)) % FP_EVERY_ROUNDS == 0)
            send_reports(r);
    }
    g.wheel_tick++;
    pump();
    lws_sul_schedule(g.ctx, 0, &g.sul_wheel, wheel_cb,
                     (lws_usec_t)g.heartbeat_s * LWS_USEC_PER_SEC / WHEEL_SLOTS);
}

static void record_frame(int64_t job)
{
    uint64_t t = mono_us();
    pthread_mutex_lock(&g.mu);
    if (g.nframes == g.capframes) {
        size_t nc = g.capframes ? g.capframes * 2 : 1024;
        struct frame_rec *f = realloc(g.frames, nc * sizeof *f);
        if (f) {
            g.frames = f;
            g.capframes = nc;
        }
    }
    if (g.nframes < g.capframes)
        g.frames[g.nframes++] = (struct frame_rec){job, t};
    pthread_mutex_unlock(&g.mu);
}

static void on_job(struct runner *r, json_t *msg)
{
    struct proto_job_msg j;
    char err[160];
    int64_t id = 0;
    if (proto_parse_job(msg, &j, err, sizeof err) < 0)
        return;
    if (util_parse_i64(j.job, &id) == 0)
        record_frame(id);
    g.jobs_received++;
    static const char out[] = "fleet: ran `true`\n";
    queue_msg(r, proto_job_accepted(j.job));
    queue_msg(r, proto_job_log(j.job, 1, "stdout", (int64_t)util_now() * 1000, out,
                               sizeof out - 1));
    queue_msg(r, proto_job_done(j.job, 1, "SUCCEEDED", 0, NULL));
}

static int on_message(struct runner *r, const char *data, size_t len)
{
    json_t *msg = NULL;
    enum proto_type t;
    char err[160];
    if (proto_parse(data, len, &msg, &t, err, sizeof err) < 0) {
        fprintf(stderr, "berth-fleet: runner %d: bad frame: %s\n", r->idx, err);
        return -1;
    }
    switch (t) {
    case PROTO_REGISTER: {
        struct proto_register_msg reg;
        if (proto_parse_register(msg, &reg, err, sizeof err) == 0) {
            free(r->cred);
            r->cred = strdup(reg.credential);
            queue_msg(r, proto_registered(reg.server_id));
        }
        break;
    }
    case PROTO_WELCOME: {
        struct proto_welcome_msg w;
        if (proto_parse_welcome(msg, &w, err, sizeof err) < 0)
            break;
        if (r->token && r->cred) { /* registered: the token is spent */
            free(r->token);
            r->token = NULL;
        }
        if (w.heartbeat_s > 0 && !g.ever_live)
            g.heartbeat_s = w.heartbeat_s;
        if (r->state != R_LIVE) {
            if (r->state == R_HANDSHAKE || r->state == R_CONNECTING)
                g.in_flight--;
            r->state = R_LIVE;
            g.live++;
            g.ever_live = 1;
        }
        send_reports(r); /* precheck passes: the server goes ACTIVE */
        break;
    }
    case PROTO_JOB:
        on_job(r, msg);
        break;
    case PROTO_ACK_DONE:
        g.jobs_done_acked++;
        break;
    default: /* ack, job.cancel, unknown: nothing to do */
        break;
    }
    json_decref(msg);
    return 0;
}

static int fleet_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len)
{
    struct runner *r = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = *p + len;
        const char *secret = r && r->cred ? r->cred : r ? r->token : NULL;
        char hdr[300];
        if (!secret)
            return -1;
        int n = snprintf(hdr, sizeof hdr, "Bearer %s", secret);
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (unsigned char *)hdr, n, p, end))
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!r)
            break;
        g.connect_errors++;
        if (!g.first_error[0])
            snprintf(g.first_error, sizeof g.first_error, "%s",
                     in ? (const char *)in : "unknown");
        r->wsi = NULL;
        runner_down(r, 0);
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
        char host[32];
        snprintf(host, sizeof host, "fleet-%05d", r->idx);
        r->wsi = wsi;
        r->state = R_HANDSHAKE;
        queue_msg(r, proto_hello("fleet-0.1", host, NULL, 0));
        break;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
        if (!r->rx.len && final)
            return on_message(r, in, len);
        if (!r->rx.max)
            buf_init(&r->rx, PROTO_FRAME_MAX);
        if (buf_append(&r->rx, in, len) < 0)
            return -1;
        if (!final)
            return 0;
        int rc = on_message(r, r->rx.data, r->rx.len);
        buf_release(&r->rx);
        r->rx.max = 0;
        return rc;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        struct outmsg *m = r->head;
        if (!m)
            return 0;
        if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
            return -1;
        r->head = m->next;
        if (!r->head)
            r->tail = NULL;
        free(m);
        if (r->head)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (r)
            runner_down(r, r->state == R_LIVE);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"fleet", fleet_callback, 0, 2048, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ------------------------------------------------------------------ main */

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        sig_usr1 = 1;
    else
        sig_stop = 1;
    if (g.ctx)
        lws_cancel_service(g.ctx);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: berth-fleet --url http://127.0.0.1:PORT --email E --password P [-n N]\n"
            "                   [--org ORG] [--concurrency C] [--runs R] [--run-gap-ms MS]\n"
            "                   [--max-seconds S]\n");
}

static int parse_url(const char *url)
{
    /* http(s)://HOST:PORT[/PREFIX] (what the driver passes): the link's
     * URL as berth-runner derives it (proto_ws_url), then its parts */
    char ws[1024], err[300];
    const char *prot = NULL, *host = NULL, *path = NULL;
    int port = 0;
    if (strncmp(url, "http://", 7) != 0 || proto_ws_url(url, ws, sizeof ws, err, sizeof err) < 0 ||
        lws_parse_uri(ws, &prot, &host, &port, &path) || strlen(host) >= sizeof g.ws_host)
        return -1;
    util_strlcpy(g.ws_host, host, sizeof g.ws_host);
    snprintf(g.ws_path, sizeof g.ws_path, "/%s", path);
    g.ws_port = port;
    util_strlcpy(g.base, url, sizeof g.base);
    size_t l = strlen(g.base);
    while (l && g.base[l - 1] == '/')
        g.base[--l] = '\0';
    return g.ws_port > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, 0, 'u'},         {"email", required_argument, 0, 'e'},
        {"password", required_argument, 0, 'p'},    {"org", required_argument, 0, 'o'},
        {"concurrency", required_argument, 0, 'c'}, {"runs", required_argument, 0, 'r'},
        {"run-gap-ms", required_argument, 0, 'g'},  {"max-seconds", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0},
    };
    const char *url = NULL;
    int ch;
    g.n = 10000;
    g.concurrency = 256;
    g.runs = 1000;
    g.run_gap_ms = 5;
    g.max_seconds = 1800;
    g.heartbeat_s = PROTO_HEARTBEAT_S;
    util_strlcpy(g.org, "default", sizeof g.org);
    while ((ch = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'u': url = optarg; break;
        case 'e': util_strlcpy(g.email, optarg, sizeof g.email); break;
        case 'p': util_strlcpy(g.password, optarg, sizeof g.password); break;
        case 'o': util_strlcpy(g.org, optarg, sizeof g.org); break;
        case 'n': g.n = atoi(optarg); break;
        case 'c': g.concurrency = atoi(optarg); break;
        case 'r': g.runs = atoi(optarg); break;
        case 'g': g.run_gap_ms = atoi(optarg); break;
        case 'm': g.max_seconds = atoi(optarg); break;
        default: usage(); return 2;
        }
    }
    if (!url || parse_url(url) < 0 || !g.email[0] || !g.password[0] || g.n < 1 ||
        g.n > 100000 || g.concurrency < 1 || g.runs < 0 || g.max_seconds < 1) {
        usage();
        return 2;
    }
    if (g.runs > g.n)
        g.runs = g.n; /* one run per server at most */

    /* One fd per runner: raise the soft limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)g.n + 64 > rl.rlim_cur) {
        fprintf(stderr, "berth-fleet: %d runners need more open files than the limit %llu\n",
                g.n, (unsigned long long)rl.rlim_cur);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    g.t_start_us = mono_us();
    pthread_mutex_init(&g.mu, NULL);
    g.r = calloc((size_t)g.n, sizeof *g.r);
    g.runs_rec = calloc((size_t)g.runs + 1, sizeof *g.runs_rec);
    if (!g.r || !g.runs_rec)
        return 1;
    for (int i = 0; i < g.n; i++) {
        g.r[i].idx = i;
        g.r[i].rng = 2463534242u ^ (uint32_t)(i * 2654435761u);
        g.r[i].net_rx = 1000000 + i;
        g.r[i].net_tx = 500000 + i;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    if (setup() < 0)
        return 1;

    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.fd_limit_per_thread = rl.rlim_cur != RLIM_INFINITY ? (unsigned)rl.rlim_cur : 0;
    /* client handshakes each hold a header table until they are up */
    info.max_http_header_pool = (unsigned short)(g.concurrency + 16);
    info.timeout_secs = 60;
    /* lws on a libuv loop (epoll): the default poll() loop rescans every fd
     * on each iteration, which at 10,000 sockets would make the load
     * generator itself the bottleneck (docs/performance.md). */
    uv_loop_t loop;
    void *foreign[1] = {&loop};
    uv_loop_init(&loop);
    info.options |= LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign;
    g.ctx = lws_create_context(&info);
    if (!g.ctx) {
        fprintf(stderr, "berth-fleet: lws context failed\n");
        return 1;
    }
    g.t_connect_start_us = mono_us();
    lws_sul_schedule(g.ctx, 0, &g.sul_wheel, wheel_cb, 1);

    int rc = 0, dispatched_done = 0;
    uint64_t last_progress = mono_us(), deadline = g.t_start_us + (uint64_t)g.max_seconds * 1000000;
    uint64_t finish_by = 0;
    while (!sig_stop) {
        uv_run(&loop, UV_RUN_ONCE);
        uint64_t now = mono_us();
        if (now >= deadline) {
            fprintf(stderr, "berth-fleet: --max-seconds %d reached, giving up\n", g.max_seconds);
            rc = 1;
            break;
        }
        if (!g.connected_printed && g.live == g.n) {
            g.connected_printed = 1;
            printf("CONNECTED %d runners in %.1f s (connect errors %ld, reconnects %ld)\n",
                   g.live, (double)(now - g.t_connect_start_us) / 1e6, g.connect_errors,
                   g.reconnects);
            fflush(stdout);
        }
        if (now - last_progress >= 5000000) {
            last_progress = now;
            printf("fleet: live %d/%d, handshakes in flight %d, connect errors %ld, "
                   "disconnects %ld, reconnects %ld, heartbeats sent %ld%s%s\n",
                   g.live, g.n, g.in_flight, g.connect_errors, g.disconnects, g.reconnects,
                   g.heartbeats_sent, g.first_error[0] ? ", first error: " : "",
                   g.first_error);
            fflush(stdout);
        }
        if (sig_usr1 && !atomic_load(&g.dispatch_started)) {
            atomic_store(&g.dispatch_started, 1);
            printf("dispatch: posting %d runs of `true`, %d ms apart\n", g.runs, g.run_gap_ms);
            fflush(stdout);
            if (pthread_create(&g.dispatch_thread, NULL, dispatch_main, NULL) != 0) {
                rc = 1;
                break;
            }
        }
        if (atomic_load(&g.dispatch_posted) && !dispatched_done) {
            dispatched_done = 1;
            pthread_join(g.dispatch_thread, NULL);
            finish_by = now + 30000000;
        }
        if (dispatched_done && (g.jobs_done_acked >= g.nruns_ok || now >= finish_by)) {
            dispatch_report();
            printf("fleet: at the end live %d/%d, disconnects %ld, reconnects %ld, "
                   "heartbeats sent %ld\n",
                   g.live, g.n, g.disconnects, g.reconnects, g.heartbeats_sent);
            printf("DONE\n");
            fflush(stdout);
            break;
        }
    }
    sig_stop = 1; /* no reconnects while closing */
    if (atomic_load(&g.dispatch_started) && !dispatched_done)
        pthread_join(g.dispatch_thread, NULL);
    lws_context_destroy(g.ctx);
    uv_run(&loop, UV_RUN_DEFAULT); /* lws closes its handles on the loop */
    uv_loop_close(&loop);
    for (int i = 0; i < g.n; i++) {
        free(g.r[i].token);
        free(g.r[i].cred);
        queue_clear(&g.r[i]);
        buf_release(&g.r[i].rx);
    }
    free(g.r);
    free(g.frames);
    free(g.runs_rec);
    curl_global_cleanup();
    return rc;
}
