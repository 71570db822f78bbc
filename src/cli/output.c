/* output.c - everything the CLI prints on stdout: the single JSON document
 * under --json ({"ok":true,"data":...} or {"ok":false,"error":{...}}),
 * aligned tables for people, and error reporting with its exit code.
 *
 * Tables are JSON arrays of rows (arrays of strings) so they are built
 * without manual string lifetimes; out_table_print frees them. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void print_doc(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(doc);
}

void out_ok(struct cli *c, json_t *data, out_human_fn human)
{
    if (!data)
        data = json_null();
    if (c->json) {
        print_doc(json_pack("{s:b, s:o}", "ok", 1, "data", data));
        return;
    }
    if (human)
        human(c, data);
    json_decref(data);
}

int out_error(struct cli *c)
{
    if (c->json)
        print_doc(json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", c->err.code,
                            "message", c->err.message));
    else
        fprintf(stderr, "berth: %s\n", c->err.message);
    return c->err.exit ? c->err.exit : CLI_EXIT_OTHER;
}

static int vfail(struct cli *c, int exit, const char *code, const char *fmt, va_list ap)
{
    if (c->failed)
        return -1;
    c->failed = 1;
    c->err.exit = exit;
    snprintf(c->err.code, sizeof c->err.code, "%s", code);
    vsnprintf(c->err.message, sizeof c->err.message, fmt, ap);
    return -1;
}

int cli_fail(struct cli *c, int exit, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, exit, code, fmt, ap);
    va_end(ap);
    return -1;
}

int cli_usage(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, CLI_EXIT_USAGE, "usage", fmt, ap);
    va_end(ap);
    return -1;
}

json_t *out_table_new(const char *const *headers)
{
    json_t *t = json_array();
    json_t *row = json_array();
    for (int i = 0; headers[i]; i++)
        json_array_append_new(row, json_string(headers[i]));
    json_array_append_new(t, row);
    return t;
}

void out_table_row(json_t *t, ...)
{
    json_t *row = json_array();
    va_list ap;
    va_start(ap, t);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        json_array_append_new(row, json_string(s));
    va_end(ap);
    json_array_append_new(t, row);
}

#define TABLE_COLS 16

void out_table_print(json_t *t)
{
    size_t w[TABLE_COLS] = {0}, i, j;
    json_t *row, *cell;
    json_array_foreach(t, i, row) {
        json_array_foreach(row, j, cell) {
            size_t l = strlen(json_string_value(cell));
            if (j < TABLE_COLS && l > w[j])
                w[j] = l;
        }
    }
    json_array_foreach(t, i, row) {
        size_t n = json_array_size(row);
        json_array_foreach(row, j, cell) {
            const char *s = json_string_value(cell);
            if (j + 1 == n || j >= TABLE_COLS)
                printf("%s\n", s);
            else
                printf("%-*s  ", (int)w[j], s);
        }
    }
    json_decref(t);
}

const char *out_str(json_t *obj, const char *key, char *tmp, size_t n)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, n, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "yes" : "no";
    return "-";
}
