/* fuzz_util.c - the small parsers of src/core/util.c that read request
 * text (query values, path ids, emails, slugs, commit ids, times): any
 * string, each parser; what one accepts must print and parse back. */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    int64_t v = 0, w = 0;
    char txt[32];
    if (util_parse_i64(s, &v) == 0) {
        snprintf(txt, sizeof txt, "%" PRId64, v);
        assert(util_parse_i64(txt, &w) == 0 && w == v);
    }
    if (util_parse_time(s, &v) == 0 && v >= -62167219200LL && v <= 253402300799LL) {
        util_iso8601(v, txt, sizeof txt);
        assert(strlen(txt) == 20);
        assert(util_parse_time(txt, &w) == 0 && w == v);
    }
    if (util_email_valid(s))
        assert(strchr(s, '@') && !strchr(s, ' '));
    if (util_slug_valid(s)) {
        size_t n = strlen(s);
        assert(n >= 1 && n <= 63 && s[0] != '-' && s[n - 1] != '-');
        assert(strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n);
    }
    if (util_lower_hex(s, 4, 64))
        assert(strspn(s, "0123456789abcdef") == strlen(s));
    char small[8];
    int rc = util_strlcpy(small, s, sizeof small);
    assert(strlen(small) < sizeof small && (rc == 0) == (strlen(s) < sizeof small));
    free(s);
    return 0;
}
