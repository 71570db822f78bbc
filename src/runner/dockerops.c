/* dockerops.c - container management for berthd (docker.call ->
 * docker.result, docs/protocol.md): list, inspect, start, stop, restart,
 * remove, each one Engine API call through docker.c on the runner's one
 * Docker endpoint, answered once with its result or Docker's error.
 *
 * A list is summarised here (id, names, image, state, status, created,
 * ports, berth's labels), at most LIST_MAX containers. An inspect of a
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

struct op {
    struct runner *r;
    char id[PROTO_CALL_ID_MAX + 1];
    enum proto_docker_op kind;
    char target[PROTO_CONTAINER_REF_MAX + 1];
};

static struct docker *dk;
static int inflight;

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

static void done_cb(void *arg, int status, json_t *body, const char *err)
{
    struct op *o = arg;
    if (err) {
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
        reply(o, 1, status, NULL, res);
        json_decref(res);
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
