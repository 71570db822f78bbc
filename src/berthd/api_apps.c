/* api_apps.c - an organization's applications (a git repository, branch
 * and Dockerfile bound to a server, with its run settings) and their env
 * (docs/deploy.md).
 *
 * Scopes: app:read reads apps and env names; app:write creates, changes
 * and deletes apps; env:write sets and unsets env values. Env values are
 * sealed at rest (crypto_seal, associated data "app:<id>:env:<KEY>") and
 * never leave berthd in an answer, a log line or an audit detail: only in
 * the deploy job sent to the app's runner (deploy.c). */
#include "access.h"
#include "api.h"
#include "deploy.h"
#include "domains.h"
#include "hub.h"
#include "jsonx.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_VALUE_MAX (64 * 1024)
#define ENV_KEY_MAX 100
#define MEMORY_MIN (6ll * 1024 * 1024)         /* Docker's own floor */
#define MEMORY_MAX (1024ll * 1024 * 1024 * 1024)

/* ---- field rules ---- */

/* App names: a slug (1-63 of a-z 0-9 -) starting with a letter, so a name
 * is never taken for an id. */
static int app_name_valid(const char *s)
{
    return util_slug_valid(s) && s[0] >= 'a' && s[0] <= 'z';
}

static int printable_no_space(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

/* http(s)://, ssh://, git:// URLs or scp-like user@host:path. No
 * password in the URL: it would show in every answer and log. */
static const char *repo_url_problem(const char *u)
{
    size_t l = strlen(u);
    if (l < 4 || l > 1024)
        return "must be 4-1024 characters";
    if (!printable_no_space(u))
        return "must not contain spaces or control characters";
    if (u[0] == '-')
        return "must not start with '-'";
    const char *schemes[] = {"https://", "http://", "ssh://", "git://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(u, schemes[i], n) != 0)
            continue;
        const char *host = u + n;
        const char *slash = strchr(host, '/');
        size_t hl = slash ? (size_t)(slash - host) : strlen(host);
        if (hl == 0 || host[0] == '/' || host[0] == ':')
            return "has no host";
        const char *at = memchr(host, '@', hl);
        if (at && memchr(host, ':', (size_t)(at - host)))
            return "must not carry a password (use a deploy key or a credential helper)";
        if (!slash || !slash[1])
            return "has no repository path";
        return NULL;
    }
    if (strstr(u, "://"))
        return "must use https://, http://, ssh:// or git://, or be user@host:path";
    /* scp-like: [user@]host:path, host without '/' */
    const char *colon = strchr(u, ':');
    const char *slash = strchr(u, '/');
    if (!colon || (slash && slash < colon) || colon == u || !colon[1])
        return "must use https://, http://, ssh:// or git://, or be user@host:path";
    if (u[0] == '@' || colon[-1] == '@')
        return "has no host";
    return NULL;
}

/* A git branch name (git check-ref-format, roughly, plus no leading '-'). */
static int branch_valid(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 255 || s[0] == '-' || s[0] == '/' || s[l - 1] == '/' ||
        s[l - 1] == '.' || strstr(s, "..") || strstr(s, "//") || strstr(s, "@{") ||
        (l >= 5 && strcmp(s + l - 5, ".lock") == 0))
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == '+'))
            return 0;
    }
    return 1;
}

/* A path inside the repository: relative, no "..", plain characters. */
static int repo_path_valid(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 255 || s[0] == '/' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/'))
            return 0;
    }
    /* no ".." component */
    for (const char *p = s; (p = strstr(p, "..")); p += 2)
        if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 0;
    return 1;
}

static int health_path_valid(const char *s)
{
    size_t l = strlen(s);
    return l >= 1 && l <= 1024 && s[0] == '/' && printable_no_space(s);
}

static const char *const restart_policies[] = {"no", "always", "unless-stopped", "on-failure",
                                               NULL};

static int restart_policy_valid(const char *s)
{
    for (int i = 0; restart_policies[i]; i++)
        if (strcmp(s, restart_policies[i]) == 0)
            return 1;
    return 0;
}

/* ---- JSON ---- */

