/* domains.c - host name rules, the per-server clash check and the "edge"
 * job kind (see domains.h). */
#include "domains.h"

#include "certificates.h"
#include "deploy.h"
#include "jsonx.h"
#include "audit.h"
#include "hub.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int domains_normalise(const char *in, char *out, size_t n)
{
    size_t l = in ? strlen(in) : 0;
    if (!l || l >= n || l > 253)
        return -1;
    for (size_t k = 0; k <= l; k++)
        out[k] = (char)tolower((unsigned char)in[k]);
    return proto_cert_name_ok(out) ? 0 : -1;
}

struct clash_ctx {
    const struct app *a;
    json_t *mine;
    char *clash;
    size_t n;
    int found;
};

static void clash_one(void *arg, const struct app *other)
{
    struct clash_ctx *x = arg;
    json_t *theirs, *v, *w;
    size_t i, j;
    if (x->found || other->id == x->a->id)
        return;
    theirs = json_loads(other->domains_json ? other->domains_json : "[]", 0, NULL);
    json_array_foreach(x->mine, i, v) {
        json_array_foreach(theirs, j, w) {
            if (json_is_string(v) && json_is_string(w) && !strcmp(json_string_value(v), json_string_value(w))) {
                util_strlcpy(x->clash, json_string_value(v), x->n);
                x->found = 1;
            }
        }
    }
    json_decref(theirs);
}

int domains_clash(struct srv *s, const struct app *a, char *clash, size_t n)
{
    struct clash_ctx x = {a, json_loads(a->domains_json ? a->domains_json : "[]", 0, NULL), clash, n, 0};
    int rc;
    if (!json_is_array(x.mine) || json_array_size(x.mine) == 0) {
        json_decref(x.mine);
        return 0;
    }
    rc = store_apps_of_server_each(s->store, a->server_id, clash_one, &x);
    json_decref(x.mine);
    return rc != STORE_OK ? -1 : x.found;
}

void domains_push(struct srv *s, int64_t org_id, int64_t server_id, int64_t app_id, int64_t by)
{
    struct job j;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)app_id);
    memset(&j, 0, sizeof j);
    j.org_id = org_id;
    j.server_id = server_id;
    util_strlcpy(j.kind, EDGE_JOB_KIND, sizeof j.kind);
    /* the domains are filled at send time (at_send), never stored here */
    json_t *spec = json_pack("{s:s, s:[]}", "app_id", id, "domains");
    j.spec_json = spec ? jx_dump(spec, NULL) : NULL;
    json_decref(spec);
    j.created_at = util_now();
    j.created_by = by;
    if (!j.spec_json || job_insert(s, &j) != STORE_OK)
        log_error("domains", "app %lld: cannot queue the edge job; its names apply at the next deploy",
                  (long long)app_id);
    else
        job_submitted(s, &j);
    free(j.spec_json);
}

/* At every (re)delivery: the app's domains as they are now. */
static int edge_at_send(struct srv *s, const struct job *j, json_t *spec)
{
    const char *id = json_string_value(json_object_get(spec, "app_id"));
    struct app a;
    json_t *doms = NULL;
    if (id && store_app_find(s->store, 0, id, &a) == STORE_OK) {
        doms = json_loads(a.domains_json ? a.domains_json : "[]", 0, NULL);
        if (a.current_deployment_id) {
            /* the serving container, for an app never behind the edge yet */
            char cname[96], dep[24];
            deploy_container_name(s, a.id, a.current_deployment_id, cname, sizeof cname);
            snprintf(dep, sizeof dep, "%lld", (long long)a.current_deployment_id);
            json_object_set_new(spec, "container", json_string(cname));
            json_object_set_new(spec, "deployment", json_string(dep));
            json_object_set_new(spec, "container_port", json_integer(a.container_port));
        }
        certificates_spec_https(s, &a, spec);
        store_app_release(&a);
    }
    json_object_set_new(spec, "domains", json_is_array(doms) ? doms : json_array());
    if (doms && !json_is_array(doms))
        json_decref(doms);
    /* the uploaded certificates serving them: frame only, never stored */
    certificates_spec_add(s, j->org_id, spec);
    return 0;
}

const struct job_kind edge_job_kind = {
    .name = EDGE_JOB_KIND,
    .at_send = edge_at_send,
};

/* ---- "domain.cert" from a runner: a domain's certificate status ---- */

