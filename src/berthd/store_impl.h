/* store_impl.h - what the store's files (store*.c) share and nobody else
 * includes: struct store (a db connection and the identity lookup cache)
 * and the short statement helpers every table function uses. No JSON
 * field names here: lists hand rows to a callback and the API files
 * choose the names.
 */
#ifndef BERTHD_STORE_IMPL_H
#define BERTHD_STORE_IMPL_H

#include "store.h"
#include "db.h"
#include "util.h"

#include <stdarg.h>

/* Recent answers to the two lookups every API request makes (the bearer
 * token, and on organization routes the caller's membership;
 * store_identity.c). An entry holds only while nothing has been written
 * through this connection since it was filled (db_mark: rows changed and
 * transaction boundaries). berthd is the database's only writer
 * (EXCLUSIVE locking, one connection), so a revoked token, a disabled user
 * or a changed role is never served from here. Entries are neither filled
 * nor used inside a transaction. */
#define STORE_LOOKUP_CACHE 64

struct token_slot {
    struct db_mark at;
    char hash[80];
    struct token t;
    int64_t user_id;
    char email[256], status[16];
};

struct member_slot {
    struct db_mark at;
    char ref[128];
    int64_t user_id;
    struct org o;
    char role[16];
};

struct store {
    struct db *db;
    struct token_slot tokens[STORE_LOOKUP_CACHE];
    struct member_slot members[STORE_LOOKUP_CACHE];
};

/* The statement helpers: prepare and bind (db_q's format), run a statement
 * without rows, step to one row, and NOTFOUND when a run changed no row. */
static inline struct db_stmt *q(struct store *st, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct db_stmt *s = db_vq(st->db, sql, fmt, ap);
    va_end(ap);
    return s;
}

static inline int run(struct store *st, struct db_stmt *s) { return db_run(st->db, s); }

static inline int row(struct store *st, struct db_stmt *s) { return db_row(st->db, s); }

static inline int changed(struct store *st, int rc)
{
    if (rc == STORE_OK && db_changes(st->db) == 0)
        return STORE_NOTFOUND;
    return rc;
}

#endif
