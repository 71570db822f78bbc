/* acme_path.c - the checks of outside input for ACME: host names from the
 * command line, challenge paths and redirect paths from the HTTP-01
 * listener's clients. Pure functions; fuzzed by tests/fuzz/fuzz_acme.c. */
#include "acme_path.h"

#include <string.h>

static int ldh(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

int acme_domain_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ACME_NAME_MAX)
        return 0;
    int labels = 0, alldigits = 1;
    const char *p = s;
    while (*p) {
        size_t l = 0;
        while (p[l] && p[l] != '.') {
            if (!ldh(p[l]))
                return 0;
            if (p[l] < '0' || p[l] > '9')
                alldigits = 0;
            l++;
        }
        if (l == 0 || l > 63 || p[0] == '-' || p[l - 1] == '-')
            return 0;
        labels++;
        p += l;
        if (*p == '.') {
            p++;
            if (!*p) /* trailing dot */
                return 0;
        }
    }
    return labels >= 2 && !alldigits;
}

static int b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

const char *acme_challenge_token(const char *path, size_t len, int *is_challenge)
{
    static const size_t plen = sizeof ACME_PREFIX - 1;
    *is_challenge = 0;
    if (!path || len < plen || memcmp(path, ACME_PREFIX, plen) != 0)
        return NULL;
    *is_challenge = 1;
    size_t tl = len - plen;
    if (tl == 0 || tl > ACME_TOKEN_MAX)
        return NULL;
    for (size_t i = plen; i < len; i++)
        if (!b64url(path[i]))
            return NULL;
    return path + plen;
}

int acme_redirect_path_ok(const char *path, size_t len)
{
    if (!path || len == 0 || len > ACME_REDIRECT_PATH_MAX || path[0] != '/')
        return 0;
    if (len >= 2 && (path[1] == '/' || path[1] == '\\'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f)
            return 0;
    return 1;
}
