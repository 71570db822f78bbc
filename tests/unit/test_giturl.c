/* test_giturl.c - src/berthd/giturl.c: the normal form of repository URLs
 * that push webhooks are matched by (docs/webhooks.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "giturl.h"

static void expect_norm(const char *url, const char *want)
{
    char out[GITURL_MAX];
    int rc = giturl_normalize(url, out, sizeof out);
    if (rc != 0)
        fail_msg("'%s' did not normalise", url);
    if (strcmp(out, want) != 0)
        fail_msg("'%s' -> '%s', want '%s'", url, out, want);
}

static void expect_bad(const char *url)
{
    char out[GITURL_MAX];
    if (giturl_normalize(url, out, sizeof out) == 0)
        fail_msg("'%s' normalised to '%s'; want a refusal", url, out);
    assert_string_equal(out, "");
}

static void https_forms(void **state)
{
    (void)state;
    expect_norm("https://github.com/acme/web.git", "github.com/acme/web");
    expect_norm("https://github.com/acme/web", "github.com/acme/web");
    expect_norm("https://github.com/acme/web/", "github.com/acme/web");
    expect_norm("https://github.com/acme/web.git/", "github.com/acme/web");
    expect_norm("HTTPS://GitHub.COM/Acme/Web.GIT", "github.com/acme/web");
    expect_norm("http://git.example.com:3000/acme/web.git", "git.example.com/acme/web");
    expect_norm("https://user@git.example.com/acme/web.git", "git.example.com/acme/web");
    expect_norm("https://gitlab.example.com/group/sub/project.git?x=1#y",
                "gitlab.example.com/group/sub/project");
}

static void ssh_and_git_forms(void **state)
{
    (void)state;
    expect_norm("git@github.com:acme/web.git", "github.com/acme/web");
    expect_norm("git@github.com:acme/web", "github.com/acme/web");
    expect_norm("github.com:acme/web.git", "github.com/acme/web");
    expect_norm("git@github.com:/acme/web.git", "github.com/acme/web");
    expect_norm("ssh://git@github.com/acme/web.git", "github.com/acme/web");
    expect_norm("ssh://git@gitlab.example.com:2222/group/sub/project.git",
                "gitlab.example.com/group/sub/project");
    expect_norm("SSH://git@Git.Example.com:22/acme/web", "git.example.com/acme/web");
    expect_norm("git://github.com/acme/web.git", "github.com/acme/web");
    expect_norm("git+ssh://git@github.com/acme/web.git", "github.com/acme/web");
    expect_norm("ssh://git@[::1]:2222/acme/web.git", "[::1]/acme/web");
}

static void same_repository_across_schemes(void **state)
{
    (void)state;
    const char *forms[] = {
        "https://github.com/acme/web.git", "http://github.com/acme/web",
        "git@github.com:acme/web.git",     "ssh://git@github.com:22/acme/web",
        "git://github.com/acme/web.git",   "https://github.com/Acme/Web/",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        for (size_t j = 0; j < sizeof forms / sizeof forms[0]; j++)
            if (!giturl_same(forms[i], forms[j]))
                fail_msg("'%s' and '%s' should match", forms[i], forms[j]);
}

static void different_repositories_differ(void **state)
{
    (void)state;
    assert_false(giturl_same("https://github.com/acme/web.git", "https://github.com/acme/api.git"));
    assert_false(giturl_same("https://github.com/acme/web", "https://gitlab.com/acme/web"));
    assert_false(giturl_same("https://github.com/acme/web", "https://github.com/acme/web2"));
    assert_false(giturl_same("https://github.com/acme/web", "https://github.com/acme/web/tree"));
    assert_false(giturl_same("https://github.com/acme/web", "not a url"));
    assert_false(giturl_same("not a url", "not a url"));
}

static void refusals(void **state)
{
    (void)state;
    expect_bad("");
    expect_bad("/srv/git/web.git");
    expect_bad("./web");
    expect_bad("ftp://example.com/acme/web.git");
    expect_bad("https://");
    expect_bad("https:///acme/web");
    expect_bad("https://github.com");
    expect_bad("https://github.com/");
    expect_bad("https://github.com/.git");
    expect_bad("git@github.com:");
    expect_bad(":acme/web");
    expect_bad("https://github.com/acme/we b");
    expect_bad("file:///srv/git/web.git");
}

static void small_buffer_refused(void **state)
{
    (void)state;
    char out[12];
    assert_int_equal(giturl_normalize("https://github.com/acme/web.git", out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(giturl_normalize("https://a.b/c", out, sizeof out), 0);
    assert_string_equal(out, "a.b/c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(https_forms),
        cmocka_unit_test(ssh_and_git_forms),
        cmocka_unit_test(same_repository_across_schemes),
        cmocka_unit_test(different_repositories_differ),
        cmocka_unit_test(refusals),
        cmocka_unit_test(small_buffer_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
