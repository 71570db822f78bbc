/* api_servers.c - servers of an organization: add (with a one-time
 * registration token and the install command), read (stored state plus the
 * hub's live view), rename, decommission, delete, metrics history, and the
 * runner's install script and binary downloads.
 *
 * A decommissioned server is kept for audit and refuses every operation
 * with 409 (reads still answer); DELETE removes it only once
 * decommissioned. */
#include "access.h"
#include "api.h"
#include "hub.h"
#include "job.h"
#include "pool.h"
#include "util.h"
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REG_TTL_DEFAULT (15 * 60)
#define REG_TTL_MAX (7 * 24 * 3600)
#define HISTORY_DEFAULT 3600

/* The base URL runners and the install script use: public_url, else the
 * request's Host (only host-name characters, so it is safe in a shell). */
static void base_url(struct req *r, char *out, size_t n)
{
    const struct config *c = &r->srv->cfg;
    if (c->public_url[0]) {
        util_strlcpy(out, c->public_url, n);
        size_t l = strlen(out);
        while (l && out[l - 1] == '/')
            out[--l] = '\0';
        return;
    }
    char host[300] = "";
    int ok = r->wsi && lws_hdr_copy(r->wsi, host, 256, WSI_TOKEN_HOST) > 0;
    for (char *p = host; ok && *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
            ok = 0;
    if (!ok)
        snprintf(host, sizeof host, "%.256s:%d", c->listen_host, c->port);
    snprintf(out, n, "%s://%s", c->tls_cert[0] ? "https" : "http", host);
}

static json_t *server_json(struct req *r, const struct server *sv, int full)
{
    struct hub_live_info li;
    hub_server_info(r->srv->hub, sv->id, &li);
    int64_t last_seen = li.last_seen > sv->last_seen_at ? li.last_seen : sv->last_seen_at;
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:b}", "id",
                          (json_int_t)sv->id, "name", sv->name, "status", sv->status,
                          "status_reason", sv->status_reason, "status_changed_at",
                          api_time(sv->status_changed_at), "created_at",
                          api_time(sv->created_at), "last_seen_at", api_time(last_seen),
                          "decommissioned_at", api_time(sv->decommissioned_at), "registered",
                          sv->registered, "connected", li.connected);
    if (!full) {
        json_decref(li.metrics);
        return o;
    }
    json_t *metrics = NULL, *fp = NULL, *pc = NULL;
    store_server_docs(r->srv->store, sv->id, &metrics, &fp, &pc);
    if (li.metrics) {
        json_decref(metrics);
        metrics = li.metrics;
    }
    json_object_set_new(o, "metrics", metrics ? metrics : json_null());
    json_object_set_new(o, "fingerprint", fp ? fp : json_null());
    json_object_set_new(o, "precheck", pc ? pc : json_null());
    return o;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* ---- the list: paged, filtered, sorted (docs/api.md "Servers") ---- */

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 500
#define LIST_Q_MAX 100     /* a name is at most 100 characters */
#define LIST_CURSOR_MAX 200

static const struct {
    const char *name;
    enum store_server_sort sort;
} list_sorts[] = {
    {"name", STORE_SERVER_SORT_NAME},
    {"status", STORE_SERVER_SORT_STATUS},
    {"last_heartbeat", STORE_SERVER_SORT_SEEN},
    {"created", STORE_SERVER_SORT_CREATED},
};

static const char *const list_states[] = {"PROVISIONING", "ACTIVE", "UNREACHABLE",
                                          "DECOMMISSIONED", NULL};

struct servers_list {
    struct req *r;
    json_t *items;
    const char *sort_name;
    enum store_server_sort sort;
    int desc;
    char last[LIST_CURSOR_MAX]; /* the cursor after the last row handed */
};

/* The latest heartbeat's figures the list shows (bars), or NULL. */
static json_t *metrics_brief(json_t *m)
{
    static const char *const keys[] = {"cpu_pct", "mem_used", "mem_total", "disk_used",
                                       "disk_total", "at", NULL};
    if (!m)
        return json_null();
    json_t *o = json_object();
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(m, keys[i]);
        if (v)
            json_object_set(o, keys[i], v);
    }
    json_decref(m);
    return o;
}

