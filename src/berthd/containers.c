/* containers.c - a server's containers through its runner (docs/containers.md):
 *   GET    /api/v1/orgs/{org}/servers/{id}/containers            list (server:read)
 *   GET    /api/v1/orgs/{org}/servers/{id}/containers/{cid}      inspect (server:read)
 *   POST   .../containers/{cid}/start | stop | restart              (server:write)
 *   DELETE .../containers/{cid}                                     (server:write)
 * Each is one docker.call on the server's runner link, answered when its
 * docker.result comes (the request waits on the loop, http_defer), by its
 * deadline (CALL_TIMEOUT_S: 504), or when the link goes (503). berthd adds
 * what only it knows to a list: which of this organization's apps and
 * deployments a berth container belongs to.
 *
 * Owns: every pending call (this file's list) until its answer, timeout or
 * link loss; the req stays http.c's (a client gone meanwhile only detaches
 * it, and the answer then frees it).
 */
#include "containers.h"
#include "api.h"
#include "deploy.h"
#include "hub.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_S 75 /* the runner's own Docker deadline is 60 s */
#define CALLS_MAX 256

struct call {
    struct call *next;
    struct req *r;
    struct hub_conn *link;
    int64_t server_id;
    enum proto_docker_op op;
    containers_done_fn done;    /* NULL: this file answers */
    void *arg;
    void (*arg_free)(void *arg);
    char id[PROTO_CALL_ID_MAX + 1];
    lws_sorted_usec_list_t sul;
};

static struct {
    struct srv *srv;
    struct call *calls;
    int ncalls;
    uint64_t next_id;
} cs;

