/* audit.c - turns a finished request into its audit row. */
#include "audit.h"
#include "events.h"
#include "jsonx.h"
#include "log.h"
#include "router.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>

static const char *outcome_of(int status)
{
    if (status < 400)
        return "success";
    if (status == 401 || status == 403 || status == 404 || status == 429)
        return "denied";
    return "failure";
}

/* A new entry, as the organization's event stream tells it (events.h). */
static void publish(struct srv *s, const struct audit_entry *e)
{
    if (!e->org_id || !events_wanted(s, e->org_id))
        return;
    json_t *actor = e->actor_id || e->actor_email
                        ? json_pack("{s:I, s:s?}", "id", (json_int_t)e->actor_id, "email",
                                    e->actor_email)
                        : json_null();
    events_publish(s, e->org_id, SC_AUDIT_READ, "audit",
                   json_pack("{s:s, s:s?, s:s, s:i, s:I, s:o}", "action", e->action, "target",
                             e->target, "outcome", e->outcome, "status", e->status, "at",
                             (json_int_t)e->at, "actor", actor));
}

void audit_request(struct req *r)
{
    const struct route *rt = r->route;
    if (!rt || !rt->action)
        return;
    /* The route's method, not the request's: HEAD runs a GET route and
     * is a read (auditing it would let anyone flood the trail). */
    int mutation = rt->method != HM_GET;
    int refused = r->guard_refused;
    if (!mutation && !refused)
        return;
    char *detail = r->audit_detail ? jx_dump(r->audit_detail, NULL) : NULL;
    struct audit_entry e = {
        .org_id = r->audit_org,
        .at = util_now(),
        .actor_id = r->authed ? r->who.user_id : 0,
        .actor_email = r->authed ? r->who.email : (r->audit_actor[0] ? r->audit_actor : NULL),
        .token_id = r->authed ? r->who.token_id : 0,
        .action = rt->action,
        .target = r->audit_target[0] ? r->audit_target : NULL,
        .outcome = outcome_of(r->status),
        .status = r->status,
        .ip = req_ip(r),
        .detail = detail,
    };
    if (store_audit_append(r->srv->store, &e) != STORE_OK)
        log_error("audit", "cannot append audit entry for %s", rt->action);
    else
        publish(r->srv, &e);
    free(detail);
}

void audit_event(struct srv *s, int64_t org_id, int64_t actor_id, const char *actor_email,
                 const char *action, const char *target, const char *outcome,
                 const char *detail)
{
    struct audit_entry e = {
        .org_id = org_id, .at = util_now(), .actor_id = actor_id,
        .actor_email = actor_email, .action = action, .target = target,
        .outcome = outcome, .status = 0, .ip = NULL, .detail = detail,
    };
    if (store_audit_append(s->store, &e) != STORE_OK)
        log_error("audit", "cannot append audit entry for %s", action);
    else
        publish(s, &e);
}
