/* store_impl.h - what the store's files (store*.c) share and nobody else
 * includes: struct store (a db connection and the identity lookup cache)
 * and the short statement helpers every table function uses.
 */
#ifndef BERTHD_STORE_IMPL_H
#define BERTHD_STORE_IMPL_H

#include "store.h"
#include "db.h"
#include "jsonx.h"
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

static inline json_t *col_json_str(struct db_stmt *s, int i)
{
    const char *v = db_text(s, i);
    return v ? json_string(v) : json_null();
}

static inline json_t *col_json_time(struct db_stmt *s, int i)
{
    if (db_null(s, i))
        return json_null();
    char t[32];
    util_iso8601(db_int(s, i), t, sizeof t);
    return json_string(t);
}

/* Collects rows of s into a JSON array with build(). */
static inline int collect(struct store *st, struct db_stmt *s, json_t **items,
                   json_t *(*build)(struct db_stmt *s))
{
    if (!s)
        return STORE_ERR;
    json_t *arr = json_array();
    int rc;
    while ((rc = db_next(st->db, s)) == 1)
        json_array_append_new(arr, build(s));
    db_done(s);
    if (rc != 0) {
        json_decref(arr);
        return STORE_ERR;
    }
    *items = arr;
    return STORE_OK;
}

/* Writes the rows of s as a JSON array, each with put_row(). */
static inline int write_rows(struct store *st, struct db_stmt *s, struct jw *w,
                      void (*put_row)(struct db_stmt *s, struct jw *w))
{
    if (!s)
        return STORE_ERR;
    int rc;
    jw_arr(w);
    while ((rc = db_next(st->db, s)) == 1)
        put_row(s, w);
    jw_arr_end(w);
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

/* "key":column i as text (null for NULL), as col_json_str gives it. */
static inline void w_str(struct jw *w, const char *key, struct db_stmt *s, int i)
{
    jw_key(w, key);
    jw_str(w, db_text(s, i));
}

/* "key":column i as an ISO-8601 time (null for NULL), as col_json_time. */
static inline void w_time(struct jw *w, const char *key, struct db_stmt *s, int i)
{
    jw_key(w, key);
    if (db_null(s, i)) {
        jw_null(w);
        return;
    }
    char t[32];
    util_iso8601(db_int(s, i), t, sizeof t);
    jw_str(w, t);
}

#endif