/* {id, name, status, status_reason, status_changed_at, created_at,
 * last_seen_at, decommissioned_at, connected, metrics}: last_seen_at,
 * connected and metrics from the hub's live view when it has one. */
static void server_item(void *arg, const struct server_row *sv)
{
    struct servers_list *l = arg;
    struct hub_live_info li;
    hub_server_info(l->r->srv->hub, sv->id, &li);
    json_array_append_new(
        l->items,
        json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "id", (json_int_t)sv->id,
                  "name", str_or_null(sv->name), "status", str_or_null(sv->status),
                  "status_reason", str_or_null(sv->status_reason), "status_changed_at",
                  api_time(sv->status_changed_at), "created_at", api_time(sv->created_at),
                  "last_seen_at", api_time(li.last_seen ? li.last_seen : sv->last_seen_at),
                  "decommissioned_at", api_time(sv->decommissioned_at), "connected",
                  li.connected, "metrics", metrics_brief(li.metrics)));
    /* the cursor names the sort and the row's stored key (not the live
     * last_seen_at: the page's order is the store's) */
    char key[120];
    switch (l->sort) {
    case STORE_SERVER_SORT_NAME:
        snprintf(key, sizeof key, "%s", sv->name ? sv->name : "");
        break;
    case STORE_SERVER_SORT_STATUS:
        snprintf(key, sizeof key, "%s", sv->status ? sv->status : "");
        break;
    case STORE_SERVER_SORT_SEEN:
        snprintf(key, sizeof key, "%lld", (long long)sv->last_seen_at);
        break;
    default:
        snprintf(key, sizeof key, "%lld", (long long)sv->created_at);
    }
    snprintf(l->last, sizeof l->last, "v1.%s.%c.%lld.%s", l->sort_name, l->desc ? 'd' : 'a',
             (long long)sv->id, key);
}

static int list_refuse(struct req *r, const char *fmt, const char *arg)
{
    http_reply_error(r, 400, "invalid_query", fmt, arg);
    return -1;
}

static int is_state(const char *s)
{
    for (int i = 0; list_states[i]; i++)
        if (strcmp(s, list_states[i]) == 0)
            return 1;
    return 0;
}

/* "v1.<sort>.<a|d>.<id>.<key>" as this answer's sort and direction gave
 * it: the position into p (after_text points into cur). */
static int parse_cursor(char *cur, const struct servers_list *l, struct store_server_page *p)
{
    char *f[5], *save = NULL, *t = cur;
    for (int i = 0; i < 4; i++) {
        f[i] = strtok_r(t, ".", &save);
        t = NULL;
        if (!f[i])
            return -1;
    }
    f[4] = save; /* the rest: a name may hold '.' */
    if (!f[4] || !*f[4] || strcmp(f[0], "v1") != 0 || strcmp(f[1], l->sort_name) != 0 ||
        strcmp(f[2], l->desc ? "d" : "a") != 0 || util_parse_i64(f[3], &p->after_id) < 0 ||
        p->after_id <= 0)
        return -1;
    switch (l->sort) {
    case STORE_SERVER_SORT_NAME:
        if (!api_name_valid(f[4]))
            return -1;
        p->after_text = f[4];
        break;
    case STORE_SERVER_SORT_STATUS:
        if (!is_state(f[4]))
            return -1;
        p->after_text = f[4];
        break;
    default:
        if (util_parse_i64(f[4], &p->after_int) < 0 || p->after_int < 0)
            return -1;
    }
    p->after = 1;
    return 0;
}

