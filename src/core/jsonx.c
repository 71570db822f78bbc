/* jsonx.c - typed jansson getters and body parsing. */
#include "jsonx.h"
#include "buf.h"
#include "util.h"

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
 * one buffer. */

/* Length of the valid UTF-8 sequence (2-4 bytes) at s, or 0: no overlong
 * forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0xc2 || c > 0xf4)
        return 0;
    if (c < 0xe0)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
            return 0;
        return 3;
    }
    if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80 ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return 4;
}

/* A JSON string: '"', '\\' and control characters (and DEL) escaped, valid
 * UTF-8 as it is, any other byte as \ufffd (jansson's strings are valid
 * UTF-8 already; SQLite's text is whatever was stored). */
static int is_plain(unsigned char c)
{
    return (unsigned char)(c - 0x20) < 0x5f && c != '"' && c != '\\';
}

static int all_plain(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_plain((unsigned char)s[i]))
            return 0;
    return 1;
}

/* The common case, a string with nothing to escape: written as "s" (then
 * ':' when colon) with one reservation. 1 when done, 0 when the string
 * needs escaping, -1 when it does not fit. */
static int quote_plain(struct buf *b, const char *s, size_t len, int colon)
{
    if (!all_plain(s, len))
        return 0;
    size_t n = len + 2 + (colon ? 1 : 0);
    if (n > b->max - b->len || buf_reserve(b, n) < 0)
        return -1;
    char *p = b->data + b->len;
    *p++ = '"';
    memcpy(p, s, len);
    p += len;
    *p++ = '"';
    if (colon)
        *p++ = ':';
    *p = '\0';
    b->len += n;
    return 1;
}

static int dump_string(struct buf *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    int rc0 = quote_plain(b, str, len, 0);
    if (rc0)
        return rc0 < 0 ? -1 : 0;
    if (buf_append(b, "\"", 1) < 0)
        return -1;
    size_t run = 0, i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (is_plain(c)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (n) {
                i += n;
                continue;
            }
        }
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
        default: rc = c >= 0x80 ? buf_append(b, "\\ufffd", 6) : buf_append(b, esc, 6); break;
        }
        if (rc < 0)
            return -1;
        run = ++i;
    }
    if (buf_append(b, s + run, len - run) < 0)
        return -1;
    return buf_append(b, "\"", 1);
}

/* Decimal digits of v into out (24 bytes), returns the length. */
static size_t fmt_int(int64_t v, char out[24])
{
    char t[24];
    size_t n = 0, k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        t[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = t[--n];
    return k;
}

/* A real as jansson's json_dumps writes it: "%.17g", ".0" added when that
 * reads as an integer (1.0, -0.0), no '+' or leading zeros in the
 * exponent (1e22). Returns the length written into out (64 bytes). */
static size_t fmt_real(double d, char out[64])
{
    int n = snprintf(out, 64, "%.17g", d);
    size_t len = n > 0 && n < 60 ? (size_t)n : 0;
    char *e = memchr(out, 'e', len);
    if (!e && !memchr(out, '.', len)) {
        memcpy(out + len, ".0", 3);
        return len + 2;
    }
    if (e) {
        char *digits = e + 1, *from = digits;
        if (*from == '+')
            from++;
        else if (*from == '-')
            digits = ++from;
        while (*from == '0' && from[1])
            from++;
        memmove(digits, from, (size_t)(out + len - from) + 1);
        len = strlen(out);
    }
    return len;
}

static int dump_value(struct buf *b, const json_t *v, int depth)
{
    char num[64];
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
        return buf_append(b, num, fmt_int((int64_t)json_integer_value(v), num));
    case JSON_REAL:
        return buf_append(b, num, fmt_real(json_real_value(v), num));
    case JSON_TRUE: return buf_append(b, "true", 4);
    case JSON_FALSE: return buf_append(b, "false", 5);
    default: return buf_append(b, "null", 4);
    }
}