static json_t *app_json(struct req *r, const struct app *a)
{
    json_t *domains = json_loads(a->domains_json ? a->domains_json : "[]", 0, NULL);
    struct server sv;
    json_t *server = store_server_get(r->srv->store, a->server_id, &sv) == STORE_OK
                         ? json_pack("{s:I, s:s, s:s}", "id", (json_int_t)sv.id, "name",
                                     sv.name, "status", sv.status)
                         : json_null();
    json_t *current = json_null();
    struct deployment d;
    if (a->current_deployment_id &&
        store_deployment_get(r->srv->store, a->org_id, a->current_deployment_id, &d) ==
            STORE_OK)
        current = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:o}", "id", (json_int_t)d.id,
                            "kind", d.kind, "status", d.status, "commit",
                            d.resolved_commit[0] ? d.resolved_commit
                                                 : (d.commit[0] ? d.commit : NULL),
                            "image", d.image[0] ? d.image : NULL, "finished_at",
                            api_time(d.finished_at));
    json_t *o = json_pack(
        "{s:I, s:s, s:I, s:o, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:b, s:s, s:o, s:o,"
        " s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:o}",
        "id", (json_int_t)a->id, "name", a->name, "server_id", (json_int_t)a->server_id,
        "server", server, "repo_url", a->repo_url, "branch", a->branch, "dockerfile",
        a->dockerfile, "context", a->context, "container_port", a->container_port,
        "health_path", a->health_path, "public_port",
        a->public_port ? json_integer(a->public_port) : json_null(), "domains",
        domains ? domains : json_array(), "auto_deploy", a->auto_deploy, "restart_policy",
        a->restart_policy, "memory", a->memory ? json_integer(a->memory) : json_null(), "cpus",
        a->cpus > 0 ? json_real(a->cpus) : json_null(), "keep_images", a->keep_images,
        "drain_seconds", a->drain_seconds, "clone_timeout", a->clone_timeout, "build_timeout",
        a->build_timeout, "health_timeout", a->health_timeout, "current_deployment", current,
        "created_at", api_time(a->created_at), "updated_at", api_time(a->updated_at));
    if (o) {
        json_object_set_new(o, "https_redirect", json_boolean(a->https_redirect));
        json_object_set_new(o, "hsts", json_boolean(a->hsts));
    }
    return o;
}

/* ---- reading and checking the body ---- */

static const char *const app_fields[] = {
    "name", "server", "repo_url", "branch", "dockerfile", "context", "container_port",
    "health_path", "public_port", "domains", "auto_deploy", "restart_policy", "memory", "cpus",
    "keep_images", "drain_seconds", "clone_timeout", "build_timeout", "health_timeout",
    "https_redirect", "hsts", NULL,
};

static int bad(struct req *r, const char *field, const char *rule)
{
    http_reply_error(r, 422, "invalid_field", "field '%s' %s", field, rule);
    return -1;
}

/* A string field into dst (sized n): 0 absent, 1 set, -1 answered. */
static int str_field(struct req *r, json_t *b, const char *field, char *dst, size_t n,
                     int (*valid)(const char *), const char *rule)
{
    const char *v = NULL;
    int rc = req_str(r, b, field, 0, &v);
    if (rc <= 0)
        return rc;
    if (strlen(v) >= n || !valid(v))
        return bad(r, field, rule);
    util_strlcpy(dst, v, n);
    return 1;
}

/* An integer in [lo, hi]; nullable fields take null as 0 (none). */
static int int_field(struct req *r, json_t *b, const char *field, int64_t lo, int64_t hi,
                     int nullable, int64_t *out)
{
    json_t *v = json_object_get(b, field);
    if (!v)
        return 0;
    if (json_is_null(v)) {
        if (!nullable)
            return bad(r, field, "must not be null");
        *out = 0;
        return 1;
    }
    if (!json_is_integer(v)) {
        http_reply_error(r, 400, "invalid_field", "field '%s' must be an integer%s", field,
                         nullable ? " or null" : "");
        return -1;
    }
    int64_t x = (int64_t)json_integer_value(v);
    if (x < lo || x > hi) {
        http_reply_error(r, 422, "invalid_field", "field '%s' must be %lld-%lld%s", field,
                         (long long)lo, (long long)hi, nullable ? " (or null)" : "");
        return -1;
    }
    *out = x;
    return 1;
}

