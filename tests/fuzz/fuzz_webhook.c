/* fuzz_webhook.c - libFuzzer driver for the push webhook parser of every
 * provider (src/berthd/hooks_parse.c: hooks_parse, hooks_order).
 *
 * Input: byte 0 picks the provider (mod 4: github, gitea, gitlab,
 * generic); then the event header's value up to the first '\n' (a line
 * longer than 63 bytes, or none: "push", GitLab "Push Hook"), then the
 * body. Seeds: tests/fuzz/corpus/webhook/ (real-looking pushes, pings and
 * tag pushes of each provider in this format).
 *
 * Besides no crash or sanitizer report, it checks what hooks.c relies on:
 * an accepted parse names at least one normalised repository URL, a
 * deploy has a non-empty branch inside ref and a 40 or 64 hex `after`, and
 * the order rule answers one of its three verdicts. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hooks.h"

static int hex_commit(const char *s)
{
    size_t n = strlen(s);
    if (n != 40 && n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hooks_push p; /* large: not on the stack */
    char event[64] = "push", err[256];
    if (size < 1)
        return 0;
    enum hooks_provider kind = (enum hooks_provider)(data[0] % 4);
    if (kind == HOOKS_GITLAB)
        memcpy(event, "Push Hook", sizeof "Push Hook");
    data++, size--;
    const uint8_t *nl = memchr(data, '\n', size < 64 ? size : 64);
    if (nl) {
        size_t l = (size_t)(nl - data);
        memcpy(event, data, l);
        event[l] = '\0';
        size -= l + 1;
        data = nl + 1;
    }
    int rc = hooks_parse(kind, event, data, size, &p, err, sizeof err);
    if (rc == HOOKS_EJSON || rc == HOOKS_EPAYLOAD)
        return 0;
    if (rc != 0 || p.nurls < 1 || p.nurls > HOOKS_MAX_URLS)
        __builtin_trap();
    for (int i = 0; i < p.nurls; i++)
        if (!p.urls[i][0] || strlen(p.urls[i]) >= GITURL_MAX)
            __builtin_trap();
    if (p.what == HOOKS_DEPLOY) {
        if (!p.branch || !*p.branch || p.branch < p.ref || p.branch >= p.ref + sizeof p.ref ||
            !hex_commit(p.after) || (p.before[0] && !hex_commit(p.before)))
            __builtin_trap();
        int v = hooks_order(p.before, 0, 1, p.before, p.after);
        if (v != HOOKS_ORDER_TAKE && v != HOOKS_ORDER_DUPLICATE && v != HOOKS_ORDER_STALE)
            __builtin_trap();
    } else if (p.branch || !p.why[0]) {
        __builtin_trap();
    }
    return 0;
}
