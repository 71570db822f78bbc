/* api_repos.c - an organization's git repositories for push webhooks and
 * private clones (docs/webhooks.md): register one (its webhook secret is
 * generated, shown once and stored sealed), list, read, remove, its recent
 * deliveries, and its clone credentials: an SSH deploy key or a GitHub
 * App (both stored sealed, never returned).
 *
 * Scopes: app:read reads; app:write changes. Another organization's ids
 * answer 404. Owns nothing beyond a request. */
#include "api.h"
#include "giturl.h"
#include "jsonx.h"
#include "outbound.h"
#include "repos.h"
#include "util.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (16 * 1024)
#define DELIVERIES_DEFAULT 50

static const char *const providers[] = {"github", "gitea", "gitlab", "generic", NULL};


static int provider_valid(const char *p)
{
    for (int i = 0; providers[i]; i++)
        if (strcmp(p, providers[i]) == 0)
            return 1;
    return 0;
}

/* Where the provider posts for this repository: <base>/hooks/<provider>/<id>,
 * base being public_url, else the request's Host (host-name characters
 * only), else the listen address. */
static void hook_url(struct req *r, const struct repo *rp, char *out, size_t n)
{
    const struct config *c = &r->srv->cfg;
    char base[600];
    if (c->public_url[0]) {
        util_strlcpy(base, c->public_url, sizeof base);
        size_t l = strlen(base);
        while (l && base[l - 1] == '/')
            base[--l] = '\0';
    } else {
        char host[300] = "";
        int ok = r->wsi && lws_hdr_copy(r->wsi, host, 256, WSI_TOKEN_HOST) > 0;
        for (char *p = host; ok && *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':' ||
                  *p == '[' || *p == ']'))
                ok = 0;
        if (!ok)
            snprintf(host, sizeof host, "%.256s:%d", c->listen_host, c->port);
        snprintf(base, sizeof base, "%s://%s", c->tls_cert[0] ? "https" : "http", host);
    }
    snprintf(out, n, "%s/hooks/%s/%lld", base, rp->provider, (long long)rp->id);
}

static json_t *repo_json(struct req *r, const struct repo *rp)
{
    char url[700];
    hook_url(r, rp, url, sizeof url);
    json_t *app = rp->gh_app_id
                      ? json_pack("{s:I, s:I, s:s}", "app_id", (json_int_t)rp->gh_app_id,
                                  "installation_id", (json_int_t)rp->gh_installation_id,
                                  "api_url", rp->gh_api_url)
                      : json_null();
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o}", "id", (json_int_t)rp->id,
                     "provider", rp->provider, "url", rp->url, "url_normalized", rp->url_norm,
                     "hook_url", url, "deploy_key", rp->deploy_key_sealed != NULL,
                     "github_app", app, "created_at", api_time(rp->created_at), "updated_at",
                     api_time(rp->updated_at));
}

/* The caller's org's repository {id} (params[1]); answers 404. */
static int repo_of(struct req *r, struct repo *rp)
{
    int64_t id;
    int rc = util_parse_i64(r->params[1], &id) == 0
                 ? store_repo_get(r->srv->store, r->who.org_id, id, rp)
                 : STORE_NOTFOUND;
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "repository not found: %s", r->params[1]);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "repository");
        return -1;
    }
    return 0;
}

/* No password in the URL (it would show in answers and logs). */
static int url_has_password(const char *u)
{
    const char *p = strstr(u, "://");
    if (!p)
        return 0;
    p += 3;
    size_t hl = strcspn(p, "/?#");
    const char *at = memchr(p, '@', hl);
    return at && memchr(p, ':', (size_t)(at - p));
}

/* ---- list, create, read, delete ---- */

struct list_ctx {
    struct req *r;
    json_t *items;
};

static void list_one(void *arg, const struct repo *rp)
{
    struct list_ctx *x = arg;
    json_array_append_new(x->items, repo_json(x->r, rp));
}