static int domains_field(struct req *r, json_t *b, struct app *a)
{
    json_t *v = json_object_get(b, "domains");
    if (!v)
        return 0;
    if (!json_is_array(v)) {
        http_reply_error(r, 400, "invalid_field", "field 'domains' must be an array of host "
                         "names");
        return -1;
    }
    if (json_array_size(v) > DOMAINS_MAX)
        return bad(r, "domains", "takes at most 50 host names");
    json_t *out = json_array(), *d;
    size_t i;
    json_array_foreach(v, i, d) {
        char host[256];
        const char *s = json_string_value(d);
        if (!s) {
            json_decref(out);
            return bad(r, "domains", "must hold host names such as app.example.com");
        }
        int valid = domains_normalise(s, host, sizeof host) == 0, dup = 0;
        size_t j;
        json_t *e;
        if (valid)
            json_array_foreach(out, j, e) dup |= strcmp(json_string_value(e), host) == 0;
        if (!valid || dup) {
            json_decref(out);
            http_reply_error(r, 422, "invalid_field", "field 'domains': '%.253s' is %s", s,
                             dup ? "listed twice" : "not a host name (like app.example.com)");
            return -1;
        }
        json_array_append_new(out, json_string(host));
    }
    char *text = jx_dump(out, NULL);
    json_decref(out);
    if (!text) {
        http_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    free(a->domains_json);
    a->domains_json = text;
    return 1;
}

static int cpus_field(struct req *r, json_t *b, struct app *a)
{
    json_t *v = json_object_get(b, "cpus");
    if (!v)
        return 0;
    if (json_is_null(v)) {
        a->cpus = 0;
        return 1;
    }
    if (!json_is_number(v)) {
        http_reply_error(r, 400, "invalid_field", "field 'cpus' must be a number or null");
        return -1;
    }
    double x = json_number_value(v);
    if (!isfinite(x) || x < 0.01 || x > 1024)
        return bad(r, "cpus", "must be 0.01-1024 (or null)");
    a->cpus = x;
    return 1;
}

/* The server named by field 'server' (id or name): in the org, in service. */
static int server_field(struct req *r, json_t *b, int required, struct server *sv)
{
    json_t *v = json_object_get(b, "server");
    char ref[128];
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        http_reply_error(r, 422, "missing_field", "field 'server' (a server id or name) is "
                         "required");
        return -1;
    }
    if (json_is_integer(v))
        snprintf(ref, sizeof ref, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v) && strlen(json_string_value(v)) < sizeof ref)
        util_strlcpy(ref, json_string_value(v), sizeof ref);
    else {
        http_reply_error(r, 400, "invalid_field", "field 'server' must be a server id or name");
        return -1;
    }
    if (api_server_of(r, ref, sv) < 0 || api_server_refuse_decommissioned(r, sv) < 0)
        return -1;
    return 1;
}

