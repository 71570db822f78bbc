/* test_store.c - the store (src/berthd/store*.c on db.c) against a real
 * SQLite file in a temporary directory: migrations, identity records,
 * audit queries, the rows each list hands its callback. The file is also
 * read with a connection of the test's own, independently of db.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "deploy.h"
#include "proto.h"

struct fx {
    char dir[64];
    struct store *st;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/berth-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char err[256];
    if (store_open(f->dir, "", &f->st, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    if (store_migrate(f->st) < 1)
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    store_free(f->st);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* The store holds its file with an exclusive lock (berthd owns its
 * database), so an independent look closes the store, reads the file with
 * a connection of its own, and opens the store again. */
static void reopen_store(struct fx *f)
{
    char err[256];
    if (store_open(f->dir, "", &f->st, err, sizeof err) != STORE_OK)
        fail_msg("store_open: %s", err);
}

static sqlite3 *raw_open(struct fx *f)
{
    char path[128];
    snprintf(path, sizeof path, "%s/berth.db", f->dir);
    store_free(f->st);
    f->st = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

/* Runs a one-value query on the file, independently of the store. */
static int64_t count(struct fx *f, const char *sql)
{
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    reopen_store(f);
    return n;
}

static int64_t user(struct fx *f, const char *email)
{
    int64_t id = 0;
    assert_int_equal(store_user_create(f->st, email, "$argon2id$fake", "active", 1000, &id),
                     STORE_OK);
    assert_true(id > 0);
    return id;
}

static int64_t org(struct fx *f, const char *name)
{
    int64_t id = 0;
    assert_int_equal(store_org_create(f->st, name, 1000, &id), STORE_OK);
    assert_true(id > 0);
    return id;
}

/* ---- opening and migrations ---- */

static void migrate_idempotent(void **state)
{
    struct fx *f = *state;
    int v = store_migrate(f->st);
    assert_true(v >= 1);
    assert_int_equal(store_migrate(f->st), v);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM schema_migrations"), v);
    /* data survives a re-run */
    user(f, "a@example.com");
    assert_int_equal(store_migrate(f->st), v);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM users"), 1);
}

static void migrate_after_reopen(void **state)
{
    struct fx *f = *state;
    user(f, "a@example.com");
    store_free(f->st);
    char err[256];
    assert_int_equal(store_open(f->dir, "", &f->st, err, sizeof err), STORE_OK);
    int v = store_migrate(f->st);
    assert_true(v >= 1);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM schema_migrations"), v);
    struct user u;
    assert_int_equal(store_user_by_email(f->st, "a@example.com", &u), STORE_OK);
}

static void wal_mode_and_file_mode(void **state)
{
    struct fx *f = *state;
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    reopen_store(f);
}

/* Migrations are recorded: a database that has version 1 applied is not
 * migrated again (the tables would already exist and v1 would fail). */
static void migrate_records_versions(void **state)
{
    struct fx *f = *state;
    int v = store_migrate(f->st);
    int64_t first_applied = count(f, "SELECT MIN(applied_at) FROM schema_migrations");
    assert_true(first_applied > 0);
    assert_int_equal(count(f, "SELECT MIN(version) FROM schema_migrations"), 1);
    assert_int_equal(count(f, "SELECT MAX(version) FROM schema_migrations"), v);
}

static void open_url_forms(void **state)
{
    struct fx *f = *state;
    char err[256], url[160];
    struct store *st = NULL;
    snprintf(url, sizeof url, "sqlite:%s/other.db", f->dir);
    assert_int_equal(store_open(f->dir, url, &st, err, sizeof err), STORE_OK);
    assert_true(store_migrate(st) >= 1);
    store_free(st);
    char p[160];
    snprintf(p, sizeof p, "%s/other.db", f->dir);
    assert_int_equal(access(p, F_OK), 0);
    err[0] = '\0';
    assert_int_equal(store_open(f->dir, "mysql://x", &st, err, sizeof err), STORE_ERR);
    assert_true(err[0] != '\0');
    err[0] = '\0';
    assert_int_equal(store_open(f->dir, "postgres://localhost/berth", &st, err, sizeof err),
                     STORE_ERR);
    assert_non_null(strstr(err, "PostgreSQL"));
    assert_int_equal(store_open("/nonexistent/dir", "", &st, err, sizeof err), STORE_ERR);
}

/* ---- users ---- */

static void user_create_get(void **state)
{
    struct fx *f = *state;
    int64_t id = user(f, "alice@example.com");
    struct user u;
    memset(&u, 0, sizeof u);
    assert_int_equal(store_user_get(f->st, id, &u), STORE_OK);
    assert_int_equal(u.id, id);
    assert_string_equal(u.email, "alice@example.com");
    assert_string_equal(u.status, "active");
    assert_string_equal(u.pwhash, "$argon2id$fake");
    assert_int_equal(u.created_at, 1000);
    struct user v;
    assert_int_equal(store_user_by_email(f->st, "alice@example.com", &v), STORE_OK);
    assert_int_equal(v.id, id);
}

static void user_missing(void **state)
{
    struct fx *f = *state;
    struct user u;
    assert_int_equal(store_user_get(f->st, 424242, &u), STORE_NOTFOUND);
    assert_int_equal(store_user_by_email(f->st, "nobody@example.com", &u), STORE_NOTFOUND);
}

static void user_duplicate_email(void **state)
{
    struct fx *f = *state;
    user(f, "alice@example.com");
    int64_t id = 0;
    assert_int_equal(store_user_create(f->st, "alice@example.com", NULL, "invited", 1, &id),
                     STORE_CONFLICT);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM users"), 1);
}

static void invited_user_then_password(void **state)
{
    struct fx *f = *state;
    int64_t id = 0;
    assert_int_equal(store_user_create(f->st, "inv@example.com", NULL, "invited", 5, &id),
                     STORE_OK);
    struct user u;
    assert_int_equal(store_user_get(f->st, id, &u), STORE_OK);
    assert_string_equal(u.status, "invited");
    assert_string_equal(u.pwhash, "");
    assert_int_equal(store_user_set_password(f->st, id, "$argon2id$new", 10), STORE_OK);
    assert_int_equal(store_user_get(f->st, id, &u), STORE_OK);
    assert_string_equal(u.status, "active");
    assert_string_equal(u.pwhash, "$argon2id$new");
    assert_int_equal(store_user_set_password(f->st, 424242, "$argon2id$x", 10), STORE_NOTFOUND);
}

/* An invitation sets the password of an account that never activated,
 * never of an active one. */
static void activate_only_invited(void **state)
{
    struct fx *f = *state;
    int64_t id = 0;
    assert_int_equal(store_user_create(f->st, "inv@example.com", NULL, "invited", 5, &id),
                     STORE_OK);
    assert_int_equal(store_user_activate(f->st, id, "$argon2id$first", 6), STORE_OK);
    assert_int_equal(store_user_activate(f->st, id, "$argon2id$second", 7), STORE_NOTFOUND);
    struct user u;
    assert_int_equal(store_user_get(f->st, id, &u), STORE_OK);
    assert_string_equal(u.status, "active");
    assert_string_equal(u.pwhash, "$argon2id$first");
}

/* ---- organizations and members ---- */

static void org_create_find(void **state)
{
    struct fx *f = *state;
    int64_t id = org(f, "acme");
    struct org o;
    assert_int_equal(store_org_find(f->st, "acme", &o), STORE_OK);
    assert_int_equal(o.id, id);
    assert_string_equal(o.name, "acme");
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    memset(&o, 0, sizeof o);
    assert_int_equal(store_org_find(f->st, ref, &o), STORE_OK);
    assert_string_equal(o.name, "acme");
    assert_int_equal(store_org_find(f->st, "nope", &o), STORE_NOTFOUND);
    assert_int_equal(store_org_find(f->st, "999", &o), STORE_NOTFOUND);
}

static void org_duplicate(void **state)
{
    struct fx *f = *state;
    org(f, "acme");
    int64_t id;
    assert_int_equal(store_org_create(f->st, "acme", 1, &id), STORE_CONFLICT);
}

static void member_crud(void **state)
{
    struct fx *f = *state;
    int64_t o = org(f, "acme"), a = user(f, "a@example.com"), b = user(f, "b@example.com");
    assert_int_equal(store_member_add(f->st, o, a, "admin", 1), STORE_OK);
    assert_int_equal(store_member_add(f->st, o, b, "viewer", 2), STORE_OK);
    char role[16];
    assert_int_equal(store_member_role(f->st, o, b, role), STORE_OK);
    assert_string_equal(role, "viewer");
    assert_int_equal(store_member_set_role(f->st, o, b, "developer"), STORE_OK);
    assert_int_equal(store_member_role(f->st, o, b, role), STORE_OK);
    assert_string_equal(role, "developer");
    int64_t n = -1;
    assert_int_equal(store_member_count_role(f->st, o, "admin", &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_member_remove(f->st, o, b), STORE_OK);
    assert_int_equal(store_member_role(f->st, o, b, role), STORE_NOTFOUND);
    assert_int_equal(store_member_remove(f->st, o, b), STORE_NOTFOUND);
    assert_int_equal(store_member_set_role(f->st, o, b, "admin"), STORE_NOTFOUND);
}

static void member_conflicts(void **state)
{
    struct fx *f = *state;
    int64_t o = org(f, "acme"), a = user(f, "a@example.com");
    assert_int_equal(store_member_add(f->st, o, a, "admin", 1), STORE_OK);
    assert_int_equal(store_member_add(f->st, o, a, "viewer", 1), STORE_CONFLICT);
    /* foreign keys hold: no membership of a missing org or user */
    assert_int_equal(store_member_add(f->st, 999, a, "viewer", 1), STORE_CONFLICT);
    assert_int_equal(store_member_add(f->st, o, 999, "viewer", 1), STORE_CONFLICT);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM memberships"), 1);
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static void member_seen(void *arg, const struct member_row *m)
{
    json_array_append_new(arg, json_pack("{s:o, s:o, s:o, s:o, s:I}", "user_id",
                                         m->user_id ? json_integer(m->user_id) : json_null(),
                                         "email", str_or_null(m->email), "role",
                                         str_or_null(m->role), "status", str_or_null(m->status),
                                         "joined_at", (json_int_t)m->joined_at));
}

/* The member list's rows as store_members_each hands them, in a JSON array. */
static json_t *members(struct fx *f, int64_t org_id)
{
    json_t *v = json_array();
    assert_int_equal(store_members_each(f->st, org_id, 150, member_seen, v), STORE_OK);
    return v;
}

struct orgs_seen {
    int n, stop_after;
    int64_t id[4];
    char name[4][64], role[4][16];
};

static int org_seen(void *arg, const struct org *o, const char *role)
{
    struct orgs_seen *s = arg;
    if (s->n < 4) {
        s->id[s->n] = o->id;
        snprintf(s->name[s->n], sizeof s->name[0], "%s", o->name);
        snprintf(s->role[s->n], sizeof s->role[0], "%s", role);
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? STORE_CONFLICT : 0;
}

static void members_list_and_orgs_of_user(void **state)
{
    struct fx *f = *state;
    int64_t o1 = org(f, "acme"), o2 = org(f, "beta");
    int64_t z = user(f, "zed@example.com"), a = user(f, "amy@example.com");
    store_member_add(f->st, o1, z, "admin", 1);
    store_member_add(f->st, o1, a, "viewer", 1);
    store_member_add(f->st, o2, a, "manager", 1);
    json_t *items = members(f, o1);
    assert_int_equal(json_array_size(items), 2);
    json_t *first = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(first, "email")), "amy@example.com");
    assert_string_equal(json_string_value(json_object_get(first, "role")), "viewer");
    assert_int_equal(json_integer_value(json_object_get(first, "user_id")), a);
    assert_string_equal(json_string_value(json_object_get(first, "status")), "active");
    assert_int_equal(json_integer_value(json_object_get(first, "joined_at")), 1);
    assert_null(json_object_get(first, "password_hash"));
    json_decref(items);

    struct orgs_seen seen = {0};
    assert_int_equal(store_orgs_of_user(f->st, a, org_seen, &seen), STORE_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.name[0], "acme");
    assert_string_equal(seen.role[0], "viewer");
    assert_int_equal(seen.id[1], o2);
    assert_string_equal(seen.role[1], "manager");
    /* the callback's non-zero answer stops the walk and is returned */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    assert_int_equal(store_orgs_of_user(f->st, a, org_seen, &seen), STORE_CONFLICT);
    assert_int_equal(seen.n, 1);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_orgs_of_user(f->st, 999, org_seen, &seen), STORE_OK);
    assert_int_equal(seen.n, 0);

    char roles[8][16];
    int n = 0;
    assert_int_equal(store_user_roles(f->st, a, roles, 8, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_user_roles(f->st, a, roles, 1, &n), STORE_OK);
    assert_int_equal(n, 1); /* capped at max */

    items = members(f, 999);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
}

static void transaction_rollback(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_begin(f->st), STORE_OK);
    user(f, "temp@example.com");
    org(f, "temp");
    store_rollback(f->st);
    struct user u;
    assert_int_equal(store_user_by_email(f->st, "temp@example.com", &u), STORE_NOTFOUND);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM orgs"), 0);
    assert_int_equal(store_begin(f->st), STORE_OK);
    user(f, "kept@example.com");
    assert_int_equal(store_commit(f->st), STORE_OK);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM users"), 1);
}

/* ---- tokens ---- */

static int64_t token(struct fx *f, int64_t uid, const char *kind, const char *hash,
                     int64_t org_id)
{
    struct token t;
    memset(&t, 0, sizeof t);
    t.user_id = uid;
    strcpy(t.kind, kind);
    strcpy(t.name, "ci");
    strcpy(t.scopes, "app:read deploy:write");
    t.org_id = org_id;
    t.created_at = 1000;
    t.expires_at = 5000;
    int64_t id = 0;
    assert_int_equal(store_token_create(f->st, &t, hash, "bta_abcdefg", &id), STORE_OK);
    return id;
}

static void token_create_and_lookup(void **state)
{
    struct fx *f = *state;
    int64_t u = user(f, "a@example.com"), o = org(f, "acme");
    int64_t id = token(f, u, "api", "hash-1", o);
    struct token t;
    struct user tu;
    assert_int_equal(store_token_by_hash(f->st, "hash-1", &t, &tu), STORE_OK);
    assert_int_equal(t.id, id);
    assert_int_equal(t.user_id, u);
    assert_string_equal(t.kind, "api");
    assert_string_equal(t.scopes, "app:read deploy:write");
    assert_int_equal(t.org_id, o);
    assert_int_equal(t.expires_at, 5000);
    assert_int_equal(t.revoked_at, 0);
    assert_string_equal(tu.email, "a@example.com");
    assert_string_equal(tu.status, "active");
    assert_int_equal(store_token_by_hash(f->st, "hash-2", &t, &tu), STORE_NOTFOUND);
}

static void token_unbound_org_is_zero(void **state)
{
    struct fx *f = *state;
    int64_t u = user(f, "a@example.com");
    token(f, u, "session", "h", 0);
    struct token t;
    struct user tu;
    assert_int_equal(store_token_by_hash(f->st, "h", &t, &tu), STORE_OK);
    assert_int_equal(t.org_id, 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM tokens WHERE org_id IS NULL"), 1);
}

static void token_hash_unique(void **state)
{
    struct fx *f = *state;
    int64_t u = user(f, "a@example.com");
    token(f, u, "api", "same", 0);
    struct token t;
    memset(&t, 0, sizeof t);
    t.user_id = u;
    strcpy(t.kind, "api");
    assert_int_equal(store_token_create(f->st, &t, "same", "p", NULL), STORE_CONFLICT);
}

static void token_revoke_rules(void **state)
{
    struct fx *f = *state;
    int64_t a = user(f, "a@example.com"), b = user(f, "b@example.com");
    int64_t id = token(f, a, "api", "h1", 0);
    assert_int_equal(store_token_revoke(f->st, id, b, 2000), STORE_NOTFOUND); /* not b's */
    assert_int_equal(store_token_revoke(f->st, 999, a, 2000), STORE_NOTFOUND);
    assert_int_equal(store_token_revoke(f->st, id, a, 2000), STORE_OK);
    assert_int_equal(store_token_revoke(f->st, id, a, 2001), STORE_NOTFOUND); /* once */
    struct token t;
    struct user tu;
    assert_int_equal(store_token_by_hash(f->st, "h1", &t, &tu), STORE_OK);
    assert_int_equal(t.revoked_at, 2000);
}

static int64_t child(struct fx *f, int64_t uid, const char *hash, int64_t parent)
{
    struct token t;
    memset(&t, 0, sizeof t);
    t.user_id = uid;
    strcpy(t.kind, "api");
    strcpy(t.name, "child");
    strcpy(t.scopes, "app:read");
    t.created_at = 1000;
    t.expires_at = 5000;
    t.parent_id = parent;
    int64_t id = 0;
    assert_int_equal(store_token_create(f->st, &t, hash, "bta_child", &id), STORE_OK);
    return id;
}

static int64_t revoked_at(struct fx *f, const char *hash)
{
    struct token t;
    struct user tu;
    assert_int_equal(store_token_by_hash(f->st, hash, &t, &tu), STORE_OK);
    return t.revoked_at;
}

/* Revoking a token revokes its descendants at any depth, and only them;
 * the lookups cached before (children looked up twice, the second from the
 * cache) see it at once. */
static void token_revoke_cascades(void **state)
{
    struct fx *f = *state;
    int64_t a = user(f, "a@example.com");
    int64_t s = token(f, a, "session", "s", 0);
    int64_t c1 = child(f, a, "c1", s);
    child(f, a, "c2", c1);
    child(f, a, "c3", c1);
    int64_t other = child(f, a, "o1", token(f, a, "session", "s2", 0));
    (void)other;
    for (int i = 0; i < 2; i++)
        assert_int_equal(revoked_at(f, "c3"), 0);
    assert_int_equal(store_token_revoke(f->st, c1, a, 3000), STORE_OK);
    assert_int_equal(revoked_at(f, "c1"), 3000);
    assert_int_equal(revoked_at(f, "c2"), 3000);
    assert_int_equal(revoked_at(f, "c3"), 3000);
    assert_int_equal(revoked_at(f, "s"), 0);
    assert_int_equal(revoked_at(f, "o1"), 0);
    assert_int_equal(store_token_revoke(f->st, c1, a, 3001), STORE_NOTFOUND);
    assert_int_equal(store_token_revoke(f->st, s, a, 3002), STORE_OK);
    assert_int_equal(revoked_at(f, "s"), 3002);
    assert_int_equal(revoked_at(f, "c2"), 3000); /* kept its first revocation */
    /* a password set revokes the rest, cached or not */
    assert_int_equal(revoked_at(f, "o1"), 0);
    assert_int_equal(store_user_set_password(f->st, a, "$argon2id$n", 4000), STORE_OK);
    assert_int_equal(revoked_at(f, "o1"), 4000);
    assert_int_equal(revoked_at(f, "s2"), 4000);
}

/* Token and membership lookups are cached between writes: every write
 * through the store, and every transaction boundary, shows up in the next
 * lookup; nothing read inside a transaction outlives its rollback. */
static void lookups_follow_writes(void **state)
{
    struct fx *f = *state;
    int64_t a = user(f, "a@example.com"), o = org(f, "acme");
    int64_t inv = 0;
    assert_int_equal(store_user_create(f->st, "i@example.com", "", "invited", 1000, &inv),
                     STORE_OK);
    assert_int_equal(store_member_add(f->st, o, a, "viewer", 1), STORE_OK);
    int64_t id = token(f, a, "api", "h1", 0);
    token(f, inv, "session", "hi", 0);
    struct token t;
    struct user tu;
    struct org og;
    char role[16];
    for (int i = 0; i < 2; i++) { /* the second from the cache */
        assert_int_equal(store_token_by_hash(f->st, "h1", &t, &tu), STORE_OK);
        assert_int_equal(t.id, id);
        assert_int_equal(t.revoked_at, 0);
        assert_string_equal(tu.email, "a@example.com");
        assert_int_equal(store_org_membership(f->st, "acme", a, &og, role), STORE_OK);
        assert_int_equal(og.id, o);
        assert_string_equal(role, "viewer");
    }
    /* a role change, a removal, a revocation, an activation */
    assert_int_equal(store_member_set_role(f->st, o, a, "admin"), STORE_OK);
    assert_int_equal(store_org_membership(f->st, "acme", a, &og, role), STORE_OK);
    assert_string_equal(role, "admin");
    assert_int_equal(store_member_remove(f->st, o, a), STORE_OK);
    assert_int_equal(store_org_membership(f->st, "acme", a, &og, role), STORE_OK);
    assert_string_equal(role, "");
    assert_int_equal(store_token_revoke(f->st, id, a, 2000), STORE_OK);
    assert_int_equal(store_token_by_hash(f->st, "h1", &t, &tu), STORE_OK);
    assert_int_equal(t.revoked_at, 2000);
    assert_int_equal(store_token_by_hash(f->st, "hi", &t, &tu), STORE_OK);
    assert_string_equal(tu.status, "invited");
    assert_int_equal(store_user_set_password(f->st, inv, "$argon2id$x", 2000), STORE_OK);
    assert_int_equal(store_token_by_hash(f->st, "hi", &t, &tu), STORE_OK);
    assert_string_equal(tu.status, "active");

    /* read inside a transaction, then rolled back */
    assert_int_equal(store_begin(f->st), STORE_OK);
    token(f, a, "api", "h2", 0);
    assert_int_equal(store_token_by_hash(f->st, "h2", &t, &tu), STORE_OK);
    store_rollback(f->st);
    assert_int_equal(store_token_by_hash(f->st, "h2", &t, &tu), STORE_NOTFOUND);
    assert_int_equal(store_token_by_hash(f->st, "hi", &t, &tu), STORE_OK);
    assert_int_equal(store_begin(f->st), STORE_OK);
    assert_int_equal(store_member_add(f->st, o, inv, "viewer", 1), STORE_OK);
    assert_int_equal(store_org_membership(f->st, "acme", inv, &og, role), STORE_OK);
    assert_string_equal(role, "viewer");
    store_rollback(f->st);
    assert_int_equal(store_org_membership(f->st, "acme", inv, &og, role), STORE_OK);
    assert_string_equal(role, "");
    /* by id as well as by name, and an unknown org */
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)o);
    assert_int_equal(store_org_membership(f->st, ref, inv, &og, role), STORE_OK);
    assert_string_equal(og.name, "acme");
    assert_int_equal(store_org_membership(f->st, "nope", inv, &og, role), STORE_NOTFOUND);
}

