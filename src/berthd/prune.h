/* prune.h - a server's stopped containers and old images removed as
 * preview -> run (prune.c, docs/containers.md "Prune"). */
#ifndef BERTHD_PRUNE_H
#define BERTHD_PRUNE_H

struct req;

/* POST /api/v1/orgs/{org}/servers/{id}/containers/prune (server:write). */
void api_containers_prune(struct req *r);
/* berthd stops: the previews are forgotten. */
void prune_stop(void);

#endif
