/* domains.c - host name rules, the per-server clash check and the "edge"
 * job kind (see domains.h). */
#include "domains.h"

#include "certificates.h"
#include "deploy.h"
#include "jsonx.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hostname_valid(const char *s)
{
    size_t l = strlen(s), label = 0;
    if (l < 1 || l > 253 || s[0] == '.' || s[l - 1] == '.')
        return 0;
    int dots = 0;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            dots++;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 (c == '-' && label > 0) || (c == '*' && i == 0 && s[1] == '.');
        if (!ok || ++label > 63)
            return 0;
    }
    return dots >= 1 && s[l - 1] != '-';
}

int domains_normalise(const char *in, char *out, size_t n)
{
    size_t l = in ? strlen(in) : 0;
    if (!l || l >= n || l > 253)
        return -1;
    for (size_t k = 0; k <= l; k++)
        out[k] = (char)tolower((unsigned char)in[k]);
    return hostname_valid(out) ? 0 : -1;
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
