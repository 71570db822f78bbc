/* fuzz_path.c - libFuzzer driver for the request path as berthd routes it
 * (src/berthd/router.c): router_match against the real route table, and
 * router_param_ok for every parameter kind.
 *
 * Input: byte 0 picks the method, the rest is the path as lws hands it
 * over (decoded; http.c refuses one with an embedded NUL first, so the
 * path ends at the first NUL here too). Invariants: a matched route's
 * parameters are never empty, ".", "..", hold no '/' and no control
 * character; whatever router_param_ok accepts holds none of those either.
 * Links: berthdlib (router.c, routes.c and what the table references),
 * berthcore. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

static void check_value(const char *v)
{
    if (!*v || strcmp(v, ".") == 0 || strcmp(v, "..") == 0 || strchr(v, '/'))
        abort();
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = {"org", "app", "id", "user", "key", "other"};
    char path[600];
    if (size < 1 || size > sizeof path)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    enum http_method m = (enum http_method)(data[0] % (HM_OTHER + 1));

    char params[REQ_MAX_PARAMS][128];
    int n = -1, matched = -1;
    const struct route *rt = router_match(m, path, params, &n, &matched);
    if (rt) {
        if (n < 0 || n > REQ_MAX_PARAMS)
            abort();
        for (int i = 0; i < n; i++)
            check_value(params[i]);
    } else if (matched != ROUTER_NO_PATH && matched != ROUTER_OTHER_METHOD &&
               matched != ROUTER_BAD_PARAM) {
        abort();
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (router_param_ok(kinds[k], strlen(kinds[k]), path))
            check_value(path);
    return 0;
}