static void token_seen(void *arg, const struct token_row *t)
{
    json_t *scopes = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", t->scopes);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save))
        json_array_append_new(scopes, json_string(tok));
    json_array_append_new(arg, json_pack("{s:I, s:s, s:s, s:o, s:I, s:I}", "id",
                                         (json_int_t)t->id, "name", t->name, "prefix",
                                         t->prefix, "scopes", scopes, "org",
                                         (json_int_t)t->org_id, "expires_at",
                                         (json_int_t)t->expires_at));
}

static void tokens_list_live_api_only(void **state)
{
    struct fx *f = *state;
    int64_t a = user(f, "a@example.com"), b = user(f, "b@example.com");
    int64_t o = org(f, "acme");
    int64_t t1 = token(f, a, "api", "h1", 0);
    int64_t t2 = token(f, a, "api", "h2", o);
    token(f, a, "session", "h3", 0);
    token(f, b, "api", "h4", 0);
    assert_int_equal(store_token_revoke(f->st, t1, a, 2000), STORE_OK);
    json_t *items = json_array();
    assert_int_equal(store_tokens_each(f->st, a, token_seen, items), STORE_OK);
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_int_equal(json_integer_value(json_object_get(it, "id")), t2);
    assert_int_equal(json_integer_value(json_object_get(it, "org")), o);
    assert_string_equal(json_string_value(json_object_get(it, "prefix")), "bta_abcdefg");
    json_t *sc = json_object_get(it, "scopes");
    assert_int_equal(json_array_size(sc), 2);
    assert_string_equal(json_string_value(json_array_get(sc, 0)), "app:read");
    assert_null(json_object_get(it, "hash"));
    assert_int_equal(json_integer_value(json_object_get(it, "expires_at")), 5000);
    json_decref(items);
}

