/* chans.h - the runner's end of channels (chans.c; frames: src/core/chan.h). */
#ifndef BERTH_RUNNER_CHANS_H
#define BERTH_RUNNER_CHANS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "runner.h"

/* The lws protocol the channels' output fds are adopted with (main.c
 * lists it in the vhost's protocols). */
extern const struct lws_protocols chans_fd_protocol;

/* Frames from berthd (link.c dispatches them). */
void chans_on_open(struct runner *r, json_t *msg);
void chans_on_credit(struct runner *r, json_t *msg);
void chans_on_resize(struct runner *r, json_t *msg);
void chans_on_close(struct runner *r, json_t *msg);
/* A binary frame: 0, or -1 when it breaks the layout (the link closes). */
int chans_on_binary(struct runner *r, const uint8_t *data, size_t len);
/* The link is gone: every channel ends and its process session is killed. */
void chans_link_lost(struct runner *r);
int chans_open_count(void);

#endif
