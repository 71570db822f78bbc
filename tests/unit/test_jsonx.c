/* test_jsonx.c - src/core/jsonx.c: typed getters and body parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "jsonx.h"

static json_t *obj(const char *text)
{
    char err[256];
    json_t *o = jx_parse_object(text, strlen(text), err, sizeof err);
    if (!o)
        fail_msg("parse of %s failed: %s", text, err);
    return o;
}

static const char *sample =
    "{\"s\":\"str\",\"i\":42,\"neg\":-5,\"f\":1.5,\"b\":true,\"bf\":false,"
    "\"a\":[1,2],\"o\":{\"k\":1},\"n\":null}";

static void string_ok(void **state)
{
    (void)state;
    json_t *o = obj(sample);
    const char *s = NULL;
    assert_int_equal(jx_string(o, "s", &s), JX_OK);
    assert_string_equal(s, "str");
    json_decref(o);
}

static void int_ok(void **state)
{
    (void)state;
    json_t *o = obj(sample);
    int64_t v = 0;
    assert_int_equal(jx_int(o, "i", &v), JX_OK);
    assert_int_equal(v, 42);
    assert_int_equal(jx_int(o, "neg", &v), JX_OK);
    assert_int_equal(v, -5);
    json_decref(o);
}

static void bool_ok(void **state)
{
    (void)state;
    json_t *o = obj(sample);
    int v = -1;
    assert_int_equal(jx_bool(o, "b", &v), JX_OK);
    assert_int_equal(v, 1);
    assert_int_equal(jx_bool(o, "bf", &v), JX_OK);
    assert_int_equal(v, 0);
    json_decref(o);
}

static void array_and_object_ok(void **state)
{
    (void)state;
    json_t *o = obj(sample);
    json_t *a = NULL, *oo = NULL;
    assert_int_equal(jx_array(o, "a", &a), JX_OK);
    assert_int_equal(json_array_size(a), 2);
    assert_int_equal(jx_object(o, "o", &oo), JX_OK);
    assert_non_null(json_object_get(oo, "k"));
    json_decref(o);
}

static void missing_fields(void **state)
{
    (void)state;
    json_t *o = obj(sample);
    const char *s = "untouched";
    int64_t i = 7;
    int b = 7;
    json_t *a = NULL;
    assert_int_equal(jx_string(o, "absent", &s), JX_MISSING);
    assert_int_equal(jx_int(o, "absent", &i), JX_MISSING);
    assert_int_equal(jx_bool(o, "absent", &b), JX_MISSING);
    assert_int_equal(jx_array(o, "absent", &a), JX_MISSING);
    assert_int_equal(jx_object(o, "absent", &a), JX_MISSING);
    assert_string_equal(s, "untouched");
    assert_int_equal(i, 7);
    assert_int_equal(b, 7);
    assert_null(a);
    json_decref(o);
}

static void null_counts_as_missing(void **state)
{
    (void)state;
    json_t *o = obj(sample);
    const char *s = "untouched";
    int64_t i = 7;
    assert_int_equal(jx_string(o, "n", &s), JX_MISSING);
    assert_int_equal(jx_int(o, "n", &i), JX_MISSING);
    assert_string_equal(s, "untouched");
    json_decref(o);
}

static void wrong_types(void **state)
{
    (void)state;
    json_t *o = obj(sample);
    const char *s = "untouched";
    int64_t i = 7;
    int b = 7;
    json_t *a = NULL;
    assert_int_equal(jx_string(o, "i", &s), JX_WRONG_TYPE);
    assert_int_equal(jx_string(o, "a", &s), JX_WRONG_TYPE);
    assert_int_equal(jx_int(o, "s", &i), JX_WRONG_TYPE);
    assert_int_equal(jx_int(o, "f", &i), JX_WRONG_TYPE);  /* 1.5 is not an integer */
    assert_int_equal(jx_int(o, "b", &i), JX_WRONG_TYPE);
    assert_int_equal(jx_bool(o, "i", &b), JX_WRONG_TYPE); /* 42 is not a boolean */
    assert_int_equal(jx_bool(o, "s", &b), JX_WRONG_TYPE);
    assert_int_equal(jx_array(o, "o", &a), JX_WRONG_TYPE);
    assert_int_equal(jx_object(o, "a", &a), JX_WRONG_TYPE);
    assert_string_equal(s, "untouched");
    assert_int_equal(i, 7);
    assert_int_equal(b, 7);
    assert_null(a);
    json_decref(o);
}

