/* certs.c - uploaded certificates written on the host (see certs.h).
 *
 * state_dir/certs/NAME.pem per domain, "*.example.com" as
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

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define C "certs"

static int file_for(const struct runner *r, const char *domain, char *out, size_t n)
{
    if (!proto_cert_name_ok(domain))
        return -1;
    int k = snprintf(out, n, "%s/certs/%s%s.pem", r->state_dir, domain[0] == '*' ? "_" : "",
                     domain[0] == '*' ? domain + 1 : domain);
    return k > 0 && (size_t)k < n ? 0 : -1;
}

int certs_path(const struct runner *r, const char *domain, char *out, size_t n)
{
    if (file_for(r, domain, out, n) < 0 || access(out, R_OK) != 0)
        return -1;
    return 0;
}

static int write_one(struct runner *r, const struct proto_cert *c)
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
        if (file_for(r, c->domains[i], path, sizeof path) < 0 ||
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

int certs_apply(struct runner *r, json_t *spec)
{
    struct proto_cert *c = calloc(PROTO_CERTS_MAX, sizeof *c);
    char err[160], dir[PATH_MAX], path[PATH_MAX];
    json_t *doms = json_object_get(spec, "domains"), *v;
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
    if (n && (snprintf(dir, sizeof dir, "%s/certs", r->state_dir) >= (int)sizeof dir ||
              (mkdir(dir, 0700) < 0 && errno != EEXIST))) {
        log_error(C, "cannot create %s/certs: %s", r->state_dir, strerror(errno));
        goto done;
    }
    rc = 0;
    for (i = 0; i < n; i++)
        if (write_one(r, &c[i]) < 0)
            rc = -1;
    /* a name the frame gives no certificate: none serves it any more */
    json_array_foreach(doms, i, v) {
        const char *name = json_string_value(v);
        if (name && !served(c, n, name) && file_for(r, name, path, sizeof path) == 0 &&
            unlink(path) == 0)
            log_info(C, "%s: its certificate was removed", name);
    }
done:
    if (c)
        proto_spec_certs_release(c, n);
    free(c);
    proto_spec_certs_scrub(spec);
    return rc;
}
