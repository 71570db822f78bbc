/* db.h - berthd's database layer: the only code that talks to a database
 * engine (today SQLite; a PostgreSQL backend plugs in behind the same
 * calls). The store's table functions (store_*.c) write portable SQL ('?'
 * parameters, ON CONFLICT, BIGINT) and use only what is declared here.
 *
 * A connection is used from one thread (the event loop). Statements are
 * named by the address of their SQL text, which must be a string literal
 * or otherwise live as long as the connection: each is prepared once and
 * cached, then reset and rebound on every use.
 *
 * Every int-returning call answers DB_OK or a negative DB_* code; the codes
 * equal store.h's STORE_* codes, so table functions pass them through.
 *
 * Using a statement: db_q prepares (or finds) and binds it; then either
 *   db_run   for a statement that returns no rows, or
 *   db_row   for one row (on DB_OK the row is current: read its columns,
 *            then db_done), or
 *   db_next  in a loop (1: a row is current, 0: no more, <0: error), then
 *            db_done.
 * db_q may answer NULL (prepare or bind failed, logged); db_run, db_row
 * and db_next take NULL and answer DB_ERR, so a call chain needs no check
 * in between. db_done takes NULL too.
 */
#ifndef BERTHD_DB_H
#define BERTHD_DB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
    DB_OK = 0,
    DB_ERR = -1,
    DB_NOTFOUND = -2,
    DB_CONFLICT = -3, /* a constraint (unique, foreign key, not null) refused it */
};

struct db;
struct db_stmt;

/* Opens (creating) the SQLite file at path, configured for berthd (WAL,
 * synchronous=NORMAL, exclusive locking, foreign keys). On failure writes
 * the reason into err. */
int db_open(const char *path, struct db **out, char *err, size_t errlen);
/* Finalizes every cached statement and closes the connection; NULL is fine. */
void db_free(struct db *db);
/* The engine's last error message (never NULL). */
const char *db_errmsg(struct db *db);

/* Applies the pending versioned migrations (the append-only list in
 * db.c), each in its own transaction; returns the schema version or
 * DB_ERR. */
int db_migrate(struct db *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. db_rollback logs its own failure. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Prepares (once) and binds sql. fmt holds one letter per parameter:
 *   'i' int64_t
 *   'z' int64_t, 0 binds NULL
 *   's' const char *, NULL binds NULL
 *   'b' const char *, size_t: text of that length (may hold NULs)
 *   'f' double, a value <= 0 binds NULL
 */
struct db_stmt *db_q(struct db *db, const char *sql, const char *fmt, ...);
struct db_stmt *db_vq(struct db *db, const char *sql, const char *fmt, va_list ap);

/* Runs a statement that returns no rows: DB_OK, DB_CONFLICT or DB_ERR. */
int db_run(struct db *db, struct db_stmt *s);
/* Steps once expecting a row: DB_OK (row current; db_done it), DB_NOTFOUND
 * or DB_ERR. */
int db_row(struct db *db, struct db_stmt *s);
/* Steps a row loop: 1 a row is current, 0 done, DB_ERR (logged). */
int db_next(struct db *db, struct db_stmt *s);
/* Ends a use of s (resets it, releasing its read). */
void db_done(struct db_stmt *s);

/* Columns of the current row, by 0-based index. db_text answers NULL for
 * NULL; db_int and db_double answer 0 for NULL. */
int db_null(struct db_stmt *s, int i);
int64_t db_int(struct db_stmt *s, int i);
double db_double(struct db_stmt *s, int i);
const char *db_text(struct db_stmt *s, int i);
/* Bytes in column i's text. */
size_t db_bytes(struct db_stmt *s, int i);
/* Copies column i's text into dst (truncating; "" for NULL). */
void db_str(struct db_stmt *s, int i, char *dst, size_t n);
/* A malloc'ed copy of column i's text, NULL when NULL or empty. */
char *db_dup(struct db_stmt *s, int i);

/* The id of the row the last INSERT made. */
int64_t db_last_id(struct db *db);
/* Rows the last statement inserted, updated or deleted. */
int64_t db_changes(struct db *db);

/* A mark of everything written through this connection: it counts rows
 * changed and transaction boundaries (a rollback undoes rows without
 * counting them). Caches of read answers keep a mark and trust an entry
 * only while db_mark_holds: nothing was written since. db_mark_take
 * answers 0 when no mark can be taken (inside a transaction; a backend
 * that other processes write to answers 0 always). */
struct db_mark {
    int64_t changes;
    uint64_t epoch;
    int used;
};

int db_mark_take(struct db *db, struct db_mark *m);
int db_mark_holds(struct db *db, const struct db_mark *m);

#endif
