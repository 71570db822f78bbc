/* test_db.c - src/berthd/db.c, the db layer, against a real SQLite file in
 * a temporary directory: migrations, the bind formats, stepping, the
 * statement cache, conflicts and errors, write marks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"

struct fx {
    char dir[64];
    char path[96];
    struct db *db;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/berth-db-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[256];
    if (db_open(f->path, &f->db, err, sizeof err) != DB_OK) {
        fprintf(stderr, "db_open: %s\n", err);
        return -1;
    }
    /* a scratch table of every column kind the store uses */
    if (db_run(f->db, db_q(f->db, "CREATE TABLE t (id INTEGER PRIMARY KEY, n BIGINT, "
                                  "s TEXT UNIQUE, r REAL)", "")) != DB_OK)
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    db_free(f->db);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static const char *const INSERT = "INSERT INTO t (n, s, r) VALUES (?, ?, ?)";
static const char *const BY_ID = "SELECT n, s, r FROM t WHERE id = ?";

/* Versions 1-12 apply once, in order; a second run applies nothing. */
static void migrate_all_once(void **state)
{
    struct fx *f = *state;
    assert_int_equal(db_migrate(f->db), 12);
    assert_int_equal(db_migrate(f->db), 12);
    struct db_stmt *s = db_q(f->db, "SELECT COUNT(*), MIN(version), MAX(version) FROM "
                                    "schema_migrations", "");
    assert_int_equal(db_row(f->db, s), DB_OK);
    assert_int_equal(db_int(s, 0), 12);
    assert_int_equal(db_int(s, 1), 1);
    assert_int_equal(db_int(s, 2), 12);
    db_done(s);
}

/* 'z' and 'f' bind NULL for 0 (and a double <= 0), 'i' binds 0 itself, 's'
 * binds NULL for NULL; NULL reads back as 0 / NULL text. */
static void bind_formats(void **state)
{
    struct fx *f = *state;
    assert_int_equal(db_run(f->db, db_q(f->db, INSERT, "zsf", (int64_t)0, NULL, 0.0)), DB_OK);
    int64_t a = db_last_id(f->db);
    assert_int_equal(db_run(f->db, db_q(f->db, INSERT, "isf", (int64_t)0, "x", 1.5)), DB_OK);
    int64_t b = db_last_id(f->db);
    assert_int_equal(db_changes(f->db), 1);

    struct db_stmt *s = db_q(f->db, BY_ID, "i", a);
    assert_int_equal(db_row(f->db, s), DB_OK);
    assert_true(db_null(s, 0));
    assert_int_equal(db_int(s, 0), 0);
    assert_true(db_null(s, 1));
    assert_null(db_text(s, 1));
    assert_null(db_dup(s, 1));
    char buf[8];
    db_str(s, 1, buf, sizeof buf);
    assert_string_equal(buf, "");
    assert_true(db_null(s, 2));
    db_done(s);

    s = db_q(f->db, BY_ID, "i", b);
    assert_int_equal(db_row(f->db, s), DB_OK);
    assert_false(db_null(s, 0));
    assert_string_equal(db_text(s, 1), "x");
    char *d = db_dup(s, 1);
    assert_string_equal(d, "x");
    free(d);
    assert_true(db_double(s, 2) > 1.49 && db_double(s, 2) < 1.51);
    db_done(s);
}

/* 'b' binds text of a length: NULs inside survive, nothing past it is read. */
static void bind_text_with_length(void **state)
{
    struct fx *f = *state;
    const char data[] = "a\0b\0cXYZ";
    assert_int_equal(db_run(f->db, db_q(f->db, "INSERT INTO t (n, s) VALUES (?, ?)", "ib",
                                        (int64_t)1, data, (size_t)5)), DB_OK);
    struct db_stmt *s = db_q(f->db, BY_ID, "i", db_last_id(f->db));
    assert_int_equal(db_row(f->db, s), DB_OK);
    assert_int_equal(db_bytes(s, 1), 5);
    assert_memory_equal(db_text(s, 1), data, 5);
    db_done(s);
}

/* A statement is prepared once: the same SQL text answers the same handle. */
static void statements_are_cached(void **state)
{
    struct fx *f = *state;
    struct db_stmt *a = db_q(f->db, BY_ID, "i", (int64_t)1);
    db_done(a);
    struct db_stmt *b = db_q(f->db, BY_ID, "i", (int64_t)2);
    db_done(b);
    assert_ptr_equal(a, b);
}

