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

#endif
