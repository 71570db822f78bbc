/* deploy.h - the control plane's side of the deploy pipeline
 * (docs/deploy.md): the per-application queue, turning a deployment into a
 * hub job of kind `deploy`, adding the decrypted env only when the job is
 * sent, and reading the runner's step reports and result back into the
 * deployment.
 *
 * Loop thread only. Every function here is a few short indexed store
 * statements; nothing blocks. The job module calls the `deploy` kind's
 * hooks; the API calls deploy_create/deploy_cancel.
 */
#ifndef BERTHD_DEPLOY_H
#define BERTHD_DEPLOY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "berthd.h"
#include "store.h"

#define DEPLOY_JOB_KIND "deploy"
#define DEPLOY_HEALTH_TRIES 10
#define DEPLOY_HEALTH_BACKOFF_MS 500

/* Associated data binding an env value to its app and key. */
void deploy_env_ad(int64_t app_id, const char *key, char *out, size_t n);

/* Docker names the control plane picks: berth-INSTALL-APP:DEPLOYMENT and
 * berth-INSTALL-APP-DEPLOYMENT. INSTALL (8 hex) comes from the master key,
 * so it is stable for a data directory and two berthds sharing one Docker
 * engine never pick the same name; app ids keep names stable across
 * renames. */
void deploy_image_name(const struct srv *s, int64_t app_id, int64_t deployment_id, char *out,
                       size_t n);
void deploy_container_name(const struct srv *s, int64_t app_id, int64_t deployment_id, char *out,
                           size_t n);

/* Dispatches the app's oldest queued deployment unless one holds the app's
 * run slot (RUNNING, or dispatched and not yet accepted). */
void deploy_pump(struct srv *s, int64_t app_id);
/* Stores d (PENDING) for app a (d->kind, commit, image, rollback_of and
 * created_by set by the caller; 0 = by a webhook) and starts it if the
 * app's run slot is free. STORE_OK or a store error. */
int deploy_create(struct srv *s, const struct app *a, struct deployment *d, int64_t *id);
/* At start: pumps every app whose queue is waiting with a free slot. */
void deploy_boot(struct srv *s);

/* Cancels d. Returns 0 when it is CANCELLED now, 1 when the runner was
 * asked to stop it (it ends CANCELLED when the runner reports), -1 on a
 * store failure. The caller checks d is PENDING or RUNNING. */
int deploy_cancel(struct srv *s, const struct deployment *d);

/* The `deploy` job kind (job.h), registered at start-up: env and git
 * credentials added at send time, RUNNING when accepted, step reports
 * from the "system" stream, the result and the next in the queue. */
struct job_kind;
extern const struct job_kind deploy_job_kind;

/* A failed deployment's container output (docs/deploy.md): adds the
 * container lines in add ({ts, stream, text, cut?} objects, borrowed) to
 * kept, then drops the oldest until kept holds at most PROTO_TAIL_LINES
 * lines and PROTO_TAIL_BYTES bytes of text. */
void deploy_tail_merge(json_t *kept, json_t *add);

/* Parses a failed job's error "STEP: REASON; rolled back to deployment N"
 * (each part optional). step gets "" when the prefix is not a step. */
void deploy_parse_error(const char *error, char *step, size_t stepn, char *reason,
                        size_t reasonn, int64_t *rolled_back_to);

#endif
