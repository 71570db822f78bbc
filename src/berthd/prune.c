/* prune.c - a server's stopped containers and old images removed as
 * preview -> run (docs/containers.md "Prune"):
 *   POST /api/v1/orgs/{org}/servers/{id}/containers/prune   (server:write)
 *     {"dry_run": true, "include": [ids]?}  the preview: what would go, with
 *                                           bytes, and a preview id
 *     {"preview": "bpv_..."}                removes exactly that list
 *
 * The preview is one prune_scan call (the runner's /system/df, summarised)
 * and a plan made here, where the apps are known: stopped containers this
 * berthd made for one of the organization's apps (never the serving
 * deployment's), images of those apps past each app's keep_images (never
 * the serving deployment's image, never one a staying container uses),
 * and whatever the request names by id in "include". The run is one prune
 * call carrying the preview's items; the runner re-checks each just
 * before removing it (a running container or an image a running container
 * uses is skipped) and removes nothing else.
 *
 * Owns: the previews (this file's table, PREVIEWS_MAX, each PREVIEW_TTL_S,
 * in memory: a berthd restart forgets them; a run consumes its preview),
 * and each call's context until containers.c hands back the result.
 */
#include "api.h"
#include "containers.h"
#include "crypto.h"
#include "deploy.h"
#include "prune.h"
#include "util.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEWS_MAX 64
#define PREVIEW_TTL_S 600
#define INCLUDE_MAX 100
#define SCAN_TIMEOUT_S 90       /* the runner's /system/df deadline is 60 s */
#define RUN_TIMEOUT_S 900       /* items one after the other, 30 s deadline each */
#define KEEP_DEFAULT 5

struct preview {
    char id[CRYPTO_TOKEN_MAX];  /* "" : free slot */
    int64_t org_id, server_id, user_id;
    lws_usec_t expires;
    json_t *items;              /* the answer's items (owned) */
};

static struct preview previews[PREVIEWS_MAX];

struct scan_ctx {
    int64_t server_id;
    char server_name[128];
    json_t *include;            /* owned copy, or NULL */
};

struct run_ctx {
    json_t *items;              /* the preview's items (owned) */
};

static void scan_ctx_free(void *arg)
{
    struct scan_ctx *x = arg;
    json_decref(x->include);
    free(x);
}

static void run_ctx_free(void *arg)
{
    struct run_ctx *x = arg;
    json_decref(x->items);
    free(x);
}

static void preview_clear(struct preview *p)
{
    json_decref(p->items);
    memset(p, 0, sizeof *p);
}

void prune_stop(void)
{
    for (size_t i = 0; i < PREVIEWS_MAX; i++)
        preview_clear(&previews[i]);
}

/* --- the plan --- */

/* "berth-IIIIIIII-APP:DEP" made by this berthd. The prefix (its
 * installation's, an HMAC) is made once: a plan reads every tag often. */
static int berth_tag(const struct srv *s, const char *tag, int64_t *app, int64_t *dep)
{
    static char prefix[16];
    char mine[96];
    long long a, d;
    int n = 0;
    if (!prefix[0]) {
        deploy_image_name(s, 1, 1, mine, sizeof mine); /* "berth-IIIIIIII-1:1" */
        snprintf(prefix, sizeof prefix, "%.14s", mine);
    }
    if (!tag || strncmp(tag, prefix, 14) != 0 ||
        sscanf(tag + 14, "-%lld:%lld%n", &a, &d, &n) != 2 || tag[14 + n] != '\0' || a <= 0 ||
        d <= 0)
        return -1;
    snprintf(mine, sizeof mine, "%s-%lld:%lld", prefix, a, d);
    if (strcmp(mine, tag) != 0)
        return -1; /* "-01", "+1", spaces: not how berth writes them */
    *app = a;
    *dep = d;
    return 0;
}

/* The org's apps met in a scan, looked up once: id -> {name, keep, current}. */
static json_t *app_of(struct srv *s, int64_t org_id, json_t *cache, int64_t id)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)id);
    json_t *v = json_object_get(cache, key);
    if (v)
        return json_is_null(v) ? NULL : v;
    struct app a;
    v = json_null();
    if (store_app_find(s->store, org_id, key, &a) == STORE_OK) {
        v = json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)a.id, "name", a.name, "keep",
                      (json_int_t)(a.keep_images > 0 ? a.keep_images : KEEP_DEFAULT), "current",
                      (json_int_t)a.current_deployment_id);
        store_app_release(&a);
    }
    json_object_set_new(cache, key, v ? v : json_null());
    return v && !json_is_null(v) ? v : NULL;
}

