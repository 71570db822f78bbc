/* api_scripts.c - an organization's saved shell scripts and running one on
 * a server (which creates a `script` job the hub dispatches).
 *
 * Scopes: reading scripts needs server:read; writing them and running
 * them needs script:run (docs/servers.md). */
#include "access.h"
#include "proto.h"
#include "api.h"
#include "job.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRIPT_BODY_MAX (256 * 1024)
#define SCRIPT_TIMEOUT_DEFAULT 3600
#define SCRIPT_TIMEOUT_MAX (24 * 3600)

static const char name_rule[] = "field 'name' must be 1-100 characters of A-Z, a-z, 0-9, "
                                "'.', '_' and '-', starting with a letter or digit";

static json_t *script_json(const struct script *s)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:o}", "id", (json_int_t)s->id, "name", s->name,
                     "body", s->body ? s->body : "", "created_at", api_time(s->created_at),
                     "updated_at", api_time(s->updated_at));
}

static int script_of(struct req *r, const char *ref, struct script *s)
{
    int rc = store_script_find(r->srv->store, r->who.org_id, ref, s);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "script not found: %s", ref);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "script");
        return -1;
    }
    return 0;
}

static int body_ok(struct req *r, const char *body)
{
    if (strlen(body) > SCRIPT_BODY_MAX) {
        http_reply_error(r, 422, "invalid_field", "field 'body' is over %d bytes",
                         SCRIPT_BODY_MAX);
        return 0;
    }
    return 1;
}

/* {id, name, size, created_at, updated_at} */
static void script_item(void *arg, const struct script_row *sc)
{
    json_array_append_new(arg, json_pack("{s:I, s:o, s:I, s:o, s:o}", "id", (json_int_t)sc->id,
                                         "name", sc->name ? json_string(sc->name) : json_null(),
                                         "size", (json_int_t)sc->size, "created_at",
                                         api_time(sc->created_at), "updated_at",
                                         api_time(sc->updated_at)));
}

void api_scripts_list(struct req *r)
{
    json_t *items = json_array();
    int rc = store_scripts_each(r->srv->store, r->who.org_id, script_item, items);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, rc, "script");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

void api_script_create(struct req *r)
{
    static const char *const fields[] = {"name", "body", NULL};
    json_t *b = req_json(r);
    const char *name, *body;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "name", 1, &name) < 0 ||
        req_str(r, b, "body", 1, &body) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "script:%.100s", name);
    if (!api_name_valid(name)) {
        http_reply_error(r, 422, "invalid_field", "%s", name_rule);
        return;
    }
    if (!body_ok(r, body))
        return;
    int64_t id;
    int rc = store_script_create(r->srv->store, r->who.org_id, name, body, util_now(), &id);
    if (rc == STORE_CONFLICT) {
        http_reply_error(r, 409, "conflict", "script '%s' already exists", name);
        return;
    }
    struct script s;
    if (rc != STORE_OK || store_script_find(r->srv->store, r->who.org_id, name, &s) != STORE_OK) {
        api_store_error(r, STORE_ERR, "script");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "script:%lld", (long long)id);
    r->audit_detail = json_pack("{s:s}", "name", name);
    http_reply_json(r, 201, script_json(&s));
    store_script_release(&s);
}

void api_script_get(struct req *r)
{
    struct script s;
    if (script_of(r, r->params[1], &s) < 0)
        return;
    http_reply_json(r, 200, script_json(&s));
    store_script_release(&s);
}

void api_script_update(struct req *r)
{
    static const char *const fields[] = {"name", "body", NULL};
    snprintf(r->audit_target, sizeof r->audit_target, "script:%.100s", r->params[1]);
    json_t *b = req_json(r);
    const char *name = NULL, *body = NULL;
    struct script s;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "name", 0, &name) < 0 ||
        req_str(r, b, "body", 0, &body) < 0)
        return;
    if (name && !api_name_valid(name)) {
        http_reply_error(r, 422, "invalid_field", "%s", name_rule);
        return;
    }
    if ((body && !body_ok(r, body)) || script_of(r, r->params[1], &s) < 0)
        return;
    int64_t id = s.id;
    store_script_release(&s);
    snprintf(r->audit_target, sizeof r->audit_target, "script:%lld", (long long)id);
    int rc = store_script_update(r->srv->store, id, name, body, util_now());
    if (rc == STORE_CONFLICT) {
        http_reply_error(r, 409, "conflict", "script '%s' already exists", name);
        return;
    }
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    if (rc != STORE_OK || store_script_find(r->srv->store, r->who.org_id, ref, &s) != STORE_OK) {
        api_store_error(r, rc == STORE_OK ? STORE_ERR : rc, "script");
        return;
    }
    http_reply_json(r, 200, script_json(&s));
    store_script_release(&s);
}

