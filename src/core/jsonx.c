/* jsonx.c - typed jansson getters and body parsing. */
#include "jsonx.h"
#include "buf.h"

#include <stdio.h>
#include <string.h>

static json_t *field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return (v && !json_is_null(v)) ? v : NULL;
}

int jx_string(json_t *obj, const char *key, const char **out)
{
    json_t *v = field(obj, key);
    if (!v)
        return JX_MISSING;
    if (!json_is_string(v))
        return JX_WRONG_TYPE;
    *out = json_string_value(v);
    return JX_OK;
}

int jx_int(json_t *obj, const char *key, int64_t *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return JX_MISSING;
    if (!json_is_integer(v))
        return JX_WRONG_TYPE;
    *out = (int64_t)json_integer_value(v);
    return JX_OK;
}

int jx_bool(json_t *obj, const char *key, int *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return JX_MISSING;
    if (!json_is_boolean(v))
        return JX_WRONG_TYPE;
    *out = json_is_true(v);
    return JX_OK;
}

int jx_array(json_t *obj, const char *key, json_t **out)
{
    json_t *v = field(obj, key);
    if (!v)
        return JX_MISSING;
    if (!json_is_array(v))
        return JX_WRONG_TYPE;
    *out = v;
    return JX_OK;
}

int jx_object(json_t *obj, const char *key, json_t **out)
{
    json_t *v = field(obj, key);
    if (!v)
        return JX_MISSING;
    if (!json_is_object(v))
        return JX_WRONG_TYPE;
    *out = v;
    return JX_OK;
}

json_t *jx_parse_object(const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    if (len == 0) {
        snprintf(err, errlen, "request body is empty; a JSON object is expected");
        return NULL;
    }
    /* JSON_DECODE_ANY: a scalar is valid JSON, refused below as "not an
     * object" rather than as malformed. */
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line,
                 je.column, je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* Serialiser for json_t trees. jansson's own json_dumps costs about 90
 * instructions per output byte here (per-piece callbacks, UTF-8 checks,
 * and a pointer-keyed loop-check table per container), which was half of
 * an API request's CPU time; this walk writes the same compact JSON into
 * one buffer. Strings in json_t are valid UTF-8 already (jansson checks on
 * the way in), so only escaping is needed. */
static int dump_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_append(b, "\"", 1) < 0)
        return -1;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        if (buf_append(b, s + run, i - run) < 0)
            return -1;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        int rc;
        switch (c) {
        case '"': rc = buf_append(b, "\\\"", 2); break;
        case '\\': rc = buf_append(b, "\\\\", 2); break;
        case '\n': rc = buf_append(b, "\\n", 2); break;
        case '\r': rc = buf_append(b, "\\r", 2); break;
        case '\t': rc = buf_append(b, "\\t", 2); break;
        default: rc = buf_append(b, esc, 6); break;
        }
        if (rc < 0)
            return -1;
        run = i + 1;
    }
    if (buf_append(b, s + run, len - run) < 0)
        return -1;
    return buf_append(b, "\"", 1);
}

static int dump_value(struct buf *b, const json_t *v, int depth)
{
    char num[64];
    int n;
    if (depth > 64)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;
        if (buf_append(b, "{", 1) < 0)
            return -1;
        json_object_foreach((json_t *)v, key, val) {
            if ((!first && buf_append(b, ",", 1) < 0) || dump_string(b, key, strlen(key)) < 0 ||
                buf_append(b, ":", 1) < 0 || dump_value(b, val, depth + 1) < 0)
                return -1;
            first = 0;
        }
        return buf_append(b, "}", 1);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        if (buf_append(b, "[", 1) < 0)
            return -1;
        json_array_foreach((json_t *)v, i, val) {
            if ((i && buf_append(b, ",", 1) < 0) || dump_value(b, val, depth + 1) < 0)
                return -1;
        }
        return buf_append(b, "]", 1);
    }
    case JSON_STRING:
        return dump_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf_append(b, num, (size_t)n);
    case JSON_REAL:
        n = snprintf(num, sizeof num, "%.17g", json_real_value(v));
        return buf_append(b, num, (size_t)n);
    case JSON_TRUE: return buf_append(b, "true", 4);
    case JSON_FALSE: return buf_append(b, "false", 5);
    default: return buf_append(b, "null", 4);
    }
}

char *jx_dump(const json_t *v, size_t *len)
{
    struct buf b;
    buf_init(&b, (size_t)64 * 1024 * 1024);
    if (buf_reserve(&b, 4096) < 0 || dump_value(&b, v, 0) < 0 || (!b.data && buf_append(&b, "", 0) < 0)) {
        buf_release(&b);
        return NULL;
    }
    return buf_steal(&b, len);
}