/* Does include name this id (full, or a prefix of at least 12)? */
static int included(json_t *include, const char *id)
{
    const char *hex = strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
    json_t *v;
    size_t i;
    json_array_foreach(include, i, v) {
        const char *w = json_string_value(v);
        if (strncmp(w, "sha256:", 7) == 0)
            w += 7;
        if (strncmp(hex, w, strlen(w)) == 0)
            return 1;
    }
    return 0;
}

static void refuse(json_t *refused, const char *id, const char *why)
{
    json_array_append_new(refused, json_pack("{s:s, s:s}", "id", id, "reason", why));
}

static json_t *app_ref(json_t *app)
{
    return app ? json_pack("{s:O, s:O}", "id", json_object_get(app, "id"), "name",
                           json_object_get(app, "name"))
               : json_null();
}

static int running_state(const char *st)
{
    return !st || strcmp(st, "running") == 0 || strcmp(st, "restarting") == 0 ||
           strcmp(st, "paused") == 0 || strcmp(st, "removing") == 0;
}

/* Stopped containers of this org's apps (not the serving deployment's),
 * and the included ones that are stopped; going collects their ids. */
static void plan_containers(struct srv *s, int64_t org_id, json_t *scan, json_t *include,
                            json_t *apps, json_t *items, json_t *refused, json_t *going)
{
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(scan, "containers"), i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *state = json_string_value(json_object_get(c, "state"));
        const char *label = json_string_value(
            json_object_get(json_object_get(c, "labels"), "berth.app"));
        int64_t a = 0, d = 0;
        json_t *app = NULL;
        char want[24];
        if (!id)
            continue;
        if (name && label && containers_berth_name(name, &a, &d) == 0) {
            snprintf(want, sizeof want, "%lld", (long long)a);
            if (strcmp(label, want) == 0)
                app = app_of(s, org_id, apps, a);
        }
        int named = include && included(include, id);
        if (!app && !named)
            continue;
        if (running_state(state)) {
            if (named)
                refuse(refused, id, "running");
            continue;
        }
        if (app && json_integer_value(json_object_get(app, "current")) == d) {
            if (named)
                refuse(refused, id, "the serving deployment's container");
            continue;
        }
        json_t *it = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:O, s:s}", "kind", "container", "id",
                               id, "name", name, "app", app_ref(app), "deployment",
                               app ? json_integer(d) : json_null(), "bytes",
                               json_object_get(c, "size"), "why",
                               app ? "stopped berth container" : "named in include");
        if (it) {
            json_array_append_new(items, it);
            json_object_set_new(going, id, json_true());
        }
    }
}

/* An image's berth tags: parallel arrays of app and deployment ids; -1
 * when it has a tag that is not this berthd's (then it is not berth's). */
static int image_tags(const struct srv *s, json_t *im, int64_t *apps, int64_t *deps, int max)
{
    json_t *t;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(im, "tags"), i, t) {
        if (n >= max || berth_tag(s, json_string_value(t), &apps[n], &deps[n]) < 0)
            return -1;
        n++;
    }
    return n;
}

/* The newest deployment of app among an image's tags (0: none). */
static int64_t newest_for(const struct srv *s, json_t *im, int64_t app)
{
    int64_t as[PROTO_PRUNE_TAGS_MAX], ds[PROTO_PRUNE_TAGS_MAX], best = 0;
    int n = image_tags(s, im, as, ds, PROTO_PRUNE_TAGS_MAX);
    for (int k = 0; k < n; k++)
        if (as[k] == app && ds[k] > best)
            best = ds[k];
    return best;
}

/* Is image i among the keep newest images of app? */
static int kept(const struct srv *s, json_t *images, size_t i, int64_t app, int64_t keep)
{
    int64_t mine = newest_for(s, json_array_get(images, i), app);
    int64_t newer = 0;
    json_t *im;
    size_t j;
    json_array_foreach(images, j, im)
        if (j != i && newest_for(s, im, app) > mine)
            newer++;
    return newer < keep;
}

