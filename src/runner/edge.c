/* edge.c - HAProxy 2.6 supervision, config generation and runtime API.
 * See edge.h for the model (apps, ports, maps) and the swap sequence.
 *
 * Runtime API commands run one at a time, in order, each on its own
 * non-blocking unix-socket connection adopted onto the lws loop (raw
 * socket): write "cmd\n", read until HAProxy closes (the master socket
 * gets "cmd;quit\n", as it would keep the connection otherwise). Swaps,
 * reloads and starts are small state machines driven by those answers and
 * by sul timers; nothing here waits.
 *
 * Owns: struct edge (apps, the command queue, the HAProxy child while it
 * is ours), struct ecmd (freed after its callback), struct op (a swap /
 * start / reload in progress, freed after its callback).
 */
#include "edge.h"
#include "edge_parse.h"

#include "buf.h"
#include "x509.h"
#include "child.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define C "edge"
#define APPS_MAX 64
#define DOMAINS_MAX 50  /* berthd's limit per app (PROTO_DEPLOY_DOMAINS_MAX) */
#define NAME_MAX_LEN 63
#define ANSWER_MAX (4u * 1024 * 1024)
#define CMD_TIMEOUT_US (10 * LWS_USEC_PER_SEC)
#define POLL_US (50 * 1000)
#define START_WAIT_US (10 * LWS_USEC_PER_SEC)
#define STOP_GRACE_US (10 * LWS_USEC_PER_SEC)
#define DEL_TRIES 40
#define WATCH_US (2 * LWS_USEC_PER_SEC)
#define RESTART_MAX_S 30

struct edge_app {
    char name[NAME_MAX_LEN + 1];
    int port;
    char *domains[DOMAINS_MAX];
    size_t ndomains;
    char server[NAME_MAX_LEN + 1]; /* "" until the first swap */
    char addr[80];
    int no_redirect;               /* https_redirect off (default on) */
    int hsts;                      /* Strict-Transport-Security on HTTPS */
};

struct ecmd {
    struct ecmd *next;
    struct edge *e;
    char *text;                    /* what is written, with "\n" */
    int master;
    struct lws *wsi;
    int started;
    int sent;
    int failed;
    struct buf answer;
    edge_reply_cb cb;
    void *arg;
    lws_sorted_usec_list_t sul;
};

enum op_kind { OP_START, OP_RELOAD, OP_SWAP, OP_STOP, OP_APP, OP_CERT };

/* map targets of an op's sync list besides a public port (> 0) */
#define SYNC_EXACT 0
#define SYNC_WILD (-1)
#define SYNC_REDIRECT (-2)
#define SYNC_HSTS (-3)

struct op {
    struct edge *e;
    enum op_kind kind;
    int step;
    int tries;
    lws_usec_t started, deadline, drain_start;
    char app[256], server[NAME_MAX_LEN + 1], old[NAME_MAX_LEN + 1], addr[80];  /* app: a host name for OP_CERT */
    int reloads_before, failed_before;
    int drained;
    int polls;
    int drain_limit_ms;
    int64_t drain_ms;
    struct child *check;           /* `haproxy -c` running for this op */
    int sync[APPS_MAX + 4];        /* maps to replace: a port, 0 (exact), -1 (wild) */
    int nsync, isync, pending, fails;
    char msg[512];
    edge_done_cb done;
    edge_swap_cb swap_done;
    void *arg;
    lws_sorted_usec_list_t sul;
};

struct edge {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    char dir[128];                 /* <= 80 chars: socket paths fit sun_path */
    char haproxy[PATH_MAX];
    char bind[64];
    int http_port;                 /* the shared by-name frontend's port, 0: none */
    int http_on;                   /* it is in the config (once an app had domains) */
    int https_port;                /* its HTTPS twin, 0: none */
    int acme_port;                 /* the ACME client's HTTP-01 listener, 0: none */
    char **certs;                  /* names with DIR/certs/<name>.pem in certs.list */
    size_t ncerts, certs_cap;
    char certs_list[112], default_pem[112], flags_file[112];  /* dir is <= 80 chars */
    char cfg[PATH_MAX], admin[PATH_MAX], master[PATH_MAX], pidfile[PATH_MAX], logfile[PATH_MAX];
    struct edge_app apps[APPS_MAX];
    size_t napps;
    struct ecmd *queue;            /* head runs */
    struct child *proc;            /* HAProxy master, when we started it */
    pid_t pid;                     /* master pid (ours or adopted), 0: none */
    int stopping;
    struct op *ops[8];             /* ops in progress (for edge_free) */
    lws_sorted_usec_list_t sul_watch;  /* supervision, once started until stopped */
    int restart_s, restarting;
};

int edge_cert_has(const struct edge *e, const char *name);
static int write_certs_list(const struct edge *e);
static int cert_add_name(struct edge *e, const char *name);

/* --- small helpers --- */

static int name_ok(const char *s, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

static int addr_ok(const char *s)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    int64_t port;
    if (!colon || colon == s || strlen(s) >= 80 || util_parse_i64(colon + 1, &port) < 0 || port < 1 || port > 65535)
        return 0;
    for (const char *p = s; p < colon; p++)
        if (!isxdigit((unsigned char)*p) && !strchr(".:[]", *p))
            return 0;
    return 1;
}

static int is_wild(const char *d)
{
    return d[0] == '*' && d[1] == '.';
}

/* A host name as berthd sends it: lower case, [a-z0-9-.], or "*." and one */
static int domain_ok(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    if (n >= 2 && is_wild(d))
        d += 2, n -= 2;
    if (!n || n > 253 || d[0] == '.' || d[n - 1] == '.')
        return 0;
    for (; *d; d++)
        if (!islower((unsigned char)*d) && !isdigit((unsigned char)*d) && !strchr("-.", *d))
            return 0;
    return 1;
}

static struct edge_app *find_app(struct edge *e, const char *name)
{
    for (size_t k = 0; k < e->napps; k++)
        if (strcmp(e->apps[k].name, name) == 0)
            return &e->apps[k];
    return NULL;
}

static int op_track(struct edge *e, struct op *o)
{
    for (size_t k = 0; k < sizeof e->ops / sizeof e->ops[0]; k++)
        if (!e->ops[k]) {
            e->ops[k] = o;
            return 0;
        }
    return -1;
}

static void op_untrack(struct op *o)
{
    if (!o->e)
        return;
    for (size_t k = 0; k < sizeof o->e->ops / sizeof o->e->ops[0]; k++)
        if (o->e->ops[k] == o)
            o->e->ops[k] = NULL;
}

static struct op *op_new(struct edge *e, enum op_kind kind, edge_done_cb done, void *arg)
{
    struct op *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->e = e;
    o->kind = kind;
    o->done = done;
    o->arg = arg;
    o->started = lws_now_usecs();
    if (op_track(e, o) < 0) {
        free(o);
        return NULL;
    }
    return o;
}

/* Calls back (unless the edge was freed) and frees the op. */
static void op_finish(struct op *o, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void op_finish(struct op *o, int rc, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->msg, sizeof o->msg, fmt, ap);
        va_end(ap);
    }
    lws_sul_cancel(&o->sul);
    if (o->e) {
        op_untrack(o);
        if (rc < 0)
            log_warn(C, "%s", o->msg);
        if (o->kind == OP_SWAP && o->swap_done) {
            struct edge_swap_report rep = {
                .drain_ms = o->drain_ms,
                .total_ms = (int64_t)(lws_now_usecs() - o->started) / 1000,
                .drained = o->drained,
            };
            o->swap_done(o->arg, rc, &rep, o->msg[0] ? o->msg : NULL);
        } else if (o->done) {
            o->done(o->arg, rc, o->msg[0] ? o->msg : NULL);
        }
    }
    free(o);
}

static void finish_tick(lws_sorted_usec_list_t *sul)
{
    struct op *o = lws_container_of(sul, struct op, sul);
    op_finish(o, o->tries < 0 ? -1 : 0, NULL);
}

/* Finishes from the loop, never inside the caller's call. */
static void op_finish_later(struct op *o, const char *msg)
{
    if (msg)
        util_strlcpy(o->msg, msg, sizeof o->msg);
    lws_sul_schedule(o->e->ctx, 0, &o->sul, finish_tick, 1);
}

static int blank(const char *s)
{
    while (*s == '\n' || *s == ' ' || *s == '\r')
        s++;
    return !*s;
}

/* --- runtime API commands --- */