/* ---- invitations ---- */

static void invite_lifecycle(void **state)
{
    struct fx *f = *state;
    int64_t o = org(f, "acme"), a = user(f, "a@example.com"), id = 0;
    assert_int_equal(store_user_create(f->st, "new@example.com", NULL, "invited", 1, &id),
                     STORE_OK);
    assert_int_equal(store_invite_create(f->st, o, id, "developer", "ih", a, 100, 900, NULL),
                     STORE_OK);
    struct invite inv;
    assert_int_equal(store_invite_by_hash(f->st, "ih", &inv), STORE_OK);
    assert_int_equal(inv.org_id, o);
    assert_int_equal(inv.user_id, id);
    assert_string_equal(inv.role, "developer");
    assert_int_equal(inv.expires_at, 900);
    assert_int_equal(inv.used_at, 0);
    assert_int_equal(store_invite_use(f->st, inv.id, 200), STORE_OK);
    assert_int_equal(store_invite_use(f->st, inv.id, 201), STORE_NOTFOUND);
    assert_int_equal(store_invite_by_hash(f->st, "ih", &inv), STORE_OK);
    assert_int_equal(inv.used_at, 200);
    assert_int_equal(store_invite_by_hash(f->st, "other", &inv), STORE_NOTFOUND);
    assert_int_equal(store_invite_create(f->st, o, id, "viewer", "ih", a, 1, 2, NULL),
                     STORE_CONFLICT);
}