static json_t *parse_fail(const char *text, size_t len, char *err, size_t errlen)
{
    err[0] = '\0';
    json_t *o = jx_parse_object(text, len, err, errlen);
    assert_null(o);
    assert_true(err[0] != '\0');
    return o;
}

static void parse_rejects_empty(void **state)
{
    (void)state;
    char err[256];
    parse_fail("", 0, err, sizeof err);
    assert_non_null(strstr(err, "empty"));
}

static void parse_rejects_malformed_with_position(void **state)
{
    (void)state;
    char err[256];
    const char *t = "{\"a\": 1,\n \"b\": }";
    parse_fail(t, strlen(t), err, sizeof err);
    assert_non_null(strstr(err, "malformed JSON"));
    assert_non_null(strstr(err, "line 2"));
}

static void parse_rejects_duplicate_keys(void **state)
{
    (void)state;
    char err[256];
    const char *t = "{\"role\":\"viewer\",\"role\":\"admin\"}";
    parse_fail(t, strlen(t), err, sizeof err);
    assert_non_null(strstr(err, "role"));
}

static void parse_rejects_non_objects(void **state)
{
    (void)state;
    const char *bad[] = {"[]", "[1,2]", "\"s\"", "42", "true", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256];
        parse_fail(bad[i], strlen(bad[i]), err, sizeof err);
        if (!strstr(err, "object"))
            fail_msg("'%s': reason does not say an object is wanted: %s", bad[i], err);
    }
}

static void parse_rejects_trailing_garbage(void **state)
{
    (void)state;
    char err[256];
    const char *t = "{\"a\":1} {\"b\":2}";
    parse_fail(t, strlen(t), err, sizeof err);
}

static void parse_uses_given_length(void **state)
{
    (void)state;
    char err[256];
    const char *t = "{\"a\":1}GARBAGE";
    json_t *o = jx_parse_object(t, 7, err, sizeof err);
    assert_non_null(o);
    json_decref(o);
}

static void parse_truncated_body(void **state)
{
    (void)state;
    char err[256];
    const char *t = "{\"a\":1}";
    parse_fail(t, 4, err, sizeof err);
}

static void parse_small_err_buffer(void **state)
{
    (void)state;
    char err[8];
    memset(err, 'Z', sizeof err);
    assert_null(jx_parse_object("[", 1, err, sizeof err));
    assert_int_equal(err[7], '\0');
}

static void dump_compact(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:i, s:[s]}", "a", 1, "b", "x");
    size_t len = 0;
    char *s = jx_dump(v, &len);
    assert_string_equal(s, "{\"a\":1,\"b\":[\"x\"]}");
    assert_int_equal(len, strlen(s));
    free(s);
    json_decref(v);
    json_t *str = json_string("bare");
    s = jx_dump(str, NULL);
    assert_string_equal(s, "\"bare\"");
    free(s);
    json_decref(str);
}

/* jx_dump is berth's own serialiser: whatever it writes must parse back
 * (with jansson) to an equal value. */
static void dump_round_trip_tricky(void **state)
{
    (void)state;
    const char nul_str[] = "a\0b";
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s#, s:[i, I, b, n, f], s:{s:{s:[]}}}",
                          "quote", "say \"hi\" \\ /", "ctrl", "\x01\x02\b\f\n\r\t\x1f\x7f",
                          "utf8", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x9a\xa2", "key\"with\\",
                          "k", "nul", nul_str, (int)(sizeof nul_str - 1), "nums", -1,
                          (json_int_t)INT64_MAX, 1, 0.5, "deep", "a", "b");
    assert_non_null(v);
    size_t len = 0;
    char *s = jx_dump(v, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20)
            fail_msg("raw control byte %#x at %zu in %s", s[i], i, s);
    json_error_t je;
    json_t *back = json_loadb(s, len, JSON_ALLOW_NUL, &je);
    if (!back)
        fail_msg("dump does not parse: %s (%s)", je.text, s);
    if (!json_equal(v, back))
        fail_msg("round trip changed the value: %s", s);
    json_decref(back);
    json_decref(v);
    free(s);
}

/* Found by tests/fuzz/fuzz_jsonx: a real with an integral value (1.0, -0.0,
 * 1e22) was written as "1", "-0", "1e+22" and read back as an integer (or
 * lost its sign); jansson's own dump writes "1.0", "-0.0", "1e+22". */