static void plan_images(struct srv *s, int64_t org_id, json_t *scan, json_t *include,
                        json_t *apps, json_t *items, json_t *refused, json_t *going)
{
    json_t *images = json_object_get(scan, "images"), *im, *c, *used = json_object();
    size_t i;
    /* images a staying container (running or not) holds stay */
    json_array_foreach(json_object_get(scan, "containers"), i, c) {
        const char *cid = json_string_value(json_object_get(c, "id"));
        const char *img = json_string_value(json_object_get(c, "image_id"));
        if (img && cid && !json_object_get(going, cid))
            json_object_set_new(used, img, json_true());
    }
    json_array_foreach(images, i, im) {
        const char *id = json_string_value(json_object_get(im, "id"));
        int64_t as[PROTO_PRUNE_TAGS_MAX], ds[PROTO_PRUNE_TAGS_MAX];
        int n = image_tags(s, im, as, ds, PROTO_PRUNE_TAGS_MAX);
        int named = include && id && included(include, id);
        json_t *app = NULL;
        int keep = 0, ours = n > 0;
        int dangling = 0;
        if (!id)
            continue;
        if (n == 0 && json_integer_value(json_object_get(im, "containers")) == 0) {
            /* a layer a build left: berth's when every image that shares
             * its nearest tagged ancestry is one of this org's apps' */
            json_t *lin = json_object_get(im, "lineage"), *t;
            size_t k;
            dangling = json_array_size(lin) > 0;
            json_array_foreach(lin, k, t) {
                int64_t la, ld;
                json_t *ap = NULL;
                if (berth_tag(s, json_string_value(t), &la, &ld) < 0 ||
                    !(ap = app_of(s, org_id, apps, la))) {
                    dangling = 0;
                    break;
                }
                app = app ? app : ap;
            }
            if (!dangling)
                app = NULL;
        }
        for (int k = 0; k < n && ours; k++) {
            json_t *ap = app_of(s, org_id, apps, as[k]);
            if (!ap) {
                ours = 0; /* another organization's app, or one gone */
                break;
            }
            app = app ? app : ap;
            if (json_integer_value(json_object_get(ap, "current")) == ds[k] ||
                kept(s, images, i, as[k], json_integer_value(json_object_get(ap, "keep"))))
                keep = 1;
        }
        if (!ours && !dangling && !named)
            continue;
        if (json_object_get(used, id)) {
            if (named)
                refuse(refused, id, "used by a container");
            continue;
        }
        if (ours && keep) {
            if (named)
                refuse(refused, id, "kept: serving, or within the app's keep_images");
            continue;
        }
        json_int_t size = json_integer_value(json_object_get(im, "size"));
        json_int_t shared = json_integer_value(json_object_get(im, "shared"));
        json_t *uniq = json_object_get(im, "unique");
        if (json_is_integer(uniq) && json_integer_value(uniq) >= 0) { /* the runner's tree */
            size = json_integer_value(uniq);
            shared = 0;
        }
        json_t *it = json_pack("{s:s, s:s, s:O, s:O, s:o, s:I, s:s}", "kind", "image", "id", id,
                               "name", json_array_size(json_object_get(im, "tags"))
                                           ? json_array_get(json_object_get(im, "tags"), 0)
                                           : json_null(),
                               "tags", json_object_get(im, "tags"), "app",
                               ours || dangling ? app_ref(app) : json_null(), "bytes",
                               shared > 0 && shared <= size ? size - shared : size, "why",
                               ours       ? "past the app's keep_images"
                               : dangling ? "dangling layer of a berth build"
                                          : "named in include");
        if (it) {
            if (ours && n == 1)
                json_object_set_new(it, "deployment", json_integer(ds[0]));
            json_array_append_new(items, it);
        }
    }
    json_decref(used);
}

/* --- preview --- */

static struct preview *preview_slot(void)
{
    lws_usec_t now = lws_now_usecs();
    for (size_t i = 0; i < PREVIEWS_MAX; i++) {
        struct preview *p = &previews[i];
        if (p->id[0] && p->expires <= now)
            preview_clear(p);
        if (!p->id[0])
            return p;
    }
    return NULL;
}

static void sum(json_t *items, int64_t *bytes, int *containers, int *images)
{
    json_t *it;
    size_t i;
    *bytes = 0;
    *containers = *images = 0;
    json_array_foreach(items, i, it) {
        *bytes += json_integer_value(json_object_get(it, "bytes"));
        if (strcmp(json_string_value(json_object_get(it, "kind")), "image") == 0)
            (*images)++;
        else
            (*containers)++;
    }
}

