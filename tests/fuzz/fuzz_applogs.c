/* fuzz_applogs.c - what berth-runner reads for app logs: the answer of
 * Docker's GET /containers/{id}/logs (src/runner/logparse.c), fed in
 * pieces cut where the input says, and a segment block as the store
 * reads it back (src/runner/logstore.c). Every line that comes out is
 * valid UTF-8 without NUL, at most LOGPARSE_LINE_MAX bytes; every
 * record read back stays inside its block. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logparse.h"
#include "logstore.h"
#include "proto.h"

static void on_line(void *arg, int64_t ts, int err, int partial, const char *text, size_t len)
{
    (void)partial;
    (*(size_t *)arg)++;
    assert(ts >= 0);
    assert(err == 0 || err == 1);
    assert(len <= LOGPARSE_LINE_MAX);
    assert(!memchr(text, '\0', len));
    char *copy = malloc(len ? len : 1);
    size_t out = 0;
    assert(copy);
    assert(proto_utf8_sanitize(text, len, 1, copy, &out) == len);
    assert(out == len && memcmp(copy, text, len) == 0); /* already clean */
    free(copy);
}

static int on_record(void *arg, const struct logstore_line *l)
{
    (void)arg;
    assert(l->tlen <= LOGSTORE_LINE_MAX && l->clen <= LOGSTORE_CID_MAX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0], cut = data[1];
    data += 2;
    size -= 2;
    if (mode & 1) {
        logstore_block_scan((const char *)data, size, on_record, NULL);
        struct logstore_line l;
        size_t off = 0, n;
        while (off < size && (n = logstore_record_get((const char *)data + off, size - off, &l)))
            off += n;
        return 0;
    }
    struct logparse p;
    size_t lines = 0;
    logparse_init(&p, on_line, &lines);
    size_t step = cut ? cut : size;
    for (size_t off = 0; off < size; off += step)
        logparse_feed(&p, data + off, size - off < step ? size - off : step);
    logparse_end(&p);
    logparse_release(&p);
    return 0;
}