static void dump_keeps_reals_real(void **state)
{
    (void)state;
    const double vals[] = {1.0, -0.0, 0.0, 1e22, 123456789012.0, -3.0, 0.5, 1e-300};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        json_t *v = json_pack("{s:f}", "r", vals[i]);
        size_t len = 0;
        char *s = jx_dump(v, &len);
        json_t *back = json_loadb(s, len, 0, NULL);
        json_t *r = json_object_get(back, "r");
        if (!json_is_real(r) || !json_equal(v, back) || signbit(json_real_value(r)) != signbit(vals[i]))
            fail_msg("%.17g dumped as %s", vals[i], s);
        char *j = json_dumps(v, JSON_COMPACT);
        assert_string_equal(s, j);
        free(j);
        json_decref(back);
        json_decref(v);
        free(s);
    }
}

static void dump_empty_containers(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:{}, s:[], s:s}", "o", "a", "s", "");
    char *s = jx_dump(v, NULL);
    assert_string_equal(s, "{\"o\":{},\"a\":[],\"s\":\"\"}");
    free(s);
    json_decref(v);
    json_t *e = json_object();
    s = jx_dump(e, NULL);
    assert_string_equal(s, "{}");
    free(s);
    json_decref(e);
}

static void dump_keeps_key_order(void **state)
{
    (void)state;
    json_t *v = json_object();
    json_object_set_new(v, "zeta", json_integer(1));
    json_object_set_new(v, "alpha", json_integer(2));
    char *s = jx_dump(v, NULL);
    assert_string_equal(s, "{\"zeta\":1,\"alpha\":2}");
    free(s);
    json_decref(v);
}

static void dump_refuses_runaway_depth(void **state)
{
    (void)state;
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 200; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    char *s = jx_dump(root, NULL);
    assert_null(s); /* refused rather than recursing without bound */
    json_decref(root);
}

/* ---- the streaming writer ---- */

/* A writer over a fresh buf (cap max); jwt_text returns what it wrote
 * (malloc'ed), or NULL when the writer failed. */
struct jwt {
    struct buf b;
    struct jw w;
};

static struct jw *jwt_start(struct jwt *t, size_t max)
{
    buf_init(&t->b, max);
    jw_init(&t->w, &t->b);
    return &t->w;
}

static char *jwt_text(struct jwt *t)
{
    if (jw_failed(&t->w)) {
        buf_release(&t->b);
        return NULL;
    }
    if (!t->b.data)
        return strdup("");
    return buf_steal(&t->b, NULL);
}

static void jw_commas_and_nesting(void **state)
{
    (void)state;
    struct jwt t;
    struct jw *w = jwt_start(&t, 4096);
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    for (int i = 0; i < 3; i++) {
        jw_obj(w);
        jw_key(w, "id");
        jw_int(w, i);
        jw_key(w, "name");
        jw_str(w, i == 1 ? NULL : "x");
        jw_key(w, "ok");
        jw_bool(w, i == 2);
        jw_key(w, "e");
        jw_arr(w);
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "n");
    jw_null(w);
    jw_key(w, "o");
    jw_obj(w);
    jw_obj_end(w);
    jw_obj_end(w);
    char *s = jwt_text(&t);
    assert_non_null(s);
    assert_string_equal(s, "{\"items\":[{\"id\":0,\"name\":\"x\",\"ok\":false,\"e\":[]},"
                           "{\"id\":1,\"name\":null,\"ok\":false,\"e\":[]},"
                           "{\"id\":2,\"name\":\"x\",\"ok\":true,\"e\":[]}],"
                           "\"n\":null,\"o\":{}}");
    free(s);
}

static void jw_integers(void **state)
{
    (void)state;
    struct jwt t;
    struct jw *w = jwt_start(&t, 4096);
    jw_arr(w);
    jw_int(w, 0);
    jw_int(w, -1);
    jw_int(w, 1234567890123);
    jw_int(w, INT64_MAX);
    jw_int(w, INT64_MIN);
    jw_arr_end(w);
    char *s = jwt_text(&t);
    assert_string_equal(s, "[0,-1,1234567890123,9223372036854775807,-9223372036854775808]");
    free(s);
}

