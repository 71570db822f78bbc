/* containers.h - a server's containers through its runner (containers.c). */
#ifndef BERTHD_CONTAINERS_H
#define BERTHD_CONTAINERS_H

#include "berthd.h"
#include "proto.h"

struct hub;
struct req;
struct server;

/* A call someone else answers (prune.c): done gets the runner's result
 * (ok or not; borrowed) and must answer r itself (http_gone first) and
 * free arg; if no result comes (timeout 504, link lost 503, berthd
 * stopping) this file answers and arg_free(arg) is called instead. */
typedef void (*containers_done_fn)(struct req *r, void *arg,
                                   const struct proto_docker_result *res);
struct containers_call {
    enum proto_docker_op op;
    const char *target;
    json_t *items;                      /* prune: borrowed */
    int timeout_s;                      /* 0: 75 s */
    containers_done_fn done;
    void *arg;
    void (*arg_free)(void *arg);
};
/* Sends it on sv's runner link and defers r. 0, or -1 with r answered
 * (503 not connected / busy; arg untouched: still the caller's). */
int containers_send(struct req *r, const struct server *sv, const struct containers_call *cc);
/* Is name a container this berthd made ("berth-IIIIIIII-APP-DEP")? Then
 * 0 with its app and deployment ids. */
int containers_berth_name(const char *name, int64_t *app, int64_t *dep);

/* Registers the docker.result handler and the link hook. */
int containers_start(struct srv *s, struct hub *h);
/* berthd stops: every pending call is answered 503. */
void containers_stop(void);

void api_containers_list(struct req *r);
void api_container_inspect(struct req *r);
void api_container_start(struct req *r);
void api_container_stop(struct req *r);
void api_container_restart(struct req *r);
void api_container_remove(struct req *r);

#endif