struct invites_seen {
    int n;
    int64_t id[4];
    char org_name[4][64], invited_by[4][64];
};

static void invite_seen(void *arg, const struct invite_row *inv)
{
    struct invites_seen *s = arg;
    if (s->n < 4) {
        s->id[s->n] = inv->id;
        snprintf(s->org_name[s->n], sizeof s->org_name[0], "%s", inv->org_name);
        snprintf(s->invited_by[s->n], sizeof s->invited_by[0], "%s",
                 inv->invited_by ? inv->invited_by : "(null)");
    }
    s->n++;
}

/* Pending means unused, not voided, not expired; voiding the others keeps
 * one; the user's list and the org's member list show pending ones only. */
static void invite_pending_and_void(void **state)
{
    struct fx *f = *state;
    int64_t o1 = org(f, "acme"), o2 = org(f, "beta"), o3 = org(f, "gamma");
    int64_t a = user(f, "a@example.com"), b = user(f, "b@example.com");
    int64_t i1 = 0, i2 = 0, i3 = 0;
    assert_int_equal(store_invite_create(f->st, o1, b, "viewer", "h1", a, 100, 900, &i1),
                     STORE_OK);
    assert_int_equal(store_invite_create(f->st, o2, b, "admin", "h2", a, 100, 900, &i2),
                     STORE_OK);
    assert_int_equal(store_invite_create(f->st, o3, b, "viewer", "h3", a, 100, 120, &i3),
                     STORE_OK);
    struct invite inv;
    assert_int_equal(store_invite_get(f->st, i2, b, 150, &inv), STORE_OK);
    assert_string_equal(inv.role, "admin");
    assert_int_equal(store_invite_get(f->st, i2, a, 150, &inv), STORE_NOTFOUND); /* not a's */
    assert_int_equal(store_invite_get(f->st, i3, b, 150, &inv), STORE_NOTFOUND); /* expired */
    assert_int_equal(store_invite_use(f->st, i3, 150), STORE_NOTFOUND);
    assert_int_equal(store_invite_pending(f->st, o1, b, 150, &inv), STORE_OK);
    assert_int_equal(inv.id, i1);
    assert_int_equal(store_invite_set_role(f->st, i1, "developer"), STORE_OK);

    json_t *ms = members(f, o1);
    assert_int_equal(json_array_size(ms), 1);
    json_t *m = json_array_get(ms, 0);
    assert_true(json_is_null(json_object_get(m, "user_id")));
    assert_string_equal(json_string_value(json_object_get(m, "status")), "invited");
    assert_string_equal(json_string_value(json_object_get(m, "role")), "developer");
    json_decref(ms);

    struct invites_seen mine = {0};
    assert_int_equal(store_invites_each(f->st, b, 150, invite_seen, &mine), STORE_OK);
    assert_int_equal(mine.n, 2);
    assert_int_equal(mine.id[0], i1);
    assert_string_equal(mine.org_name[1], "beta");
    assert_string_equal(mine.invited_by[0], "a@example.com");

    assert_int_equal(store_invite_use(f->st, i1, 200), STORE_OK);
    assert_int_equal(store_invites_void_others(f->st, b, i1, 200), STORE_OK);
    assert_int_equal(store_invite_use(f->st, i2, 200), STORE_NOTFOUND); /* voided */
    assert_int_equal(store_invite_by_hash(f->st, "h2", &inv), STORE_OK);
    assert_int_equal(inv.voided_at, 200);
    assert_int_equal(store_invite_by_hash(f->st, "h1", &inv), STORE_OK);
    assert_int_equal(inv.voided_at, 0);
    assert_int_equal(store_invite_void(f->st, i1, 201), STORE_NOTFOUND); /* used */
    assert_int_equal(store_invite_pending(f->st, o2, b, 150, &inv), STORE_NOTFOUND);
    ms = members(f, o2);
    assert_int_equal(json_array_size(ms), 0);
    json_decref(ms);
}

/* ---- audit ---- */

static void audit_add(struct fx *f, int64_t org_id, int64_t at, int64_t actor,
                      const char *email, const char *action, const char *outcome)
{
    struct audit_entry e = {
        .org_id = org_id, .at = at, .actor_id = actor, .actor_email = email,
        .token_id = 0, .action = action, .target = "user:1", .outcome = outcome,
        .status = 200, .ip = "127.0.0.1", .detail = "{\"role\":\"viewer\"}",
    };
    assert_int_equal(store_audit_append(f->st, &e), STORE_OK);
}

/* org 1: 6 entries at t=100..600; org 2: 2 entries. */
static void audit_seed(struct fx *f)
{
    int64_t o1 = org(f, "acme"), o2 = org(f, "beta");
    int64_t a = user(f, "a@example.com"), b = user(f, "b@example.com");
    audit_add(f, o1, 100, a, "a@example.com", "member.add", "success");
    audit_add(f, o1, 200, a, "a@example.com", "member.update", "success");
    audit_add(f, o1, 300, b, "b@example.com", "member.add", "denied");
    audit_add(f, o1, 400, b, "b@example.com", "token.create", "success");
    audit_add(f, o1, 500, a, "a@example.com", "member.remove", "success");
    audit_add(f, o1, 600, 0, NULL, "org.get", "denied");
    audit_add(f, o2, 150, b, "b@example.com", "member.add", "success");
    audit_add(f, o2, 250, b, "b@example.com", "token.create", "success");
}

