/* acme.h - certificates for the edge's HTTPS names by ACME HTTP-01, with
 * Debian's lego run as a child (docs/deploy.md "HTTPS"). */
#ifndef BERTH_RUNNER_ACME_H
#define BERTH_RUNNER_ACME_H

#include <jansson.h>
#include <stddef.h>

struct runner;

/* A job spec's "acme" settings and the app's https_redirect / hsts (app:
 * the edge's "a<id>"): stored, applied to the edge. 0, or -1 with err. */
int acme_spec(struct runner *r, const char *app, json_t *spec, char *err, size_t errlen);
/* An app's names were routed: each exact name without a fresh certificate
 * gets one (queued; one lego at a time); a wildcard is reported failed. */
void acme_want(struct runner *r, const char *app_id, const char *const *names, size_t n);
/* At start: if the edge serves certificates, check them now and every
 * 12 h (renew within --acme-renew-days). Nothing is allocated otherwise. */
void acme_start(struct runner *r);
void acme_stop(struct runner *r);
/* The link is up again: "domain.cert" frames are not spooled, so the
 * state of every served certificate (issued) and of every name waiting
 * for one (pending) is sent again. Nothing when acme never ran. */
void acme_on_welcome(struct runner *r);

#endif
