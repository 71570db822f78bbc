/* dockerops.c - container management for berthd (docker.call ->
 * docker.result, docs/protocol.md): list, inspect, start, stop, restart,
 * remove, each one Engine API call through docker.c on the runner's one
 * Docker endpoint, answered once with its result or Docker's error; and
 * prune_scan (one /system/df, summarised) and prune (items removed one
 * after the other, each re-checked just before).
 *
 * A list is summarised here (id, names, image, state, status, created,
 * ports, berth's labels), at most LIST_MAX containers, and each running
 * container's CPU and memory use added (stats, below). An inspect of a
 * container berth made (its name starts "berth-") has its env values
 * replaced by "<redacted>": they are the app's secrets, and berthd shows
 * names only. Calls run concurrently; each holds only its id until its
 * answer. Owns: the Docker client (made on first use, freed at exit) and
 * each call's struct op until its answer is sent.
 */
#include "dockerops.h"
#include "docker.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C "dockerops"
#define LIST_MAX 2000
#define STOP_TIMEOUT_S 10
#define CALL_TIMEOUT_S 60
#define OPS_MAX 64

/* stats: one-shot samples, STATS_PARALLEL at a time, each with its own
 * deadline, none started after STATS_BUDGET_US; CPU use is measured
 * against this runner's previous sample of the container (kept up to
 * STATS_PREV_MAX_US), or, for one it has none of, a second sample taken
 * STATS_GAP_US after the first. */
#define STATS_MAX 256
#define STATS_PARALLEL 16
#define STATS_TIMEOUT_S 4
#define STATS_BUDGET_US (4 * LWS_US_PER_SEC)
#define STATS_GAP_US (500 * LWS_US_PER_MS)
#define STATS_PREV_MAX_US (600 * LWS_US_PER_SEC)
#define STATS_CACHE 512

struct op {
    struct runner *r;
    char id[PROTO_CALL_ID_MAX + 1];
    enum proto_docker_op kind;
    char target[PROTO_CONTAINER_REF_MAX + 1];
    json_t *scan;               /* prune_scan: the df summary, until the lineage */
};

static struct docker *dk;
static int inflight;

/* The last sample of each container seen, for the next list's CPU use. */
static struct sample {
    char id[65];
    struct docker_usage u;
    lws_usec_t at;
} samples[STATS_CACHE];
static size_t samples_next;

/* A list waiting for its stats: items (owned), the running ones' indexes. */
struct statsrun {
    struct op *o;
    json_t *res;
    int idx[STATS_MAX];
    int second[STATS_MAX];      /* round 2: no previous sample */
    int n, next, inflight, n2;
    int round;
    lws_usec_t started;
    lws_sorted_usec_list_t sul;
};

struct statsq {
    struct statsrun *sr;
    int item;
};

/* A prune run: the items (owned copy), where it is, and the outcome. */
struct prunerun {
    struct op *o;
    json_t *items, *out;
    size_t at;
    size_t tag;                 /* image: the tag being removed */
    const char *id;
    int is_image;
    json_t *tags;
};

static void reply(struct op *o, int ok, int status, const char *error, json_t *result)
{
    struct proto_docker_result res = {o->id, ok, error, status, result};
    json_t *m = proto_docker_result(&res);
    if (!m) { /* the result broke a rule: say so rather than nothing */
        res.result = NULL;
        res.ok = 0;
        res.error = "the runner could not encode the result";
        m = proto_docker_result(&res);
    }
    if (m)
        link_send(o->r, m);
    json_decref(m);
}

static void finish(struct op *o)
{
    json_decref(o->scan);
    inflight--;
    free(o);
}

