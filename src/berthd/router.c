/* router.c - matches a path against the route table's patterns. */
#include "router.h"

#include <string.h>

static int match_one(const char *pat, const char *path, char params[][128], int *np)
{
    int n = 0;
    while (*pat && *path) {
        if (*pat == '{') {
            const char *pe = strchr(pat, '}');
            const char *seg_end = strchr(path, '/');
            size_t l = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (!pe || l == 0 || l >= 128 || n >= REQ_MAX_PARAMS)
                return 0;
            memcpy(params[n], path, l);
            params[n][l] = '\0';
            n++;
            pat = pe + 1;
            path += l;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    /* Tolerate one trailing slash on the request. */
    if (*path == '/' && path[1] == '\0')
        path++;
    if (*pat || *path)
        return 0;
    *np = n;
    return 1;
}

const struct route *router_match(enum http_method m, const char *path,
                                 char params[][128], int *nparams, int *path_matched)
{
    *path_matched = 0;
    for (int i = 0; i < routes_count; i++) {
        int np = 0;
        if (!match_one(routes[i].pattern, path, params, &np))
            continue;
        if (routes[i].method == m || (m == HM_HEAD && routes[i].method == HM_GET)) {
            *nparams = np;
            return &routes[i];
        }
        *path_matched = 1;
    }
    return NULL;
}
