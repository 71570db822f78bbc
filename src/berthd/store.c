/* store.c - opening and closing the store, transactions, migrations.
 *
 * The store is split by domain: store_identity.c, store_audit.c,
 * store_fleet.c, store_apps.c, store_repos.c hold the table functions, all
 * written on db.h (db.c is the only code that talks to SQLite). Each
 * answers records or calls a row callback; the API files choose the JSON.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)STORE_OK == (int)DB_OK && (int)STORE_ERR == (int)DB_ERR &&
                   (int)STORE_NOTFOUND == (int)DB_NOTFOUND &&
                   (int)STORE_CONFLICT == (int)DB_CONFLICT,
               "store.h's codes pass db.h's through");

int store_open(const char *data_dir, const char *url, struct store **out, char *err,
               size_t errlen)
{
    char path[2048];
    if (url && *url) {
        if (strncmp(url, "sqlite:", 7) == 0) {
            snprintf(path, sizeof path, "%s", url + 7);
        } else if (strncmp(url, "postgres://", 11) == 0 ||
                   strncmp(url, "postgresql://", 13) == 0) {
            snprintf(err, errlen, "the PostgreSQL store is not built yet; use SQLite "
                                  "(omit --db)");
            return STORE_ERR;
        } else {
            snprintf(err, errlen, "unsupported database URL (want sqlite:PATH)");
            return STORE_ERR;
        }
    } else {
        snprintf(path, sizeof path, "%s/berth.db", data_dir);
    }
    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERR;
    }
    if (db_open(path, &st->db, err, errlen) != DB_OK) {
        free(st);
        return STORE_ERR;
    }
    *out = st;
    return STORE_OK;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    db_free(st->db);
    free(st);
}

const char *store_errmsg(struct store *st) { return db_errmsg(st->db); }

int store_begin(struct store *st) { return db_begin(st->db); }

int store_commit(struct store *st) { return db_commit(st->db); }

void store_rollback(struct store *st) { db_rollback(st->db); }

int store_migrate(struct store *st) { return db_migrate(st->db); }
