/* jsonx.c - typed jansson getters and body parsing. */
#include "jsonx.h"

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
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
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

char *jx_dump(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && len)
        *len = strlen(s);
    return s;
}
