/* channels.h - berthd's end of channels on the runner link (frames:
 * src/core/chan.h, docs/protocol.md "Channels"): a terminal or an exec on
 * a server, opened for one client (a terminal WebSocket, an exec request)
 * and relayed between it and the runner with credit both ways.
 *
 * Owns: every struct channel, from channel_open until it ends. It ends
 * once: the client closes it (channel_close: the runner is told, no
 * callback follows), or the runner closes it, or the link goes (then the
 * client's `closed` callback runs, and the channel is freed right after:
 * the client forgets it there). Loop thread only.
 *
 * Credit: what the runner sends is bounded by the window berthd grants in
 * chan.open and renews as the client reports bytes passed on
 * (channel_consumed), so a slow client holds back only its own channel;
 * what the client writes (channel_write) is bounded by the runner's
 * window: when it is used up the client stops reading its own socket
 * until `writable` says there is room again.
 */
#ifndef BERTHD_CHANNELS_H
#define BERTHD_CHANNELS_H

#include <stddef.h>
#include <stdint.h>

#include "berthd.h"
#include "chan.h"

struct hub;
struct channel;
struct channels;

/* What the client of a channel hears. Each may be NULL but `closed`. */
struct channel_client {
    /* The runner started it (a shell is running). */
    void (*opened)(void *arg, struct channel *ch);
    /* Bytes from the runner; the client calls channel_consumed when it
     * has passed them on. */
    void (*data)(void *arg, struct channel *ch, enum chan_stream stream, const uint8_t *p,
                 size_t n);
    /* channel_write has room again. */
    void (*writable)(void *arg, struct channel *ch);
    /* The channel ended (reason, exit code or -1); ch is freed on return. */
    void (*closed)(void *arg, struct channel *ch, const char *reason, int exit_code);
};

struct channels *channels_new(struct srv *s);
int channels_start(struct channels *cs, struct hub *h);
void channels_free(struct channels *cs);

/* Limits, from the environment at start: BERTH_CHANNELS_PER_RUNNER (16),
 * BERTH_CHANNELS_PER_USER (8). */
struct channels_limits {
    int per_runner, per_user;
};
void channels_limits(struct channels *cs, struct channels_limits *out);

/* Opens a channel on server_id's live link for user_id: o's id is chosen
 * here, its window is berthd's receive window. NULL with why (said to the
 * user) when the runner is not connected, a cap is reached, or o is bad. */
struct channel *channel_open(struct srv *s, int64_t server_id, int64_t user_id,
                             const struct chan_open *o, const struct channel_client *client,
                             void *arg, char *why, size_t wn);
/* Sends up to n bytes of stdin; returns how many were taken (0 when the
 * runner's credit is used up: wait for `writable`), -1 if it ended. */
long channel_write(struct channel *ch, const void *p, size_t n);
void channel_resize(struct channel *ch, int cols, int rows);
/* The client passed n bytes of the runner's output on: credit back. */
void channel_consumed(struct channel *ch, size_t n);
/* The client ends it: the runner is told (its process group is killed);
 * ch is freed, no callback follows. */
void channel_close(struct channel *ch, const char *reason);
/* Bytes relayed so far, each way (for the audit entry). */
void channel_bytes(const struct channel *ch, uint64_t *in, uint64_t *out);

#endif
