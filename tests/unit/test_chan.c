/* test_chan.c - channel frames of the runner link (src/core/chan.c):
 * every control frame round-trips through text, the binary layout holds,
 * each parser refuses what breaks its bounds, and credit never goes
 * negative or past the window cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chan.h"

#include <stdlib.h>
#include <string.h>

/* Dumps msg and loads it back, as the other side would see it. */
static json_t *wire(json_t *msg)
{
    assert_non_null(msg);
    char *s = json_dumps(msg, JSON_COMPACT);
    assert_non_null(s);
    json_t *back = json_loads(s, 0, NULL);
    assert_non_null(back);
    free(s);
    json_decref(msg);
    return back;
}

static void data_frames(void **state)
{
    (void)state;
    uint8_t f[CHAN_HDR + 3];
    chan_data_header(f, 0x01020304u, CHAN_STDERR);
    memcpy(f + CHAN_HDR, "abc", 3);
    struct chan_data d;
    char err[128];
    assert_int_equal(chan_data_parse(f, sizeof f, &d, err, sizeof err), 0);
    assert_int_equal(d.id, 0x01020304u);
    assert_int_equal(d.stream, CHAN_STDERR);
    assert_int_equal(d.len, 3);
    assert_memory_equal(d.data, "abc", 3);
    /* refusals: too short, unknown kind, channel 0, unknown stream, too long */
    assert_int_equal(chan_data_parse(f, CHAN_HDR, &d, err, sizeof err), -1);
    f[0] = 2;
    assert_int_equal(chan_data_parse(f, sizeof f, &d, err, sizeof err), -1);
    chan_data_header(f, 0, CHAN_STDIO);
    assert_int_equal(chan_data_parse(f, sizeof f, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "channel 0"));
    chan_data_header(f, 7, CHAN_STDIO);
    f[5] = 2;
    assert_int_equal(chan_data_parse(f, sizeof f, &d, err, sizeof err), -1);
    uint8_t *big = calloc(1, CHAN_HDR + CHAN_DATA_MAX + 1);
    assert_non_null(big);
    chan_data_header(big, 7, CHAN_STDIO);
    assert_int_equal(chan_data_parse(big, CHAN_HDR + CHAN_DATA_MAX, &d, err, sizeof err), 0);
    assert_int_equal(chan_data_parse(big, CHAN_HDR + CHAN_DATA_MAX + 1, &d, err, sizeof err),
                     -1);
    free(big);
}

static void open_roundtrip(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo hi"};
    struct chan_open o = {.id = 9, .kind = CHAN_EXEC, .container = "berth-abc-1-2",
                          .argv = argv, .argc = 3, .tty = 0, .cols = 80, .rows = 24,
                          .window = CHAN_WINDOW_DEFAULT, .idle_s = 900, .no_stdin = 1};
    json_t *m = wire(chan_open_msg(&o));
    assert_string_equal(json_string_value(json_object_get(m, "type")), "chan.open");
    struct chan_open_msg p;
    char err[128];
    assert_int_equal(chan_parse_open(m, &p, err, sizeof err), 0);
    assert_int_equal(p.o.id, 9);
    assert_int_equal(p.o.kind, CHAN_EXEC);
    assert_string_equal(p.o.container, "berth-abc-1-2");
    assert_int_equal(p.o.argc, 3);
    assert_string_equal(p.o.argv[2], "echo hi");
    assert_int_equal(p.o.tty, 0);
    assert_int_equal(p.o.window, CHAN_WINDOW_DEFAULT);
    assert_int_equal(p.o.idle_s, 900);
    assert_int_equal(p.o.no_stdin, 1);
    chan_open_release(&p);
    json_decref(m);

    /* a shell has a tty, no argv, and may be on the host */
    struct chan_open sh = {.id = 1, .kind = CHAN_SHELL, .cols = 200, .rows = 50,
                           .window = CHAN_WINDOW_MIN};
    m = wire(chan_open_msg(&sh));
    assert_int_equal(chan_parse_open(m, &p, err, sizeof err), 0);
    assert_int_equal(p.o.kind, CHAN_SHELL);
    assert_int_equal(p.o.tty, 1);
    assert_null(p.o.container);
    assert_int_equal(p.o.argc, 0);
    chan_open_release(&p);
    json_decref(m);

    /* builders refuse what parsers would */
    struct chan_open bad = sh;
    bad.id = 0;
    assert_null(chan_open_msg(&bad));
    bad = sh;
    bad.cols = 0;
    assert_null(chan_open_msg(&bad));
    bad = sh;
    bad.window = CHAN_WINDOW_MAX + 1;
    assert_null(chan_open_msg(&bad));
    bad = o;
    bad.argc = 0;
    assert_null(chan_open_msg(&bad));
    bad = sh;
    bad.argv = argv;
    bad.argc = 1;
    assert_null(chan_open_msg(&bad));
}