/* The summary berthd and people need of a /containers/json item. */
static json_t *summary(json_t *c)
{
    json_t *labels = json_object(), *ports = json_array(), *names = json_array();
    json_t *l = json_object_get(c, "Labels"), *v;
    const char *k;
    size_t i;
    json_object_foreach(l, k, v)
        if (strncmp(k, "berth.", 6) == 0 && json_is_string(v))
            json_object_set(labels, k, v);
    json_array_foreach(json_object_get(c, "Ports"), i, v) {
        json_t *p = json_pack("{s:O?, s:O?, s:O?, s:O?}", "ip", json_object_get(v, "IP"),
                              "private", json_object_get(v, "PrivatePort"), "public",
                              json_object_get(v, "PublicPort"), "proto",
                              json_object_get(v, "Type"));
        if (p)
            json_array_append_new(ports, p);
    }
    json_array_foreach(json_object_get(c, "Names"), i, v) {
        const char *n = json_string_value(v);
        if (n)
            json_array_append_new(names, json_string(n[0] == '/' ? n + 1 : n));
    }
    return json_pack("{s:O?, s:o, s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:o}", "id",
                     json_object_get(c, "Id"), "names", names, "image",
                     json_object_get(c, "Image"), "image_id", json_object_get(c, "ImageID"),
                     "state", json_object_get(c, "State"), "status",
                     json_object_get(c, "Status"), "created", json_object_get(c, "Created"),
                     "ports", ports, "labels", labels);
}

/* An inspect of a berth container: env values out. */
static void redact(json_t *inspect)
{
    const char *name = json_string_value(json_object_get(inspect, "Name"));
    if (!name || strncmp(name[0] == '/' ? name + 1 : name, "berth-", 6) != 0)
        return;
    json_t *env = json_object_get(json_object_get(inspect, "Config"), "Env"), *v;
    size_t i;
    json_array_foreach(env, i, v) {
        const char *e = json_string_value(v), *eq = e ? strchr(e, '=') : NULL;
        if (!eq)
            continue;
        char *red = NULL;
        if (asprintf(&red, "%.*s=<redacted>", (int)(eq - e), e) >= 0) {
            json_array_set_new(env, i, json_string(red));
            free(red);
        }
    }
}

/* --- stats --- */

static struct sample *sample_find(const char *id)
{
    for (size_t i = 0; i < STATS_CACHE; i++)
        if (samples[i].id[0] && strcmp(samples[i].id, id) == 0)
            return &samples[i];
    return NULL;
}

static void sample_keep(const char *id, const struct docker_usage *u, lws_usec_t now)
{
    struct sample *s = sample_find(id);
    if (!s) {
        s = &samples[samples_next];
        samples_next = (samples_next + 1) % STATS_CACHE;
        util_strlcpy(s->id, id, sizeof s->id);
    }
    s->u = *u;
    s->at = now;
}

static void stats_next(struct statsrun *sr);

static void stats_answer(struct statsrun *sr)
{
    reply(sr->o, 1, 200, NULL, sr->res);
    json_decref(sr->res);
    finish(sr->o);
    free(sr);
}

static void stats_round2(lws_sorted_usec_list_t *sul)
{
    struct statsrun *sr = lws_container_of(sul, struct statsrun, sul);
    memcpy(sr->idx, sr->second, sizeof sr->idx);
    sr->n = sr->n2;
    sr->n2 = 0;
    sr->next = 0;
    sr->round = 2;
    stats_next(sr);
}

static void stats_cb(void *arg, int status, json_t *body, const char *err)
{
    (void)status;
    struct statsq *q = arg;
    struct statsrun *sr = q->sr;
    json_t *it = json_array_get(json_object_get(sr->res, "items"), (size_t)q->item);
    const char *id = json_string_value(json_object_get(it, "id"));
    sr->inflight--;
    if (!err && json_is_object(body) && id && strlen(id) < sizeof samples[0].id) {
        struct docker_usage u;
        lws_usec_t now = lws_now_usecs();
        docker_stats_usage(body, &u);
        if (u.mem_bytes >= 0)
            json_object_set_new(it, "memory_bytes", json_integer(u.mem_bytes));
        if (u.mem_limit >= 0)
            json_object_set_new(it, "memory_limit", json_integer(u.mem_limit));
        struct sample *prev = sample_find(id);
        double pct = -1;
        if (prev && now - prev->at <= STATS_PREV_MAX_US && now > prev->at)
            pct = docker_cpu_percent(&prev->u, &u);
        if (pct >= 0)
            json_object_set_new(it, "cpu_percent", json_real((double)(long)(pct * 100) / 100));
        else if (sr->round == 1 && sr->n2 < STATS_MAX)
            sr->second[sr->n2++] = q->item;
        sample_keep(id, &u, now);
    }
    free(q);
    stats_next(sr);
}

