/* certificates.h - an organization's uploaded TLS certificates on the
 * control plane: which one serves each app domain, the chains and opened
 * keys added to "deploy" and "edge" job frames at every delivery (never
 * stored in a job's spec), and the edge jobs that carry a change to the
 * servers (docs/deploy.md#certificates). The API is api_certs.c, the
 * checks certparse.c, the rows store_certs.c.
 *
 * Owns nothing long-lived; loop thread only.
 */
#ifndef BERTHD_CERTIFICATES_H
#define BERTHD_CERTIFICATES_H

#include <jansson.h>
#include <stdint.h>

#include "berthd.h"
#include "store.h"

#define CERTIFICATES_ORG_MAX 500 /* certificates per organization */

/* Associated data sealing certificate id's private key. */
void certificates_key_ad(int64_t id, char *out, size_t n);

/* Adds "certs" to spec (a deploy or edge spec whose "domains" is set):
 * for each domain the org's certificate that serves it, its chain and
 * its opened key. Logged, never fatal: a domain whose certificate cannot
 * be sent goes without one. */
void certificates_spec_add(struct srv *s, int64_t org_id, json_t *spec);

/* The org's app domains c covers (*covered) and those it is the one
 * chosen to serve (*serving), JSON arrays of names; NULL on failure. */
int certificates_domains(struct srv *s, int64_t org_id, const struct cert *c, json_t **covered,
                         json_t **serving);

/* The same, for many certificates of one org (a list): the org's
 * certificates and app domains read once. NULL on failure. */
struct certificates_view;
struct certificates_view *certificates_view_new(struct srv *s, int64_t org_id);
void certificates_view_free(struct certificates_view *v);
void certificates_view_domains(const struct certificates_view *v, const struct cert *c,
                               json_t **covered, json_t **serving);

/* Calls push (domains_push: an edge job) for every app of the org with a
 * domain one of sans (a JSON array) covers, so its servers load or drop
 * the certificate. The caller passes push: domains.c sends certificates
 * in its frames, so this file does not call back into it. */
typedef void (*certificates_push_fn)(struct srv *s, int64_t org_id, int64_t server_id,
                                     int64_t app_id, int64_t by);
void certificates_push(struct srv *s, int64_t org_id, const char *sans_json, int64_t by,
                       certificates_push_fn push);

/* The installation's ACME settings (--acme-*) and the app's HTTPS options
 * (https_redirect, hsts) into an edge or deploy job's spec, at every send. */
void certificates_spec_https(struct srv *s, const struct app *a, json_t *spec);

#endif
