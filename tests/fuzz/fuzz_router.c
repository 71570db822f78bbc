/* fuzz_router.c - router_match over the real route table (routes.c) with
 * any method and path. Whatever matches must be consistent: as many
 * parameters as the pattern has, each non-empty, without '/', shorter
 * than 128, and the pattern with the parameters put back is the path (less
 * one trailing '/'). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

static void check(const struct route *rt, const char *path, char params[][128], int np)
{
    char rebuilt[8192];
    size_t k = 0;
    int n = 0;
    for (const char *p = rt->pattern; *p;) {
        if (*p == '{') {
            assert(n < np);
            size_t l = strlen(params[n]);
            assert(l > 0 && l < 128 && !strchr(params[n], '/'));
            assert(k + l < sizeof rebuilt);
            memcpy(rebuilt + k, params[n], l);
            k += l;
            n++;
            p = strchr(p, '}') + 1;
            continue;
        }
        assert(k + 1 < sizeof rebuilt);
        rebuilt[k++] = *p++;
    }
    rebuilt[k] = '\0';
    assert(n == np);
    size_t pl = strlen(path);
    if (pl && path[pl - 1] == '/' && pl == k + 1)
        pl--;
    assert(pl == k && memcmp(rebuilt, path, k) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum http_method m = (enum http_method)(data[0] % (HM_OTHER + 1));
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    char params[REQ_MAX_PARAMS][128];
    int np = -1, matched = -1;
    const struct route *rt = router_match(m, path, params, &np, &matched);
    assert(matched == ROUTER_NO_PATH || matched == ROUTER_OTHER_METHOD ||
           matched == ROUTER_BAD_PARAM);
    if (rt) {
        assert(rt >= routes && rt < routes + routes_count);
        assert(rt->method == m || (m == HM_HEAD && rt->method == HM_GET));
        check(rt, path, params, np);
    }
    free(path);
    return 0;
}