static void scan_done(struct req *r, void *arg, const struct proto_docker_result *res)
{
    struct scan_ctx *x = arg;
    json_t *items = NULL, *refused = NULL, *apps = NULL, *going = NULL;
    if (http_gone(r))
        goto done;
    if (!res->ok || !json_is_object(res->result)) {
        http_reply_error(r, 502, "docker_error", "%s",
                         res->error ? res->error : "the runner could not list containers");
        goto answered;
    }
    items = json_array();
    refused = json_array();
    apps = json_object();
    going = json_object();
    if (!items || !refused || !apps || !going) {
        http_reply_error(r, 500, "internal", "out of memory");
        goto answered;
    }
    plan_containers(r->srv, r->who.org_id, res->result, x->include, apps, items, refused, going);
    plan_images(r->srv, r->who.org_id, res->result, x->include, apps, items, refused, going);
    struct preview *p = preview_slot();
    if (!p) {
        http_reply_error(r, 503, "busy", "too many prune previews open; try again later");
        goto answered;
    }
    crypto_token_new("bpv", p->id);
    p->org_id = r->who.org_id;
    p->server_id = x->server_id;
    p->user_id = r->who.user_id;
    p->expires = lws_now_usecs() + (lws_usec_t)PREVIEW_TTL_S * LWS_US_PER_SEC;
    p->items = json_incref(items);
    int64_t bytes;
    int nc, ni;
    sum(items, &bytes, &nc, &ni);
    r->audit_detail = json_pack("{s:b, s:i, s:i, s:I}", "dry_run", 1, "containers", nc,
                                "images", ni, "bytes", (json_int_t)bytes);
    http_reply_json(r, 200,
                    json_pack("{s:s, s:s, s:i, s:O, s:I, s:O, s:b}", "preview", p->id, "server",
                              x->server_name, "expires_in", PREVIEW_TTL_S, "items", items,
                              "total_bytes", (json_int_t)bytes, "not_included", refused,
                              "truncated", json_is_true(json_object_get(res->result, "truncated"))));
answered:
    http_complete(r);
done:
    json_decref(items);
    json_decref(refused);
    json_decref(apps);
    json_decref(going);
    scan_ctx_free(x);
}

/* --- run --- */

static void run_done(struct req *r, void *arg, const struct proto_docker_result *res)
{
    struct run_ctx *x = arg;
    json_t *removed = json_array(), *skipped = json_array(), *failed = json_array(), *it, *o;
    size_t i, j;
    int64_t freed = 0;
    if (http_gone(r))
        goto done;
    if (!res->ok) {
        http_reply_error(r, 502, "docker_error", "%s; the preview is used up, make a new one",
                         res->error ? res->error : "the runner could not prune");
        http_complete(r);
        goto done;
    }
    json_t *outs = json_object_get(res->result, "items");
    json_array_foreach(x->items, i, it) {
        const char *id = json_string_value(json_object_get(it, "id"));
        const char *outcome = "failed", *reason = "the runner did not report it";
        json_array_foreach(outs, j, o) {
            const char *oid = json_string_value(json_object_get(o, "id"));
            const char *oc = json_string_value(json_object_get(o, "outcome"));
            if (oid && oc && strcmp(oid, id) == 0) {
                outcome = oc;
                reason = json_string_value(json_object_get(o, "reason"));
                break;
            }
        }
        json_t *copy = json_deep_copy(it);
        if (!copy)
            continue;
        json_object_set_new(copy, "reason", reason ? json_string(reason) : json_null());
        if (strcmp(outcome, "removed") == 0) {
            freed += json_integer_value(json_object_get(it, "bytes"));
            json_array_append_new(removed, copy);
        } else {
            json_array_append_new(strcmp(outcome, "skipped") == 0 ? skipped : failed, copy);
        }
    }
    int64_t b;
    int nc, ni;
    sum(removed, &b, &nc, &ni);
    r->audit_detail = json_pack("{s:b, s:i, s:i, s:i, s:i, s:I}", "dry_run", 0,
                                "removed_containers", nc, "removed_images", ni, "skipped",
                                (int)json_array_size(skipped), "failed",
                                (int)json_array_size(failed), "bytes_freed", (json_int_t)freed);
    http_reply_json(r, 200, json_pack("{s:O, s:O, s:O, s:I}", "removed", removed, "skipped",
                                      skipped, "failed", failed, "bytes_freed",
                                      (json_int_t)freed));
    http_complete(r);
done:
    json_decref(removed);
    json_decref(skipped);
    json_decref(failed);
    run_ctx_free(x);
}

/* The preview by id, if it is this org's, server's and user's and alive. */
static struct preview *preview_find(struct req *r, const char *id, int64_t server_id)
{
    lws_usec_t now = lws_now_usecs();
    size_t n = strlen(id);
    for (size_t i = 0; i < PREVIEWS_MAX; i++) {
        struct preview *p = &previews[i];
        if (!p->id[0] || strlen(p->id) != n || !crypto_ct_eq(p->id, id, n))
            continue;
        if (p->expires <= now) {
            preview_clear(p);
            return NULL;
        }
        if (p->org_id != r->who.org_id || p->server_id != server_id ||
            p->user_id != r->who.user_id)
            return NULL;
        return p;
    }
    return NULL;
}