static void cmd_run_next(struct edge *e);

static void cmd_complete(struct ecmd *c)
{
    struct edge *e = c->e;
    const char *text = c->answer.data ? c->answer.data : "";
    lws_sul_cancel(&c->sul);
    if (e && e->queue == c)
        e->queue = c->next;
    /* the first line only: a `set ssl cert` payload holds a private key */
    log_debug(C, "%s: %.*s -> %s%.120s", c->master ? "master" : "admin", (int)strcspn(c->text, "\n"), c->text,
              c->failed ? "FAILED " : "", text);
    if (c->cb)
        c->cb(c->arg, c->failed ? -1 : 0, c->failed && !c->answer.len ? "no answer from HAProxy" : text);
    buf_release(&c->answer);
    memset(c->text, 0, strlen(c->text));
    free(c->text);
    free(c);
    if (e)
        cmd_run_next(e);
}

static void cmd_timeout(lws_sorted_usec_list_t *sul)
{
    struct ecmd *c = lws_container_of(sul, struct ecmd, sul);
    c->failed = 1;
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    else
        cmd_complete(c);
}

static void cmd_fail_later(struct ecmd *c, const char *why)
{
    buf_clear(&c->answer);
    buf_printf(&c->answer, "%s", why);
    c->failed = 1;
    lws_sul_schedule(c->e->ctx, 0, &c->sul, cmd_timeout, 1);
}

static void cmd_start(struct ecmd *c)
{
    struct edge *e = c->e;
    struct sockaddr_un sa;
    const char *path = c->master ? e->master : e->admin;
    lws_adopt_desc_t a;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    char why[PATH_MAX + 64];

    c->started = 1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (fd < 0 || util_strlcpy(sa.sun_path, path, sizeof sa.sun_path) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(why, sizeof why, "cannot connect to %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        cmd_fail_later(c, why);
        return;
    }
    memset(&a, 0, sizeof a);
    a.vh = e->vh;
    a.type = LWS_ADOPT_SOCKET;
    a.fd.sockfd = fd;
    a.vh_prot_name = edge_protocol.name;
    a.opaque = c;
    lws_sul_schedule(e->ctx, 0, &c->sul, cmd_timeout, CMD_TIMEOUT_US);
    if (!lws_adopt_descriptor_vhost_via_info(&a)) {
        lws_sul_cancel(&c->sul);
        cmd_fail_later(c, "cannot watch the HAProxy socket");
    }
}

static void cmd_run_next(struct edge *e)
{
    if (e->queue && !e->queue->started)
        cmd_start(e->queue);
}

/* Queues one command; master: on the master socket. */
static int cmd_queue(struct edge *e, int master, const char *text, edge_reply_cb cb, void *arg)
{
    struct ecmd *c = calloc(1, sizeof *c), **pp;
    if (!c)
        return -1;
    if (asprintf(&c->text, master ? "%s;quit\n" : "%s\n", text) < 0) {
        free(c);
        return -1;
    }
    c->e = e;
    c->master = master;
    c->cb = cb;
    c->arg = arg;
    buf_init(&c->answer, ANSWER_MAX);
    for (pp = &e->queue; *pp; pp = &(*pp)->next)
        ;
    *pp = c;
    if (e->queue == c)
        cmd_start(c);
    return 0;
}

static int edge_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct ecmd *c = lws_get_opaque_user_data(wsi);
    unsigned char *b;
    size_t n;
    int w;

    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        if (c) {
            c->wsi = wsi;
            lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (!c || c->sent)
            break;
        n = strlen(c->text);  /* a certificate payload can be some KiB */
        if (n > 256 * 1024 || !(b = malloc(LWS_PRE + n)))
            return -1;
        memcpy(b + LWS_PRE, c->text, n);
        w = lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_RAW);  /* lws keeps what the socket did not take */
        free(b);
        if (w < (int)n)
            return -1;
        c->sent = 1;
        break;
    case LWS_CALLBACK_RAW_RX:
        if (c && buf_append(&c->answer, in, len) < 0)
            return -1;
        break;
    case LWS_CALLBACK_RAW_CLOSE:
        if (c) {
            lws_set_opaque_user_data(wsi, NULL);
            c->wsi = NULL;
            if (!c->sent)
                c->failed = 1;
            cmd_complete(c);
        }
        break;
    default:
        break;
    }
    return 0;
}

const struct lws_protocols edge_protocol = {
    .name = "berth-edge",
    .callback = edge_callback,
    .rx_buffer_size = 4096,
};

int edge_command(struct edge *e, const char *cmd, edge_reply_cb cb, void *arg)
{
    if (!cmd || !*cmd || strpbrk(cmd, ";\n\r") || strlen(cmd) > 900)
        return -1;
    return cmd_queue(e, 0, cmd, cb, arg);
}

/* --- config --- */