/* An entry as store_audit_each hands it, as JSON: {id, at, action,
 * outcome, actor: {id, email} | null, detail (parsed)}. */
static void audit_seen(void *arg, int64_t id, const struct audit_entry *e)
{
    json_t *actor = e->actor_id ? json_pack("{s:I, s:s}", "id", (json_int_t)e->actor_id,
                                            "email", e->actor_email)
                                : json_null();
    json_array_append_new(arg, json_pack("{s:I, s:I, s:s, s:s, s:o, s:o}", "id", (json_int_t)id,
                                         "at", (json_int_t)e->at, "action", e->action,
                                         "outcome", e->outcome, "actor", actor, "detail",
                                         e->detail ? json_loads(e->detail, 0, NULL)
                                                   : json_null()));
}

static json_t *audit_q(struct fx *f, struct audit_filter *flt, int64_t *next)
{
    json_t *items = json_array();
    int64_t nc = -1;
    assert_int_equal(store_audit_each(f->st, flt, audit_seen, items, &nc), STORE_OK);
    if (next)
        *next = nc;
    return items;
}

static int64_t at_of(json_t *items, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(items, i), "at"));
}

static void audit_org_isolation_newest_first(void **state)
{
    struct fx *f = *state;
    audit_seed(f);
    struct audit_filter flt = {.org_id = 1, .limit = 50};
    int64_t next = -1;
    json_t *items = audit_q(f, &flt, &next);
    assert_int_equal(json_array_size(items), 6);
    assert_int_equal(next, 0);
    for (size_t i = 1; i < 6; i++)
        assert_true(at_of(items, i - 1) > at_of(items, i));
    json_t *e = json_array_get(items, 5);
    assert_string_equal(json_string_value(json_object_get(e, "action")), "member.add");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "actor"), "email")),
                        "a@example.com");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "detail"), "role")), "viewer");
    assert_true(json_is_null(json_object_get(json_array_get(items, 0), "actor")));
    json_decref(items);
    flt.org_id = 2;
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);
    flt.org_id = 3;
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
}

static void audit_filter_actor(void **state)
{
    struct fx *f = *state;
    audit_seed(f);
    struct audit_filter flt = {.org_id = 1, .limit = 50, .actor = "b@example.com"};
    json_t *items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);
    flt.actor = "1"; /* by user id */
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 3);
    json_decref(items);
    flt.actor = "nobody@example.com";
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
}

static void audit_filter_action(void **state)
{
    struct fx *f = *state;
    audit_seed(f);
    struct audit_filter flt = {.org_id = 1, .limit = 50, .action = "member.add"};
    json_t *items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);
    flt.action = "member.*";
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 4);
    json_decref(items);
    flt.action = "member"; /* exact, not a prefix */
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    flt.action = "member.add";
    flt.actor = "b@example.com";
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "outcome")),
                        "denied");
    json_decref(items);
}

static void audit_filter_time(void **state)
{
    struct fx *f = *state;
    audit_seed(f);
    struct audit_filter flt = {.org_id = 1, .limit = 50, .since = 200, .until = 400};
    json_t *items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 3); /* inclusive both ends */
    json_decref(items);
    flt.until = 0;
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 5);
    json_decref(items);
    flt.since = 0;
    flt.until = 150;
    items = audit_q(f, &flt, NULL);
    assert_int_equal(json_array_size(items), 1);
    json_decref(items);
}

static void audit_cursor_pagination(void **state)
{
    struct fx *f = *state;
    audit_seed(f);
    struct audit_filter flt = {.org_id = 1, .limit = 4};
    int64_t seen[16], n = 0, next = 0;
    int pages = 0;
    do {
        flt.before_id = next;
        json_t *items = audit_q(f, &flt, &next);
        pages++;
        assert_true(json_array_size(items) <= 4);
        for (size_t i = 0; i < json_array_size(items); i++) {
            int64_t id = json_integer_value(json_object_get(json_array_get(items, i), "id"));
            for (int64_t k = 0; k < n; k++)
                assert_true(seen[k] != id);
            if (n)
                assert_true(id < seen[n - 1]);
            seen[n++] = id;
        }
        if (next)
            assert_int_equal(next, seen[n - 1]);
        json_decref(items);
    } while (next && pages < 10);
    assert_int_equal(pages, 2);
    assert_int_equal(n, 6);
}

static void audit_cursor_exact_page(void **state)
{
    struct fx *f = *state;
    audit_seed(f);
    struct audit_filter flt = {.org_id = 1, .limit = 3};
    int64_t next = 0;
    json_t *items = audit_q(f, &flt, &next);
    assert_int_equal(json_array_size(items), 3);
    assert_true(next > 0);
    json_decref(items);
    flt.before_id = next;
    items = audit_q(f, &flt, &next);
    assert_int_equal(json_array_size(items), 3);
    assert_int_equal(next, 0); /* six entries, two full pages, no third */
    json_decref(items);
}

static void audit_cursor_with_filter(void **state)
{
    struct fx *f = *state;
    audit_seed(f);
    struct audit_filter flt = {.org_id = 1, .limit = 1, .action = "member.*"};
    int total = 0;
    int64_t next = 0;
    do {
        flt.before_id = next;
        json_t *items = audit_q(f, &flt, &next);
        total += (int)json_array_size(items);
        json_decref(items);
    } while (next && total < 20);
    assert_int_equal(total, 4);
}

/* A registration token is spent once, in one statement (two links
 * presenting it at once: one wins); a claim given back can be made again;
 * an expired one cannot be claimed (issue 12 item 16). */
static void regtoken_claim_once(void **state)
{
    struct fx *f = *state;
    int64_t org, sv;
    struct regtoken t;
    assert_int_equal(store_org_create(f->st, "acme", 1, &org), STORE_OK);
    assert_int_equal(store_server_create(f->st, org, "web", 1, &sv), STORE_OK);
    assert_int_equal(store_regtoken_create(f->st, sv, "h1", 100, 200), STORE_OK);
    assert_int_equal(store_regtoken_by_hash(f->st, "h1", &t), STORE_OK);
    assert_int_equal(store_regtoken_claim(f->st, t.id, 150), STORE_OK);
    assert_int_equal(store_regtoken_claim(f->st, t.id, 150), STORE_NOTFOUND);
    assert_int_equal(store_regtoken_release(f->st, t.id, 149), STORE_NOTFOUND); /* not its claim */
    assert_int_equal(store_regtoken_release(f->st, t.id, 150), STORE_OK);
    assert_int_equal(store_regtoken_claim(f->st, t.id, 160), STORE_OK);
    assert_int_equal(store_regtoken_by_hash(f->st, "h1", &t), STORE_OK);
    assert_int_equal(t.used_at, 160);
    assert_int_equal(store_regtoken_create(f->st, sv, "h2", 100, 200), STORE_OK);
    assert_int_equal(store_regtoken_by_hash(f->st, "h2", &t), STORE_OK);
    assert_int_equal(store_regtoken_claim(f->st, t.id, 200), STORE_NOTFOUND); /* expired */
}

/* Output lands only for the sending server's open job: not for another
 * server's, not once the job finished (issue 12 item 16). */
