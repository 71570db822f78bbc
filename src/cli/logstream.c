/* logstream.c - reading a job's log as NDJSON ({seq, stream, ts, data}
 * per line) through client_stream, for `job logs`, `script run --follow`,
 * `deploy --follow` and `logs`.
 *
 * Owns the partial-line buffer and, under --json, the collected chunks
 * (at most LOGSTREAM_COLLECT_MAX bytes of data). Chunks at or below the
 * highest seq already handled are skipped, so a follow that ended early
 * can simply be read again. Each new chunk goes to the caller's print
 * function unless it is being collected. */
#include "cli.h"

#include <string.h>

#define LINE_MAX_BYTES (1024 * 1024) /* one NDJSON line: a 16 KiB chunk, escaped */

void logstream_init(struct logstream *ls, struct cli *c, logstream_print_fn print, void *arg)
{
    memset(ls, 0, sizeof *ls);
    ls->c = c;
    ls->print = print;
    ls->arg = arg;
    buf_init(&ls->line, LINE_MAX_BYTES);
    ls->items = c->json ? json_array() : NULL;
}

void logstream_release(struct logstream *ls)
{
    json_decref(ls->items);
    ls->items = NULL;
    buf_release(&ls->line);
}

static int on_line(struct logstream *ls, const char *p, size_t n)
{
    json_t *o = json_loadb(p, n, 0, NULL);
    json_t *seq = json_object_get(o, "seq"), *data = json_object_get(o, "data");
    const char *stream = json_string_value(json_object_get(o, "stream"));
    int rc = 0;
    if (!json_is_integer(seq) || !json_is_string(data) || !stream) {
        rc = cli_fail(ls->c, CLI_EXIT_OTHER, "bad_response", "berthd sent a log line that is "
                      "not {seq, stream, data}");
        goto done;
    }
    if (json_integer_value(seq) <= ls->last)
        goto done; /* handled by an earlier read */
    ls->last = json_integer_value(seq);
    if (ls->items) {
        ls->collected += json_string_length(data);
        if (ls->collected > LOGSTREAM_COLLECT_MAX) {
            rc = cli_fail(ls->c, CLI_EXIT_OTHER, "response_too_large", "the log is over %u MiB: "
                          "read it without --json", LOGSTREAM_COLLECT_MAX / (1024 * 1024));
            goto done;
        }
        json_array_append(ls->items, o);
        goto done;
    }
    json_t *ts = json_object_get(o, "ts");
    ls->print(ls->arg, stream, json_string_value(data), json_string_length(data),
              json_is_integer(ts) ? (int64_t)json_integer_value(ts) : 0);
done:
    json_decref(o);
    return rc;
}

int logstream_feed(void *arg, const char *p, size_t n)
{
    struct logstream *ls = arg;
    ls->received += n;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (buf_append(&ls->line, p, take) < 0)
            return cli_fail(ls->c, CLI_EXIT_OTHER, "bad_response", "a log line from berthd is "
                            "over %d bytes", LINE_MAX_BYTES);
        if (!nl)
            return 0;
        if (ls->line.len && on_line(ls, ls->line.data, ls->line.len) < 0)
            return -1;
        buf_clear(&ls->line);
        p = nl + 1;
        n -= take + 1;
    }
    return 0;
}

int logstream_read(struct logstream *ls, const char *path)
{
    buf_clear(&ls->line);
    ls->received = 0;
    int rc = client_stream(ls->c, path, "application/x-ndjson", logstream_feed, ls);
    if (rc == 1) { /* cut while idle: a part line comes again, whole, by seq */
        buf_clear(&ls->line);
        return 1;
    }
    return rc == 0 ? logstream_end(ls) : rc;
}

int logstream_end(struct logstream *ls)
{
    int rc = 0;
    if (ls->line.len) /* a last line without its newline */
        rc = on_line(ls, ls->line.data, ls->line.len);
    buf_clear(&ls->line);
    return rc;
}