static int map_path(const struct edge *e, int port, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/port-%d.map", e->dir, port);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* The shared frontend's maps: exact names, and wildcards by suffix. */
static int http_map_path(const struct edge *e, int wild, char *out, size_t n)
{
    static const char *const names[] = {"http.map", "http-wild.map", "redirect.map", "hsts.map"};
    int w = wild >= 0 && wild <= 3 ? snprintf(out, n, "%s/%s", e->dir, names[wild]) : -1;
    return w > 0 && (size_t)w < n ? 0 : -1;
}

struct map_entry {
    const char *key;
    const char *app;
};

static int by_key_length_desc(const void *a, const void *b)
{
    size_t x = strlen(((const struct map_entry *)a)->key), y = strlen(((const struct map_entry *)b)->key);
    return x < y ? 1 : x > y ? -1 : strcmp(((const struct map_entry *)a)->key, ((const struct map_entry *)b)->key);
}

/* The entries of one map ("key app_name" lines) into b. port > 0: the
 * public port's map (every domain as written); port 0: the shared
 * frontend's exact map (wild 0) or its suffix map (wild 1: "*.x.y" as
 * ".x.y", the longest suffix first, as map_end takes the first match). */
static void map_text(const struct edge *e, int port, int wild, struct buf *b)
{
    static struct map_entry ent[APPS_MAX * DOMAINS_MAX];
    size_t n = 0;
    if (port == 0 && wild >= 2) {  /* redirect.map (2), hsts.map (3): exact names */
        for (size_t j = 0; j < e->napps; j++) {
            const struct edge_app *a = &e->apps[j];
            if (wild == 2 ? a->no_redirect : !a->hsts)
                continue;
            for (size_t d = 0; d < a->ndomains; d++)
                if (!is_wild(a->domains[d]) && (wild == 3 || edge_cert_has(e, a->domains[d])))
                    buf_printf(b, "%s app_%s\n", a->domains[d], a->name);
        }
        return;
    }
    for (size_t j = 0; j < e->napps; j++) {
        const struct edge_app *a = &e->apps[j];
        if (port > 0 && a->port != port)
            continue;
        for (size_t d = 0; d < a->ndomains; d++)
            if (port > 0 || is_wild(a->domains[d]) == wild)
                ent[n++] = (struct map_entry){port == 0 && wild ? a->domains[d] + 1 : a->domains[d], a->name};
    }
    if (wild)
        qsort(ent, n, sizeof ent[0], by_key_length_desc);
    for (size_t k = 0; k < n; k++)
        buf_printf(b, "%s app_%s\n", ent[k].key, ent[k].app);
}

char *edge_render_config(const struct edge *e)
{
    struct buf b;
    char map[PATH_MAX];
    int ports[APPS_MAX];
    size_t nports = 0;

    buf_init(&b, 1 << 20);
    buf_printf(&b,
               "# Written by berth-runner (src/runner/edge.c) on every change; do not edit.\n"
               "global\n"
               "    master-worker\n"
               "    stats socket %s mode 600 level admin\n"
               "    stats timeout 30s\n"
               "    maxconn 4096\n"
               "    hard-stop-after 5m\n"
               "\n"
               "defaults\n"
               "    mode http\n"
               "    timeout connect 5s\n"
               "    timeout client 60s\n"
               "    timeout server 60s\n"
               "    timeout http-request 10s\n"
               "    timeout http-keep-alive 60s\n"
               "    timeout queue 30s\n"
               "    retries 3\n"
               "    option redispatch\n",
               e->admin);
    for (size_t k = 0; k < e->napps; k++) {
        int p = e->apps[k].port, seen = 0;
        for (size_t j = 0; j < nports; j++)
            seen |= ports[j] == p;
        if (seen || p <= 0)
            continue;
        ports[nports++] = p;
        map_path(e, p, map, sizeof map);
        buf_printf(&b,
                   "\nfrontend port_%d\n"
                   "    bind %s:%d\n"
                   "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower\n"
                   "    use_backend %%[var(txn.host),map(%s)] if { var(txn.host),map(%s) -m found }\n",
                   p, e->bind, p, map, map);
        /* the port's default: its app without domains, else its only app
         * (a public port is a way in without a name) */
        const char *def = NULL, *only = NULL;
        int on_port = 0;
        for (size_t j = 0; j < e->napps; j++)
            if (e->apps[j].port == p) {
                on_port++;
                only = e->apps[j].name;
                if (!def && e->apps[j].ndomains == 0)
                    def = e->apps[j].name;
            }
        if (!def && on_port == 1)
            def = only;
        if (def)
            buf_printf(&b, "    default_backend app_%s\n", def);
    }
    if (e->http_on) {
        char wild[PATH_MAX], redir[PATH_MAX], hsts[PATH_MAX];
        http_map_path(e, 0, map, sizeof map);
        http_map_path(e, 1, wild, sizeof wild);
        http_map_path(e, 2, redir, sizeof redir);
        http_map_path(e, 3, hsts, sizeof hsts);
        buf_printf(&b,
                   "\nfrontend http\n"
                   "    bind %s:%d\n"
                   "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower\n",
                   e->bind, e->http_port);
        if (e->https_port)  /* names with a certificate, apps with https_redirect */
            buf_printf(&b,
                       "    http-request redirect scheme https code 301 if !{ path_beg /.well-known/acme-challenge/ } "
                       "{ var(txn.host),map(%s) -m found }\n",
                       redir);
        if (e->acme_port)
            buf_printf(&b, "    use_backend berth_acme if { path_beg /.well-known/acme-challenge/ }\n");
        buf_printf(&b,
                   "    use_backend %%[var(txn.host),map(%s)] if { var(txn.host),map(%s) -m found }\n"
                   "    use_backend %%[var(txn.host),map_end(%s)] if { var(txn.host),map_end(%s) -m found }\n"
                   "    default_backend berth_no_app\n",
                   map, map, wild, wild);
        if (e->https_port)
            buf_printf(&b,
                       "\nfrontend https\n"
                       "    bind %s:%d ssl crt %s crt-list %s alpn h2,http/1.1\n"
                       "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower\n"
                       "    http-response set-header Strict-Transport-Security \"max-age=31536000\" "
                       "if { var(txn.host),map(%s) -m found }\n"
                       "    use_backend %%[var(txn.host),map(%s)] if { var(txn.host),map(%s) -m found }\n"
                       "    use_backend %%[var(txn.host),map_end(%s)] if { var(txn.host),map_end(%s) -m found }\n"
                       "    default_backend berth_no_app\n",
                       e->bind, e->https_port, e->default_pem, e->certs_list, hsts, map, map, wild, wild);
        buf_printf(&b,
                   "\nbackend berth_no_app\n"
                   "    http-request return status 404 content-type text/plain string \"no app is served under this "
                   "host name on this server\\n\"\n");
        if (e->acme_port)
            buf_printf(&b, "\nbackend berth_acme\n    server acme 127.0.0.1:%d\n", e->acme_port);
    }
    for (size_t k = 0; k < e->napps; k++) {
        const struct edge_app *a = &e->apps[k];
        buf_printf(&b, "\nbackend app_%s\n    balance roundrobin\n", a->name);
        if (a->server[0])
            buf_printf(&b, "    server %s %s\n", a->server, a->addr);
    }
    return buf_steal(&b, NULL);
}

static int write_map(const struct edge *e, int port, int wild)
{
    char path[PATH_MAX];
    struct buf b;
    int rc;
    buf_init(&b, 1 << 20);
    map_text(e, port, wild, &b);
    rc = (port > 0 ? map_path(e, port, path, sizeof path) : http_map_path(e, wild, path, sizeof path)) == 0
             ? util_write_file_atomic(path, b.data ? b.data : "", b.len, 0600)
             : -1;
    buf_release(&b);
    return rc;
}

/* --- HTTPS files: the default certificate, certs.list, the apps' flags --- */

int edge_cert_path(const struct edge *e, const char *name, char *out, size_t n)
{
    /* a wildcard's file (an uploaded certificate) is _.example.com.pem:
     * '_' is in no host name, so it names no other file */
    int wild = name && is_wild(name);
    int w = snprintf(out, n, "%s/certs/%s%s.pem", e->dir, wild ? "_" : "", wild ? name + 1 : name);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

int edge_cert_has(const struct edge *e, const char *name)
{
    for (size_t k = 0; k < e->ncerts; k++)
        if (!strcmp(e->certs[k], name))
            return 1;
    return 0;
}

const char *edge_cert_name(const struct edge *e, size_t i)
{
    return i < e->ncerts ? e->certs[i] : NULL;
}

const char *edge_domain_app(const struct edge *e, const char *name)
{
    for (size_t j = 0; j < e->napps; j++)
        for (size_t d = 0; d < e->apps[j].ndomains; d++)
            if (!strcmp(e->apps[j].domains[d], name))
                return e->apps[j].name;
    return NULL;
}

static int cert_add_name(struct edge *e, const char *name)
{
    if (edge_cert_has(e, name))
        return 0;
    if (e->ncerts == e->certs_cap) {
        size_t cap = e->certs_cap ? e->certs_cap * 2 : 8;
        char **n2;
        if (cap > APPS_MAX * DOMAINS_MAX || !(n2 = realloc(e->certs, cap * sizeof *n2)))
            return -1;
        e->certs = n2;
        e->certs_cap = cap;
    }
    if (!(e->certs[e->ncerts] = strdup(name)))
        return -1;
    e->ncerts++;
    return 0;
}

static int write_certs_list(const struct edge *e)
{
    struct buf b;
    char path[PATH_MAX];
    int rc = 0;
    buf_init(&b, 1 << 20);
    for (size_t k = 0; k < e->ncerts; k++)
        if (edge_cert_path(e, e->certs[k], path, sizeof path) == 0)
            buf_printf(&b, "%s\n", path);
    rc = util_write_file_atomic(e->certs_list, b.data ? b.data : "", b.len, 0600);
    buf_release(&b);
    return rc;
}

void edge_cert_remove(struct edge *e, const char *name)
{
    char path[PATH_MAX], cmd[2 * PATH_MAX + 32];
    size_t k;
    for (k = 0; k < e->ncerts && strcmp(e->certs[k], name); k++)
        ;
    if (k == e->ncerts || edge_cert_path(e, name, path, sizeof path) < 0)
        return;
    free(e->certs[k]);
    memmove(&e->certs[k], &e->certs[k + 1], (e->ncerts - k - 1) * sizeof *e->certs);
    e->ncerts--;
    if (write_certs_list(e) < 0)
        log_warn(C, "cannot rewrite %s: a restart of HAProxy would still serve %s", e->certs_list, name);
    if (edge_running(e)) {  /* answers are only logged: the name is gone either way */
        snprintf(cmd, sizeof cmd, "del ssl crt-list %s %s", e->certs_list, path);
        cmd_queue(e, 0, cmd, NULL, NULL);
        snprintf(cmd, sizeof cmd, "del ssl cert %s", path);
        cmd_queue(e, 0, cmd, NULL, NULL);
    }
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn(C, "cannot remove %s: %s", path, strerror(errno));
}

/* default.pem once, certs.list, DIR/certs, and the apps' HTTPS flags
 * (tls-apps: "app redirect hsts" lines, read back by edge_load) */
static int tls_files(struct edge *e)
{
    char dir[PATH_MAX];
    struct buf b;
    int rc;
    snprintf(dir, sizeof dir, "%s/certs", e->dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    if (access(e->default_pem, F_OK) < 0) {
        if (x509_self_signed(e->default_pem, "berth-edge-default") < 0) {
            log_error(C, "cannot make the default certificate %s", e->default_pem);
            return -1;
        }
        log_info(C, "made the default self-signed certificate %s", e->default_pem);
    }
    if (access(e->certs_list, F_OK) < 0 && write_certs_list(e) < 0)
        return -1;
    buf_init(&b, 1 << 16);
    for (size_t k = 0; k < e->napps; k++)
        if (e->apps[k].no_redirect || e->apps[k].hsts)
            buf_printf(&b, "%s %d %d\n", e->apps[k].name, !e->apps[k].no_redirect, e->apps[k].hsts);
    rc = util_write_file_atomic(e->flags_file, b.data ? b.data : "", b.len, 0600);
    buf_release(&b);
    return rc;
}

static int write_maps(struct edge *e)
{
    for (size_t k = 0; k < e->napps; k++)
        if (e->apps[k].port > 0 && write_map(e, e->apps[k].port, 0) < 0)
            return -1;
    if (e->http_on && (write_map(e, 0, 0) < 0 || write_map(e, 0, 1) < 0))
        return -1;
    if (e->http_on && e->https_port && (write_map(e, 0, 2) < 0 || write_map(e, 0, 3) < 0 || tls_files(e) < 0))
        return -1;
    return 0;
}

/* Writes haproxy.cfg and the maps; *changed: the config differs from the
 * file that was there. */
static int write_config(struct edge *e, int *changed)
{
    char *cfg = edge_render_config(e), *old = NULL;
    size_t oldlen = 0;
    int rc = -1;
    if (!cfg)
        goto done;
    if (changed)
        *changed = util_read_file(e->cfg, 1 << 20, &old, &oldlen) < 0 || strcmp(old, cfg) != 0;
    if (write_maps(e) < 0 || util_write_file_atomic(e->cfg, cfg, strlen(cfg), 0600) < 0) {
        log_error(C, "cannot write %s: %s", e->cfg, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(cfg);
    free(old);
    return rc;
}

/* --- state from disk (a restarted runner) --- */

static struct edge_app *load_app(struct edge *e, const char *name)
{
    struct edge_app *a = find_app(e, name);
    if (a || !name_ok(name, "-") || e->napps == APPS_MAX)
        return a;
    a = &e->apps[e->napps++];
    memset(a, 0, sizeof *a);
    util_strlcpy(a->name, name, sizeof a->name);
    return a;
}

/* certs.list (our own lines: DIR/certs/<name>.pem) and tls-apps */
static void edge_load_tls(struct edge *e)
{
    char *text = NULL, *line, *save = NULL, prefix[PATH_MAX], name[NAME_MAX_LEN + 1];
    size_t len, plen;
    int redirect, hsts;
    snprintf(prefix, sizeof prefix, "%s/certs/", e->dir);
    plen = strlen(prefix);
    if (util_read_file(e->certs_list, 1 << 20, &text, &len) == 0)
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            size_t n = strlen(line);
            char host[256];
            if (n > plen + 4 && n - plen - 4 < sizeof host && !strncmp(line, prefix, plen) &&
                !strcmp(line + n - 4, ".pem")) {
                memcpy(host, line + plen, n - plen - 4);
                host[n - plen - 4] = '\0';
                if (host[0] == '_' && host[1] == '.')  /* a wildcard's file (edge_cert_path) */
                    host[0] = '*';
                if (domain_ok(host))
                    cert_add_name(e, host);
            }
        }
    free(text);
    text = NULL;
    save = NULL;
    if (util_read_file(e->flags_file, 1 << 20, &text, &len) == 0)
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            struct edge_app *a;
            if (sscanf(line, "%63s %d %d", name, &redirect, &hsts) == 3 && (a = find_app(e, name))) {
                a->no_redirect = !redirect;
                a->hsts = hsts != 0;
            }
        }
    free(text);
}

int edge_load(struct edge *e)
{
    char *text = NULL, *line, *save = NULL, path[PATH_MAX];
    char name[NAME_MAX_LEN + 1], srv[NAME_MAX_LEN + 1], addr[80], dom[256];
    size_t len;
    int port = 0, ports[APPS_MAX], nports = 0, ndefaults = 0;
    struct {
        char name[NAME_MAX_LEN + 1];
        int port;
    } defaults[APPS_MAX];
    struct edge_app *cur = NULL;
    if (e->napps)
        return 0;
    if (util_read_file(e->cfg, 1 << 20, &text, &len) < 0)
        return errno == ENOENT ? 0 : -1;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strcmp(line, "frontend http") == 0) {
            e->http_on = 1;
            cur = NULL;
            port = 0;
        } else if (sscanf(line, "frontend port_%d", &port) == 1) {
            cur = NULL;
            if (nports < APPS_MAX)
                ports[nports++] = port;
        } else if (sscanf(line, " default_backend app_%63s", name) == 1 && port > 0) {
            /* applied once the backends made the apps, in the file's order,
             * so the config renders the same again (no needless reload) */
            if (ndefaults < APPS_MAX) {
                util_strlcpy(defaults[ndefaults].name, name, sizeof defaults[0].name);
                defaults[ndefaults++].port = port;
            }
        } else if (sscanf(line, "backend app_%63s", name) == 1) {
            cur = load_app(e, name);
            port = 0;
        } else if (cur && sscanf(line, " server %63s %79s", srv, addr) == 2 && name_ok(srv, "-_.") &&
                   addr_ok(addr)) {
            util_strlcpy(cur->server, srv, sizeof cur->server);
            util_strlcpy(cur->addr, addr, sizeof cur->addr);
        }
    }
    free(text);
    for (int k = 0; k < ndefaults; k++) {
        struct edge_app *a = load_app(e, defaults[k].name);
        if (a)
            a->port = defaults[k].port;
    }
    /* the port maps, then the shared frontend's (port 0 here): exact, wild */
    for (int k = 0; k < nports + 2; k++) {
        int p = k < nports ? ports[k] : 0, wild = k == nports + 1;
        text = NULL;
        save = NULL;
        if ((p > 0 ? map_path(e, p, path, sizeof path) : http_map_path(e, wild, path, sizeof path)) < 0 ||
            util_read_file(path, 1 << 20, &text, &len) < 0)
            continue;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            struct edge_app *a;
            char full[258];
            int have = 0;
            if (sscanf(line, "%255s app_%63s", dom, name) != 2 || !(a = load_app(e, name)))
                continue;
            if (p > 0)
                a->port = p;
            snprintf(full, sizeof full, "%s%s", wild ? "*" : "", dom);
            for (size_t d = 0; d < a->ndomains; d++)
                have |= !strcmp(a->domains[d], full);
            if (!have && a->ndomains < DOMAINS_MAX && domain_ok(full) && (a->domains[a->ndomains] = strdup(full)))
                a->ndomains++;
        }
        free(text);
    }
    edge_load_tls(e);
    log_info(C, "loaded %zu app(s) from %s", e->napps, e->cfg);
    return 0;
}