/* Starts what the window allows; answers when all are in. */
static void stats_next(struct statsrun *sr)
{
    char path[256];
    while (sr->inflight < STATS_PARALLEL && sr->next < sr->n &&
           lws_now_usecs() - sr->started < STATS_BUDGET_US) {
        int item = sr->idx[sr->next++];
        const char *id = json_string_value(json_object_get(
            json_array_get(json_object_get(sr->res, "items"), (size_t)item), "id"));
        struct statsq *q = calloc(1, sizeof *q);
        if (!q || !id || strlen(id) != 64) {
            free(q);
            continue;
        }
        q->sr = sr;
        q->item = item;
        snprintf(path, sizeof path, "/containers/%s/stats?stream=false&one-shot=true", id);
        if (docker_request(dk, "GET", path, NULL, STATS_TIMEOUT_S, stats_cb, q) < 0) {
            free(q);
            continue;
        }
        sr->inflight++;
    }
    if (sr->inflight)
        return;
    if (sr->round == 1 && sr->n2 && lws_now_usecs() - sr->started < STATS_BUDGET_US) {
        lws_sul_schedule(sr->o->r->ctx, 0, &sr->sul, stats_round2, STATS_GAP_US);
        return;
    }
    stats_answer(sr);
}

/* The list is in res; its running containers' use is added, then sent. */
static void stats_start(struct op *o, json_t *res)
{
    struct statsrun *sr = calloc(1, sizeof *sr);
    json_t *it;
    size_t i;
    if (!sr) {
        reply(o, 1, 200, NULL, res);
        json_decref(res);
        finish(o);
        return;
    }
    sr->o = o;
    sr->res = res;
    sr->round = 1;
    sr->started = lws_now_usecs();
    json_array_foreach(json_object_get(res, "items"), i, it) {
        json_object_set_new(it, "cpu_percent", json_null());
        json_object_set_new(it, "memory_bytes", json_null());
        json_object_set_new(it, "memory_limit", json_null());
        const char *st = json_string_value(json_object_get(it, "state"));
        if (st && strcmp(st, "running") == 0 && sr->n < STATS_MAX)
            sr->idx[sr->n++] = (int)i;
    }
    stats_next(sr);
}

/* --- prune: each item re-checked, then removed, one after the other --- */

static void prune_next(struct prunerun *p);

static void prune_outcome(struct prunerun *p, const char *outcome, const char *reason)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?}", "kind", p->is_image ? "image" : "container",
                          "id", p->id, "outcome", outcome, "reason", reason);
    if (o)
        json_array_append_new(p->out, o);
    p->at++;
    prune_next(p);
}

static void prune_tag(struct prunerun *p);

/* Does a DELETE /images answer ([{"Untagged"}, {"Deleted"}...]) delete id? */
static int deleted(json_t *body, const char *id)
{
    json_t *v;
    size_t i;
    json_array_foreach(body, i, v) {
        const char *d = json_string_value(json_object_get(v, "Deleted"));
        if (d && strcmp(d, id) == 0)
            return 1;
    }
    return 0;
}

static void prune_removed(void *arg, int status, json_t *body, const char *err)
{
    (void)body;
    struct prunerun *p = arg;
    if (err && status != 404)
        prune_outcome(p, status == 409 ? "skipped" : "failed", err);
    else if (p->is_image && p->tag + 1 < json_array_size(p->tags)) {
        p->tag++;
        prune_tag(p); /* the image's next tag */
    } else if (p->is_image && status != 404 && !deleted(body, p->id))
        prune_outcome(p, "skipped", "untagged, but the image stays (another tag holds it)");
    else
        prune_outcome(p, "removed", status == 404 ? "already gone" : NULL);
}

