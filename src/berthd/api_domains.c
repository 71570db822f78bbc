/* api_domains.c - an app's host names as a sub-resource
 * (GET/POST .../apps/{app}/domains, DELETE .../apps/{app}/domains/{domain};
 * docs/deploy.md#domains). The same list is the app's `domains` field:
 * these routes read and change it one name at a time, under the same
 * scopes (app:read, app:write), with one audit entry per name
 * (domain.add, domain.remove). A name another app on the same server has
 * (in any org: one edge per server) answers 409 without naming that app.
 * Each change queues an "edge" job (domains.c) that applies it on the
 * server's edge proxy by map, with no reload. */
#include "api.h"
#include "domains.h"
#include "jsonx.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *domain_json(const char *name)
{
    return json_pack("{s:s, s:b}", "name", name, "wildcard", name[0] == '*');
}

void api_app_domains_list(struct req *r)
{
    struct app a;
    json_t *doms, *items = json_array(), *v;
    size_t i;
    if (api_app_of(r, r->params[1], &a) < 0) {
        json_decref(items);
        return;
    }
    doms = json_loads(a.domains_json ? a.domains_json : "[]", 0, NULL);
    json_array_foreach(doms, i, v)
        if (json_is_string(v))
        {
            json_t *it = domain_json(json_string_value(v));
            if (it)
                json_object_set_new(it, "certificate", domains_cert_json(r->srv, a.id, json_string_value(v)));
            json_array_append_new(items, it);
        }
    json_decref(doms);
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
    store_app_release(&a);
}

/* 409 (and -1) when another app on a's server, in any org, has one of
 * a's domains: one edge per server. The other app is never named. */
int api_refuse_domain_clash(struct req *r, const struct app *a)
{
    char clash[256];
    int rc = domains_clash(r->srv, a, clash, sizeof clash);
    if (rc < 0) {
        api_store_error(r, STORE_ERR, "application");
        return -1;
    }
    if (rc > 0) {
        http_reply_error(r, 409, "domain_taken", "domain '%s' is already served by another app on "
                         "this app's server", clash);
        return -1;
    }
    return 0;
}

/* Stores a with its new domains: 409 on a clash (nothing changed), else
 * queues the edge job. 0 when stored, -1 when answered. */
static int store_domains(struct req *r, struct app *a)
{
    int rc;
    if (api_refuse_domain_clash(r, a) < 0)
        return -1;
    a->updated_at = util_now();
    if ((rc = store_app_update(r->srv->store, a)) != STORE_OK) {
        api_store_error(r, rc, "application");
        return -1;
    }
    domains_push(r->srv, a->org_id, a->server_id, a->id, r->who.user_id);
    return 0;
}

static const char *const add_fields[] = {"name", NULL};

/* a takes the names doms and is stored (the edge job queued, name in
 * the audit entry): 0, or -1 when answered. */
static int save_domains(struct req *r, struct app *a, json_t *doms, const char *name)
{
    free(a->domains_json);
    if (!(a->domains_json = jx_dump(doms, NULL))) {
        http_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    if (store_domains(r, a) < 0)
        return -1;
    r->audit_detail = json_pack("{s:s, s:s}", "app", a->name, "domain", name);
    return 0;
}

void api_app_domain_add(struct req *r)
{
    struct app a;
    const char *in;
    char name[256];
    json_t *doms = NULL, *v;
    size_t i;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    json_t *b = req_json(r);
    if (!b || req_only_fields(r, b, add_fields) < 0 || req_str(r, b, "name", 1, &in) < 0 ||
        api_app_of(r, r->params[1], &a) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%lld", (long long)a.id);
    if (domains_normalise(in, name, sizeof name) < 0) {
        http_reply_error(r, 422, "invalid_field", "field 'name': '%.253s' is not a host name (like "
                         "app.example.com or *.example.com)", in);
        goto done;
    }
    doms = json_loads(a.domains_json ? a.domains_json : "[]", 0, NULL);
    if (!json_is_array(doms)) {
        json_decref(doms);
        doms = json_array();
    }
    json_array_foreach(doms, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), name)) {
            http_reply_error(r, 409, "domain_exists", "'%s' already has domain '%s'", a.name, name);
            goto done;
        }
    if (json_array_size(doms) >= DOMAINS_MAX) {
        http_reply_error(r, 422, "invalid_field", "'%s' already has %d domains, the most an app takes",
                         a.name, DOMAINS_MAX);
        goto done;
    }
    json_array_append_new(doms, json_string(name));
    if (save_domains(r, &a, doms, name) < 0)
        goto done;
    http_reply_json(r, 201, domain_json(name));
done:
    json_decref(doms);
    store_app_release(&a);
}

void api_app_domain_remove(struct req *r)
{
    struct app a;
    char name[256];
    json_t *doms = NULL, *v;
    size_t i;
    int found = -1;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%lld", (long long)a.id);
    if (domains_normalise(r->params[2], name, sizeof name) < 0) {
        http_reply_error(r, 404, "not_found", "'%s' has no such domain", a.name);
        goto done;
    }
    doms = json_loads(a.domains_json ? a.domains_json : "[]", 0, NULL);
    json_array_foreach(doms, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), name))
            found = (int)i;
    if (found < 0) {
        http_reply_error(r, 404, "not_found", "'%s' has no domain '%s'", a.name, name);
        goto done;
    }
    json_array_remove(doms, (size_t)found);
    if (save_domains(r, &a, doms, name) < 0)
        goto done;
    http_reply_empty(r, 204);
done:
    json_decref(doms);
    store_app_release(&a);
}
