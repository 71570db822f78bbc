/* store_certs.c - an organization's uploaded TLS certificates (migration
 * 12; docs/deploy.md#certificates): the summary certparse.c read, the
 * public chain, and the private key stored only sealed by the caller.
 *
 * Portable SQL through db.h (no SQLite here); the calls are in store.h.
 */
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>

void store_cert_release(struct cert *c)
{
    free(c->sans_json);
    c->sans_json = NULL;
}

#define CERT_COLS                                                                         \
    "id, org_id, name, subject, issuer, sans, not_before, not_after, fingerprint, "      \
    "key_type, key_bits, chain_len, COALESCE(created_by, 0), created_at"

static int cert_from_row(struct db_stmt *s, struct cert *c)
{
    memset(c, 0, sizeof *c);
    c->id = db_int(s, 0);
    c->org_id = db_int(s, 1);
    db_str(s, 2, c->name, sizeof c->name);
    db_str(s, 3, c->subject, sizeof c->subject);
    db_str(s, 4, c->issuer, sizeof c->issuer);
    const char *sans = db_text(s, 5);
    c->sans_json = strdup(sans ? sans : "[]");
    c->not_before = db_int(s, 6);
    c->not_after = db_int(s, 7);
    db_str(s, 8, c->fingerprint, sizeof c->fingerprint);
    db_str(s, 9, c->key_type, sizeof c->key_type);
    c->key_bits = (int)db_int(s, 10);
    c->chain_len = (int)db_int(s, 11);
    c->created_by = db_int(s, 12);
    c->created_at = db_int(s, 13);
    return c->sans_json ? 0 : -1;
}

int store_cert_create(struct store *st, const struct cert *c, const char *chain_pem, int64_t *id)
{
    int rc = run(st, q(st, "INSERT INTO certificates (org_id, name, subject, issuer, sans, "
                           "not_before, not_after, fingerprint, key_type, key_bits, chain_len, "
                           "chain_pem, key_sealed, created_by, created_at) VALUES (?, ?, ?, ?, "
                           "?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?)",
                       "issssiissiiszi", c->org_id, c->name, c->subject, c->issuer,
                       c->sans_json ? c->sans_json : "[]", c->not_before, c->not_after,
                       c->fingerprint, c->key_type, (int64_t)c->key_bits, (int64_t)c->chain_len,
                       chain_pem, c->created_by, c->created_at));
    if (rc == STORE_OK)
        *id = db_last_id(st->db);
    return rc;
}

int store_cert_set_key(struct store *st, int64_t id, const char *sealed)
{
    return changed(st, run(st, q(st, "UPDATE certificates SET key_sealed = ? WHERE id = ?", "si",
                                 sealed, id)));
}

/* The one row s selects into c (released on failure). */
static int cert_one(struct store *st, struct db_stmt *s, struct cert *c)
{
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    rc = cert_from_row(s, c) < 0 ? STORE_ERR : STORE_OK;
    db_done(s);
    if (rc != STORE_OK)
        store_cert_release(c);
    return rc;
}

int store_cert_get(struct store *st, int64_t org_id, int64_t id, struct cert *c)
{
    return cert_one(st, org_id
        ? q(st, "SELECT " CERT_COLS " FROM certificates WHERE id = ? AND org_id = ?", "ii", id,
            org_id)
        : q(st, "SELECT " CERT_COLS " FROM certificates WHERE id = ?", "i", id), c);
}

int store_cert_by_name(struct store *st, int64_t org_id, const char *name, struct cert *c)
{
    return cert_one(st, q(st, "SELECT " CERT_COLS " FROM certificates WHERE org_id = ? AND "
                              "name = ?", "is", org_id, name), c);
}

int store_certs_each(struct store *st, int64_t org_id,
                     void (*fn)(void *arg, const struct cert *c), void *arg)
{
    struct db_stmt *s = q(st, "SELECT " CERT_COLS " FROM certificates WHERE org_id = ? ORDER BY "
                              "name, id", "i", org_id);
    if (!s)
        return STORE_ERR;
    int rc;
    while ((rc = db_next(st->db, s)) == 1) {
        struct cert c;
        if (cert_from_row(s, &c) == 0)
            fn(arg, &c);
        store_cert_release(&c);
    }
    db_done(s);
    return rc == 0 ? STORE_OK : STORE_ERR;
}

int store_certs_count(struct store *st, int64_t org_id, int64_t *n)
{
    struct db_stmt *s = q(st, "SELECT COUNT(*) FROM certificates WHERE org_id = ?", "i", org_id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *n = db_int(s, 0);
    db_done(s);
    return STORE_OK;
}

int store_cert_material(struct store *st, int64_t id, char **chain_pem, char **key_sealed)
{
    struct db_stmt *s = q(st, "SELECT chain_pem, key_sealed FROM certificates WHERE id = ?", "i",
                          id);
    int rc = row(st, s);
    if (rc != STORE_OK)
        return rc;
    *chain_pem = db_dup(s, 0);
    *key_sealed = db_dup(s, 1);
    db_done(s);
    if (!*chain_pem || !*key_sealed) {
        free(*chain_pem);
        free(*key_sealed);
        *chain_pem = *key_sealed = NULL;
        return STORE_ERR;
    }
    return STORE_OK;
}

int store_cert_delete(struct store *st, int64_t org_id, int64_t id)
{
    return changed(st, run(st, q(st, "DELETE FROM certificates WHERE id = ? AND org_id = ?", "ii",
                                 id, org_id)));
}
