/* fuzz_cron.c - src/core/cron.c, whose input is outside input: a
 * schedule's cron expression (any bytes), and a TZif zone file with its
 * POSIX rule. The first byte picks the target; what parses must compute a
 * next time that lies after its start and matches again from just
 * before it. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0];
    data++;
    size--;
    char err[200];
    if (which & 1) {
        struct cron_zone *z = calloc(1, sizeof *z);
        if (cron_zone_parse(data, size, z, err, sizeof err) == 0) {
            for (int64_t t = -2000000000LL; t < 4000000000LL; t += 97000013LL) {
                int32_t off = cron_zone_offset(z, t);
                assert(off > -26 * 3600 && off < 26 * 3600);
            }
            struct cron c;
            int64_t n;
            assert(cron_parse("30 2 * * *", &c, err, sizeof err) == 0);
            if (cron_next(&c, z, 1800000000LL, &n) == 0)
                assert(n > 1800000000LL);
        }
        char *s = malloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';
        if (cron_zone_parse_rule(s, z, err, sizeof err) == 0)
            (void)cron_zone_offset(z, 1800000000LL);
        free(s);
        free(z);
        return 0;
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct cron c;
    if (cron_parse(s, &c, err, sizeof err) == 0) {
        int64_t after = 1780000000LL + (int64_t)(which >> 1) * 3607, n, m;
        if (cron_next(&c, NULL, after, &n) == 0) {
            assert(n > after && n % 60 == 0);
            assert(cron_next(&c, NULL, n - 1, &m) == 0 && m == n);
        }
    } else {
        assert(err[0]);
    }
    free(s);
    return 0;
}
