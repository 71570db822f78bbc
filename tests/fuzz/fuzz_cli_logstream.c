/* fuzz_cli_logstream.c - the CLI reading a job's log from berthd
 * (src/cli/logstream.c): NDJSON {seq, stream, ts, data} lines, cut into
 * pieces anywhere as curl delivers them, printed or (--json) collected.
 * Input: a flags byte (bit 0: --json), a cut seed, then the answer. Printed
 * chunks come with strictly increasing seq; a failure always has a reason. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* logstream_read's transport (client.c, curl) is not linked: the driver
 * feeds the bytes itself, and nothing here calls this. */
int client_stream(struct cli *c, const char *path, const char *accept, client_data_fn fn, void *arg)
{
    abort();
}

struct seen {
    int64_t last;
    size_t n;
};

static void print(void *arg, const char *stream, const char *data, size_t len, int64_t ts)
{
    struct seen *s = arg;
    assert(stream && data);
    assert(strlen(data) <= len);
    s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct cli c;
    memset(&c, 0, sizeof c);
    c.json = data[0] & 1;
    uint32_t rnd = data[1] * 2654435761u + 7;
    data += 2;
    size -= 2;
    struct seen s = {0, 0};
    struct logstream ls;
    logstream_init(&ls, &c, print, &s);
    int rc = 0;
    size_t at = 0;
    int64_t last = 0;
    while (at < size && rc == 0) {
        rnd = rnd * 1103515245u + 12345u;
        size_t n = 1 + (rnd >> 8) % 200;
        if (n > size - at)
            n = size - at;
        rc = logstream_feed(&ls, (const char *)data + at, n);
        assert(ls.last >= last);
        last = ls.last;
        at += n;
    }
    if (rc == 0)
        rc = logstream_end(&ls);
    assert(rc == 0 || rc == -1);
    if (rc < 0)
        assert(c.failed && c.err.code[0] && c.err.message[0]);
    assert(ls.collected <= LOGSTREAM_COLLECT_MAX);
    if (c.json)
        assert(s.n == 0 && json_array_size(ls.items) <= size);
    logstream_release(&ls);
    return 0;
}
