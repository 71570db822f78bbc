/* fuzz_edge.c - HAProxy's runtime API answers as berth-runner reads them
 * (src/runner/edge_parse.c): `show stat` CSV for a server's sessions and
 * the master's `show proc` line. Input: the server name, a newline, the
 * answer. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char *text = strchr(s, '\n');
    const char *srv = "";
    if (text) {
        *text++ = '\0';
        srv = s;
    } else {
        text = s;
    }
    int n = edge_parse_stat_sessions(text, srv);
    assert(n >= -1);
    if (n >= 0)
        assert(edge_parse_stat_sessions(text, srv) == n);
    int reloads = -7, failed = -7;
    if (edge_parse_master_line(text, &reloads, &failed) < 0)
        (void)0;
    free(s);
    return 0;
}
