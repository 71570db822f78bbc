/* certificates.c - which uploaded certificate serves each app domain and
 * how chains and keys reach the servers (see certificates.h).
 *
 * The choice for a name, among the org's certificates that have not
 * expired and cover it (certparse_covers): an exact name over a wildcard,
 * then the latest expiry, then the newest upload. Keys are opened only
 * into the frame being sent and wiped once it holds them.
 */
#include "certificates.h"

#include "certparse.h"
#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

void certificates_key_ad(int64_t id, char *out, size_t n)
{
    snprintf(out, n, "cert:%lld:key", (long long)id);
}

struct cand {
    int64_t id, not_after;
    json_t *sans;
};

struct set {
    struct cand *c;
    size_t n;
    int64_t now;
};

static void set_add(void *arg, const struct cert *c)
{
    struct set *x = arg;
    if (x->n >= CERTIFICATES_ORG_MAX)
        return;
    json_t *sans = json_loads(c->sans_json ? c->sans_json : "[]", 0, NULL);
    if (!json_is_array(sans)) {
        json_decref(sans);
        return;
    }
    x->c[x->n++] = (struct cand){c->id, c->not_after, sans};
}

static int set_load(struct srv *s, int64_t org_id, struct set *x)
{
    memset(x, 0, sizeof *x);
    x->now = util_now();
    x->c = calloc(CERTIFICATES_ORG_MAX, sizeof *x->c);
    if (!x->c || store_certs_each(s->store, org_id, set_add, x) != STORE_OK)
        return -1;
    return 0;
}

static void set_release(struct set *x)
{
    for (size_t i = 0; i < x->n; i++)
        json_decref(x->c[i].sans);
    free(x->c);
    x->c = NULL;
    x->n = 0;
}

/* 2 when c names name exactly, 1 by a wildcard, 0 not at all. */
static int cover_rank(json_t *sans, const char *name)
{
    json_t *v;
    size_t i;
    int best = 0;
    json_array_foreach(sans, i, v) {
        const char *san = json_string_value(v);
        if (san && strcmp(san, name) == 0)
            return 2;
        if (san && certparse_covers(san, name))
            best = 1;
    }
    return best;
}

/* The certificate that serves name: its id, or 0. */
static int64_t set_pick(const struct set *x, const char *name)
{
    const struct cand *best = NULL;
    int brank = 0;
    for (size_t i = 0; i < x->n; i++) {
        const struct cand *c = &x->c[i];
        int rank = c->not_after > x->now ? cover_rank(c->sans, name) : 0;
        if (!rank)
            continue;
        if (!best || rank > brank ||
            (rank == brank && (c->not_after > best->not_after ||
                               (c->not_after == best->not_after && c->id > best->id)))) {
            best = c;
            brank = rank;
        }
    }
    return best ? best->id : 0;
}

/* One certificate in the frame: its id and the domains it serves. */
struct group {
    int64_t id;
    const char *domains[PROTO_DEPLOY_DOMAINS_MAX];
    size_t n;
};

static void add_frame(struct srv *s, struct group *g, size_t ng, json_t *spec)
{
    struct proto_cert pc[PROTO_CERTS_MAX] = {{0}};
    char ids[PROTO_CERTS_MAX][24];
    char *chains[PROTO_CERTS_MAX] = {0}, *keys[PROTO_CERTS_MAX] = {0};
    size_t klens[PROTO_CERTS_MAX] = {0}, n = 0, bytes = 0;
    for (size_t i = 0; i < ng && n < PROTO_CERTS_MAX; i++) {
        char *sealed = NULL, ad[64];
        size_t klen = 0;
        if (store_cert_material(s->store, g[i].id, &chains[n], &sealed) != STORE_OK) {
            log_error("certs", "certificate %lld cannot be read; %s goes without it",
                      (long long)g[i].id, g[i].domains[0]);
            continue;
        }
        certificates_key_ad(g[i].id, ad, sizeof ad);
        keys[n] = crypto_open(s->secret_key, ad, sealed, &klen);
        free(sealed);
        size_t more = strlen(chains[n]) + klen;
        if (!keys[n] || bytes + more > PROTO_CERTS_BYTES_MAX) {
            log_error("certs", "certificate %lld %s; %s goes without it", (long long)g[i].id,
                      keys[n] ? "does not fit in the job frame" :
                                "cannot be opened (another master key?)", g[i].domains[0]);
            if (keys[n])
                crypto_wipe(keys[n], klen);
            free(keys[n]);
            free(chains[n]);
            keys[n] = chains[n] = NULL;
            continue;
        }
        bytes += more;
        snprintf(ids[n], sizeof ids[n], "%lld", (long long)g[i].id);
        pc[n] = (struct proto_cert){ids[n], g[i].domains, g[i].n, chains[n], keys[n]};
        klens[n++] = klen;
    }
    if (proto_spec_add_certs(spec, pc, n) < 0)
        log_error("certs", "the certificates cannot go in the job frame");
    for (size_t i = 0; i < n; i++) {
        crypto_wipe(keys[i], klens[i]);
        free(keys[i]);
        free(chains[i]);
    }
}

