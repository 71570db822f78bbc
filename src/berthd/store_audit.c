/* store_audit.c - the append-only audit trail and its filtered, paged reads.
 *
 * Portable SQL through db.h (no SQLite here); the calls are in store.h.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- audit ---- */

int store_audit_append(struct store *st, const struct audit_entry *e)
{
    return run(st, q(st, "INSERT INTO audit (org_id, at, actor_id, actor_email, token_id, "
                         "action, target, outcome, status, ip, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "zizszsssiss", e->org_id, e->at, e->actor_id, e->actor_email,
                     e->token_id, e->action, e->target, e->outcome, (int64_t)e->status,
                     e->ip, e->detail));
}

static json_t *audit_row(struct db_stmt *s)
{
    json_t *actor = db_null(s, 2)
                        ? json_null()
                        : json_pack("{s:I, s:o}", "id",
                                    (json_int_t)db_int(s, 2), "email",
                                    col_json_str(s, 3));
    json_t *detail = json_null();
    const char *d = db_text(s, 9);
    if (d) {
        json_t *parsed = json_loads(d, 0, NULL);
        if (parsed) {
            json_decref(detail);
            detail = parsed;
        }
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
                     (json_int_t)db_int(s, 0), "at", col_json_time(s, 1),
                     "actor", actor, "action", col_json_str(s, 4), "target",
                     col_json_str(s, 5), "outcome", col_json_str(s, 6), "status",
                     (json_int_t)db_int(s, 7), "ip", col_json_str(s, 8),
                     "detail", detail);
}

int store_audit_list(struct store *st, const struct audit_filter *f, json_t **items,
                     int64_t *next_cursor)
{
    /* One statement with optional filters: a NULL/0 parameter disables its
     * condition, so the plan is cached once. */
    static const char *sql =
        "SELECT id, at, actor_id, actor_email, action, target, outcome, status, ip, detail "
        "FROM audit WHERE org_id = ? "
        "AND (? IS NULL OR actor_email = ? OR CAST(actor_id AS TEXT) = ?) "
        "AND (? IS NULL OR action = ? OR (? IS NOT NULL AND action LIKE ?)) "
        "AND (? = 0 OR at >= ?) AND (? = 0 OR at <= ?) "
        "AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?";
    const char *prefix_like = NULL;
    char like[160];
    size_t al = f->action ? strlen(f->action) : 0;
    if (al && f->action[al - 1] == '*' && al < sizeof like) {
        memcpy(like, f->action, al - 1);
        like[al - 1] = '%';
        like[al] = '\0';
        prefix_like = like;
    }
    int limit = f->limit > 0 ? f->limit : 50;
    struct db_stmt *s = q(st, sql, "isssssssiiiiiii", f->org_id, f->actor, f->actor, f->actor,
                          f->action, f->action, prefix_like, prefix_like, f->since, f->since,
                          f->until, f->until, f->before_id, f->before_id,
                          (int64_t)limit + 1);
    json_t *arr = NULL;
    int rc = collect(st, s, &arr, audit_row);
    if (rc != STORE_OK)
        return rc;
    *next_cursor = 0;
    if (json_array_size(arr) > (size_t)limit) {
        json_array_remove(arr, (size_t)limit);
        json_t *last = json_array_get(arr, (size_t)limit - 1);
        *next_cursor = (int64_t)json_integer_value(json_object_get(last, "id"));
    }
    *items = arr;
    return STORE_OK;
}
