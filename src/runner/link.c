/* link.c - the runner's one outbound WebSocket to berthd and the session
 * on it (docs/protocol.md): connect with the bearer secret, hello,
 * register/registered on first start, welcome, then heartbeats and job
 * traffic. Reconnects forever with lws_retry_bo_t exponential backoff +
 * jitter (first retry within 1 s, capped at 30 s); ping/pong validity
 * drops a silent peer after 3 heartbeat intervals.
 *
 * Owns: struct link (r->link), the send queue (each entry malloc'ed with
 * LWS_PRE headroom, freed once written or on disconnect) and the rx
 * reassembly buffer (4 KiB lws rx buffer, frames capped at 1 MiB). */
#include "applogs.h"
#include "chans.h"
#include "dockerops.h"
#include "runner.h"
#include "acme.h"

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define C "link"
#define LINK_QUEUE_MAX (4u * 1024 * 1024)    /* drop beyond (spool keeps it) */
#define LINK_QUEUE_LOW (64u * 1024)          /* resume job output below */

struct outmsg {
    struct outmsg *next;
    size_t len;
    int binary;                              /* a channel's bytes */
    unsigned char buf[];                     /* LWS_PRE + len */
};

struct link {
    struct runner *r;
    lws_sorted_usec_list_t sul_connect;
    lws_sorted_usec_list_t sul_heartbeat;
    uint16_t retry_count;
    lws_retry_bo_t retry;
    struct lws *wsi;
    int established;                         /* WebSocket is up */
    int ready;                               /* welcome received */
    int registering;                         /* authenticating with a token */
    struct buf rx;
    struct outmsg *head, *tail;
    size_t queued;
    char urlbuf[1024];                       /* lws_parse_uri cuts this up */
    const char *host, *path_tail;
    char path[1024];
    int port, tls;
};

/* 500 ms first (+ up to 20% jitter: under 1 s), then doubling, 25 s last
 * (+ jitter: at most 30 s). */
static const uint32_t backoff_ms[] = {500, 1000, 2000, 4000, 8000, 16000, 25000};

static void connect_now(lws_sorted_usec_list_t *sul);
static void heartbeat_tick(lws_sorted_usec_list_t *sul);

int link_ready(const struct runner *r) { return r->link && r->link->ready; }

size_t link_queued_bytes(const struct runner *r) { return r->link ? r->link->queued : 0; }

static void queue_clear(struct link *l)
{
    while (l->head) {
        struct outmsg *m = l->head;
        l->head = m->next;
        free(m);
    }
    l->tail = NULL;
    l->queued = 0;
}

static void set_policy(struct link *l, int heartbeat_s)
{
    l->retry.retry_ms_table = backoff_ms;
    l->retry.retry_ms_table_count = LWS_ARRAY_SIZE(backoff_ms);
    l->retry.conceal_count = LWS_RETRY_CONCEAL_ALWAYS;
    l->retry.secs_since_valid_ping = (uint16_t)heartbeat_s;
    l->retry.secs_since_valid_hangup = (uint16_t)(3 * heartbeat_s);
    l->retry.jitter_percent = 20;
}

int link_init(struct runner *r)
{
    struct link *l = calloc(1, sizeof *l);
    const char *prot = NULL;
    if (!l)
        return -1;
    l->r = r;
    buf_init(&l->rx, PROTO_FRAME_MAX);
    set_policy(l, r->heartbeat_s);
    char why[300];
    if (proto_ws_url(r->url, l->urlbuf, sizeof l->urlbuf, why, sizeof why) < 0) {
        log_error(C, "%s", why);
        free(l);
        return -1;
    }
    if (lws_parse_uri(l->urlbuf, &prot, &l->host, &l->port, &l->path_tail) ||
        (strcmp(prot, "ws") && strcmp(prot, "wss")) || !*l->host) {
        log_error(C, "URL must look like http(s)://HOST[:PORT] or ws(s)://HOST[:PORT]/runner/v1");
        free(l);
        return -1;
    }
    l->tls = strcmp(prot, "wss") == 0;
    snprintf(l->path, sizeof l->path, "/%s", l->path_tail);
    if (strcmp(l->path, "/") == 0)
        util_strlcpy(l->path, PROTO_PATH, sizeof l->path);
    r->link = l;
    return 0;
}