/* Rows in a loop, one row, none; a constraint is CONFLICT; a bad statement
 * is NULL from db_q and ERR from whatever runs it. */
static void stepping_and_errors(void **state)
{
    struct fx *f = *state;
    for (int64_t i = 1; i <= 3; i++) {
        char s[8];
        snprintf(s, sizeof s, "k%d", (int)i);
        assert_int_equal(db_run(f->db, db_q(f->db, INSERT, "isf", i, s, 0.0)), DB_OK);
    }
    struct db_stmt *s = db_q(f->db, "SELECT n FROM t ORDER BY n", "");
    int rc, n = 0;
    int64_t sum = 0;
    while ((rc = db_next(f->db, s)) == 1) {
        sum += db_int(s, 0);
        n++;
    }
    db_done(s);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 3);
    assert_int_equal(sum, 6);

    assert_int_equal(db_row(f->db, db_q(f->db, BY_ID, "i", (int64_t)99)), DB_NOTFOUND);
    assert_int_equal(db_run(f->db, db_q(f->db, INSERT, "isf", (int64_t)4, "k1", 0.0)),
                     DB_CONFLICT);
    assert_int_equal(db_run(f->db, db_q(f->db, "UPDATE t SET n = 0 WHERE id = ?", "i",
                                        (int64_t)99)), DB_OK);
    assert_int_equal(db_changes(f->db), 0);

    assert_null(db_q(f->db, "SELECT nope FROM nowhere", ""));
    assert_int_equal(db_run(f->db, NULL), DB_ERR);
    assert_int_equal(db_row(f->db, NULL), DB_ERR);
    assert_int_equal(db_next(f->db, NULL), DB_ERR);
    db_done(NULL);
    assert_true(db_errmsg(f->db) != NULL);
}

/* A mark holds until a row is written or a transaction begins or ends
 * (a rollback writes no row but undoes some); none is taken inside one. */
static void marks_follow_writes(void **state)
{
    struct fx *f = *state;
    struct db_mark m = {0};
    assert_false(db_mark_holds(f->db, &m)); /* never taken */
    assert_int_equal(db_mark_take(f->db, &m), 1);
    assert_true(db_mark_holds(f->db, &m));
    assert_int_equal(db_row(f->db, db_q(f->db, BY_ID, "i", (int64_t)1)), DB_NOTFOUND);
    assert_true(db_mark_holds(f->db, &m)); /* a read */
    assert_int_equal(db_run(f->db, db_q(f->db, INSERT, "isf", (int64_t)1, "a", 0.0)), DB_OK);
    assert_false(db_mark_holds(f->db, &m));

    assert_int_equal(db_mark_take(f->db, &m), 1);
    assert_int_equal(db_begin(f->db), DB_OK);
    assert_false(db_mark_holds(f->db, &m));
    struct db_mark inside;
    assert_int_equal(db_mark_take(f->db, &inside), 0);
    assert_int_equal(db_run(f->db, db_q(f->db, INSERT, "isf", (int64_t)2, "b", 0.0)), DB_OK);
    db_rollback(f->db);
    assert_false(db_mark_holds(f->db, &m));
    assert_int_equal(db_row(f->db, db_q(f->db, "SELECT 1 FROM t WHERE s = ?", "s", "b")),
                     DB_NOTFOUND);

    assert_int_equal(db_mark_take(f->db, &m), 1);
    assert_int_equal(db_begin(f->db), DB_OK);
    assert_int_equal(db_commit(f->db), DB_OK);
    assert_false(db_mark_holds(f->db, &m));
}

/* An unopenable path says why; NULL frees nothing. */
static void open_failure(void **state)
{
    (void)state;
    struct db *db = NULL;
    char err[256] = "";
    assert_int_equal(db_open("/nonexistent-dir/x/y.db", &db, err, sizeof err), DB_ERR);
    assert_null(db);
    assert_non_null(strstr(err, "cannot open"));
    db_free(NULL);
}

#define TF(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TF(migrate_all_once), TF(bind_formats), TF(bind_text_with_length),
        TF(statements_are_cached), TF(stepping_and_errors), TF(marks_follow_writes),
        cmocka_unit_test(open_failure),
    };
    return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
