/* audit.h - the append-only audit trail.
 *
 * http.c records every finished mutation (any non-GET route) and every
 * refused request (401/403/404 on a guarded route) through audit_request(),
 * using what the handler left on the req: audit_org, audit_target and
 * audit_detail. Handlers never write audit rows themselves, except for
 * events that are not one request's outcome. */
#ifndef BERTHD_AUDIT_H
#define BERTHD_AUDIT_H

#include "http.h"

void audit_request(struct req *r);
/* Direct entry, for events outside the request rule (e.g. `berthd init`). */
void audit_event(struct srv *s, int64_t org_id, int64_t actor_id, const char *actor_email,
                 const char *action, const char *target, const char *outcome,
                 const char *detail);

#endif
