/* dockerops.h - container management calls from berthd (dockerops.c). */
#ifndef BERTH_RUNNER_DOCKEROPS_H
#define BERTH_RUNNER_DOCKEROPS_H

#include <jansson.h>

#include "runner.h"

/* A docker.call frame (link.c): answered later with docker.result. */
void dockerops_on_call(struct runner *r, json_t *msg);
/* Frees the Docker client (before the lws context goes). */
void dockerops_release(void);

#endif