void certificates_spec_add(struct srv *s, int64_t org_id, json_t *spec)
{
    json_t *doms = json_object_get(spec, "domains"), *v;
    struct group *g = NULL;
    struct set x;
    size_t i, ng = 0;
    if (!json_is_array(doms) || json_array_size(doms) == 0 ||
        json_array_size(doms) > PROTO_DEPLOY_DOMAINS_MAX)
        return;
    if (set_load(s, org_id, &x) < 0 || !(g = calloc(PROTO_CERTS_MAX, sizeof *g))) {
        log_error("certs", "org %lld: cannot read its certificates", (long long)org_id);
        goto done;
    }
    json_array_foreach(doms, i, v) {
        const char *name = json_string_value(v);
        int64_t id = name ? set_pick(&x, name) : 0;
        size_t k;
        if (!id)
            continue;
        for (k = 0; k < ng && g[k].id != id; k++)
            ;
        if (k == ng) {
            if (ng == PROTO_CERTS_MAX)
                continue;
            g[ng++].id = id;
        }
        if (g[k].n < PROTO_DEPLOY_DOMAINS_MAX)
            g[k].domains[g[k].n++] = name;
    }
    if (ng)
        add_frame(s, g, ng, spec);
done:
    free(g);
    set_release(&x);
}

/* The org's certificates and its apps' domains, each with the id of the
 * certificate chosen for it: read once per answer, however many
 * certificates it lists. */
struct certificates_view {
    struct set x;
    json_t *picked; /* {domain: id of the certificate serving it, or 0} */
};

static void view_app(void *arg, const struct app *a)
{
    struct certificates_view *v = arg;
    json_t *doms = json_loads(a->domains_json ? a->domains_json : "[]", 0, NULL), *d;
    size_t i;
    json_array_foreach(doms, i, d) {
        const char *name = json_string_value(d);
        if (name && !json_object_get(v->picked, name))
            json_object_set_new(v->picked, name, json_integer(set_pick(&v->x, name)));
    }
    json_decref(doms);
}

struct certificates_view *certificates_view_new(struct srv *s, int64_t org_id)
{
    struct certificates_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    if (set_load(s, org_id, &v->x) < 0 || !(v->picked = json_object()) ||
        store_apps_each(s->store, org_id, view_app, v) != STORE_OK) {
        certificates_view_free(v);
        return NULL;
    }
    return v;
}

void certificates_view_free(struct certificates_view *v)
{
    if (!v)
        return;
    set_release(&v->x);
    json_decref(v->picked);
    free(v);
}

void certificates_view_domains(const struct certificates_view *v, const struct cert *c,
                               json_t **covered, json_t **serving)
{
    json_t *sans = json_loads(c->sans_json ? c->sans_json : "[]", 0, NULL), *id;
    const char *name;
    *covered = json_array();
    *serving = json_array();
    json_object_foreach(v->picked, name, id) {
        if (!json_is_array(sans) || !cover_rank(sans, name))
            continue;
        json_array_append_new(*covered, json_string(name));
        if (json_integer_value(id) == c->id)
            json_array_append_new(*serving, json_string(name));
    }
    json_decref(sans);
}

int certificates_domains(struct srv *s, int64_t org_id, const struct cert *c, json_t **covered,
                         json_t **serving)
{
    struct certificates_view *v = certificates_view_new(s, org_id);
    *covered = *serving = NULL;
    if (!v)
        return -1;
    certificates_view_domains(v, c, covered, serving);
    certificates_view_free(v);
    return *covered && *serving ? 0 : -1;
}

#define PUSH_MAX 1000

struct push_ctx {
    json_t *sans;
    struct {
        int64_t server_id, app_id;
    } apps[PUSH_MAX];
    size_t n;
};

static void push_app(void *arg, const struct app *a)
{
    struct push_ctx *p = arg;
    json_t *doms = json_loads(a->domains_json ? a->domains_json : "[]", 0, NULL), *v;
    size_t i;
    int hit = 0;
    json_array_foreach(doms, i, v)
        if (json_is_string(v) && cover_rank(p->sans, json_string_value(v)))
            hit = 1;
    json_decref(doms);
    if (hit && p->n < PUSH_MAX) {
        p->apps[p->n].server_id = a->server_id;
        p->apps[p->n++].app_id = a->id;
    }
}

/* The apps are collected first: no job is written while the list runs. */
void certificates_push(struct srv *s, int64_t org_id, const char *sans_json, int64_t by,
                       certificates_push_fn push)
{
    struct push_ctx *p = calloc(1, sizeof *p);
    if (!p || !(p->sans = json_loads(sans_json ? sans_json : "[]", 0, NULL)) ||
        store_apps_each(s->store, org_id, push_app, p) != STORE_OK)
        log_error("certs", "org %lld: cannot queue the edge jobs for a certificate change",
                  (long long)org_id);
    for (size_t i = 0; p && i < p->n; i++)
        push(s, org_id, p->apps[i].server_id, p->apps[i].app_id, by);
    if (p)
        json_decref(p->sans);
    free(p);
}

/* The installation's ACME settings (config: --acme-*) and the app's HTTPS
 * options into an edge or deploy job's spec, at every send. The CA bundle
 * is read once (at most 64 KiB) and kept. */
void certificates_spec_https(struct srv *s, const struct app *a, json_t *spec)
{
    static char *ca;
    static int ca_read;
    if (!ca_read && s->cfg.acme_ca_file[0]) {
        size_t len;
        ca_read = 1;
        if (util_read_file(s->cfg.acme_ca_file, PROTO_ACME_CA_MAX, &ca, &len) < 0) {
            log_error("certs", "cannot read --acme-ca-file %s: %s", s->cfg.acme_ca_file, strerror(errno));
            ca = NULL;
        }
    }
    if (proto_acme_spec_add(spec, s->cfg.acme_directory, s->cfg.acme_email, ca) < 0)
        log_error("certs", "the ACME settings break a rule (https:// directory, email, PEM CA): not sent");
    json_object_set_new(spec, "https_redirect", json_boolean(a->https_redirect));
    json_object_set_new(spec, "hsts", json_boolean(a->hsts));
}
