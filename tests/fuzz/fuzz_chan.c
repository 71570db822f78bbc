/* fuzz_chan.c - channel frames of the runner link (src/core/chan.c), as
 * either end receives them from the other: a runner host or berthd.
 *
 * Input: byte 0 even: the rest is a binary data frame; odd: the rest is a
 * JSON text frame, given to every control parser. Checked: no crash, no
 * sanitizer report, no leak; a refusal always says why; a data frame that
 * parses stays inside its input with 1..64 KiB of payload; a chan.open
 * that parses is rebuilt by the builder (what one side accepts, the other
 * can send) and parses back the same; credit never goes negative. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

static void control(const char *text, size_t len)
{
    json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        return;
    }
    char err[256];
    struct chan_open_msg o;
    err[0] = '\0';
    if (chan_parse_open(m, &o, err, sizeof err) == 0) {
        json_t *again = chan_open_msg(&o.o);
        assert(again); /* the builder takes what the parser took */
        struct chan_open_msg p;
        assert(chan_parse_open(again, &p, err, sizeof err) == 0);
        assert(p.o.id == o.o.id && p.o.kind == o.o.kind && p.o.argc == o.o.argc &&
               p.o.cols == o.o.cols && p.o.rows == o.o.rows && p.o.window == o.o.window &&
               p.o.tty == o.o.tty && p.o.idle_s == o.o.idle_s && p.o.no_stdin == o.o.no_stdin);
        for (size_t i = 0; i < p.o.argc; i++)
            assert(strcmp(p.o.argv[i], o.o.argv[i]) == 0);
        chan_open_release(&p);
        json_decref(again);
        chan_open_release(&o);
    } else {
        assert(err[0]);
    }
    uint32_t id;
    int64_t n;
    int cols, rows;
    struct chan_credit c = {CHAN_WINDOW_DEFAULT};
    if (chan_parse_opened(m, &id, &n, err, sizeof err) == 0)
        assert(id && n >= CHAN_WINDOW_MIN && n <= CHAN_WINDOW_MAX);
    if (chan_parse_credit(m, &id, &n, err, sizeof err) == 0) {
        chan_credit_grant(&c, n);
        assert(c.avail > 0 && c.avail <= CHAN_WINDOW_MAX);
    }
    if (chan_parse_resize(m, &id, &cols, &rows, err, sizeof err) == 0)
        json_decref(chan_resize_msg(id, cols, rows));
    struct chan_close cl;
    if (chan_parse_close(m, &cl, err, sizeof err) == 0) {
        json_t *again = chan_close_msg(cl.id, cl.reason, cl.exit_code);
        assert(again);
        json_decref(again);
    }
    json_decref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        control((const char *)data + 1, size - 1);
        return 0;
    }
    struct chan_data d;
    char err[128] = "";
    if (chan_data_parse(data + 1, size - 1, &d, err, sizeof err) == 0) {
        assert(d.id && d.len >= 1 && d.len <= CHAN_DATA_MAX);
        assert(d.data >= data + 1 && d.data + d.len == data + size);
        struct chan_credit c = {CHAN_WINDOW_MIN};
        if (chan_credit_take(&c, d.len) == 0)
            assert(c.avail >= 0);
    } else {
        assert(err[0]);
    }
    return 0;
}