static void open_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"chan\":0,\"kind\":\"shell\",\"tty\":true,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0}",
        "{\"chan\":4294967296,\"kind\":\"shell\",\"tty\":true,\"cols\":80,\"rows\":24,"
        "\"window\":65536,\"idle_s\":0}",
        "{\"chan\":1,\"kind\":\"root\",\"tty\":true,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0}",
        "{\"chan\":1,\"kind\":\"shell\",\"tty\":1,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0}",
        "{\"chan\":1,\"kind\":\"shell\",\"tty\":true,\"cols\":1001,\"rows\":24,"
        "\"window\":65536,\"idle_s\":0}",
        "{\"chan\":1,\"kind\":\"shell\",\"tty\":true,\"cols\":80,\"rows\":24,\"window\":1,"
        "\"idle_s\":0}",
        "{\"chan\":1,\"kind\":\"shell\",\"tty\":true,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0,\"argv\":[\"x\"]}",
        "{\"chan\":1,\"kind\":\"exec\",\"tty\":false,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0,\"argv\":[]}",
        "{\"chan\":1,\"kind\":\"exec\",\"tty\":false,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0,\"argv\":[\"a\\u0000b\"]}",
        "{\"chan\":1,\"kind\":\"exec\",\"tty\":false,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0,\"argv\":[\"\"]}",
        "{\"chan\":1,\"kind\":\"exec\",\"tty\":false,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":0,\"argv\":[\"ls\"],\"container\":\"\"}",
        "{\"chan\":1,\"kind\":\"exec\",\"tty\":false,\"cols\":80,\"rows\":24,\"window\":65536,"
        "\"idle_s\":-1,\"argv\":[\"ls\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *m = json_loads(bad[i], JSON_ALLOW_NUL, NULL);
        assert_non_null(m);
        struct chan_open_msg p;
        char err[128] = "";
        assert_int_equal(chan_parse_open(m, &p, err, sizeof err), -1);
        assert_true(err[0] != '\0'); /* a refusal says which field */
        assert_null(p.argv_store);
        json_decref(m);
    }
}

static void small_frames(void **state)
{
    (void)state;
    uint32_t id;
    int64_t n;
    int cols, rows;
    char err[128];
    json_t *m = wire(chan_opened_msg(3, 65536));
    assert_int_equal(chan_parse_opened(m, &id, &n, err, sizeof err), 0);
    assert_int_equal(id, 3);
    assert_int_equal(n, 65536);
    json_decref(m);
    m = wire(chan_credit_msg(3, 4096));
    assert_int_equal(chan_parse_credit(m, &id, &n, err, sizeof err), 0);
    assert_int_equal(n, 4096);
    json_decref(m);
    assert_null(chan_credit_msg(3, 0));
    assert_null(chan_credit_msg(3, CHAN_WINDOW_MAX + 1));
    m = wire(chan_resize_msg(3, 132, 43));
    assert_int_equal(chan_parse_resize(m, &id, &cols, &rows, err, sizeof err), 0);
    assert_int_equal(cols, 132);
    assert_int_equal(rows, 43);
    json_decref(m);
    assert_null(chan_resize_msg(3, 0, 43));

    struct chan_close c;
    m = wire(chan_close_msg(3, "exited", 2));
    assert_int_equal(chan_parse_close(m, &c, err, sizeof err), 0);
    assert_string_equal(c.reason, "exited");
    assert_int_equal(c.exit_code, 2);
    json_decref(m);
    assert_null(chan_close_msg(3, "x", 256));
    /* a long reason is cut on a character boundary, never made invalid */
    char reason[CHAN_REASON_MAX + 8];
    memset(reason, 'a', sizeof reason);
    memcpy(reason + CHAN_REASON_MAX - 1, "\xc3\xa9", 2); /* U+00E9 across the cut */
    reason[sizeof reason - 1] = '\0';
    m = wire(chan_close_msg(3, reason, -1));
    assert_int_equal(chan_parse_close(m, &c, err, sizeof err), 0);
    assert_int_equal(strlen(c.reason), CHAN_REASON_MAX - 1);
    assert_int_equal(c.exit_code, -1);
    json_decref(m);
    m = json_loads("{\"chan\":3,\"reason\":7,\"exit_code\":0}", 0, NULL);
    assert_int_equal(chan_parse_close(m, &c, err, sizeof err), -1);
    json_decref(m);
}

static void credit(void **state)
{
    (void)state;
    struct chan_credit c = {CHAN_WINDOW_DEFAULT};
    assert_int_equal(chan_credit_take(&c, CHAN_WINDOW_DEFAULT), 0);
    assert_int_equal(c.avail, 0);
    assert_int_equal(chan_credit_take(&c, 1), -1); /* nothing taken */
    assert_int_equal(c.avail, 0);
    chan_credit_grant(&c, 10);
    assert_int_equal(chan_credit_take(&c, 11), -1);
    assert_int_equal(chan_credit_take(&c, 10), 0);
    chan_credit_grant(&c, INT64_MAX); /* saturates at the cap */
    assert_int_equal(c.avail, CHAN_WINDOW_MAX);
    chan_credit_grant(&c, -5);
    assert_int_equal(c.avail, CHAN_WINDOW_MAX);
    assert_int_equal(chan_credit_take(&c, SIZE_MAX), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(data_frames),   cmocka_unit_test(open_roundtrip),
        cmocka_unit_test(open_refusals), cmocka_unit_test(small_frames),
        cmocka_unit_test(credit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
