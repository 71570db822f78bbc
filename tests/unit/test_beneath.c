/* test_beneath.c - src/runner/beneath.c: a repository's Dockerfile and
 * build context resolve inside its clone; symbolic links that leave it
 * are refused (issue 12 item 14), with openat2 and with the O_NOFOLLOW
 * walk used where the kernel has no openat2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "beneath.h"

static char top[256], clone_dir[300], secret[300];

static void path(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", clone_dir, rel);
}

static int setup(void **state)
{
    (void)state;
    char p[400], t[400];
    snprintf(top, sizeof top, "/tmp/berth-beneath-XXXXXX");
    assert_non_null(mkdtemp(top));
    snprintf(clone_dir, sizeof clone_dir, "%s/clone", top);
    snprintf(secret, sizeof secret, "%s/credential", top);
    assert_int_equal(mkdir(clone_dir, 0700), 0);
    FILE *f = fopen(secret, "w");
    assert_non_null(f);
    fputs("brc_secret\n", f);
    fclose(f);
    path(p, sizeof p, "Dockerfile");
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("FROM scratch\n", f);
    fclose(f);
    path(p, sizeof p, "app");
    assert_int_equal(mkdir(p, 0700), 0);
    path(p, sizeof p, "app/Dockerfile");
    f = fopen(p, "w");
    fclose(f);
    struct { const char *name, *to; } links[] = {
        {"abs", NULL},                      /* -> the secret, absolute */
        {"rel", "../credential"},           /* -> the secret, relative */
        {"up", ".."},                       /* a directory outside */
        {"root", "/"},
        {"inside", "app/Dockerfile"},       /* stays in: fine with openat2 */
        {"insidedir", "app"},
        {"dangling", "nowhere"},
        {"proc", "/proc/self/root"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        path(p, sizeof p, links[i].name);
        snprintf(t, sizeof t, "%s", links[i].to ? links[i].to : secret);
        assert_int_equal(symlink(t, p), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

static void refused(const char *rel, enum beneath_kind k, const char *why)
{
    char out[512] = "", err[256] = "";
    assert_int_equal(beneath_resolve(clone_dir, rel, k, out, sizeof out, err, sizeof err), -1);
    if (!strstr(err, why))
        fail_msg("%s: %s (want %s)", rel, err, why);
    assert_null(strstr(err, "brc_secret"));
    assert_null(strstr(err, top + 5)); /* never where a link points */
}

static void resolved(const char *rel, enum beneath_kind k, const char *want)
{
    char out[512], err[256] = "", exp[1100];
    if (beneath_resolve(clone_dir, rel, k, out, sizeof out, err, sizeof err) != 0)
        fail_msg("%s: %s", rel, err);
    char real[512];
    assert_non_null(realpath(clone_dir, real));
    snprintf(exp, sizeof exp, "%s%s%s", real, *want ? "/" : "", want);
    assert_string_equal(out, exp);
}

static void common_cases(void)
{
    resolved("Dockerfile", BENEATH_FILE, "Dockerfile");
    resolved("./app/Dockerfile", BENEATH_FILE, "app/Dockerfile");
    resolved(".", BENEATH_DIR, "");
    resolved("app", BENEATH_DIR, "app");
    refused("abs", BENEATH_FILE, "symbolic link leaving");
    refused("rel", BENEATH_FILE, "symbolic link leaving");
    refused("up", BENEATH_DIR, "symbolic link leaving");
    refused("up/credential", BENEATH_FILE, "symbolic link leaving");  /* a parent link */
    refused("root", BENEATH_DIR, "symbolic link leaving");
    refused("proc", BENEATH_DIR, "symbolic link leaving");
    refused("missing", BENEATH_FILE, "not in the repository");
    refused("app", BENEATH_FILE, "not a regular file");
    refused("Dockerfile", BENEATH_DIR, "not a directory");
}

static void with_openat2(void **state)
{
    (void)state;
    beneath_no_openat2 = 0;
    common_cases();
    /* links that stay inside resolve to their target, link-free */
    resolved("inside", BENEATH_FILE, "app/Dockerfile");
    resolved("insidedir", BENEATH_DIR, "app");
    refused("dangling", BENEATH_FILE, "not in the repository");
}

static void without_openat2(void **state)
{
    (void)state;
    beneath_no_openat2 = 1;
    common_cases();
    /* the walk cannot tell where a link goes: every link is refused */
    refused("inside", BENEATH_FILE, "symbolic link");
    refused("insidedir", BENEATH_DIR, "symbolic link");
    beneath_no_openat2 = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(with_openat2),
        cmocka_unit_test(without_openat2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