static void job_log_only_while_open(void **state)
{
    struct fx *f = *state;
    int64_t org, a, b, id;
    int ins = -1;
    assert_int_equal(store_org_create(f->st, "acme", 1, &org), STORE_OK);
    assert_int_equal(store_server_create(f->st, org, "a", 1, &a), STORE_OK);
    assert_int_equal(store_server_create(f->st, org, "b", 1, &b), STORE_OK);
    struct job j = {.org_id = org, .server_id = a, .kind = "script", .status = "PENDING",
                    .spec_json = "{}", .created_at = 1};
    assert_int_equal(store_job_create(f->st, &j, &id), STORE_OK);
    assert_int_equal(store_job_log_add(f->st, id, a, 1, "stdout", 1, "one", 3, &ins), STORE_OK);
    assert_int_equal(ins, 1);
    assert_int_equal(store_job_log_add(f->st, id, a, 1, "stdout", 1, "again", 5, &ins), STORE_OK);
    assert_int_equal(ins, 0); /* a duplicate */
    assert_int_equal(store_job_log_add(f->st, id, b, 2, "stdout", 1, "b's", 3, &ins),
                     STORE_NOTFOUND);
    assert_int_equal(ins, 0);
    assert_int_equal(store_job_log_add(f->st, id + 1, a, 1, "stdout", 1, "no job", 6, &ins),
                     STORE_NOTFOUND);
    assert_int_equal(store_job_finish(f->st, id, "SUCCEEDED", 0, NULL, 2), STORE_OK);
    assert_int_equal(store_job_log_add(f->st, id, a, 2, "stdout", 1, "late", 4, &ins),
                     STORE_NOTFOUND);
    int64_t prefix = -1;
    assert_int_equal(store_job_log_prefix(f->st, id, &prefix), STORE_OK);
    assert_int_equal(prefix, 1);
}

/* ---- the lists' rows (the API files choose their JSON names) ---- */

struct rows {
    int n;
    int64_t id[8], t[8];
    char text[8][64];
    int flag[8];
};

static void server_seen(void *arg, const struct server_row *sv)
{
    struct rows *r = arg;
    if (r->n < 8) {
        r->id[r->n] = sv->id;
        r->t[r->n] = sv->decommissioned_at;
        snprintf(r->text[r->n], sizeof r->text[0], "%s|%s", sv->status,
                 sv->status_reason ? sv->status_reason : "(null)");
        r->flag[r->n] = sv->last_seen_at != 0;
    }
    r->n++;
}

static void job_seen(void *arg, const struct job_row *j)
{
    struct rows *r = arg;
    if (r->n < 8) {
        r->id[r->n] = j->id;
        r->t[r->n] = j->has_exit ? j->exit_code : -1;
        snprintf(r->text[r->n], sizeof r->text[0], "%s", j->status);
        r->flag[r->n] = j->finished_at != 0;
    }
    r->n++;
}

static void script_seen(void *arg, const struct script_row *sc)
{
    struct rows *r = arg;
    if (r->n < 8) {
        r->id[r->n] = sc->id;
        r->t[r->n] = sc->size;
        snprintf(r->text[r->n], sizeof r->text[0], "%s", sc->name);
    }
    r->n++;
}

static void name_seen(void *arg, const struct server_row *sv)
{
    struct rows *r = arg;
    if (r->n < 8) {
        r->id[r->n] = sv->id;
        snprintf(r->text[r->n], sizeof r->text[0], "%s", sv->name);
    }
    r->n++;
}

/* A page of servers: q matches a name's substring without case and takes
 * LIKE's '_' and '%' literally; status filters; total counts the filter's
 * rows; a keyset position continues exactly after the row it names, both
 * ways, and "more" says whether rows follow. */
static void fleet_server_pages(void **state)
{
    struct fx *f = *state;
    int64_t o = org(f, "acme"), id[5];
    const char *names[] = {"web_1", "Web-2", "webx1", "db-1", "db-2"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_server_create(f->st, o, names[i], 1, &id[i]), STORE_OK);
    assert_int_equal(store_server_set_status(f->st, id[3], "ACTIVE", NULL, 5), STORE_OK);
    struct rows r = {0};
    int more = 0;
    int64_t total = 0;
    struct store_server_page pg = {.org_id = o, .sort = STORE_SERVER_SORT_NAME, .limit = 8,
                                   .q = "WEB_"};
    assert_int_equal(store_servers_page(f->st, &pg, name_seen, &r, &more, &total), STORE_OK);
    assert_int_equal(r.n, 1); /* not webx1: '_' is no wildcard */
    assert_string_equal(r.text[0], "web_1");
    assert_int_equal(total, 1);
    memset(&r, 0, sizeof r);
    pg.q = "%";
    assert_int_equal(store_servers_page(f->st, &pg, name_seen, &r, &more, &total), STORE_OK);
    assert_int_equal(r.n, 0);
    pg.q = "web";
    pg.limit = 2;
    assert_int_equal(store_servers_page(f->st, &pg, name_seen, &r, &more, &total), STORE_OK);
    assert_int_equal(total, 3);
    assert_int_equal(more, 1);
    assert_string_equal(r.text[0], "Web-2"); /* byte order: capitals first */
    assert_string_equal(r.text[1], "web_1");
    pg.after = 1;
    pg.after_text = "web_1";
    pg.after_id = id[0];
    memset(&r, 0, sizeof r);
    assert_int_equal(store_servers_page(f->st, &pg, name_seen, &r, &more, NULL), STORE_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.text[0], "webx1");
    assert_int_equal(more, 0);
    pg.desc = 1; /* before web_1, going down */
    memset(&r, 0, sizeof r);
    assert_int_equal(store_servers_page(f->st, &pg, name_seen, &r, &more, NULL), STORE_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.text[0], "Web-2");
    struct store_server_page st = {.org_id = o, .sort = STORE_SERVER_SORT_STATUS, .limit = 8,
                                   .status = "ACTIVE"};
    memset(&r, 0, sizeof r);
    assert_int_equal(store_servers_page(f->st, &st, name_seen, &r, &more, &total), STORE_OK);
    assert_int_equal(total, 1);
    assert_string_equal(r.text[0], "db-1");
    st.status = NULL;
    st.limit = 0; /* a caller's mistake is an error, not a page */
    assert_int_equal(store_servers_page(f->st, &st, name_seen, &r, &more, &total), STORE_ERR);
}

/* Servers by id within the org, NULL reason and never-seen as NULL and 0;
 * jobs newest first with their exit code only once finished; scripts by
 * name with their body's size, not the body. */
static void fleet_list_rows(void **state)
{
    struct fx *f = *state;
    int64_t o = org(f, "acme"), o2 = org(f, "beta"), a, b, c, id1, id2;
    assert_int_equal(store_server_create(f->st, o, "a", 1, &a), STORE_OK);
    assert_int_equal(store_server_create(f->st, o, "b", 1, &b), STORE_OK);
    assert_int_equal(store_server_create(f->st, o2, "c", 1, &c), STORE_OK);
    assert_int_equal(store_server_set_status(f->st, a, "ACTIVE", NULL, 5), STORE_OK);
    assert_int_equal(store_server_set_snapshot(f->st, a, 7, NULL), STORE_OK);
    assert_int_equal(store_server_decommission(f->st, b, 9), STORE_OK);
    struct rows r = {0};
    struct store_server_page pg = {.org_id = o, .sort = STORE_SERVER_SORT_CREATED, .limit = 10};
    int more = 1;
    int64_t total = 0;
    assert_int_equal(store_servers_page(f->st, &pg, server_seen, &r, &more, &total), STORE_OK);
    assert_int_equal(more, 0);
    assert_int_equal(total, 2);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.id[0], a);
    assert_string_equal(r.text[0], "ACTIVE|(null)");
    assert_int_equal(r.flag[0], 1);
    assert_int_equal(r.t[0], 0);
    assert_string_equal(r.text[1], "DECOMMISSIONED|decommissioned");
    assert_int_equal(r.flag[1], 0);
    assert_int_equal(r.t[1], 9);

    struct job j = {.org_id = o, .server_id = a, .kind = "script", .spec_json = "{}",
                    .created_at = 1};
    assert_int_equal(store_job_create(f->st, &j, &id1), STORE_OK);
    assert_int_equal(store_job_create(f->st, &j, &id2), STORE_OK);
    assert_int_equal(store_job_finish(f->st, id1, "FAILED", 3, "boom", 4), STORE_OK);
    memset(&r, 0, sizeof r);
    assert_int_equal(store_jobs_each(f->st, o, a, 10, job_seen, &r), STORE_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.id[0], id2); /* newest first */
    assert_int_equal(r.t[0], -1);
    assert_string_equal(r.text[0], "PENDING");
    assert_int_equal(r.flag[0], 0);
    assert_int_equal(r.t[1], 3);
    assert_int_equal(r.flag[1], 1);
    memset(&r, 0, sizeof r);
    assert_int_equal(store_jobs_each(f->st, o, a, 1, job_seen, &r), STORE_OK);
    assert_int_equal(r.n, 1); /* the limit */
    memset(&r, 0, sizeof r);
    assert_int_equal(store_jobs_each(f->st, o, b, 10, job_seen, &r), STORE_OK);
    assert_int_equal(r.n, 0); /* another server's */
    memset(&r, 0, sizeof r);
    assert_int_equal(store_jobs_each(f->st, o2, 0, 10, job_seen, &r), STORE_OK);
    assert_int_equal(r.n, 0); /* another org's */

    assert_int_equal(store_script_create(f->st, o, "zz", "echo hi\n", 1, NULL), STORE_OK);
    assert_int_equal(store_script_create(f->st, o, "aa", "uptime", 1, NULL), STORE_OK);
    memset(&r, 0, sizeof r);
    assert_int_equal(store_scripts_each(f->st, o, script_seen, &r), STORE_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.text[0], "aa");
    assert_int_equal(r.t[0], 6);
    assert_int_equal(r.t[1], 8);
}

