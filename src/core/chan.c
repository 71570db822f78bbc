/* chan.c - channel frames of the runner link (see chan.h). */
#include "chan.h"
#include "jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void seterr(char *err, size_t errlen, const char *fmt, const char *field)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, field);
}

/* ---- binary data frames ---- */

void chan_data_header(uint8_t out[CHAN_HDR], uint32_t id, enum chan_stream stream)
{
    out[0] = CHAN_FRAME_DATA;
    out[1] = (uint8_t)(id >> 24);
    out[2] = (uint8_t)(id >> 16);
    out[3] = (uint8_t)(id >> 8);
    out[4] = (uint8_t)id;
    out[5] = (uint8_t)stream;
}

int chan_data_parse(const uint8_t *frame, size_t len, struct chan_data *out, char *err,
                    size_t errlen)
{
    if (len < CHAN_HDR + 1) {
        seterr(err, errlen, "%s", "data frame shorter than its header and one byte");
        return -1;
    }
    if (frame[0] != CHAN_FRAME_DATA) {
        seterr(err, errlen, "%s", "unknown binary frame kind");
        return -1;
    }
    uint32_t id = (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 |
                  (uint32_t)frame[3] << 8 | frame[4];
    if (!id) {
        seterr(err, errlen, "%s", "data frame for channel 0");
        return -1;
    }
    if (frame[5] > CHAN_STDERR) {
        seterr(err, errlen, "%s", "data frame with an unknown stream");
        return -1;
    }
    if (len - CHAN_HDR > CHAN_DATA_MAX) {
        seterr(err, errlen, "%s", "data frame over 64 KiB");
        return -1;
    }
    out->id = id;
    out->stream = (enum chan_stream)frame[5];
    out->data = frame + CHAN_HDR;
    out->len = len - CHAN_HDR;
    return 0;
}

/* ---- field helpers ---- */

static int need_int(json_t *o, const char *k, int64_t min, int64_t max, int64_t *out,
                    char *err, size_t errlen)
{
    int rc = jx_int(o, k, out);
    if (rc != JX_OK) {
        seterr(err, errlen, rc == JX_MISSING ? "field \"%s\" is missing"
                                             : "field \"%s\" must be an integer", k);
        return -1;
    }
    if (*out < min || *out > max) {
        seterr(err, errlen, "field \"%s\" is out of range", k);
        return -1;
    }
    return 0;
}

static int need_id(json_t *o, uint32_t *id, char *err, size_t errlen)
{
    int64_t v;
    if (need_int(o, "chan", 1, UINT32_MAX, &v, err, errlen) < 0)
        return -1;
    *id = (uint32_t)v;
    return 0;
}

/* A string without NUL of 1..max bytes. */
static int str_ok(json_t *v, size_t max)
{
    if (!json_is_string(v))
        return 0;
    size_t n = json_string_length(v);
    return n >= 1 && n <= max && strlen(json_string_value(v)) == n;
}

static int need_str(json_t *o, const char *k, size_t max, const char **out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        seterr(err, errlen, "field \"%s\" is missing", k);
        return -1;
    }
    if (!str_ok(v, max)) {
        seterr(err, errlen, "field \"%s\" must be a string of 1..limit bytes without NUL", k);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int need_bool(json_t *o, const char *k, int *out, char *err, size_t errlen)
{
    int rc = jx_bool(o, k, out);
    if (rc == JX_OK)
        return 0;
    seterr(err, errlen, rc == JX_MISSING ? "field \"%s\" is missing"
                                         : "field \"%s\" must be a boolean", k);
    return -1;
}

static const char *kind_name(enum chan_kind k)
{
    return k == CHAN_SHELL ? "shell" : k == CHAN_EXEC ? "exec" : NULL;
}

static int dims_ok(int cols, int rows)
{
    return cols >= 1 && cols <= CHAN_DIM_MAX && rows >= 1 && rows <= CHAN_DIM_MAX;
}

/* ---- control frames ---- */

json_t *chan_open_msg(const struct chan_open *o)
{
    const char *kind = kind_name(o->kind);
    if (!o->id || !kind || !dims_ok(o->cols, o->rows) || o->window < CHAN_WINDOW_MIN ||
        o->window > CHAN_WINDOW_MAX || o->idle_s < 0 ||
        (o->container && (!*o->container || strlen(o->container) > CHAN_NAME_MAX)) ||
        (o->kind == CHAN_EXEC && (o->argc < 1 || o->argc > CHAN_ARGV_MAX)) ||
        (o->kind == CHAN_SHELL && (o->argc || o->no_stdin)))
        return NULL;
    json_t *m = json_pack("{s:s, s:I, s:s, s:b, s:i, s:i, s:I, s:i}", "type", "chan.open",
                          "chan", (json_int_t)o->id, "kind", kind, "tty",
                          o->kind == CHAN_SHELL || o->tty, "cols", o->cols, "rows", o->rows,
                          "window", (json_int_t)o->window, "idle_s", o->idle_s);
    if (!m)
        return NULL;
    if (o->container && json_object_set_new(m, "container", json_string(o->container)) < 0)
        goto fail;
    if (json_object_set_new(m, "stdin", json_boolean(!o->no_stdin)) < 0)
        goto fail;
    if (o->argc) {
        json_t *a = json_array();
        if (!a || json_object_set_new(m, "argv", a) < 0)
            goto fail;
        for (size_t i = 0; i < o->argc; i++) {
            json_t *s = o->argv[i] ? json_string(o->argv[i]) : NULL;
            if (!s || !str_ok(s, CHAN_ARG_MAX) || json_array_append_new(a, s) < 0) {
                json_decref(s);
                goto fail;
            }
        }
    }
    return m;
fail:
    json_decref(m);
    return NULL;
}

int chan_parse_open(json_t *msg, struct chan_open_msg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct chan_open *o = &out->o;
    const char *kind;
    int64_t v;
    if (need_id(msg, &o->id, err, errlen) < 0 ||
        need_str(msg, "kind", 16, &kind, err, errlen) < 0)
        return -1;
    if (strcmp(kind, "shell") == 0)
        o->kind = CHAN_SHELL;
    else if (strcmp(kind, "exec") == 0)
        o->kind = CHAN_EXEC;
    else {
        seterr(err, errlen, "field \"%s\" is not a known channel kind", "kind");
        return -1;
    }
    if (need_bool(msg, "tty", &o->tty, err, errlen) < 0 ||
        need_int(msg, "cols", 1, CHAN_DIM_MAX, &v, err, errlen) < 0)
        return -1;
    o->cols = (int)v;
    if (need_int(msg, "rows", 1, CHAN_DIM_MAX, &v, err, errlen) < 0)
        return -1;
    o->rows = (int)v;
    if (need_int(msg, "window", CHAN_WINDOW_MIN, CHAN_WINDOW_MAX, &o->window, err, errlen) < 0 ||
        need_int(msg, "idle_s", 0, 7 * 86400, &v, err, errlen) < 0)
        return -1;
    o->idle_s = (int)v;
    json_t *c = json_object_get(msg, "container");
    if (c && !json_is_null(c) &&
        need_str(msg, "container", CHAN_NAME_MAX, &o->container, err, errlen) < 0)
        return -1;
    json_t *in = json_object_get(msg, "stdin");
    if (in && !json_is_null(in)) {
        if (!json_is_boolean(in)) {
            seterr(err, errlen, "field \"%s\" must be a boolean", "stdin");
            return -1;
        }
        o->no_stdin = json_is_false(in);
    }
    json_t *argv = json_object_get(msg, "argv");
    if (o->kind == CHAN_SHELL) {
        if (o->no_stdin) {
            seterr(err, errlen, "field \"%s\" must be true for a shell", "stdin");
            return -1;
        }
        o->tty = 1;
        if (argv && !json_is_null(argv)) {
            seterr(err, errlen, "field \"%s\" is not taken by a shell", "argv");
            return -1;
        }
        return 0;
    }
    size_t n = json_array_size(argv);
    if (!json_is_array(argv) || n < 1 || n > CHAN_ARGV_MAX) {
        seterr(err, errlen, "field \"%s\" must be an array of 1..64 strings", "argv");
        return -1;
    }
    out->argv_store = calloc(n, sizeof *out->argv_store);
    if (!out->argv_store) {
        seterr(err, errlen, "%s", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(argv, i);
        if (!str_ok(s, CHAN_ARG_MAX)) {
            chan_open_release(out);
            seterr(err, errlen, "field \"%s\" holds an item that is not a string of 1..4096 "
                   "bytes without NUL", "argv");
            return -1;
        }
        out->argv_store[i] = json_string_value(s);
    }
    o->argv = out->argv_store;
    o->argc = n;
    return 0;
}

void chan_open_release(struct chan_open_msg *m)
{
    free(m->argv_store);
    m->argv_store = NULL;
    m->o.argv = NULL;
    m->o.argc = 0;
}

json_t *chan_opened_msg(uint32_t id, int64_t window)
{
    if (!id || window < CHAN_WINDOW_MIN || window > CHAN_WINDOW_MAX)
        return NULL;
    return json_pack("{s:s, s:I, s:I}", "type", "chan.opened", "chan", (json_int_t)id,
                     "window", (json_int_t)window);
}

int chan_parse_opened(json_t *msg, uint32_t *id, int64_t *window, char *err, size_t errlen)
{
    return need_id(msg, id, err, errlen) < 0 ||
                   need_int(msg, "window", CHAN_WINDOW_MIN, CHAN_WINDOW_MAX, window, err,
                            errlen) < 0
               ? -1
               : 0;
}

json_t *chan_credit_msg(uint32_t id, int64_t bytes)
{
    if (!id || bytes < 1 || bytes > CHAN_WINDOW_MAX)
        return NULL;
    return json_pack("{s:s, s:I, s:I}", "type", "chan.credit", "chan", (json_int_t)id, "bytes",
                     (json_int_t)bytes);
}

int chan_parse_credit(json_t *msg, uint32_t *id, int64_t *bytes, char *err, size_t errlen)
{
    return need_id(msg, id, err, errlen) < 0 ||
                   need_int(msg, "bytes", 1, CHAN_WINDOW_MAX, bytes, err, errlen) < 0
               ? -1
               : 0;
}

json_t *chan_resize_msg(uint32_t id, int cols, int rows)
{
    if (!id || !dims_ok(cols, rows))
        return NULL;
    return json_pack("{s:s, s:I, s:i, s:i}", "type", "chan.resize", "chan", (json_int_t)id,
                     "cols", cols, "rows", rows);
}

int chan_parse_resize(json_t *msg, uint32_t *id, int *cols, int *rows, char *err,
                      size_t errlen)
{
    int64_t c, r;
    if (need_id(msg, id, err, errlen) < 0 ||
        need_int(msg, "cols", 1, CHAN_DIM_MAX, &c, err, errlen) < 0 ||
        need_int(msg, "rows", 1, CHAN_DIM_MAX, &r, err, errlen) < 0)
        return -1;
    *cols = (int)c;
    *rows = (int)r;
    return 0;
}

json_t *chan_close_msg(uint32_t id, const char *reason, int exit_code)
{
    if (!id || !reason || exit_code < -1 || exit_code > 255)
        return NULL;
    size_t n = strlen(reason);
    if (n > CHAN_REASON_MAX) { /* cut on a UTF-8 character boundary */
        n = CHAN_REASON_MAX;
        while (n && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--;
    }
    return json_pack("{s:s, s:I, s:s%, s:i}", "type", "chan.close", "chan", (json_int_t)id,
                     "reason", reason, n, "exit_code", exit_code);
}

int chan_parse_close(json_t *msg, struct chan_close *out, char *err, size_t errlen)
{
    int64_t code;
    json_t *r = json_object_get(msg, "reason");
    if (need_id(msg, &out->id, err, errlen) < 0 ||
        need_int(msg, "exit_code", -1, 255, &code, err, errlen) < 0)
        return -1;
    if (!json_is_string(r) || json_string_length(r) > CHAN_REASON_MAX ||
        strlen(json_string_value(r)) != json_string_length(r)) {
        seterr(err, errlen, "field \"%s\" must be a string of at most 512 bytes", "reason");
        return -1;
    }
    out->reason = json_string_value(r);
    out->exit_code = (int)code;
    return 0;
}

/* ---- credit ---- */

int chan_credit_take(struct chan_credit *c, size_t n)
{
    if (n > (size_t)CHAN_WINDOW_MAX || (int64_t)n > c->avail)
        return -1;
    c->avail -= (int64_t)n;
    return 0;
}

void chan_credit_grant(struct chan_credit *c, int64_t n)
{
    if (n <= 0)
        return;
    c->avail = n >= CHAN_WINDOW_MAX - c->avail ? CHAN_WINDOW_MAX : c->avail + n;
}
