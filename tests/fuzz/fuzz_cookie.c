/* fuzz_cookie.c - the dashboard's Cookie header parser
 * (guard_cookie_value, guard.c): any header, either cookie name, any
 * buffer size. It answers -1, 0 or 1 and agrees with a plain model of the
 * rule (split on ';', trim blanks, the name once with 1..n-1 bytes of
 * [A-Za-z0-9_-]); 1 copies exactly that value, 0 writes nothing, and it
 * never writes past n (the buffer is exactly n bytes, for ASan).
 *
 * Input: byte 0 picks the name (bit 7) and n (1 + low 7 bits); the rest
 * is the header (up to its first NUL, as berthd holds it). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"

static int value_ok(const char *v, size_t l, size_t n)
{
    if (l == 0 || l >= n)
        return 0;
    for (size_t i = 0; i < l; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
              (v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '-'))
            return 0;
    return 1;
}

/* The rule, written plainly: the expected answer and value. */
static int model(const char *h, const char *name, size_t n, const char **val, size_t *vlen)
{
    size_t nl = strlen(name);
    int found = 0;
    for (const char *p = h;;) {
        const char *end = strchr(p, ';');
        const char *b = p, *e = end ? end : p + strlen(p);
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - b) > nl && memcmp(b, name, nl) == 0 && b[nl] == '=') {
            if (found || !value_ok(b + nl + 1, (size_t)(e - b) - nl - 1, n))
                return -1;
            *val = b + nl + 1;
            *vlen = (size_t)(e - b) - nl - 1;
            found = 1;
        }
        if (!end)
            return found;
        p = end + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *name = (data[0] & 0x80) ? GUARD_CSRF_COOKIE : GUARD_SESSION_COOKIE;
    size_t n = 1 + (data[0] & 0x7f);
    char *h = malloc(size);
    memcpy(h, data + 1, size - 1);
    h[size - 1] = '\0';
    char *out = malloc(n);
    memset(out, 0x5a, n);

    int rc = guard_cookie_value(h, name, out, n);
    const char *want = NULL;
    size_t wl = 0;
    int expect = model(h, name, n, &want, &wl);
    assert(rc == expect);
    if (rc == 1) {
        assert(strlen(out) == wl && memcmp(out, want, wl) == 0);
        assert(value_ok(out, wl, n));
    } else if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            assert(out[i] == 0x5a);
    }
    free(out);
    free(h);
    return 0;
}
