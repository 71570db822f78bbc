/* containers.h - a server's containers through its runner (containers.c). */
#ifndef BERTHD_CONTAINERS_H
#define BERTHD_CONTAINERS_H

#include "berthd.h"

struct hub;
struct req;

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
