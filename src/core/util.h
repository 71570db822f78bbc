/* util.h - small helpers shared by every program: time, strings, files. */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, seconds since the epoch. */
int64_t util_now(void);
/* Monotonic clock in microseconds. */
uint64_t util_mono_us(void);
/* Formats t as "2026-11-23T19:21:00Z" into out (at least 21 bytes). */
void util_iso8601(int64_t t, char *out, size_t outlen);
/* Parses the format above (or plain epoch seconds); 0 or -1. */
int util_parse_time(const char *s, int64_t *out);

/* Copies src into dst of size n, always terminated; returns -1 if cut. */
int util_strlcpy(char *dst, const char *src, size_t n);
/* Parses a base-10 integer that fills the whole string; 0 or -1. */
int util_parse_i64(const char *s, int64_t *out);

/* Writes data to path atomically (temp file, fsync, rename) with mode. */
int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file (at most max bytes) into a malloc'ed, NUL-terminated
 * buffer; *len gets its size. Returns 0 or -1 (errno set). */
int util_read_file(const char *path, size_t max, char **out, size_t *len);

/* Email syntax good enough to reject typos: local@domain.tld, no spaces. */
int util_email_valid(const char *s);
/* Slug: 1..63 of [a-z0-9-], not starting or ending with '-'. */
int util_slug_valid(const char *s);
/* 1 if s is min..max lowercase hex digits (a commit id, an image digest). */
int util_lower_hex(const char *s, size_t min, size_t max);

#endif