const char *edge_app_server(const struct edge *e, const char *app, const char **addr)
{
    for (size_t k = 0; k < e->napps; k++)
        if (strcmp(e->apps[k].name, app) == 0 && e->apps[k].server[0]) {
            if (addr)
                *addr = e->apps[k].addr;
            return e->apps[k].server;
        }
    return NULL;
}

int edge_app_port(const struct edge *e, const char *app)
{
    for (size_t k = 0; k < e->napps; k++)
        if (strcmp(e->apps[k].name, app) == 0)
            return e->apps[k].port;
    return -1;
}

/* --- lifecycle --- */

int edge_new(struct lws_context *ctx, struct lws_vhost *vh, const struct edge_options *o, struct edge **out)
{
    struct edge *e;
    if (!o || !o->dir || strlen(o->dir) > 80)  /* sun_path is 108 bytes */
        return -1;
    e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->ctx = ctx;
    e->vh = vh;
    util_strlcpy(e->dir, o->dir, sizeof e->dir);
    util_strlcpy(e->haproxy, o->haproxy ? o->haproxy : "haproxy", sizeof e->haproxy);
    util_strlcpy(e->bind, o->bind_addr ? o->bind_addr : "", sizeof e->bind);
    e->http_port = o->http_port > 0 && o->http_port <= 65535 ? o->http_port : 0;
    e->https_port = e->http_port && o->https_port > 0 && o->https_port <= 65535 && o->https_port != e->http_port
                        ? o->https_port
                        : 0;
    e->acme_port = e->https_port && o->acme_port > 0 && o->acme_port <= 65535 ? o->acme_port : 0;
    snprintf(e->certs_list, sizeof e->certs_list, "%.80s/certs.list", e->dir);
    snprintf(e->default_pem, sizeof e->default_pem, "%.80s/default.pem", e->dir);
    snprintf(e->flags_file, sizeof e->flags_file, "%.80s/tls-apps", e->dir);
    snprintf(e->cfg, sizeof e->cfg, "%s/haproxy.cfg", e->dir);
    snprintf(e->admin, sizeof e->admin, "%s/admin.sock", e->dir);
    snprintf(e->master, sizeof e->master, "%s/master.sock", e->dir);
    snprintf(e->pidfile, sizeof e->pidfile, "%s/haproxy.pid", e->dir);
    snprintf(e->logfile, sizeof e->logfile, "%s/haproxy.log", e->dir);
    *out = e;
    return 0;
}

