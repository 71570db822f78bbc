/* test_certparse.c - src/berthd/certparse.c: an uploaded certificate chain
 * and key checked and summarised (docs/deploy.md#certificates). The
 * certificates are made here with libcrypto, so none of them expires
 * between runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certparse.h"

static long serial = 1;

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn,
                       const char *san, long from, long to)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    if (san) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
    return x;
}

static char *bio_text(BIO *b)
{
    char *p = NULL;
    long l = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)l + 1);
    assert_non_null(s);
    memcpy(s, p, (size_t)l);
    s[l] = '\0';
    BIO_free(b);
    return s;
}

static char *pem_certs(X509 *a, X509 *b)
{
    BIO *o = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(o, a);
    if (b)
        PEM_write_bio_X509(o, b);
    return bio_text(o);
}

static char *pem_key(EVP_PKEY *k, int encrypted)
{
    BIO *o = BIO_new(BIO_s_mem());
    if (encrypted)
        PEM_write_bio_PKCS8PrivateKey(o, k, EVP_aes_256_cbc(), NULL, 0, NULL, "pass");
    else
        PEM_write_bio_PrivateKey(o, k, NULL, NULL, 0, NULL, NULL);
    return bio_text(o);
}

struct fx {
    EVP_PKEY *ec, *ec2, *rsa, *ca_key, *weak, *p521;
    X509 *ca;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->ec = EVP_EC_gen("P-256");
    f->ec2 = EVP_EC_gen("P-384");
    f->p521 = EVP_EC_gen("P-521");
    f->rsa = EVP_RSA_gen(2048);
    f->ca_key = EVP_RSA_gen(2048);
    f->weak = EVP_RSA_gen(1024);
    f->ca = make_cert(f->ca_key, f->ca_key, NULL, "Unit CA", NULL, -3600, 86400L * 365);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    EVP_PKEY_free(f->ec);
    EVP_PKEY_free(f->ec2);
    EVP_PKEY_free(f->p521);
    EVP_PKEY_free(f->rsa);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->weak);
    X509_free(f->ca);
    free(f);
    return 0;
}

/* certparse_check on chain (and key): the rc, the summary released. */
static int check(const char *chain, const char *key, char *err, size_t n)
{
    struct certparse_summary s;
    int rc = certparse_check(chain, strlen(chain), key, key ? strlen(key) : 0, time(NULL), &s,
                             err, n);
    certparse_summary_release(&s);
    return rc;
}

static void expect_refused(const char *chain, const char *key, const char *why)
{
    char err[300] = "";
    if (check(chain, key, err, sizeof err) == 0)
        fail_msg("accepted; want a refusal saying '%s'", why);
    if (!strstr(err, why))
        fail_msg("refused with '%s'; want '%s'", err, why);
}

static void self_signed_ec_summary(void **state)
{
    struct fx *f = *state;
    X509 *x = make_cert(f->ec, f->ec, NULL, "shop.example.com",
                        "DNS:Shop.Example.com,DNS:*.example.com,IP:127.0.0.1,DNS:bad_name.x",
                        -60, 86400L * 30);
    char *c = pem_certs(x, NULL), *k = pem_key(f->ec, 0), err[300];
    struct certparse_summary s;
    assert_int_equal(certparse_check(c, strlen(c), k, strlen(k), time(NULL), &s, err, sizeof err),
                     0);
    assert_int_equal(s.nsans, 2); /* the IP and the name no domain can have are left out */
    assert_string_equal(s.sans[0], "shop.example.com");
    assert_string_equal(s.sans[1], "*.example.com");
    assert_string_equal(s.subject, "CN=shop.example.com");
    assert_string_equal(s.key_type, "ec-p256");
    assert_int_equal(s.key_bits, 256);
    assert_int_equal(s.chain_len, 1);
    assert_int_equal(strlen(s.fingerprint), 64);
    assert_true(s.not_after > s.not_before);
    certparse_summary_release(&s);
    /* without the key: the chain's summary only */
    assert_int_equal(check(c, NULL, err, sizeof err), 0);
    free(c);
    free(k);
    X509_free(x);
}

static void ca_chain_in_order_only(void **state)
{
    struct fx *f = *state;
    X509 *leaf = make_cert(f->rsa, f->ca_key, f->ca, "api.example.com", "DNS:api.example.com",
                           -60, 86400L * 30);
    char *good = pem_certs(leaf, f->ca), *bad = pem_certs(f->ca, leaf), *k = pem_key(f->rsa, 0);
    char err[300];
    struct certparse_summary s;
    assert_int_equal(certparse_check(good, strlen(good), k, strlen(k), time(NULL), &s, err,
                                     sizeof err), 0);
    assert_int_equal(s.chain_len, 2);
    assert_string_equal(s.key_type, "rsa");
    assert_string_equal(s.issuer, "CN=Unit CA");
    certparse_summary_release(&s);
    expect_refused(bad, k, "did not issue");
    /* a chain whose second certificate is not the issuer */
    X509 *other = make_cert(f->ec2, f->ec2, NULL, "Other CA", NULL, -60, 86400L);
    char *wrong = pem_certs(leaf, other);
    expect_refused(wrong, k, "did not issue");
    free(good);
    free(bad);
    free(wrong);
    free(k);
    X509_free(leaf);
    X509_free(other);
}