static int app_has_name(const struct app *a, const char *name)
{
    json_t *d = json_loads(a->domains_json ? a->domains_json : "[]", 0, NULL), *v;
    size_t i;
    int has = 0;
    json_array_foreach(d, i, v) has |= json_is_string(v) && !strcmp(json_string_value(v), name);
    json_decref(d);
    return has;
}

/* Only the app's own server reports on its names; a report for another
 * server's app or a name the app no longer has is dropped (logged). A
 * change is stored and audited once: the same status again is not. */
static int on_domain_cert(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t wn)
{
    struct srv *s = arg;
    struct proto_domain_cert p;
    struct domain_cert old, now;
    struct app a;
    char target[48], *detail;
    const char *action = NULL;
    if (proto_parse_domain_cert(msg, &p, why, wn) < 0)
        return -1;
    if (store_app_find(s->store, 0, p.app_id, &a) != STORE_OK)
        return 0;
    if (a.server_id != c->server_id || !app_has_name(&a, p.name)) {
        log_warn("domains", "server %lld reported on %s of app %s, which is not its own: dropped",
                 (long long)c->server_id, p.name, p.app_id);
        store_app_release(&a);
        return 0;
    }
    memset(&now, 0, sizeof now);
    now.app_id = a.id;
    util_strlcpy(now.name, p.name, sizeof now.name);
    util_strlcpy(now.status, proto_cert_status_name(p.status), sizeof now.status);
    now.expires_at = p.status == PROTO_CERT_ISSUED ? p.expires_at : 0;
    util_strlcpy(now.issuer, p.status == PROTO_CERT_ISSUED ? p.issuer : "", sizeof now.issuer);
    util_strlcpy(now.error, p.status == PROTO_CERT_FAILED ? p.error : "", sizeof now.error);
    now.updated_at = util_now();
    if (store_domain_cert_get(s->store, a.id, p.name, &old) == STORE_OK && !strcmp(old.status, now.status) &&
        old.expires_at == now.expires_at && !strcmp(old.error, now.error)) {
        store_app_release(&a);
        return 0;
    }
    if (p.status == PROTO_CERT_PENDING && !strcmp(old.status, "issued")) {
        /* a renewal under way: the issued certificate is still served */
        store_app_release(&a);
        return 0;
    }
    if (store_domain_cert_set(s->store, &now) != STORE_OK)
        log_error("domains", "app %lld: cannot store the certificate status of %s", (long long)a.id, p.name);
    if (p.status == PROTO_CERT_ISSUED)
        action = p.renewal ? "domain.cert.renew" : "domain.cert.issue";
    else if (p.status == PROTO_CERT_FAILED)
        action = "domain.cert.fail";
    if (action) {
        json_t *d = json_pack("{s:s}", "name", p.name);
        if (d && p.status == PROTO_CERT_ISSUED) {
            json_object_set_new(d, "expires_at", json_integer(p.expires_at));
            json_object_set_new(d, "issuer", json_string(now.issuer));
        } else if (d) {
            json_object_set_new(d, "error", json_string(now.error));
            json_object_set_new(d, "renewal", json_boolean(p.renewal));
        }
        detail = d ? jx_dump(d, NULL) : NULL;
        json_decref(d);
        snprintf(target, sizeof target, "app:%lld", (long long)a.id);
        audit_event(s, a.org_id, 0, NULL, action, target, p.status == PROTO_CERT_FAILED ? "failure" : "success",
                    detail);
        free(detail);
    }
    store_app_release(&a);
    return 0;
}

int domains_start(struct srv *s, struct hub *h)
{
    return hub_handle(h, PROTO_DOMAIN_CERT, on_domain_cert, s);
}

json_t *domains_cert_json(struct srv *s, int64_t app_id, const char *name)
{
    struct domain_cert c;
    /* a wildcard has a status only once an uploaded certificate serves it */
    if (store_domain_cert_get(s->store, app_id, name, &c) != STORE_OK)
        return name[0] == '*' && name[1] == '.'
                   ? json_pack("{s:s, s:s}", "status", "failed", "error",
                               "HTTP-01 cannot issue a wildcard; upload a certificate")
                   : json_pack("{s:s}", "status", "pending");
    if (!strcmp(c.status, "issued"))
        return json_pack("{s:s, s:o, s:s}", "status", "issued", "expires_at", jx_time(c.expires_at), "issuer",
                         c.issuer);
    if (!strcmp(c.status, "failed"))
        return json_pack("{s:s, s:s}", "status", "failed", "error", c.error);
    return json_pack("{s:s}", "status", "pending");
}
