/* logparse.h - reads the answer of Docker's GET /containers/{id}/logs
 * (timestamps=1) into lines (logparse.c): the multiplexed stream of 8-byte
 * frame headers when the container has no TTY, the raw stream when it
 * has; every message starts with Docker's RFC 3339 timestamp. A message
 * Docker split (a line over 16 KiB: no newline at its end) is joined with
 * what follows on its stream; a line over LOGPARSE_LINE_MAX is cut into
 * pieces marked partial, never inside a UTF-8 character; invalid UTF-8
 * (and NUL) becomes '?'. Every byte is hostile: nothing here trusts a
 * length, a timestamp or an encoding. No I/O; memory: two line buffers of
 * at most LOGPARSE_LINE_MAX + 4 bytes. */
#ifndef BERTH_RUNNER_LOGPARSE_H
#define BERTH_RUNNER_LOGPARSE_H

#include <stddef.h>
#include <stdint.h>

#define LOGPARSE_LINE_MAX 65536

/* A line (text without its newline, valid UTF-8 without NUL); ts in unix
 * ns (a message without a readable timestamp gets the stream's last one). */
typedef void (*logparse_fn)(void *arg, int64_t ts, int err, int partial, const char *text,
                            size_t len);

struct logparse_side {
    char *line;                         /* the line being assembled */
    size_t len, cap;
    int64_t ts;                         /* the line's timestamp */
    int in_ts;                          /* reading a message's timestamp */
    char tsb[40];
    size_t tsn;
};

struct logparse {
    int mode;                           /* 0 not known yet, 1 multiplexed, 2 raw */
    unsigned char fh[8];
    size_t fhn;                         /* header bytes read */
    uint64_t fleft;                     /* payload bytes left in the frame */
    int fside;
    struct logparse_side side[2];
    int64_t last_ts;
    char sec_key[20];                   /* "YYYY-MM-DDTHH:MM:SS" cache */
    int64_t sec_val;
    logparse_fn fn;
    void *arg;
};

void logparse_init(struct logparse *p, logparse_fn fn, void *arg);
void logparse_feed(struct logparse *p, const unsigned char *data, size_t len);
/* 1 once a frame header was not Docker's: the rest of the stream is
 * ignored (the caller should read it again from its cursor). */
int logparse_broken(const struct logparse *p);
/* The stream ended: lines without their newline go out too. */
void logparse_end(struct logparse *p);
void logparse_release(struct logparse *p);
/* "2026-12-05T20:26:50.123456789Z" (fraction 0..9 digits, or a +hh:mm
 * offset) -> unix ns; -1 if it is not one. */
int64_t logparse_ts(struct logparse *p, const char *s, size_t n);

#endif
