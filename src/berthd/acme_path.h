/* acme_path.h - the pure checks of outside input for ACME (acme_path.c):
 * --acme-domain names (config.c), the HTTP-01 listener's paths (acme.c).
 * No state, no other module: fuzzed by tests/fuzz/fuzz_acme.c. */
#ifndef BERTHD_ACME_PATH_H
#define BERTHD_ACME_PATH_H

#include <stddef.h>

#define ACME_NAME_MAX 253     /* a DNS name */
#define ACME_DOMAINS_MAX 16   /* names on one certificate */
#define ACME_TOKEN_MAX 128    /* a challenge token's length */
#define ACME_PREFIX "/.well-known/acme-challenge/"
#define ACME_REDIRECT_PATH_MAX 1024

/* 1 when s is a host name berthd asks a certificate for: 1-253 bytes of
 * lowercase LDH labels (1-63 each, no leading/trailing '-'), at least two
 * labels, no wildcard, no trailing dot, not all digits (an IP). */
int acme_domain_valid(const char *s);
/* For a request path (as lws gives it, already decoded): the challenge
 * token when path is exactly ACME_PREFIX + 1-ACME_TOKEN_MAX of
 * [A-Za-z0-9_-] (base64url, RFC 8555 8.3), else NULL. *is_challenge is
 * set to 1 when path is under ACME_PREFIX (a bad token there is a 404,
 * not a redirect). */
const char *acme_challenge_token(const char *path, size_t len, int *is_challenge);
/* 1 when path can be echoed in a Location header: starts with '/', 1 to
 * ACME_REDIRECT_PATH_MAX bytes of printable ASCII (0x21-0x7e), and no
 * "//" at its start (no scheme-relative URL). */
int acme_redirect_path_ok(const char *path, size_t len);

#endif