static void prune_container_checked(void *arg, int status, json_t *body, const char *err)
{
    struct prunerun *p = arg;
    json_t *st = json_object_get(body, "State");
    if (status == 404)
        prune_outcome(p, "skipped", "gone");
    else if (err || !json_is_object(st))
        prune_outcome(p, "failed", err ? err : "bad inspect answer");
    else if (json_is_true(json_object_get(st, "Running")) ||
             json_is_true(json_object_get(st, "Paused")) ||
             json_is_true(json_object_get(st, "Restarting")))
        prune_outcome(p, "skipped", "running");
    /* not forced: one started since is refused (409) */
    else if (docker_container_remove(dk, p->id, 0, prune_removed, p) < 0)
        prune_outcome(p, "failed", "the call could not be made");
}

static void prune_tag_checked(void *arg, int status, json_t *body, const char *err)
{
    struct prunerun *p = arg;
    const char *tag = json_string_value(json_array_get(p->tags, p->tag));
    const char *now = json_string_value(json_object_get(body, "Id"));
    if (status == 404 || (!err && (!now || strcmp(now, p->id) != 0))) {
        /* the tag is gone, or names another image now: left alone */
        if (p->tag + 1 < json_array_size(p->tags)) {
            p->tag++;
            prune_tag(p);
        } else {
            prune_outcome(p, "skipped", "its tag is gone or names another image now");
        }
    } else if (err) {
        prune_outcome(p, "failed", err);
    } else if (docker_image_remove(dk, tag, 0, prune_removed, p) < 0) {
        prune_outcome(p, "failed", "the call could not be made");
    }
}

/* An image with tags goes tag by tag, each checked to still name it. */
static void prune_tag(struct prunerun *p)
{
    const char *tag = json_string_value(json_array_get(p->tags, p->tag));
    if (!tag || docker_image_inspect(dk, tag, prune_tag_checked, p) < 0)
        prune_outcome(p, "failed", "the call could not be made");
}

static void prune_image_checked(void *arg, int status, json_t *body, const char *err)
{
    (void)status;
    struct prunerun *p = arg;
    json_t *c;
    size_t i;
    if (err || !json_is_array(body)) {
        prune_outcome(p, "failed", err ? err : "bad list answer");
        return;
    }
    json_array_foreach(body, i, c) {
        const char *img = json_string_value(json_object_get(c, "ImageID"));
        if (img && strcmp(img, p->id) == 0) {
            prune_outcome(p, "skipped", "used by a running container");
            return;
        }
    }
    p->tag = 0;
    if (json_array_size(p->tags))
        prune_tag(p);
    else if (docker_image_remove(dk, p->id, 0, prune_removed, p) < 0)
        prune_outcome(p, "failed", "the call could not be made");
}

/* The next item: a container is inspected, an image checked against the
 * running containers, right before each removal. */
static void prune_next(struct prunerun *p)
{
    while (p->at < json_array_size(p->items)) {
        char err[160];
        int rc;
        if (proto_prune_item(json_array_get(p->items, p->at), &p->is_image, &p->id, &p->tags,
                             err, sizeof err) < 0) {
            p->at++; /* proto checked them all already */
            continue;
        }
        p->tag = 0;
        if (!p->is_image)
            rc = docker_container_inspect(dk, p->id, prune_container_checked, p);
        else
            rc = docker_container_list(dk, NULL, 0, prune_image_checked, p);
        if (rc < 0)
            prune_outcome(p, "failed", "the call could not be made");
        return;
    }
    json_t *res = json_pack("{s:O}", "items", p->out);
    reply(p->o, res != NULL, 200, res ? NULL : "out of memory", res);
    json_decref(res);
    json_decref(p->out);
    json_decref(p->items);
    finish(p->o);
    free(p);
}

static void prune_start(struct op *o, json_t *items)
{
    struct prunerun *p = calloc(1, sizeof *p);
    if (!p || !(p->out = json_array()) || !(p->items = json_deep_copy(items))) {
        if (p)
            json_decref(p->out);
        free(p);
        reply(o, 0, 0, "out of memory", NULL);
        finish(o);
        return;
    }
    p->o = o;
    prune_next(p);
}