/* The query: limit, sort, status, q, cursor; -1 after answering 400. */
static int list_query(struct req *r, struct servers_list *l, struct store_server_page *p,
                      char *qbuf, char *status, char *cursor)
{
    char limit[16], sort[32];
    const char *v;
    p->org_id = r->who.org_id;
    p->limit = LIST_LIMIT_DEFAULT;
    l->sort = STORE_SERVER_SORT_CREATED;
    l->sort_name = "created";
    if ((v = req_query(r, "limit", limit, sizeof limit))) {
        int64_t n;
        if (util_parse_i64(v, &n) < 0 || n < 1 || n > LIST_LIMIT_MAX)
            return list_refuse(r, "query 'limit' must be a number from 1 to %s", "500");
        p->limit = (int)n;
    }
    if ((v = req_query(r, "sort", sort, sizeof sort)) && *v) {
        l->desc = *v == '-';
        v += l->desc;
        size_t i = 0, n = sizeof list_sorts / sizeof list_sorts[0];
        while (i < n && strcmp(v, list_sorts[i].name) != 0)
            i++;
        if (i == n)
            return list_refuse(r, "query 'sort' must be %s, with '-' first for descending",
                               "name, status, last_heartbeat or created");
        l->sort = list_sorts[i].sort;
        l->sort_name = list_sorts[i].name;
    }
    if ((v = req_query(r, "status", status, 32)) && *v) {
        if (!is_state(v))
            return list_refuse(r, "query 'status' must be %s",
                               "PROVISIONING, ACTIVE, UNREACHABLE or DECOMMISSIONED");
        p->status = v;
    }
    if ((v = req_query(r, "q", qbuf, LIST_Q_MAX + 1)) && *v) {
        for (const char *c = v; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
                return list_refuse(r, "query 'q' is part of a server name: %s",
                                   "A-Z, a-z, 0-9, '.', '_' and '-'");
        p->q = v;
    }
    if ((v = req_query(r, "cursor", cursor, LIST_CURSOR_MAX)) && *v &&
        parse_cursor(cursor, l, p) < 0)
        return list_refuse(r, "query 'cursor' is not a cursor this list gave for sort=%s "
                           "(the sort and its direction must stay the same)",
                           l->sort_name);
    p->sort = l->sort;
    p->desc = l->desc;
    return r->replied ? -1 : 0; /* a value too long was answered 400 */
}

void api_servers_list(struct req *r)
{
    struct servers_list l = {.r = r};
    struct store_server_page p = {0};
    char qbuf[LIST_Q_MAX + 1], status[32], cursor[LIST_CURSOR_MAX];
    if (list_query(r, &l, &p, qbuf, status, cursor) < 0)
        return;
    l.items = json_array();
    int more = 0;
    int64_t total = 0;
    int rc = store_servers_page(r->srv->store, &p, server_item, &l, &more, &total);
    if (rc != STORE_OK) {
        json_decref(l.items);
        api_store_error(r, rc, "server");
        return;
    }
    char sort[40];
    snprintf(sort, sizeof sort, "%s%s", l.desc ? "-" : "", l.sort_name);
    http_reply_json(r, 200, json_pack("{s:o, s:o, s:I, s:i, s:s}", "items", l.items,
                                      "next_cursor", more ? json_string(l.last) : json_null(),
                                      "total", (json_int_t)total, "limit", p.limit, "sort",
                                      sort));
}

/* New one-time registration token for sv; fills tok and *exp. */
static int issue_regtoken(struct req *r, int64_t server_id, int64_t ttl,
                          char tok[CRYPTO_TOKEN_MAX], int64_t *exp)
{
    char hash[CRYPTO_HASH_HEX];
    int64_t now = util_now();
    crypto_token_new("brg", tok);
    crypto_token_hash(r->srv->token_key, tok, hash);
    *exp = now + ttl;
    return store_regtoken_create(r->srv->store, server_id, hash, now, *exp);
}

static json_t *install_json(struct req *r, const char *tok, int64_t exp)
{
    char base[600], cmd[900];
    base_url(r, base, sizeof base);
    snprintf(cmd, sizeof cmd, "curl -sSL %s/install.sh | sh -s -- --token %s", base, tok);
    return json_pack("{s:s, s:o, s:s}", "registration_token", tok, "registration_expires_at",
                     api_time(exp), "install_command", cmd);
}

static int read_ttl(struct req *r, json_t *b, int64_t *ttl)
{
    *ttl = REG_TTL_DEFAULT;
    if (req_int(r, b, "expires_in", 0, ttl) < 0)
        return -1;
    if (*ttl < 1 || *ttl > REG_TTL_MAX) {
        http_reply_error(r, 422, "invalid_field",
                         "field 'expires_in' must be between 1 and %d seconds", REG_TTL_MAX);
        return -1;
    }
    return 0;
}

void api_server_create(struct req *r)
{
    static const char *const fields[] = {"name", "expires_in", NULL};
    struct store *st = r->srv->store;
    json_t *b = req_json(r);
    const char *name;
    int64_t ttl;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "name", 1, &name) < 0 ||
        read_ttl(r, b, &ttl) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%.100s", name);
    if (!api_name_valid(name)) {
        http_reply_error(r, 422, "invalid_field", "field 'name' must be 1-100 characters of "
                         "A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
        return;
    }
    int64_t id = 0, exp = 0;
    char tok[CRYPTO_TOKEN_MAX];
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "server");
        return;
    }
    int rc = store_server_create(st, r->who.org_id, name, util_now(), &id);
    if (rc == STORE_OK)
        rc = issue_regtoken(r, id, ttl, tok, &exp);
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        if (rc == STORE_CONFLICT)
            http_reply_error(r, 409, "conflict", "server '%s' already exists", name);
        else
            api_store_error(r, STORE_ERR, "server");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "server:%lld", (long long)id);
    r->audit_detail = json_pack("{s:s}", "name", name);
    struct server sv;
    if (store_server_get(st, id, &sv) != STORE_OK) {
        api_store_error(r, STORE_ERR, "server");
        return;
    }
    json_t *o = server_json(r, &sv, 0);
    json_t *inst = install_json(r, tok, exp);
    json_object_update(o, inst);
    json_decref(inst);
    crypto_wipe(tok, sizeof tok);
    http_reply_json(r, 201, o);
}

