/* fuzz_giturl.c - giturl_normalize / giturl_same on the repository URLs a
 * webhook payload and a user carry. Input: two URLs split at the first
 * newline (the rest also sizes the output buffer). The normal form is
 * lower-case "host/path" without spaces, query, fragment, trailing '/' or
 * ".git" (nor a backslash in the path), and normalising it again as an https URL gives itself. */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "giturl.h"

static void check_form(const char *url, size_t n)
{
    char out[GITURL_MAX + 8];
    memset(out, 'Z', sizeof out);
    if (n > sizeof out)
        n = sizeof out;
    if (giturl_normalize(url, out, n) < 0) {
        assert(n < 4 || out[0] == '\0');
        return;
    }
    size_t len = strlen(out);
    assert(len < n);
    const char *slash = strchr(out, '/');
    assert(slash && slash > out && slash[1] && out[len - 1] != '/');
    for (const char *p = out; *p; p++)
        assert(!isupper((unsigned char)*p) && (unsigned char)*p > ' ');
    assert(!strchr(slash, '\\'));
    assert(!strpbrk(slash, "?#"));
    assert(len < 4 || strcasecmp(out + len - 4, ".git") != 0);
    /* a host part such as "a?b" only comes from scp-like input */
    if (strcspn(out, "?#@") > (size_t)(slash - out)) {
        char again[GITURL_MAX + 16], url2[GITURL_MAX + 16];
        snprintf(url2, sizeof url2, "https://%s", out);
        assert(giturl_normalize(url2, again, sizeof again) == 0);
        assert(strcmp(again, out) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = 4 + data[0] * 8u;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    char *b = strchr(s, '\n');
    if (b)
        *b++ = '\0';
    check_form(s, n);
    check_form(s, GITURL_MAX);
    if (b) {
        check_form(b, GITURL_MAX);
        int same = giturl_same(s, b);
        assert(same == giturl_same(b, s));
    }
    assert(giturl_same(s, s) == (giturl_normalize(s, (char[GITURL_MAX]){0}, GITURL_MAX) == 0));
    free(s);
    return 0;
}
