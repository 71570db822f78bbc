/* fuzz_jsonx.c - a request body as handlers read it: jx_parse_object, the
 * typed getters on every member, then both serialisers (jx_dump and the
 * streaming jw_* writer) must write JSON that parses back to the same
 * value, byte for byte the same from both, reals as jansson writes them. Raw bytes written as a string
 * (and as a key) must come out as valid JSON too. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonx.h"

static void check_getters(json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        const char *s = NULL;
        int64_t i = 0;
        int b = 0;
        json_t *a = NULL, *obj = NULL;
        int rs = jx_string(o, key, &s), ri = jx_int(o, key, &i), rb = jx_bool(o, key, &b),
            ra = jx_array(o, key, &a), ro = jx_object(o, key, &obj);
        int oks = (rs == JX_OK) + (ri == JX_OK) + (rb == JX_OK) + (ra == JX_OK) + (ro == JX_OK);
        if (json_is_null(v)) {
            assert(rs == JX_MISSING && ri == JX_MISSING && rb == JX_MISSING && ra == JX_MISSING &&
                   ro == JX_MISSING);
            continue;
        }
        /* exactly one getter takes a string/integer/bool/array/object, none a real */
        assert(oks == (json_is_real(v) ? 0 : 1));
        if (rs == JX_OK)
            assert(s == json_string_value(v));
        if (ri == JX_OK)
            assert(i == (int64_t)json_integer_value(v));
        if (ra == JX_OK)
            assert(a == v);
        if (ro == JX_OK)
            assert(obj == v);
    }
    const char *s = NULL;
    assert(jx_string(o, "\x01no such key", &s) == JX_MISSING && !s);
}

/* v written through the streaming writer, as list answers write rows. */
static void jw_value(struct jw *w, const json_t *v)
{
    const char *key;
    json_t *m;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        jw_obj(w);
        json_object_foreach((json_t *)v, key, m) {
            jw_key(w, key);
            jw_value(w, m);
        }
        jw_obj_end(w);
        break;
    case JSON_ARRAY:
        jw_arr(w);
        json_array_foreach(v, i, m) jw_value(w, m);
        jw_arr_end(w);
        break;
    case JSON_STRING: jw_strn(w, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: jw_int(w, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: jw_json(w, v); break;
    case JSON_TRUE: jw_bool(w, 1); break;
    case JSON_FALSE: jw_bool(w, 0); break;
    default: jw_null(w); break;
    }
}

/* A real reads the same from jx_dump as from jansson's own writer. */
static void check_real(const json_t *v)
{
    size_t n;
    char *a = jx_dump(v, &n), *b = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
}

static size_t depth_of(const json_t *v)
{
    size_t d = 0, i;
    const char *key;
    json_t *m;
    if (json_is_real(v))
        check_real(v);
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m) {
            size_t x = depth_of(m);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            size_t x = depth_of(m);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    return 0;
}

static void check_serialisers(json_t *v)
{
    size_t n = 0;
    size_t depth = depth_of(v);
    char *d = jx_dump(v, &n);
    if (depth > 64) {
        assert(!d);
        return;
    }
    assert(d && strlen(d) == n);
    json_error_t je;
    json_t *back = json_loadb(d, n, JSON_REJECT_DUPLICATES, &je);
    assert(back);
    assert(json_equal(v, back));
    json_decref(back);

    struct buf b;
    struct jw w;
    buf_init(&b, 1 << 20);
    jw_init(&w, &b);
    jw_value(&w, v);
    if (depth >= JW_MAX_DEPTH) {
        assert(jw_failed(&w));
    } else {
        assert(!jw_failed(&w));
        assert(b.len == n && memcmp(b.data, d, n) == 0);
    }
    buf_release(&b);
    free(d);
}

/* Any bytes as a string value and as a key: always valid JSON, and a
 * string that was valid UTF-8 without control characters reads back the same. */
static void check_raw_string(const uint8_t *data, size_t size)
{
    char *key = malloc(size + 1);
    memcpy(key, data, size);
    key[size] = '\0';
    struct buf b;
    struct jw w;
    buf_init(&b, 1 << 20);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, key);
    jw_strn(&w, (const char *)data, size);
    jw_key(&w, "n");
    jw_arr(&w);
    jw_str(&w, key);
    jw_str(&w, NULL);
    jw_arr_end(&w);
    jw_obj_end(&w);
    assert(!jw_failed(&w));
    json_error_t je;
    /* a NUL is written as \u0000: valid JSON, which jansson reads only when allowed */
    json_t *o = json_loadb(b.data, b.len, JSON_ALLOW_NUL, &je);
    assert(o && json_is_object(o));
    json_t *s = json_object_get(o, key);
    json_t *exact = json_stringn((const char *)data, size);
    if (exact && s && strlen(key) == size && strcmp(key, "n") != 0)
        assert(json_equal(s, exact));
    json_decref(exact);
    json_decref(o);
    buf_release(&b);
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    json_t *v = jx_parse_object((const char *)data, size, err, sizeof err);
    if (!v) {
        assert(err[0]);
    } else {
        assert(json_is_object(v));
        check_getters(v);
        check_serialisers(v);
        json_decref(v);
    }
    if (size <= 4096)
        check_raw_string(data, size);
    return 0;
}
