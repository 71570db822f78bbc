/* fuzz_utf8.c - proto_utf8_stream, which turns a child's output (a build,
 * a script: any bytes, read in pieces cut anywhere) into job.log chunks.
 * Input: 2 bytes of piece size, 1 byte seeding where reads are cut, then
 * the stream. Every piece must be non-empty, at most the piece size,
 * valid UTF-8 without NUL on its own; together they must be exactly the
 * one-shot proto_utf8_sanitize of the whole stream, and nothing stays
 * carried after the final call. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto.h"

struct sink {
    char *out;
    size_t len, cap, max;
};

static void piece(void *arg, const char *p, size_t n)
{
    struct sink *s = arg;
    assert(n > 0 && n <= s->max);
    assert(!memchr(p, '\0', n));
    json_t *j = json_stringn(p, n); /* NULL when not valid UTF-8 */
    assert(j);
    json_decref(j);
    assert(s->len + n <= s->cap);
    memcpy(s->out + s->len, p, n);
    s->len += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max = ((size_t)data[0] << 8 | data[1]) % (PROTO_CHUNK_MAX + 64);
    uint32_t rnd = data[2] * 2654435761u + 1;
    data += 3;
    size -= 3;

    /* what the stream does to max (see proto_utf8_stream) */
    size_t eff = max > PROTO_CHUNK_MAX ? PROTO_CHUNK_MAX : max;
    if (eff <= 4)
        eff = 5;
    struct sink s = {malloc(size + 1), 0, size + 1, eff};
    struct proto_utf8_carry c = {0};
    size_t at = 0;
    while (at < size) {
        rnd = rnd * 1103515245u + 12345u;
        size_t n = 1 + (rnd >> 8) % 97;
        if ((rnd >> 4) % 8 == 0)
            n = size - at;
        if (n > size - at)
            n = size - at;
        proto_utf8_stream(&c, (const char *)data + at, n, 0, max, piece, &s);
        assert(c.len < 4);
        at += n;
    }
    proto_utf8_stream(&c, NULL, 0, 1, max, piece, &s);
    assert(c.len == 0);

    char *one = malloc(size + 1);
    size_t onelen = 0;
    size_t used = proto_utf8_sanitize((const char *)data, size, 1, one, &onelen);
    assert(used == size && onelen == size);
    assert(s.len == onelen && memcmp(s.out, one, onelen) == 0);
    free(one);
    free(s.out);
    return 0;
}
