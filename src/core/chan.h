/* chan.h - channels on the runner link (docs/protocol.md "Channels"):
 * multiplexed two-way byte streams (a terminal, an exec) over the one
 * WebSocket a runner keeps to berthd, each with its own credit so a slow
 * reader never stalls the link, heartbeats, jobs or other channels.
 *
 * Control travels as text frames (JSON objects with "type"), built and
 * parsed here by both sides; bytes travel as binary frames:
 *
 *   byte 0      CHAN_FRAME_DATA (1)
 *   bytes 1-4   channel id, uint32 big-endian, never 0
 *   byte 5      stream: 0 = stdin (to the runner) or stdout (from it),
 *               1 = stderr (from the runner, non-tty exec only)
 *   bytes 6-    payload, 1..CHAN_DATA_MAX bytes
 *
 * A sender may have at most the receiver's granted credit in flight:
 * `window` in chan.open (berthd's, for what the runner sends) and in
 * chan.opened (the runner's, for what berthd sends), renewed by
 * chan.credit as the receiver passes bytes on. Data past the credit is a
 * protocol breach: the receiver closes the channel ("credit exceeded").
 *
 * Pure functions: no I/O, no globals; every parser bounds what it takes.
 */
#ifndef BERTH_CHAN_H
#define BERTH_CHAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CHAN_FRAME_DATA 1
#define CHAN_HDR 6                        /* binary header bytes */
#define CHAN_DATA_MAX (64 * 1024)         /* payload of one binary frame */
#define CHAN_WINDOW_MIN (16 * 1024)
#define CHAN_WINDOW_MAX (16 * 1024 * 1024)
#define CHAN_WINDOW_DEFAULT (256 * 1024)
#define CHAN_ARGV_MAX 64                  /* exec argv items */
#define CHAN_ARG_MAX 4096                 /* bytes of one argv item */
#define CHAN_NAME_MAX 128                 /* a container id or name */
#define CHAN_REASON_MAX 512
#define CHAN_DIM_MAX 1000                 /* cols and rows */

enum chan_stream { CHAN_STDIO = 0, CHAN_STDERR = 1 };

enum chan_kind {
    CHAN_SHELL = 1,     /* a login shell on the host, as the runner's user */
    CHAN_EXEC,          /* argv on the host, or in a container with `container` */
};

/* ---- binary data frames ---- */

/* Writes the 6-byte header of a data frame for (id, stream). */
void chan_data_header(uint8_t out[CHAN_HDR], uint32_t id, enum chan_stream stream);

struct chan_data {
    uint32_t id;
    enum chan_stream stream;
    const uint8_t *data;   /* points into the frame */
    size_t len;            /* 1..CHAN_DATA_MAX */
};
/* 0, or -1 with err for a frame that breaks the layout above. */
int chan_data_parse(const uint8_t *frame, size_t len, struct chan_data *out, char *err,
                    size_t errlen);

/* ---- control frames (text) ---- */

struct chan_open {
    uint32_t id;
    enum chan_kind kind;
    const char *container;  /* NULL: the host */
    const char *const *argv; /* CHAN_EXEC: 1..CHAN_ARGV_MAX items */
    size_t argc;
    int tty;                 /* a PTY (shells always have one) */
    int cols, rows;          /* tty size, 1..CHAN_DIM_MAX */
    int64_t window;          /* credit for runner -> berthd bytes */
    int idle_s;              /* closed after this long without a byte (0: never) */
    int no_stdin;            /* exec: the process reads an empty stdin (EOF) */
};
/* Built by berthd: {"type":"chan.open","chan","kind","container"?,
 * "argv"?,"tty","cols","rows","window","idle_s","stdin"}. NULL on a bad
 * field. "stdin" false (exec only): no input will come. */
json_t *chan_open_msg(const struct chan_open *o);
/* argv items are copied into out->argv_store (freed with chan_open_release). */
struct chan_open_msg {
    struct chan_open o;
    const char **argv_store;
};
int chan_parse_open(json_t *msg, struct chan_open_msg *out, char *err, size_t errlen);
void chan_open_release(struct chan_open_msg *m);

/* {"type":"chan.opened","chan","window"}: the runner started it. */
json_t *chan_opened_msg(uint32_t id, int64_t window);
int chan_parse_opened(json_t *msg, uint32_t *id, int64_t *window, char *err, size_t errlen);

/* {"type":"chan.credit","chan","bytes"}: bytes more may be sent. */
json_t *chan_credit_msg(uint32_t id, int64_t bytes);
int chan_parse_credit(json_t *msg, uint32_t *id, int64_t *bytes, char *err, size_t errlen);

/* {"type":"chan.resize","chan","cols","rows"} (berthd -> runner). */
json_t *chan_resize_msg(uint32_t id, int cols, int rows);
int chan_parse_resize(json_t *msg, uint32_t *id, int *cols, int *rows, char *err,
                      size_t errlen);

/* {"type":"chan.close","chan","reason","exit_code"}: either side; the
 * runner's carries the exit status (-1: none, e.g. killed or never ran). */
json_t *chan_close_msg(uint32_t id, const char *reason, int exit_code);
struct chan_close {
    uint32_t id;
    const char *reason;      /* points into msg; cut to CHAN_REASON_MAX */
    int exit_code;
};
int chan_parse_close(json_t *msg, struct chan_close *out, char *err, size_t errlen);

/* ---- credit accounting (either side) ---- */

struct chan_credit {
    int64_t avail;           /* bytes the peer lets us send now */
};
/* Takes n bytes of credit: 0, or -1 (nothing taken) when that is more
 * than is available. */
int chan_credit_take(struct chan_credit *c, size_t n);
/* Adds n (saturating at CHAN_WINDOW_MAX). */
void chan_credit_grant(struct chan_credit *c, int64_t n);

#endif
