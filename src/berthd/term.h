/* term.h - terminals over WebSocket (term.c, docs/terminal.md). */
#ifndef BERTHD_TERM_H
#define BERTHD_TERM_H

#include <libwebsockets.h>
#include <stdint.h>

#include "berthd.h"
#include "chan.h"

#define TERM_SUBPROTOCOL "berth-terminal.v1"

struct req;

/* What a session opens, as its upgrade was allowed. */
struct term_target {
    int64_t org_id, user_id, server_id;
    char email[256];
    char container[CHAN_NAME_MAX + 1]; /* "": the host */
    int cols, rows;
};

/* The front's upgrade entry (srv->upgrades) and the lws protocol. */
int term_is_path(const char *path);
int term_confirm_upgrade(struct srv *s, struct lws *wsi, const char *upgrade);
extern const struct lws_protocols term_protocol;
/* BERTH_TERMINAL_IDLE_S (default 900): a session idle this long ends. */
int term_idle_s(void);
/* GET .../servers/{id}/terminal without an upgrade: 426. */
void api_terminal(struct req *r);

#endif