void api_script_delete(struct req *r)
{
    struct script s;
    snprintf(r->audit_target, sizeof r->audit_target, "script:%.100s", r->params[1]);
    if (script_of(r, r->params[1], &s) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "script:%lld", (long long)s.id);
    r->audit_detail = json_pack("{s:s}", "name", s.name);
    int rc = store_script_delete(r->srv->store, s.id);
    store_script_release(&s);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "script");
        return;
    }
    http_reply_empty(r, 204);
}

void api_script_run(struct req *r)
{
    static const char *const fields[] = {"server", "timeout_s", NULL};
    snprintf(r->audit_target, sizeof r->audit_target, "script:%.100s", r->params[1]);
    json_t *b = req_json(r);
    int64_t timeout = SCRIPT_TIMEOUT_DEFAULT;
    if (!b || req_only_fields(r, b, fields) < 0 || req_int(r, b, "timeout_s", 0, &timeout) < 0)
        return;
    json_t *sv_field = json_object_get(b, "server");
    char ref[128];
    if (json_is_integer(sv_field))
        snprintf(ref, sizeof ref, "%lld", (long long)json_integer_value(sv_field));
    else if (json_is_string(sv_field) && strlen(json_string_value(sv_field)) < sizeof ref)
        util_strlcpy(ref, json_string_value(sv_field), sizeof ref);
    else {
        http_reply_error(r, sv_field ? 400 : 422, sv_field ? "invalid_field" : "missing_field",
                         "field 'server' (a server id or name) is required");
        return;
    }
    if (timeout < 1 || timeout > SCRIPT_TIMEOUT_MAX) {
        http_reply_error(r, 422, "invalid_field", "field 'timeout_s' must be 1-%d",
                         SCRIPT_TIMEOUT_MAX);
        return;
    }
    struct script s;
    struct server sv;
    if (script_of(r, r->params[1], &s) < 0)
        return;
    if (api_server_of(r, ref, &sv) < 0 || api_server_refuse_decommissioned(r, &sv) < 0) {
        store_script_release(&s);
        return;
    }
    if (strcmp(sv.status, "ACTIVE") != 0) {
        http_reply_error(r, 409, "server_not_active", "server '%s' is %s (%s); scripts run only "
                         "on ACTIVE servers", sv.name, sv.status, sv.status_reason);
        store_script_release(&s);
        return;
    }
    json_t *spec = proto_script_spec(s.name, s.body, (int)timeout);
    struct job j;
    memset(&j, 0, sizeof j);
    j.org_id = r->who.org_id;
    j.server_id = sv.id;
    util_strlcpy(j.kind, "script", sizeof j.kind);
    j.spec_json = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    j.created_at = util_now();
    j.created_by = r->who.user_id;
    json_decref(spec);
    int rc = j.spec_json ? job_insert(r->srv, &j) : STORE_ERR;
    if (rc != STORE_OK) {
        free(j.spec_json);
        store_script_release(&s);
        api_store_error(r, rc, "job");
        return;
    }
    job_submitted(r->srv, &j);
    snprintf(r->audit_target, sizeof r->audit_target, "job:%lld", (long long)j.id);
    r->audit_detail = json_pack("{s:I, s:s, s:I, s:s}", "script_id", (json_int_t)s.id, "script",
                                s.name, "server_id", (json_int_t)sv.id, "server", sv.name);
    http_reply_json(r, 201, api_job_json(&j));
    free(j.spec_json);
    store_script_release(&s);
}

/* The `script` job kind: the runner runs the saved body; nothing is added
 * at send time and nothing else follows its end. */
const struct job_kind script_job_kind = {.name = "script"};
