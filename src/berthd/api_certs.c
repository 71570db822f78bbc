/* api_certs.c - an organization's uploaded TLS certificates
 * (GET/POST /orgs/{org}/certificates, GET/DELETE .../certificates/{id};
 * docs/deploy.md#certificates). Reads take app:read, uploads and removals
 * app:write (a certificate serves app domains, like the domains routes);
 * audit cert.upload and cert.delete carry the name, fingerprint and
 * names, never the key. The chain and key are checked by certparse.c
 * before anything is stored; the key is sealed under the secrets subkey
 * bound to the certificate's id and is never part of any answer. Each
 * change queues edge jobs (certificates.c) for the org's apps whose
 * domains the certificate covers. */
#include "api.h"
#include "certificates.h"
#include "domains.h"
#include "certparse.h"
#include "crypto.h"
#include "jsonx.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* c as the API shows it; view: the org's (certificates_view_new), or
 * NULL to read it for this one certificate. */
static json_t *cert_json(struct req *r, const struct cert *c, const struct certificates_view *view)
{
    json_t *covered = NULL, *serving = NULL;
    json_t *names = json_loads(c->sans_json ? c->sans_json : "[]", 0, NULL);
    if (!json_is_array(names)) {
        json_decref(names);
        names = json_array();
    }
    if (view)
        certificates_view_domains(view, c, &covered, &serving);
    else if (certificates_domains(r->srv, c->org_id, c, &covered, &serving) < 0)
        covered = serving = NULL;
    if (!covered || !serving) {
        json_decref(covered);
        json_decref(serving);
        covered = json_array();
        serving = json_array();
    }
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:s, s:s, s:i, s:i, s:o, s:o, "
                     "s:o}",
                     "id", (json_int_t)c->id, "name", c->name, "subject", c->subject, "issuer",
                     c->issuer, "names", names, "not_before", api_time(c->not_before), "not_after",
                     api_time(c->not_after), "expired", c->not_after <= util_now(),
                     "fingerprint_sha256", c->fingerprint, "key_type", c->key_type, "key_bits",
                     c->key_bits, "chain_length", c->chain_len, "domains", covered, "serving",
                     serving, "created_at", api_time(c->created_at));
}

/* The caller's org's certificate params[1] (its id, else its name):
 * 0, or -1 when answered (404 for any other org's). */
static int cert_of(struct req *r, struct cert *c)
{
    const char *ref = r->params[1];
    int64_t id = 0;
    int rc = STORE_NOTFOUND;
    if (util_parse_i64(ref, &id) == 0 && id > 0)
        rc = store_cert_get(r->srv->store, r->who.org_id, id, c);
    if (rc == STORE_NOTFOUND)
        rc = store_cert_by_name(r->srv->store, r->who.org_id, ref, c);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "certificate");
        return -1;
    }
    return 0;
}

struct list_ctx {
    struct cert *c;
    size_t n;
};

static void list_one(void *arg, const struct cert *c)
{
    struct list_ctx *x = arg;
    if (x->n >= CERTIFICATES_ORG_MAX)
        return;
    x->c[x->n] = *c;
    x->c[x->n].sans_json = c->sans_json ? strdup(c->sans_json) : NULL;
    x->n++;
}

/* Collected first, answered after: cert_json reads the store again, and
 * a statement must not be stepped while it is being listed. */