/* Applies every present field of b to a; -1 after answering. */
static int apply_fields(struct req *r, json_t *b, struct app *a)
{
    int64_t v;
    int rc;
    if (str_field(r, b, "name", a->name, sizeof a->name, app_name_valid,
                  "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter and "
                  "not ending with '-'") < 0)
        return -1;
    const char *url = NULL;
    if (req_str(r, b, "repo_url", 0, &url) < 0)
        return -1;
    if (url) {
        const char *why = repo_url_problem(url);
        if (why)
            return bad(r, "repo_url", why);
        util_strlcpy(a->repo_url, url, sizeof a->repo_url);
    }
    if (str_field(r, b, "branch", a->branch, sizeof a->branch, branch_valid,
                  "must be a git branch name (letters, digits, '.', '_', '-', '/', '+'; "
                  "no '..', not starting with '-')") < 0 ||
        str_field(r, b, "dockerfile", a->dockerfile, sizeof a->dockerfile, repo_path_valid,
                  "must be a relative path inside the repository (no '..', no leading "
                  "'/' or '-')") < 0 ||
        str_field(r, b, "context", a->context, sizeof a->context, repo_path_valid,
                  "must be a relative path inside the repository (no '..', no leading "
                  "'/' or '-')") < 0 ||
        str_field(r, b, "health_path", a->health_path, sizeof a->health_path,
                  health_path_valid, "must start with '/' and hold no spaces") < 0 ||
        str_field(r, b, "restart_policy", a->restart_policy, sizeof a->restart_policy,
                  restart_policy_valid,
                  "must be one of no, always, unless-stopped, on-failure") < 0)
        return -1;
    if ((rc = int_field(r, b, "container_port", 1, 65535, 0, &v)) < 0)
        return -1;
    if (rc)
        a->container_port = (int)v;
    if ((rc = int_field(r, b, "public_port", 1, 65535, 1, &v)) < 0)
        return -1;
    if (rc)
        a->public_port = (int)v;
    if ((rc = int_field(r, b, "memory", MEMORY_MIN, MEMORY_MAX, 1, &v)) < 0)
        return -1;
    if (rc)
        a->memory = v;
    if ((rc = int_field(r, b, "keep_images", 1, 100, 0, &v)) < 0)
        return -1;
    if (rc)
        a->keep_images = (int)v;
    if ((rc = int_field(r, b, "drain_seconds", 0, 3600, 0, &v)) < 0)
        return -1;
    if (rc)
        a->drain_seconds = (int)v;
    if ((rc = int_field(r, b, "clone_timeout", 1, 86400, 0, &v)) < 0)
        return -1;
    if (rc)
        a->clone_timeout = (int)v;
    if ((rc = int_field(r, b, "build_timeout", 1, 86400, 0, &v)) < 0)
        return -1;
    if (rc)
        a->build_timeout = (int)v;
    if ((rc = int_field(r, b, "health_timeout", 1, 3600, 0, &v)) < 0)
        return -1;
    if (rc)
        a->health_timeout = (int)v;
    if (req_bool(r, b, "auto_deploy", 0, &a->auto_deploy) < 0 || domains_field(r, b, a) < 0 ||
        cpus_field(r, b, a) < 0 || req_bool(r, b, "https_redirect", 0, &a->https_redirect) < 0 ||
        req_bool(r, b, "hsts", 0, &a->hsts) < 0)
        return -1;
    return 0;
}

static void app_defaults(struct app *a)
{
    memset(a, 0, sizeof *a);
    util_strlcpy(a->branch, "main", sizeof a->branch);
    util_strlcpy(a->dockerfile, "./Dockerfile", sizeof a->dockerfile);
    util_strlcpy(a->context, ".", sizeof a->context);
    util_strlcpy(a->health_path, "/", sizeof a->health_path);
    util_strlcpy(a->restart_policy, "unless-stopped", sizeof a->restart_policy);
    a->domains_json = strdup("[]");
    a->keep_images = 5;
    a->drain_seconds = 30;
    a->clone_timeout = 300;
    a->build_timeout = 1800;
    a->health_timeout = 120;
    a->https_redirect = 1;
}

/* ---- handlers ---- */

struct list_ctx {
    struct req *r;
    json_t *items;
};

static void list_one(void *arg, const struct app *a)
{
    struct list_ctx *x = arg;
    json_array_append_new(x->items, app_json(x->r, a));
}

