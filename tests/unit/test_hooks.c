/* test_hooks.c - the webhook verifiers (src/berthd/hooks.c) on GitHub's
 * documented example, and the GitHub App JWT (src/berthd/gitauth.c)
 * verified with the key's public half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "crypto.h"
#include "repos.h"

/* docs.github.com, "Validating webhook deliveries" */
static const char gh_secret[] = "It's a Secret to Everybody";
static const char gh_payload[] = "Hello, World!";
static const char gh_sig[] =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

static void hmac_matches_githubs_example(void **state)
{
    (void)state;
    char hex[65];
    crypto_hmac_sha256_hex(gh_secret, strlen(gh_secret), gh_payload, strlen(gh_payload), hex);
    assert_string_equal(hex, gh_sig + 7);
}

static void github_signature_verifies(void **state)
{
    (void)state;
    size_t n = strlen(gh_payload);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, gh_sig, 1), 1);
    /* upper-case hex is the same signature */
    char up[80];
    strcpy(up, gh_sig);
    for (char *p = up + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, up, 1), 1);
}

static void github_signature_refusals(void **state)
{
    (void)state;
    size_t n = strlen(gh_payload);
    assert_int_equal(hooks_signature_ok("another secret", gh_payload, n, gh_sig, 1), 0);
    assert_int_equal(hooks_signature_ok(gh_secret, "Hello, World?", n, gh_sig, 1), 0);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, gh_sig + 7, 1), 0); /* no prefix */
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, "sha1=757107ea", 1), 0);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, "sha256=", 1), 0);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, "", 1), 0);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, NULL, 1), 0);
    char longer[90];
    strcpy(longer, gh_sig);
    strcat(longer, "00");
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, longer, 1), 0);
}

static void gitea_signature_has_no_prefix(void **state)
{
    (void)state;
    size_t n = strlen(gh_payload);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, gh_sig + 7, 0), 1);
    assert_int_equal(hooks_signature_ok(gh_secret, gh_payload, n, gh_sig, 0), 0);
}

static void gitlab_token_compare(void **state)
{
    (void)state;
    assert_int_equal(hooks_token_ok("bwh_abc", "bwh_abc"), 1);
    assert_int_equal(hooks_token_ok("bwh_abc", "bwh_abd"), 0);
    assert_int_equal(hooks_token_ok("bwh_abc", "bwh_ab"), 0);
    assert_int_equal(hooks_token_ok("bwh_abc", ""), 0);
    assert_int_equal(hooks_token_ok("bwh_abc", NULL), 0);
}

/* ---- the GitHub App JWT ---- */

static char *pem_of(EVP_PKEY *k, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *out = malloc((size_t)n + 1);
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    BIO_free(b);
    return out;
}

static json_t *b64_json(const char *s, size_t len)
{
    unsigned char bin[512];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(bin, sizeof bin, s, len, NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
    return json_loadb((const char *)bin, n, 0, NULL);
}

static void jwt_is_rs256_and_verifies(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    size_t len = 0;
    char *pem = pem_of(k, &len), *jwt = NULL, err[200];
    assert_int_equal(gitauth_rsa_key_ok(pem, len), 1);
    assert_int_equal(gitauth_jwt(pem, len, 4242, 1700000000, &jwt, err, sizeof err), 0);

    char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    json_t *h = b64_json(jwt, (size_t)(d1 - jwt));
    json_t *c = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1700000000 - 60);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1700000000 + 540);
    assert_string_equal(json_string_value(json_object_get(c, "iss")), "4242");

    unsigned char sig[512];
    size_t siglen = 0;
    assert_int_equal(sodium_base642bin(sig, sizeof sig, d2 + 1, strlen(d2 + 1), NULL, &siglen,
                                       NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, siglen, (unsigned char *)jwt,
                                      (size_t)(d2 - jwt)), 1);
    /* a changed claim no longer verifies */
    jwt[(d1 - jwt) + 3] ^= 1;
    EVP_MD_CTX_reset(md);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_not_equal(EVP_DigestVerify(md, sig, siglen, (unsigned char *)jwt,
                                          (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    json_decref(h);
    json_decref(c);
    free(jwt);
    free(pem);
    EVP_PKEY_free(k);
}

static void jwt_refuses_bad_keys(void **state)
{
    (void)state;
    char *jwt = NULL, err[200];
    const char junk[] = "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n";
    assert_int_equal(gitauth_rsa_key_ok(junk, strlen(junk)), 0);
    assert_int_equal(gitauth_jwt(junk, strlen(junk), 1, 1700000000, &jwt, err, sizeof err), -1);
    assert_null(jwt);
    assert_non_null(strstr(err, "RSA"));
    /* an Ed25519 key is a key, but not what GitHub signs with */
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    size_t len = 0;
    char *pem = pem_of(k, &len);
    assert_int_equal(gitauth_rsa_key_ok(pem, len), 0);
    free(pem);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hmac_matches_githubs_example),
        cmocka_unit_test(github_signature_verifies),
        cmocka_unit_test(github_signature_refusals),
        cmocka_unit_test(gitea_signature_has_no_prefix),
        cmocka_unit_test(gitlab_token_compare),
        cmocka_unit_test(jwt_is_rs256_and_verifies),
        cmocka_unit_test(jwt_refuses_bad_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
