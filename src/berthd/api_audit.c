/* api_audit.c - reading an organization's audit trail, newest first, with
 * filters (actor, action, time) and cursor pagination. */
#include "api.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* {id, at, actor: {id, email} | null, action, target, outcome, status, ip,
 * detail}; detail is the stored JSON document (null when none or unreadable). */
static void audit_item(void *arg, int64_t id, const struct audit_entry *e)
{
    json_t *actor = e->actor_id ? json_pack("{s:I, s:o}", "id", (json_int_t)e->actor_id,
                                            "email", str_or_null(e->actor_email))
                                : json_null();
    json_t *detail = e->detail ? json_loads(e->detail, 0, NULL) : NULL;
    json_array_append_new(
        arg, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id", (json_int_t)id,
                       "at", api_time(e->at), "actor", actor, "action", str_or_null(e->action),
                       "target", str_or_null(e->target), "outcome", str_or_null(e->outcome),
                       "status", (json_int_t)e->status, "ip", str_or_null(e->ip), "detail",
                       detail ? detail : json_null()));
}

void api_audit_list(struct req *r)
{
    char actor[256], action[128], since[64], until[64], cursor[32], limit[16];
    struct audit_filter f;
    memset(&f, 0, sizeof f);
    f.org_id = r->who.org_id;
    f.limit = 50;
    f.actor = req_query(r, "actor", actor, sizeof actor);
    f.action = req_query(r, "action", action, sizeof action);
    if (r->replied) /* a value too long: answered 400 */
        return;
    if (f.actor && !*f.actor)
        f.actor = NULL;
    if (f.action && !*f.action)
        f.action = NULL;
    if (req_query(r, "since", since, sizeof since) && util_parse_time(since, &f.since) < 0) {
        http_reply_error(r, 400, "invalid_field", "query 'since' must be RFC 3339 "
                         "(2026-01-02T15:04:05Z) or epoch seconds");
        return;
    }
    if (req_query(r, "until", until, sizeof until) && util_parse_time(until, &f.until) < 0) {
        http_reply_error(r, 400, "invalid_field", "query 'until' must be RFC 3339 "
                         "(2026-01-02T15:04:05Z) or epoch seconds");
        return;
    }
    if (req_query(r, "cursor", cursor, sizeof cursor) &&
        (util_parse_i64(cursor, &f.before_id) < 0 || f.before_id <= 0)) {
        http_reply_error(r, 400, "invalid_field", "query 'cursor' is not a cursor this API gave");
        return;
    }
    int64_t lim;
    if (req_query(r, "limit", limit, sizeof limit)) {
        if (util_parse_i64(limit, &lim) < 0 || lim < 1 || lim > 500) {
            http_reply_error(r, 400, "invalid_field", "query 'limit' must be 1-500");
            return;
        }
        f.limit = (int)lim;
    }
    if (r->replied) /* a value too long: answered 400 */
        return;
    json_t *items = json_array();
    int64_t next = 0;
    int rc = store_audit_each(r->srv->store, &f, audit_item, items, &next);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, rc, "audit");
        return;
    }
    char nc[32];
    snprintf(nc, sizeof nc, "%lld", (long long)next);
    http_reply_json(r, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor",
                                      next ? json_string(nc) : json_null()));
}