void api_repos_list(struct req *r)
{
    struct list_ctx x = {r, json_array()};
    int rc = store_repos_each(r->srv->store, r->who.org_id, list_one, &x);
    if (rc != STORE_OK) {
        json_decref(x.items);
        api_store_error(r, rc, "repository");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", x.items));
}

void api_repo_create(struct req *r)
{
    static const char *const fields[] = {"provider", "url", NULL};
    const char *provider = NULL, *url = NULL;
    char norm[GITURL_MAX], secret[CRYPTO_TOKEN_MAX], ad[96];
    char *sealed = NULL;
    int64_t id = 0, now = util_now();
    struct store *st = r->srv->store;
    json_t *b = req_json(r);
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "provider", 1, &provider) < 0 ||
        req_str(r, b, "url", 1, &url) < 0)
        return;
    if (!provider_valid(provider)) {
        http_reply_error(r, 422, "invalid_field", "field 'provider' must be one of github, gitea, "
                         "gitlab, generic");
        return;
    }
    if (strlen(url) > 1024 || giturl_normalize(url, norm, sizeof norm) < 0) {
        http_reply_error(r, 422, "invalid_field", "field 'url' must be a repository URL: "
                         "https://, http://, ssh://, git:// or user@host:owner/repo");
        return;
    }
    if (url_has_password(url)) {
        http_reply_error(r, 422, "invalid_field", "field 'url' must not carry a password");
        return;
    }
    crypto_token_new("bwh", secret);
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "repository");
        goto done;
    }
    int rc = store_repo_create(st, r->who.org_id, provider, url, norm, now, &id);
    if (rc == STORE_OK) {
        repos_secret_ad(id, "webhook", ad, sizeof ad);
        sealed = crypto_seal(r->srv->secret_key, ad, secret, strlen(secret));
        rc = sealed ? store_repo_set_secret(st, id, sealed) : STORE_ERR;
    }
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        if (rc == STORE_CONFLICT)
            http_reply_error(r, 409, "conflict", "the organization already has repository %s",
                             norm);
        else
            api_store_error(r, STORE_ERR, "repository");
        goto done;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%lld", (long long)id);
    r->audit_detail = json_pack("{s:s, s:s}", "provider", provider, "url", url);
    struct repo rp;
    if (store_repo_get(st, r->who.org_id, id, &rp) != STORE_OK) {
        api_store_error(r, STORE_ERR, "repository");
        goto done;
    }
    json_t *o = repo_json(r, &rp);
    store_repo_release(&rp);
    json_object_set_new(o, "webhook_secret", json_string(secret));
    http_reply_json(r, 201, o);
done:
    crypto_wipe(secret, sizeof secret);
    free(sealed);
}

void api_repo_get(struct req *r)
{
    struct repo rp;
    if (repo_of(r, &rp) < 0)
        return;
    http_reply_json(r, 200, repo_json(r, &rp));
    store_repo_release(&rp);
}

void api_repo_delete(struct req *r)
{
    struct repo rp;
    struct store *st = r->srv->store;
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%.100s", r->params[1]);
    if (repo_of(r, &rp) < 0)
        return;
    r->audit_detail = json_pack("{s:s, s:s}", "provider", rp.provider, "url", rp.url);
    int rc = store_begin(st);
    if (rc == STORE_OK)
        rc = store_repo_delete(st, rp.id);
    if (rc == STORE_OK)
        rc = store_commit(st);
    if (rc != STORE_OK) {
        store_rollback(st);
        api_store_error(r, rc, "repository");
    } else {
        http_reply_empty(r, 204);
    }
    store_repo_release(&rp);
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* {id, at, event, delivery_id, outcome, reason, status, ref, commit,
 * deployments: [ids]} */
static void delivery_item(void *arg, int64_t id, const struct hook_delivery *d)
{
    json_t *deps = json_loads(d->deployments_json ? d->deployments_json : "[]", 0, NULL);
    if (!json_is_array(deps)) {
        json_decref(deps);
        deps = json_array();
    }
    json_array_append_new(
        arg, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "id",
                       (json_int_t)id, "at", api_time(d->at), "event", str_or_null(d->event),
                       "delivery_id", str_or_null(d->delivery_id), "outcome",
                       str_or_null(d->outcome), "reason", str_or_null(d->reason), "status",
                       (json_int_t)d->status, "ref", str_or_null(d->ref), "commit",
                       str_or_null(d->commit), "deployments", deps));
}

void api_repo_deliveries(struct req *r)
{
    struct repo rp;
    char arg[16];
    int64_t limit = DELIVERIES_DEFAULT;
    if (req_query(r, "limit", arg, sizeof arg) &&
        (util_parse_i64(arg, &limit) < 0 || limit < 1 || limit > STORE_DELIVERIES_KEPT)) {
        http_reply_error(r, 422, "invalid_field", "limit must be 1-%d", STORE_DELIVERIES_KEPT);
        return;
    }
    if (r->replied) /* a value too long: answered 400 */
        return;
    if (repo_of(r, &rp) < 0)
        return;
    json_t *items = json_array();
    int rc = store_deliveries_each(r->srv->store, rp.id, (int)limit, delivery_item, items);
    store_repo_release(&rp);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, rc, "repository");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* ---- credentials ---- */

/* A PEM or OpenSSH private key: plain text with a BEGIN ... PRIVATE KEY
 * line and an END line. */
static int private_key_shape_ok(const char *k)
{
    size_t l = strlen(k);
    if (l < 64 || l > KEY_MAX || strncmp(k, "-----BEGIN ", 11) != 0)
        return 0;
    const char *eol = strchr(k, '\n');
    if (!eol || !memmem(k, (size_t)(eol - k), "PRIVATE KEY-----", 16))
        return 0;
    return strstr(k, "-----END ") != NULL;
}

/* Seals plain for repo id under what; NULL on failure (answered). */
static char *seal_for(struct req *r, int64_t id, const char *what, const char *plain)
{
    char ad[96];
    repos_secret_ad(id, what, ad, sizeof ad);
    char *s = crypto_seal(r->srv->secret_key, ad, plain, strlen(plain));
    if (!s)
        http_reply_error(r, 500, "internal", "cannot seal the key");
    return s;
}

