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

int store_audit_each(struct store *st, const struct audit_filter *f,
                     void (*fn)(void *arg, int64_t id, const struct audit_entry *e), void *arg,
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
    /* limit + 1 rows: the extra one says there is an older page */
    int rc, n = 0;
    int64_t last = 0;
    *next_cursor = 0;
    while ((rc = db_next(st->db, s)) == 1) {
        if (n == limit) {
            *next_cursor = last;
            continue; /* runs to the end: at most this one row more */
        }
        struct audit_entry e = {
            .org_id = f->org_id, .at = db_int(s, 1), .actor_id = db_int(s, 2),
            .actor_email = db_text(s, 3), .action = db_text(s, 4), .target = db_text(s, 5),
            .outcome = db_text(s, 6), .status = (int)db_int(s, 7), .ip = db_text(s, 8),
            .detail = db_text(s, 9),
        };
        last = db_int(s, 0);
        fn(arg, last, &e);
        n++;
    }
    db_done(s);
    if (rc != 0)
        *next_cursor = 0;
    return rc == 0 ? STORE_OK : STORE_ERR;
}