void api_apps_list(struct req *r)
{
    struct list_ctx x = {r, json_array()};
    if (store_apps_each(r->srv->store, r->who.org_id, list_one, &x) != STORE_OK) {
        json_decref(x.items);
        api_store_error(r, STORE_ERR, "application");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", x.items));
}

void api_app_create(struct req *r)
{
    struct app a;
    struct server sv;
    app_defaults(&a);
    json_t *b = req_json(r);
    const char *name, *url;
    int64_t port;
    if (!b || req_only_fields(r, b, app_fields) < 0 || req_str(r, b, "name", 1, &name) < 0)
        goto done;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", name);
    if (req_str(r, b, "repo_url", 1, &url) < 0 || req_int(r, b, "container_port", 1, &port) < 0 ||
        apply_fields(r, b, &a) < 0 || server_field(r, b, 1, &sv) < 0)
        goto done;
    a.org_id = r->who.org_id;
    a.server_id = sv.id;
    a.created_at = a.updated_at = util_now();
    if (api_refuse_domain_clash(r, &a) < 0)
        goto done;
    int64_t id;
    int rc = store_app_create(r->srv->store, &a, &id);
    if (rc == STORE_CONFLICT) {
        http_reply_error(r, 409, "conflict", "application '%s' already exists", a.name);
        goto done;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "application");
        goto done;
    }
    a.id = id;
    if (strcmp(a.domains_json, "[]") != 0)
        domains_push(r->srv, a.org_id, a.server_id, a.id, r->who.user_id);
    snprintf(r->audit_target, sizeof r->audit_target, "app:%lld", (long long)id);
    r->audit_detail = json_pack("{s:s, s:I, s:s}", "name", a.name, "server_id",
                                (json_int_t)sv.id, "repo_url", a.repo_url);
    http_reply_json(r, 201, app_json(r, &a));
done:
    store_app_release(&a);
}

void api_app_get(struct req *r)
{
    struct app a;
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    http_reply_json(r, 200, app_json(r, &a));
    store_app_release(&a);
}

void api_app_update(struct req *r)
{
    struct app a;
    struct server sv;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    json_t *b = req_json(r);
    if (!b || req_only_fields(r, b, app_fields) < 0 || api_app_of(r, r->params[1], &a) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%lld", (long long)a.id);
    int rc;
    if (apply_fields(r, b, &a) < 0 || (rc = server_field(r, b, 0, &sv)) < 0)
        goto done;
    if (rc == 1 && sv.id != a.server_id) {
        /* Moving needs no deployment history: the old server's container
         * would otherwise be left behind, serving. */
        struct deployment d;
        int any = store_deployment_last_success(r->srv->store, a.id, 0, "", &d);
        if (any == STORE_OK || a.current_deployment_id ||
            store_deployment_active(r->srv->store, a.id, &d) == STORE_OK ||
            store_deployment_next(r->srv->store, a.id, &d) == STORE_OK) {
            http_reply_error(r, 409, "conflict", "application '%s' has deployments on server "
                             "%lld; create a new application for another server", a.name,
                             (long long)a.server_id);
            goto done;
        }
        a.server_id = sv.id;
    }
    if (api_refuse_domain_clash(r, &a) < 0)
        goto done;
    a.updated_at = util_now();
    rc = store_app_update(r->srv->store, &a);
    if (rc == STORE_CONFLICT) {
        http_reply_error(r, 409, "conflict", "application '%s' already exists", a.name);
        goto done;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "application");
        goto done;
    }
    /* audit: which fields changed, never values of secrets (apps hold none) */
    json_t *changed = json_array();
    const char *key;
    json_t *val;
    json_object_foreach(b, key, val) json_array_append_new(changed, json_string(key));
    if (json_object_get(b, "domains") || json_object_get(b, "https_redirect") || json_object_get(b, "hsts"))
        domains_push(r->srv, a.org_id, a.server_id, a.id, r->who.user_id);
    r->audit_detail = json_pack("{s:s, s:o}", "name", a.name, "fields", changed);
    http_reply_json(r, 200, app_json(r, &a));
done:
    store_app_release(&a);
}

