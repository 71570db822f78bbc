/* test_access.c - src/berthd/access.c: scope names and lists, roles and
 * the role -> scope table. The expected table is written out here by
 * scope name, from the access rules (docs/access.md, design brief), not
 * taken from access.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access.h"

static const char *all_scopes[] = {
    "server:read", "server:write", "app:read", "app:write", "deploy:read",
    "deploy:write", "env:write", "script:run", "terminal:open", "token:write",
    "user:write", "org:write", "audit:read", "container:exec", "server:exec",
    "schedule:read", "schedule:write",
};
#define NSCOPES (sizeof all_scopes / sizeof all_scopes[0])

/* role -> the scopes it holds, by name. */
static const struct {
    enum role role;
    const char *name;
    const char *scopes;
} expected[] = {
    {ROLE_VIEWER, "viewer", "server:read app:read deploy:read token:write schedule:read"},
    {ROLE_DEVELOPER, "developer",
     "server:read app:read deploy:read token:write app:write deploy:write env:write script:run "
     "container:exec schedule:read schedule:write"},
    {ROLE_MANAGER, "manager",
     "server:read app:read deploy:read token:write app:write deploy:write env:write script:run "
     "container:exec server:write audit:read schedule:read schedule:write"},
    {ROLE_ADMIN, "admin",
     "server:read app:read deploy:read token:write app:write deploy:write env:write script:run "
     "container:exec server:write terminal:open audit:read user:write org:write server:exec "
     "schedule:read schedule:write"},
};

static int has_word(const char *list, const char *w)
{
    size_t l = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += l)
        if ((p == list || p[-1] == ' ') && (p[l] == ' ' || p[l] == '\0'))
            return 1;
    return 0;
}

static void scope_names_round_trip(void **state)
{
    (void)state;
    uint32_t seen = 0;
    for (size_t i = 0; i < NSCOPES; i++) {
        uint32_t s = access_scope_parse(all_scopes[i]);
        if (!s)
            fail_msg("scope %s unknown", all_scopes[i]);
        assert_int_equal(s & (s - 1), 0); /* one bit */
        assert_int_equal(seen & s, 0);    /* distinct */
        seen |= s;
        assert_string_equal(access_scope_name(s), all_scopes[i]);
    }
    assert_int_equal(seen, SC_ALL);
    assert_int_equal(SC_COUNT, (int)NSCOPES);
}

static void scope_parse_unknown(void **state)
{
    (void)state;
    assert_int_equal(access_scope_parse(""), 0);
    assert_int_equal(access_scope_parse("server"), 0);
    assert_int_equal(access_scope_parse("Server:Read"), 0);
    assert_int_equal(access_scope_parse("server:read "), 0);
    assert_int_equal(access_scope_parse("*"), 0); /* only lists know '*' */
    assert_string_equal(access_scope_name(0), "?");
    assert_string_equal(access_scope_name(SC_SERVER_READ | SC_APP_READ), "?");
}

static void scopes_list_round_trip_every_mask(void **state)
{
    (void)state;
    for (uint32_t m = 0; m <= SC_ALL; m++) {
        char text[512];
        uint32_t back = 0xffffffffu;
        access_scopes_format(m, text, sizeof text);
        if (access_scopes_parse(text, &back) < 0 || back != m)
            fail_msg("mask %#x -> '%s' -> %#x", m, text, back);
    }
}