static void env_seen(void *arg, const char *name, int64_t updated_at)
{
    struct rows *r = arg;
    if (r->n < 8) {
        snprintf(r->text[r->n], sizeof r->text[0], "%s", name);
        r->t[r->n] = updated_at;
    }
    r->n++;
}

static void step_seen(void *arg, const struct deploy_step_row *st)
{
    struct rows *r = arg;
    if (r->n < 8) {
        snprintf(r->text[r->n], sizeof r->text[0], "%s:%s:%s", st->step, st->status,
                 st->detail ? st->detail : "(null)");
        r->flag[r->n] = st->has_started * 2 + st->has_finished;
        r->t[r->n] = st->has_finished ? st->finished_ms - st->started_ms : -1;
    }
    r->n++;
}

/* Env names by name, never values; steps in pipeline order with a time
 * only once it happened. */
static void apps_list_rows(void **state)
{
    struct fx *f = *state;
    int64_t o = org(f, "acme"), sv, app, dep;
    assert_int_equal(store_server_create(f->st, o, "a", 1, &sv), STORE_OK);
    struct app a = {.org_id = o, .name = "web", .server_id = sv, .repo_url = "https://x/y.git",
                    .branch = "main", .dockerfile = "Dockerfile", .context = ".",
                    .container_port = 80, .health_path = "/", .domains_json = "[]",
                    .restart_policy = "no", .cpus = 0.5, .created_at = 1, .updated_at = 1};
    assert_int_equal(store_app_create(f->st, &a, &app), STORE_OK);
    assert_int_equal(store_app_env_set(f->st, app, "ZED", "sealed-z", 20), STORE_OK);
    assert_int_equal(store_app_env_set(f->st, app, "ABC", "sealed-a", 10), STORE_OK);
    struct rows r = {0};
    assert_int_equal(store_app_env_names(f->st, app, env_seen, &r), STORE_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.text[0], "ABC");
    assert_int_equal(r.t[0], 10);
    assert_string_equal(r.text[1], "ZED");

    struct app got;
    assert_int_equal(store_app_find(f->st, o, "web", &got), STORE_OK);
    assert_true(got.cpus > 0.49 && got.cpus < 0.51); /* the one REAL, bound as a double */
    store_app_release(&got);

    struct deployment d = {.org_id = o, .app_id = app, .server_id = sv, .kind = "deploy",
                           .created_at = 1};
    assert_int_equal(store_deployment_create(f->st, &d, &dep), STORE_OK);
    assert_int_equal(store_deploy_step(f->st, dep, "clone", 2, "started", NULL, 5000), STORE_OK);
    assert_int_equal(store_deploy_step(f->st, dep, "precheck", 1, "ok", "fine", 4000), STORE_OK);
    assert_int_equal(store_deploy_step(f->st, dep, "clone", 2, "ok", NULL, 5250), STORE_OK);
    assert_int_equal(store_deploy_step(f->st, dep, "build", 3, "started", NULL, 6000), STORE_OK);
    memset(&r, 0, sizeof r);
    assert_int_equal(store_deploy_steps_each(f->st, dep, step_seen, &r), STORE_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.text[0], "precheck:ok:fine");
    assert_int_equal(r.flag[0], 3);
    assert_int_equal(r.t[0], 0);
    assert_string_equal(r.text[1], "clone:ok:(null)");
    assert_int_equal(r.t[1], 250);
    assert_string_equal(r.text[2], "build:started:(null)");
    assert_int_equal(r.flag[2], 2); /* started, not finished */

    /* a failed deployment's container output (migration 10) */
    char *tail = (char *)"x";
    assert_int_equal(store_deployment_tail_get(f->st, dep, &tail), STORE_OK);
    assert_null(tail);
    assert_int_equal(store_deployment_tail_set(f->st, dep, "[{\"text\":\"boom\"}]"), STORE_OK);
    assert_int_equal(store_deployment_tail_get(f->st, dep, &tail), STORE_OK);
    assert_string_equal(tail, "[{\"text\":\"boom\"}]");
    free(tail);
    assert_int_equal(store_deployment_tail_set(f->st, dep + 1000, "[]"), STORE_NOTFOUND);
    assert_int_equal(store_deployment_tail_get(f->st, dep + 1000, &tail), STORE_NOTFOUND);
}

/* deploy_tail_merge: the newest PROTO_TAIL_LINES lines within
 * PROTO_TAIL_BYTES, oldest first. */
static void container_tail_caps(void **state)
{
    (void)state;
    json_t *kept = json_array(), *add = json_array();
    char t[32];
    for (int i = 1; i <= 150; i++) {
        snprintf(t, sizeof t, "line %d", i);
        json_array_append_new(add, json_pack("{s:s}", "text", t));
    }
    deploy_tail_merge(kept, add);
    assert_int_equal(json_array_size(kept), 150);
    deploy_tail_merge(kept, add); /* 300 -> the newest 200 */
    assert_int_equal(json_array_size(kept), PROTO_TAIL_LINES);
    assert_string_equal(json_string_value(json_object_get(json_array_get(kept, 0), "text")),
                        "line 101");
    assert_string_equal(json_string_value(json_object_get(json_array_get(kept, 199), "text")),
                        "line 150");
    /* bytes: 100 lines of 1,000 bytes keep the newest 65 (65,000 <= 64 KiB) */
    json_array_clear(add);
    char big[1001];
    memset(big, 'b', 1000);
    big[1000] = '\0';
    for (int i = 0; i < 100; i++)
        json_array_append_new(add, json_pack("{s:s}", "text", big));
    json_array_append_new(add, json_pack("{s:s}", "text", "last"));
    deploy_tail_merge(kept, add);
    assert_int_equal(json_array_size(kept), 66);
    assert_string_equal(json_string_value(json_object_get(json_array_get(kept, 65), "text")), "last");
    json_decref(add);
    json_decref(kept);
}

static void delivery_seen(void *arg, int64_t id, const struct hook_delivery *d)
{
    struct rows *r = arg;
    if (r->n < 8) {
        r->id[r->n] = id;
        snprintf(r->text[r->n], sizeof r->text[0], "%s|%s|%s", d->event ? d->event : "(null)",
                 d->outcome, d->deployments_json);
        r->t[r->n] = d->status;
    }
    r->n++;
}

