/* test_acme_path.c - src/berthd/acme_path.c and the --acme-* options
 * (config_acme_option): what the HTTP-01 listener serves, what it
 * redirects, which names berthd asks a certificate for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "acme_path.h"
#include "config.h"

static const char *token(const char *path, int *is_ch)
{
    return acme_challenge_token(path, strlen(path), is_ch);
}

static void challenge_tokens(void **state)
{
    (void)state;
    int ch;
    const char *t = token("/.well-known/acme-challenge/Ab-_09", &ch);
    assert_non_null(t);
    assert_string_equal(t, "Ab-_09");
    assert_int_equal(ch, 1);
    static const char *const bad[] = {
        "/.well-known/acme-challenge/",          "/.well-known/acme-challenge/a.b",
        "/.well-known/acme-challenge/../x",      "/.well-known/acme-challenge/a/b",
        "/.well-known/acme-challenge/a%2fb",     "/.well-known/acme-challenge/a b",
        "/.well-known/acme-challenge/a\\b",      "/.well-known/acme-challenge/\x7f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (token(bad[i], &ch) != NULL)
            fail_msg("'%s' accepted as a token", bad[i]);
        assert_int_equal(ch, 1); /* under the prefix: 404, not a redirect */
    }
    char longp[200];
    snprintf(longp, sizeof longp, "%s%0129d", ACME_PREFIX, 0);
    assert_null(token(longp, &ch));
    longp[strlen(longp) - 1] = '\0'; /* 128: the longest */
    assert_non_null(token(longp, &ch));
    assert_null(token("/.well-known/acme-challengeX/abc", &ch));
    assert_int_equal(ch, 0);
    assert_null(token("/", &ch));
    assert_int_equal(ch, 0);
}

static void redirect_paths(void **state)
{
    (void)state;
    static const char *const ok[] = {"/", "/dashboard/apps", "/a?b=c", "/%41"};
    static const char *const bad[] = {"", "x", "//evil.example/", "/\\evil", "/a b", "/a\r\nX: y",
                                      "/\x80"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(acme_redirect_path_ok(ok[i], strlen(ok[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (acme_redirect_path_ok(bad[i], strlen(bad[i])))
            fail_msg("'%s' accepted for a Location", bad[i]);
}

static void domains(void **state)
{
    (void)state;
    static const char *const ok[] = {"example.com", "a.b", "x-1.example.co.uk", "1a.example"};
    static const char *const bad[] = {"",          "localhost",   "*.example.com", "example.com.",
                                      ".example",  "a..b",        "-a.example",    "a-.example",
                                      "A.example", "127.0.0.1",   "a_b.example",   "a b.example",
                                      "ex\xc3\xa9.com"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!acme_domain_valid(ok[i]))
            fail_msg("'%s' refused", ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (acme_domain_valid(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ".example");
    assert_false(acme_domain_valid(label)); /* a 64-byte label */
}

static void options(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_string_equal(c.acme_directory, "https://acme-v02.api.letsencrypt.org/directory");
    assert_int_equal(c.acme_http_port, 80);
    assert_int_equal(c.acme_renew_days, 30);
    assert_int_equal(config_acme_option(&c, "acme-domain", "A.example.com,b.example.com", err,
                                        sizeof err), 0);
    assert_int_equal(config_acme_option(&c, "acme-domain", "c.example.com", err, sizeof err), 0);
    assert_string_equal(c.acme_domains, "a.example.com,b.example.com,c.example.com");
    assert_int_equal(config_acme_option(&c, "acme-domain", "*.example.com", err, sizeof err), -1);
    assert_non_null(strstr(err, "acme-domain"));
    assert_int_equal(config_acme_option(&c, "acme-domain", "a.example.com,,b.example", err,
                                        sizeof err), -1);
    assert_int_equal(config_acme_option(&c, "acme-http-port", "0", err, sizeof err), -1);
    assert_int_equal(config_acme_option(&c, "acme-http-port", "8080", err, sizeof err), 0);
    assert_int_equal(c.acme_http_port, 8080);
    assert_int_equal(config_acme_option(&c, "acme-directory", "ftp://x", err, sizeof err), -1);
    assert_int_equal(config_acme_option(&c, "acme-directory", "https://a b/", err, sizeof err), -1);
    assert_int_equal(config_acme_option(&c, "acme-directory", "https://127.0.0.1:14000/dir", err,
                                        sizeof err), 0);
    assert_int_equal(config_acme_option(&c, "acme-email", "not-an-email", err, sizeof err), -1);
    assert_int_equal(config_acme_option(&c, "acme-email", "ops@example.com", err, sizeof err), 0);
    assert_int_equal(config_acme_option(&c, "acme-renew-days", "-1", err, sizeof err), -1);
    assert_int_equal(config_acme_option(&c, "acme-nope", "1", err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(challenge_tokens),
        cmocka_unit_test(redirect_paths),
        cmocka_unit_test(domains),
        cmocka_unit_test(options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