/* include: at most INCLUDE_MAX ids, each 12-64 lower hex, "sha256:" allowed. */
static int include_ok(struct req *r, json_t *include)
{
    json_t *v;
    size_t i;
    if (json_array_size(include) > INCLUDE_MAX) {
        http_reply_error(r, 422, "invalid_field", "field 'include' holds at most %d ids",
                         INCLUDE_MAX);
        return -1;
    }
    json_array_foreach(include, i, v) {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        if (s && strncmp(s, "sha256:", 7) == 0) {
            s += 7;
            n -= 7;
        }
        int ok = s && n >= 12 && n <= 64;
        for (size_t k = 0; ok && k < n; k++)
            ok = (s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f');
        if (!ok) {
            http_reply_error(r, 422, "invalid_field", "field 'include' must hold container or "
                             "image ids (12 to 64 lower-case hex digits)");
            return -1;
        }
    }
    return 0;
}

void api_containers_prune(struct req *r)
{
    static const char *const fields[] = {"dry_run", "preview", "include", NULL};
    json_t *b = req_json(r), *include = NULL;
    const char *pid = NULL;
    int dry = 0, has_dry;
    struct server sv;
    if (!b || req_only_fields(r, b, fields) < 0 ||
        (has_dry = req_bool(r, b, "dry_run", 0, &dry)) < 0 ||
        req_str(r, b, "preview", 0, &pid) < 0 || req_array(r, b, "include", 0, &include) < 0)
        return;
    if (api_server_of(r, r->params[1], &sv) < 0 || api_server_refuse_decommissioned(r, &sv) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "server:%lld", (long long)sv.id);
    if (dry && pid) {
        http_reply_error(r, 400, "invalid_field", "give either dry_run (a preview) or preview "
                         "(run one), not both");
        return;
    }
    if (!dry && !pid) {
        http_reply_error(r, 422, "missing_field", "prune runs a preview: send {\"dry_run\": "
                         "true} first, then {\"preview\": ID}");
        return;
    }
    if (pid && include) {
        http_reply_error(r, 400, "invalid_field", "field 'include' goes with the preview, not "
                         "the run");
        return;
    }
    if (dry) {
        if (include && include_ok(r, include) < 0)
            return;
        struct scan_ctx *x = calloc(1, sizeof *x);
        if (!x || (include && !(x->include = json_deep_copy(include)))) {
            free(x);
            http_reply_error(r, 500, "internal", "out of memory");
            return;
        }
        x->server_id = sv.id;
        util_strlcpy(x->server_name, sv.name, sizeof x->server_name);
        struct containers_call cc = {.op = PROTO_OP_PRUNE_SCAN, .timeout_s = SCAN_TIMEOUT_S,
                                     .done = scan_done, .arg = x, .arg_free = scan_ctx_free};
        if (containers_send(r, &sv, &cc) < 0)
            scan_ctx_free(x);
        return;
    }
    struct preview *p = preview_find(r, pid, sv.id);
    if (!p) {
        http_reply_error(r, 404, "not_found", "no such prune preview for this server (unknown, "
                         "another user's, used, or expired after %d minutes)",
                         PREVIEW_TTL_S / 60);
        return;
    }
    json_t *wire = json_array(), *it;
    size_t i;
    json_array_foreach(p->items, i, it) {
        json_t *w = json_pack("{s:O, s:O}", "kind", json_object_get(it, "kind"), "id",
                              json_object_get(it, "id"));
        if (w && json_object_get(it, "tags"))
            json_object_set(w, "tags", json_object_get(it, "tags"));
        if (w)
            json_array_append_new(wire, w);
    }
    struct run_ctx *x = calloc(1, sizeof *x);
    if (!x || !wire) {
        free(x);
        json_decref(wire);
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    x->items = json_incref(p->items);
    struct containers_call cc = {.op = PROTO_OP_PRUNE, .items = wire, .timeout_s = RUN_TIMEOUT_S,
                                 .done = run_done, .arg = x, .arg_free = run_ctx_free};
    if (containers_send(r, &sv, &cc) < 0)
        run_ctx_free(x); /* not sent (503): the preview stays */
    else
        preview_clear(p); /* sent: one run per preview, whatever comes of it */
    json_decref(wire);
}