void edge_free(struct edge *e)
{
    if (!e)
        return;
    lws_sul_cancel(&e->sul_watch);
    for (size_t k = 0; k < sizeof e->ops / sizeof e->ops[0]; k++)
        if (e->ops[k]) {
            struct op *o = e->ops[k];
            lws_sul_cancel(&o->sul);
            o->e = NULL;
            if (!o->check)
                free(o);  /* its pending commands lose their callbacks below */
            /* else check_exit frees it */
        }
    for (struct ecmd *c = e->queue, *next; c; c = next) {
        next = c->next;
        lws_sul_cancel(&c->sul);
        if (c->wsi) {
            lws_set_opaque_user_data(c->wsi, NULL);
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
        buf_release(&c->answer);
        free(c->text);
        free(c);
    }
    child_forget(e->proc);
    for (size_t k = 0; k < e->ncerts; k++)
        free(e->certs[k]);
    free(e->certs);
    for (size_t k = 0; k < e->napps; k++)
        for (size_t d = 0; d < e->apps[k].ndomains; d++)
            free(e->apps[k].domains[d]);
    free(e);
}

int edge_running(const struct edge *e)
{
    return e->pid > 0 && kill(e->pid, 0) == 0;
}

static void watch_arm(struct edge *e, lws_usec_t delay);

static void on_proc_exit(void *arg, int status)
{
    struct edge *e = arg;
    e->proc = NULL;
    e->pid = 0;
    if (!e->stopping) {
        log_error(C, "HAProxy master exited (status %d); see %s; restarting in %d s", status, e->logfile,
                  e->restart_s > 0 ? e->restart_s : 1);
        watch_arm(e, (lws_usec_t)(e->restart_s > 0 ? e->restart_s : 1) * LWS_USEC_PER_SEC);
    }
}

/* pid from the pid file if that process is an haproxy */
static pid_t adoptable_pid(struct edge *e)
{
    char *text = NULL, *cmd = NULL, proc[64];
    size_t len;
    int64_t pid = 0;
    pid_t rc = 0;
    if (util_read_file(e->pidfile, 64, &text, &len) < 0)
        return 0;
    text[strcspn(text, "\n")] = '\0';
    if (util_parse_i64(text, &pid) == 0 && pid > 1) {
        snprintf(proc, sizeof proc, "/proc/%lld/cmdline", (long long)pid);
        if (util_read_file(proc, 8192, &cmd, &len) == 0 && strstr(cmd, "haproxy") && kill((pid_t)pid, 0) == 0)
            rc = (pid_t)pid;
    }
    free(text);
    free(cmd);
    return rc;
}

static void start_poll(lws_sorted_usec_list_t *sul);

static void start_answer(void *arg, int rc, const char *text)
{
    struct op *o = arg;
    if (!o->e)
        return;
    if (rc == 0 && strstr(text, "Pid:")) {
        op_finish(o, 0, "HAProxy is serving (master pid %ld)", (long)o->e->pid);
        return;
    }
    if (!o->e->pid || lws_now_usecs() > o->deadline) {
        op_finish(o, -1, "HAProxy did not come up; see %s", o->e->logfile);
        return;
    }
    lws_sul_schedule(o->e->ctx, 0, &o->sul, start_poll, POLL_US * 2);
}

static void start_poll(lws_sorted_usec_list_t *sul)
{
    struct op *o = lws_container_of(sul, struct op, sul);
    if (cmd_queue(o->e, 0, "show info", start_answer, o) < 0)
        op_finish(o, -1, "out of memory");
}

static int spawn_haproxy(struct edge *e, char *err, size_t errlen)
{
    char master[PATH_MAX + 16];
    struct child_spec s;
    int fd = open(e->logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int rc;
    snprintf(master, sizeof master, "%s,mode,600", e->master);
    char *argv[] = {e->haproxy, "-W", "-S", master, "-f", e->cfg, "-p", e->pidfile, NULL};
    memset(&s, 0, sizeof s);
    s.argv = argv;
    s.out_fd = fd;
    s.new_session = 1;  /* survives the runner's own signals and restarts */
    rc = child_start(e->ctx, e->vh, &s, NULL, on_proc_exit, e, &e->proc, err, errlen);
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        e->pid = child_pid(e->proc);
    return rc;
}

static void reload_start(struct op *o);

/* --- supervision: HAProxy gone (ours exited, an adopted one vanished)
 * -> started again from the config on disk, which names each app's
 * serving server (rewritten when a swap completes); 1 s, then doubling
 * up to 30 s while restarts fail. --- */

static int adopted_alive(struct edge *e)
{
    char proc[64], *st = NULL;
    size_t len;
    int alive;
    if (kill(e->pid, 0) < 0)
        return 0;
    snprintf(proc, sizeof proc, "/proc/%ld/stat", (long)e->pid);
    alive = util_read_file(proc, 4096, &st, &len) == 0 && !(strrchr(st, ')') && strrchr(st, ')')[2] == 'Z');
    free(st);
    return alive;
}

static void restarted(void *arg, int rc, const char *msg)
{
    struct edge *e = arg;
    e->restarting = 0;
    if (rc == 0) {
        log_info(C, "HAProxy restarted: %s", msg ? msg : "serving");
        e->restart_s = 0;
        watch_arm(e, WATCH_US);
        return;
    }
    e->restart_s = e->restart_s > 0 ? e->restart_s * 2 : 2;
    if (e->restart_s > RESTART_MAX_S)
        e->restart_s = RESTART_MAX_S;
    log_error(C, "HAProxy restart failed (%s); next try in %d s", msg ? msg : "no reason", e->restart_s);
    watch_arm(e, (lws_usec_t)e->restart_s * LWS_USEC_PER_SEC);
}

static void watch_tick(lws_sorted_usec_list_t *sul)
{
    struct edge *e = lws_container_of(sul, struct edge, sul_watch);
    if (e->stopping || e->restarting)
        return;
    if (e->pid > 0 && !e->proc && !adopted_alive(e)) {
        log_error(C, "the adopted HAProxy (master pid %ld) is gone; restarting", (long)e->pid);
        e->pid = 0;
    }
    if (e->pid <= 0) {
        e->restarting = 1;
        if (edge_start(e, restarted, e) < 0)
            restarted(e, -1, "cannot start");
        return;
    }
    watch_arm(e, WATCH_US);
}

static void watch_arm(struct edge *e, lws_usec_t delay)
{
    if (e->stopping)
        return;
    lws_sul_schedule(e->ctx, 0, &e->sul_watch, watch_tick, delay);
}

int edge_start(struct edge *e, edge_done_cb cb, void *arg)
{
    char err[256];
    int changed = 0;
    struct op *o;
    if (mkdir(e->dir, 0700) < 0 && errno != EEXIST)
        return -1;
    chmod(e->dir, 0700);
    if (write_config(e, &changed) < 0)
        return -1;
    o = op_new(e, OP_START, cb, arg);
    if (!o)
        return -1;
    o->deadline = lws_now_usecs() + START_WAIT_US;
    e->stopping = 0;
    if (!e->restarting)
        watch_arm(e, WATCH_US);
    if (e->pid <= 0 && (e->pid = adoptable_pid(e)) > 0) {
        log_info(C, "adopting the running HAProxy (master pid %ld)", (long)e->pid);
        if (changed) {
            o->kind = OP_RELOAD;
            reload_start(o);
            return 0;
        }
    } else if (e->pid <= 0) {
        unlink(e->admin);
        unlink(e->master);
        if (spawn_haproxy(e, err, sizeof err) < 0) {
            op_untrack(o);
            free(o);
            log_error(C, "cannot start HAProxy: %s", err);
            return -1;
        }
        log_info(C, "started HAProxy (master pid %ld)", (long)e->pid);
    }
    lws_sul_schedule(e->ctx, 0, &o->sul, start_poll, POLL_US);
    return 0;
}

static void stop_tick(lws_sorted_usec_list_t *sul)
{
    struct op *o = lws_container_of(sul, struct op, sul);
    struct edge *e = o->e;
    if (e->pid <= 0 || kill(e->pid, 0) < 0) {
        e->pid = 0;
        unlink(e->pidfile);
        op_finish(o, 0, "HAProxy stopped");
        return;
    }
    if (!o->step && lws_now_usecs() > o->deadline) {
        o->step = 1;
        kill(e->pid, SIGTERM);
    }
    if (!e->proc) {
        /* adopted: not our child, so no reaping; a zombie counts as gone */
        char proc[64], *st = NULL;
        size_t len;
        snprintf(proc, sizeof proc, "/proc/%ld/stat", (long)e->pid);
        if (util_read_file(proc, 4096, &st, &len) < 0 || (strrchr(st, ')') && strrchr(st, ')')[2] == 'Z')) {
            free(st);
            e->pid = 0;
            unlink(e->pidfile);
            op_finish(o, 0, "HAProxy stopped");
            return;
        }
        free(st);
    }
    lws_sul_schedule(e->ctx, 0, &o->sul, stop_tick, POLL_US);
}

int edge_stop(struct edge *e, edge_done_cb cb, void *arg)
{
    struct op *o;
    if (e->pid <= 0)
        e->pid = adoptable_pid(e);
    o = op_new(e, OP_STOP, cb, arg);
    if (!o)
        return -1;
    e->stopping = 1;
    lws_sul_cancel(&e->sul_watch);
    o->deadline = lws_now_usecs() + STOP_GRACE_US;
    if (e->pid > 0)
        kill(e->pid, SIGUSR1);  /* soft stop: finish what is in flight */
    lws_sul_schedule(e->ctx, 0, &o->sul, stop_tick, POLL_US);
    return 0;
}

/* --- reload: haproxy -c, master "reload", wait for the new worker --- */

static void reload_step(struct op *o);

static void reload_answer(void *arg, int rc, const char *text)
{
    struct op *o = arg;
    int reloads = 0, failed = 0;
    if (!o->e)
        return;
    switch (o->step) {
    case 1: /* show proc before */
        if (rc < 0 || edge_parse_master_line(text, &o->reloads_before, &o->failed_before) < 0) {
            op_finish(o, -1, "reload: cannot read the master's state: %s", rc < 0 ? text : "unexpected answer");
            return;
        }
        break;
    case 2: /* reload sent; the answer is empty */
        break;
    case 3: /* show proc after */
        if (rc == 0 && edge_parse_master_line(text, &reloads, &failed) == 0 && reloads > o->reloads_before) {
            if (failed > o->failed_before) {
                op_finish(o, -1, "reload failed; HAProxy keeps the previous config (see %s)", o->e->logfile);
                return;
            }
            o->step = 3;  /* next: show info (step 4) on the new worker */
            break;
        }
        if (lws_now_usecs() > o->deadline) {
            op_finish(o, -1, "reload did not complete in time");
            return;
        }
        o->step = 2;  /* ask again */
        break;
    case 4: /* show info on the new worker */
        if (rc == 0 && strstr(text, "Pid:")) {
            op_finish(o, 0, "HAProxy reloaded");
            return;
        }
        if (lws_now_usecs() > o->deadline) {
            op_finish(o, -1, "the new HAProxy worker does not answer");
            return;
        }
        o->step = 3;
        break;
    }
    reload_step(o);
}

static void reload_tick(lws_sorted_usec_list_t *sul)
{
    struct op *o = lws_container_of(sul, struct op, sul);
    int rc;
    o->step++;
    if (o->step == 2)
        rc = cmd_queue(o->e, 1, "reload", reload_answer, o);
    else if (o->step == 3)
        rc = cmd_queue(o->e, 1, "show proc", reload_answer, o);
    else
        rc = cmd_queue(o->e, 0, "show info", reload_answer, o);
    if (rc < 0)
        op_finish(o, -1, "out of memory");
}

static void reload_step(struct op *o)
{
    lws_sul_schedule(o->e->ctx, 0, &o->sul, reload_tick, o->step >= 2 ? POLL_US * 2 : 1);
}

static void check_output(void *arg, int stream, const char *data, size_t len)
{
    struct op *o = arg;
    size_t have = strlen(o->msg);
    if (o->e && have + 1 < sizeof o->msg) {
        size_t n = len < sizeof o->msg - have - 1 ? len : sizeof o->msg - have - 1;
        memcpy(o->msg + have, data, n);
        o->msg[have + n] = '\0';
    }
}

static void check_exit(void *arg, int status)
{
    struct op *o = arg;
    o->check = NULL;
    if (!o->e) {
        free(o);
        return;
    }
    if (status != 0) {
        char out[sizeof o->msg];
        util_strlcpy(out, o->msg, sizeof out);
        op_finish(o, -1, "haproxy -c refused the config: %s", out);
        return;
    }
    o->msg[0] = '\0';
    o->step = 0;
    o->deadline = lws_now_usecs() + START_WAIT_US;
    if (cmd_queue(o->e, 1, "show proc", reload_answer, o) < 0)
        op_finish(o, -1, "out of memory");
    else
        o->step = 1;
}

static void reload_start(struct op *o)
{
    struct edge *e = o->e;
    struct child_spec s;
    char err[256];
    char *argv[] = {e->haproxy, "-c", "-q", "-f", e->cfg, NULL};
    memset(&s, 0, sizeof s);
    s.argv = argv;
    s.capture = 1;
    s.out_fd = -1;
    s.timeout_s = 30;
    o->msg[0] = '\0';
    if (child_start(e->ctx, e->vh, &s, check_output, check_exit, o, &o->check, err, sizeof err) < 0)
        op_finish(o, -1, "cannot run haproxy -c: %s", err);
}

/* --- apps --- */

/* Replaces each map in o->sync in turn, atomically: `prepare map` gives a
 * new version, `add map @V` fills it, `commit map @V` swaps it in. Requests
 * see the old map or the new one, never a half-built one. */
static void sync_next(struct op *o);

static int sync_path(const struct op *o, char *out, size_t n)
{
    int t = o->sync[o->isync];
    return t > 0 ? map_path(o->e, t, out, n) : http_map_path(o->e, -t, out, n);
}

static void sync_answer(void *arg, int rc, const char *text)
{
    struct op *o = arg;
    if (!o->e)
        return;
    if (rc < 0 || !blank(text)) {
        o->fails++;
        log_warn(C, "map update: %.200s", text);
    }
    if (--o->pending == 0) {
        o->isync++;
        sync_next(o);
    }
}

static void sync_prepared(void *arg, int rc, const char *text)
{
    struct op *o = arg;
    char path[PATH_MAX], cmd[PATH_MAX + 512], *line, *save = NULL;
    struct buf b;
    int ver;
    if (!o->e)
        return;
    if (rc < 0 || sscanf(text, "New version created: %d", &ver) != 1 || sync_path(o, path, sizeof path) < 0) {
        op_finish(o, -1, "prepare map refused: %.200s", text);
        return;
    }
    buf_init(&b, 1 << 20);
    map_text(o->e, o->sync[o->isync] > 0 ? o->sync[o->isync] : 0, o->sync[o->isync] > 0 ? 0 : -o->sync[o->isync], &b);
    o->pending = 1;  /* the commit */
    for (line = b.data ? strtok_r(b.data, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        snprintf(cmd, sizeof cmd, "add map @%d %s %s", ver, path, line);
        o->pending += cmd_queue(o->e, 0, cmd, sync_answer, o) == 0;
    }
    buf_release(&b);
    snprintf(cmd, sizeof cmd, "commit map @%d %s", ver, path);
    if (cmd_queue(o->e, 0, cmd, sync_answer, o) < 0)
        o->pending--, o->fails++;
    if (o->pending == 0) {
        o->isync++;
        sync_next(o);
    }
}

static void sync_next(struct op *o)
{
    char path[PATH_MAX], cmd[PATH_MAX + 32];
    if (o->isync >= o->nsync) {
        if (o->fails)
            op_finish(o, -1, "%d map command(s) refused; see the runner log", o->fails);
        else if (o->kind == OP_CERT)
            op_finish(o, 0, "certificate for %s loaded at runtime, no reload", o->app);
        else
            op_finish(o, 0, "routes updated in %d map(s), no reload", o->nsync);
        return;
    }
    if (sync_path(o, path, sizeof path) < 0) {
        op_finish(o, -1, "map path too long");
        return;
    }
    snprintf(cmd, sizeof cmd, "prepare map %s", path);
    if (cmd_queue(o->e, 0, cmd, sync_prepared, o) < 0)
        op_finish(o, -1, "out of memory");
}

static void sync_add(struct op *o, int target)
{
    for (int k = 0; k < o->nsync; k++)
        if (o->sync[k] == target)
            return;
    if (o->nsync < (int)(sizeof o->sync / sizeof o->sync[0]))
        o->sync[o->nsync++] = target;
}

static void sync_start_tick(lws_sorted_usec_list_t *sul)
{
    sync_next(lws_container_of(sul, struct op, sul));
}

static void drop_domain(struct edge_app *a, const char *d)
{
    for (size_t k = 0; k < a->ndomains; k++)
        if (!strcmp(a->domains[k], d)) {
            free(a->domains[k]);
            a->domains[k] = a->domains[--a->ndomains];
            return;
        }
}

int edge_app_set(struct edge *e, const char *app, int port, const char *const *domains, size_t ndomains,
                 edge_done_cb cb, void *arg)
{
    struct edge_app *a;
    int changed = 0;
    struct op *o;

    /* an app without a port has its names only: it needs the shared frontend
     * (a known app may lose its last name: it keeps its backend, unrouted) */
    if (!name_ok(app, "-") || port < 0 || port > 65535 || ndomains > DOMAINS_MAX ||
        (port > 0 && port == e->http_port) || (port == 0 && (e->http_port == 0 || (!ndomains && !find_app(e, app)))))
        return -1;
    for (size_t k = 0; k < ndomains; k++)
        if (!domain_ok(domains[k]))
            return -1;
    for (size_t k = 0; k < e->napps; k++)  /* one default app per port */
        if (port > 0 && ndomains == 0 && e->apps[k].port == port && e->apps[k].ndomains == 0 &&
            strcmp(e->apps[k].name, app))
            return -1;
    a = find_app(e, app);
    if (!a && e->napps == APPS_MAX)
        return -1;
    o = op_new(e, OP_APP, cb, arg);
    if (!o)
        return -1;
    if (!a) {
        a = &e->apps[e->napps++];
        memset(a, 0, sizeof *a);
        util_strlcpy(a->name, app, sizeof a->name);
    }
    if (a->port > 0)
        sync_add(o, a->port);  /* its old port's map loses its names */
    for (size_t k = 0; k < a->ndomains; k++)
        free(a->domains[k]);
    a->port = port;
    a->ndomains = 0;
    for (size_t k = 0; k < ndomains; k++)
        if ((a->domains[a->ndomains] = strdup(domains[k])))
            a->ndomains++;
    /* A name is one app's: one that another app had moves here (berthd
     * keeps names unique per server; this keeps the maps unambiguous
     * whatever order the updates come in). */
    for (size_t j = 0; j < e->napps; j++)
        if (&e->apps[j] != a)
            for (size_t k = 0; k < a->ndomains; k++) {
                size_t before = e->apps[j].ndomains;
                drop_domain(&e->apps[j], a->domains[k]);
                if (e->apps[j].ndomains != before && e->apps[j].port > 0)
                    sync_add(o, e->apps[j].port);
            }
    if (a->ndomains && e->http_port > 0)
        e->http_on = 1;
    if (port > 0)
        sync_add(o, port);
    if (e->http_on) {
        sync_add(o, SYNC_EXACT);
        sync_add(o, SYNC_WILD);
        if (e->https_port) {
            sync_add(o, SYNC_REDIRECT);
            sync_add(o, SYNC_HSTS);
        }
    }
    if (write_config(e, &changed) < 0) {
        op_untrack(o);
        free(o);
        return -1;
    }
    if (!edge_running(e)) {
        op_finish_later(o, "config written (HAProxy not running)");
    } else if (changed) {
        o->kind = OP_RELOAD;  /* a new app, port or frontend: the config itself changed */
        reload_start(o);
    } else {
        lws_sul_schedule(e->ctx, 0, &o->sul, sync_start_tick, 1);  /* maps only, no reload */
    }
    return 0;
}

/* --- swap --- */

enum {
    SW_ADD = 1, SW_ENABLE, SW_DRAIN, SW_POLL, SW_MAINT, SW_SHUTDOWN, SW_DEL, SW_DONE,
    SW_UNDO_MAINT, SW_UNDO_DEL
};

static void swap_next(struct op *o);

static void swap_answer(void *arg, int rc, const char *text)
{
    struct op *o = arg;
    struct edge *e = o->e;
    struct edge_app *a;
    int n;
    if (!e)
        return;
    switch (o->step) {
    case SW_ADD:
        if (rc < 0 || !strstr(text, "New server registered")) {
            op_finish(o, -1, "add server %s: %.300s", o->server, text);
            return;
        }
        break;
    case SW_ENABLE:
        if (rc < 0 || !blank(text)) {
            util_strlcpy(o->msg, text, sizeof o->msg);
            o->step = SW_UNDO_MAINT - 1;  /* take the new one out again; old keeps serving */
        } else if (!o->old[0]) {
            o->step = SW_DONE - 1;
        }
        break;
    case SW_DRAIN:
        o->drain_start = lws_now_usecs();
        o->deadline = o->drain_start + (lws_usec_t)o->drain_limit_ms * 1000;
        break;
    case SW_POLL:
        n = rc == 0 ? edge_parse_stat_sessions(text, o->old) : -1;
        if (n == 0 || n < 0) {
            o->drained = n == 0;
            if (n < 0)
                log_warn(C, "swap %s: cannot read %s's sessions; not waiting", o->app, o->old);
        } else if (lws_now_usecs() < o->deadline) {
            o->drain_ms = (int64_t)(lws_now_usecs() - o->drain_start) / 1000;
            o->step = SW_POLL - 1;
            swap_next(o);
            return;
        } else {
            log_warn(C, "swap %s: %d sessions still on %s after the drain time", o->app, n, o->old);
        }
        o->drain_ms = (int64_t)(lws_now_usecs() - o->drain_start) / 1000;
        break;
    case SW_MAINT:
    case SW_SHUTDOWN:
        break;
    case SW_DEL:
        if (rc < 0 || !strstr(text, "Server deleted")) {
            if (++o->tries < DEL_TRIES) {
                o->step = SW_DEL - 1;  /* idle connections still attached: try again */
                swap_next(o);
                return;
            }
            log_warn(C, "swap %s: %s stays in maintenance: %.200s", o->app, o->old, text);
        }
        break;
    case SW_UNDO_MAINT:
        break;
    case SW_UNDO_DEL: {
        char why[sizeof o->msg];
        util_strlcpy(why, o->msg, sizeof why);
        op_finish(o, -1, "enable server %s failed (%.200s); the old server keeps serving", o->server, why);
        return;
    }
    }
    if (o->step == SW_DONE - 1 || o->step == SW_DEL) {
        a = find_app(e, o->app);
        if (a) {
            util_strlcpy(a->server, o->server, sizeof a->server);
            util_strlcpy(a->addr, o->addr, sizeof a->addr);
        }
        write_config(e, NULL);  /* a later reload or restart keeps the new server */
        op_finish(o, 0, o->drained || !o->old[0] ? NULL : "drain time ran out; old sessions were cut");
        return;
    }
    swap_next(o);
}

static void swap_tick(lws_sorted_usec_list_t *sul)
{
    struct op *o = lws_container_of(sul, struct op, sul);
    char cmd[512];
    char be[NAME_MAX_LEN + 8];
    snprintf(be, sizeof be, "app_%.*s", NAME_MAX_LEN, o->app);
    switch (o->step) {
    case SW_ADD:
        /* A dynamic server gets no idle-connection pool unless asked
         * (HAProxy 2.6: pool-max-conn 0, pool-purge-delay 0, where a
         * server from the config has -1 and 5 s): without these, every
         * request after a deploy opened a new connection to the app, and
         * bench/edge.sh measured a quarter of the keep-alive throughput. */
        snprintf(cmd, sizeof cmd, "add server %s/%s %s pool-max-conn -1 pool-purge-delay 5s", be, o->server,
                 o->addr);
        break;
    case SW_ENABLE:
        snprintf(cmd, sizeof cmd, "enable server %s/%s", be, o->server);
        break;
    case SW_DRAIN:
        snprintf(cmd, sizeof cmd, "set server %s/%s state drain", be, o->old);
        break;
    case SW_POLL:
        snprintf(cmd, sizeof cmd, "show stat %s 4 -1", be);
        break;
    case SW_MAINT:
        snprintf(cmd, sizeof cmd, "set server %s/%s state maint", be, o->old);
        break;
    case SW_SHUTDOWN:
        snprintf(cmd, sizeof cmd, "shutdown sessions server %s/%s", be, o->old);
        break;
    case SW_DEL:
        snprintf(cmd, sizeof cmd, "del server %s/%s", be, o->old);
        break;
    case SW_UNDO_MAINT:
        snprintf(cmd, sizeof cmd, "set server %s/%s state maint", be, o->server);
        break;
    case SW_UNDO_DEL:
        snprintf(cmd, sizeof cmd, "del server %s/%s", be, o->server);
        break;
    default:
        op_finish(o, -1, "swap: bad state");
        return;
    }
    if (cmd_queue(o->e, 0, cmd, swap_answer, o) < 0)
        op_finish(o, -1, "out of memory");
}

static void swap_next(struct op *o)
{
    lws_usec_t delay = 1;
    o->step++;
    if (o->step == SW_POLL && o->polls++)
        delay = POLL_US;
    else if (o->step == SW_DEL && o->tries)
        delay = 2 * POLL_US;
    lws_sul_schedule(o->e->ctx, 0, &o->sul, swap_tick, delay);
}

int edge_swap(struct edge *e, const char *app, const char *server, const char *addr, int drain_ms, edge_swap_cb cb,
              void *arg)
{
    struct edge_app *a = app ? find_app(e, app) : NULL;
    struct op *o;
    if (!a || !name_ok(server, "-_.") || !addr_ok(addr) || !edge_running(e))
        return -1;
    if (!strcmp(a->server, server))
        return -1;  /* a server name is used once: one per deployment */
    o = op_new(e, OP_SWAP, NULL, arg);
    if (!o)
        return -1;
    o->swap_done = cb;
    util_strlcpy(o->app, app, sizeof o->app);
    util_strlcpy(o->server, server, sizeof o->server);
    util_strlcpy(o->addr, addr, sizeof o->addr);
    util_strlcpy(o->old, a->server, sizeof o->old);
    o->drain_limit_ms = drain_ms > 0 ? drain_ms : 0;
    o->drained = !o->old[0];
    log_info(C, "swap %s: %s -> %s (%s)", app, o->old[0] ? o->old : "(none)", server, addr);
    swap_next(o);
    return 0;
}

/* --- certificates at runtime --- */

int edge_app_tls(struct edge *e, const char *app, int redirect, int hsts)
{
    struct edge_app *a = find_app(e, app);
    int changed;
    if (!a)
        return 0;
    changed = a->no_redirect != !redirect || a->hsts != (hsts != 0);
    a->no_redirect = !redirect;
    a->hsts = hsts != 0;
    return changed;
}

void edge_app_tls_apply(struct edge *e, const char *app, int redirect, int hsts)
{
    struct op *o;
    if (!edge_app_tls(e, app, redirect, hsts) || !e->http_on || !e->https_port)
        return;
    if (write_maps(e) < 0)
        log_warn(C, "cannot write the HTTPS maps of %s", app);
    if (!edge_running(e) || !(o = op_new(e, OP_APP, NULL, NULL)))
        return;
    sync_add(o, SYNC_REDIRECT);
    sync_add(o, SYNC_HSTS);
    lws_sul_schedule(e->ctx, 0, &o->sul, sync_start_tick, 1);
}

/* o->app: the host name; o->tries: 1 when it was listed already (only set
 * + commit); o->step: answers so far; o->polls: commands queued. */
static void cert_answer(void *arg, int rc, const char *text)
{
    struct op *o = arg;
    static const char *const first[] = {"new", "set", "commit", "add"};
    static const char *const again[] = {"set", "commit"};
    const char *what;
    int ok;
    if (!o->e)
        return;
    what = o->tries ? again[o->step < 2 ? o->step : 1] : first[o->step < 4 ? o->step : 3];
    if (!strcmp(what, "new"))
        ok = rc == 0 && (strstr(text, "New empty certificate store") || strstr(text, "already exists"));
    else if (!strcmp(what, "set"))
        ok = rc == 0 && strstr(text, "Transaction") != NULL;
    else
        ok = rc == 0 && strstr(text, "Success!") != NULL;
    if (!ok && !o->fails) {
        o->fails++;
        snprintf(o->msg, sizeof o->msg, "%s ssl cert refused: %.200s", what, text);
    }
    if (++o->step < o->polls)
        return;
    if (o->fails) {
        char why[sizeof o->msg];
        util_strlcpy(why, o->msg, sizeof why);
        char path[PATH_MAX];
        if (edge_cert_path(o->e, o->app, path, sizeof path) == 0) {
            char cmd[PATH_MAX + 32];
            snprintf(cmd, sizeof cmd, "abort ssl cert %s", path);
            cmd_queue(o->e, 0, cmd, NULL, NULL);
        }
        op_finish(o, -1, "certificate for %s not loaded: %s", o->app, why);
        return;
    }
    if (!o->tries && (cert_add_name(o->e, o->app) < 0 || write_certs_list(o->e) < 0))
        log_warn(C, "cannot record %s in %s: a restart of HAProxy would not serve it", o->app, o->e->certs_list);
    o->msg[0] = '\0';
    o->nsync = o->isync = 0;
    o->fails = 0;
    sync_add(o, SYNC_REDIRECT);
    sync_next(o);
}

int edge_cert_install(struct edge *e, const char *name, const char *pem, size_t len, edge_done_cb cb, void *arg)
{
    char path[PATH_MAX], *clean, *text = NULL;
    size_t n = 0;
    struct op *o;
    int listed, rc = -1;
    if (!name || !domain_ok(name) || strlen(name) > 253 || !pem || !len ||
        len > X509_PEM_MAX || memchr(pem, '\0', len) || !e->https_port || !x509_pair_ok(pem, len) ||
        edge_cert_path(e, name, path, sizeof path) < 0 || tls_files(e) < 0)
        return -1;
    /* the payload ends at the first empty line: none inside, '\n' at the end */
    if (!(clean = malloc(len + 2)))
        return -1;
    for (size_t k = 0; k < len; k++) {
        if (pem[k] == '\r' || (pem[k] == '\n' && (n == 0 || clean[n - 1] == '\n')))
            continue;
        clean[n++] = pem[k];
    }
    if (n && clean[n - 1] != '\n')
        clean[n++] = '\n';
    clean[n] = '\0';
    if (util_write_file_atomic(path, clean, n, 0600) < 0)
        goto done;
    listed = edge_cert_has(e, name);
    if (!(o = op_new(e, OP_CERT, cb, arg)))
        goto done;
    util_strlcpy(o->app, name, sizeof o->app);
    o->tries = listed;
    rc = 0;
    if (!edge_running(e)) {  /* HAProxy reads certs.list when it starts */
        if (!listed && (cert_add_name(e, name) < 0 || write_certs_list(e) < 0))
            rc = -1;
        if (rc == 0)
            write_config(e, NULL);
        if (rc < 0) {
            op_untrack(o);
            free(o);
        } else {
            op_finish_later(o, "certificate written (HAProxy not running)");
        }
        goto done;
    }
    if (asprintf(&text, "set ssl cert %s <<\n%s", path, clean) < 0) {
        text = NULL;
        op_untrack(o);
        free(o);
        rc = -1;
        goto done;
    }
    char cmd[PATH_MAX * 2 + 32];
    if (!listed) {
        snprintf(cmd, sizeof cmd, "new ssl cert %s", path);
        o->polls += cmd_queue(e, 0, cmd, cert_answer, o) == 0;
    }
    o->polls += cmd_queue(e, 0, text, cert_answer, o) == 0;
    snprintf(cmd, sizeof cmd, "commit ssl cert %s", path);
    o->polls += cmd_queue(e, 0, cmd, cert_answer, o) == 0;
    if (!listed) {
        snprintf(cmd, sizeof cmd, "add ssl crt-list %s %s", e->certs_list, path);
        o->polls += cmd_queue(e, 0, cmd, cert_answer, o) == 0;
    }
    if (o->polls != (listed ? 2 : 4)) {
        o->fails++;
        util_strlcpy(o->msg, "out of memory", sizeof o->msg);
        if (!o->polls)
            op_finish_later(o, "certificate not loaded: out of memory"), o->tries = -1;
    }
done:
    if (clean) {
        memset(clean, 0, n);  /* the key */
        free(clean);
    }
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    return rc;
}
