/* fuzz_error_answer.c - libFuzzer driver for the API's error answer
 * (src/core/jsonx.c jx_error_answer), the one formatter of request text
 * (paths, field names) into {"error":{"code":C,"message":M}}.
 *
 * Input: byte 0 splits the rest into a code and a message. Invariants: an
 * answer always comes back (memory aside); it is valid JSON and valid
 * UTF-8 (jansson parses it back); the message is at most
 * JX_ERROR_MESSAGE_MAX bytes plus "..."; a short, valid UTF-8 message
 * without NUL comes back unchanged; a cut message is a character-boundary
 * prefix of the input plus "...".
 * Links: berthcore (jsonx.c, buf.c), jansson. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"

static int valid_utf8_no_nul(const uint8_t *s, size_t n)
{
    if (memchr(s, 0, n))
        return 0;
    json_t *v = json_stringn((const char *)s, n); /* NULL when not UTF-8 */
    int ok = v != NULL;
    json_decref(v);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] % 64;
    if (split > size - 1)
        split = size - 1;
    char code[64];
    memcpy(code, data + 1, split);
    code[split] = '\0';
    const char *msg = (const char *)data + 1 + split;
    size_t len = size - 1 - split;

    size_t n = 0;
    char *body = jx_error_answer(code, msg, len, &n);
    if (!body)
        abort(); /* inputs here are far too small to run out of memory */
    json_error_t je;
    json_t *o = json_loadb(body, n, JSON_ALLOW_NUL, &je);
    if (!o)
        abort();
    json_t *m = json_object_get(json_object_get(o, "error"), "message");
    if (!json_is_string(m) || !json_is_string(json_object_get(json_object_get(o, "error"), "code")))
        abort();
    size_t ml = json_string_length(m);
    const char *mv = json_string_value(m);
    if (ml > JX_ERROR_MESSAGE_MAX * 3 + 3) /* U+FFFD is 3 bytes for 1 */
        abort();
    if (len <= JX_ERROR_MESSAGE_MAX && valid_utf8_no_nul((const uint8_t *)msg, len) &&
        (ml != len || memcmp(mv, msg, len) != 0))
        abort();
    if (len > JX_ERROR_MESSAGE_MAX && valid_utf8_no_nul((const uint8_t *)msg, len)) {
        if (ml < 3 || memcmp(mv + ml - 3, "...", 3) != 0 || memcmp(mv, msg, ml - 3) != 0 ||
            ml - 3 > JX_ERROR_MESSAGE_MAX)
            abort();
    }
    json_decref(o);
    free(body);
    return 0;
}