void api_server_get(struct req *r)
{
    struct server sv;
    if (api_server_of(r, r->params[1], &sv) < 0)
        return;
    http_reply_json(r, 200, server_json(r, &sv, 1));
}

void api_server_update(struct req *r)
{
    static const char *const fields[] = {"name", NULL};
    struct server sv;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%.100s", r->params[1]);
    json_t *b = req_json(r);
    const char *name = NULL;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "name", 0, &name) < 0 ||
        api_server_of(r, r->params[1], &sv) < 0 || api_server_refuse_decommissioned(r, &sv) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%lld", (long long)sv.id);
    if (name) {
        if (!api_name_valid(name)) {
            http_reply_error(r, 422, "invalid_field", "field 'name' must be 1-100 characters "
                             "of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or "
                             "digit");
            return;
        }
        int rc = store_server_rename(r->srv->store, sv.id, name);
        if (rc == STORE_CONFLICT) {
            http_reply_error(r, 409, "conflict", "server '%s' already exists", name);
            return;
        }
        if (rc != STORE_OK) {
            api_store_error(r, rc, "server");
            return;
        }
        r->audit_detail = json_pack("{s:s, s:s}", "from", sv.name, "to", name);
        util_strlcpy(sv.name, name, sizeof sv.name);
    }
    http_reply_json(r, 200, server_json(r, &sv, 1));
}

void api_server_decommission(struct req *r)
{
    struct server sv;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%.100s", r->params[1]);
    if (api_server_of(r, r->params[1], &sv) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%lld", (long long)sv.id);
    if (api_server_refuse_decommissioned(r, &sv) < 0)
        return;
    int rc = store_server_decommission(r->srv->store, sv.id, util_now());
    if (rc != STORE_OK || store_server_get(r->srv->store, sv.id, &sv) != STORE_OK) {
        api_store_error(r, rc == STORE_OK ? STORE_ERR : rc, "server");
        return;
    }
    hub_server_drop(r->srv->hub, sv.id);
    http_reply_json(r, 200, server_json(r, &sv, 1));
}

void api_server_delete(struct req *r)
{
    struct server sv;
    struct store *st = r->srv->store;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%.100s", r->params[1]);
    if (api_server_of(r, r->params[1], &sv) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%lld", (long long)sv.id);
    if (!sv.decommissioned_at) {
        http_reply_error(r, 409, "not_decommissioned",
                         "server '%s' is %s; decommission it before deleting it", sv.name,
                         sv.status);
        return;
    }
    int64_t napps = 0; /* apps reference their server (docs/deploy.md) */
    if (store_apps_on_server(st, sv.id, &napps) == STORE_OK && napps > 0) {
        http_reply_error(r, 409, "has_apps", "server '%s' still has %lld application(s); "
                         "delete them first", sv.name, (long long)napps);
        return;
    }
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "server");
        return;
    }
    int rc = store_server_delete(st, sv.id);
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        api_store_error(r, rc == STORE_OK ? STORE_ERR : rc, "server");
        return;
    }
    r->audit_detail = json_pack("{s:s}", "name", sv.name);
    hub_server_drop(r->srv->hub, sv.id);
    job_recount(r->srv);
    http_reply_empty(r, 204);
}