/* Every escape: the result parses back (jansson) to the same string. */
static void jw_escapes_round_trip(void **state)
{
    (void)state;
    const char tricky[] = "say \"hi\" \\ / \x01\x02\b\f\n\r\t\x1f\x7f h\xc3\xa9llo "
                          "\xe2\x82\xac \xf0\x9f\x9a\xa2 \xf4\x8f\xbf\xbf end";
    struct jwt t;
    struct jw *w = jwt_start(&t, 4096);
    jw_obj(w);
    jw_key(w, "k\"\\");
    jw_str(w, tricky);
    jw_key(w, "nul");
    jw_strn(w, "a\0b", 3);
    jw_obj_end(w);
    char *s = jwt_text(&t);
    assert_non_null(s);
    for (size_t i = 0; s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            fail_msg("raw control byte %#x at %zu in %s", s[i], i, s);
    assert_non_null(strstr(s, "\\\"hi\\\" \\\\ / \\u0001\\u0002\\u0008\\u000c\\n\\r\\t"
                              "\\u001f\\u007f h\xc3\xa9llo"));
    json_error_t je;
    json_t *back = json_loads(s, JSON_ALLOW_NUL, &je);
    if (!back)
        fail_msg("writer output does not parse: %s (%s)", je.text, s);
    assert_string_equal(json_string_value(json_object_get(back, "k\"\\")), tricky);
    json_t *nul = json_object_get(back, "nul");
    assert_int_equal(json_string_length(nul), 3);
    assert_memory_equal(json_string_value(nul), "a\0b", 3);
    json_decref(back);
    free(s);
}

/* Bytes that are not UTF-8 (lone continuation, truncated sequences,
 * overlong forms, surrogates, past U+10FFFF) become U+FFFD, so the answer
 * stays valid JSON whatever the store holds. */
static void jw_invalid_utf8_replaced(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a\x80z", "\"a\\ufffdz\""},
        {"a\xc3", "\"a\\ufffd\""},
        {"\xe2\x82z", "\"\\ufffd\\ufffdz\""},
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},
        {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
        {"\xff", "\"\\ufffd\""},
        {"\xc3\xa9\xff\xc3\xa9", "\"\xc3\xa9\\ufffd\xc3\xa9\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jwt t;
        jw_str(jwt_start(&t, 4096), cases[i].in);
        char *s = jwt_text(&t);
        assert_non_null(s);
        if (strcmp(s, cases[i].out) != 0)
            fail_msg("case %zu: got %s, want %s", i, s, cases[i].out);
        json_error_t je;
        json_t *back = json_loads(s, JSON_DECODE_ANY, &je);
        if (!back)
            fail_msg("case %zu does not parse: %s", i, je.text);
        json_decref(back);
        free(s);
    }
}

/* jw_json embeds a json_t exactly as jx_dump writes it. */
static void jw_json_matches_dump(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:[i, s, b, n], s:{s:s}}", "a", 1, "x\n", 1, "o", "k", "v");
    char *d = jx_dump(v, NULL);
    struct jwt t;
    struct jw *w = jwt_start(&t, 4096);
    jw_arr(w);
    jw_json(w, v);
    jw_json(w, NULL);
    jw_arr_end(w);
    char *s = jwt_text(&t);
    char want[256];
    snprintf(want, sizeof want, "[%s,null]", d);
    assert_string_equal(s, want);
    free(s);
    free(d);
    json_decref(v);
}

/* A full buf, too deep a nesting or an unbalanced end fail, and the
 * failure sticks. */
static void jw_failures_stick(void **state)
{
    (void)state;
    struct jwt t;
    struct jw *w = jwt_start(&t, 16);
    jw_arr(w);
    jw_str(w, "more than sixteen bytes of text");
    jw_arr_end(w);
    char *s = jwt_text(&t);
    assert_null(s);
    w = jwt_start(&t, 4096);
    for (int i = 0; i < JW_MAX_DEPTH + 1; i++)
        jw_arr(w);
    s = jwt_text(&t);
    assert_null(s);
    w = jwt_start(&t, 4096);
    jw_arr(w);
    jw_arr_end(w);
    jw_arr_end(w);
    s = jwt_text(&t);
    assert_null(s);
}

/* ---- jx_error_answer: total, whatever the message holds ---- */

/* Parses an error answer back (jansson refuses invalid UTF-8) and returns
 * its message, malloc'ed. */
