/* test_router.c - src/berthd/router.c against the real route table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access.h"
#include "router.h"

struct hit {
    const struct route *rt;
    char params[REQ_MAX_PARAMS][128];
    int n;
    int path_matched;
};

static struct hit match(enum http_method m, const char *path)
{
    struct hit h;
    memset(&h, 0, sizeof h);
    h.n = -1;
    h.rt = router_match(m, path, h.params, &h.n, &h.path_matched);
    return h;
}

static void static_route(void **state)
{
    (void)state;
    struct hit h = match(HM_GET, "/healthz");
    assert_non_null(h.rt);
    assert_string_equal(h.rt->pattern, "/healthz");
    assert_int_equal(h.rt->auth, AUTH_PUBLIC);
    assert_int_equal(h.n, 0);
}

static void login_is_public_post(void **state)
{
    (void)state;
    struct hit h = match(HM_POST, "/api/v1/auth/login");
    assert_non_null(h.rt);
    assert_string_equal(h.rt->action, "auth.login");
    assert_int_equal(h.rt->auth, AUTH_PUBLIC);
}

static void one_param(void **state)
{
    (void)state;
    struct hit h = match(HM_GET, "/api/v1/orgs/acme");
    assert_non_null(h.rt);
    assert_string_equal(h.rt->pattern, "/api/v1/orgs/{org}");
    assert_int_equal(h.n, 1);
    assert_string_equal(h.params[0], "acme");
}

static void two_params(void **state)
{
    (void)state;
    struct hit h = match(HM_PATCH, "/api/v1/orgs/acme/members/alice@example.com");
    assert_non_null(h.rt);
    assert_string_equal(h.rt->action, "member.update");
    assert_int_equal(h.n, 2);
    assert_string_equal(h.params[0], "acme");
    assert_string_equal(h.params[1], "alice@example.com");
}

static void method_picks_route(void **state)
{
    (void)state;
    struct hit g = match(HM_GET, "/api/v1/orgs/acme/members");
    struct hit p = match(HM_POST, "/api/v1/orgs/acme/members");
    assert_non_null(g.rt);
    assert_non_null(p.rt);
    assert_string_equal(g.rt->action, "member.list");
    assert_string_equal(p.rt->action, "member.add");
    assert_int_equal(p.rt->scope, SC_USER_WRITE);
    struct hit d = match(HM_DELETE, "/api/v1/tokens/17");
    assert_non_null(d.rt);
    assert_string_equal(d.rt->action, "token.revoke");
    assert_string_equal(d.params[0], "17");
}

static void trailing_slash_tolerated(void **state)
{
    (void)state;
    struct hit h = match(HM_GET, "/api/v1/orgs/");
    assert_non_null(h.rt);
    assert_string_equal(h.rt->pattern, "/api/v1/orgs");
    h = match(HM_GET, "/api/v1/orgs/acme/");
    assert_non_null(h.rt);
    assert_string_equal(h.rt->pattern, "/api/v1/orgs/{org}");
    assert_string_equal(h.params[0], "acme");
}

static void double_trailing_slash_refused(void **state)
{
    (void)state;
    struct hit h = match(HM_GET, "/api/v1/orgs//");
    assert_null(h.rt);
    h = match(HM_GET, "/healthz//");
    assert_null(h.rt);
}

static void empty_param_refused(void **state)
{
    (void)state;
    struct hit h = match(HM_GET, "/api/v1/orgs//members");
    assert_null(h.rt);
    assert_int_equal(h.path_matched, 0);
}

static void long_param_refused(void **state)
{
    (void)state;
    char path[400];
    char seg[200];
    memset(seg, 'a', 150);
    seg[150] = '\0';
    snprintf(path, sizeof path, "/api/v1/orgs/%s", seg);
    struct hit h = match(HM_GET, path);
    assert_null(h.rt);
    assert_int_equal(h.path_matched, ROUTER_BAD_PARAM);
    seg[63] = '\0'; /* an organization reference is at most 63 */
    snprintf(path, sizeof path, "/api/v1/orgs/%s", seg);
    h = match(HM_GET, path);
    assert_non_null(h.rt);
    assert_int_equal(strlen(h.params[0]), 63);
}

/* What lws' decoding can put in a parameter ('.', '..', control bytes,
 * '%', non-ASCII) is a 400 (ROUTER_BAD_PARAM), never another route. */
static void param_grammar(void **state)
{
    (void)state;
    const char *bad[] = {
        "/api/v1/orgs/./apps",           "/api/v1/orgs/../apps",
        "/api/v1/orgs/a.b/apps",         "/api/v1/orgs/acme/apps/..",
        "/api/v1/orgs/acme/apps/a b",    "/api/v1/orgs/acme/apps/web/env/..",
        "/api/v1/orgs/acme/apps/web/env/A B", "/api/v1/orgs/acme/apps/web/env/A%2eB",
        "/api/v1/orgs/acme/apps/web/env/A\nB", "/api/v1/orgs/acme/servers/.hidden",
        "/api/v1/orgs/acme/servers/a\001b", "/api/v1/orgs/acme/servers/\xc3\xa9",
        "/api/v1/orgs/acme/servers/\xff",   "/api/v1/orgs/acme/jobs/1 ",
        "/api/v1/orgs/acme/members/a\177b", "/api/v1/orgs/acme/members/..",
        "/api/v1/tokens/..",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hit h = match(strstr(bad[i], "/members/") || strstr(bad[i], "/env/") ||
                                     strstr(bad[i], "/tokens/") ? HM_DELETE : HM_GET,
                             bad[i]);
        if (h.rt || h.path_matched != ROUTER_BAD_PARAM)
            fail_msg("%s: %s (%d)", bad[i], h.rt ? h.rt->pattern : "no route", h.path_matched);
    }
    const char *good[] = {
        "/api/v1/orgs/acme/apps/web-2",          "/api/v1/orgs/42/apps/7",
        "/api/v1/orgs/acme/servers/db.eu-1_a",   "/api/v1/orgs/acme/apps/web/env/DB_URL",
        "/api/v1/orgs/acme/members/a.b+c@example.com", "/api/v1/orgs/acme/members/12",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct hit h = match(strstr(good[i], "/members/") || strstr(good[i], "/env/")
                                 ? HM_DELETE : HM_GET, good[i]);
        if (!h.rt)
            fail_msg("%s refused (%d)", good[i], h.path_matched);
    }
    assert_int_equal(router_param_ok("nope", 4, "x"), 0);
}

