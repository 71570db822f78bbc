/* hooks.h - the pure parts of the push webhooks (hooks_parse.c; the
 * requests are hooks.c's; docs/webhooks.md): reading a provider's request into a push, and the
 * order rule that keeps a webhook from deploying a commit twice or an
 * older one. No store, no request: callable from unit tests and the
 * fuzzer (tests/fuzz/fuzz_webhook.c). */
#ifndef BERTHD_HOOKS_H
#define BERTHD_HOOKS_H

#include <stddef.h>

#include "giturl.h"

enum hooks_provider { HOOKS_GITHUB, HOOKS_GITEA, HOOKS_GITLAB, HOOKS_GENERIC };

/* What a provider sends: its headers, and where its payload names the
 * repository. */
struct hooks_provider_info {
    enum hooks_provider kind;
    const char *name;           /* repos.provider */
    const char *event_header;
    const char *delivery_header;
    const char *sig_header;
    const char *repo_obj;       /* payload object holding the URLs */
    const char *url_fields[5];
};

const struct hooks_provider_info *hooks_provider(enum hooks_provider kind);

#define HOOKS_MAX_URLS 8
#define HOOKS_REASON_MAX 512

enum hooks_what {
    HOOKS_IGNORE,               /* verified but nothing to do: why says so */
    HOOKS_PING,                 /* the provider's set-up ping */
    HOOKS_DEPLOY,               /* a push to a branch at a commit */
};

struct hooks_push {
    enum hooks_what what;
    char event[64];             /* the event header's value */
    char ref[256];              /* "" when absent or longer */
    const char *branch;         /* inside ref (HOOKS_DEPLOY), else NULL */
    char before[72];            /* lower-case hex commit ids, "" when absent, */
    char after[72];             /* malformed or all zero */
    char why[HOOKS_REASON_MAX]; /* when not HOOKS_DEPLOY */
    char urls[HOOKS_MAX_URLS][GITURL_MAX]; /* the payload's repository URLs, normalised */
    int nurls;
};

#define HOOKS_EJSON (-1)        /* the body is not a JSON object */
#define HOOKS_EPAYLOAD (-2)     /* it names no repository URL */

/* Reads a request of provider with event header event and body into *p
 * (which must not be copied: branch points into it). 0, or HOOKS_EJSON /
 * HOOKS_EPAYLOAD with err set. */
int hooks_parse(enum hooks_provider provider, const char *event, const void *body, size_t len,
                struct hooks_push *p, char *err, size_t errlen);

enum { HOOKS_ORDER_TAKE, HOOKS_ORDER_DUPLICATE, HOOKS_ORDER_STALE };
/* The order rule for a verified push of one branch (docs/webhooks.md
 * "Replays and order"): head is the branch's last commit taken ("" for
 * none); after_seen / before_seen whether after / before was named by a
 * push taken for the branch; before "" when the push has none. */
int hooks_order(const char *head, int after_seen, int before_seen, const char *before,
                const char *after);

#endif
