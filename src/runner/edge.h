/* edge.h - the runner's edge proxy: one HAProxy 2.6 in master-worker mode
 * per host, its generated config, and its runtime API.
 *
 * HAProxy runs as `haproxy -W -S DIR/master.sock -f DIR/haproxy.cfg -p
 * DIR/haproxy.pid` in its own session (so it outlives a runner restart
 * and is adopted again from the pid file). DIR (0700) also holds the
 * admin-level stats socket DIR/admin.sock (mode 0600), one Host-header map
 * per public port (DIR/port-N.map), the shared frontend's maps
 * (DIR/http.map for exact names, DIR/http-wild.map for "*.suffix" names,
 * matched with map_end, longest suffix first; exact names win) and
 * haproxy.log.
 *
 * The shared frontend "http" listens on http_port (80 by default in the
 * runner) once an app has domains, routes by Host header through those
 * maps, and answers 404 for a name no app has (backend berth_no_app).
 *
 * Each app is a backend "app_<name>" (balance roundrobin) behind a
 * frontend "port_<N>": the app with no domains is the port's default
 * backend, apps with domains are chosen by the map. A swap uses runtime
 * commands only (add server, enable server, drain, wait for the old
 * server's sessions to reach 0, maint, shutdown sessions, del server)
 * and never reloads; the config file is rewritten after it so a later
 * reload or restart starts from the same state. A reload (master socket
 * `reload`, after `haproxy -c`) happens only when the config file changes
 * (a port, an app, a port's default app, the shared frontend's first
 * appearance); name changes replace the maps at runtime (prepare map,
 * add map @version, commit map).
 *
 * Every operation is non-blocking on the lws loop and calls back once.
 */
#ifndef BERTH_RUNNER_EDGE_H
#define BERTH_RUNNER_EDGE_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

struct edge;

struct edge_options {
    const char *dir;               /* state directory for the files above */
    const char *haproxy;           /* NULL: "haproxy" from PATH */
    const char *bind_addr;         /* NULL: all addresses */
    int http_port;                 /* the shared by-name frontend, 0: none */
    int https_port;                /* its HTTPS twin (needs http_port), 0: none */
    int acme_port;                 /* loopback port of the ACME client's HTTP-01
                                    * listener, 0: no challenge route */
};

typedef void (*edge_done_cb)(void *arg, int rc, const char *msg);
/* text: the runtime API's answer (rc 0) or the reason it failed (rc < 0) */
typedef void (*edge_reply_cb)(void *arg, int rc, const char *text);

struct edge_swap_report {
    int64_t drain_ms;              /* waiting for the old server's sessions */
    int64_t total_ms;
    int drained;                   /* 1: reached 0 sessions; 0: drain time ran out */
};
typedef void (*edge_swap_cb)(void *arg, int rc, const struct edge_swap_report *rep, const char *msg);

/* Raw unix-socket client for the runtime API; the vhost must list it, and
 * child_pipe_protocol for `haproxy -c`. */
extern const struct lws_protocols edge_protocol;

int edge_new(struct lws_context *ctx, struct lws_vhost *vh, const struct edge_options *o, struct edge **out);
/* Frees the client state; HAProxy keeps running (and serving). */
void edge_free(struct edge *e);

/* Reads the apps, their ports, domains and live servers back from
 * DIR/haproxy.cfg and the port maps (a restarted runner): 0, or -1 if the
 * config exists but cannot be read. Does nothing once apps are known. */
int edge_load(struct edge *e);
/* The server an app's backend routes to now (and its "ip:port" in *addr),
 * or NULL (no such app, or no server yet). */
const char *edge_app_server(const struct edge *e, const char *app, const char **addr);

/* The app's public port (0: none), or -1 when the edge does not know it. */
int edge_app_port(const struct edge *e, const char *app);

/* Starts HAProxy (or adopts the one in DIR/haproxy.pid) and calls back once
 * its admin socket answers. */
int edge_start(struct edge *e, edge_done_cb cb, void *arg);
/* Soft-stops HAProxy (SIGUSR1, SIGTERM 10 s later) and calls back once the
 * master is gone. */
int edge_stop(struct edge *e, edge_done_cb cb, void *arg);
int edge_running(const struct edge *e);

/* Declares or changes an app's public port (0: none) and domains (app: a
 * slug; an app needs one of the two). Domains are lower-case host names or
 * "*.suffix"; a name another app had moves to this one. They are routed on
 * the app's public port and on the shared frontend (http_port). Reloads
 * only when the config file changes (a new app, a new port, the shared
 * frontend's first appearance); otherwise each map touched is replaced
 * atomically at runtime (prepare/add/commit map). */
int edge_app_set(struct edge *e, const char *app, int port, const char *const *domains, size_t ndomains,
                 edge_done_cb cb, void *arg);
/* Routes app to server (a name, [A-Za-z0-9_.-]) at addr ("ip:port"),
 * draining the current server for up to drain_ms. */
int edge_swap(struct edge *e, const char *app, const char *server, const char *addr, int drain_ms, edge_swap_cb cb,
              void *arg);
/* One runtime API command (a single line, no ';'). */
int edge_command(struct edge *e, const char *cmd, edge_reply_cb cb, void *arg);

/* --- HTTPS (edge_tls in edge.c) ---
 * The "https" frontend (once the "http" one exists, when https_port > 0):
 * `bind ... ssl crt DIR/default.pem crt-list DIR/certs.list alpn
 * h2,http/1.1`, the same maps. DIR/default.pem is a self-signed
 * certificate made once (certs.c); each served certificate is
 * DIR/certs/<name>.pem (0600, chain + key), listed in certs.list. */

/* Installs (or replaces) the certificate for one host name: writes the file
 * and, HAProxy running, `new ssl cert` (first time) / `set ssl cert` +
 * `commit ssl cert` / `add ssl crt-list` (first time), then the redirect
 * map. No reload. pem: the chain then the key, capped at 64 KiB. */
int edge_cert_install(struct edge *e, const char *name, const char *pem, size_t len, edge_done_cb cb, void *arg);
/* Stops serving name's certificate (a name no app has any more, or an
 * uploaded certificate removed): out of certs.list, `del ssl crt-list` +
 * `del ssl cert` while HAProxy runs, its file removed. No reload. */
void edge_cert_remove(struct edge *e, const char *name);
/* 1 when a certificate for name is served (listed in certs.list). */
int edge_cert_has(const struct edge *e, const char *name);
/* The names with a certificate file, in turn (i from 0; NULL at the end). */
const char *edge_cert_name(const struct edge *e, size_t i);
/* The app ("a<id>") that has name among its domains, or NULL. */
const char *edge_domain_app(const struct edge *e, const char *name);
/* An app's HTTPS options: redirect HTTP to HTTPS for its names that have a
 * certificate (default 1), send HSTS on HTTPS (default 0). Applied with
 * the next edge_app_set (or edge_cert_install) by map. */
int edge_app_tls(struct edge *e, const char *app, int redirect, int hsts);  /* 1: changed */
/* The same, and when that changed them, the two maps replaced now (for an
 * app the edge took in with default options: its first deploy). */
void edge_app_tls_apply(struct edge *e, const char *app, int redirect, int hsts);
/* Path of DIR/certs/<name>.pem into out. */
int edge_cert_path(const struct edge *e, const char *name, char *out, size_t n);

/* The config file for the current state (malloc'ed); for tests and docs. */
char *edge_render_config(const struct edge *e);

#endif