static char *error_message(const char *code, const char *msg, size_t len)
{
    size_t n = 0;
    char *body = jx_error_answer(code, msg, len, &n);
    assert_non_null(body);
    assert_int_equal(strlen(body), n);
    json_error_t je;
    json_t *o = json_loadb(body, n, JSON_ALLOW_NUL, &je);
    if (!o)
        fail_msg("not JSON (%s): %s", je.text, body);
    const char *m = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
    assert_non_null(m);
    char *out = strdup(m);
    json_decref(o);
    free(body);
    return out;
}

static void error_answer_invalid_utf8(void **state)
{
    (void)state;
    const char in[] = "no such endpoint: /\xff\xc3(\xed\xa0\x80\xf4\x90\x80\x80\x01\"\\";
    char *m = error_message("not_found", in, sizeof in - 1);
    assert_non_null(strstr(m, "/\xef\xbf\xbd\xef\xbf\xbd("));
    assert_non_null(strstr(m, "\x01\"\\"));
    free(m);
}

static void error_answer_cut_on_boundary(void **state)
{
    (void)state;
    /* every alignment of 2-, 3- and 4-byte characters against the cut */
    const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (int c = 0; c < 3; c++)
        for (int pad = 0; pad < 4; pad++) {
            char in[1200];
            size_t l = 0;
            for (int i = 0; i < pad; i++)
                in[l++] = 'a';
            while (l + 4 < sizeof in)
                for (const char *p = chars[c]; *p; p++)
                    in[l++] = *p;
            char *m = error_message("x", in, l);
            size_t ml = strlen(m);
            assert_true(ml <= JX_ERROR_MESSAGE_MAX + 3);
            assert_string_equal(m + ml - 3, "...");
            assert_null(strstr(m, "\xef\xbf\xbd")); /* no U+FFFD: the cut took whole characters */
            free(m);
        }
}

static void error_answer_edges(void **state)
{
    (void)state;
    char *m = error_message(NULL, NULL, 0);
    assert_string_equal(m, "");
    free(m);
    char nul[] = "a\0b";
    m = error_message("c", nul, 3);
    assert_string_equal(m, "a"); /* \u0000 back from jansson ends the C string */
    free(m);
    /* exactly the limit: kept whole */
    char in[JX_ERROR_MESSAGE_MAX];
    memset(in, 'x', sizeof in);
    m = error_message("c", in, sizeof in);
    assert_int_equal(strlen(m), JX_ERROR_MESSAGE_MAX);
    free(m);
    assert_int_equal(jx_utf8_clip("\xc3\xa9\xc3\xa9", 4, 3), 2);
    assert_int_equal(jx_utf8_clip("\xff\xff", 2, 1), 1);
    assert_int_equal(jx_utf8_clip("\xc3", 1, 5), 1);
    assert_int_equal(jx_utf8_clip("abc", 3, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(string_ok),
        cmocka_unit_test(int_ok),
        cmocka_unit_test(bool_ok),
        cmocka_unit_test(array_and_object_ok),
        cmocka_unit_test(missing_fields),
        cmocka_unit_test(null_counts_as_missing),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(parse_rejects_empty),
        cmocka_unit_test(parse_rejects_malformed_with_position),
        cmocka_unit_test(parse_rejects_duplicate_keys),
        cmocka_unit_test(parse_rejects_non_objects),
        cmocka_unit_test(parse_rejects_trailing_garbage),
        cmocka_unit_test(parse_uses_given_length),
        cmocka_unit_test(parse_truncated_body),
        cmocka_unit_test(parse_small_err_buffer),
        cmocka_unit_test(dump_compact),
        cmocka_unit_test(dump_round_trip_tricky),
        cmocka_unit_test(dump_keeps_reals_real),
        cmocka_unit_test(dump_empty_containers),
        cmocka_unit_test(dump_keeps_key_order),
        cmocka_unit_test(dump_refuses_runaway_depth),
        cmocka_unit_test(jw_commas_and_nesting),
        cmocka_unit_test(jw_integers),
        cmocka_unit_test(jw_escapes_round_trip),
        cmocka_unit_test(jw_invalid_utf8_replaced),
        cmocka_unit_test(jw_json_matches_dump),
        cmocka_unit_test(jw_failures_stick),
        cmocka_unit_test(error_answer_invalid_utf8),
        cmocka_unit_test(error_answer_cut_on_boundary),
        cmocka_unit_test(error_answer_edges),
    };
    return cmocka_run_group_tests_name("jsonx", tests, NULL, NULL);
}
