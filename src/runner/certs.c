/* certs.c - uploaded certificates written on the host (see certs.h).
 *
 * state_dir/certs/a<app id>/NAME.pem per app domain, "*.example.com" as
 * "_.example.com.pem" ('_' is never in a host name): the chain then the
 * private key, the form HAProxy's `set ssl cert` and `crt` take. Written
 * with util_write_file_atomic (temp file created 0600, fsync, rename),
 * the directory 0700. The assembled PEM is wiped before it is freed; no
 * log line names more than a domain and a certificate id.
 */
#include "certs.h"

#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "runner.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define C "certs"

/* An app id as berthd sends it: 1-20 digits. */
static int app_ok(const char *app)
{
    size_t l = app ? strlen(app) : 0;
    return l >= 1 && l <= 20 && strspn(app, "0123456789") == l;
}

static int dir_for(const struct runner *r, const char *app, char *out, size_t n)
{
    if (!app_ok(app))
        return -1;
    int k = snprintf(out, n, "%s/certs/a%s", r->state_dir, app);
    return k > 0 && (size_t)k < n ? 0 : -1;
}

static int file_for(const struct runner *r, const char *app, const char *domain, char *out,
                    size_t n)
{
    char dir[PATH_MAX];
    if (!proto_cert_name_ok(domain) || dir_for(r, app, dir, sizeof dir) < 0)
        return -1;
    int k = snprintf(out, n, "%s/%s%s.pem", dir, domain[0] == '*' ? "_" : "",
                     domain[0] == '*' ? domain + 1 : domain);
    return k > 0 && (size_t)k < n ? 0 : -1;
}

int certs_path(const struct runner *r, const char *app_id, const char *domain, char *out,
               size_t n)
{
    if (file_for(r, app_id, domain, out, n) < 0 || access(out, R_OK) != 0)
        return -1;
    return 0;
}

static int write_one(struct runner *r, const char *app, const struct proto_cert *c)
{
    size_t cl = strlen(c->chain), kl = strlen(c->key), nl = cl && c->chain[cl - 1] != '\n';
    size_t len = cl + nl + kl;
    char *pem = malloc(len + 1), path[PATH_MAX];
    int rc = 0;
    if (!pem) {
        log_error(C, "certificate %s: out of memory", c->id);
        return -1;
    }
    memcpy(pem, c->chain, cl);
    if (nl)
        pem[cl] = '\n';
    memcpy(pem + cl + nl, c->key, kl);
    pem[len] = '\0';
    for (size_t i = 0; i < c->ndomains; i++) {
        if (file_for(r, app, c->domains[i], path, sizeof path) < 0 ||
            util_write_file_atomic(path, pem, len, 0600) < 0) {
            log_error(C, "certificate %s: cannot write the file for %s: %s", c->id, c->domains[i],
                      strerror(errno));
            rc = -1;
        }
    }
    crypto_wipe(pem, len);
    free(pem);
    return rc;
}

static int served(const struct proto_cert *c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < c[i].ndomains; k++)
            if (strcmp(c[i].domains[k], name) == 0)
                return 1;
    return 0;
}

/* Removes every file of the app's directory the frame does not serve: a
 * domain removed from the app, a certificate removed, the app deleted. */
static void prune(struct runner *r, const char *app, const struct proto_cert *c, size_t n)
{
    char dir[PATH_MAX], name[260], path[PATH_MAX];
    if (dir_for(r, app, dir, sizeof dir) < 0)
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || l - 4 >= sizeof name || strcmp(e->d_name + l - 4, ".pem") != 0)
            continue;
        snprintf(name, sizeof name, "%s%.*s", e->d_name[0] == '_' ? "*" : "",
                 (int)(l - 4 - (e->d_name[0] == '_')), e->d_name + (e->d_name[0] == '_'));
        if (served(c, n, name) ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        if (unlink(path) == 0)
            log_info(C, "app %s: %s has no certificate any more", app, name);
    }
    closedir(d);
}

static int mkdir_0700(const char *path)
{
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int certs_apply(struct runner *r, json_t *spec)
{
    struct proto_cert *c = calloc(PROTO_CERTS_MAX, sizeof *c);
    const char *app = json_string_value(json_object_get(spec, "app_id"));
    char err[160], dir[PATH_MAX];
    size_t n = 0, i;
    int rc = -1;
    if (!c) {
        log_error(C, "out of memory");
        goto done;
    }
    if (proto_parse_spec_certs(spec, c, &n, err, sizeof err) < 0) {
        log_warn(C, "certificates not written: %s", err);
        goto done;
    }
    if (!app_ok(app)) {
        if (n)
            log_warn(C, "certificates not written: the spec names no app_id");
        goto done;
    }
    if (n == 0) { /* nothing to write: only what was there goes */
        prune(r, app, c, 0);
        rc = 0;
        goto done;
    }
    if (snprintf(dir, sizeof dir, "%s/certs", r->state_dir) >= (int)sizeof dir ||
        mkdir_0700(dir) < 0 || dir_for(r, app, dir, sizeof dir) < 0 || mkdir_0700(dir) < 0) {
        log_error(C, "cannot create %s/certs/a%s: %s", r->state_dir, app, strerror(errno));
        goto done;
    }
    rc = 0;
    for (i = 0; i < n; i++)
        if (write_one(r, app, &c[i]) < 0)
            rc = -1;
    prune(r, app, c, n);
done:
    if (c)
        proto_spec_certs_release(c, n);
    free(c);
    proto_spec_certs_scrub(spec);
    return rc;
}
