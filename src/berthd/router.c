/* router.c - matches a path against the route table's patterns, and holds
 * the grammar of every path parameter.
 *
 * lws hands berthd the request path already percent-decoded, with `//`,
 * `/./` and `/../` collapsed (lws 4.1.6 lws_parse_urldecode; no raw copy is
 * kept), so a parameter is checked after matching against the grammar of its
 * kind ({org}, {app}, {id}, {user}, {key}): a decoded '.', '..', control
 * character, NUL or byte outside the kind's alphabet in a parameter is a
 * 400, never another route. http.c refuses a path with an embedded NUL
 * before it gets here. */
#include "router.h"
#include "util.h"

#include <string.h>

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Organization and application references: a slug or an id. */
static int ref_ok(const char *s, size_t max)
{
    size_t l = strlen(s);
    if (l < 1 || l > max)
        return 0;
    for (size_t i = 0; i < l; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

/* Server and script names or ids (api_name_valid's alphabet): starts
 * alphanumeric, so "." and ".." never pass. */
static int name_ok(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 100 || !is_alnum(s[0]))
        return 0;
    for (size_t i = 1; i < l; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

/* Env keys: the handler says what a key must be (422 naming the rule);
 * here only the name alphabet, so a key stays one literal segment. */
static int key_ok(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 127)
        return 0;
    for (size_t i = 0; i < l; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

/* A host name in a path (api_domains.c checks it fully): letters, digits,
 * '-', '.', a leading '*'; under 128 characters (longer names are removed
 * through PATCH .../apps/{app}). */
static int domain_ref_ok(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 127)
        return 0;
    for (size_t i = 0; i < l; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '.' && !(s[i] == '*' && i == 0))
            return 0;
    return 1;
}

int router_param_ok(const char *kind, size_t kind_len, const char *v)
{
    /* Never in any kind: what lws' decoding could turn into a separator, a
     * dot segment or a control character. */
    if (!*v || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/')
            return 0;
    if (kind_len == 3 && memcmp(kind, "org", 3) == 0)
        return ref_ok(v, 63);
    if (kind_len == 3 && memcmp(kind, "app", 3) == 0)
        return ref_ok(v, 63);
    if (kind_len == 2 && memcmp(kind, "id", 2) == 0)
        return name_ok(v);
    if (kind_len == 4 && memcmp(kind, "user", 4) == 0)
        return (all_digits(v) && strlen(v) <= 19) || util_email_valid(v);
    if (kind_len == 3 && memcmp(kind, "key", 3) == 0)
        return key_ok(v);
    if (kind_len == 6 && memcmp(kind, "domain", 6) == 0)
        return domain_ref_ok(v);
    return 0; /* a pattern names a kind without a grammar: nothing passes */
}

/* 1 matched, 0 not this pattern, -1 this pattern but a parameter breaks
 * its kind's grammar. */
static int match_one(const char *pat, const char *path, char params[][128], int *np)
{
    int n = 0, bad = 0;
    while (*pat && *path) {
        if (*pat == '{') {
            const char *pe = strchr(pat, '}');
            const char *seg_end = strchr(path, '/');
            size_t l = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (!pe || l == 0 || n >= REQ_MAX_PARAMS)
                return 0;
            if (l >= 128) {
                bad = 1;
                params[n][0] = '\0';
            } else {
                memcpy(params[n], path, l);
                params[n][l] = '\0';
                if (!router_param_ok(pat + 1, (size_t)(pe - pat - 1), params[n]))
                    bad = 1;
            }
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
    if (bad)
        return -1;
    *np = n;
    return 1;
}

const char *router_method_name(enum http_method m)
{
    static const char *const n[] = {"GET",    "POST", "PUT",     "PATCH",
                                    "DELETE", "HEAD", "OPTIONS", "OTHER"};
    return (unsigned)m <= HM_OTHER ? n[m] : "OTHER";
}

const struct route *router_match(enum http_method m, const char *path,
                                 char params[][128], int *nparams, int *path_matched)
{
    *path_matched = ROUTER_NO_PATH;
    int bad = 0;
    for (int i = 0; i < routes_count; i++) {
        int np = 0;
        int rc = match_one(routes[i].pattern, path, params, &np);
        if (rc < 0)
            bad = 1;
        if (rc <= 0)
            continue;
        if (routes[i].method == m || (m == HM_HEAD && routes[i].method == HM_GET)) {
            *nparams = np;
            return &routes[i];
        }
        *path_matched = ROUTER_OTHER_METHOD;
    }
    if (bad && *path_matched == ROUTER_NO_PATH)
        *path_matched = ROUTER_BAD_PARAM;
    return NULL;
}
