/* fuzz_logre.c - the `re` filter of application logs (src/core/logre.c):
 * a pattern from a query string (berthd checks and compiles it, the
 * runner again) matched on a stored line.
 * Input: 1 byte of pattern length, the pattern, then the line. Whatever
 * logre_check refuses, logre_compile refuses the same way with a reason;
 * what it accepts is 1..LOGRE_MAX bytes; what regcomp refuses has a
 * reason; matching never reads past the line (ASan: no NUL after
 * it) and stops once the budget is spent. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logre.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t pl = data[0];
    if (pl > size - 1)
        pl = size - 1;
    char pat[256 + 1];
    memcpy(pat, data + 1, pl);
    pat[pl] = '\0';
    char err[200] = "", err2[200] = "";
    int ok = logre_check(pat, err, sizeof err) == 0;
    if (!ok)
        assert(err[0]);
    struct logre r;
    int c = logre_compile(&r, pat, err2, sizeof err2);
    if (!ok) {
        assert(c < 0 && strcmp(err, err2) == 0);
        return 0;
    }
    assert(strlen(pat) >= 1 && strlen(pat) <= LOGRE_MAX);
    if (c < 0) {
        assert(err2[0]);
        return 0;
    }
    r.budget_us = 200 * 1000; /* a slow input is a finding only past the budget */
    size_t tl = size - 1 - pl;
    char *line = malloc(tl ? tl : 1); /* exactly the line: ASan sees any read past it */
    memcpy(line, data + 1 + pl, tl);
    logre_match(&r, line, tl);
    logre_match(&r, line, tl);
    free(line);
    logre_release(&r);
    return 0;
}