static void answer_repo(struct req *r, int64_t id)
{
    struct repo now;
    if (store_repo_get(r->srv->store, r->who.org_id, id, &now) != STORE_OK) {
        api_store_error(r, STORE_ERR, "repository");
        return;
    }
    http_reply_json(r, 200, repo_json(r, &now));
    store_repo_release(&now);
}

void api_repo_deploy_key_set(struct req *r)
{
    static const char *const fields[] = {"private_key", NULL};
    const char *key = NULL;
    struct repo rp;
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%.100s", r->params[1]);
    json_t *b = req_json(r);
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "private_key", 1, &key) < 0)
        return;
    if (!private_key_shape_ok(key)) {
        http_reply_error(r, 422, "invalid_field", "field 'private_key' must be an SSH private "
                         "key (OpenSSH or PEM, \"-----BEGIN ... PRIVATE KEY-----\"), at most "
                         "16 KiB");
        return;
    }
    if (repo_of(r, &rp) < 0)
        return;
    char *sealed = seal_for(r, rp.id, "deploy_key", key);
    if (sealed) {
        int rc = store_repo_set_deploy_key(r->srv->store, rp.id, sealed, util_now());
        r->audit_detail = json_pack("{s:s}", "credential", "deploy_key");
        if (rc != STORE_OK)
            api_store_error(r, rc, "repository");
        else
            answer_repo(r, rp.id);
        free(sealed);
    }
    store_repo_release(&rp);
}

void api_repo_deploy_key_delete(struct req *r)
{
    struct repo rp;
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%.100s", r->params[1]);
    if (repo_of(r, &rp) < 0)
        return;
    if (!rp.deploy_key_sealed)
        http_reply_error(r, 404, "not_found", "repository %lld has no deploy key",
                         (long long)rp.id);
    else if (store_repo_set_deploy_key(r->srv->store, rp.id, NULL, util_now()) != STORE_OK)
        api_store_error(r, STORE_ERR, "repository");
    else
        http_reply_empty(r, 204);
    store_repo_release(&rp);
}

void api_repo_github_app_set(struct req *r)
{
    static const char *const fields[] = {"app_id", "installation_id", "private_key", "api_url",
                                         NULL};
    const char *key = NULL, *api_url = REPOS_GITHUB_API;
    int64_t app_id = 0, inst = 0;
    struct repo rp;
    char url[512];
    char why[300] = "";
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%.100s", r->params[1]);
    json_t *b = req_json(r);
    if (!b || req_only_fields(r, b, fields) < 0 || req_int(r, b, "app_id", 1, &app_id) < 0 ||
        req_int(r, b, "installation_id", 1, &inst) < 0 ||
        req_str(r, b, "private_key", 1, &key) < 0 || req_str(r, b, "api_url", 0, &api_url) < 0)
        return;
    if (app_id < 1 || inst < 1) {
        http_reply_error(r, 422, "invalid_field", "field '%s' must be a positive integer",
                         app_id < 1 ? "app_id" : "installation_id");
        return;
    }
    if (strchr(api_url, '?') || strchr(api_url, '#') ||
        outbound_url_check(r->srv->outbound, api_url, why, sizeof why) < 0) {
        http_reply_error(r, 422, "invalid_field", "field 'api_url' must be an https URL "
                         "berthd may reach, without credentials, query or fragment (default "
                         "%s): %s", REPOS_GITHUB_API, why[0] ? why : "a query or fragment");
        return;
    }
    util_strlcpy(url, api_url, sizeof url);
    for (size_t l = strlen(url); l && url[l - 1] == '/'; l--)
        url[l - 1] = '\0';
    if (strlen(key) > KEY_MAX || !gitauth_rsa_key_ok(key, strlen(key))) {
        http_reply_error(r, 422, "invalid_field", "field 'private_key' must be the GitHub App's "
                         "RSA private key (PEM)");
        return;
    }
    if (repo_of(r, &rp) < 0)
        return;
    char *sealed = seal_for(r, rp.id, "github_app_key", key);
    if (sealed) {
        int rc = store_repo_set_github_app(r->srv->store, rp.id, app_id, inst, url, sealed,
                                           util_now());
        r->audit_detail = json_pack("{s:s, s:I, s:I, s:s}", "credential", "github_app",
                                    "app_id", (json_int_t)app_id, "installation_id",
                                    (json_int_t)inst, "api_url", url);
        if (rc != STORE_OK)
            api_store_error(r, rc, "repository");
        else
            answer_repo(r, rp.id);
        free(sealed);
    }
    store_repo_release(&rp);
}

void api_repo_github_app_delete(struct req *r)
{
    struct repo rp;
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%.100s", r->params[1]);
    if (repo_of(r, &rp) < 0)
        return;
    if (!rp.gh_app_id)
        http_reply_error(r, 404, "not_found", "repository %lld has no GitHub App",
                         (long long)rp.id);
    else if (store_repo_set_github_app(r->srv->store, rp.id, 0, 0, NULL, NULL, util_now()) !=
             STORE_OK)
        api_store_error(r, STORE_ERR, "repository");
    else
        http_reply_empty(r, 204);
    store_repo_release(&rp);
}