void link_release(struct runner *r)
{
    struct link *l = r->link;
    if (!l)
        return;
    lws_sul_cancel(&l->sul_connect);
    lws_sul_cancel(&l->sul_heartbeat);
    queue_clear(l);
    buf_release(&l->rx);
    free(l);
    r->link = NULL;
}

static void schedule_retry(struct link *l)
{
    if (l->r->stop)
        return;
    lws_retry_sul_schedule(l->r->ctx, 0, &l->sul_connect, &l->retry, connect_now, &l->retry_count);
}

void link_start(struct runner *r)
{
    lws_sul_schedule(r->ctx, 0, &r->link->sul_connect, connect_now, 1);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
    struct link *l = lws_container_of(sul, struct link, sul_connect);
    struct runner *r = l->r;
    struct lws_client_connect_info i;

    l->registering = r->credential == NULL;
    if (l->registering && !r->token) {
        log_error(C, "not registered yet and no registration token: pass it with "
                     "BERTH_RUNNER_TOKEN or --token-file");
        r->exit_code = RUNNER_EXIT_USAGE;
        r->stop = 1;
        lws_cancel_service(r->ctx);
        return;
    }
    memset(&i, 0, sizeof i);
    i.context = r->ctx;
    i.address = l->host;
    i.port = l->port;
    i.path = l->path;
    i.host = l->host;
    i.origin = l->host;
    i.ssl_connection = l->tls ? LCCSCF_USE_SSL : 0;
    i.protocol = PROTO_SUBPROTOCOL;
    i.local_protocol_name = link_protocol.name;
    i.pwsi = &l->wsi;
    i.retry_and_idle_policy = &l->retry;
    i.userdata = l;
    log_info(C, "connecting to %s (%s)", r->url, l->registering ? "registration" : "credential");
    if (!lws_client_connect_via_info(&i))
        schedule_retry(l);
}

/* Appends to the send queue; 0 or -1. */
static int enqueue_as(struct link *l, int binary, const void *text, size_t len)
{
    if (!l->established || !l->wsi)
        return -1;
    if (l->queued + len > LINK_QUEUE_MAX) {
        log_warn(C, "send queue full, dropping a frame (the spool keeps job output)");
        return -1;
    }
    struct outmsg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = len;
    m->binary = binary;
    memcpy(m->buf + LWS_PRE, text, len);
    if (l->tail)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
    l->queued += len;
    lws_callback_on_writable(l->wsi);
    return 0;
}

static int enqueue(struct link *l, const char *text, size_t len)
{
    return enqueue_as(l, 0, text, len);
}

int link_send_binary(struct runner *r, const void *data, size_t len)
{
    if (!link_ready(r))
        return -1;
    return enqueue_as(r->link, 1, data, len);
}

static int send_msg(struct link *l, const json_t *msg)
{
    size_t len;
    char *text;
    int rc;
    if (!msg)
        return -1;
    text = proto_dump(msg, &len);
    if (!text)
        return -1;
    rc = enqueue(l, text, len);
    free(text);
    return rc;
}

int link_send(struct runner *r, const json_t *msg)
{
    if (!link_ready(r))
        return -1;
    return send_msg(r->link, msg);
}

int link_send_raw(struct runner *r, const char *text, size_t len)
{
    if (!link_ready(r))
        return -1;
    return enqueue(r->link, text, len);
}

static void send_hello(struct link *l)
{
    struct proto_job_state *st = NULL;
    size_t n = jobs_states(l->r, &st);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    json_t *m = proto_hello(RUNNER_VERSION, host, st, n);
    if (send_msg(l, m) < 0)
        log_warn(C, "could not send hello");
    json_decref(m);
    free(st);
}

