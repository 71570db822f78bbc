/* logre.h - the `re` filter of application logs (docs/app-logs.md): a
 * POSIX extended regular expression (regcomp REG_EXTENDED | REG_NOSUB,
 * the C locale: bytes), with the rules that keep glibc's matcher from
 * eating a host. Measured here (glibc 2.36) on one 64 KiB line: `(a|aa)*c`
 * 15 s, `(a{1,100}){1,100}x` far more; its time grows with the square of
 * the line, and nested counted repetitions multiply. So:
 *
 * - a pattern is 1..LOGRE_MAX bytes of UTF-8 without control characters;
 * - back-references (\1..\9) are refused (exponential by nature), and
 *   a repetition right after another (`a+?`, `a**`: undefined in POSIX,
 *   and each one copies the tree in glibc);
 * - at most LOGRE_BRACES counted repetitions ({m,n}), each bound at most
 *   LOGRE_BOUND_MAX, and at most LOGRE_PLUSES `+`: glibc's regcomp copies
 *   what each repeats, so nested ones multiply (found by fuzz_logre:
 *   `e` and 22 `+` took 22 s to compile, 20 nested `(...)+` 3.4 s);
 * - a line is matched on its first LOGRE_SCAN_MAX bytes;
 * - a query has LOGRE_BUDGET_US of matching time in all: past it nothing
 *   more matches and logre_over() says so (the runner ends the query
 *   with an error).
 *
 * berthd checks and compiles a pattern to answer 400 with regcomp's
 * reason; the runner checks it again (it is outside input there too),
 * compiles it once per query and matches. Matching may run on two
 * threads at once (a follow's history thread and the loop's live lines):
 * glibc's regexec locks a shared pattern; the budget is atomic.
 */
#ifndef BERTH_LOGRE_H
#define BERTH_LOGRE_H

#include <regex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LOGRE_MAX 256
#define LOGRE_BRACES 2
#define LOGRE_PLUSES 4
#define LOGRE_BOUND_MAX 16
#define LOGRE_SCAN_MAX 8192
#define LOGRE_BUDGET_US (10u * 1000 * 1000)

struct logre {
    regex_t re;
    int compiled;
    _Atomic uint64_t spent_us;
    uint64_t budget_us;
};

/* The rules above, without compiling: 0, or -1 with the reason in err. */
int logre_check(const char *pat, char *err, size_t errlen);
/* logre_check, then regcomp: 0, or -1 with the reason (regerror's text
 * for what regcomp refuses). Release r after 0 only. */
int logre_compile(struct logre *r, const char *pat, char *err, size_t errlen);
/* 1 when text[0..len) (its first LOGRE_SCAN_MAX bytes) matches, else 0;
 * 0 also once the budget is spent. */
int logre_match(struct logre *r, const char *text, size_t len);
/* 1 once the budget is spent. */
int logre_over(struct logre *r);
void logre_release(struct logre *r);

#endif