static void call_free(struct call *c)
{
    if (c->arg_free)
        c->arg_free(c->arg);
    for (struct call **pp = &cs.calls; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    cs.ncalls--;
    lws_sul_cancel(&c->sul);
    free(c);
}

/* Answers c's request (unless its client left) and frees c. */
static void answer_error(struct call *c, int status, const char *code, const char *msg)
{
    struct req *r = c->r;
    call_free(c);
    if (http_gone(r))
        return;
    http_reply_error(r, status, code, "%s", msg);
    http_complete(r);
}

/* "berth-IIIIIIII-APP-DEP" made by this berthd: app and deployment ids. */
int containers_berth_name(const char *name, int64_t *app, int64_t *dep)
{
    char mine[96];
    long long a, d;
    int n = 0;
    /* "berth-" and 8 hex digits are 14 bytes; the ids follow */
    if (strncmp(name, "berth-", 6) != 0 || strlen(name) < 18 ||
        sscanf(name + 14, "-%lld-%lld%n", &a, &d, &n) != 2 || name[14 + n] != '\0' || a <= 0 ||
        d <= 0)
        return -1;
    deploy_container_name(cs.srv, a, d, mine, sizeof mine);
    if (strcmp(mine, name) != 0)
        return -1; /* another berthd's, or not berth's at all */
    *app = a;
    *dep = d;
    return 0;
}

/* Adds "app" and "deployment" to list items that are this org's apps. */
static void annotate(json_t *items, int64_t org_id)
{
    json_t *it;
    size_t i;
    json_array_foreach(items, i, it) {
        json_t *app = json_null(), *dep = json_null();
        const char *name = json_string_value(json_array_get(json_object_get(it, "names"), 0));
        int64_t a, d;
        struct app ap;
        char ref[24];
        if (name && containers_berth_name(name, &a, &d) == 0) {
            snprintf(ref, sizeof ref, "%lld", (long long)a);
            if (store_app_find(cs.srv->store, org_id, ref, &ap) == STORE_OK) {
                app = json_pack("{s:I, s:s, s:b}", "id", (json_int_t)ap.id, "name", ap.name,
                                "serving", ap.current_deployment_id == d);
                dep = json_integer(d);
                store_app_release(&ap);
            }
        }
        json_object_set_new(it, "app", app ? app : json_null());
        json_object_set_new(it, "deployment", dep ? dep : json_null());
    }
}

static int on_result(void *arg, struct hub_conn *link, json_t *msg, char *why, size_t wn)
{
    (void)arg;
    struct proto_docker_result res;
    if (proto_parse_docker_result(msg, &res, why, wn) < 0)
        return -1;
    struct call *c = cs.calls;
    while (c && (c->link != link || strcmp(c->id, res.id) != 0))
        c = c->next;
    if (!c)
        return 0; /* timed out meanwhile, or not ours */
    if (!res.ok && !c->done) {
        int st = res.status == 404 ? 404 : res.status == 409 || res.status == 304 ? 409 : 502;
        answer_error(c, st, st == 404 ? "not_found" : st == 409 ? "conflict" : "docker_error",
                     res.error ? res.error : "Docker refused the call");
        return 0;
    }
    struct req *r = c->r;
    enum proto_docker_op op = c->op;
    if (c->done) { /* the caller answers, and owns arg from here */
        containers_done_fn done = c->done;
        void *a = c->arg;
        c->arg_free = NULL;
        call_free(c);
        done(r, a, &res);
        return 0;
    }
    call_free(c);
    if (http_gone(r))
        return 0;
    json_t *out = res.result ? json_deep_copy(res.result) : json_object();
    if (op == PROTO_OP_LIST)
        annotate(json_object_get(out, "items"), r->who.org_id);
    http_reply_json(r, 200, out);
    http_complete(r);
    return 0;
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
    struct call *c = lws_container_of(sul, struct call, sul);
    answer_error(c, 504, "runner_timeout", "the server's runner did not answer in time");
}

static void link_closed(void *arg, struct hub_conn *link)
{
    (void)arg;
    for (struct call *c = cs.calls, *next; c; c = next) {
        next = c->next;
        if (c->link == link)
            answer_error(c, 503, "server_unreachable", "the server's runner link was lost");
    }
}

int containers_start(struct srv *s, struct hub *h)
{
    cs.srv = s;
    struct hub_link_hooks hooks = {NULL, NULL, link_closed, NULL};
    return hub_add_link_hooks(h, &hooks) < 0 || hub_handle(h, PROTO_DOCKER_RESULT, on_result,
                                                           NULL) < 0
               ? -1
               : 0;
}

void containers_stop(void)
{
    while (cs.calls)
        answer_error(cs.calls, 503, "stopping", "berthd is stopping");
}

int containers_send(struct req *r, const struct server *sv, const struct containers_call *cc)
{
    struct hub_conn *link = hub_live_link(r->srv->hub, sv->id);
    if (!link) {
        http_reply_error(r, 503, "server_unreachable", "server '%s' is %s; its runner is not "
                         "connected", sv->name, sv->status);
        return -1;
    }
    if (cs.ncalls >= CALLS_MAX) {
        http_reply_error(r, 503, "busy", "too many container calls in flight; try again");
        return -1;
    }
    struct call *c = calloc(1, sizeof *c);
    if (!c) {
        http_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    snprintf(c->id, sizeof c->id, "%llu", (unsigned long long)++cs.next_id);
    struct proto_docker_call dc = {c->id, cc->op, cc->target, cc->items};
    json_t *m = proto_docker_call(&dc);
    if (!m || hub_conn_send(link, m) < 0) {
        free(c);
        http_reply_error(r, 503, "server_unreachable", "the server's runner is not reading");
        return -1;
    }
    c->r = r;
    c->link = link;
    c->server_id = sv->id;
    c->op = cc->op;
    c->done = cc->done;
    c->arg = cc->arg;
    c->arg_free = cc->arg_free;
    c->next = cs.calls;
    cs.calls = c;
    cs.ncalls++;
    http_defer(r);
    lws_sul_schedule(r->srv->ctx, 0, &c->sul, on_timeout,
                     (lws_usec_t)(cc->timeout_s > 0 ? cc->timeout_s : CALL_TIMEOUT_S) *
                         LWS_US_PER_SEC);
    return 0;
}

/* Sends op on the server's link; the answer comes through on_result. */
static void call(struct req *r, enum proto_docker_op op, const char *target)
{
    struct server sv;
    if (api_server_of(r, r->params[1], &sv) < 0)
        return;
    if (op != PROTO_OP_LIST && op != PROTO_OP_INSPECT &&
        api_server_refuse_decommissioned(r, &sv) < 0)
        return;
    if (target)
        snprintf(r->audit_target, sizeof r->audit_target, "server:%lld/%s", (long long)sv.id,
                 target);
    struct containers_call cc = {.op = op, .target = target};
    containers_send(r, &sv, &cc);
}

void api_containers_list(struct req *r) { call(r, PROTO_OP_LIST, NULL); }
void api_container_inspect(struct req *r) { call(r, PROTO_OP_INSPECT, r->params[2]); }
void api_container_start(struct req *r) { call(r, PROTO_OP_START, r->params[2]); }
void api_container_stop(struct req *r) { call(r, PROTO_OP_STOP, r->params[2]); }
void api_container_restart(struct req *r) { call(r, PROTO_OP_RESTART, r->params[2]); }
void api_container_remove(struct req *r) { call(r, PROTO_OP_REMOVE, r->params[2]); }