static void hostile_inputs(void **state)
{
    struct fx *f = *state;
    X509 *x = make_cert(f->ec, f->ec, NULL, "a.example.com", "DNS:a.example.com", -60, 86400L);
    X509 *old = make_cert(f->ec, f->ec, NULL, "a.example.com", "DNS:a.example.com",
                          -86400L * 10, -86400L);
    X509 *nosan = make_cert(f->ec, f->ec, NULL, "a.example.com", NULL, -60, 86400L);
    X509 *weak = make_cert(f->weak, f->weak, NULL, "w.example.com", "DNS:w.example.com", -60,
                           86400L);
    X509 *p521 = make_cert(f->p521, f->p521, NULL, "p.example.com", "DNS:p.example.com", -60,
                           86400L);
    char *c = pem_certs(x, NULL), *k = pem_key(f->ec, 0), *k2 = pem_key(f->ec2, 0);
    char *enc = pem_key(f->ec, 1), *co = pem_certs(old, NULL), *cn = pem_certs(nosan, NULL);
    char *cw = pem_certs(weak, NULL), *kw = pem_key(f->weak, 0);
    char *cp = pem_certs(p521, NULL), *kp = pem_key(f->p521, 0);
    expect_refused(c, k2, "does not match");
    expect_refused(co, k, "expired");
    expect_refused(cn, k, "no DNS host");
    expect_refused(cw, kw, "RSA of 2048");
    expect_refused(cp, kp, "P-256 or P-384");
    expect_refused(c, enc, "encrypted");
    expect_refused("", k, "empty");
    expect_refused(c, "", "empty");
    expect_refused("garbage", k, "no PEM certificate");
    expect_refused(k, k, "not a CERTIFICATE");
    expect_refused(c, c, "exactly one PEM private key");
    expect_refused("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", k,
                   "not valid DER");
    /* two keys in the key field */
    char *two = malloc(strlen(k) * 2 + 1);
    strcpy(two, k);
    strcat(two, k);
    expect_refused(c, two, "exactly one");
    /* caps: size and chain length */
    size_t big = CERTPARSE_PEM_MAX + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'A', big);
    huge[big] = '\0';
    expect_refused(huge, k, "larger than 64 KiB");
    char *nine = calloc(strlen(c) * 9 + 1, 1);
    for (int i = 0; i < 9; i++)
        strcat(nine, c);
    expect_refused(nine, k, "more than 8");
    /* a NUL inside */
    char err[300];
    struct certparse_summary s;
    assert_int_equal(certparse_check(c, strlen(c) + 1, k, strlen(k), time(NULL), &s, err,
                                     sizeof err), -1);
    assert_non_null(strstr(err, "NUL"));
    certparse_summary_release(&s);
    /* no reason ever quotes the key */
    assert_null(strstr(err, "PRIVATE"));
    free(two);
    free(huge);
    free(nine);
    free(c);
    free(k);
    free(k2);
    free(enc);
    free(co);
    free(cn);
    free(cw);
    free(kw);
    free(cp);
    free(kp);
    X509_free(x);
    X509_free(old);
    X509_free(nosan);
    X509_free(weak);
    X509_free(p521);
}

static void covers_one_label(void **state)
{
    (void)state;
    assert_int_equal(certparse_covers("shop.example.com", "shop.example.com"), 1);
    assert_int_equal(certparse_covers("*.example.com", "shop.example.com"), 1);
    assert_int_equal(certparse_covers("*.example.com", "a.b.example.com"), 0);
    assert_int_equal(certparse_covers("*.example.com", "example.com"), 0);
    assert_int_equal(certparse_covers("*.example.com", "*.example.com"), 1);
    assert_int_equal(certparse_covers("*.example.com", "*.a.example.com"), 0);
    assert_int_equal(certparse_covers("*.example.com", ".example.com"), 0);
    assert_int_equal(certparse_covers("shop.example.com", "*.example.com"), 0);
    assert_int_equal(certparse_covers("", ""), 0);
    assert_int_equal(certparse_covers(NULL, "a.b"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(self_signed_ec_summary),
        cmocka_unit_test(ca_chain_in_order_only),
        cmocka_unit_test(hostile_inputs),
        cmocka_unit_test(covers_one_label),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