void api_certs_list(struct req *r)
{
    struct list_ctx x = {calloc(CERTIFICATES_ORG_MAX, sizeof(struct cert)), 0};
    json_t *items = json_array();
    int rc = x.c ? store_certs_each(r->srv->store, r->who.org_id, list_one, &x) : STORE_ERR;
    struct certificates_view *view = rc == STORE_OK && x.n ? certificates_view_new(r->srv,
                                                                                  r->who.org_id)
                                                          : NULL;
    if (x.n && !view)
        rc = STORE_ERR;
    for (size_t i = 0; i < x.n; i++) {
        if (rc == STORE_OK)
            json_array_append_new(items, cert_json(r, &x.c[i], view));
        store_cert_release(&x.c[i]);
    }
    certificates_view_free(view);
    free(x.c);
    if (rc != STORE_OK) {
        json_decref(items);
        api_store_error(r, STORE_ERR, "certificate");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

void api_cert_get(struct req *r)
{
    struct cert c;
    if (cert_of(r, &c) < 0)
        return;
    http_reply_json(r, 200, cert_json(r, &c, NULL));
    store_cert_release(&c);
}

/* The summary into the stored record (sans as a JSON array). */
static int cert_from_summary(struct req *r, const char *name, const struct certparse_summary *s,
                             struct cert *c)
{
    json_t *sans = json_array();
    memset(c, 0, sizeof *c);
    for (size_t i = 0; sans && i < s->nsans; i++)
        json_array_append_new(sans, json_string(s->sans[i]));
    c->org_id = r->who.org_id;
    util_strlcpy(c->name, name, sizeof c->name);
    util_strlcpy(c->subject, s->subject, sizeof c->subject);
    util_strlcpy(c->issuer, s->issuer, sizeof c->issuer);
    c->sans_json = sans ? jx_dump(sans, NULL) : NULL;
    json_decref(sans);
    c->not_before = s->not_before;
    c->not_after = s->not_after;
    util_strlcpy(c->fingerprint, s->fingerprint, sizeof c->fingerprint);
    util_strlcpy(c->key_type, s->key_type, sizeof c->key_type);
    c->key_bits = s->key_bits;
    c->chain_len = s->chain_len;
    c->created_by = r->who.user_id;
    c->created_at = util_now();
    return c->sans_json ? 0 : -1;
}

/* Inserts c with chain, seals key under its new id: 0 with c->id set,
 * or -1 when answered (409 on a taken name). */
static int store_new(struct req *r, struct cert *c, const char *chain, const char *key)
{
    struct store *st = r->srv->store;
    char ad[64], *sealed = NULL;
    int rc = store_begin(st);
    if (rc == STORE_OK)
        rc = store_cert_create(st, c, chain, &c->id);
    if (rc == STORE_OK) {
        certificates_key_ad(c->id, ad, sizeof ad);
        sealed = crypto_seal(r->srv->secret_key, ad, key, strlen(key));
        rc = sealed ? store_cert_set_key(st, c->id, sealed) : STORE_ERR;
        free(sealed);
    }
    if (rc != STORE_OK || (rc = store_commit(st)) != STORE_OK) {
        store_rollback(st);
        if (rc == STORE_CONFLICT)
            http_reply_error(r, 409, "certificate_exists", "the organization already has a "
                             "certificate named '%s'", c->name);
        else
            api_store_error(r, STORE_ERR, "certificate");
        return -1;
    }
    return 0;
}

/* Wipes the key wherever the request holds it: the parsed body and the
 * raw bytes. */
static void wipe_request(struct req *r, const char *key)
{
    if (key)
        crypto_wipe((char *)key, strlen(key));
    if (r->body.data)
        crypto_wipe(r->body.data, r->body.len);
}

void api_cert_create(struct req *r)
{
    static const char *const fields[] = {"name", "certificate", "private_key", NULL};
    const char *name = NULL, *chain = NULL, *key = NULL;
    struct certparse_summary sum;
    struct cert c;
    char err[300];
    int64_t count = 0;
    memset(&sum, 0, sizeof sum);
    memset(&c, 0, sizeof c);
    util_strlcpy(r->audit_target, "cert", sizeof r->audit_target);
    json_t *b = req_json(r);
    if (!b) {
        wipe_request(r, NULL);
        return;
    }
    if (req_only_fields(r, b, fields) < 0 || req_str(r, b, "name", 1, &name) < 0 ||
        req_str(r, b, "certificate", 1, &chain) < 0 || req_str(r, b, "private_key", 1, &key) < 0)
        goto done;
    if (!api_name_valid(name)) {
        http_reply_error(r, 422, "invalid_field", "field 'name' must be 1-100 letters, digits, "
                         "'.', '_' or '-', starting with a letter or digit");
        goto done;
    }
    if (store_certs_count(r->srv->store, r->who.org_id, &count) != STORE_OK) {
        api_store_error(r, STORE_ERR, "certificate");
        goto done;
    }
    if (count >= CERTIFICATES_ORG_MAX) {
        http_reply_error(r, 422, "too_many", "the organization already has %d certificates, the "
                         "most it may keep; remove one first", CERTIFICATES_ORG_MAX);
        goto done;
    }
    if (certparse_check(chain, strlen(chain), key, strlen(key), util_now(), &sum, err,
                        sizeof err) < 0) {
        http_reply_error(r, 422, "invalid_certificate", "%s", err);
        goto done;
    }
    if (cert_from_summary(r, name, &sum, &c) < 0) {
        http_reply_error(r, 500, "internal", "out of memory");
        goto done;
    }
    if (store_new(r, &c, chain, key) < 0)
        goto done;
    snprintf(r->audit_target, sizeof r->audit_target, "cert:%lld", (long long)c.id);
    r->audit_detail = json_pack("{s:s, s:s, s:o}", "name", c.name, "fingerprint_sha256",
                                c.fingerprint, "names", json_loads(c.sans_json, 0, NULL));
    certificates_push(r->srv, r->who.org_id, c.sans_json, r->who.user_id, domains_push);
    http_reply_json(r, 201, cert_json(r, &c, NULL));
done:
    wipe_request(r, key);
    certparse_summary_release(&sum);
    store_cert_release(&c);
}

void api_cert_delete(struct req *r)
{
    struct cert c;
    char force[8];
    json_t *covered = NULL, *serving = NULL;
    snprintf(r->audit_target, sizeof r->audit_target, "cert:%.100s", r->params[1]);
    const char *f = req_query(r, "force", force, sizeof force);
    if (r->replied || cert_of(r, &c) < 0)
        return;
    snprintf(r->audit_target, sizeof r->audit_target, "cert:%lld", (long long)c.id);
    if (f && strcmp(f, "true") != 0 && strcmp(f, "false") != 0) {
        http_reply_error(r, 400, "invalid_query", "force must be true or false");
        goto done;
    }
    if (certificates_domains(r->srv, r->who.org_id, &c, &covered, &serving) < 0) {
        api_store_error(r, STORE_ERR, "certificate");
        goto done;
    }
    if (json_array_size(serving) > 0 && !(f && strcmp(f, "true") == 0)) {
        char *list = jx_dump(serving, NULL);
        http_reply_error(r, 409, "certificate_in_use", "certificate '%s' serves %.400s; upload "
                         "its replacement first, or remove it anyway with ?force=true (those "
                         "domains then have no certificate)", c.name, list ? list : "domains");
        free(list);
        goto done;
    }
    int rc = store_cert_delete(r->srv->store, r->who.org_id, c.id);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "certificate");
        goto done;
    }
    r->audit_detail = json_pack("{s:s, s:s, s:O}", "name", c.name, "fingerprint_sha256",
                                c.fingerprint, "serving", serving);
    certificates_push(r->srv, r->who.org_id, c.sans_json, r->who.user_id, domains_push);
    http_reply_empty(r, 204);
done:
    json_decref(covered);
    json_decref(serving);
    store_cert_release(&c);
}