static void heartbeat_tick(lws_sorted_usec_list_t *sul)
{
    struct link *l = lws_container_of(sul, struct link, sul_heartbeat);
    if (!l->ready)
        return;
    json_t *m = metrics_heartbeat(l->r);
    send_msg(l, m);
    json_decref(m);
    lws_sul_schedule(l->r->ctx, 0, &l->sul_heartbeat, heartbeat_tick,
                     (lws_usec_t)l->r->heartbeat_s * LWS_USEC_PER_SEC);
}

static void on_register(struct link *l, json_t *msg)
{
    struct runner *r = l->r;
    struct proto_register_msg reg;
    char err[160];
    if (!l->registering) {
        log_warn(C, "ignoring register: this runner is already registered");
        return;
    }
    if (proto_parse_register(msg, &reg, err, sizeof err) < 0) {
        log_warn(C, "bad register message: %s", err);
        return;
    }
    /* durable before acknowledged */
    if (state_save_credential(r, reg.server_id, reg.credential) < 0) {
        log_error(C, "could not store the credential; not acknowledging registration");
        return;
    }
    l->registering = 0;
    if (r->token) {
        crypto_wipe(r->token, strlen(r->token));
        free(r->token);
        r->token = NULL;
    }
    log_info(C, "registered as server %s; credential stored in %s/credential", r->server_id,
             r->state_dir);
    json_t *m = proto_registered(r->server_id);
    send_msg(l, m);
    json_decref(m);
}

static void on_welcome(struct link *l, json_t *msg)
{
    struct runner *r = l->r;
    struct proto_welcome_msg w;
    char err[160];
    if (proto_parse_welcome(msg, &w, err, sizeof err) < 0) {
        log_warn(C, "bad welcome message: %s", err);
        return;
    }
    if (l->registering) {
        log_warn(C, "welcome before register: ignoring");
        return;
    }
    if (w.heartbeat_s != r->heartbeat_s) {
        log_info(C, "heartbeat interval %d s (set by berthd)", w.heartbeat_s);
        r->heartbeat_s = w.heartbeat_s;
        set_policy(l, w.heartbeat_s);  /* ping/hangup apply from the next connection */
    }
    if (strcmp(r->server_id, w.server_id) != 0) {
        util_strlcpy(r->server_id, w.server_id, sizeof r->server_id);
        state_save(r);
    }
    l->ready = 1;
    l->retry_count = 0;
    log_info(C, "session up (server %s)", r->server_id);
    jobs_on_welcome(r, w.jobs);
    acme_on_welcome(r);  /* certificate states reported while the link was down */
    heartbeat_tick(&l->sul_heartbeat);
    fingerprint_send_latest(r);
    /* The connect and TLS handshake freed what they allocated; give the
     * free pages of the heap back to the kernel for the idle hours ahead. */
    malloc_trim(0);
}

static void dispatch(struct link *l, json_t *msg, enum proto_type type)
{
    struct runner *r = l->r;
    const char *job;
    int64_t seq;
    char err[160];

    switch (type) {
    case PROTO_REGISTER:
        on_register(l, msg);
        break;
    case PROTO_WELCOME:
        on_welcome(l, msg);
        break;
    case PROTO_JOB:
        if (l->ready)
            jobs_on_job(r, msg);
        break;
    case PROTO_ACK:
        if (proto_parse_ack(msg, &job, &seq, err, sizeof err) == 0)
            jobs_on_ack(r, job, seq);
        else
            log_warn(C, "bad ack: %s", err);
        break;
    case PROTO_ACK_DONE:
        if (proto_parse_job_ref(msg, &job, err, sizeof err) == 0)
            jobs_on_ack_done(r, job);
        else
            log_warn(C, "bad ack.done: %s", err);
        break;
    case PROTO_DOCKER_CALL:
        if (l->ready)
            dockerops_on_call(r, msg);
        break;
    case PROTO_LOGS_QUERY:
        if (l->ready)
            applogs_on_query(r, msg);
        break;
    case PROTO_LOGS_CANCEL:
        applogs_on_cancel(r, msg);
        break;
    case PROTO_CHAN_OPEN:
        if (l->ready)
            chans_on_open(r, msg);
        break;
    case PROTO_CHAN_CREDIT:
        chans_on_credit(r, msg);
        break;
    case PROTO_CHAN_RESIZE:
        chans_on_resize(r, msg);
        break;
    case PROTO_CHAN_CLOSE:
        chans_on_close(r, msg);
        break;
    case PROTO_JOB_CANCEL:
        if (proto_parse_job_ref(msg, &job, err, sizeof err) == 0)
            jobs_on_cancel(r, job);
        else
            log_warn(C, "bad job.cancel: %s", err);
        break;
    default:
        log_debug(C, "ignoring message type %s",
                  json_string_value(json_object_get(msg, "type")));
        break;
    }
}