static void done_cb(void *arg, int status, json_t *body, const char *err)
{
    struct op *o = arg;
    if (err && !(o->kind == PROTO_OP_PRUNE_SCAN && o->scan)) {
        reply(o, 0, status, err, NULL);
    } else if (o->kind == PROTO_OP_LIST) {
        json_t *items = json_array(), *c;
        size_t i;
        json_array_foreach(body, i, c) {
            if (i >= LIST_MAX)
                break;
            json_t *s = summary(c);
            if (s)
                json_array_append_new(items, s);
        }
        json_t *res = json_pack("{s:o, s:b}", "items", items, "truncated",
                                json_array_size(body) > LIST_MAX);
        if (res) {
            stats_start(o, res); /* answers, and frees o */
            return;
        }
        reply(o, 0, status, "out of memory", NULL);
    } else if (o->kind == PROTO_OP_PRUNE_SCAN && !o->scan) {
        /* then every image with its parent, for the dangling ones' lineage */
        o->scan = docker_df_summary(body);
        if (o->scan &&
            docker_request(dk, "GET", "/images/json?all=1", NULL, CALL_TIMEOUT_S, done_cb, o) == 0)
            return;
        reply(o, o->scan != NULL, status, o->scan ? NULL : "out of memory", o->scan);
    } else if (o->kind == PROTO_OP_PRUNE_SCAN) { /* the lineage is a bonus: not on error */
        if (!err && json_is_array(body))
            docker_df_lineage(o->scan, body);
        reply(o, 1, status, NULL, o->scan);
    } else if (o->kind == PROTO_OP_INSPECT) {
        if (json_is_object(body))
            redact(body);
        reply(o, 1, status, NULL, json_is_object(body) ? body : NULL);
    } else {
        json_t *res = json_pack("{s:s, s:s}", "container", o->target, "done",
                                proto_docker_op_name(o->kind));
        reply(o, 1, status, NULL, res);
        json_decref(res);
    }
    finish(o);
}

void dockerops_on_call(struct runner *r, json_t *msg)
{
    struct proto_docker_call c;
    char err[160], path[512];
    if (proto_parse_docker_call(msg, &c, err, sizeof err) < 0) {
        log_warn(C, "bad docker.call: %s", err);
        return; /* berthd's call times out with the reason in the log */
    }
    struct op *o = calloc(1, sizeof *o);
    if (!o)
        return;
    o->r = r;
    o->kind = c.op;
    util_strlcpy(o->id, c.id, sizeof o->id);
    if (c.target)
        util_strlcpy(o->target, c.target, sizeof o->target);
    inflight++;
    if (inflight > OPS_MAX) {
        reply(o, 0, 0, "too many container calls at once on this runner", NULL);
        finish(o);
        return;
    }
    if (!dk && docker_new(r->ctx, r->vh, r->docker_endpoint, &dk) < 0) {
        reply(o, 0, 0, "cannot reach Docker", NULL);
        finish(o);
        return;
    }
    int rc;
    switch (c.op) {
    case PROTO_OP_LIST:
        rc = docker_container_list(dk, NULL, 1, done_cb, o);
        break;
    case PROTO_OP_INSPECT:
        rc = docker_container_inspect(dk, o->target, done_cb, o);
        break;
    case PROTO_OP_START:
        rc = docker_container_start(dk, o->target, done_cb, o);
        break;
    case PROTO_OP_STOP:
        rc = docker_container_stop(dk, o->target, STOP_TIMEOUT_S, done_cb, o);
        break;
    case PROTO_OP_RESTART:
        snprintf(path, sizeof path, "/containers/%s/restart?t=%d", o->target, STOP_TIMEOUT_S);
        rc = docker_request(dk, "POST", path, NULL, CALL_TIMEOUT_S, done_cb, o);
        break;
    case PROTO_OP_REMOVE:
        rc = docker_container_remove(dk, o->target, 1, done_cb, o);
        break;
    case PROTO_OP_PRUNE_SCAN:
        rc = docker_request(dk, "GET", "/system/df", NULL, CALL_TIMEOUT_S, done_cb, o);
        break;
    case PROTO_OP_PRUNE:
        prune_start(o, c.items); /* answers, and frees o */
        return;
    default:
        rc = -1;
        break;
    }
    if (rc < 0) {
        reply(o, 0, 0, "the call could not be made", NULL);
        finish(o);
    }
}

void dockerops_release(void)
{
    docker_free(dk);
    dk = NULL;
}