static void unknown_paths(void **state)
{
    (void)state;
    const char *bad[] = {"/", "", "/api", "/api/v1", "/api/v1/nope", "/api/v1/orgsx",
                         "/api/v1/orgs/acme/extra", "/api/v1/orgs/acme/members/1/x",
                         "/healthzz", "/HEALTHZ", "api/v1/orgs", "/api/v2/orgs"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hit h = match(HM_GET, bad[i]);
        if (h.rt || h.path_matched)
            fail_msg("'%s' matched", bad[i]);
    }
}

static void method_not_allowed(void **state)
{
    (void)state;
    struct hit h = match(HM_PUT, "/api/v1/orgs");
    assert_null(h.rt);
    assert_int_equal(h.path_matched, 1);
    h = match(HM_DELETE, "/api/v1/me");
    assert_null(h.rt);
    assert_int_equal(h.path_matched, 1);
    h = match(HM_GET, "/api/v1/auth/login");
    assert_null(h.rt);
    assert_int_equal(h.path_matched, 1);
    h = match(HM_OTHER, "/healthz");
    assert_null(h.rt);
    assert_int_equal(h.path_matched, 1);
    h = match(HM_POST, "/api/v1/orgs/acme/members/5/");
    assert_null(h.rt);
    assert_int_equal(h.path_matched, 1);
}

static void head_follows_get(void **state)
{
    (void)state;
    struct hit h = match(HM_HEAD, "/healthz");
    assert_non_null(h.rt);
    assert_int_equal(h.rt->method, HM_GET);
    h = match(HM_HEAD, "/api/v1/auth/login"); /* POST only */
    assert_null(h.rt);
    assert_int_equal(h.path_matched, 1);
}

/* Builds a concrete path from a pattern, each {param} -> "p<i>x". */
static void fill(const char *pat, char *out, size_t n)
{
    size_t o = 0;
    int k = 0;
    for (const char *p = pat; *p && o + 8 < n;) {
        if (*p == '{') {
            int user = strncmp(p, "{user}", 6) == 0;
            o += (size_t)snprintf(out + o, n - o, user ? "p%dx@example.com" : "p%dx", k++);
            p = strchr(p, '}') + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* Every row is reachable through the matcher, with its parameters, and no
 * row hides another one. */
static void every_route_matches_itself(void **state)
{
    (void)state;
    assert_true(routes_count > 10);
    for (int i = 0; i < routes_count; i++) {
        char path[512];
        fill(routes[i].pattern, path, sizeof path);
        struct hit h = match(routes[i].method, path);
        if (h.rt != &routes[i])
            fail_msg("%s %s resolved to %s", router_method_name(routes[i].method),
                     routes[i].pattern, h.rt ? h.rt->pattern : "nothing");
        int want = 0;
        for (const char *p = routes[i].pattern; *p; p++)
            want += *p == '{';
        assert_int_equal(h.n, want);
        for (int k = 0; k < want; k++) {
            char v[32];
            snprintf(v, sizeof v, strstr(routes[i].pattern, "{user}") && k == 1 ? "p%dx@example.com"
                                                                                : "p%dx", k);
            assert_string_equal(h.params[k], v);
        }
    }
}

static void route_table_is_sane(void **state)
{
    (void)state;
    for (int i = 0; i < routes_count; i++) {
        const struct route *r = &routes[i];
        assert_non_null(r->fn);
        assert_true(r->pattern[0] == '/');
        for (int j = 0; j < i; j++)
            if (routes[j].method == r->method && strcmp(routes[j].pattern, r->pattern) == 0)
                fail_msg("duplicate route %s %s", router_method_name(r->method), r->pattern);
        /* the guard reads the org from the first parameter */
        if (r->auth == AUTH_ORG && strncmp(r->pattern, "/api/v1/orgs/{org}", 18) != 0)
            fail_msg("org route %s does not start with /api/v1/orgs/{org}", r->pattern);
        /* a public route cannot ask for a scope it will never check */
        if (r->auth == AUTH_PUBLIC)
            assert_int_equal(r->scope, 0);
        if (r->scope)
            assert_string_not_equal(access_scope_name(r->scope), "?");
        /* every mutation is audited under an action name */
        if (r->method != HM_GET)
            if (!r->action)
                fail_msg("mutation %s has no audit action", r->pattern);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(static_route),
        cmocka_unit_test(login_is_public_post),
        cmocka_unit_test(one_param),
        cmocka_unit_test(two_params),
        cmocka_unit_test(method_picks_route),
        cmocka_unit_test(trailing_slash_tolerated),
        cmocka_unit_test(double_trailing_slash_refused),
        cmocka_unit_test(empty_param_refused),
        cmocka_unit_test(long_param_refused),
        cmocka_unit_test(unknown_paths),
        cmocka_unit_test(method_not_allowed),
        cmocka_unit_test(head_follows_get),
        cmocka_unit_test(every_route_matches_itself),
        cmocka_unit_test(param_grammar),
        cmocka_unit_test(route_table_is_sane),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
