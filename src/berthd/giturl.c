/* giturl.c - the normal form of a git repository URL (giturl.h). */
#include "giturl.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const schemes[] = {"https://", "http://", "ssh://", "git://",
                                      "git+ssh://", "ssh+git://", NULL};

/* Appends [s, s+len) lower-cased at out+*k; -1 when it does not fit. */
static int put_lower(char *out, size_t n, size_t *k, const char *s, size_t len)
{
    if (*k + len + 1 > n)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[(*k)++] = (char)tolower((unsigned char)s[i]);
    out[*k] = '\0';
    return 0;
}

/* The path part: no query/fragment, no leading or trailing '/', no
 * trailing ".git"; appended after "host/". */
static int put_path(char *out, size_t n, size_t *k, const char *p)
{
    size_t len = strcspn(p, "?#");
    while (len && *p == '/') {
        p++;
        len--;
    }
    for (;;) {
        while (len && p[len - 1] == '/')
            len--;
        if (len >= 4 && strncasecmp(p + len - 4, ".git", 4) == 0) {
            len -= 4;
            continue;
        }
        break;
    }
    if (!len)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == '\\')
            return -1;
    return put_lower(out, n, k, p, len);
}

/* host[:port] without user info: lower-cased, port dropped. */
static int put_host(char *out, size_t n, size_t *k, const char *h, size_t len)
{
    const char *at = NULL;
    for (size_t i = 0; i < len; i++)
        if (h[i] == '@')
            at = h + i;
    if (at) {
        len -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    if (len && h[0] == '[') { /* [v6]:port */
        const char *close = memchr(h, ']', len);
        if (!close)
            return -1;
        len = (size_t)(close + 1 - h);
    } else {
        const char *colon = memchr(h, ':', len);
        if (colon)
            len = (size_t)(colon - h);
    }
    if (!len)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)h[i] <= ' ' || h[i] == '/')
            return -1;
    if (put_lower(out, n, k, h, len) < 0)
        return -1;
    return put_lower(out, n, k, "/", 1);
}

int giturl_normalize(const char *url, char *out, size_t n)
{
    size_t k = 0;
    if (!url || !out || n < 4)
        return -1;
    out[0] = '\0';
    while (*url == ' ' || *url == '\t')
        url++;
    if (strstr(url, "://")) {
        const char *rest = NULL;
        for (int i = 0; schemes[i]; i++)
            if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
                rest = url + strlen(schemes[i]);
        if (!rest)
            return -1;
        size_t hl = strcspn(rest, "/?#");
        if (rest[hl] != '/')
            return -1;
        if (put_host(out, n, &k, rest, hl) < 0 || put_path(out, n, &k, rest + hl) < 0)
            goto bad;
        return 0;
    }
    /* scp-like [user@]host:path; a '/' before the ':' makes it a local path */
    const char *colon = strchr(url, ':');
    const char *slash = strchr(url, '/');
    if (!colon || (slash && slash < colon) || colon == url)
        return -1;
    if (put_host(out, n, &k, url, (size_t)(colon - url)) < 0 ||
        put_path(out, n, &k, colon + 1) < 0)
        goto bad;
    return 0;
bad:
    out[0] = '\0';
    return -1;
}

int giturl_same(const char *a, const char *b)
{
    char na[GITURL_MAX], nb[GITURL_MAX];
    return giturl_normalize(a, na, sizeof na) == 0 && giturl_normalize(b, nb, sizeof nb) == 0 &&
           strcmp(na, nb) == 0;
}