static void scopes_list_parse_forms(void **state)
{
    (void)state;
    uint32_t m = 0;
    assert_int_equal(access_scopes_parse("", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(access_scopes_parse("*", &m), 0);
    assert_int_equal(m, SC_ALL & ~SC_EXCEPTIONAL); /* a host shell only by name */
    assert_int_equal(access_scopes_parse("* terminal:open", &m), 0);
    assert_int_equal(m, SC_ALL & ~SC_SERVER_EXEC);
    assert_int_equal(access_scopes_parse("  app:read   deploy:read ", &m), 0);
    assert_int_equal(m, SC_APP_READ | SC_DEPLOY_READ);
    assert_int_equal(access_scopes_parse("app:read app:read", &m), 0);
    assert_int_equal(m, SC_APP_READ);
}

static void scopes_list_parse_rejects(void **state)
{
    (void)state;
    uint32_t m = 12345;
    assert_int_equal(access_scopes_parse("app:read bogus", &m), -1);
    assert_int_equal(access_scopes_parse("app:read,deploy:read", &m), -1);
    assert_int_equal(access_scopes_parse("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &m),
                     -1);
    assert_int_equal(m, 12345); /* untouched on failure */
}

static void scopes_format_text(void **state)
{
    (void)state;
    char b[512];
    access_scopes_format(0, b, sizeof b);
    assert_string_equal(b, "");
    access_scopes_format(SC_APP_READ | SC_AUDIT_READ, b, sizeof b);
    assert_string_equal(b, "app:read audit:read");
}

static void scopes_format_small_buffer(void **state)
{
    (void)state;
    char b[16];
    memset(b, 'Z', sizeof b);
    access_scopes_format(SC_ALL, b, sizeof b);
    assert_true(memchr(b, '\0', sizeof b) != NULL);
    assert_true(strlen(b) < sizeof b);
}

static void role_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        assert_int_equal(access_role_parse(expected[i].name), expected[i].role);
        assert_string_equal(access_role_name(expected[i].role), expected[i].name);
    }
    assert_int_equal(access_role_parse("none"), ROLE_NONE);
    assert_int_equal(access_role_parse("Admin"), ROLE_NONE);
    assert_int_equal(access_role_parse("owner"), ROLE_NONE);
    assert_int_equal(access_role_parse(""), ROLE_NONE);
    assert_string_equal(access_role_name((enum role)42), "none");
    assert_int_equal(access_role_scopes(ROLE_NONE), 0);
}

static void role_scope_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        uint32_t have = access_role_scopes(expected[i].role);
        for (size_t s = 0; s < NSCOPES; s++) {
            int want = has_word(expected[i].scopes, all_scopes[s]);
            int got = (have & access_scope_parse(all_scopes[s])) != 0;
            if (want != got)
                fail_msg("role %s %s %s", expected[i].name, got ? "has" : "lacks",
                         all_scopes[s]);
        }
    }
}

/* The rules the table encodes, stated one by one. */
static void viewer_cannot_write(void **state)
{
    (void)state;
    uint32_t v = access_role_scopes(ROLE_VIEWER);
    assert_false(v & SC_USER_WRITE);
    assert_false(v & SC_ORG_WRITE);
    assert_false(v & SC_APP_WRITE);
    assert_false(v & SC_SERVER_WRITE);
    assert_false(v & SC_DEPLOY_WRITE);
    assert_false(v & SC_ENV_WRITE);
    assert_false(v & SC_TERMINAL_OPEN);
    assert_false(v & SC_AUDIT_READ);
    assert_true(v & SC_APP_READ);
}

static void only_admin_manages_people_and_orgs(void **state)
{
    (void)state;
    for (enum role r = ROLE_VIEWER; r < ROLE_ADMIN; r++) {
        assert_false(access_role_scopes(r) & SC_USER_WRITE);
        assert_false(access_role_scopes(r) & SC_ORG_WRITE);
    }
    assert_int_equal(access_role_scopes(ROLE_ADMIN), SC_ALL);
}

static void roles_are_nested(void **state)
{
    (void)state;
    for (enum role r = ROLE_VIEWER; r < ROLE_ADMIN; r++) {
        uint32_t lo = access_role_scopes(r), hi = access_role_scopes(r + 1);
        assert_int_equal(lo & ~hi, 0);
        assert_true(hi != lo);
    }
}

static void developer_deploys_but_no_terminal(void **state)
{
    (void)state;
    uint32_t d = access_role_scopes(ROLE_DEVELOPER);
    assert_true(d & SC_DEPLOY_WRITE);
    assert_true(d & SC_ENV_WRITE);
    assert_false(d & SC_TERMINAL_OPEN);
    assert_false(d & SC_SERVER_WRITE);
    assert_false(d & SC_AUDIT_READ);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_names_round_trip),
        cmocka_unit_test(scope_parse_unknown),
        cmocka_unit_test(scopes_list_round_trip_every_mask),
        cmocka_unit_test(scopes_list_parse_forms),
        cmocka_unit_test(scopes_list_parse_rejects),
        cmocka_unit_test(scopes_format_text),
        cmocka_unit_test(scopes_format_small_buffer),
        cmocka_unit_test(role_names),
        cmocka_unit_test(role_scope_table),
        cmocka_unit_test(viewer_cannot_write),
        cmocka_unit_test(only_admin_manages_people_and_orgs),
        cmocka_unit_test(roles_are_nested),
        cmocka_unit_test(developer_deploys_but_no_terminal),
    };
    return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