static int add_auth_header(struct link *l, struct lws *wsi, unsigned char **p, unsigned char *end)
{
    const char *secret = l->registering ? l->r->token : l->r->credential;
    char hdr[CRYPTO_TOKEN_MAX + 64];
    int n, rc = 0;
    if (!secret)
        return -1;
    n = snprintf(hdr, sizeof hdr, "Bearer %s", secret);
    if (n <= 0 || (size_t)n >= sizeof hdr)
        rc = -1;
    else if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                          (unsigned char *)hdr, n, p, end))
        rc = -1;
    crypto_wipe(hdr, sizeof hdr);
    return rc;
}

static void on_connection_error(struct link *l, const char *why)
{
    struct runner *r = l->r;
    int unauthorized = why && strstr(why, "unauthorized");
    if (unauthorized && l->registering) {
        log_error(C, "registration refused by berthd (HTTP 401): the token is wrong, "
                     "already used or expired. Create a new one and start again.");
        r->exit_code = RUNNER_EXIT_REFUSED;
        r->stop = 1;
        lws_cancel_service(r->ctx);
        return;
    }
    if (unauthorized)
        log_error(C, "credential refused by berthd (HTTP 401); retrying with backoff "
                     "(was the server removed or decommissioned?)");
    else
        log_warn(C, "connection failed: %s", why ? why : "unknown error");
    schedule_retry(l);
}

