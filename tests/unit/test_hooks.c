/* test_hooks.c - the webhook verifiers (src/berthd/hooks.c) on GitHub's
 * documented example, the payload parser of each provider and the order
 * rule (hooks.h), and the GitHub App JWT (src/berthd/gitauth.c) verified
 * with the key's public half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "crypto.h"
#include "hooks.h"
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

/* ---- the payload parser ---- */

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define Z40 "0000000000000000000000000000000000000000"

static struct hooks_push push;

static int parse(enum hooks_provider p, const char *event, const char *body)
{
    char err[256];
    return hooks_parse(p, event, body, strlen(body), &push, err, sizeof err);
}

static void parses_each_providers_push(void **state)
{
    (void)state;
    assert_int_equal(parse(HOOKS_GITHUB, "push", "{\"ref\":\"refs/heads/main\",\"before\":\"" C1
                           "\",\"after\":\"" C2 "\",\"repository\":{\"clone_url\":"
                           "\"https://github.com/Acme/Web.git\",\"ssh_url\":"
                           "\"git@github.com:acme/web.git\"}}"), 0);
    assert_int_equal(push.what, HOOKS_DEPLOY);
    assert_string_equal(push.branch, "main");
    assert_string_equal(push.before, C1);
    assert_string_equal(push.after, C2);
    assert_int_equal(push.nurls, 1); /* both spellings are one repository */
    assert_string_equal(push.urls[0], "github.com/acme/web");

    assert_int_equal(parse(HOOKS_GITEA, "push", "{\"ref\":\"refs/heads/dev\",\"before\":\"" Z40
                           "\",\"after\":\"" C2 "\",\"repository\":{\"html_url\":"
                           "\"http://gitea.example.com:3000/acme/web\"}}"), 0);
    assert_int_equal(push.what, HOOKS_DEPLOY);
    assert_string_equal(push.branch, "dev");
    assert_string_equal(push.before, ""); /* a new branch: no before */

    assert_int_equal(parse(HOOKS_GITLAB, "Push Hook", "{\"ref\":\"refs/heads/main\",\"after\":\""
                           C1 "\",\"project\":{\"git_ssh_url\":\"git@gitlab.example.com:g/"
                           "sub/web.git\"}}"), 0);
    assert_int_equal(push.what, HOOKS_DEPLOY);
    assert_string_equal(push.urls[0], "gitlab.example.com/g/sub/web");
    /* GitLab names its push "Push Hook", not "push" */
    assert_int_equal(parse(HOOKS_GITLAB, "push", "{\"ref\":\"refs/heads/main\",\"after\":\"" C1
                           "\",\"project\":{\"web_url\":\"https://gitlab.example.com/g/w\"}}"), 0);
    assert_int_equal(push.what, HOOKS_IGNORE);
}

static void parser_refusals_and_ignores(void **state)
{
    (void)state;
    static const char url[] = ",\"repository\":{\"clone_url\":\"https://github.com/a/b\"}}";
    char body[512];
    assert_int_equal(parse(HOOKS_GITHUB, "push", "{not json"), HOOKS_EJSON);
    assert_int_equal(parse(HOOKS_GITHUB, "push", "[1]"), HOOKS_EJSON);
    assert_int_equal(parse(HOOKS_GITHUB, "push", "{\"ref\":\"refs/heads/main\"}"),
                     HOOKS_EPAYLOAD);
    assert_int_equal(parse(HOOKS_GITHUB, "push", "{\"repository\":{\"clone_url\":\"/srv/x\"}}"),
                     HOOKS_EPAYLOAD);
    snprintf(body, sizeof body, "{\"ref\":\"refs/tags/v1\",\"after\":\"" C1 "\"%s", url);
    assert_int_equal(parse(HOOKS_GITHUB, "push", body), 0);
    assert_int_equal(push.what, HOOKS_IGNORE);
    assert_non_null(strstr(push.why, "tag"));
    snprintf(body, sizeof body, "{\"ref\":\"refs/heads/main\",\"after\":\"" Z40 "\"%s", url);
    assert_int_equal(parse(HOOKS_GITHUB, "push", body), 0);
    assert_non_null(strstr(push.why, "deleted"));
    snprintf(body, sizeof body, "{\"ref\":\"refs/heads/main\",\"after\":\"ABC\"%s", url);
    assert_int_equal(parse(HOOKS_GITHUB, "push", body), 0);
    assert_int_equal(push.what, HOOKS_IGNORE);
    snprintf(body, sizeof body, "{\"ref\":\"refs/heads/\",\"after\":\"" C1 "\"%s", url);
    assert_int_equal(parse(HOOKS_GITHUB, "push", body), 0);
    assert_int_equal(push.what, HOOKS_IGNORE);
    snprintf(body, sizeof body, "{\"zen\":\"x\"%s", url);
    assert_int_equal(parse(HOOKS_GITHUB, "ping", body), 0);
    assert_int_equal(push.what, HOOKS_PING);
    assert_int_equal(parse(HOOKS_GITLAB, "ping", "{\"project\":{\"web_url\":\"https://h/a/b\"}}"),
                     0);
    assert_int_equal(push.what, HOOKS_IGNORE); /* GitLab has no ping */
}

/* ---- the order rule ---- */

static void order_rule(void **state)
{
    (void)state;
    /* a first push, with or without a before */
    assert_int_equal(hooks_order("", 0, 0, "", C1), HOOKS_ORDER_TAKE);
    assert_int_equal(hooks_order("", 0, 0, C1, C2), HOOKS_ORDER_TAKE);
    /* the next push continues the head */
    assert_int_equal(hooks_order(C1, 0, 1, C1, C2), HOOKS_ORDER_TAKE);
    /* the same push again */
    assert_int_equal(hooks_order(C2, 1, 1, C1, C2), HOOKS_ORDER_DUPLICATE);
    /* an older after */
    assert_int_equal(hooks_order(C2, 1, 0, "", C1), HOOKS_ORDER_STALE);
    /* a new after from an older before */
    assert_int_equal(hooks_order(C2, 0, 1, C1, "3333333333333333333333333333333333333333"),
                     HOOKS_ORDER_STALE);
    /* after missed deliveries: neither seen */
    assert_int_equal(hooks_order(C2, 0, 0, C1, "3333333333333333333333333333333333333333"),
                     HOOKS_ORDER_TAKE);
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
        cmocka_unit_test(parses_each_providers_push),
        cmocka_unit_test(parser_refusals_and_ignores),
        cmocka_unit_test(order_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
