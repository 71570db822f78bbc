/* domains.h - an app's host names: their rules, the one-app-per-name-per-
 * server rule (one edge per server, shared by every org's apps on it), and
 * the "edge" job that applies an app's names on its server's edge proxy
 * with no deploy (docs/deploy.md#domains).
 *
 * Owns nothing long-lived; loop thread only.
 */
#ifndef BERTHD_DOMAINS_H
#define BERTHD_DOMAINS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "berthd.h"
#include "job.h"
#include "store.h"

#define DOMAINS_MAX 50
#define EDGE_JOB_KIND "edge"

/* in lower-cased into out (n >= 256): 0, or -1 when it is not a host name
 * (1-253 characters, labels of 1-63 [a-z0-9-] not starting or ending with
 * '-', at least two labels) or a wildcard "*." + such a name. */
int domains_normalise(const char *in, char *out, size_t n);

/* Whether another app on a's server (any org) already has one of a's
 * domains (a->domains_json): 1 (the first such name copied into clash),
 * 0, or -1 on a store failure. The other app is never named: callers
 * answer 409 with a neutral message. */
int domains_clash(struct srv *s, const struct app *a, char *clash, size_t n);

/* Queues an "edge" job on server_id for the app: at every send it carries
 * the app's domains as they are then (none once the app is gone), so the
 * runner's maps follow the store. Logged on failure, never fatal. */
void domains_push(struct srv *s, int64_t org_id, int64_t server_id, int64_t app_id, int64_t by);

/* Takes "domain.cert" frames (a runner's report on a domain's
 * certificate): stored, audited domain.cert.issue | renew | fail. */
struct hub;
int domains_start(struct srv *s, struct hub *h);
/* {status, expires_at?, issuer?, error?} of one of the app's names. */
json_t *domains_cert_json(struct srv *s, int64_t app_id, const char *name);

extern const struct job_kind edge_job_kind;

#endif