static int on_receive(struct link *l, struct lws *wsi, const void *in, size_t len)
{
    json_t *msg = NULL;
    enum proto_type type;
    char err[160];
    int binary = lws_frame_is_binary(wsi);
    if (binary && !l->ready) {
        log_warn(C, "binary frame from berthd before welcome: closing");
        goto malformed;
    }
    if (buf_append(&l->rx, in, len) < 0) {
        log_warn(C, "frame larger than 1 MiB from berthd: closing");
        goto malformed;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    if (binary) { /* a channel's bytes (chans.c) */
        int rc = chans_on_binary(l->r, (const uint8_t *)l->rx.data, l->rx.len);
        buf_clear(&l->rx);
        if (rc < 0)
            goto malformed;
        return 0;
    }
    if (proto_parse(l->rx.data ? l->rx.data : "", l->rx.len, &msg, &type, err, sizeof err) < 0) {
        log_warn(C, "malformed frame from berthd: %s", err);
        goto malformed;
    }
    buf_clear(&l->rx);
    dispatch(l, msg, type);
    json_decref(msg);
    if (l->rx.cap > 64 * 1024)
        buf_release(&l->rx);  /* give a big frame's memory back */
    return 0;
malformed:
    buf_release(&l->rx);
    lws_close_reason(wsi, PROTO_CLOSE_MALFORMED, (unsigned char *)"malformed", 9);
    return -1;
}

static int on_writeable(struct link *l, struct lws *wsi)
{
    struct outmsg *m = l->head;
    if (!m)
        return 0;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    if (n < (int)m->len) {
        log_warn(C, "write failed");
        return -1;
    }
    l->head = m->next;
    if (!l->head)
        l->tail = NULL;
    l->queued -= m->len;
    size_t was = l->queued + m->len;
    free(m);
    if (l->head)
        lws_callback_on_writable(wsi);
    if (was >= LINK_QUEUE_LOW && l->queued < LINK_QUEUE_LOW)
        jobs_on_drain(l->r);
    return 0;
}

static void on_closed(struct link *l)
{
    if (l->ready || l->established)
        log_warn(C, "disconnected from berthd");
    chans_link_lost(l->r); /* a channel never outlives its link: sessions killed */
    l->established = 0;
    l->ready = 0;
    l->wsi = NULL;
    lws_sul_cancel(&l->sul_heartbeat);
    queue_clear(l);
    buf_release(&l->rx);
    jobs_on_drain(l->r);  /* output goes to the spool meanwhile */
    schedule_retry(l);
}

/* 1 if DIR holds OpenSSL's hash links (update-ca-certificates, c_rehash:
 * "5ad8a5d6.0" for each CA), so a lookup by subject hash finds them. */
static int has_hash_links(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    if (!d)
        return 0;
    while (!found && (e = readdir(d))) {
        const char *n = e->d_name;
        size_t i = 0;
        while (i < 8 && isxdigit((unsigned char)n[i]))
            i++;
        found = i == 8 && n[8] == '.' && isdigit((unsigned char)n[9]);
    }
    closedir(d);
    return found;
}

/* wss:// without --ca-file: the system's CAs, as OpenSSL's default paths
 * name them (SSL_CERT_DIR / SSL_CERT_FILE override them, as in OpenSSL).
 * SSL_CTX_set_default_verify_paths() parses the whole bundle file (~140
 * CAs) into memory up front; the hashed directory holds the same CAs
 * (update-ca-certificates writes both) and is read one certificate at a
 * time, by subject hash, while a chain is verified. So the bundle is loaded
 * only where the directory has no hash links, or SSL_CERT_FILE names one.
 * This replaces the store lws made (its fallback directory, relative
 * "../share", is not trusted either). Verification itself is unchanged:
 * peer verified, host name checked (lws sets both per connection). */
static void load_system_cas(SSL_CTX *ctx)
{
    const char *dir = getenv(X509_get_default_cert_dir_env());
    const char *file = getenv(X509_get_default_cert_file_env());
    int file_env = file && *file;
    X509_STORE *st = X509_STORE_new();
    if (!dir || !*dir)
        dir = X509_get_default_cert_dir();
    if (!file_env)
        file = X509_get_default_cert_file();
    if (!st) {
        log_error(C, "cannot allocate a certificate store: no CA is trusted");
        return;
    }
    int hashed = has_hash_links(dir);  /* SSL_CERT_DIR may be a list: not hashed then */
    X509_STORE_load_path(st, dir);     /* lazy: costs nothing until a lookup */
    if ((!hashed || file_env) && X509_STORE_load_file(st, file) != 1 && !hashed)
        log_warn(C, "no system CAs found (%s has no hash links, %s did not load): "
                    "wss:// will fail; pass --ca-file", dir, file);
    ERR_clear_error();
    SSL_CTX_set_cert_store(ctx, st);  /* frees lws' store */
    log_debug(C, "system CAs: %s", hashed ? dir : file);
}

static int link_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct runner *r = lws_context_user(lws_get_context(wsi));
    struct link *l = r ? r->link : NULL;

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (r)
            fingerprint_on_wake(r);
        break;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in;
        if (l && add_auth_header(l, wsi, p, *p + len) < 0)
            return -1;
        break;
    }
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS:
        if (r && !r->ca_file && user)
            load_system_cas((SSL_CTX *)user);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (l) {
            l->wsi = NULL;
            on_connection_error(l, in ? (const char *)in : NULL);
        }
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!l)
            return -1;
        l->wsi = wsi;
        l->established = 1;
        l->ready = 0;
        buf_clear(&l->rx);
        log_info(C, "connected");
        send_hello(l);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return l ? on_receive(l, wsi, in, len) : -1;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return l ? on_writeable(l, wsi) : -1;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (l)
            on_closed(l);
        break;
    default:
        break;
    }
    return 0;
}

const struct lws_protocols link_protocol = {
    .name = "berth-link",
    .callback = link_callback,
    .per_session_data_size = 0,
    .rx_buffer_size = 4096,
};
