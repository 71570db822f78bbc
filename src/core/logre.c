/* logre.c - the `re` filter of application logs: rules, compile, match
 * within a time budget. See logre.h. */
#include "logre.h"
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

int logre_check(const char *pat, char *err, size_t errlen)
{
    size_t n = strlen(pat), outlen;
    char tmp[LOGRE_MAX + 1];
    int braces = 0, pluses = 0, rep = 0; /* rep: the last token repeated something */
    if (!n || n > LOGRE_MAX) {
        snprintf(err, errlen, "a regular expression is 1 to %d bytes", LOGRE_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pat[i] < 0x20 || pat[i] == 0x7f) {
            snprintf(err, errlen, "a regular expression has no control characters");
            return -1;
        }
    proto_utf8_sanitize(pat, n, 1, tmp, &outlen);
    if (outlen != n || memcmp(tmp, pat, n) != 0) {
        snprintf(err, errlen, "a regular expression is UTF-8 text");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int is_rep = pat[i] == '*' || pat[i] == '+' || pat[i] == '?' || pat[i] == '{';
        if (is_rep && rep) {
            snprintf(err, errlen, "a repetition (*, +, ?, {m,n}) cannot repeat another");
            return -1;
        }
        rep = is_rep;
        if (pat[i] == '\\' && i + 1 < n) {
            if (pat[i + 1] >= '1' && pat[i + 1] <= '9') {
                snprintf(err, errlen, "back-references (\\%c) are not allowed", pat[i + 1]);
                return -1;
            }
            i++; /* an escaped character is itself */
            continue;
        }
        if (pat[i] == '[') { /* a bracket expression: no braces or escapes inside */
            size_t j = i + 1;
            if (j < n && pat[j] == '^')
                j++;
            if (j < n && pat[j] == ']')
                j++;
            while (j < n && pat[j] != ']') {
                if (pat[j] == '[' && j + 1 < n && strchr(":.=", pat[j + 1])) {
                    const char *close = strstr(pat + j + 2, (char[]){pat[j + 1], ']', '\0'});
                    j = close ? (size_t)(close - pat) + 2 : n;
                } else {
                    j++;
                }
            }
            i = j; /* regcomp refuses an unclosed one */
            continue;
        }
        if (pat[i] == '+' && ++pluses > LOGRE_PLUSES) {
            snprintf(err, errlen, "at most %d repetitions with +", LOGRE_PLUSES);
            return -1;
        }
        if (pat[i] == '{') {
            long bound = 0;
            size_t j = i + 1;
            if (++braces > LOGRE_BRACES) {
                snprintf(err, errlen, "at most %d counted repetitions ({m,n})", LOGRE_BRACES);
                return -1;
            }
            for (; j < n && pat[j] != '}'; j++) {
                if (pat[j] >= '0' && pat[j] <= '9') {
                    bound = bound * 10 + (pat[j] - '0');
                    if (bound > LOGRE_BOUND_MAX) {
                        snprintf(err, errlen, "a counted repetition ({m,n}) goes up to %d at most",
                                 LOGRE_BOUND_MAX);
                        return -1;
                    }
                } else {
                    bound = 0;
                }
            }
            i = j;
        }
    }
    return 0;
}

int logre_compile(struct logre *r, const char *pat, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (logre_check(pat, err, errlen) < 0)
        return -1;
    int rc = regcomp(&r->re, pat, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char why[160];
        regerror(rc, &r->re, why, sizeof why);
        snprintf(err, errlen, "not a regular expression: %s", why);
        return -1;
    }
    r->compiled = 1;
    r->budget_us = LOGRE_BUDGET_US;
    return 0;
}

int logre_match(struct logre *r, const char *text, size_t len)
{
    if (!r->compiled || atomic_load(&r->spent_us) > r->budget_us)
        return 0;
    /* a copy with its NUL rather than REG_STARTEND: the sanitizers'
     * regexec reads the text up to a NUL whatever the flags say */
    char buf[LOGRE_SCAN_MAX + 1];
    size_t n = len > LOGRE_SCAN_MAX ? LOGRE_SCAN_MAX : len;
    memcpy(buf, text, n);
    buf[n] = '\0';
    uint64_t t0 = util_mono_us();
    int rc = regexec(&r->re, buf, 0, NULL, 0);
    atomic_fetch_add(&r->spent_us, util_mono_us() - t0);
    return rc == 0;
}

int logre_over(struct logre *r)
{
    return r->compiled && atomic_load(&r->spent_us) > r->budget_us;
}

void logre_release(struct logre *r)
{
    if (r->compiled)
        regfree(&r->re);
    r->compiled = 0;
}
