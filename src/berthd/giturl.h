/* giturl.h - which repository a git URL names, so a push webhook's
 * repository can be matched against the URLs users gave their apps and
 * repositories (docs/webhooks.md, "Matching").
 *
 * The normal form is "host/path": scheme (https, http, ssh, git,
 * git+ssh), user name, password and port are dropped; scp-like
 * `user@host:path` is read as ssh; the path loses leading and trailing
 * '/', a trailing ".git", any query or fragment. Host and path are
 * lower-cased: GitHub, Gitea and GitLab resolve owner and repository names
 * without letter case. Pure functions, no allocation. */
#ifndef BERTHD_GITURL_H
#define BERTHD_GITURL_H

#include <stddef.h>

#define GITURL_MAX 1040

/* Writes the normal form of url into out (n bytes). 0, or -1 when url is
 * not a git URL this understands (no host, no path, unknown scheme, or
 * too long for out). */
int giturl_normalize(const char *url, char *out, size_t n);

/* 1 when a and b name the same repository (both normalise, and equal). */
int giturl_same(const char *a, const char *b);

#endif
