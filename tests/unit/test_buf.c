/* test_buf.c - src/core/buf.c: the capped growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void init_is_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100);
    buf_release(&b);
}

static void append_and_terminate(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_int_equal(buf_append(&b, "def", 3), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void append_binary(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 3);
    buf_release(&b);
}

static void cap_exact_fits(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345678", 8), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    buf_release(&b);
}

static void cap_one_over_refused(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "1234", 4), 0);
    assert_int_equal(buf_append(&b, "56789", 5), -1);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "1234");
    assert_int_equal(buf_append(&b, "5678", 4), 0); /* still usable up to the cap */
    assert_int_equal(buf_append(&b, "9", 1), -1);
    assert_int_equal(b.len, 8);
    buf_release(&b);
}

static void cap_single_oversized_append(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1000);
    char big[1001];
    memset(big, 'x', sizeof big);
    assert_int_equal(buf_append(&b, big, sizeof big), -1);
    assert_int_equal(b.len, 0);
    buf_release(&b);
}

static void cap_bounds_allocation(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 300);
    char chunk[100];
    memset(chunk, 'y', sizeof chunk);
    for (int i = 0; i < 3; i++)
        assert_int_equal(buf_append(&b, chunk, sizeof chunk), 0);
    assert_int_equal(buf_append(&b, chunk, 1), -1);
    assert_true(b.cap <= b.max + 1); /* never allocates past max + NUL */
    buf_release(&b);
}

static void grows_past_first_block(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 99990, "0123456789", 10);
    buf_release(&b);
}

static void printf_formats(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_printf(&b, "%s=%d", "n", 42), 0);
    assert_int_equal(buf_printf(&b, ";%05.1f", 3.14159), 0);
    assert_string_equal(b.data, "n=42;003.1");
    assert_int_equal(b.len, strlen("n=42;003.1"));
    buf_release(&b);
}

static void printf_respects_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_printf(&b, "%s", "12345"), 0);
    assert_int_equal(buf_printf(&b, "%s", "678901"), -1);
    assert_string_equal(b.data, "12345");
    assert_int_equal(b.len, 5);
    assert_int_equal(buf_printf(&b, "%d", 67890), 0);
    assert_string_equal(b.data, "1234567890");
    buf_release(&b);
}

static void printf_long_output_grows(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10000);
    char s[3000];
    memset(s, 'q', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    assert_int_equal(buf_printf(&b, "<%s>", s), 0);
    assert_int_equal(b.len, 3001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[3000], '>');
    buf_release(&b);
}

static void steal_hands_over(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    buf_append(&b, "payload", 7);
    size_t len = 0;
    char *d = buf_steal(&b, &len);
    assert_non_null(d);
    assert_int_equal(len, 7);
    assert_string_equal(d, "payload");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    /* the buffer is reusable, and the max survives */
    assert_int_equal(buf_append(&b, "again", 5), 0);
    assert_string_equal(b.data, "again");
    assert_int_equal(b.max, 100);
    buf_release(&b);
    free(d);
}

static void steal_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    size_t len = 42;
    assert_null(buf_steal(&b, &len));
    assert_int_equal(len, 0);
    assert_null(buf_steal(&b, NULL));
}

static void clear_keeps_memory(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    buf_append(&b, "abc", 3);
    char *before = b.data;
    buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, before);
    assert_string_equal(b.data, "");
    buf_append(&b, "z", 1);
    assert_string_equal(b.data, "z");
    buf_release(&b);
    buf_clear(&b); /* clear of a released buffer is harmless */
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_is_empty),         cmocka_unit_test(append_and_terminate),
        cmocka_unit_test(append_binary),         cmocka_unit_test(cap_exact_fits),
        cmocka_unit_test(cap_one_over_refused),  cmocka_unit_test(cap_single_oversized_append),
        cmocka_unit_test(cap_bounds_allocation), cmocka_unit_test(grows_past_first_block),
        cmocka_unit_test(printf_formats),        cmocka_unit_test(printf_respects_cap),
        cmocka_unit_test(printf_long_output_grows), cmocka_unit_test(steal_hands_over),
        cmocka_unit_test(steal_empty),           cmocka_unit_test(clear_keeps_memory),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
