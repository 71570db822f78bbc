/* buf.h - a growable byte buffer with a hard maximum set at init, so no
 * input can grow memory without bound (curl's dynbuf habit).
 * buf_init sets up; buf_release frees what it holds; buf_clear empties it. */
#ifndef BERTH_BUF_H
#define BERTH_BUF_H

#include <stddef.h>

struct buf {
    char *data;   /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_clear(struct buf *b);
/* Makes room for n more bytes up front (fewer reallocs); 0 or -1. */
int buf_reserve(struct buf *b, size_t n);
/* 0, or -1 when the maximum would be exceeded or memory ran out. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (malloc'ed, may be NULL if empty) and
 * leaves b empty. */
char *buf_steal(struct buf *b, size_t *len);

#endif
