/* jsonx.h - jansson helpers: typed field access that says which field was
 * wrong, so the API can answer 400 with the field's name.
 *
 * Each getter returns JX_OK, JX_MISSING (absent or null) or JX_WRONG_TYPE,
 * and leaves *out untouched unless JX_OK. */
#ifndef BERTH_JSONX_H
#define BERTH_JSONX_H

#include <jansson.h>
#include <stdint.h>

enum { JX_OK = 0, JX_MISSING = 1, JX_WRONG_TYPE = 2 };

int jx_string(json_t *obj, const char *key, const char **out);
int jx_int(json_t *obj, const char *key, int64_t *out);
int jx_bool(json_t *obj, const char *key, int *out);
int jx_array(json_t *obj, const char *key, json_t **out);
int jx_object(json_t *obj, const char *key, json_t **out);

/* Parses a request body: must be a JSON object (duplicates rejected).
 * On failure returns NULL and writes a short reason into err. */
json_t *jx_parse_object(const char *data, size_t len, char *err, size_t errlen);

/* Serialises compactly; malloc'ed. */
char *jx_dump(const json_t *v, size_t *len);
/* Unix seconds as an ISO-8601 UTC string; 0 (never) as null. */
json_t *jx_time(int64_t t);

/* Streaming writer: compact JSON appended straight to a buf, without
 * building json_t trees (list answers write rows from SQLite columns).
 * Commas are placed by the writer; a failed append (the buf's cap, or
 * memory) is sticky and reported by jw_failed, so callers check once at
 * the end. Strings are escaped as jx_dump escapes them; bytes that are
 * not valid UTF-8 are written as \ufffd so the output is always valid
 * JSON. Nesting deeper than JW_MAX_DEPTH fails. */
#define JW_MAX_DEPTH 32

struct buf;
struct jw {
    struct buf *b;
    int depth;
    int failed;
    unsigned char more[JW_MAX_DEPTH]; /* a value was written at this depth */
};

void jw_init(struct jw *w, struct buf *b);
void jw_obj(struct jw *w);     /* { */
void jw_obj_end(struct jw *w); /* } */
void jw_arr(struct jw *w);     /* [ */
void jw_arr_end(struct jw *w); /* ] */
/* An object member's key; the value follows with any value call. */
void jw_key(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s); /* NULL writes null */
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
/* A json_t value, as jx_dump writes it (NULL writes null). */
void jw_json(struct jw *w, const json_t *v);
/* 1 when any write failed. */
int jw_failed(const struct jw *w);

/* ---- error answers ----
 * The one formatter of the API's error body {"error":{"code":C,"message":M}}.
 * It is total: any bytes in code or message (request text: paths, field
 * names) give valid JSON. Bytes that are not valid UTF-8 become U+FFFD, and
 * a message longer than JX_ERROR_MESSAGE_MAX bytes is cut on a character
 * boundary and ends in "...". Returns the malloc'ed body (NUL-terminated,
 * length in *out_len), or NULL only when memory ran out. */
#define JX_ERROR_MESSAGE_MAX 400

char *jx_error_answer(const char *code, const char *message, size_t len, size_t *out_len);

/* The longest prefix of s[0..len) of at most max bytes that does not end
 * inside a valid UTF-8 sequence: a cut on a character boundary. A byte
 * that is not part of valid UTF-8 counts as one character (written as
 * U+FFFD). A caller that formats into a fixed buffer makes the buffer
 * larger than max, so its own cut is never the one kept. */
size_t jx_utf8_clip(const char *s, size_t len, size_t max);

#endif