json_t *jx_time(int64_t t)
{
    if (!t)
        return json_null();
    char b[32];
    util_iso8601(t, b, sizeof b);
    return json_string(b);
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

/* ---- streaming writer ---- */

void jw_init(struct jw *w, struct buf *b)
{
    w->b = b;
    w->depth = 0;
    w->failed = 0;
    w->more[0] = 0;
}

int jw_failed(const struct jw *w) { return w->failed; }

/* Room for n more bytes (and the buf's NUL) at the end of the buf, or
 * NULL once the writer failed; done() then takes what was written. */
static char *room(struct jw *w, size_t n)
{
    struct buf *b = w->b;
    if (w->failed)
        return NULL;
    if (!b->data || b->cap - b->len <= n) {
        if (n > b->max - b->len || buf_reserve(b, n) < 0) {
            w->failed = 1;
            return NULL;
        }
    }
    return b->data + b->len;
}

static void done(struct jw *w, char *end)
{
    w->b->len = (size_t)(end - w->b->data);
    *end = '\0';
}

/* Before a value: the comma when one precedes it at this depth (a value
 * after a key never takes one: jw_key placed it). p has room for it. */
static char *sep_at(struct jw *w, char *p)
{
    if (w->more[w->depth] == 1)
        *p++ = ',';
    w->more[w->depth] = 1;
    return p;
}

static void sep(struct jw *w)
{
    char *p = room(w, 1);
    if (p)
        done(w, sep_at(w, p));
}

static void put(struct jw *w, const char *s, size_t n)
{
    char *p = room(w, n);
    if (p) {
        memcpy(p, s, n);
        done(w, p + n);
    }
}

static void open_(struct jw *w, const char *c)
{
    char *p = room(w, 2);
    if (!p)
        return;
    p = sep_at(w, p);
    *p++ = *c;
    done(w, p);
    if (w->depth + 1 >= JW_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    w->more[++w->depth] = 0;
}

static void close_(struct jw *w, const char *c)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }
    w->depth--;
    put(w, c, 1);
}

void jw_obj(struct jw *w) { open_(w, "{"); }
void jw_obj_end(struct jw *w) { close_(w, "}"); }
void jw_arr(struct jw *w) { open_(w, "["); }
void jw_arr_end(struct jw *w) { close_(w, "]"); }

/* A JSON string (and a ':' after a key): plain bytes straight into
 * reserved room, anything to escape through dump_string. */
static void put_str(struct jw *w, const char *s, size_t n, int colon)
{
    if (!all_plain(s, n)) {
        sep(w);
        if (!w->failed && (dump_string(w->b, s, n) < 0 || (colon && buf_append(w->b, ":", 1) < 0)))
            w->failed = 1;
        return;
    }
    char *p = room(w, n + 3 + (colon ? 1 : 0));
    if (!p)
        return;
    p = sep_at(w, p);
    *p++ = '"';
    memcpy(p, s, n);
    p += n;
    *p++ = '"';
    if (colon)
        *p++ = ':';
    done(w, p);
}

void jw_key(struct jw *w, const char *k)
{
    put_str(w, k, strlen(k), 1);
    w->more[w->depth] = 2; /* the value that follows takes no comma */
}

void jw_strn(struct jw *w, const char *s, size_t n) { put_str(w, s, n, 0); }

void jw_str(struct jw *w, const char *s)
{
    if (!s)
        jw_null(w);
    else
        jw_strn(w, s, strlen(s));
}

void jw_int(struct jw *w, int64_t v)
{
    char *p = room(w, 25);
    if (!p)
        return;
    p = sep_at(w, p);
    done(w, p + fmt_int(v, p));
}

void jw_bool(struct jw *w, int v)
{
    sep(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void jw_null(struct jw *w)
{
    sep(w);
    put(w, "null", 4);
}

void jw_json(struct jw *w, const json_t *v)
{
    if (!v) {
        jw_null(w);
        return;
    }
    sep(w);
    if (!w->failed && dump_value(w->b, v, w->depth) < 0)
        w->failed = 1;
}

/* ---- error answers (jsonx.h) ---- */

size_t jx_utf8_clip(const char *str, size_t len, size_t max)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    if (max > len)
        max = len;
    while (i < max) {
        size_t n = s[i] < 0x80 ? 1 : utf8_seq(s + i, len - i);
        if (n == 0)
            n = 1; /* not UTF-8: one byte, written as U+FFFD */
        if (i + n > max)
            break;
        i += n;
    }
    return i;
}

char *jx_error_answer(const char *code, const char *message, size_t len, size_t *out_len)
{
    struct buf b;
    struct jw w;
    if (!code)
        code = "internal";
    if (!message)
        message = "", len = 0;
    size_t keep = jx_utf8_clip(message, len, JX_ERROR_MESSAGE_MAX);
    int cut = keep < len;
    buf_init(&b, 4096); /* 400 bytes as \\ufffd escapes at most: 6 x 400 + the frame */
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_key(&w, "code");
    jw_strn(&w, code, jx_utf8_clip(code, strlen(code), 64));
    jw_key(&w, "message");
    if (cut) {
        char tmp[JX_ERROR_MESSAGE_MAX + 4];
        memcpy(tmp, message, keep);
        memcpy(tmp + keep, "...", 3);
        jw_strn(&w, tmp, keep + 3);
    } else {
        jw_strn(&w, message, keep);
    }
    jw_obj_end(&w);
    jw_obj_end(&w);
    if (jw_failed(&w)) {
        buf_release(&b);
        return NULL;
    }
    return buf_steal(&b, out_len);
}