void api_server_regtoken(struct req *r)
{
    static const char *const fields[] = {"expires_in", NULL};
    struct server sv;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%.100s", r->params[1]);
    json_t *b = r->body.len ? req_json(r) : NULL;
    int64_t ttl = REG_TTL_DEFAULT;
    if (r->body.len && (!b || req_only_fields(r, b, fields) < 0 || read_ttl(r, b, &ttl) < 0))
        return;
    if (api_server_of(r, r->params[1], &sv) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%lld", (long long)sv.id);
    if (api_server_refuse_decommissioned(r, &sv) < 0)
        return;
    char tok[CRYPTO_TOKEN_MAX];
    int64_t exp;
    int rc = issue_regtoken(r, sv.id, ttl, tok, &exp);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "registration token");
        return;
    }
    json_t *o = install_json(r, tok, exp);
    crypto_wipe(tok, sizeof tok);
    json_object_set_new(o, "server_id", json_integer(sv.id));
    http_reply_json(r, 201, o);
}

void api_server_metrics(struct req *r)
{
    struct server sv;
    if (api_server_of(r, r->params[1], &sv) < 0)
        return;
    char arg[64];
    int64_t since = util_now() - HISTORY_DEFAULT;
    if (req_query(r, "since", arg, sizeof arg) && util_parse_time(arg, &since) < 0) {
        http_reply_error(r, 400, "invalid_query",
                         "'since' must be epoch seconds or YYYY-MM-DDTHH:MM:SSZ");
        return;
    }
    if (r->replied) /* a value too long: answered 400 */
        return;
    struct hub_live_info li;
    hub_server_info(r->srv->hub, sv.id, &li);
    http_reply_json(r, 200, json_pack("{s:I, s:o, s:o, s:o}", "server_id", (json_int_t)sv.id,
                                      "since", api_time(since), "latest",
                                      li.metrics ? li.metrics : json_null(), "points",
                                      hub_server_history(r->srv->hub, sv.id, since)));
}

/* {id, server_id, kind, status, exit_code, created_at, started_at,
 * finished_at} */
static void job_item(void *arg, const struct job_row *j)
{
    json_array_append_new(
        arg, json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)j->id,
                       "server_id", (json_int_t)j->server_id, "kind", str_or_null(j->kind),
                       "status", str_or_null(j->status), "exit_code",
                       j->has_exit ? json_integer(j->exit_code) : json_null(), "created_at",
                       api_time(j->created_at), "started_at", api_time(j->started_at),
                       "finished_at", api_time(j->finished_at)));
}

void api_server_jobs(struct req *r)
{
    struct server sv;
    if (api_server_of(r, r->params[1], &sv) < 0)
        return;
    json_t *items = json_array();
    int rc = store_jobs_each(r->srv->store, r->who.org_id, sv.id, 100, job_item, items);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, rc, "job");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* ---- install script and runner binary ---- */

/* A file next to the berthd executable (or in ../scripts/ of a build
 * tree), unless the environment names it. */
static int beside_exe(const char *env, const char *const *names, char *out, size_t n)
{
    const char *e = getenv(env);
    if (e && *e)
        return util_strlcpy(out, e, n);
    char exe[1024];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l <= 0)
        return -1;
    exe[l] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    for (int i = 0; names[i]; i++) {
        snprintf(out, n, "%s/%s", exe, names[i]);
        if (access(out, R_OK) == 0)
            return 0;
    }
    return -1;
}

