/* test_logre.c - the `re` filter of application logs (src/core/logre.c):
 * its rules, compiling, matching a line's first bytes, and the time
 * budget that ends a query whose pattern costs too much. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "logre.h"

static void rules(void **state)
{
    (void)state;
    char err[200], big[LOGRE_MAX + 2];
    static const char *const good[] = {
        "^err [0-9]+ needle$", "a|b", "x{1,16}", "(ab){2}c{0,16}", "[{]{3}", "\\{99\\}",
        "[[:digit:]]{1,3}\\.", "caf\xc3\xa9", "\\\\1", "a\\.b", "a+b+c+d+[+]\\+",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(logre_check(good[i], err, sizeof err), 0);
    static const struct { const char *p, *why; } bad[] = {
        {"", "1 to 256"},
        {"(a)\\1", "back-references"},
        {"(a)(b)\\2", "back-references"},
        {"a{1,17}", "up to 16"},
        {"a{99}", "up to 16"},
        {"a{1}b{2}c{3}", "at most 2"},
        {"e+++++", "cannot repeat"},
        {"a+?", "cannot repeat"},
        {"a{2}*", "cannot repeat"},
        {"a+b+c+d+e+", "at most 4"},
        {"((((((a)+)+)+)+)+)", "at most 4"},
        {"a\tb", "control"},
        {"a\x7f", "control"},
        {"\xff\xfe", "UTF-8"},
        {"caf\xc3", "UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(logre_check(bad[i].p, err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i].why));
    }
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(logre_check(big, err, sizeof err), -1);
    big[LOGRE_MAX] = '\0';
    assert_int_equal(logre_check(big, err, sizeof err), 0);
}

static void compile_and_match(void **state)
{
    (void)state;
    struct logre r;
    char err[200];
    assert_int_equal(logre_compile(&r, "(unclosed", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular expression"));
    assert_int_equal(logre_compile(&r, "[z-a]", err, sizeof err), -1);
    assert_int_equal(logre_compile(&r, "^err [13]0 ", err, sizeof err), 0);
    assert_int_equal(logre_match(&r, "err 10 needle", 13), 1);
    assert_int_equal(logre_match(&r, "err 20 needle", 13), 0);
    /* the text is not NUL-terminated: only len bytes count */
    assert_int_equal(logre_match(&r, "err 30 needle", 6), 0);
    logre_release(&r);
    /* past LOGRE_SCAN_MAX bytes nothing is seen */
    size_t n = LOGRE_SCAN_MAX + 100;
    char *t = malloc(n);
    memset(t, 'a', n);
    memcpy(t + n - 4, "WORD", 4);
    assert_int_equal(logre_compile(&r, "WORD", err, sizeof err), 0);
    assert_int_equal(logre_match(&r, t, n), 0);
    memcpy(t + 10, "WORD", 4);
    assert_int_equal(logre_match(&r, t, n), 1);
    logre_release(&r);
    free(t);
}

/* A costly pattern on a long line spends the budget: then nothing
 * matches and logre_over says so. */
static void budget(void **state)
{
    (void)state;
    struct logre r;
    char err[200];
    char *t = malloc(LOGRE_SCAN_MAX);
    memset(t, 'a', LOGRE_SCAN_MAX);
    assert_int_equal(logre_compile(&r, "(a|aa)*c", err, sizeof err), 0);
    r.budget_us = 1000; /* 1 ms: one try on 8 KiB of 'a' takes far longer */
    assert_int_equal(logre_over(&r), 0);
    assert_int_equal(logre_match(&r, t, LOGRE_SCAN_MAX), 0);
    assert_int_equal(logre_over(&r), 1);
    assert_int_equal(logre_match(&r, "c", 1), 0); /* would match; the budget is spent */
    logre_release(&r);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules),
        cmocka_unit_test(compile_and_match),
        cmocka_unit_test(budget),
    };
    return cmocka_run_group_tests_name("logre", tests, NULL, NULL);
}
