/* fuzz_hub_series.c - a server's metrics history fed whatever a runner's
 * heartbeats can carry: any doubles (NaN, infinities, huge, negative), at
 * times from berthd's clock with any gaps, then queried from any point.
 * Points come out oldest first,
 * at most max, with values inside their stored ranges. */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hub_series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hub_series *s = hub_series_new();
    struct hub_point p, out[512];
    const size_t rec = 8 + 6 * 8;
    int64_t since = 0, t = 1700000000;
    assert(s);
    while (size >= rec) {
        memset(&p, 0, sizeof p);
        uint32_t gap;
        memcpy(&gap, data, 4);
        t += data[4] & 1 ? gap >> 8 : gap % 600; /* 0 repeats a time; huge gaps clear rings */
        p.t = t;
        memcpy(&p.cpu_pct, data + 8, 8);
        memcpy(&p.mem_pct, data + 16, 8);
        memcpy(&p.disk_pct, data + 24, 8);
        memcpy(&p.load1, data + 32, 8);
        memcpy(&p.rx_bps, data + 40, 8);
        memcpy(&p.tx_bps, data + 48, 8);
        hub_series_add(s, &p);
        since = p.t - 3600;
        data += rec;
        size -= rec;
    }
    size_t max = size ? data[0] * 2u : 512;
    size_t n = hub_series_query(s, since, out, max);
    assert(n <= max);
    for (size_t i = 0; i < n; i++) {
        assert(out[i].cpu_pct >= 0 && out[i].cpu_pct <= 100);
        assert(out[i].mem_pct >= 0 && out[i].mem_pct <= 100);
        assert(out[i].disk_pct >= 0 && out[i].disk_pct <= 100);
        assert(out[i].load1 >= 0 && out[i].load1 <= 655.36);
        assert(i == 0 || out[i].t >= out[i - 1].t);
    }
    hub_series_query(s, INT64_MIN, out, 512);
    hub_series_free(s);
    return 0;
}