void api_app_delete(struct req *r)
{
    struct app a;
    struct store *st = r->srv->store;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%lld", (long long)a.id);
    /* ?confirm= names the app again (its name, or the {app} sent). lws
     * collapses dot segments before berthd sees a path, so a client that
     * put ".." into a child's segment (DELETE .../apps/X/env/%2e%2e) would
     * otherwise reach this route; such a request carries no confirm. */
    char confirm[128];
    if (!req_query(r, "confirm", confirm, sizeof confirm)) {
        if (!r->replied)
            http_reply_error(r, 400, "confirm_required", "deleting an application needs "
                             "?confirm=<its name> ('%s')", a.name);
        goto done;
    }
    if (strcmp(confirm, a.name) != 0 && strcmp(confirm, r->params[1]) != 0) {
        http_reply_error(r, 400, "confirm_required", "?confirm= must name the application "
                         "('%s')", a.name);
        goto done;
    }
    struct deployment d;
    if (store_deployment_active(st, a.id, &d) == STORE_OK) {
        http_reply_error(r, 409, "deployment_running", "deployment %lld of '%s' is %s; cancel "
                         "it (POST .../deployments/%lld/cancel) before deleting the "
                         "application", (long long)d.id, a.name, d.status, (long long)d.id);
        goto done;
    }
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "application");
        goto done;
    }
    int rc = store_app_delete(st, a.id);
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        api_store_error(r, rc == STORE_OK ? STORE_ERR : rc, "application");
        goto done;
    }
    if (strcmp(a.domains_json ? a.domains_json : "[]", "[]") != 0)
        domains_push(r->srv, a.org_id, a.server_id, a.id, r->who.user_id); /* its names stop routing */
    r->audit_detail = json_pack("{s:s}", "name", a.name);
    http_reply_empty(r, 204);
done:
    store_app_release(&a);
}

/* ---- env ---- */

static int env_key_valid(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > ENV_KEY_MAX || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < l; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static int env_key_of(struct req *r, const char **key)
{
    *key = r->params[2];
    if (!env_key_valid(*key)) {
        http_reply_error(r, 422, "invalid_field", "env key '%.100s' must match [A-Z_][A-Z0-9_]* "
                         "(at most %d characters)", *key, ENV_KEY_MAX);
        return -1;
    }
    return 0;
}

/* {name, updated_at}: never the value. */
static void env_item(void *arg, const char *name, int64_t updated_at)
{
    json_array_append_new(arg, json_pack("{s:o, s:o}", "name",
                                         name ? json_string(name) : json_null(), "updated_at",
                                         api_time(updated_at)));
}

void api_app_env_list(struct req *r)
{
    struct app a;
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    json_t *items = json_array();
    int rc = store_app_env_names(r->srv->store, a.id, env_item, items);
    store_app_release(&a);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, rc, "env");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

void api_app_env_set(struct req *r)
{
    static const char *const fields[] = {"value", NULL};
    struct app a;
    const char *key, *value;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    json_t *b = req_json(r);
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "value", 1, &value) < 0 ||
        env_key_of(r, &key) < 0)
        return;
    size_t len = json_string_length(json_object_get(b, "value"));
    if (len > ENV_VALUE_MAX || memchr(value, '\0', len)) {
        http_reply_error(r, 422, "invalid_field", "field 'value' must be at most %d bytes, "
                         "without NUL", ENV_VALUE_MAX);
        return;
    }
    if (api_app_of(r, r->params[1], &a) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%lld", (long long)a.id);
    char ad[160];
    deploy_env_ad(a.id, key, ad, sizeof ad);
    char *sealed = crypto_seal(r->srv->secret_key, ad, value, len);
    int rc = sealed ? store_app_env_set(r->srv->store, a.id, key, sealed, util_now()) : STORE_ERR;
    free(sealed);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "env");
        goto done;
    }
    /* the key name only: never the value */
    r->audit_detail = json_pack("{s:s, s:s}", "app", a.name, "key", key);
    http_reply_json(r, 200, json_pack("{s:s, s:o}", "name", key, "updated_at",
                                      api_time(util_now())));
done:
    store_app_release(&a);
}

void api_app_env_unset(struct req *r)
{
    struct app a;
    const char *key;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%.100s", r->params[1]);
    if (env_key_of(r, &key) < 0 || api_app_of(r, r->params[1], &a) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "app:%lld", (long long)a.id);
    int rc = store_app_env_unset(r->srv->store, a.id, key);
    if (rc == STORE_NOTFOUND)
        http_reply_error(r, 404, "not_found", "env key %s is not set on '%s'", key, a.name);
    else if (rc != STORE_OK)
        api_store_error(r, rc, "env");
    else {
        r->audit_detail = json_pack("{s:s, s:s}", "app", a.name, "key", key);
        http_reply_empty(r, 204);
    }
    store_app_release(&a);
}
