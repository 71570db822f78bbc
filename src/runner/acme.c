/* acme.c - certificates for the edge's HTTPS names by ACME HTTP-01.
 *
 * lego (Debian's, 4.9) runs as a child through child.c with an explicit
 * argv (no shell, nothing secret in it: the account key and certificate
 * keys are files under STATE/acme, 0700) and an environment built from
 * scratch (LEGO_CA_CERTIFICATES when berthd gave a CA for the directory).
 * Its HTTP-01 listener is 127.0.0.1:--acme-http-port, which the edge's
 * port-80 frontend routes /.well-known/acme-challenge/ to. One lego at a
 * time; a failure is retried with backoff (1 min doubling to 6 h). An
 * issued certificate is loaded into HAProxy at runtime (edge_cert_install).
 * Each change is reported to berthd as a "domain.cert" frame; lego's
 * output is hostile text: capped, cut to its last error, printable only.
 *
 * Owns: struct acme (created on the first name that wants a certificate,
 * or at start when the edge serves some), its queue items, the lego child.
 */
#include "acme.h"

#include "certs.h"
#include "x509.h"
#include "child.h"
#include "edge.h"
#include "log.h"
#include "proto.h"
#include "runner.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define C "acme"
#define OUT_MAX 8192
#define LEGO_TIMEOUT_S 300
#define RETRY_MIN_S 60
#define RETRY_MAX_S (6 * 3600)
#define CHECK_US ((lws_usec_t)12 * 3600 * LWS_USEC_PER_SEC)
#define QUEUE_MAX 256

struct acme_item {
    struct acme_item *next;
    char name[254];
    char app_id[24];
    int renewal;
    int tries;
    int waits;                     /* turns waited for the edge to route it */
    lws_usec_t not_before;
};

struct acme {
    struct runner *r;
    char dir[PATH_MAX];            /* STATE/acme */
    char directory[PROTO_ACME_URL_MAX + 1];
    char email[PROTO_ACME_EMAIL_MAX + 1];
    int has_ca;                    /* STATE/acme/ca.pem */
    struct acme_item *queue;
    size_t nqueue;
    struct acme_item *cur;         /* lego runs for it */
    struct child *child;
    char *out;                     /* lego's output tail (OUT_MAX), only while it runs */
    size_t outlen;
    lws_sorted_usec_list_t sul_run, sul_check;
};

static void run_arm(struct acme *a, lws_usec_t delay);

static void report(struct runner *r, const char *app_id, const char *name, enum proto_cert_status st, int renewal,
                   int64_t expires, const char *issuer, const char *error)
{
    struct proto_domain_cert c = {.app_id = app_id, .name = name, .status = st, .renewal = renewal,
                                  .expires_at = expires, .issuer = issuer, .error = error};
    json_t *m = proto_domain_cert(&c);
    if (st == PROTO_CERT_FAILED)
        log_warn(C, "%s: %s", name, error ? error : "failed");
    else
        log_info(C, "%s: %s%s", name, proto_cert_status_name(st), renewal ? " (renewal)" : "");
    if (m && link_ready(r))
        link_send(r, m);
    json_decref(m);
}