/* Deliveries newest first, at most limit, only the repository's own. */
static void deliveries_list_rows(void **state)
{
    struct fx *f = *state;
    int64_t o = org(f, "acme"), rp, rp2;
    assert_int_equal(store_repo_create(f->st, o, "github", "https://github.com/a/b.git",
                                       "github.com/a/b", 1, &rp), STORE_OK);
    assert_int_equal(store_repo_create(f->st, o, "github", "https://github.com/a/c.git",
                                       "github.com/a/c", 1, &rp2), STORE_OK);
    struct hook_delivery d = {.repo_id = rp, .at = 10, .outcome = "rejected",
                              .reason = "bad signature", .status = 401};
    assert_int_equal(store_delivery_add(f->st, &d), STORE_OK);
    d.at = 11, d.event = "push", d.outcome = "accepted", d.status = 202;
    d.deployments_json = "[4]";
    assert_int_equal(store_delivery_add(f->st, &d), STORE_OK);
    d.repo_id = rp2;
    assert_int_equal(store_delivery_add(f->st, &d), STORE_OK);
    struct rows r = {0};
    assert_int_equal(store_deliveries_each(f->st, rp, 10, delivery_seen, &r), STORE_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.text[0], "push|accepted|[4]");
    assert_int_equal(r.t[0], 202);
    assert_string_equal(r.text[1], "(null)|rejected|[]");
    assert_true(r.id[0] > r.id[1]);
    memset(&r, 0, sizeof r);
    assert_int_equal(store_deliveries_each(f->st, rp, 1, delivery_seen, &r), STORE_OK);
    assert_int_equal(r.n, 1);
}

/* ---- schedules (migration 8) ---- */

static int64_t new_schedule(struct fx *f, int64_t org, int64_t next)
{
    struct schedule s;
    memset(&s, 0, sizeof s);
    s.org_id = org;
    strcpy(s.kind, "script");
    s.script_id = 5;
    s.server_id = 6;
    strcpy(s.cron, "* * * * *");
    strcpy(s.timezone, "UTC");
    strcpy(s.catch_up, "once");
    s.next_run_at = next;
    s.created_at = 1000;
    int64_t id;
    assert_int_equal(store_schedule_create(f->st, &s, &id), STORE_OK);
    return id;
}

static void run_count(void *arg, const struct schedule_run *r)
{
    int *n = arg;
    assert_true(r->outcome && r->id > 0);
    (*n)++;
}

/* Due: running ones whose time came, soonest first, within the limit;
 * a paused one is not due; another org's schedule is not found. */
static void schedules_due_pause_isolation(void **state)
{
    struct fx *f = *state;
    int64_t org, other;
    assert_int_equal(store_org_create(f->st, "sa", 1, &org), STORE_OK);
    assert_int_equal(store_org_create(f->st, "sb", 1, &other), STORE_OK);
    int64_t late = new_schedule(f, org, 2000), early = new_schedule(f, org, 1500);
    int64_t future = new_schedule(f, other, 9000);
    struct schedule due[4];
    int n = 0;
    assert_int_equal(store_schedules_due(f->st, 3000, due, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(due[0].id, early);
    assert_int_equal(due[1].id, late);
    assert_int_equal(store_schedules_due(f->st, 3000, due, 1, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_schedule_set_paused(f->st, early, 1, "gone", 0, 3000), STORE_OK);
    assert_int_equal(store_schedules_due(f->st, 3000, due, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(due[0].id, late);
    struct schedule s;
    assert_int_equal(store_schedule_get(f->st, org, early, &s), STORE_OK);
    assert_true(s.paused);
    assert_string_equal(s.pause_reason, "gone");
    assert_int_equal(store_schedule_set_paused(f->st, early, 0, NULL, 4000, 3100), STORE_OK);
    assert_int_equal(store_schedule_get(f->st, org, early, &s), STORE_OK);
    assert_false(s.paused);
    assert_string_equal(s.pause_reason, "");
    assert_int_equal(s.next_run_at, 4000);
    assert_int_equal(store_schedule_get(f->st, org, future, &s), STORE_NOTFOUND);
    assert_int_equal(store_schedule_get(f->st, 0, future, &s), STORE_OK);
    /* fired: the next time, and the last run kept when 0 is given */
    assert_int_equal(store_schedule_fired(f->st, late, 2060, 2001, 77, 0), STORE_OK);
    assert_int_equal(store_schedule_fired(f->st, late, 2120, 2061, 0, 0), STORE_OK);
    assert_int_equal(store_schedule_get(f->st, org, late, &s), STORE_OK);
    assert_int_equal(s.next_run_at, 2120);
    assert_int_equal(s.last_run_at, 2061);
    assert_int_equal(s.last_job_id, 77);
    assert_int_equal(s.last_deployment_id, 0);
}

/* A schedule keeps its newest STORE_SCHEDULE_RUNS_KEPT runs; delete takes
 * them with it. */
static void schedule_runs_capped_and_deleted(void **state)
{
    struct fx *f = *state;
    int64_t org;
    assert_int_equal(store_org_create(f->st, "sc", 1, &org), STORE_OK);
    int64_t id = new_schedule(f, org, 2000);
    assert_int_equal(store_begin(f->st), STORE_OK);
    for (int i = 0; i < STORE_SCHEDULE_RUNS_KEPT + 20; i++) {
        struct schedule_run r = {.schedule_id = id, .due_at = 60 * i, .at = 60 * i + 1,
                                 .outcome = i % 2 ? "missed" : "skipped", .reason = "x"};
        assert_int_equal(store_schedule_run_add(f->st, &r), STORE_OK);
    }
    assert_int_equal(store_commit(f->st), STORE_OK);
    int n = 0;
    assert_int_equal(store_schedule_runs_each(f->st, id, 0, 1000, run_count, &n), STORE_OK);
    assert_int_equal(n, STORE_SCHEDULE_RUNS_KEPT);
    assert_int_equal(store_begin(f->st), STORE_OK);
    assert_int_equal(store_schedule_delete(f->st, id), STORE_OK);
    assert_int_equal(store_commit(f->st), STORE_OK);
    n = 0;
    assert_int_equal(store_schedule_runs_each(f->st, id, 0, 1000, run_count, &n), STORE_OK);
    assert_int_equal(n, 0);
    struct schedule s;
    assert_int_equal(store_schedule_get(f->st, 0, id, &s), STORE_NOTFOUND);
}

#define TF(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TF(migrate_idempotent), TF(migrate_after_reopen), TF(wal_mode_and_file_mode), TF(migrate_records_versions),
        TF(open_url_forms), TF(user_create_get), TF(user_missing), TF(user_duplicate_email),
        TF(invited_user_then_password), TF(org_create_find), TF(org_duplicate),
        TF(member_crud), TF(member_conflicts), TF(members_list_and_orgs_of_user),
        TF(transaction_rollback), TF(token_create_and_lookup), TF(token_unbound_org_is_zero),
        TF(token_hash_unique), TF(token_revoke_rules), TF(lookups_follow_writes),
        TF(tokens_list_live_api_only),
        TF(invite_lifecycle), TF(invite_pending_and_void), TF(token_revoke_cascades),
        TF(activate_only_invited), TF(audit_org_isolation_newest_first), TF(audit_filter_actor),
        TF(regtoken_claim_once), TF(job_log_only_while_open),
        TF(audit_filter_action), TF(audit_filter_time), TF(audit_cursor_pagination),
        TF(audit_cursor_exact_page), TF(audit_cursor_with_filter), TF(fleet_list_rows),
        TF(fleet_server_pages), TF(apps_list_rows), TF(deliveries_list_rows),
        TF(schedules_due_pause_isolation), TF(schedule_runs_capped_and_deleted),
        cmocka_unit_test(container_tail_caps),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