void api_install_script(struct req *r)
{
    static const char *const names[] = {"install.sh", "../scripts/install.sh",
                                         "../share/berth/install.sh", NULL};
    char path[1200], base[600];
    char *text = NULL;
    size_t len = 0;
    /* A file beside berthd (or BERTH_INSTALL_SCRIPT) overrides the copy
     * embedded at build time (web.c), which every berthd carries. */
    if (beside_exe("BERTH_INSTALL_SCRIPT", names, path, sizeof path) < 0 ||
        util_read_file(path, 256 * 1024, &text, &len) < 0) {
        const unsigned char *emb = web_embedded("scripts/install.sh", &len);
        text = emb ? strndup((const char *)emb, len) : NULL;
        if (!text) {
            http_reply_error(r, 500, "internal", "the install script is not available");
            return;
        }
    }
    /* @BERTH_URL@ in the script becomes this control plane's base URL. */
    base_url(r, base, sizeof base);
    struct buf out;
    buf_init(&out, 512 * 1024);
    const char *p = text, *hit;
    int bad = 0;
    while (!bad && (hit = strstr(p, "@BERTH_URL@"))) {
        bad |= buf_append(&out, p, (size_t)(hit - p)) | buf_append(&out, base, strlen(base));
        p = hit + 11;
    }
    bad |= buf_append(&out, p, strlen(p));
    free(text);
    if (bad) {
        buf_release(&out);
        http_reply_error(r, 500, "internal", "install script too large");
        return;
    }
    char *data = buf_steal(&out, &len);
    http_reply_raw(r, 200, "text/x-shellscript; charset=utf-8", data, len);
}

/* The binary is hashed on a worker thread in HTTP_FILE_PIECE reads (never
 * whole in memory), and its open fd is handed to http_reply_file, which
 * streams it from the pool a piece at a time: the bytes sent are the bytes
 * hashed even if the file is replaced meanwhile (a rename keeps the open
 * inode). */
struct dl_job {
    struct req *r;
    char path[1200];
    int fd;
    uint64_t size;
    int err;
    char sha256[65]; /* hex, sent as X-Berth-SHA256 for install.sh to check */
};

#define DL_MAX (256ull * 1024 * 1024)

static void dl_work(void *arg)
{
    struct dl_job *j = arg;
    struct stat st;
    crypto_hash_sha256_state hs;
    unsigned char h[crypto_hash_sha256_BYTES];
    char *piece = malloc(HTTP_FILE_PIECE);
    j->err = -1;
    j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (!piece || j->fd < 0 || fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > DL_MAX)
        goto done;
    j->size = (uint64_t)st.st_size;
    crypto_hash_sha256_init(&hs);
    for (uint64_t off = 0; off < j->size;) {
        size_t want = j->size - off > HTTP_FILE_PIECE ? HTTP_FILE_PIECE : (size_t)(j->size - off);
        ssize_t n = pread(j->fd, piece, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto done;
        crypto_hash_sha256_update(&hs, (const unsigned char *)piece, (unsigned long long)n);
        off += (uint64_t)n;
    }
    crypto_hash_sha256_final(&hs, h);
    sodium_bin2hex(j->sha256, sizeof j->sha256, h, sizeof h);
    j->err = 0;
done:
    free(piece);
    if (j->err < 0 && j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
}

static void dl_done(void *arg)
{
    struct dl_job *j = arg;
    struct req *r = j->r;
    if (http_gone(r)) {
        if (j->fd >= 0)
            close(j->fd);
        free(j);
        return;
    }
    if (j->err < 0) {
        http_reply_error(r, 404, "not_found", "the runner binary is not installed with berthd "
                         "(set BERTH_RUNNER_BINARY)");
    } else {
        http_add_header(r, "content-disposition", "attachment; filename=\"berth-runner\"");
        http_add_header(r, "x-berth-sha256", j->sha256);
        http_reply_file(r, 200, "application/octet-stream", j->fd, j->size);
    }
    free(j);
    http_complete(r);
}

void api_runner_download(struct req *r)
{
    static const char *const names[] = {"berth-runner", NULL};
    struct dl_job *j = calloc(1, sizeof *j);
    if (!j) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    j->r = r;
    j->fd = -1;
    if (beside_exe("BERTH_RUNNER_BINARY", names, j->path, sizeof j->path) < 0) {
        free(j);
        http_reply_error(r, 404, "not_found", "the runner binary is not installed with berthd "
                         "(set BERTH_RUNNER_BINARY)");
        return;
    }
    http_defer(r);
    if (pool_submit(r->srv->pool, dl_work, dl_done, j) < 0) {
        r->pending = 0;
        free(j);
        http_reply_error(r, 503, "busy", "try again");
    }
}
