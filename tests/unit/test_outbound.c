/* test_outbound.c - the address and URL policy of berthd's outbound
 * client (src/berthd/outbound.c): what is refused when saved and when a
 * socket is about to be opened, and what BERTH_OUTBOUND_ALLOW lets
 * through. The queue and the transfers are exercised against real
 * servers in tests/security/test_hooks.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "config.h"
#include "outbound.h"

static struct outbound *make(const char *allow, int http)
{
    struct config c;
    config_defaults(&c);
    snprintf(c.outbound_allow, sizeof c.outbound_allow, "%s", allow);
    c.outbound_http = http;
    c.outbound_threads = 1;
    return outbound_new(&c, NULL);
}

static int addr_ok(struct outbound *ob, const char *text)
{
    struct sockaddr_storage ss;
    char err[256];
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
    }
    return outbound_addr_check(ob, (struct sockaddr *)&ss, err, sizeof err) == 0;
}

static int url_ok(struct outbound *ob, const char *url)
{
    char err[256];
    return outbound_url_check(ob, url, err, sizeof err) == 0;
}

static void addresses(void **state)
{
    (void)state;
    struct outbound *ob = make("", 0);
    assert_non_null(ob);
    static const char *const refused[] = {
        "127.0.0.1", "127.255.0.9", "0.0.0.0", "10.1.2.3", "100.64.0.1", "169.254.169.254",
        "172.16.0.1", "172.31.255.255", "192.168.1.1", "192.0.2.1", "198.18.0.1", "224.0.0.1",
        "255.255.255.255", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1",
        "2001:db8::1", "2001::1", NULL};
    for (int i = 0; refused[i]; i++)
        if (addr_ok(ob, refused[i]))
            fail_msg("%s was allowed", refused[i]);
    static const char *const fine[] = {"140.82.112.6", "8.8.8.8", "172.32.0.1", "100.128.0.1",
                                       "2606:50c0:8000::154", "::ffff:140.82.112.6", NULL};
    for (int i = 0; fine[i]; i++)
        if (!addr_ok(ob, fine[i]))
            fail_msg("%s was refused", fine[i]);
    outbound_free(ob);
}

static void allow_list(void **state)
{
    (void)state;
    struct outbound *ob = make("127.0.0.1/32, 10.20.0.0/16,fd12::/64", 0);
    assert_non_null(ob);
    assert_true(addr_ok(ob, "127.0.0.1"));
    assert_false(addr_ok(ob, "127.0.0.2"));
    assert_true(addr_ok(ob, "10.20.9.9"));
    assert_false(addr_ok(ob, "10.21.0.1"));
    assert_true(addr_ok(ob, "::ffff:127.0.0.1"));
    assert_true(addr_ok(ob, "fd12::5"));
    assert_false(addr_ok(ob, "fd13::5"));
    outbound_free(ob);
    assert_null(make("10.0.0.0/33", 0));
    assert_null(make("not-a-range", 0));
}

static void urls(void **state)
{
    (void)state;
    struct outbound *ob = make("", 0);
    assert_true(url_ok(ob, "https://api.github.com"));
    assert_true(url_ok(ob, "https://ghe.example.com/api/v3"));
    assert_false(url_ok(ob, "http://api.github.com"));
    assert_false(url_ok(ob, "ftp://api.github.com"));
    assert_false(url_ok(ob, "https://u:p@api.github.com"));
    assert_false(url_ok(ob, "https://"));
    assert_false(url_ok(ob, "api.github.com"));
    static const char *const loop[] = {"https://127.0.0.1", "https://127.1", "https://2130706433",
                                       "https://0x7f000001", "https://0177.0.0.1",
                                       "https://localhost:8443", "https://LOCALHOST.",
                                       "https://x.localhost", "https://[::1]",
                                       "https://[::ffff:7f00:1]", "https://10.0.0.1",
                                       "https://169.254.169.254", NULL};
    for (int i = 0; loop[i]; i++)
        if (url_ok(ob, loop[i]))
            fail_msg("%s was allowed", loop[i]);
    outbound_free(ob);
    ob = make("127.0.0.1/32", 1);
    assert_true(url_ok(ob, "http://127.0.0.1:8080"));
    assert_true(url_ok(ob, "http://localhost:8080"));
    assert_false(url_ok(ob, "http://127.0.0.2"));
    outbound_free(ob);
}

static void fetch_only_on_outbound_threads(void **state)
{
    (void)state;
    struct outbound *ob = make("", 0);
    struct outbound_req rq = {"GET", "https://api.github.com", NULL, NULL, 0};
    struct outbound_resp rs;
    char err[256];
    assert_int_equal(outbound_fetch(ob, &rq, &rs, err, sizeof err), -1);
    assert_non_null(strstr(err, "outbound threads"));
    outbound_free(ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses),
        cmocka_unit_test(allow_list),
        cmocka_unit_test(urls),
        cmocka_unit_test(fetch_only_on_outbound_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
