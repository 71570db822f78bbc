/* fuzz_acme.c - libFuzzer driver for the ACME input checks
 * (src/berthd/acme_path.c): the HTTP-01 listener's challenge path and
 * redirect path (from any client on --acme-http-port), and the host-name
 * grammar of --acme-domain.
 *
 * Input: byte 0 picks the check, the rest is the string (as lws hands a
 * path over: ends at the first NUL). Invariants, checked against a plain
 * model: a token is only ever [A-Za-z0-9_-]{1,128} right after the prefix,
 * so it can name no file outside the challenge directory; a path accepted
 * for a Location header holds no byte outside 0x21-0x7e and does not start
 * "//"; an accepted name is lowercase LDH labels with no "..", no leading
 * or trailing dot or '-'. Links: acme_path.c alone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme_path.h"

static void check_token(const char *path, size_t len)
{
    int is_ch = -1;
    const char *tok = acme_challenge_token(path, len, &is_ch);
    size_t plen = strlen(ACME_PREFIX);
    int under = len >= plen && memcmp(path, ACME_PREFIX, plen) == 0;
    if (is_ch != under)
        abort();
    if (!tok)
        return;
    if (tok != path + plen)
        abort();
    size_t tl = len - plen;
    if (tl < 1 || tl > ACME_TOKEN_MAX)
        abort();
    for (size_t i = 0; i < tl; i++) {
        char c = tok[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            abort();
    }
}

static void check_redirect(const char *path, size_t len)
{
    if (!acme_redirect_path_ok(path, len))
        return;
    if (len < 1 || len > ACME_REDIRECT_PATH_MAX || path[0] != '/')
        abort();
    if (len >= 2 && (path[1] == '/' || path[1] == '\\'))
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f)
            abort();
}

static void check_domain(const char *s)
{
    if (!acme_domain_valid(s))
        return;
    size_t n = strlen(s);
    if (n < 3 || n > ACME_NAME_MAX || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") ||
        !strchr(s, '.'))
        abort();
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            abort();
        if (c == '-' && (i == 0 || s[i - 1] == '.' || i + 1 == n || s[i + 1] == '.'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[2200];
    if (size < 1 || size > sizeof buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    size_t len = strlen(buf);
    switch (data[0] % 3) {
    case 0: check_token(buf, len); break;
    case 1: check_redirect(buf, len); break;
    default: check_domain(buf); break;
    }
    return 0;
}