static int path_in(const struct acme *a, const char *name, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/%s", a->dir, name);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

static void config_save(struct acme *a)
{
    json_t *j = json_pack("{s:s, s:s}", "directory", a->directory, "email", a->email);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL, path[PATH_MAX];
    if (text && path_in(a, "config.json", path, sizeof path) == 0)
        util_write_file_atomic(path, text, strlen(text), 0600);
    free(text);
    json_decref(j);
}

static void config_load(struct acme *a)
{
    char path[PATH_MAX], *text = NULL;
    size_t len;
    json_t *j;
    struct proto_acme_spec s;
    char err[128];
    if (path_in(a, "config.json", path, sizeof path) < 0 || util_read_file(path, 4096, &text, &len) < 0)
        return;
    j = json_loads(text, 0, NULL);
    free(text);
    json_t *wrap = j ? json_pack("{s:O}", "acme", j) : NULL;
    if (wrap && proto_parse_acme_spec(wrap, &s, err, sizeof err) == 0 && s.directory) {
        util_strlcpy(a->directory, s.directory, sizeof a->directory);
        util_strlcpy(a->email, s.email, sizeof a->email);
    }
    json_decref(wrap);
    json_decref(j);
    a->has_ca = path_in(a, "ca.pem", path, sizeof path) == 0 && access(path, R_OK) == 0;
}

static struct acme *acme_get(struct runner *r)
{
    struct acme *a = r->acme;
    if (a)
        return a;
    if (!(a = calloc(1, sizeof *a)))
        return NULL;
    a->r = r;
    if (state_path(r, "acme", a->dir, sizeof a->dir) < 0 || strlen(a->dir) > PATH_MAX - 300 ||
        (mkdir(a->dir, 0700) < 0 && errno != EEXIST)) {
        free(a);
        return NULL;
    }
    chmod(a->dir, 0700);
    config_load(a);
    r->acme = a;
    return a;
}

int acme_spec(struct runner *r, const char *app, json_t *spec, char *err, size_t errlen)
{
    struct proto_acme_spec s;
    int redirect, hsts;
    struct acme *a;
    char path[PATH_MAX];
    if (proto_parse_acme_spec(spec, &s, err, errlen) < 0 || proto_parse_tls_flags(spec, &redirect, &hsts, err, errlen) < 0)
        return -1;
    if (r->edge)
        edge_app_tls(r->edge, app, redirect, hsts);
    if (!s.directory || !r->edge_https_port || !r->edge_http_port)
        return 0;
    if (!(a = acme_get(r)))
        return 0;
    if (strcmp(a->directory, s.directory) || strcmp(a->email, s.email)) {
        util_strlcpy(a->directory, s.directory, sizeof a->directory);
        util_strlcpy(a->email, s.email, sizeof a->email);
        config_save(a);
    }
    if (path_in(a, "ca.pem", path, sizeof path) == 0) {
        if (s.ca_pem)
            a->has_ca = util_write_file_atomic(path, s.ca_pem, strlen(s.ca_pem), 0600) == 0;
        else if (a->has_ca)
            unlink(path), a->has_ca = 0;
    }
    return 0;
}

static int is_wild(const char *n)
{
    return n[0] == '*' && n[1] == '.';
}

/* seconds the certificate served for name is still valid, or -1 */
static int64_t cert_left(struct runner *r, const char *name, char *issuer, size_t n, int64_t *expires)
{
    char path[PATH_MAX], *pem = NULL;
    size_t len;
    int64_t na = 0;
    if (!r->edge || edge_cert_path(r->edge, name, path, sizeof path) < 0 ||
        util_read_file(path, X509_PEM_MAX, &pem, &len) < 0)
        return -1;
    if (x509_info(pem, len, &na, issuer, n) < 0)
        na = 0;
    memset(pem, 0, len);
    free(pem);
    if (expires)
        *expires = na;
    return na ? na - (int64_t)time(NULL) : -1;
}

static void enqueue(struct acme *a, const char *app_id, const char *name, int renewal)
{
    struct acme_item *it, **pp;
    if ((a->cur && !strcmp(a->cur->name, name)))
        return;
    for (it = a->queue; it; it = it->next)
        if (!strcmp(it->name, name)) {
            util_strlcpy(it->app_id, app_id, sizeof it->app_id);
            it->not_before = 0;  /* asked again: try now */
            run_arm(a, LWS_USEC_PER_SEC);
            return;
        }
    if (a->nqueue >= QUEUE_MAX || !(it = calloc(1, sizeof *it)))
        return;
    util_strlcpy(it->name, name, sizeof it->name);
    util_strlcpy(it->app_id, app_id, sizeof it->app_id);
    it->renewal = renewal;
    for (pp = &a->queue; *pp; pp = &(*pp)->next)
        ;
    *pp = it;
    a->nqueue++;
    report(a->r, app_id, name, PROTO_CERT_PENDING, renewal, 0, NULL, NULL);
    run_arm(a, LWS_USEC_PER_SEC);  /* after the edge applied the names */
}

static int uploaded(struct runner *r, const char *app_id, const char *name);

/* "<the edge's file for name>.uploaded": the certificate served for name
 * came from an upload (so its removal is seen when the upload is gone). */
static int marker_path(struct runner *r, const char *name, char *out, size_t n)
{
    char pem[PATH_MAX];
    if (edge_cert_path(r->edge, name, pem, sizeof pem) < 0)
        return -1;
    int w = snprintf(out, n, "%s.uploaded", pem);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

static void drop(struct runner *r, const char *name, const char *why)
{
    char m[PATH_MAX];
    log_info(C, "%s: %s: its certificate is no longer served", name, why);
    if (marker_path(r, name, m, sizeof m) == 0)
        unlink(m);
    edge_cert_remove(r->edge, name);
}

/* Certificates the edge serves for names no app on it has any more are
 * dropped (a domain removed, an app deleted or moved). */
static void prune(struct runner *r)
{
    const char *name;
    for (size_t k = 0; (name = edge_cert_name(r->edge, k));) {
        if (edge_domain_app(r->edge, name)) {
            k++;
            continue;
        }
        char copy[256];
        util_strlcpy(copy, name, sizeof copy);
        drop(r, copy, "no app has this name any more");
    }
}

void acme_want(struct runner *r, const char *app_id, const char *const *names, size_t n)
{
    struct acme *a;
    if (!r->edge || !r->edge_http_port)
        return;
    for (size_t k = 0; k < n && !r->edge_https_port; k++)
        report(r, app_id, names[k], PROTO_CERT_FAILED, 0, 0, NULL,
               "HTTPS is off on this server (berth-runner --edge-https-port 0)");
    prune(r);
    for (size_t k = 0; k < n && r->edge_https_port; k++) {
        char issuer[PROTO_CERT_ISSUER_MAX + 1], m[PATH_MAX];
        int64_t expires = 0, left;
        if (uploaded(r, app_id, names[k]))
            continue;
        if (marker_path(r, names[k], m, sizeof m) == 0 && access(m, F_OK) == 0)
            drop(r, names[k], "its uploaded certificate was removed");
        if (is_wild(names[k])) {
            report(r, app_id, names[k], PROTO_CERT_FAILED, 0, 0, NULL,
                   "HTTP-01 cannot issue a wildcard; upload a certificate");
            continue;
        }
        left = cert_left(r, names[k], issuer, sizeof issuer, &expires);
        if (left > (int64_t)r->acme_renew_days * 86400 && edge_cert_has(r->edge, names[k])) {
            report(r, app_id, names[k], PROTO_CERT_ISSUED, 0, expires, issuer, NULL);
            continue;
        }
        if (!(a = acme_get(r)))
            return;
        if (!a->directory[0]) {
            report(r, app_id, names[k], PROTO_CERT_FAILED, 0, 0, NULL,
                   "no ACME directory is configured (berthd --acme-directory)");
            continue;
        }
        enqueue(a, app_id, names[k], left >= 0);
    }
}

/* --- running lego --- */

static void on_output(void *arg, int stream, const char *data, size_t len)
{
    struct acme *a = arg;
    (void)stream;
    if (!a->out)
        return;
    if (len >= OUT_MAX) {
        data += len - (OUT_MAX - 1);
        len = OUT_MAX - 1;
    }
    if (a->outlen + len >= OUT_MAX) {  /* keep the tail: the error is last */
        size_t drop = a->outlen + len - (OUT_MAX - 1);
        memmove(a->out, a->out + drop, a->outlen - drop);
        a->outlen -= drop;
    }
    memcpy(a->out + a->outlen, data, len);
    a->outlen += len;
    a->out[a->outlen] = '\0';
}

/* lego's reason: from its last "Could not obtain" (or the last lines),
 * log prefixes dropped, printable ASCII, at most PROTO_CERT_ERROR_MAX. */
static void lego_reason(const struct acme *a, int status, char *out, size_t n)
{
    const char *s = a->out ? a->out : "", *p;
    size_t k = 0;
    for (p = s; (p = strstr(p, "Could not obtain")) != NULL; s = p++)
        ;
    if (a->out && s == a->out && a->outlen > 600)
        s = a->out + a->outlen - 600;
    for (; *s && k + 1 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n' || ch == '\t')
            ch = ' ';
        if (ch < 0x20 || ch > 0x7e)
            continue;
        if (ch == ' ' && k && out[k - 1] == ' ')
            continue;
        out[k++] = (char)ch;
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
    if (!k)
        snprintf(out, n, "lego exited with status %d", status);
}

struct loaded {
    struct runner *r;
    char app_id[24], name[254];
    int renewal;
};

static void cert_loaded(void *arg, int rc, const char *msg)
{
    struct loaded *l = arg;
    char issuer[PROTO_CERT_ISSUER_MAX + 1] = "";
    int64_t expires = 0;
    if (rc < 0) {
        report(l->r, l->app_id, l->name, PROTO_CERT_FAILED, l->renewal, 0, NULL,
               msg ? msg : "the edge did not load the certificate");
    } else {
        cert_left(l->r, l->name, issuer, sizeof issuer, &expires);
        report(l->r, l->app_id, l->name, PROTO_CERT_ISSUED, l->renewal, expires, issuer[0] ? issuer : "unknown",
               NULL);
    }
    free(l);
}

/* An uploaded certificate for the app's name (certs.c wrote it from the
 * job's frame) is served instead of one by ACME, and is the only way to
 * a wildcard: loaded when it differs from what the edge serves, reported
 * issued (with its own issuer and expiry) once the edge has it. 1 when
 * the name has one, 0 when not. */
static int uploaded(struct runner *r, const char *app_id, const char *name)
{
    char up[PATH_MAX], cur[PATH_MAX], issuer[PROTO_CERT_ISSUER_MAX + 1] = "";
    char *pem = NULL, *have = NULL;
    size_t len = 0, hlen = 0;
    int64_t expires = 0;
    struct loaded *l;
    if (certs_path(r, app_id, name, up, sizeof up) < 0)
        return 0;
    if (util_read_file(up, X509_PEM_MAX, &pem, &len) < 0) {
        report(r, app_id, name, PROTO_CERT_FAILED, 0, 0, NULL,
               "the uploaded certificate cannot be read on the server");
        return 1;
    }
    char m[PATH_MAX];
    if (marker_path(r, name, m, sizeof m) < 0 || util_write_file_atomic(m, "", 0, 0600) < 0)
        log_warn(C, "%s: cannot mark its certificate as uploaded", name);
    if (edge_cert_has(r->edge, name) && edge_cert_path(r->edge, name, cur, sizeof cur) == 0 &&
        util_read_file(cur, X509_PEM_MAX, &have, &hlen) == 0 && hlen == len && !memcmp(have, pem, len)) {
        cert_left(r, name, issuer, sizeof issuer, &expires);
        report(r, app_id, name, PROTO_CERT_ISSUED, 0, expires, issuer[0] ? issuer : "unknown", NULL);
    } else if (!(l = calloc(1, sizeof *l))) {
        report(r, app_id, name, PROTO_CERT_FAILED, 0, 0, NULL, "out of memory");
    } else {
        l->r = r;
        util_strlcpy(l->app_id, app_id, sizeof l->app_id);
        util_strlcpy(l->name, name, sizeof l->name);
        if (edge_cert_install(r->edge, name, pem, len, cert_loaded, l) < 0) {
            free(l);
            report(r, app_id, name, PROTO_CERT_FAILED, 0, 0, NULL,
                   "the edge did not take the uploaded certificate");
        }
    }
    if (have)
        memset(have, 0, hlen);
    memset(pem, 0, len);
    free(have);
    free(pem);
    return 1;
}

/* lego's files -> chain + key -> the edge */
static int install(struct acme *a, struct acme_item *it, char *why, size_t n)
{
    char crt[PATH_MAX], key[PATH_MAX], *c = NULL, *k = NULL, *pem = NULL;
    size_t clen = 0, klen = 0;
    struct loaded *l = NULL;
    int rc = -1;
    if (snprintf(crt, sizeof crt, "%.3800s/lego/certificates/%.253s.crt", a->dir, it->name) < 0 ||
        snprintf(key, sizeof key, "%.3800s/lego/certificates/%.253s.key", a->dir, it->name) < 0 ||
        util_read_file(crt, X509_PEM_MAX / 2, &c, &clen) < 0 || util_read_file(key, X509_PEM_MAX / 2, &k, &klen) < 0) {
        snprintf(why, n, "lego succeeded but its certificate files cannot be read");
        goto done;
    }
    if (!(pem = malloc(clen + klen + 2)))
        goto done;
    memcpy(pem, c, clen);
    pem[clen] = '\n';
    memcpy(pem + clen + 1, k, klen);
    pem[clen + 1 + klen] = '\0';
    if (!(l = calloc(1, sizeof *l)))
        goto done;
    l->r = a->r;
    util_strlcpy(l->app_id, it->app_id, sizeof l->app_id);
    util_strlcpy(l->name, it->name, sizeof l->name);
    l->renewal = it->renewal;
    if (edge_cert_install(a->r->edge, it->name, pem, clen + 1 + klen, cert_loaded, l) < 0) {
        snprintf(why, n, "the certificate lego wrote is not a usable chain and key");
        free(l);
        goto done;
    }
    rc = 0;
done:
    if (k)
        memset(k, 0, klen);
    if (pem)
        memset(pem, 0, clen + klen + 2);
    free(c);
    free(k);
    free(pem);
    return rc;
}

static void on_exit_lego(void *arg, int status)
{
    struct acme *a = arg;
    struct acme_item *it = a->cur;
    char why[PROTO_CERT_ERROR_MAX + 1];
    a->child = NULL;
    a->cur = NULL;
    if (!it)
        return;
    if (status == 0 && install(a, it, why, sizeof why) == 0) {
        free(it);
    } else {
        if (status != 0)
            lego_reason(a, status, why, sizeof why);
        report(a->r, it->app_id, it->name, PROTO_CERT_FAILED, it->renewal, 0, NULL, why);
        int64_t wait = RETRY_MIN_S;
        for (int t = 0; t < it->tries && wait < RETRY_MAX_S; t++)
            wait *= 2;
        it->tries++;
        it->not_before = lws_now_usecs() + (lws_usec_t)(wait > RETRY_MAX_S ? RETRY_MAX_S : wait) * LWS_USEC_PER_SEC;
        it->next = a->queue;  /* back in the queue, for later */
        a->queue = it;
        a->nqueue++;
    }
    free(a->out);
    a->out = NULL;
    a->outlen = 0;
    run_arm(a, 1);
}

static int start_lego(struct acme *a, struct acme_item *it, char *err, size_t n)
{
    char path[PATH_MAX], listen[32], ca[PATH_MAX];
    char **env = child_env_base();
    struct child_spec s;
    int rc;
    snprintf(path, sizeof path, "%.4000s/lego", a->dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", a->r->acme_http_port);
    char *argv[20];
    int k = 0;
    argv[k++] = "lego";
    argv[k++] = "--accept-tos";
    if (a->email[0]) {
        argv[k++] = "--email";
        argv[k++] = a->email;
    }
    argv[k++] = "--server";
    argv[k++] = a->directory;
    argv[k++] = "--path";
    argv[k++] = path;
    argv[k++] = "--key-type";
    argv[k++] = "ec256";
    argv[k++] = "--domains";
    argv[k++] = it->name;
    argv[k++] = "--http";
    argv[k++] = "--http.port";
    argv[k++] = listen;
    argv[k++] = "run";
    argv[k] = NULL;
    if (!env || (a->has_ca && (path_in(a, "ca.pem", ca, sizeof ca) < 0 ||
                                child_env_add(&env, "LEGO_CA_CERTIFICATES", ca) < 0))) {
        child_env_free(env);
        snprintf(err, n, "out of memory");
        return -1;
    }
    memset(&s, 0, sizeof s);
    s.argv = argv;
    s.envp = env;
    s.cwd = a->dir;
    s.capture = 1;
    s.out_fd = -1;
    s.timeout_s = LEGO_TIMEOUT_S;
    free(a->out);
    a->outlen = 0;
    if (!(a->out = calloc(1, OUT_MAX))) {
        child_env_free(env);
        snprintf(err, n, "out of memory");
        return -1;
    }
    rc = child_start(a->r->ctx, a->r->vh, &s, on_output, on_exit_lego, a, &a->child, err, n);
    child_env_free(env);
    return rc;
}

static int r_routes(const struct acme *a, const char *name)
{
    return a->r->edge && edge_domain_app(a->r->edge, name) != NULL;
}

static void run_tick(lws_sorted_usec_list_t *sul)
{
    struct acme *a = lws_container_of(sul, struct acme, sul_run);
    struct acme_item **pp, *it = NULL;
    lws_usec_t now = lws_now_usecs(), next = 0;
    char err[256];
    if (a->cur)
        return;
    for (pp = &a->queue; *pp; pp = &(*pp)->next)
        if ((*pp)->not_before <= now) {
            it = *pp;
            *pp = it->next;
            a->nqueue--;
            break;
        } else if (!next || (*pp)->not_before < next) {
            next = (*pp)->not_before;
        }
    if (!it) {
        if (next)
            run_arm(a, next - now);
        return;
    }
    it->next = NULL;
    if (!r_routes(a, it->name)) {
        if (it->waits++ < 15) {  /* the edge may still be taking the app in (a reload) */
            it->not_before = now + 2 * LWS_USEC_PER_SEC;
            it->next = a->queue;
            a->queue = it;
            a->nqueue++;
            run_arm(a, 2 * LWS_USEC_PER_SEC);
            return;
        }
        log_info(C, "%s: not routed by the edge; not asking for a certificate", it->name);  /* removed meanwhile */
        free(it);
        run_arm(a, 1);
        return;
    }
    a->cur = it;
    log_info(C, "%s: asking %s for a certificate%s", it->name, a->directory, it->renewal ? " (renewal)" : "");
    if (start_lego(a, it, err, sizeof err) < 0) {
        char why[300];
        snprintf(why, sizeof why, "cannot run lego: %s", err);
        a->cur = NULL;
        report(a->r, it->app_id, it->name, PROTO_CERT_FAILED, it->renewal, 0, NULL, why);
        free(it);
        run_arm(a, 1);
    }
}

static void run_arm(struct acme *a, lws_usec_t delay)
{
    lws_sul_schedule(a->r->ctx, 0, &a->sul_run, run_tick, delay);
}

/* --- renewal --- */

static void check_tick(lws_sorted_usec_list_t *sul)
{
    struct acme *a = lws_container_of(sul, struct acme, sul_check);
    const char *name;
    for (size_t k = 0; a->r->edge && (name = edge_cert_name(a->r->edge, k)); k++) {
        const char *app = edge_domain_app(a->r->edge, name);
        int64_t left = cert_left(a->r, name, NULL, 0, NULL);
        char up[PATH_MAX];
        if (!app || app[0] != 'a' || left > (int64_t)a->r->acme_renew_days * 86400 ||
            certs_path(a->r, app + 1, name, up, sizeof up) == 0)  /* uploaded: renewed by its owner */
            continue;
        if (!a->directory[0]) {
            log_warn(C, "%s: due for renewal but no ACME directory is known yet", name);
            continue;
        }
        log_info(C, "%s: %lld day(s) left: renewing", name, (long long)(left / 86400));
        enqueue(a, app + 1, name, 1);
    }
    lws_sul_schedule(a->r->ctx, 0, &a->sul_check, check_tick, CHECK_US);
}

void acme_start(struct runner *r)
{
    struct acme *a;
    if (!r->edge || !r->edge_https_port || !edge_cert_name(r->edge, 0) || !(a = acme_get(r)))
        return;
    lws_sul_schedule(r->ctx, 0, &a->sul_check, check_tick, 5 * LWS_USEC_PER_SEC);
}

void acme_on_welcome(struct runner *r)
{
    struct acme *a = r->acme;
    const char *name;
    if (!a || !r->edge)
        return;
    for (size_t k = 0; (name = edge_cert_name(r->edge, k)); k++) {
        const char *app = edge_domain_app(r->edge, name);
        char issuer[PROTO_CERT_ISSUER_MAX + 1] = "";
        int64_t expires = 0;
        if (app && app[0] == 'a' && cert_left(r, name, issuer, sizeof issuer, &expires) > 0)
            report(r, app + 1, name, PROTO_CERT_ISSUED, 0, expires, issuer[0] ? issuer : "unknown", NULL);
    }
    if (a->cur)
        report(r, a->cur->app_id, a->cur->name, PROTO_CERT_PENDING, a->cur->renewal, 0, NULL, NULL);
    for (struct acme_item *it = a->queue; it; it = it->next)
        if (!it->tries)  /* a failed one was reported when the link may have been up; its retry reports again */
            report(r, it->app_id, it->name, PROTO_CERT_PENDING, it->renewal, 0, NULL, NULL);
}

void acme_stop(struct runner *r)
{
    struct acme *a = r->acme;
    if (!a)
        return;
    lws_sul_cancel(&a->sul_run);
    lws_sul_cancel(&a->sul_check);
    if (a->child) {
        child_kill(a->child, SIGTERM);
        child_forget(a->child);
    }
    free(a->cur);
    free(a->out);
    while (a->queue) {
        struct acme_item *it = a->queue;
        a->queue = it->next;
        free(it);
    }
    free(a);
    r->acme = NULL;
}
